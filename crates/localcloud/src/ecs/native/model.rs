//! What the local cloud stores of ECS-native deployments: service
//! deployments (one per rollout of a service, its status, stage, hooks and
//! the engine's own timestamps) and service revisions (what each rollout
//! deploys). Times are epoch millis; names are AWS's, as enums.

use super::config::{
    AdvancedConfiguration, DeploymentConfiguration, DeploymentLifecycleHookAction,
    DeploymentLifecycleHookTargetType,
};
use super::schedule::LifecycleStage;
pub use crate::state::LaunchType;
use crate::state::arn;
use serde::{Deserialize, Serialize};

aws_enum!(ServiceDeploymentStatus, "service deployment status", {
    Pending = "PENDING",
    Successful = "SUCCESSFUL",
    Stopped = "STOPPED",
    StopRequested = "STOP_REQUESTED",
    InProgress = "IN_PROGRESS",
    RollbackRequested = "ROLLBACK_REQUESTED",
    RollbackInProgress = "ROLLBACK_IN_PROGRESS",
    RollbackSuccessful = "ROLLBACK_SUCCESSFUL",
    RollbackFailed = "ROLLBACK_FAILED",
});

aws_enum!(DeploymentLifecycleHookStatus, "lifecycle hook status", {
    AwaitingAction = "AWAITING_ACTION",
    InProgress = "IN_PROGRESS",
    Succeeded = "SUCCEEDED",
    Failed = "FAILED",
    TimedOut = "TIMED_OUT",
});

aws_enum!(ServiceDeploymentRollbackMonitorsStatus, "rollback monitors status", {
    Triggered = "TRIGGERED",
    Monitoring = "MONITORING",
    MonitoringComplete = "MONITORING_COMPLETE",
    Disabled = "DISABLED",
});

aws_enum!(StopServiceDeploymentStopType, "stop type", {
    Abort = "ABORT",
    Rollback = "ROLLBACK",
});

impl ServiceDeploymentStatus {
    /// Whether the deployment has ended: nothing will change it any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ServiceDeploymentStatus::Successful
                | ServiceDeploymentStatus::Stopped
                | ServiceDeploymentStatus::RollbackSuccessful
                | ServiceDeploymentStatus::RollbackFailed
        )
    }
}

impl DeploymentLifecycleHookStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            DeploymentLifecycleHookStatus::Succeeded
                | DeploymentLifecycleHookStatus::Failed
                | DeploymentLifecycleHookStatus::TimedOut
        )
    }
}

/// `arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID`
pub fn service_deployment_arn(cluster: &str, service: &str, id: &str) -> String {
    arn(
        "ecs",
        &format!("service-deployment/{cluster}/{service}/{id}"),
    )
}

/// `arn:aws:ecs:REGION:ACCOUNT:service-revision/CLUSTER/SERVICE/ID`
pub fn service_revision_arn(cluster: &str, service: &str, id: &str) -> String {
    arn("ecs", &format!("service-revision/{cluster}/{service}/{id}"))
}

/// A service deployment id as ECS makes them: 21 letters and digits.
pub fn new_service_deployment_id() -> String {
    crate::random_id(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        21,
    )
}

/// A service revision id as ECS makes them: 19 digits.
pub fn new_service_revision_id() -> String {
    format!(
        "{}{}",
        crate::random_id(b"123456789", 1),
        crate::random_id(b"0123456789", 18)
    )
}

/// A hook execution id: ECS names PAUSE hooks `ecs-pause-` and 43
/// URL-safe characters; Lambda hooks get the same shape under `ecs-lambda-`.
pub fn new_hook_id(target_type: DeploymentLifecycleHookTargetType) -> String {
    let prefix = match target_type {
        DeploymentLifecycleHookTargetType::Pause => "ecs-pause",
        DeploymentLifecycleHookTargetType::AwsLambda => "ecs-lambda",
    };
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    format!("{prefix}-{}", crate::random_id(alphabet, 43))
}

