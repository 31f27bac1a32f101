//! The ECS operations of native deployments: what CreateService and
//! UpdateService check and start, and the service deployment and revision
//! operations. The engine (`engine.rs`) moves the deployments on.

use super::config::{AdvancedConfiguration, DeploymentConfiguration, DeploymentStrategy};
use super::model::{ContainerImage, ResolvedLoadBalancer, RevisionLoadBalancer};
use super::model::{
    DeploymentLifecycleHookStatus, ServiceDeployment, ServiceDeploymentStatus, ServiceRevision,
    ServiceRevisionSummary, StopRequest, StopServiceDeploymentStopType, new_service_deployment_id,
    new_service_revision_id,
};
use super::render;
use crate::state::{CloudState, Service, ServiceLoadBalancer};
use crate::wire::{AwsError, Input, OpResult, paginate};
use serde_json::json;

const INVALID: &str = "InvalidParameterException";
/// DescribeServiceDeployments and DescribeServiceRevisions take at most 20 ARNs.
const MAX_DESCRIBE: usize = 20;

/// Whether a service deploys by shifting traffic between two target groups.
pub fn is_blue_green(config: &DeploymentConfiguration) -> bool {
    matches!(
        config.strategy(),
        DeploymentStrategy::BlueGreen | DeploymentStrategy::Linear | DeploymentStrategy::Canary
    )
}

/// A load balancer's `advancedConfiguration`, checked against the local
/// load balancers: the alternate target group and the listener rules exist,
/// on the same load balancer as the primary target group.
pub fn advanced_configuration(
    s: &CloudState,
    lb: &Input,
    path: &str,
    target_group_arn: &str,
) -> Result<Option<AdvancedConfiguration>, AwsError> {
    let Some(advanced) = lb.nested("advancedConfiguration")? else {
        return Ok(None);
    };
    let advanced = AdvancedConfiguration::parse_at(&advanced, path)?;
    let invalid = |why: String| AwsError::new(INVALID, format!("{path}: {why}"));
    let balancer = s
        .load_balancers
        .values()
        .find(|b| b.target_groups.iter().any(|tg| tg.arn == target_group_arn))
        .ok_or_else(|| invalid(format!("target group {target_group_arn} does not exist")))?;
    if advanced.alternate_target_group_arn == target_group_arn
        || !balancer
            .target_groups
            .iter()
            .any(|tg| tg.arn == advanced.alternate_target_group_arn)
    {
        return Err(invalid(format!(
            "alternateTargetGroupArn must be another target group of the load balancer {} than targetGroupArn",
            balancer.name
        )));
    }
    let rules = std::iter::once(&advanced.production_listener_rule)
        .chain(advanced.test_listener_rule.as_ref());
    for rule in rules {
        if balancer.listener_of_rule(rule).is_none() {
            return Err(invalid(format!(
                "the listener rule {rule} is not a rule of the load balancer {}",
                balancer.name
            )));
        }
    }
    Ok(Some(advanced))
}

/// A blue/green strategy needs one load balancer with its advanced configuration.
pub fn check_load_balancers(
    config: &DeploymentConfiguration,
    load_balancers: &[ServiceLoadBalancer],
) -> Result<(), AwsError> {
    if !is_blue_green(config) {
        return Ok(());
    }
    match load_balancers {
        [lb] if lb.advanced_configuration.is_some() => Ok(()),
        _ => Err(AwsError::new(
            INVALID,
            format!(
                "The {} deployment strategy needs exactly one load balancer with an advancedConfiguration \
                 (alternateTargetGroupArn, productionListenerRule, roleArn).",
                config.strategy()
            ),
        )),
    }
}

/// A revision of `svc` running `task_definition`, stored; its ARN.
pub fn record_revision(
    s: &mut CloudState,
    svc: &Service,
    task_definition: &str,
    target_group_arn: Option<&str>,
    now: i64,
) -> String {
    let mut revision = ServiceRevision::new(
        &svc.cluster,
        &svc.name,
        &new_service_revision_id(),
        task_definition,
        Some(svc.launch_type),
        now,
    );
    revision.load_balancers = svc
        .load_balancers
        .iter()
        .map(|lb| RevisionLoadBalancer {
            target_group_arn: lb.target_group_arn.clone(),
            container_name: lb.container_name.clone(),
            container_port: lb.container_port,
            advanced_configuration: lb.advanced_configuration.clone(),
        })
        .collect();
    revision.resolved_load_balancers = target_group_arn
        .map(|tg| ResolvedLoadBalancer {
            target_group_arn: tg.to_owned(),
            production_listener_rule: svc
                .load_balancers
                .first()
                .and_then(|lb| lb.advanced_configuration.as_ref())
                .map(|a| a.production_listener_rule.clone()),
        })
        .into_iter()
        .collect();
    revision.container_images = container_images(s, task_definition);
    let arn = revision.arn.clone();
    s.service_revisions.insert(arn.clone(), revision);
    arn
}

