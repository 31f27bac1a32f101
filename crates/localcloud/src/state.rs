//! Everything the local cloud knows, persisted as one JSON document that is
//! rewritten atomically after each change. Processes and sockets are not
//! here: they are realized from this state (see `runtime`), so a restart
//! rebuilds them from it.

use crate::ecs::native::config::{AdvancedConfiguration, DeploymentConfiguration};
use crate::ecs::native::model::{ServiceDeployment, ServiceRevision};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";

pub fn arn(service: &str, resource: &str) -> String {
    format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}")
}

aws_enum!(
    ClusterStatus, "cluster status",
    {
        Active = "ACTIVE",
        Provisioning = "PROVISIONING",
        Deprovisioning = "DEPROVISIONING",
        Failed = "FAILED",
        Inactive = "INACTIVE",
    }
);

aws_enum!(
    /// A task definition revision's status.
    TaskDefinitionStatus, "task definition status",
    { Active = "ACTIVE", Inactive = "INACTIVE", DeleteInProgress = "DELETE_IN_PROGRESS" }
);

aws_enum!(
    /// An ECS service's status: DRAINING while it is being deleted.
    ServiceStatus, "service status",
    { Active = "ACTIVE", Draining = "DRAINING", Inactive = "INACTIVE" }
);

aws_enum!(
    /// Who deploys a service: ECS itself, CodeDeploy (task sets), or an external tool.
    DeploymentControllerType, "deployment controller type",
    { Ecs = "ECS", CodeDeploy = "CODE_DEPLOY", External = "EXTERNAL" }
);

aws_enum!(
    LaunchType, "launch type",
    { Fargate = "FARGATE", Ec2 = "EC2", External = "EXTERNAL", ManagedInstances = "MANAGED_INSTANCES" }
);

aws_enum!(
    /// A task set's role in its service.
    TaskSetStatus, "task set status",
    { Primary = "PRIMARY", Active = "ACTIVE", Draining = "DRAINING" }
);

aws_enum!(
    ComputePlatform, "compute platform",
    { Server = "Server", Lambda = "Lambda", Ecs = "ECS" }
);

aws_enum!(
    /// What a blue/green group does once the replacement is ready for traffic.
    DeploymentReadyAction, "deployment ready action",
    { ContinueDeployment = "CONTINUE_DEPLOYMENT", StopDeployment = "STOP_DEPLOYMENT" }
);

aws_enum!(
    /// What happens to the original task set after a successful shift.
    InstanceAction, "termination action",
    { Terminate = "TERMINATE", KeepAlive = "KEEP_ALIVE" }
);

aws_enum!(
    AutoRollbackEvent, "auto rollback event",
    {
        DeploymentFailure = "DEPLOYMENT_FAILURE",
        DeploymentStopOnAlarm = "DEPLOYMENT_STOP_ON_ALARM",
        DeploymentStopOnRequest = "DEPLOYMENT_STOP_ON_REQUEST",
    }
);

aws_enum!(
    TrafficRoutingType, "traffic routing type",
    { AllAtOnce = "AllAtOnce", TimeBasedLinear = "TimeBasedLinear", TimeBasedCanary = "TimeBasedCanary" }
);

aws_enum!(
    /// A CodeDeploy deployment's status.
    DeploymentStatus, "deployment status",
    {
        Created = "Created",
        Queued = "Queued",
        InProgress = "InProgress",
        Baking = "Baking",
        Succeeded = "Succeeded",
        Failed = "Failed",
        Stopped = "Stopped",
        Ready = "Ready",
    }
);

impl DeploymentStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped
        )
    }
}

aws_enum!(
    /// The status of a lifecycle event and of the hook that runs in it
    /// (PutLifecycleEventHookExecutionStatus takes the same names).
    LifecycleEventStatus, "lifecycle event status",
    {
        Pending = "Pending",
        InProgress = "InProgress",
        Succeeded = "Succeeded",
        Failed = "Failed",
        Skipped = "Skipped",
        Unknown = "Unknown",
    }
);

impl LifecycleEventStatus {
    /// Whether the event is behind the deployment (it moves on past it).
    pub fn is_done(self) -> bool {
        matches!(
            self,
            LifecycleEventStatus::Succeeded | LifecycleEventStatus::Skipped
        )
    }