/// One rollout of a service, from the revisions it replaces to the one it
/// deploys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDeployment {
    pub arn: String,
    pub service_arn: String,
    pub cluster_arn: String,
    pub status: ServiceDeploymentStatus,
    pub status_reason: Option<String>,
    pub lifecycle_stage: Option<LifecycleStage>,
    /// The revision being deployed ("green").
    pub target_service_revision: ServiceRevisionSummary,
    /// The revisions it replaces ("blue").
    #[serde(default)]
    pub source_service_revisions: Vec<ServiceRevisionSummary>,
    /// The service's configuration when the deployment started.
    #[serde(default)]
    pub deployment_configuration: DeploymentConfiguration,
    #[serde(default)]
    pub lifecycle_hook_details: Vec<LifecycleHookExecution>,
    pub rollback: Option<Rollback>,
    pub deployment_circuit_breaker: Option<CircuitBreakerStatus>,
    pub alarms: Option<AlarmsStatus>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub updated_at: i64,
    /// When the current lifecycle stage began (engine bookkeeping).
    pub stage_started_at: Option<i64>,
    /// When production traffic began to shift; the schedule counts from it.
    pub production_shift_started_at: Option<i64>,
    /// The index of the production traffic step reached (see `schedule`).
    #[serde(default)]
    pub production_step: usize,
    /// The index of the current stage in `schedule::lifecycle_stages`
    /// (stages repeat per traffic step, so the stage alone is ambiguous).
    #[serde(default)]
    pub stage_index: usize,
    /// The task set running the source revision ("blue") and the one the
    /// deployment started for the target revision ("green").
    #[serde(default)]
    pub source_task_set: Option<String>,
    #[serde(default)]
    pub target_task_set: Option<String>,
    /// A StopServiceDeployment or ContinueServiceDeployment(ROLLBACK) the
    /// engine has yet to act on.
    pub stop_request: Option<StopRequest>,
}

/// A revision's share of a deployment, as last sampled: these are snapshots
/// that the engine refreshes, not history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceRevisionSummary {
    pub arn: String,
    pub requested_task_count: i64,
    pub running_task_count: i64,
    pub pending_task_count: i64,
    /// Percent, 0.0 to 100.0.
    pub requested_test_traffic_weight: Option<f64>,
    pub requested_production_traffic_weight: Option<f64>,
}

