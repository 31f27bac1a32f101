//! Service deployments and revisions as DescribeServiceDeployments,
//! ListServiceDeployments and DescribeServiceRevisions answer them
//! (botocore's `ServiceDeployment`, `ServiceDeploymentBrief` and
//! `ServiceRevision` shapes), omitting unset members.

use super::members;
use super::model::{
    AlarmsStatus, CircuitBreakerStatus, ContainerImage, LifecycleHookExecution,
    ResolvedLoadBalancer, RevisionLoadBalancer, Rollback, ServiceDeployment, ServiceRevision,
    ServiceRevisionSummary,
};
use super::schedule::LifecycleStage;
use crate::wire::epoch;
use serde_json::{Value, json};

/// `{"serviceDeployments": [...], "failures": [...]}`; `missing` are the
/// asked-for ARNs that name no deployment.
pub fn describe_service_deployments<'a>(
    found: impl IntoIterator<Item = &'a ServiceDeployment>,
    missing: &[&str],
) -> Value {
    let deployments: Vec<Value> = found.into_iter().map(service_deployment).collect();
    json!({"serviceDeployments": deployments, "failures": failures(missing)})
}

/// `{"serviceDeployments": [briefs], "nextToken": ...}` for one page.
pub fn list_service_deployments<'a>(
    page: impl IntoIterator<Item = &'a ServiceDeployment>,
    next_token: Option<&str>,
) -> Value {
    let briefs: Vec<Value> = page.into_iter().map(service_deployment_brief).collect();
    members([
        ("serviceDeployments", Some(Value::from(briefs))),
        ("nextToken", next_token.map(Value::from)),
    ])
}

pub fn describe_service_revisions<'a>(
    found: impl IntoIterator<Item = &'a ServiceRevision>,
    missing: &[&str],
) -> Value {
    let revisions: Vec<Value> = found.into_iter().map(service_revision).collect();
    json!({"serviceRevisions": revisions, "failures": failures(missing)})
}

fn failures(missing: &[&str]) -> Vec<Value> {
    missing
        .iter()
        .map(|arn| json!({"arn": arn, "reason": "MISSING"}))
        .collect()
}

/// The stage as DescribeServiceDeployments names it: its model has no
/// PRE_PRODUCTION_TRAFFIC_SHIFT (only hooks name that), so a deployment held
/// there reports the production shift it is about to start, at weight 0.
fn reported_stage(stage: LifecycleStage) -> Value {
    match stage {
        LifecycleStage::PreProductionTrafficShift => LifecycleStage::ProductionTrafficShift,
        other => other,
    }
    .into()
}

pub fn service_deployment(d: &ServiceDeployment) -> Value {
    members([
        ("serviceDeploymentArn", Some(json!(d.arn))),
        ("serviceArn", Some(json!(d.service_arn))),
        ("clusterArn", Some(json!(d.cluster_arn))),
        ("createdAt", Some(epoch(d.created_at))),
        ("startedAt", d.started_at.map(epoch)),
        ("finishedAt", d.finished_at.map(epoch)),
        ("stoppedAt", d.stopped_at.map(epoch)),
        ("updatedAt", Some(epoch(d.updated_at))),
        (
            "sourceServiceRevisions",
            Some(
                d.source_service_revisions
                    .iter()
                    .map(revision_summary)
                    .collect(),
            ),
        ),
        (
            "targetServiceRevision",
            Some(revision_summary(&d.target_service_revision)),
        ),
        ("status", Some(Value::from(d.status))),
        ("statusReason", d.status_reason.clone().map(Value::from)),
        ("lifecycleStage", d.lifecycle_stage.map(reported_stage)),
        (
            "lifecycleHookDetails",
            Some(d.lifecycle_hook_details.iter().map(hook_detail).collect()),
        ),
        (
            "deploymentConfiguration",
            Some(d.deployment_configuration.to_json()),
        ),
        ("rollback", d.rollback.as_ref().map(rollback)),
        (
            "deploymentCircuitBreaker",
            d.deployment_circuit_breaker.as_ref().map(circuit_breaker),
        ),
        ("alarms", d.alarms.as_ref().map(alarms)),
    ])
}

