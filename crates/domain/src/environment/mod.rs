//! Environments: their names, platform, region and the cloud resources they drive.

mod alarms;
mod aws;
mod freeze;
mod load_balancer_metrics;
mod metric_gate;
mod stack;

pub use alarms::*;
pub use aws::*;
pub use freeze::*;
pub use load_balancer_metrics::*;
pub use metric_gate::*;
pub use stack::*;

use super::{FieldError, Invalid};
use crate::service_deployment::{DeploymentController, EcsDeploymentSettings};
use std::fmt;

/// `^[a-z][a-z0-9-]{1,39}$`: safe in URLs, resource names and file names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvironmentName(String);

impl EnvironmentName {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let mut chars = value.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let len = value.len();
        if !(2..=40).contains(&len) || !starts_with_letter || !rest_ok {
            return Err(Invalid::new(format!(
                "{value:?} is not a valid environment name: use 2 to 40 characters, \
                 lowercase letters, digits and '-', starting with a letter"
            )));
        }
        Ok(EnvironmentName(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvironmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an environment's stack lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// The embedded local cloud.
    Local,
    /// Real AWS, reached through the standard credentials chain.
    Aws,
}

impl Platform {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        match value {
            "local" => Ok(Platform::Local),
            "aws" => Ok(Platform::Aws),
            other => Err(Invalid::new(format!(
                "unknown platform {other:?}: expected \"local\" or \"aws\""
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Local => "local",
            Platform::Aws => "aws",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything needed to create an environment, already validated.
#[derive(Debug, Clone)]
pub struct NewEnvironment {
    pub name: EnvironmentName,
    pub platform: Platform,
    pub region: Option<AwsRegion>,
    pub resources: CloudResources,
    pub container: ContainerSettings,
    pub deployment_group: DeploymentGroupSettings,
    pub hooks: LifecycleHooks,
    /// The AWS profile of an `aws` environment (None: the default chain).
    pub aws_profile: Option<AwsProfile>,
    /// With ECS as the deployment controller, its settings; `None`: CodeDeploy.
    pub ecs_deployment: Option<EcsDeploymentSettings>,
    /// The CloudWatch alarms that guard its deployments.
    pub alarms: AlarmSettings,
    /// The metric gate that judges green at the deployments' holds.
    pub metric_gate: MetricGateSettings,
    /// When it takes no new deployments.
    pub freeze_windows: FreezeWindows,
}

impl NewEnvironment {
    /// An AWS environment must say which region it lives in; the local cloud
    /// has one implicit region.
    pub fn new(
        name: EnvironmentName,
        platform: Platform,
        region: Option<AwsRegion>,
        resources: CloudResources,
    ) -> Result<Self, FieldError> {
        if platform == Platform::Aws && region.is_none() {
            return Err(FieldError {
                field: "region".into(),
                message: "an aws environment needs a region (e.g. \"us-east-1\")".into(),
            });
        }
        Ok(NewEnvironment {
            name,
            platform,
            region,
            resources,
            container: ContainerSettings::default(),
            deployment_group: DeploymentGroupSettings::default(),
            hooks: LifecycleHooks::default(),
            aws_profile: None,
            ecs_deployment: None,
            alarms: AlarmSettings::default(),
            metric_gate: MetricGateSettings::default(),
            freeze_windows: FreezeWindows::default(),
        })
    }

    pub fn controller(&self) -> DeploymentController {
        match self.ecs_deployment {
            Some(_) => DeploymentController::Ecs,
            None => DeploymentController::CodeDeploy,
        }
    }

    /// Where a metric gate would judge its deployments.
    pub fn gate_hold(&self) -> Option<GateHold> {
        GateHold::of(
            self.deployment_group.ready_action,
            self.ecs_deployment.as_ref(),
        )
    }

    /// Names the AWS profile the environment's credentials come from; only
    /// an `aws` environment has one.
    pub fn with_aws_profile(mut self, profile: Option<AwsProfile>) -> Result<Self, FieldError> {
        if profile.is_some() && self.platform != Platform::Aws {
            return Err(FieldError {
                field: "aws_profile".into(),
                message: "aws_profile applies to aws environments only".into(),
            });
        }
        self.aws_profile = profile;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_follow_the_pattern() {
        for ok in [
            "ab",
            "demo",
            "prod-eu-1",
            "a1",
            &format!("a{}", "b".repeat(39)),
        ] {
            assert_eq!(EnvironmentName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "a",
            "1abc",
            "-abc",
            "Demo",
            "de mo",
            "de_mo",
            "démo",
            &format!("a{}", "b".repeat(40)),
        ] {
            assert!(EnvironmentName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn platforms_are_local_or_aws() {
        assert_eq!(Platform::parse("local").unwrap(), Platform::Local);
        assert_eq!(Platform::parse("aws").unwrap().as_str(), "aws");
        let err = Platform::parse("gcp").unwrap_err();
        assert!(err.0.contains("gcp"), "{err}");
        assert!(Platform::parse("AWS").is_err());
    }

    #[test]
    fn regions_are_aws_region_codes() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-4",
            "us-gov-west-1",
            "il-central-1",
        ] {
            AwsRegion::parse(ok).unwrap();
        }
        for bad in [
            "",
            "us-east",
            "useast1",
            "US-EAST-1",
            "u-east-1",
            "us-east-123",
            "us--1",
            "us-east-1 ",
        ] {
            assert!(AwsRegion::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn aws_profiles_are_config_section_names() {
        for ok in ["default", "prod-admin", "sso.team@acme", "a/b+c_1"] {
            assert_eq!(AwsProfile::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "has space", "[x]", "tab\t", &"p".repeat(129)] {
            assert!(AwsProfile::parse(bad).is_err(), "{bad:?} accepted");
        }
        let name = EnvironmentName::parse("prod").unwrap();
        let aws = NewEnvironment::new(
            name.clone(),
            Platform::Aws,
            Some(AwsRegion::parse("eu-west-1").unwrap()),
            CloudResources::default(),
        )
        .unwrap();
        let profile = Some(AwsProfile::parse("prod").unwrap());
        assert_eq!(
            aws.with_aws_profile(profile.clone()).unwrap().aws_profile,
            profile
        );
        let local =
            NewEnvironment::new(name, Platform::Local, None, CloudResources::default()).unwrap();
        assert_eq!(
            local.with_aws_profile(profile).unwrap_err().field,
            "aws_profile"
        );
    }

    #[test]
    fn resource_names_respect_aws_limits() {
        EcsClusterName::parse("switchyard-demo_1").unwrap();
        assert!(EcsClusterName::parse("has space").is_err());
        assert!(EcsClusterName::parse(&"c".repeat(256)).is_err());
        EcsServiceName::parse(&"s".repeat(255)).unwrap();
        CodeDeployApplicationName::parse("My App (prod)").unwrap();
        assert!(CodeDeployApplicationName::parse(&"a".repeat(101)).is_err());
        assert!(DeploymentGroupName::parse("").is_err());
        PipelineName::parse("release@main.v2").unwrap();
        assert!(PipelineName::parse("no/slash").is_err());
    }

    #[test]
    fn arns_have_six_parts() {
        Arn::parse("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2").unwrap();
        Arn::parse("arn:aws-cn:ecs:cn-north-1:123456789012:cluster/x").unwrap();
        for bad in [
            "",
            "arn:aws:ecs",
            "listener/app/x",
            "arn:aws:ecs:us-east-1:1:",
            "arn:gcp:x:y:z:w",
            "arn:aws:ecs:r:a:x y",
        ] {
            assert!(Arn::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn resource_errors_name_the_field() {
        let input = CloudResourcesInput {
            cluster: Some("ok"),
            service: Some("not ok!"),
            ..Default::default()
        };
        let err = CloudResources::parse(&input, "resources").unwrap_err();
        assert_eq!(err.field, "resources.service");
        let parsed = CloudResources::parse(
            &CloudResourcesInput {
                cluster: Some("c"),
                ..Default::default()
            },
            "resources",
        )
        .unwrap();
        assert_eq!(parsed.cluster.unwrap().as_str(), "c");
        assert!(parsed.service.is_none());
    }

    #[test]
    fn aws_environments_need_a_region() {
        let name = EnvironmentName::parse("prod").unwrap();
        let err = NewEnvironment::new(name.clone(), Platform::Aws, None, CloudResources::default())
            .unwrap_err();
        assert_eq!(err.field, "region");
        NewEnvironment::new(name, Platform::Local, None, CloudResources::default()).unwrap();
    }
}