/// One run of a configured lifecycle hook at one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleHookExecution {
    pub hook_id: String,
    /// Which of the configuration's `lifecycleHooks` it runs.
    pub hook_index: usize,
    /// At which visit of the stage (stages repeat per traffic step).
    #[serde(default)]
    pub stage_index: usize,
    pub target_type: DeploymentLifecycleHookTargetType,
    /// The Lambda function; none for a PAUSE hook.
    pub target_arn: Option<String>,
    /// Not in DescribeServiceDeployments, but the engine needs it.
    pub stage: LifecycleStage,
    pub status: DeploymentLifecycleHookStatus,
    pub started_at: i64,
    pub expires_at: Option<i64>,
    pub timeout_action: DeploymentLifecycleHookAction,
    pub finished_at: Option<i64>,
    /// When to invoke a Lambda hook again after it answered IN_PROGRESS.
    pub next_invocation_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    pub reason: String,
    pub started_at: i64,
    /// The revision the rollback restores.
    pub service_revision_arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CircuitBreakerStatus {
    pub status: ServiceDeploymentRollbackMonitorsStatus,
    pub failure_count: i64,
    pub threshold: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmsStatus {
    pub status: ServiceDeploymentRollbackMonitorsStatus,
    #[serde(default)]
    pub alarm_names: Vec<String>,
    #[serde(default)]
    pub triggered_alarm_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopRequest {
    pub stop_type: StopServiceDeploymentStopType,
    pub reason: Option<String>,
    pub requested_at: i64,
}

impl ServiceDeployment {
    /// A deployment just created: PENDING, no stage yet.
    pub fn new(
        cluster: &str,
        service: &str,
        id: &str,
        target: ServiceRevisionSummary,
        sources: Vec<ServiceRevisionSummary>,
        configuration: DeploymentConfiguration,
        now: i64,
    ) -> ServiceDeployment {
        ServiceDeployment {
            arn: service_deployment_arn(cluster, service, id),
            service_arn: arn("ecs", &format!("service/{cluster}/{service}")),
            cluster_arn: arn("ecs", &format!("cluster/{cluster}")),
            status: ServiceDeploymentStatus::Pending,
            status_reason: None,
            lifecycle_stage: None,
            target_service_revision: target,
            source_service_revisions: sources,
            deployment_configuration: configuration,
            lifecycle_hook_details: Vec::new(),
            rollback: None,
            deployment_circuit_breaker: None,
            alarms: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            stopped_at: None,
            updated_at: now,
            stage_started_at: None,
            production_shift_started_at: None,
            production_step: 0,
            stage_index: 0,
            source_task_set: None,
            target_task_set: None,
            stop_request: None,
        }
    }

    /// The id: the last segment of the ARN.
    pub fn id(&self) -> &str {
        self.arn_segments().2
    }

    pub fn cluster_name(&self) -> &str {
        self.arn_segments().0
    }

    pub fn service_name(&self) -> &str {
        self.arn_segments().1
    }

    fn arn_segments(&self) -> (&str, &str, &str) {
        let resource = self
            .arn
            .split_once("service-deployment/")
            .map_or("", |(_, rest)| rest);
        let mut parts = resource.splitn(3, '/');
        let mut next = || parts.next().unwrap_or_default();
        (next(), next(), next())
    }

    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }

    /// The PAUSE hook ContinueServiceDeployment names, while it waits.
    pub fn awaiting_hook_mut(&mut self, hook_id: &str) -> Option<&mut LifecycleHookExecution> {
        self.lifecycle_hook_details.iter_mut().find(|hook| {
            hook.hook_id == hook_id && hook.status == DeploymentLifecycleHookStatus::AwaitingAction
        })
    }
}

/// What one rollout of a service deploys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRevision {
    pub arn: String,
    pub service_arn: String,
    pub cluster_arn: String,
    pub task_definition: String,
    pub launch_type: Option<LaunchType>,
    pub platform_version: Option<String>,
    #[serde(default)]
    pub load_balancers: Vec<RevisionLoadBalancer>,
    #[serde(default)]
    pub container_images: Vec<ContainerImage>,
    /// The target groups this revision serves: blue/green swaps the
    /// primary and alternate target groups on every deployment.
    #[serde(default)]
    pub resolved_load_balancers: Vec<ResolvedLoadBalancer>,
    pub created_at: i64,
}

