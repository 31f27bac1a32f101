//! Deployments: start one, watch it, continue it, roll it back.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of `POST /api/environments/{name}/deployments`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartDeploymentBody {
    /// `static:<dir>` in a local environment; a container image on AWS.
    #[schema(example = "static:/srv/site-v2", value_type = crate::schema::ImageText)]
    pub image: String,
    #[schema(example = "v2", value_type = crate::schema::VersionText)]
    pub version: String,
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::CommitText>)]
    pub commit: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::AuthorText>)]
    pub author: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::MessageText>)]
    pub message: Option<String>,
    /// A predefined ECS config; the environment's own when absent.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::DeploymentConfigName>)]
    pub deployment_config: Option<String>,
    /// Deploy through a freeze (admin): recorded and notified with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlass>,
}

/// Why an admin goes through a freeze.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlass {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReleaseRef {
    pub id: i64,
    pub version: String,
    pub image: String,
    pub commit: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrafficSample {
    pub at: String,
    pub green_weight: f64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduleStep {
    /// Seconds after production traffic starts moving.
    pub offset_seconds: u64,
    /// Percent; ECS's linear and canary steps come in tenths.
    pub green_weight: f64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeploymentError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LifecycleEvent {
    pub name: String,
    /// Pending, InProgress, Succeeded, Failed or Skipped.
    pub status: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

/// A lifecycle hook's execution, as ECS reports it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LifecycleHook {
    pub hook_id: String,
    /// AWS_LAMBDA or PAUSE.
    pub target_type: String,
    /// AWAITING_ACTION, IN_PROGRESS, SUCCEEDED, FAILED or TIMED_OUT.
    pub status: String,
    /// When a PAUSE hook's timeout fires.
    pub expires_at: Option<String>,
    /// ROLLBACK or CONTINUE: what ECS does then.
    pub timeout_action: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskSet {
    pub id: String,
    pub status: String,
    pub desired: i64,
    pub pending: i64,
    pub running: i64,
    pub traffic_weight: f64,
    pub target_group: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskSets {
    pub blue: Option<TaskSet>,
    pub green: Option<TaskSet>,
}

/// A deployment as switchyard last observed it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Deployment {
    pub id: i64,
    pub environment: String,
    pub release: ReleaseRef,
    /// `codedeploy` or `ecs`: which controller shifts the traffic.
    pub controller: String,
    pub codedeploy_id: Option<String>,
    /// The service deployment's ARN, with the `ecs` controller.
    pub service_deployment_arn: Option<String>,
    /// The CodeDeploy config, or the ECS strategy, the deployment runs with.
    pub deployment_config: String,
    /// The status both controllers share: Created, Queued, InProgress,
    /// Ready (held by a ready wait or a PAUSE hook), Baking, Succeeded,
    /// Failed, Stopped.
    pub status: String,
    /// ECS's own status (PENDING, IN_PROGRESS, ROLLBACK_SUCCESSFUL, ...),
    /// with the `ecs` controller.
    pub ecs_status: Option<String>,
    /// Whether production traffic went back to the original task set.
    pub rolled_back: bool,
    /// The lifecycle event, or with the `ecs` controller the stage, it is at.
    pub current_lifecycle_event: Option<String>,
    /// CodeDeploy's lifecycle events, or the stages ECS went through.
    pub lifecycle_events: Vec<LifecycleEvent>,
    /// ECS's lifecycle hooks as they ran (a PAUSE hook waiting among them).
    pub hooks: Vec<LifecycleHook>,
    /// Task sets, or with the `ecs` controller service revisions (green is
    /// the target, blue the source).
    pub task_sets: TaskSets,
    /// Production traffic on the replacement, percent.
    pub green_weight: f64,
    pub traffic_samples: Vec<TrafficSample>,
    pub planned_schedule: Vec<ScheduleStep>,
    pub error: Option<DeploymentError>,
    /// The CloudWatch alarms that guarded it: each one's state, its changes
    /// during the deployment, and whether it stopped the deployment.
    pub alarms: Vec<DeploymentAlarm>,
    /// What the metric gate did at each hold: watching its window, or the
    /// figures it judged and what it did.
    pub metric_gate: Vec<MetricGateDecision>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeploymentList {
    pub deployments: Vec<Deployment>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContinueBody {
    pub wait: Wait,
    /// Continue through a freeze (admin): recorded and notified with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlass>,
}

/// `ready`: reroute production traffic now; `termination`: remove the original task set now.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Wait {
    Ready,
    Termination,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentRollbackBody {
    /// Defaults to CodeDeployDefault.ECSAllAtOnce.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::DeploymentConfigName>)]
    pub deployment_config: Option<String>,
}

/// A metric gate at one hold of a deployment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MetricGateDecision {
    /// READY_WAIT (CodeDeploy), or the ECS stage a PAUSE hook holds.
    #[schema(value_type = crate::schema::GateHoldName)]
    pub hold: String,
    /// RFC 3339, UTC: when the gate saw the hold.
    pub held_since: String,
    /// The whole periods judged, from the first after the hold began.
    pub window_start: String,
    pub window_end: String,
    /// Null while the gate watches its window.
    #[schema(value_type = Option<crate::schema::GateOutcomeName>)]
    pub outcome: Option<String>,
    pub blue: Option<GateSideFigures>,
    pub green: Option<GateSideFigures>,
    /// Each bound, and how the figures stand to it.
    pub reasons: Vec<String>,
    #[schema(value_type = Option<crate::schema::GateActionName>)]
    pub action: Option<String>,
    pub decided_at: Option<String>,
}

/// One side's figures over a gate's window.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GateSideFigures {
    pub requests: f64,
    /// Target 5xx answers per 100 requests.
    pub error_rate_pct: f64,
    /// Per-period p99 latencies averaged by their requests.
    pub p99_ms: Option<f64>,
}

/// A CloudWatch alarm that guarded a deployment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeploymentAlarm {
    pub name: String,
    /// OK, ALARM or INSUFFICIENT_DATA.
    #[schema(value_type = crate::schema::AlarmStateName)]
    pub state: String,
    /// Whether the controller stopped the deployment on this alarm.
    pub stopped_deployment: bool,
    /// Its state changes while the deployment ran, oldest first.
    pub history: Vec<AlarmStateChange>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlarmStateChange {
    /// RFC 3339, UTC.
    pub at: String,
    #[schema(value_type = crate::schema::AlarmStateName)]
    pub state: String,
    /// CloudWatch's reason.
    pub reason: String,
}
