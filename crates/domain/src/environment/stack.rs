//! What a stack is provisioned with besides its resources: the container
//! and its health check, and the CodeDeploy deployment group settings
//! (Ready action, termination wait, lifecycle hooks).

use crate::{FieldError, ForField, Invalid, check_text};
use serde::{Deserialize, Serialize};

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
            Some(name) => crate::deployment_config::DeploymentConfig::find_predefined(name)
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
    crate::deployment_config::DeploymentConfig::predefined()
        .iter()
        .map(|c| c.name().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a provisioned stack tells the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StackOutputs {
    pub prod_url: String,
    pub test_url: String,
    pub cluster: String,
    pub service: String,
    pub codedeploy_application: String,
    pub deployment_group: String,
    pub prod_listener_arn: String,
    pub test_listener_arn: String,
    pub target_groups: Vec<String>,
    pub task_definition_family: String,
    /// The ECR repository the pipeline's build pushes images to.
    pub repository_uri: String,
    /// The CodePipeline, when the environment follows a source.
    pub pipeline: String,
    /// An AWS stack under ECS's own controller: the listener rules ECS
    /// shifts traffic on, the target group a new revision starts on, and the
    /// role ECS does it with (the service's `advancedConfiguration`). Empty
    /// otherwise; local stacks wire their service when they make it.
    pub prod_listener_rule_arn: String,
    pub test_listener_rule_arn: String,
    pub alternate_target_group_arn: String,
    pub ecs_infrastructure_role_arn: String,
    /// The CloudWatch alarms that stop a deployment (empty: none).
    pub alarm_names: Vec<String>,
    /// The `LoadBalancer` and `TargetGroup` metric dimensions of the stack's
    /// load balancer and its target groups (in `target_groups` order).
    pub load_balancer_dimension: String,
    pub target_group_dimensions: Vec<String>,
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
