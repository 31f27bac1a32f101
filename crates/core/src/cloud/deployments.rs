//! CodeDeploy ECS deployments: registering the revision, starting,
//! observing, continuing and stopping.

use super::{Cloud, describe, task_definitions};
use aws_sdk_codedeploy::types as cd;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use switchyard_domain::deployment::DeploymentStatus;
pub use switchyard_domain::deployment::{LifecycleEventState, LifecycleEventStatus, TaskSetState};

/// A failed cloud call: the AWS error code (when AWS gave one) and the text.
#[derive(Debug, Clone)]
pub struct CloudError {
    pub code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for CloudError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CloudError {}

/// A value the cloud sent that we have no name for (a status AWS added,
/// say): an error that names it, rather than a guess at what it means.
impl From<switchyard_domain::Invalid> for CloudError {
    fn from(invalid: switchyard_domain::Invalid) -> CloudError {
        CloudError {
            code: None,
            message: invalid.to_string(),
        }
    }
}

pub(crate) fn cloud_error<E, R>(error: aws_sdk_ecs::error::SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    CloudError {
        code: error.code().map(str::to_owned),
        message: describe(&error),
    }
}

/// The ECS service an environment deploys, whichever controller shifts
/// its traffic.
#[derive(Debug, Clone, Copy)]
pub struct ServiceTarget<'a> {
    pub task_definition_family: &'a str,
    pub container_name: &'a str,
    pub container_port: i64,
    pub cluster: &'a str,
    pub service: &'a str,
}

/// Where a CodeDeploy deployment goes: the service, its CodeDeploy
/// application and deployment group.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub service: ServiceTarget<'a>,
    pub application: &'a str,
    pub deployment_group: &'a str,
    /// (lifecycle event, function) for the AppSpec's Hooks.
    pub hooks: Vec<(String, String)>,
}

/// Registers a new revision of the stack's task definition: the latest one
/// with the container's image replaced.
pub async fn register_revision(
    cloud: &Cloud,
    target: &ServiceTarget<'_>,
    image: &str,
) -> Result<String, CloudError> {
    let current = task_definitions::describe(cloud, target.task_definition_family).await?;
    let revision = task_definitions::revision_with_image(&current, target.container_name, image)?;
    task_definitions::register(cloud, target.task_definition_family, revision).await
}

/// The ECS AppSpec of a revision.
pub fn appspec(task_definition_arn: &str, target: &Target<'_>) -> String {
    let mut spec = format!(
        "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: \"{task_definition_arn}\"\n        LoadBalancerInfo:\n          ContainerName: \"{}\"\n          ContainerPort: {}\n",
        target.service.container_name, target.service.container_port
    );
    if !target.hooks.is_empty() {
        spec.push_str("Hooks:\n");
        for (event, function) in &target.hooks {
            // JSON strings are valid YAML scalars, quoting whatever a name holds.
            spec.push_str(&format!(
                "  - {event}: {}\n",
                serde_json::Value::from(function.as_str())
            ));
        }
    }
    spec
}

pub async fn create(
    cloud: &Cloud,
    target: &Target<'_>,
    appspec: &str,
    config: &str,
    description: &str,
) -> Result<String, CloudError> {
    cloud
        .codedeploy
        .create_deployment()
        .application_name(target.application)
        .deployment_group_name(target.deployment_group)
        .deployment_config_name(config)
        .description(description)
        .revision(
            cd::RevisionLocation::builder()
                .revision_type(cd::RevisionLocationType::AppSpecContent)
                .app_spec_content(cd::AppSpecContent::builder().content(appspec).build())
                .build(),
        )
        .send()
        .await
        .map_err(cloud_error)?
        .deployment_id
        .ok_or_else(|| CloudError {
            code: None,
            message: "CreateDeployment answered no id".into(),
        })
}

pub async fn continue_deployment(
    cloud: &Cloud,
    id: &str,
    wait: cd::DeploymentWaitType,
) -> Result<(), CloudError> {
    cloud
        .codedeploy
        .continue_deployment()
        .deployment_id(id)
        .deployment_wait_type(wait)
        .send()
        .await
        .map_err(cloud_error)?;
    Ok(())
}

