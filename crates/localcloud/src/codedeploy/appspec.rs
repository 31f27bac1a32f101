//! The ECS AppSpec: which task definition to deploy, which container and
//! port take the traffic, and which functions run at which lifecycle hooks.

use crate::state::LifecycleEventName;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub task_definition: String,
    pub container_name: String,
    pub container_port: i64,
    /// (lifecycle event, function name)
    pub hooks: Vec<(LifecycleEventName, String)>,
}

/// Parses YAML or JSON (JSON is YAML).
pub fn parse(content: &str) -> Result<AppSpec, String> {
    let doc: Value = serde_yaml_ng::from_str(content)
        .map_err(|e| format!("the AppSpec is not valid YAML or JSON: {e}"))?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_array)
        .ok_or("the AppSpec needs a Resources list")?;
    let service = resources
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|m| m.values())
        .find(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::ECS::Service"))
        .ok_or("the AppSpec needs a resource of Type AWS::ECS::Service")?;
    let properties = service
        .get("Properties")
        .ok_or("the ECS service resource needs Properties")?;
    let task_definition = properties
        .get("TaskDefinition")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("Properties.TaskDefinition is required")?
        .to_owned();
    let lb = properties
        .get("LoadBalancerInfo")
        .ok_or("Properties.LoadBalancerInfo is required")?;
    let container_name = lb
        .get("ContainerName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("LoadBalancerInfo.ContainerName is required")?
        .to_owned();
    let container_port = match lb.get("ContainerPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .filter(|p| (1..=65535).contains(p))
    .ok_or("LoadBalancerInfo.ContainerPort must be a port number")?;
    let mut hooks = Vec::new();
    if let Some(list) = doc.get("Hooks") {
        let list = list.as_array().ok_or("Hooks must be a list")?;
        for entry in list {
            let map = entry.as_object().ok_or("each hook is `Event: function`")?;
            for (event, function) in map {
                let Some(event) =
                    LifecycleEventName::parse(event).filter(|name| name.is_hookable())
                else {
                    return Err(format!(
                        "{event} is not a lifecycle event that takes a hook (BeforeInstall, AfterInstall, \
                         AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic)"
                    ));
                };
                let function = function
                    .as_str()
                    .filter(|f| !f.is_empty())
                    .ok_or("a hook names a function")?;
                hooks.push((event, function.to_owned()));
            }
        }
    }
    Ok(AppSpec {
        task_definition,
        container_name,
        container_port,
        hooks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_appspec() {
        let spec = parse(
            "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: \"arn:aws:ecs:us-east-1:000000000000:task-definition/web:3\"\n        LoadBalancerInfo:\n          ContainerName: \"web\"\n          ContainerPort: 8080\nHooks:\n  - BeforeInstall: \"check\"\n  - AfterAllowTestTraffic: \"smoke\"\n",
        )
        .unwrap();
        assert_eq!(
            spec.task_definition,
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3"
        );
        assert_eq!(
            (spec.container_name.as_str(), spec.container_port),
            ("web", 8080)
        );
        assert_eq!(
            spec.hooks,
            vec![
                (LifecycleEventName::BeforeInstall, "check".into()),
                (LifecycleEventName::AfterAllowTestTraffic, "smoke".into())
            ]
        );
    }

    #[test]
    fn json_appspec() {
        let spec = parse(r#"{"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {"TaskDefinition": "web:1", "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": "80"}}}}]}"#).unwrap();
        assert_eq!(spec.container_port, 80);
        assert!(spec.hooks.is_empty());
    }

    #[test]
    fn invalid_appspecs_say_why() {
        for (content, why) in [
            ("{nope", "not valid"),
            ("version: 0.0", "Resources"),
            (
                "Resources:\n  - X:\n      Type: AWS::Lambda::Function",
                "AWS::ECS::Service",
            ),
            (
                "Resources:\n  - X:\n      Type: AWS::ECS::Service\n      Properties:\n        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}",
                "TaskDefinition",
            ),
            (
                "Resources:\n  - X:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: web:1\n        LoadBalancerInfo: {ContainerName: web, ContainerPort: 0}",
                "ContainerPort",
            ),
            (
                "Resources:\n  - X:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: web:1\n        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\nHooks:\n  - Install: fn",
                "takes a hook",
            ),
        ] {
            let err = parse(content).unwrap_err();
            assert!(err.contains(why), "{content:?}: {err}");
        }
    }
}
