//! Stack variables: those `infra/variables.tf` declares, those an
//! environment sets, checking a stack's own, and redacting secrets.

use super::*;
use crate::provision::resource_name;
use crate::store::environments::EnvironmentRow;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;
use switchyard_domain::FieldError;
use switchyard_domain::environment::ReadyAction;

/// A variable `infra/variables.tf` declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub name: String,
    pub sensitive: bool,
}

/// The root module's variables, read from its `variables.tf` (formatted by
/// `terraform fmt`, which the infra tests enforce).
pub fn declared_variables() -> &'static [Declared] {
    static DECLARED: LazyLock<Vec<Declared>> = LazyLock::new(|| {
        let text = MODULE
            .iter()
            .find(|(path, _)| *path == "variables.tf")
            .map_or("", |(_, text)| text);
        parse_declared(text)
    });
    &DECLARED
}

pub(super) fn parse_declared(text: &str) -> Vec<Declared> {
    let mut declared = Vec::new();
    let mut current: Option<Declared> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("variable \"") {
            if let Some((name, _)) = rest.split_once('"') {
                current = Some(Declared {
                    name: name.to_owned(),
                    sensitive: false,
                });
            }
        } else if line == "}" {
            declared.extend(current.take());
        } else if let Some(variable) = current.as_mut() {
            let setting: Vec<&str> = line.split('=').map(str::trim).collect();
            if setting == ["sensitive", "true"] {
                variable.sensitive = true;
            }
        }
    }
    declared
}

/// Variables switchyard sets from the environment: (variable, where to set
/// it instead). A request's variables may not override them.
pub const FROM_ENVIRONMENT: &[(&str, &str)] = &[
    ("region", "the environment's region"),
    ("container_name", "the environment's container.name"),
    ("container_port", "the environment's container.port"),
    (
        "health_check_path",
        "the environment's container.health_check_path",
    ),
    ("desired_count", "the environment's container.desired_count"),
    (
        "deployment_config_name",
        "the environment's deployment_config",
    ),
    ("ready_wait_minutes", "the environment's ready_wait_minutes"),
    (
        "termination_wait_minutes",
        "the environment's termination_wait_minutes",
    ),
    ("auto_rollback", "the environment's auto_rollback"),
    ("deployment_controller", "the environment's controller"),
    (
        "alarm_5xx_threshold",
        "the environment's alarms.target_5xx_threshold",
    ),
    (
        "alarm_unhealthy_hosts_threshold",
        "the environment's alarms.unhealthy_hosts_threshold",
    ),
    ("aws_endpoint_url", "the server's --aws-endpoint-url"),
];

/// Checks extra variables: each must be declared by the module, and (for a
/// stack's own variables) not one that comes from the environment.
pub fn check_variables(
    variables: &Map<String, Value>,
    stack_variables: bool,
) -> Result<(), FieldError> {
    let prefix = if stack_variables { "variables." } else { "" };
    for name in variables.keys() {
        let field = |message: String| FieldError {
            field: format!("{prefix}{name}"),
            message,
        };
        if !declared_variables().iter().any(|d| &d.name == name) {
            return Err(field(format!(
                "infra/ declares no variable {name:?} (see infra/README.md for the variables)"
            )));
        }
        if stack_variables
            && let Some((_, instead)) = FROM_ENVIRONMENT.iter().find(|(v, _)| v == name)
        {
            return Err(field(format!("{name} comes from {instead}; set it there")));
        }
    }
    Ok(())
}

/// The stack's variables as a client may see them: sensitive values hidden.
pub fn redacted(variables: &Map<String, Value>) -> Map<String, Value> {
    variables
        .iter()
        .map(|(name, value)| {
            let sensitive = declared_variables()
                .iter()
                .any(|d| &d.name == name && d.sensitive);
            let shown = if sensitive {
                json!("(sensitive)")
            } else {
                value.clone()
            };
            (name.clone(), shown)
        })
        .collect()
}

/// The name every AWS resource of the stack starts with: the environment's
/// name, shortened with a hash to the module's 26 characters.
pub fn stack_name(environment: &str) -> String {
    let name = resource_name(environment, "", 26);
    let trimmed = name.trim_end_matches('-');
    if trimmed.len() >= 2 {
        trimmed.to_owned()
    } else {
        // e.g. "a-": too short once the trailing '-' goes; the hash keeps it unique.
        resource_name(&format!("{trimmed}-{}", "x".repeat(27)), "", 26)
    }
}

/// The variables switchyard derives from the environment.
pub fn environment_variables(env: &EnvironmentRow, endpoint: Option<&str>) -> Map<String, Value> {
    let mut vars = Map::new();
    vars.insert("name".into(), json!(stack_name(&env.name)));
    vars.insert(
        "region".into(),
        json!(env.region.as_deref().unwrap_or("us-east-1")),
    );
    vars.insert("tags".into(), json!({"switchyard:environment": env.name}));
    vars.insert("container_name".into(), json!(env.container_name));
    vars.insert("container_port".into(), json!(env.container_port));
    vars.insert("health_check_path".into(), json!(env.health_check_path));
    vars.insert("desired_count".into(), json!(env.desired_count));
    vars.insert(
        "deployment_config_name".into(),
        json!(env.deployment_config),
    );
    let ready_wait = if env.ready_action == ReadyAction::Stop {
        env.ready_wait_minutes.unwrap_or(0)
    } else {
        0
    };
    vars.insert("ready_wait_minutes".into(), json!(ready_wait));
    vars.insert(
        "termination_wait_minutes".into(),
        json!(env.termination_wait_minutes),
    );
    vars.insert("auto_rollback".into(), json!(env.auto_rollback));
    vars.insert(
        "deployment_controller".into(),
        json!(env.deployment_controller.ecs_type()),
    );
    let alarms = env.alarm_settings().unwrap_or_default();
    vars.insert(
        "alarm_5xx_threshold".into(),
        json!(alarms.target_5xx_threshold),
    );
    vars.insert(
        "alarm_unhealthy_hosts_threshold".into(),
        json!(alarms.unhealthy_hosts_threshold),
    );
    if let Some(endpoint) = endpoint {
        vars.insert("aws_endpoint_url".into(), json!(endpoint));
    }
    vars
}