    /// Whether a hook's result is in (a later report must not override it).
    pub fn is_reported(self) -> bool {
        matches!(
            self,
            LifecycleEventStatus::Succeeded | LifecycleEventStatus::Failed
        )
    }
}

aws_enum!(
    /// The lifecycle events of an ECS blue/green deployment, in order.
    LifecycleEventName, "lifecycle event",
    {
        BeforeInstall = "BeforeInstall",
        Install = "Install",
        AfterInstall = "AfterInstall",
        AllowTestTraffic = "AllowTestTraffic",
        AfterAllowTestTraffic = "AfterAllowTestTraffic",
        BeforeAllowTraffic = "BeforeAllowTraffic",
        AllowTraffic = "AllowTraffic",
        AfterAllowTraffic = "AfterAllowTraffic",
    }
);

impl LifecycleEventName {
    /// Whether an AppSpec may name a hook for it.
    pub fn is_hookable(self) -> bool {
        !matches!(
            self,
            LifecycleEventName::Install
                | LifecycleEventName::AllowTestTraffic
                | LifecycleEventName::AllowTraffic
        )
    }
}

aws_enum!(
    /// The CodeDeploy error codes the local engine reports.
    DeploymentErrorCode, "deployment error code",
    {
        DeploymentGroupMissing = "DEPLOYMENT_GROUP_MISSING",
        HookExecutionFailure = "HOOK_EXECUTION_FAILURE",
        Timeout = "TIMEOUT",
        InvalidRevision = "INVALID_REVISION",
        EcsUpdateError = "ECS_UPDATE_ERROR",
        ManualStop = "MANUAL_STOP",
        AlarmActive = "ALARM_ACTIVE",
    }
);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CloudState {
    pub clusters: BTreeMap<String, Cluster>,
    /// Revisions of each family, oldest first.
    pub task_definitions: BTreeMap<String, Vec<TaskDefinition>>,
    /// Keyed by `cluster/service`.
    pub services: BTreeMap<String, Service>,
    pub load_balancers: BTreeMap<String, LoadBalancer>,
    pub applications: BTreeMap<String, Application>,
    /// Keyed by `application/group`.
    pub deployment_groups: BTreeMap<String, DeploymentGroup>,
    /// Custom configs only; the predefined ones come from the domain.
    pub deployment_configs: BTreeMap<String, DeploymentConfigRecord>,
    pub deployments: BTreeMap<String, Deployment>,
    /// Lifecycle hook functions: name → command line.
    pub functions: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub pipelines: BTreeMap<String, Pipeline>,
    /// Keyed by pipeline execution id.
    #[serde(default)]
    pub pipeline_executions: BTreeMap<String, PipelineExecution>,
    /// The last CodeBuild build number of each project name.
    #[serde(default)]
    pub build_numbers: BTreeMap<String, u64>,
    /// ECR repositories by name.
    #[serde(default)]
    pub repositories: BTreeMap<String, Repository>,
    /// ECS-native service deployments by ARN.
    #[serde(default)]
    pub service_deployments: BTreeMap<String, ServiceDeployment>,
    /// ECS service revisions by ARN.
    #[serde(default)]
    pub service_revisions: BTreeMap<String, ServiceRevision>,
    /// CloudWatch metric alarms by name.
    #[serde(default)]
    pub metric_alarms: BTreeMap<String, crate::cloudwatch::model::MetricAlarm>,
    /// Alarm history, oldest first, bounded per alarm.
    #[serde(default)]
    pub alarm_history: Vec<crate::cloudwatch::model::AlarmHistoryItem>,
    /// Monotonic counter for ids that must not repeat.
    pub sequence: u64,
}