pub async fn stop_with_rollback(cloud: &Cloud, id: &str) -> Result<(), CloudError> {
    cloud
        .codedeploy
        .stop_deployment()
        .deployment_id(id)
        .auto_rollback_enabled(true)
        .send()
        .await
        .map_err(cloud_error)?;
    Ok(())
}

/// A deployment as the cloud reports it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub status: DeploymentStatus,
    pub rolled_back: bool,
    pub error: Option<(String, String)>,
    pub lifecycle: Vec<LifecycleEventState>,
    pub task_sets: Vec<TaskSetState>,
    pub green_weight: f64,
    pub completed_at: Option<i64>,
    /// When the cloud says the state began, where it says so (ECS's
    /// `updatedAt`): what dates the samples and events of a change.
    pub changed_at: Option<i64>,
}

fn millis(t: Option<&aws_sdk_codedeploy::primitives::DateTime>) -> Option<i64> {
    t.and_then(|t| t.to_millis().ok())
}

pub async fn observe(
    cloud: &Cloud,
    id: &str,
    target: &Target<'_>,
) -> Result<Observation, CloudError> {
    let info = cloud
        .codedeploy
        .get_deployment()
        .deployment_id(id)
        .send()
        .await
        .map_err(cloud_error)?
        .deployment_info
        .ok_or_else(|| CloudError {
            code: None,
            message: "GetDeployment answered nothing".into(),
        })?;
    let status = info
        .status()
        .and_then(|s| DeploymentStatus::parse(s.as_str()).ok())
        .ok_or_else(|| CloudError {
            code: None,
            message: format!("unknown deployment status {:?}", info.status()),
        })?;
    let rolled_back = info
        .rollback_info()
        .is_some_and(|r| r.rollback_deployment_id().is_some());
    let error = info.error_information().map(|e| {
        (
            e.code().map(|c| c.as_str().to_owned()).unwrap_or_default(),
            e.message().unwrap_or_default().to_owned(),
        )
    });
    let mut observation = Observation {
        status,
        rolled_back,
        error,
        lifecycle: Vec::new(),
        task_sets: Vec::new(),
        green_weight: 0.0,
        completed_at: millis(info.complete_time()),
        changed_at: None,
    };
    if matches!(status, DeploymentStatus::Created | DeploymentStatus::Queued) {
        return Ok(observation);
    }
    let target_id = format!("{}:{}", target.service.cluster, target.service.service);
    let targets = cloud
        .codedeploy
        .batch_get_deployment_targets()
        .deployment_id(id)
        .target_ids(&target_id)
        .send()
        .await
        .map_err(cloud_error)?;
    if let Some(ecs) = targets
        .deployment_targets()
        .first()
        .and_then(|t| t.ecs_target())
    {
        observation.lifecycle = ecs
            .lifecycle_events()
            .iter()
            .map(|e| {
                Ok(LifecycleEventState {
                    name: e.lifecycle_event_name().unwrap_or_default().to_owned(),
                    status: match e.status() {
                        Some(s) => LifecycleEventStatus::parse(s.as_str())?,
                        None => LifecycleEventStatus::Pending,
                    },
                    started_at: millis(e.start_time()),
                    ended_at: millis(e.end_time()),
                })
            })
            .collect::<Result<_, CloudError>>()?;
        observation.task_sets = ecs
            .task_sets_info()
            .iter()
            .map(|t| TaskSetState {
                label: t.task_set_label().map_or("", |l| l.as_str()).to_owned(),
                id: t.identifer().unwrap_or_default().to_owned(),
                status: t.status().unwrap_or_default().to_owned(),
                desired: t.desired_count(),
                pending: t.pending_count(),
                running: t.running_count(),
                traffic_weight: t.traffic_weight(),
                target_group: t.target_group().and_then(|g| g.name()).map(str::to_owned),
            })
            .collect();
        observation.green_weight = observation
            .task_sets
            .iter()
            .find(|t| t.label == "Green")
            .map_or(0.0, |t| t.traffic_weight);
    }
    Ok(observation)
}
