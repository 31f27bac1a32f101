//! ECS-native service deployments: UpdateService with the environment's
//! deploymentConfiguration starts one; it is then followed, continued and
//! stopped by its ARN.

use super::Cloud;
use super::deployments::{CloudError, Observation, cloud_error};
use aws_sdk_ecs::types as ecs;
use switchyard_domain::deployment::TaskSetState;
use switchyard_domain::service_deployment::progress::{
    HookState, HookStatus, HookTargetType, NativeProgress, ServiceDeploymentStatus,
};
use switchyard_domain::service_deployment::{
    EcsDeploymentSettings, PauseGate, Strategy, TimeoutAction,
};

/// DescribeServiceDeployments takes at most this many ARNs per call.
pub const DESCRIBE_BATCH: usize = 20;

/// The `deploymentConfiguration` switchyard sends with every UpdateService:
/// the strategy, the bake time and one PAUSE hook per gate.
pub fn deployment_configuration(settings: &EcsDeploymentSettings) -> ecs::DeploymentConfiguration {
    let mut config = ecs::DeploymentConfiguration::builder()
        .bake_time_in_minutes(settings.bake_time_minutes as i32)
        .set_lifecycle_hooks(Some(settings.gates.iter().map(pause_hook).collect()));
    config = match settings.strategy {
        Strategy::BlueGreen => config.strategy(ecs::DeploymentStrategy::BlueGreen),
        Strategy::Linear {
            step,
            step_bake_minutes,
        } => config
            .strategy(ecs::DeploymentStrategy::Linear)
            .linear_configuration(
                ecs::LinearConfiguration::builder()
                    .step_percent(step.as_f64())
                    .step_bake_time_in_minutes(step_bake_minutes as i32)
                    .build(),
            ),
        Strategy::Canary {
            percent,
            bake_minutes,
        } => config
            .strategy(ecs::DeploymentStrategy::Canary)
            .canary_configuration(
                ecs::CanaryConfiguration::builder()
                    .canary_percent(percent.as_f64())
                    .canary_bake_time_in_minutes(bake_minutes as i32)
                    .build(),
            ),
    };
    config.build()
}

fn pause_hook(gate: &PauseGate) -> ecs::DeploymentLifecycleHook {
    ecs::DeploymentLifecycleHook::builder()
        .target_type(ecs::DeploymentLifecycleHookTargetType::Pause)
        .lifecycle_stages(ecs::DeploymentLifecycleHookStage::from(gate.stage.as_str()))
        .timeout_configuration(
            ecs::DeploymentLifecycleHookTimeoutConfiguration::builder()
                .timeout_in_minutes(gate.timeout_minutes as i32)
                .action(ecs::DeploymentLifecycleHookAction::from(
                    gate.on_timeout.as_str(),
                ))
                .build(),
        )
        .build()
}

/// Rolls `task_definition` out to the service with `config`; the ARN of
/// the service deployment ECS started for it.
pub async fn update_service(
    cloud: &Cloud,
    cluster: &str,
    service: &str,
    task_definition: &str,
    config: ecs::DeploymentConfiguration,
) -> Result<String, CloudError> {
    let updated = cloud
        .ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition)
        .deployment_configuration(config)
        .send()
        .await
        .map_err(cloud_error)?;
    updated
        .service
        .and_then(|s| s.current_service_deployment)
        .ok_or_else(|| CloudError {
            code: None,
            message: format!(
                "UpdateService answered no currentServiceDeployment for service {service}: \
                 is its deployment controller ECS?"
            ),
        })
}

/// Releases the hook `hook_id` holds with CONTINUE, or rolls back.
pub async fn continue_hook(
    cloud: &Cloud,
    arn: &str,
    hook_id: &str,
    action: TimeoutAction,
) -> Result<(), CloudError> {
    cloud
        .ecs
        .continue_service_deployment()
        .service_deployment_arn(arn)
        .hook_id(hook_id)
        .action(ecs::DeploymentLifecycleHookAction::from(action.as_str()))
        .send()
        .await
        .map_err(cloud_error)?;
    Ok(())
}