impl CloudState {
    pub fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    pub arn: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskDefinition {
    pub family: String,
    pub revision: u32,
    pub arn: String,
    pub status: TaskDefinitionStatus,
    /// The registration input as given (containerDefinitions, cpu, memory, ...).
    pub input: Value,
    pub registered_at: i64,
    pub deregistered_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceLoadBalancer {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: i64,
    /// ECS-native blue/green: the alternate target group and listener rules.
    #[serde(default)]
    pub advanced_configuration: Option<AdvancedConfiguration>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub arn: String,
    pub cluster: String,
    pub status: ServiceStatus,
    pub desired_count: i64,
    pub task_definition: String,
    pub deployment_controller: DeploymentControllerType,
    pub load_balancers: Vec<ServiceLoadBalancer>,
    pub launch_type: LaunchType,
    pub task_sets: Vec<TaskSet>,
    pub created_at: i64,
    /// How the ECS controller deploys (strategy, bake time, hooks).
    #[serde(default)]
    pub deployment_configuration: DeploymentConfiguration,
    /// The service revision it runs, once it has one.
    #[serde(default)]
    pub current_revision: Option<String>,
}

impl Service {
    pub fn primary(&self) -> Option<&TaskSet> {
        self.task_sets
            .iter()
            .find(|t| t.status == TaskSetStatus::Primary)
    }

    /// A deployment's replacement task set joins the primary; any other
    /// (a leftover of an earlier deployment) goes.
    pub fn start_replacement(&mut self, replacement: TaskSet) {
        self.task_sets
            .retain(|t| t.status == TaskSetStatus::Primary);
        self.task_sets.push(replacement);
    }

    /// The replacement becomes the primary, runs the service's task
    /// definition and serves its load balancer's target group; the
    /// original goes.
    pub fn promote(&mut self, replacement: &str, original: Option<&str>, now: i64) {
        self.task_sets.retain(|t| Some(t.id.as_str()) != original);
        let Some(green) = self.task_sets.iter_mut().find(|t| t.id == replacement) else {
            return;
        };
        green.status = TaskSetStatus::Primary;
        green.updated_at = now;
        self.task_definition = green.task_definition.clone();
        if let Some(lb) = self.load_balancers.first_mut() {
            lb.target_group_arn = green.load_balancer.target_group_arn.clone();
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskSet {
    pub id: String,
    pub arn: String,
    pub status: TaskSetStatus,
    pub task_definition: String,
    /// The CodeDeploy deployment that created it.
    pub external_id: Option<String>,
    pub started_by: Option<String>,
    pub scale_percent: f64,
    pub load_balancer: ServiceLoadBalancer,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetGroupRecord {
    pub name: String,
    pub arn: String,
    pub health_check_path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListenerRecord {
    pub arn: String,
    pub port: u16,
    /// Target group ARN → weight.
    pub forward: Vec<(String, u32)>,
}

impl ListenerRecord {
    /// The ARN of the listener's one rule, the default rule whose weighted
    /// forward deployments rewrite (ECS-native deployments name rules).
    pub fn rule_arn(&self) -> String {
        format!(
            "{}/0000000000000001",
            self.arn.replacen(":listener/", ":listener-rule/", 1)
        )
    }
}

/// A load balancer with a production and a test listener over two target
/// groups, like the ALB of an ECS blue/green stack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub name: String,
    pub arn: String,
    pub target_groups: Vec<TargetGroupRecord>,
    pub production: ListenerRecord,
    pub test: ListenerRecord,
    pub created_at: i64,
}

impl LoadBalancer {
    /// The listener whose rule this is.
    pub fn listener_of_rule(&self, rule_arn: &str) -> Option<&ListenerRecord> {
        [&self.production, &self.test]
            .into_iter()
            .find(|listener| listener.rule_arn() == rule_arn)
    }

    pub fn listener_mut(&mut self, arn: &str) -> Option<&mut ListenerRecord> {
        if self.production.arn == arn {
            Some(&mut self.production)
        } else if self.test.arn == arn {
            Some(&mut self.test)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Application {
    pub name: String,
    pub id: String,
    pub compute_platform: ComputePlatform,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentGroup {
    pub application: String,
    pub name: String,
    pub id: String,
    pub service_role_arn: String,
    pub deployment_config_name: String,
    pub ecs_services: Vec<(String, String)>,
    pub target_groups: Vec<String>,
    pub prod_listener_arns: Vec<String>,
    pub test_listener_arns: Vec<String>,
    pub ready_action: DeploymentReadyAction,
    pub ready_wait_minutes: i64,
    pub termination_action: InstanceAction,
    pub termination_wait_minutes: i64,
    pub auto_rollback_enabled: bool,
    pub auto_rollback_events: Vec<AutoRollbackEvent>,
    /// The CloudWatch alarms that stop this group's deployments.
    #[serde(default)]
    pub alarm_configuration: AlarmConfiguration,
    /// The raw request parts echoed back by GetDeploymentGroup.
    pub raw: Value,
}

/// A deployment group's `alarmConfiguration`: while enabled, a deployment
/// in progress stops when one of `alarms` is in ALARM (or cannot be read,
/// unless `ignore_poll_alarm_failure`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmConfiguration {
    pub enabled: bool,
    pub ignore_poll_alarm_failure: bool,
    pub alarms: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentConfigRecord {
    pub name: String,
    pub id: String,
    pub routing_type: TrafficRoutingType,
    pub percentage: u32,
    pub interval_minutes: u32,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    pub name: LifecycleEventName,
    pub status: LifecycleEventStatus,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub hook: Option<HookExecution>,
    pub diagnostics: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookExecution {
    pub function: String,
    pub execution_id: String,
    pub status: LifecycleEventStatus,
    /// Set once the process has been started in this run of the local cloud.
    #[serde(skip)]
    pub launched: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub application: String,
    pub group: String,
    pub config_name: String,
    pub status: DeploymentStatus,
    pub creator: String,
    pub description: Option<String>,
    pub revision: Value,
    /// Parsed from the AppSpec.
    pub task_definition: String,
    pub container_name: String,
    pub container_port: i64,
    pub cluster: String,
    pub service: String,
    pub lifecycle: Vec<LifecycleEvent>,
    pub blue_task_set: Option<String>,
    pub green_task_set: Option<String>,
    /// Green's share of production traffic, percent.
    pub green_weight: f64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// When the ready wait (status Ready) began.
    pub ready_since: Option<i64>,
    /// When the termination wait (status Baking) began.
    pub baking_since: Option<i64>,
    pub error: Option<(DeploymentErrorCode, String)>,
    pub rollback: Option<RollbackInfo>,
    /// The request to stop, not yet acted on: whether to roll back.
    pub stop_requested: Option<bool>,
    pub continue_ready: bool,
    pub continue_termination: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackInfo {
    pub rollback_deployment_id: Option<String>,
    pub rollback_triggering_deployment_id: Option<String>,
    pub message: String,
}

impl Deployment {
    /// The key of its group in `CloudState::deployment_groups`.
    pub fn group_key(&self) -> String {
        format!("{}/{}", self.application, self.group)
    }

    /// The key of its service in `CloudState::services`.
    pub fn service_key(&self) -> String {
        format!("{}/{}", self.cluster, self.service)
    }

    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}

/// A CodePipeline pipeline: every version of its declaration, as
/// GetPipeline echoes it back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pipeline {
    pub name: String,
    pub arn: String,
    /// Declarations, oldest first; version n is `versions[n - 1]`.
    pub versions: Vec<Value>,
    pub tags: Value,
    pub created_at: i64,
    pub updated_at: i64,
    /// clientRequestToken → the execution it started, for idempotent starts.
    #[serde(default)]
    pub request_tokens: BTreeMap<String, String>,
}

impl Pipeline {
    pub fn version(&self) -> u32 {
        self.versions.len() as u32
    }

    pub fn declaration(&self) -> &Value {
        self.versions.last().expect("a pipeline has a version")
    }
}

/// One action of a stage, as an execution runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineAction {
    pub name: String,
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
    pub run_order: u32,
    pub configuration: BTreeMap<String, String>,
    pub input_artifacts: Vec<String>,
    pub output_artifacts: Vec<String>,
    pub namespace: Option<String>,
    pub region: Option<String>,
    pub role_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineStage {
    pub name: String,
    pub actions: Vec<PipelineAction>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineExecution {
    pub id: String,
    /// Orders the executions of a pipeline: a higher one started later.
    pub sequence: u64,
    pub pipeline: String,
    pub pipeline_version: u32,
    /// SUPERSEDED, QUEUED or PARALLEL.
    pub execution_mode: String,
    /// InProgress, Stopping, Stopped, Succeeded, Superseded, Failed (Cancelled unused).
    pub status: String,
    pub status_summary: Option<String>,
    pub trigger_type: String,
    pub trigger_detail: Option<String>,
    /// Pipeline variables with their resolved values.
    pub variables: Vec<(String, String)>,
    /// Source action name → the commit to fetch instead of the branch head.
    pub source_revisions: BTreeMap<String, String>,
    /// The stages of the pipeline version it runs.
    pub stages: Vec<PipelineStage>,
    /// One per stage of `stages`, in order.
    pub stage_runs: Vec<StageRun>,
    /// Every action execution, in start order (retries add new ones).
    pub actions: Vec<ActionRun>,
    /// Output artifacts by name: the latest one each action produced.
    pub artifacts: BTreeMap<String, ArtifactRecord>,
    pub stop: Option<StopRequest>,
    pub started_at: i64,
    pub updated_at: i64,
    /// Set while a driver runs it in this run of the local cloud.
    #[serde(skip)]
    pub driven: bool,
}

impl PipelineExecution {
    pub fn is_finished(&self) -> bool {
        !matches!(self.status.as_str(), "InProgress" | "Stopping")
    }

    /// The declaration of the action `run` executes.
    pub fn declaration_of(&self, run: &ActionRun) -> Option<&PipelineAction> {
        self.stages
            .iter()
            .find(|stage| stage.name == run.stage)?
            .actions
            .iter()
            .find(|action| action.name == run.action)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRun {
    pub name: String,
    /// None until the execution enters the stage; then InProgress, Stopping,
    /// Succeeded, Failed, Stopped or Cancelled.
    pub status: Option<String>,
    pub entered_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopRequest {
    pub abandon: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionRun {
    pub id: String,
    pub stage: String,
    pub action: String,
    /// InProgress, Abandoned, Succeeded or Failed.
    pub status: String,
    /// Whether it counts for the stage's current attempt (a retry retires
    /// the runs it repeats).
    pub current: bool,
    pub summary: Option<String>,
    /// The approval token of a Manual approval.
    pub token: Option<String>,
    pub external_execution_id: Option<String>,
    pub external_execution_url: Option<String>,
    /// (code, message)
    pub error: Option<(String, String)>,
    pub updated_by: Option<String>,
    pub resolved_configuration: BTreeMap<String, String>,
    pub output_variables: BTreeMap<String, String>,
    pub started_at: i64,
    pub updated_at: i64,
    /// Set once its work has been started in this run of the local cloud.
    #[serde(skip)]
    pub launched: bool,
}

/// An artifact: a directory under the local cloud's data dir.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactRecord {
    pub name: String,
    pub dir: PathBuf,
    /// The action execution that produced it.
    pub action_execution_id: String,
    pub revision_id: Option<String>,
    pub revision_summary: Option<String>,
    pub revision_created: Option<i64>,
    pub created_at: i64,
}

/// An ECR repository: its settings and what has been pushed to it. The
/// bytes live in the registry's content-addressed store (see `ecr`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repository {
    pub name: String,
    pub arn: String,
    pub created_at: i64,
    /// MUTABLE or IMMUTABLE.
    pub image_tag_mutability: String,
    pub scan_on_push: bool,
    /// AES256, KMS or KMS_DSSE, as asked for (the local store is not encrypted).
    pub encryption_type: String,
    pub kms_key: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Image manifests by digest.
    pub images: BTreeMap<String, Image>,
    /// Config and layer blobs uploaded to or mounted into it, by digest.
    /// They stay linked when an image goes (a push in progress may be about
    /// to reference them) and are freed with the repository.
    pub blobs: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Image {
    /// The manifest's media type.
    pub media_type: String,
    /// The config's media type, for an image manifest.
    pub artifact_media_type: Option<String>,
    /// Config plus layers (an index: the sizes of its manifests).
    pub size_bytes: u64,
    pub tags: BTreeSet<String>,
    /// The digests it references: config and layers, or an index's manifests.
    pub references: Vec<String>,
    /// Whether it is an index (its references are manifests).
    pub is_index: bool,
    pub pushed_at: i64,
}

/// Saves the state atomically: a crash leaves the previous or the new
/// version, never a torn file.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(data_dir: &Path) -> StateFile {
        StateFile {
            path: data_dir.join("localcloud.json"),
        }
    }

    pub fn load(&self) -> anyhow::Result<CloudState> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is corrupt: {e}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CloudState::default()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn save(&self, state: &CloudState) -> anyhow::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(state)?;
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_data()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }
}