fn container_images(s: &CloudState, task_definition: &str) -> Vec<ContainerImage> {
    let Ok(td) = super::super::find_task_definition(s, task_definition) else {
        return Vec::new();
    };
    td.input["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| ContainerImage {
            container_name: c["name"].as_str().unwrap_or_default().to_owned(),
            image: c["image"].as_str().unwrap_or_default().to_owned(),
            image_digest: None,
        })
        .collect()
}

/// The service's deployment that has not finished, if any.
pub fn active_deployment<'a>(s: &'a CloudState, svc: &Service) -> Option<&'a ServiceDeployment> {
    s.service_deployments
        .values()
        .find(|d| d.service_arn == svc.arn && !d.is_finished())
}

/// Starts a blue/green deployment of `svc` (stored under `key`) to
/// `task_definition`: a new revision and a PENDING service deployment the
/// engine picks up. Returns the deployment's ARN.
pub fn start_deployment(
    s: &mut CloudState,
    key: &str,
    task_definition: &str,
    now: i64,
) -> Result<String, AwsError> {
    let svc = s.services.get(key).expect("checked by the caller").clone();
    if let Some(active) = active_deployment(s, &svc) {
        return Err(AwsError::new(
            INVALID,
            format!(
                "The service {} has a deployment in progress ({}); stop it or wait for it to finish.",
                svc.name, active.arn
            ),
        ));
    }
    let green_tg = svc
        .load_balancers
        .first()
        .and_then(|lb| lb.advanced_configuration.as_ref())
        .map(|a| a.alternate_target_group_arn.clone());
    let target = record_revision(s, &svc, task_definition, green_tg.as_deref(), now);
    let summary = |arn: &str| ServiceRevisionSummary {
        arn: arn.to_owned(),
        requested_task_count: svc.desired_count,
        ..ServiceRevisionSummary::default()
    };
    let sources = svc
        .current_revision
        .as_deref()
        .map(summary)
        .into_iter()
        .collect();
    let deployment = ServiceDeployment::new(
        &svc.cluster,
        &svc.name,
        &new_service_deployment_id(),
        summary(&target),
        sources,
        svc.deployment_configuration.clone(),
        now,
    );
    let arn = deployment.arn.clone();
    s.service_deployments.insert(arn.clone(), deployment);
    Ok(arn)
}

/// A finished deployment for a service's first revision (or a rolling
/// update): ECS records one for every rollout.
pub fn record_finished_deployment(s: &mut CloudState, key: &str, task_definition: &str, now: i64) {
    let svc = s.services.get(key).expect("checked by the caller").clone();
    let tg = svc
        .load_balancers
        .first()
        .map(|lb| lb.target_group_arn.clone());
    let target = record_revision(s, &svc, task_definition, tg.as_deref(), now);
    let sources = svc
        .current_revision
        .iter()
        .map(|arn| ServiceRevisionSummary {
            arn: arn.clone(),
            ..ServiceRevisionSummary::default()
        })
        .collect();
    let target_summary = ServiceRevisionSummary {
        arn: target.clone(),
        requested_task_count: svc.desired_count,
        requested_production_traffic_weight: Some(100.0),
        ..ServiceRevisionSummary::default()
    };
    let mut deployment = ServiceDeployment::new(
        &svc.cluster,
        &svc.name,
        &new_service_deployment_id(),
        target_summary,
        sources,
        svc.deployment_configuration.clone(),
        now,
    );
    deployment.status = ServiceDeploymentStatus::Successful;
    deployment.started_at = Some(now);
    deployment.finished_at = Some(now);
    s.service_deployments
        .insert(deployment.arn.clone(), deployment);
    s.services
        .get_mut(key)
        .expect("checked by the caller")
        .current_revision = Some(target);
}

/// DescribeServices' `currentServiceDeployment`: the service's latest rollout.
pub fn current_service_deployment<'a>(s: &'a CloudState, svc: &Service) -> Option<&'a str> {
    s.service_deployments
        .values()
        .filter(|d| d.service_arn == svc.arn)
        .max_by_key(|d| d.created_at)
        .map(|d| d.arn.as_str())
}

