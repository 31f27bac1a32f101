//! Where an AWS environment lives: its region and profile, and the cloud
//! resources (cluster, service, CodeDeploy, pipeline, listeners) it drives.

use crate::{FieldError, ForField, Invalid, check_text};
use std::fmt;

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