/// A ListServiceDeployments entry: no stage, weights or configuration.
pub fn service_deployment_brief(d: &ServiceDeployment) -> Value {
    members([
        ("serviceDeploymentArn", Some(json!(d.arn))),
        ("serviceArn", Some(json!(d.service_arn))),
        ("clusterArn", Some(json!(d.cluster_arn))),
        ("startedAt", d.started_at.map(epoch)),
        ("createdAt", Some(epoch(d.created_at))),
        ("finishedAt", d.finished_at.map(epoch)),
        (
            "targetServiceRevisionArn",
            Some(json!(d.target_service_revision.arn)),
        ),
        ("status", Some(Value::from(d.status))),
        ("statusReason", d.status_reason.clone().map(Value::from)),
    ])
}

fn revision_summary(r: &ServiceRevisionSummary) -> Value {
    members([
        ("arn", Some(json!(r.arn))),
        ("requestedTaskCount", Some(json!(r.requested_task_count))),
        ("runningTaskCount", Some(json!(r.running_task_count))),
        ("pendingTaskCount", Some(json!(r.pending_task_count))),
        (
            "requestedTestTrafficWeight",
            r.requested_test_traffic_weight.map(Value::from),
        ),
        (
            "requestedProductionTrafficWeight",
            r.requested_production_traffic_weight.map(Value::from),
        ),
    ])
}

/// The model's hook detail has no stage: the execution's stage stays inside.
fn hook_detail(h: &LifecycleHookExecution) -> Value {
    members([
        ("hookId", Some(json!(h.hook_id))),
        ("targetType", Some(Value::from(h.target_type))),
        ("targetArn", h.target_arn.clone().map(Value::from)),
        ("status", Some(Value::from(h.status))),
        ("expiresAt", h.expires_at.map(epoch)),
        ("timeoutAction", Some(Value::from(h.timeout_action))),
    ])
}

fn rollback(r: &Rollback) -> Value {
    json!({
        "reason": r.reason,
        "startedAt": epoch(r.started_at),
        "serviceRevisionArn": r.service_revision_arn,
    })
}

fn circuit_breaker(c: &CircuitBreakerStatus) -> Value {
    json!({"status": c.status, "failureCount": c.failure_count, "threshold": c.threshold})
}

fn alarms(a: &AlarmsStatus) -> Value {
    json!({
        "status": a.status,
        "alarmNames": a.alarm_names,
        "triggeredAlarmNames": a.triggered_alarm_names,
    })
}

pub fn service_revision(r: &ServiceRevision) -> Value {
    let load_balancers: Vec<Value> = r
        .load_balancers
        .iter()
        .map(revision_load_balancer)
        .collect();
    let images: Vec<Value> = r.container_images.iter().map(container_image).collect();
    let resolved: Vec<Value> = r
        .resolved_load_balancers
        .iter()
        .map(resolved_load_balancer)
        .collect();
    members([
        ("serviceRevisionArn", Some(json!(r.arn))),
        ("serviceArn", Some(json!(r.service_arn))),
        ("clusterArn", Some(json!(r.cluster_arn))),
        ("taskDefinition", Some(json!(r.task_definition))),
        ("launchType", r.launch_type.map(Value::from)),
        (
            "platformVersion",
            r.platform_version.clone().map(Value::from),
        ),
        ("loadBalancers", Some(Value::from(load_balancers))),
        ("serviceRegistries", Some(json!([]))),
        ("containerImages", Some(Value::from(images))),
        ("guardDutyEnabled", Some(json!(false))),
        ("createdAt", Some(epoch(r.created_at))),
        (
            "resolvedConfiguration",
            Some(json!({"loadBalancers": resolved})),
        ),
    ])
}

fn revision_load_balancer(lb: &RevisionLoadBalancer) -> Value {
    members([
        ("targetGroupArn", Some(json!(lb.target_group_arn))),
        ("containerName", Some(json!(lb.container_name))),
        ("containerPort", Some(json!(lb.container_port))),
        (
            "advancedConfiguration",
            lb.advanced_configuration.as_ref().map(|a| a.to_json()),
        ),
    ])
}

