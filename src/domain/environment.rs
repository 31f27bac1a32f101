//! Environments: their names, platform, region and the cloud resources they drive.

use super::{FieldError, ForField, Invalid, check_text};
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

/// An AWS region code such as `us-east-1`, `eu-central-2` or `us-gov-west-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsRegion(String);

impl AwsRegion {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let parts: Vec<&str> = value.split('-').collect();
        let well_formed = parts.len() >= 3
            && parts[0].len() == 2
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
            && parts[parts.len() - 1].len() <= 2
            && !parts[parts.len() - 1].is_empty()
            && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit());
        if !well_formed || value.len() > 32 {
            return Err(Invalid::new(format!(
                "{value:?} is not an AWS region code (e.g. us-east-1)"
            )));
        }
        Ok(AwsRegion(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Declares a newtype for an AWS resource name with its length limits and
/// allowed characters, as the AWS API models state them.
macro_rules! resource_name {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal, $allowed:expr, $allowed_text:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, Invalid> {
                check_text(value, $what, 1, $max)?;
                let allowed: fn(char) -> bool = $allowed;
                if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
                    return Err(Invalid::new(format!(
                        "{} must contain only {} (found {:?})",
                        $what, $allowed_text, bad
                    )));
                }
                Ok($name(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn ecs_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn printable(c: char) -> bool {
    !c.is_control()
}

resource_name!(
    /// An ECS cluster name.
    EcsClusterName, "an ECS cluster name", 255, ecs_name_char, "letters, digits, '-' and '_'"
);
resource_name!(
    /// An ECS service name.
    EcsServiceName, "an ECS service name", 255, ecs_name_char, "letters, digits, '-' and '_'"
);
resource_name!(
    /// A CodeDeploy application name.
    CodeDeployApplicationName, "a CodeDeploy application name", 100, printable, "printable characters"
);
resource_name!(
    /// A CodeDeploy deployment group name.
    DeploymentGroupName, "a CodeDeploy deployment group name", 100, printable, "printable characters"
);
resource_name!(
    /// A CodePipeline pipeline name.
    PipelineName, "a pipeline name", 100,
    |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'),
    "letters, digits, '.', '@', '-' and '_'"
);

/// An Amazon Resource Name: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn(String);

impl Arn {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        check_text(value, "an ARN", 1, 2048)?;
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let ok = parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && !parts[2].is_empty()
            && !parts[5].is_empty()
            && !value.contains(char::is_whitespace);
        if !ok {
            return Err(Invalid::new(format!(
                "{value:?} is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)"
            )));
        }
        Ok(Arn(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A profile of the shared AWS config files (`~/.aws/config`): where an
/// AWS environment's credentials come from (keys, SSO, a role to assume).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsProfile(String);

impl AwsProfile {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        check_text(value, "an AWS profile name", 1, 128)?;
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_-.@+/".contains(c);
        if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
            return Err(Invalid::new(format!(
                "an AWS profile name must contain only letters, digits and _ - . @ + / (found {bad:?})"
            )));
        }
        Ok(AwsProfile(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The cloud resources an environment drives. Each is optional because a
/// stack fills them in once provisioned; an existing AWS setup names them
/// up front.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudResources {
    pub cluster: Option<EcsClusterName>,
    pub service: Option<EcsServiceName>,
    pub codedeploy_application: Option<CodeDeployApplicationName>,
    pub deployment_group: Option<DeploymentGroupName>,
    pub pipeline: Option<PipelineName>,
    pub prod_listener_arn: Option<Arn>,
    pub test_listener_arn: Option<Arn>,
}

/// The raw strings of [`CloudResources`], as they arrive from a request or a
/// database row.
#[derive(Debug, Clone, Default)]
pub struct CloudResourcesInput<'a> {
    pub cluster: Option<&'a str>,
    pub service: Option<&'a str>,
    pub codedeploy_application: Option<&'a str>,
    pub deployment_group: Option<&'a str>,
    pub pipeline: Option<&'a str>,
    pub prod_listener_arn: Option<&'a str>,
    pub test_listener_arn: Option<&'a str>,
}

impl CloudResources {
    /// Parses every given reference; errors name the field under `prefix`
    /// (e.g. `resources.cluster`).
    pub fn parse(input: &CloudResourcesInput<'_>, prefix: &str) -> Result<Self, FieldError> {
        fn opt<T>(
            value: Option<&str>,
            field: &str,
            prefix: &str,
            parse: fn(&str) -> Result<T, Invalid>,
        ) -> Result<Option<T>, FieldError> {
            value
                .map(|v| parse(v).for_field(&format!("{prefix}.{field}")))
                .transpose()
        }
        Ok(CloudResources {
            cluster: opt(input.cluster, "cluster", prefix, EcsClusterName::parse)?,
            service: opt(input.service, "service", prefix, EcsServiceName::parse)?,
            codedeploy_application: opt(
                input.codedeploy_application,
                "codedeploy_application",
                prefix,
                CodeDeployApplicationName::parse,
            )?,
            deployment_group: opt(
                input.deployment_group,
                "deployment_group",
                prefix,
                DeploymentGroupName::parse,
            )?,
            pipeline: opt(input.pipeline, "pipeline", prefix, PipelineName::parse)?,
            prod_listener_arn: opt(
                input.prod_listener_arn,
                "prod_listener_arn",
                prefix,
                Arn::parse,
            )?,
            test_listener_arn: opt(
                input.test_listener_arn,
                "test_listener_arn",
                prefix,
                Arn::parse,
            )?,
        })
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
        })
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

/// The container a stack runs and how its target groups check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSettings {
    pub name: String,
    pub port: u16,
    pub health_check_path: String,
    pub desired_count: u32,
}

impl Default for ContainerSettings {
    fn default() -> Self {
        ContainerSettings {
            name: "web".into(),
            port: 80,
            health_check_path: "/".into(),
            desired_count: 2,
        }
    }
}

/// The raw parts of [`ContainerSettings`]; absent ones take the defaults.
#[derive(Debug, Clone, Default)]
pub struct ContainerInput<'a> {
    pub name: Option<&'a str>,
    pub port: Option<i64>,
    pub health_check_path: Option<&'a str>,
    pub desired_count: Option<i64>,
}

impl ContainerSettings {
    /// The largest task count a local stack runs: each task is a process.
    pub const MAX_DESIRED_COUNT: i64 = 20;

    pub fn parse(input: &ContainerInput<'_>) -> Result<Self, FieldError> {
        let defaults = ContainerSettings::default();
        let field = |f: &str, message: String| FieldError {
            field: format!("container.{f}"),
            message,
        };
        let name = match input.name {
            Some(name) => {
                let ok = (1..=255).contains(&name.len())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    return Err(field(
                        "name",
                        format!("{name:?} is not a container name (letters, digits, '-' and '_')"),
                    ));
                }
                name.to_owned()
            }
            None => defaults.name,
        };
        let port = match input.port {
            Some(p) => u16::try_from(p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| field("port", format!("{p} is not a port (1-65535)")))?,
            None => defaults.port,
        };
        let health_check_path = match input.health_check_path {
            Some(path) => {
                check_text(path, "a health check path", 1, 1024)
                    .map_err(|e| field("health_check_path", e.0))?;
                if !path.starts_with('/') || path.contains(char::is_whitespace) {
                    return Err(field(
                        "health_check_path",
                        format!("{path:?} must be a path starting with '/'"),
                    ));
                }
                path.to_owned()
            }
            None => defaults.health_check_path,
        };
        let desired_count = match input.desired_count {
            Some(n) if (1..=Self::MAX_DESIRED_COUNT).contains(&n) => n as u32,
            Some(n) => {
                return Err(field(
                    "desired_count",
                    format!(
                        "desired_count must be between 1 and {} (got {n})",
                        Self::MAX_DESIRED_COUNT
                    ),
                ));
            }
            None => defaults.desired_count,
        };
        Ok(ContainerSettings {
            name,
            port,
            health_check_path,
            desired_count,
        })
    }
}

/// What CodeDeploy does when the replacement is ready to take production
/// traffic (`deploymentReadyOption.actionOnTimeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyAction {
    /// Reroute traffic at once.
    Continue,
    /// Wait for someone to continue, up to the ready wait; then stop.
    Stop,
}

impl ReadyAction {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        match value {
            "CONTINUE_DEPLOYMENT" => Ok(ReadyAction::Continue),
            "STOP_DEPLOYMENT" => Ok(ReadyAction::Stop),
            other => Err(Invalid::new(format!(
                "unknown action {other:?}: expected CONTINUE_DEPLOYMENT or STOP_DEPLOYMENT"
            ))),
        }
    }

    pub fn as_aws(self) -> &'static str {
        match self {
            ReadyAction::Continue => "CONTINUE_DEPLOYMENT",
            ReadyAction::Stop => "STOP_DEPLOYMENT",
        }
    }
}

/// The ECS lifecycle events that take a hook, in lifecycle order.
pub const HOOKABLE_EVENTS: [&str; 5] = [
    "BeforeInstall",
    "AfterInstall",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
];

/// Lifecycle hooks: which function runs at which event (one per event).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleHooks(Vec<(String, String)>);

impl LifecycleHooks {
    pub fn parse(pairs: &[(&str, &str)]) -> Result<Self, FieldError> {
        let mut hooks: Vec<(String, String)> = Vec::new();
        for (event, function) in pairs {
            let field = |message: String| FieldError {
                field: format!("hooks.{event}"),
                message,
            };
            if !HOOKABLE_EVENTS.contains(event) {
                return Err(field(format!(
                    "{event} takes no hook; hookable events are {}",
                    HOOKABLE_EVENTS.join(", ")
                )));
            }
            check_text(function, "a function name", 1, 140).map_err(|e| field(e.0))?;
            hooks.push(((*event).to_owned(), (*function).to_owned()));
        }
        hooks.sort_by_key(|(event, _)| HOOKABLE_EVENTS.iter().position(|e| e == event));
        Ok(LifecycleHooks(hooks))
    }

    /// (event, function) in lifecycle order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// The CodeDeploy deployment group settings of an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentGroupSettings {
    /// A predefined ECS config, by its full name.
    pub deployment_config: String,
    pub ready_action: ReadyAction,
    /// How long a deployment may wait in Ready (with [`ReadyAction::Stop`]).
    pub ready_wait_minutes: Option<u32>,
    pub termination_wait_minutes: u32,
    pub auto_rollback: bool,
}

impl Default for DeploymentGroupSettings {
    fn default() -> Self {
        DeploymentGroupSettings {
            deployment_config: "CodeDeployDefault.ECSAllAtOnce".into(),
            ready_action: ReadyAction::Continue,
            ready_wait_minutes: None,
            termination_wait_minutes: 5,
            auto_rollback: true,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DeploymentGroupInput<'a> {
    pub deployment_config: Option<&'a str>,
    pub ready_action_on_timeout: Option<&'a str>,
    pub ready_wait_minutes: Option<i64>,
    pub termination_wait_minutes: Option<i64>,
    pub auto_rollback: Option<bool>,
}

impl DeploymentGroupSettings {
    /// CodeDeploy's limit for both waits: two days.
    pub const MAX_WAIT_MINUTES: i64 = 2880;

    pub fn parse(input: &DeploymentGroupInput<'_>) -> Result<Self, FieldError> {
        let defaults = DeploymentGroupSettings::default();
        let deployment_config = match input.deployment_config {
            Some(name) => super::deployment_config::DeploymentConfig::find_predefined(name)
                .map(|c| c.name().to_owned())
                .ok_or_else(|| FieldError {
                    field: "deployment_config".into(),
                    message: format!(
                        "{name:?} is not a predefined ECS deployment config ({})",
                        predefined_names()
                    ),
                })?,
            None => defaults.deployment_config,
        };
        let wait = |value: Option<i64>, field: &str| -> Result<Option<u32>, FieldError> {
            value
                .map(|m| {
                    if (0..=Self::MAX_WAIT_MINUTES).contains(&m) {
                        Ok(m as u32)
                    } else {
                        Err(FieldError {
                            field: field.into(),
                            message: format!(
                                "{field} must be between 0 and {} (got {m})",
                                Self::MAX_WAIT_MINUTES
                            ),
                        })
                    }
                })
                .transpose()
        };
        let ready_wait_minutes = wait(input.ready_wait_minutes, "ready_wait_minutes")?;
        let ready_action = match input.ready_action_on_timeout {
            Some(action) => ReadyAction::parse(action).for_field("ready_action_on_timeout")?,
            // A ready wait means holding the deployment until someone continues it.
            None if ready_wait_minutes.is_some() => ReadyAction::Stop,
            None => ReadyAction::Continue,
        };
        if ready_action == ReadyAction::Continue && ready_wait_minutes.is_some_and(|m| m > 0) {
            return Err(FieldError {
                field: "ready_wait_minutes".into(),
                message: "a ready wait applies only with ready_action_on_timeout STOP_DEPLOYMENT"
                    .into(),
            });
        }
        if ready_action == ReadyAction::Stop && ready_wait_minutes.is_none_or(|m| m == 0) {
            return Err(FieldError {
                field: "ready_wait_minutes".into(),
                message: "STOP_DEPLOYMENT needs a ready wait of at least one minute".into(),
            });
        }
        Ok(DeploymentGroupSettings {
            deployment_config,
            ready_action,
            ready_wait_minutes,
            termination_wait_minutes: wait(
                input.termination_wait_minutes,
                "termination_wait_minutes",
            )?
            .unwrap_or(defaults.termination_wait_minutes),
            auto_rollback: input.auto_rollback.unwrap_or(defaults.auto_rollback),
        })
    }
}

fn predefined_names() -> String {
    super::deployment_config::DeploymentConfig::predefined()
        .iter()
        .map(|c| c.name().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod stack_settings_tests {
    use super::*;

    #[test]
    fn container_defaults_and_limits() {
        assert_eq!(
            ContainerSettings::parse(&ContainerInput::default()).unwrap(),
            ContainerSettings::default()
        );
        let c = ContainerSettings::parse(&ContainerInput {
            name: Some("app"),
            port: Some(8080),
            health_check_path: Some("/health"),
            desired_count: Some(3),
        })
        .unwrap();
        assert_eq!(
            (
                c.name.as_str(),
                c.port,
                c.health_check_path.as_str(),
                c.desired_count
            ),
            ("app", 8080, "/health", 3)
        );
        for (input, field) in [
            (
                ContainerInput {
                    name: Some("a b"),
                    ..Default::default()
                },
                "container.name",
            ),
            (
                ContainerInput {
                    port: Some(0),
                    ..Default::default()
                },
                "container.port",
            ),
            (
                ContainerInput {
                    port: Some(70000),
                    ..Default::default()
                },
                "container.port",
            ),
            (
                ContainerInput {
                    health_check_path: Some("health"),
                    ..Default::default()
                },
                "container.health_check_path",
            ),
            (
                ContainerInput {
                    desired_count: Some(0),
                    ..Default::default()
                },
                "container.desired_count",
            ),
            (
                ContainerInput {
                    desired_count: Some(21),
                    ..Default::default()
                },
                "container.desired_count",
            ),
        ] {
            assert_eq!(ContainerSettings::parse(&input).unwrap_err().field, field);
        }
    }

    #[test]
    fn hooks_name_hookable_events() {
        let hooks =
            LifecycleHooks::parse(&[("AfterAllowTraffic", "after"), ("BeforeInstall", "before")])
                .unwrap();
        assert_eq!(
            hooks.pairs(),
            &[
                ("BeforeInstall".to_owned(), "before".to_owned()),
                ("AfterAllowTraffic".to_owned(), "after".to_owned())
            ]
        );
        assert_eq!(
            LifecycleHooks::parse(&[("Install", "x")])
                .unwrap_err()
                .field,
            "hooks.Install"
        );
        assert_eq!(
            LifecycleHooks::parse(&[("AfterInstall", "")])
                .unwrap_err()
                .field,
            "hooks.AfterInstall"
        );
    }

    #[test]
    fn deployment_group_settings() {
        let d = DeploymentGroupSettings::parse(&DeploymentGroupInput::default()).unwrap();
        assert_eq!(d, DeploymentGroupSettings::default());
        let d = DeploymentGroupSettings::parse(&DeploymentGroupInput {
            deployment_config: Some("ECSLinear10PercentEvery1Minutes"),
            ready_wait_minutes: Some(30),
            termination_wait_minutes: Some(0),
            auto_rollback: Some(false),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            d.deployment_config,
            "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
        );
        assert_eq!(
            (d.ready_action, d.ready_wait_minutes),
            (ReadyAction::Stop, Some(30))
        );
        assert!(!d.auto_rollback);
        for (input, field) in [
            (
                DeploymentGroupInput {
                    deployment_config: Some("Fast"),
                    ..Default::default()
                },
                "deployment_config",
            ),
            (
                DeploymentGroupInput {
                    ready_wait_minutes: Some(3000),
                    ..Default::default()
                },
                "ready_wait_minutes",
            ),
            (
                DeploymentGroupInput {
                    ready_action_on_timeout: Some("WAIT"),
                    ..Default::default()
                },
                "ready_action_on_timeout",
            ),
            (
                DeploymentGroupInput {
                    ready_action_on_timeout: Some("STOP_DEPLOYMENT"),
                    ..Default::default()
                },
                "ready_wait_minutes",
            ),
            (
                DeploymentGroupInput {
                    ready_action_on_timeout: Some("CONTINUE_DEPLOYMENT"),
                    ready_wait_minutes: Some(5),
                    ..Default::default()
                },
                "ready_wait_minutes",
            ),
            (
                DeploymentGroupInput {
                    termination_wait_minutes: Some(-1),
                    ..Default::default()
                },
                "termination_wait_minutes",
            ),
        ] {
            assert_eq!(
                DeploymentGroupSettings::parse(&input).unwrap_err().field,
                field,
                "{input:?}"
            );
        }
    }
}