/// The service's load balancer as the revision was deployed with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionLoadBalancer {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: i64,
    pub advanced_configuration: Option<AdvancedConfiguration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedLoadBalancer {
    pub target_group_arn: String,
    pub production_listener_rule: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerImage {
    pub container_name: String,
    pub image: String,
    pub image_digest: Option<String>,
}

impl ServiceRevision {
    pub fn new(
        cluster: &str,
        service: &str,
        id: &str,
        task_definition: &str,
        launch_type: Option<LaunchType>,
        now: i64,
    ) -> ServiceRevision {
        ServiceRevision {
            arn: service_revision_arn(cluster, service, id),
            service_arn: arn("ecs", &format!("service/{cluster}/{service}")),
            cluster_arn: arn("ecs", &format!("cluster/{cluster}")),
            task_definition: task_definition.to_owned(),
            launch_type,
            platform_version: (launch_type == Some(LaunchType::Fargate))
                .then(|| "LATEST".to_owned()),
            load_balancers: Vec::new(),
            container_images: Vec::new(),
            resolved_load_balancers: Vec::new(),
            created_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ACCOUNT, REGION};

    fn deployment() -> ServiceDeployment {
        let target = ServiceRevisionSummary {
            arn: service_revision_arn("prod", "web", "2"),
            requested_task_count: 2,
            ..ServiceRevisionSummary::default()
        };
        ServiceDeployment::new(
            "prod",
            "web",
            "EZe5RNVLH6PPzHXINuP28",
            target,
            vec![],
            DeploymentConfiguration::default(),
            1_000,
        )
    }

    #[test]
    fn arns_follow_ecs_shapes() {
        let d = deployment();
        assert_eq!(
            d.arn,
            format!(
                "arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/prod/web/EZe5RNVLH6PPzHXINuP28"
            )
        );
        assert_eq!(
            (d.cluster_name(), d.service_name(), d.id()),
            ("prod", "web", "EZe5RNVLH6PPzHXINuP28")
        );
        assert_eq!(
            d.service_arn,
            format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/web")
        );
        assert_eq!(
            service_revision_arn("prod", "web", "42"),
            format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/prod/web/42")
        );
    }

    #[test]
    fn ids_have_ecs_shapes() {
        let id = new_service_deployment_id();
        assert_eq!(id.len(), 21);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        let revision = new_service_revision_id();
        assert_eq!(revision.len(), 19);
        assert!(revision.chars().all(|c| c.is_ascii_digit()) && !revision.starts_with('0'));
        let hook = new_hook_id(DeploymentLifecycleHookTargetType::Pause);
        assert!(hook.starts_with("ecs-pause-") && hook.len() == "ecs-pause-".len() + 43);
    }

    #[test]
    fn finished_statuses() {
        let finished: Vec<&str> = ServiceDeploymentStatus::ALL
            .iter()
            .filter(|s| s.is_finished())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(
            finished,
            vec![
                "SUCCESSFUL",
                "STOPPED",
                "ROLLBACK_SUCCESSFUL",
                "ROLLBACK_FAILED"
            ]
        );
        assert!(DeploymentLifecycleHookStatus::TimedOut.is_finished());
        assert!(!DeploymentLifecycleHookStatus::AwaitingAction.is_finished());
    }

    #[test]
    fn only_a_waiting_hook_can_be_continued() {
        let mut d = deployment();
        d.lifecycle_hook_details.push(LifecycleHookExecution {
            hook_id: "ecs-pause-x".into(),
            hook_index: 0,
            stage_index: 0,
            target_type: DeploymentLifecycleHookTargetType::Pause,
            target_arn: None,
            stage: LifecycleStage::PostTestTrafficShift,
            status: DeploymentLifecycleHookStatus::AwaitingAction,
            started_at: 1_000,
            expires_at: Some(2_000),
            timeout_action: DeploymentLifecycleHookAction::Rollback,
            finished_at: None,
            next_invocation_at: None,
        });
        assert!(d.awaiting_hook_mut("ecs-pause-y").is_none());
        d.awaiting_hook_mut("ecs-pause-x").unwrap().status =
            DeploymentLifecycleHookStatus::Succeeded;
        assert!(d.awaiting_hook_mut("ecs-pause-x").is_none());
    }

    #[test]
    fn stored_state_round_trips_and_older_state_loads() {
        let d = deployment();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<ServiceDeployment>(&json).unwrap(), d);
        // A deployment stored before the bookkeeping fields existed.
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        for key in [
            "production_step",
            "lifecycle_hook_details",
            "source_service_revisions",
            "deployment_configuration",
        ] {
            old.as_object_mut().unwrap().remove(key);
        }
        let loaded: ServiceDeployment = serde_json::from_value(old).unwrap();
        assert_eq!(loaded.production_step, 0);
        let revision =
            ServiceRevision::new("prod", "web", "42", "arn:td", Some(LaunchType::Fargate), 5);
        let json = serde_json::to_string(&revision).unwrap();
        assert_eq!(
            serde_json::from_str::<ServiceRevision>(&json).unwrap(),
            revision
        );
    }
}