pub fn list_service_deployments(s: &CloudState, input: &Input) -> OpResult {
    let cluster = super::super::cluster_name(input)?;
    let svc = super::super::find_service(s, cluster, input.str("service")?)?;
    let statuses = input
        .str_list("status")?
        .into_iter()
        .map(|status| ServiceDeploymentStatus::parse_field(status, "status", INVALID))
        .collect::<Result<Vec<_>, _>>()?;
    let created = input.nested("createdAt")?;
    let after = created
        .as_ref()
        .map(|c| c.opt_f64("after"))
        .transpose()?
        .flatten();
    let before = created
        .as_ref()
        .map(|c| c.opt_f64("before"))
        .transpose()?
        .flatten();
    let mut matching: Vec<&ServiceDeployment> = s
        .service_deployments
        .values()
        .filter(|d| d.service_arn == svc.arn)
        .filter(|d| statuses.is_empty() || statuses.contains(&d.status))
        .filter(|d| after.is_none_or(|t| d.created_at as f64 >= t * 1000.0))
        .filter(|d| before.is_none_or(|t| d.created_at as f64 <= t * 1000.0))
        .collect();
    // Newest first, as ECS lists them.
    matching.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    let max = input.max_results(20, 100)?;
    let (page, next) = paginate(&matching, input.opt_str("nextToken")?, max)?;
    Ok(render::list_service_deployments(page, next.as_deref()))
}

pub fn describe_service_deployments(s: &CloudState, input: &Input) -> OpResult {
    let arns = input.str_list_at_most("serviceDeploymentArns", MAX_DESCRIBE)?;
    let (found, missing) = found_and_missing(&s.service_deployments, &arns);
    Ok(render::describe_service_deployments(found, &missing))
}

pub fn describe_service_revisions(s: &CloudState, input: &Input) -> OpResult {
    let arns = input.str_list_at_most("serviceRevisionArns", MAX_DESCRIBE)?;
    let (found, missing) = found_and_missing(&s.service_revisions, &arns);
    Ok(render::describe_service_revisions(found, &missing))
}

/// The records `arns` name, in their order, and the ARNs that name none.
fn found_and_missing<'a, T>(
    records: &'a std::collections::BTreeMap<String, T>,
    arns: &[&'a str],
) -> (Vec<&'a T>, Vec<&'a str>) {
    let found = arns.iter().filter_map(|arn| records.get(*arn)).collect();
    let missing = arns
        .iter()
        .copied()
        .filter(|arn| !records.contains_key(*arn))
        .collect();
    (found, missing)
}

fn deployment_in_progress<'a>(
    s: &'a mut CloudState,
    input: &Input,
) -> Result<&'a mut ServiceDeployment, AwsError> {
    let arn = input.str("serviceDeploymentArn")?;
    let d = s.service_deployments.get_mut(arn).ok_or_else(|| {
        AwsError::new(
            "ServiceDeploymentNotFoundException",
            format!("The service deployment {arn} does not exist."),
        )
    })?;
    if d.is_finished() || d.stop_request.is_some() {
        return Err(AwsError::new(
            "ConflictException",
            format!(
                "The service deployment {arn} is {} and can no longer be stopped or continued.",
                d.status
            ),
        ));
    }
    Ok(d)
}

pub fn stop_service_deployment(s: &mut CloudState, input: &Input, now: i64) -> OpResult {
    let stop_type = StopServiceDeploymentStopType::parse_field(
        input.opt_str("stopType")?.unwrap_or("ROLLBACK"),
        "stopType",
        INVALID,
    )?;
    if stop_type == StopServiceDeploymentStopType::Abort {
        return Err(AwsError::new(
            "UnsupportedFeatureException",
            "A blue/green, linear or canary deployment stops by rolling back (stopType ROLLBACK).",
        ));
    }
    let d = deployment_in_progress(s, input)?;
    d.status = ServiceDeploymentStatus::RollbackRequested;
    d.stop_request = Some(StopRequest {
        stop_type,
        reason: Some("StopServiceDeployment was called with stopType ROLLBACK".into()),
        requested_at: now,
    });
    d.updated_at = now;
    Ok(json!({"serviceDeploymentArn": d.arn}))
}

pub fn continue_service_deployment(s: &mut CloudState, input: &Input, now: i64) -> OpResult {
    let hook_id = input.str("hookId")?;
    let action = super::config::DeploymentLifecycleHookAction::parse_field(
        input.opt_str("action")?.unwrap_or("CONTINUE"),
        "action",
        INVALID,
    )?;
    let d = deployment_in_progress(s, input)?;
    let arn = d.arn.clone();
    let hook = d.awaiting_hook_mut(hook_id).ok_or_else(|| {
        AwsError::new(
            INVALID,
            format!("{hook_id} is not a lifecycle hook of {arn} that awaits action."),
        )
    })?;
    hook.status = DeploymentLifecycleHookStatus::Succeeded;
    hook.finished_at = Some(now);
    if action == super::config::DeploymentLifecycleHookAction::Rollback {
        d.status = ServiceDeploymentStatus::RollbackRequested;
        d.stop_request = Some(StopRequest {
            stop_type: StopServiceDeploymentStopType::Rollback,
            reason: Some(format!(
                "ContinueServiceDeployment chose ROLLBACK at the lifecycle hook {hook_id}"
            )),
            requested_at: now,
        });
    }
    d.updated_at = now;
    Ok(json!({"serviceDeploymentArn": arn}))
}