fn container_image(image: &ContainerImage) -> Value {
    members([
        ("containerName", Some(json!(image.container_name))),
        ("imageDigest", image.image_digest.clone().map(Value::from)),
        ("image", Some(json!(image.image))),
    ])
}

/// Which target group the revision serves, behind which production rule.
fn resolved_load_balancer(lb: &ResolvedLoadBalancer) -> Value {
    members([
        ("targetGroupArn", Some(json!(lb.target_group_arn))),
        (
            "productionListenerRule",
            lb.production_listener_rule.clone().map(Value::from),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::native::config::{
        AdvancedConfiguration, DeploymentConfiguration, DeploymentLifecycleHookAction,
        DeploymentLifecycleHookTargetType, DeploymentStrategy,
    };
    use crate::ecs::native::model::{
        DeploymentLifecycleHookStatus, LaunchType, ServiceDeploymentRollbackMonitorsStatus,
        ServiceDeploymentStatus, service_revision_arn,
    };
    use crate::ecs::native::schedule::LifecycleStage;

    fn deployment() -> ServiceDeployment {
        let target = ServiceRevisionSummary {
            arn: service_revision_arn("prod", "web", "2"),
            requested_task_count: 2,
            running_task_count: 1,
            pending_task_count: 1,
            requested_test_traffic_weight: Some(100.0),
            requested_production_traffic_weight: Some(10.0),
        };
        let source = ServiceRevisionSummary {
            arn: service_revision_arn("prod", "web", "1"),
            requested_task_count: 2,
            running_task_count: 2,
            ..ServiceRevisionSummary::default()
        };
        let config = DeploymentConfiguration {
            strategy: Some(DeploymentStrategy::Linear),
            bake_time_in_minutes: Some(5),
            ..DeploymentConfiguration::default()
        };
        ServiceDeployment::new("prod", "web", "abc", target, vec![source], config, 1_500)
    }

    #[test]
    fn a_deployment_in_progress_as_describe_shows_it() {
        let mut d = deployment();
        d.status = ServiceDeploymentStatus::InProgress;
        d.lifecycle_stage = Some(LifecycleStage::PostTestTrafficShift);
        d.started_at = Some(2_000);
        d.lifecycle_hook_details.push(LifecycleHookExecution {
            hook_id: "ecs-pause-x".into(),
            hook_index: 0,
            stage_index: 0,
            target_type: DeploymentLifecycleHookTargetType::Pause,
            target_arn: None,
            stage: LifecycleStage::PostTestTrafficShift,
            status: DeploymentLifecycleHookStatus::AwaitingAction,
            started_at: 2_000,
            expires_at: Some(3_000),
            timeout_action: DeploymentLifecycleHookAction::Rollback,
            finished_at: None,
            next_invocation_at: None,
        });
        d.alarms = Some(AlarmsStatus {
            status: ServiceDeploymentRollbackMonitorsStatus::Monitoring,
            alarm_names: vec!["5xx".into()],
            triggered_alarm_names: vec![],
        });
        let json = describe_service_deployments([&d], &["arn:nope"]);
        let shown = &json["serviceDeployments"][0];
        assert_eq!(shown["serviceDeploymentArn"], json!(d.arn));
        assert_eq!(shown["status"], "IN_PROGRESS");
        assert_eq!(shown["lifecycleStage"], "POST_TEST_TRAFFIC_SHIFT");
        assert_eq!(shown["createdAt"], json!(1.5));
        assert_eq!(shown["startedAt"], json!(2.0));
        assert!(shown.get("finishedAt").is_none() && shown.get("rollback").is_none());
        assert_eq!(
            shown["targetServiceRevision"],
            json!({"arn": d.target_service_revision.arn, "requestedTaskCount": 2, "runningTaskCount": 1,
                "pendingTaskCount": 1, "requestedTestTrafficWeight": 100.0, "requestedProductionTrafficWeight": 10.0})
        );
        assert!(
            shown["sourceServiceRevisions"][0]
                .get("requestedTestTrafficWeight")
                .is_none()
        );
        assert_eq!(
            shown["lifecycleHookDetails"][0],
            json!({"hookId": "ecs-pause-x", "targetType": "PAUSE", "status": "AWAITING_ACTION",
                "expiresAt": 3.0, "timeoutAction": "ROLLBACK"})
        );
        assert_eq!(
            shown["deploymentConfiguration"],
            json!({"strategy": "LINEAR", "bakeTimeInMinutes": 5})
        );
        assert_eq!(shown["alarms"]["status"], "MONITORING");
        assert_eq!(
            json["failures"],
            json!([{"arn": "arn:nope", "reason": "MISSING"}])
        );
    }

    #[test]
    fn a_rolled_back_deployment_shows_its_rollback() {
        let mut d = deployment();
        d.status = ServiceDeploymentStatus::RollbackSuccessful;
        d.status_reason = Some("Stopped by user".into());
        d.finished_at = Some(9_000);
        d.rollback = Some(Rollback {
            reason: "Stopped by user".into(),
            started_at: 8_000,
            service_revision_arn: service_revision_arn("prod", "web", "1"),
        });
        let shown = service_deployment(&d);
        assert_eq!(
            shown["rollback"],
            json!({"reason": "Stopped by user", "startedAt": 8.0, "serviceRevisionArn": service_revision_arn("prod", "web", "1")})
        );
        assert_eq!(shown["finishedAt"], json!(9.0));
    }

    #[test]
    fn list_entries_are_briefs() {
        let d = deployment();
        let json = list_service_deployments([&d], Some("1"));
        assert_eq!(
            json,
            json!({"serviceDeployments": [{
                "serviceDeploymentArn": d.arn, "serviceArn": d.service_arn, "clusterArn": d.cluster_arn,
                "createdAt": 1.5, "targetServiceRevisionArn": d.target_service_revision.arn, "status": "PENDING",
            }], "nextToken": "1"})
        );
        assert!(
            list_service_deployments([], None)
                .get("nextToken")
                .is_none()
        );
    }

    #[test]
    fn a_revision_names_the_target_group_it_serves() {
        let mut r = ServiceRevision::new(
            "prod",
            "web",
            "2",
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web:2",
            Some(LaunchType::Fargate),
            4_000,
        );
        let advanced = AdvancedConfiguration {
            alternate_target_group_arn: "arn:tg/green".into(),
            production_listener_rule: "arn:rule/prod".into(),
            test_listener_rule: None,
            role_arn: "arn:role".into(),
        };
        r.load_balancers.push(RevisionLoadBalancer {
            target_group_arn: "arn:tg/blue".into(),
            container_name: "web".into(),
            container_port: 80,
            advanced_configuration: Some(advanced),
        });
        r.resolved_load_balancers.push(ResolvedLoadBalancer {
            target_group_arn: "arn:tg/green".into(),
            production_listener_rule: Some("arn:rule/prod".into()),
        });
        r.container_images.push(ContainerImage {
            container_name: "web".into(),
            image: "web:2".into(),
            image_digest: None,
        });
        let json = describe_service_revisions([&r], &[]);
        let shown = &json["serviceRevisions"][0];
        assert_eq!(shown["serviceRevisionArn"], json!(r.arn));
        assert_eq!(shown["launchType"], "FARGATE");
        assert_eq!(shown["platformVersion"], "LATEST");
        assert_eq!(shown["createdAt"], json!(4.0));
        assert_eq!(
            shown["loadBalancers"][0]["advancedConfiguration"]["alternateTargetGroupArn"],
            "arn:tg/green"
        );
        assert_eq!(
            shown["resolvedConfiguration"],
            json!({"loadBalancers": [{"targetGroupArn": "arn:tg/green", "productionListenerRule": "arn:rule/prod"}]})
        );
        assert_eq!(
            shown["containerImages"],
            json!([{"containerName": "web", "image": "web:2"}])
        );
        assert_eq!(json["failures"], json!([]));
    }
}
