//! Task definitions: reading one, the revision a deployment registers (the
//! family's latest with the container's image replaced), and the domain's
//! model of either, for diffs.

use super::Cloud;
use super::deployments::{CloudError, cloud_error};
use aws_sdk_ecs::types as ecs;
use switchyard_domain::task_definition as model;

/// The task definition `name` names: a family (its latest revision),
/// `family:revision` or an ARN.
pub async fn describe(cloud: &Cloud, name: &str) -> Result<ecs::TaskDefinition, CloudError> {
    cloud
        .ecs
        .describe_task_definition()
        .task_definition(name)
        .send()
        .await
        .map_err(cloud_error)?
        .task_definition
        .ok_or_else(|| CloudError {
            code: None,
            message: "DescribeTaskDefinition answered nothing".into(),
        })
}

/// `current` with `container_name`'s image replaced by `image`: what a
/// deployment of `image` registers, and what a diff shows it would.
pub fn revision_with_image(
    current: &ecs::TaskDefinition,
    container_name: &str,
    image: &str,
) -> Result<ecs::TaskDefinition, CloudError> {
    let mut revision = current.clone();
    let container = revision
        .container_definitions
        .get_or_insert_with(Vec::new)
        .iter_mut()
        .find(|c| c.name() == Some(container_name))
        .ok_or_else(|| CloudError {
            code: None,
            message: format!("the task definition has no container named {container_name}"),
        })?;
    container.image = Some(image.to_owned());
    Ok(revision)
}

/// Registers `revision` in `family`; answers the new revision's ARN.
pub async fn register(
    cloud: &Cloud,
    family: &str,
    revision: ecs::TaskDefinition,
) -> Result<String, CloudError> {
    cloud
        .ecs
        .register_task_definition()
        .family(family)
        .set_cpu(revision.cpu().map(str::to_owned))
        .set_memory(revision.memory().map(str::to_owned))
        .set_network_mode(revision.network_mode().cloned())
        .set_requires_compatibilities(Some(revision.requires_compatibilities().to_vec()))
        .set_execution_role_arn(revision.execution_role_arn().map(str::to_owned))
        .set_task_role_arn(revision.task_role_arn().map(str::to_owned))
        .set_container_definitions(revision.container_definitions)
        .send()
        .await
        .map_err(cloud_error)?
        .task_definition
        .and_then(|td| td.task_definition_arn)
        .ok_or_else(|| CloudError {
            code: None,
            message: "RegisterTaskDefinition answered no ARN".into(),
        })
}

/// The fields a diff compares.
pub fn to_model(td: &ecs::TaskDefinition) -> model::TaskDefinition {
    model::TaskDefinition {
        cpu: td.cpu().map(str::to_owned),
        memory: td.memory().map(str::to_owned),
        container_definitions: td
            .container_definitions()
            .iter()
            .map(container_model)
            .collect(),
    }
}

fn container_model(c: &ecs::ContainerDefinition) -> model::ContainerDefinition {
    let positive = |n: i32| (n != 0).then_some(n);
    model::ContainerDefinition {
        name: c.name().unwrap_or_default().to_owned(),
        image: c.image().unwrap_or_default().to_owned(),
        environment: c
            .environment()
            .iter()
            .map(|v| model::EnvironmentVariable {
                name: v.name().unwrap_or_default().to_owned(),
                value: v.value().unwrap_or_default().to_owned(),
            })
            .collect(),
        secrets: c
            .secrets()
            .iter()
            .map(|s| model::Secret {
                name: s.name().to_owned(),
                value_from: s.value_from().to_owned(),
            })
            .collect(),
        command: c.command().to_vec(),
        entry_point: c.entry_point().to_vec(),
        port_mappings: c
            .port_mappings()
            .iter()
            .map(|p| model::PortMapping {
                container_port: p.container_port(),
                host_port: p.host_port(),
                protocol: p.protocol().map(|p| p.as_str().to_owned()),
            })
            .collect(),
        // ECS answers 0 for a container CPU share it was not given.
        cpu: positive(c.cpu()),
        memory: c.memory(),
        memory_reservation: c.memory_reservation(),
        health_check: c.health_check().map(|h| model::HealthCheck {
            command: h.command().to_vec(),
            interval: h.interval(),
            timeout: h.timeout(),
            retries: h.retries(),
            start_period: h.start_period(),
        }),
        essential: c.essential(),
    }
}
