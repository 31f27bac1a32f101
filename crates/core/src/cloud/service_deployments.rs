//! ECS-native service deployments: UpdateService with the environment's
//! deploymentConfiguration starts one; it is then followed, continued and
//! stopped by its ARN.

use super::Cloud;
use super::deployments::{CloudError, Observation, cloud_error};
use aws_sdk_ecs::types as ecs;
use switchyard_domain::deployment::TaskSetState;
use switchyard_domain::environment::StackOutputs;
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
/// `alarms`: the CloudWatch alarms that stop and roll back a deployment;
/// none turns ECS's alarm watching off.
pub fn deployment_configuration(
    settings: &EcsDeploymentSettings,
    alarms: &[String],
) -> ecs::DeploymentConfiguration {
    let watch = !alarms.is_empty();
    let mut config = ecs::DeploymentConfiguration::builder()
        .bake_time_in_minutes(settings.bake_time_minutes as i32)
        .alarms(
            ecs::DeploymentAlarms::builder()
                .set_alarm_names(Some(alarms.to_vec()))
                .enable(watch)
                .rollback(watch)
                .build()
                .expect("alarm names, enable and rollback are set"),
        )
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

/// Where ECS's own controller shifts an AWS stack's traffic: the service's
/// `loadBalancers[].advancedConfiguration`. Terraform's provider cannot set
/// it, so the stack outputs it and the first deployment sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficRouting {
    pub alternate_target_group_arn: String,
    pub production_listener_rule: String,
    pub test_listener_rule: String,
    pub role_arn: String,
}

impl TrafficRouting {
    /// None unless the stack made all four (an AWS stack under ECS's
    /// controller; local stacks wire their service when they make it).
    pub fn from_outputs(outputs: &StackOutputs) -> Option<TrafficRouting> {
        let routing = TrafficRouting {
            alternate_target_group_arn: outputs.alternate_target_group_arn.clone(),
            production_listener_rule: outputs.prod_listener_rule_arn.clone(),
            test_listener_rule: outputs.test_listener_rule_arn.clone(),
            role_arn: outputs.ecs_infrastructure_role_arn.clone(),
        };
        let complete = [
            &routing.alternate_target_group_arn,
            &routing.production_listener_rule,
            &routing.test_listener_rule,
            &routing.role_arn,
        ]
        .iter()
        .all(|value| !value.is_empty());
        complete.then_some(routing)
    }
}

/// The service's load balancers with `routing` added, or None when there is
/// nothing to send: none to route, or routed already. ECS swaps the target
/// groups' roles at every deployment, so sending the stack's first pairing
/// again could undo that.
pub fn routed_load_balancers(
    current: &[ecs::LoadBalancer],
    routing: &TrafficRouting,
) -> Option<Vec<ecs::LoadBalancer>> {
    if current.is_empty() || current.iter().any(|lb| lb.advanced_configuration.is_some()) {
        return None;
    }
    let advanced = ecs::AdvancedConfiguration::builder()
        .alternate_target_group_arn(&routing.alternate_target_group_arn)
        .production_listener_rule(&routing.production_listener_rule)
        .test_listener_rule(&routing.test_listener_rule)
        .role_arn(&routing.role_arn)
        .build();
    let routed = current
        .iter()
        .map(|lb| {
            ecs::LoadBalancer::builder()
                .set_target_group_arn(lb.target_group_arn.clone())
                .set_load_balancer_name(lb.load_balancer_name.clone())
                .set_container_name(lb.container_name.clone())
                .set_container_port(lb.container_port)
                .advanced_configuration(advanced.clone())
                .build()
        })
        .collect();
    Some(routed)
}

async fn load_balancers_of(
    cloud: &Cloud,
    cluster: &str,
    service: &str,
) -> Result<Vec<ecs::LoadBalancer>, CloudError> {
    let described = cloud
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(cloud_error)?;
    Ok(described
        .services()
        .first()
        .map(|s| s.load_balancers().to_vec())
        .unwrap_or_default())
}

/// Rolls `task_definition` out to the service with `config`; the ARN of
/// the service deployment ECS started for it. With `routing` (an AWS
/// stack), a service not yet routed gets its load balancers routed too.
pub async fn update_service(
    cloud: &Cloud,
    cluster: &str,
    service: &str,
    task_definition: &str,
    config: ecs::DeploymentConfiguration,
    routing: Option<&TrafficRouting>,
) -> Result<String, CloudError> {
    let updated = send_update(
        cloud,
        cluster,
        service,
        Some(task_definition),
        config,
        routing,
    )
    .await?;
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

/// Sets the service's deployment configuration (and, with `routing`, its
/// load balancers' routing) without rolling anything out, so that a rollout
/// started elsewhere (a pipeline's ECS action) runs with the environment's
/// settings.
pub async fn configure_service(
    cloud: &Cloud,
    cluster: &str,
    service: &str,
    config: ecs::DeploymentConfiguration,
    routing: Option<&TrafficRouting>,
) -> Result<(), CloudError> {
    send_update(cloud, cluster, service, None, config, routing).await?;
    Ok(())
}

async fn send_update(
    cloud: &Cloud,
    cluster: &str,
    service: &str,
    task_definition: Option<&str>,
    config: ecs::DeploymentConfiguration,
    routing: Option<&TrafficRouting>,
) -> Result<aws_sdk_ecs::operation::update_service::UpdateServiceOutput, CloudError> {
    let load_balancers = match routing {
        Some(routing) => {
            routed_load_balancers(&load_balancers_of(cloud, cluster, service).await?, routing)
        }
        None => None,
    };
    cloud
        .ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .set_task_definition(task_definition.map(str::to_owned))
        .deployment_configuration(config)
        .set_load_balancers(load_balancers)
        .send()
        .await
        .map_err(cloud_error)
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

/// The task definition a service deployment rolls out.
pub async fn target_task_definition(cloud: &Cloud, arn: &str) -> Result<String, CloudError> {
    let missing = |what: &str| CloudError {
        code: None,
        message: format!("{what} answered nothing for the service deployment {arn}"),
    };
    let deployment = cloud
        .ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .map_err(cloud_error)?;
    let revision = deployment
        .service_deployments()
        .first()
        .and_then(|d| d.target_service_revision())
        .and_then(|r| r.arn())
        .ok_or_else(|| missing("DescribeServiceDeployments"))?
        .to_owned();
    let revisions = cloud
        .ecs
        .describe_service_revisions()
        .service_revision_arns(&revision)
        .send()
        .await
        .map_err(cloud_error)?;
    revisions
        .service_revisions()
        .first()
        .and_then(|r| r.task_definition())
        .map(str::to_owned)
        .ok_or_else(|| missing("DescribeServiceRevisions"))
}

/// The target group a service revision serves, as its resolved
/// configuration says (green's, for the target revision).
pub async fn revision_target_group(
    cloud: &Cloud,
    revision_arn: &str,
) -> Result<Option<String>, CloudError> {
    let revisions = cloud
        .ecs
        .describe_service_revisions()
        .service_revision_arns(revision_arn)
        .send()
        .await
        .map_err(cloud_error)?;
    Ok(revisions
        .service_revisions()
        .first()
        .and_then(|r| r.resolved_configuration())
        .and_then(|c| c.load_balancers().first())
        .and_then(|lb| lb.target_group_arn())
        .map(str::to_owned))
}