pub async fn stop_with_rollback(cloud: &Cloud, arn: &str) -> Result<(), CloudError> {
    cloud
        .ecs
        .stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(ecs::StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .map_err(cloud_error)?;
    Ok(())
}

/// What ECS reports of one service deployment: its progress in ECS's
/// terms, and the observation both controllers share (its stage rows are
/// made by the caller, who knows the rows before).
#[derive(Debug, Clone)]
pub struct NativeObservation {
    pub arn: String,
    pub progress: NativeProgress,
    pub observation: Observation,
}

/// The service deployments named by `arns`, described `DESCRIBE_BATCH` at a
/// time; ARNs ECS does not know are left out.
pub async fn describe(cloud: &Cloud, arns: &[&str]) -> Result<Vec<NativeObservation>, CloudError> {
    let mut found = Vec::with_capacity(arns.len());
    for batch in arns.chunks(DESCRIBE_BATCH) {
        let answer = cloud
            .ecs
            .describe_service_deployments()
            .set_service_deployment_arns(Some(batch.iter().map(|a| (*a).to_owned()).collect()))
            .send()
            .await
            .map_err(cloud_error)?;
        for d in answer.service_deployments() {
            found.push(observation_of(d)?);
        }
    }
    Ok(found)
}

fn millis(t: Option<&aws_sdk_ecs::primitives::DateTime>) -> Option<i64> {
    t.and_then(|t| t.to_millis().ok())
}

fn observation_of(d: &ecs::ServiceDeployment) -> Result<NativeObservation, CloudError> {
    let status = ServiceDeploymentStatus::parse(d.status().map_or("", |s| s.as_str()))?;
    let hooks = d
        .lifecycle_hook_details()
        .iter()
        .map(hook_state)
        .collect::<Result<Vec<_>, CloudError>>()?;
    let progress = NativeProgress {
        status,
        stage: d.lifecycle_stage().map(|s| s.as_str().to_owned()),
        hooks,
    };
    let state = progress.state();
    let target = d.target_service_revision();
    let green_weight = target
        .and_then(|t| t.requested_production_traffic_weight())
        .unwrap_or(0.0);
    let mut task_sets: Vec<TaskSetState> = target
        .map(|t| revision_state("Green", t))
        .into_iter()
        .collect();
    task_sets.extend(
        d.source_service_revisions()
            .iter()
            .map(|s| revision_state("Blue", s)),
    );
    // Why it rolled back or stopped, as ECS words it.
    let reason = d
        .rollback()
        .and_then(|r| r.reason())
        .or(d.status_reason())
        .filter(|_| !matches!(status, ServiceDeploymentStatus::Successful));
    let error = reason.map(|r| (status.as_str().to_owned(), r.to_owned()));
    let arn = d.service_deployment_arn().unwrap_or_default().to_owned();
    Ok(NativeObservation {
        observation: Observation {
            status: state.status,
            rolled_back: state.rolled_back,
            error,
            lifecycle: Vec::new(),
            task_sets,
            green_weight,
            completed_at: millis(d.finished_at()).or(millis(d.stopped_at())),
            changed_at: millis(d.updated_at()),
        },
        arn,
        progress,
    })
}

/// A revision as a task-set row: the target is green, the sources blue.
fn revision_state(label: &str, r: &ecs::ServiceRevisionSummary) -> TaskSetState {
    TaskSetState {
        label: label.to_owned(),
        id: r.arn().unwrap_or_default().to_owned(),
        status: if label == "Green" { "TARGET" } else { "SOURCE" }.to_owned(),
        desired: i64::from(r.requested_task_count()),
        pending: i64::from(r.pending_task_count()),
        running: i64::from(r.running_task_count()),
        traffic_weight: r.requested_production_traffic_weight().unwrap_or(0.0),
        target_group: None,
    }
}

fn hook_state(h: &ecs::DeploymentLifecycleHookDetail) -> Result<HookState, CloudError> {
    Ok(HookState {
        hook_id: h.hook_id().unwrap_or_default().to_owned(),
        target_type: HookTargetType::parse(h.target_type().map_or("", |t| t.as_str()))?,
        status: HookStatus::parse(h.status().map_or("", |s| s.as_str()))?,
        expires_at: millis(h.expires_at()),
        timeout_action: h
            .timeout_action()
            .map(|a| TimeoutAction::parse(a.as_str()))
            .transpose()?,
    })
}
