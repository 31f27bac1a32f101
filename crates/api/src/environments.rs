//! `/api/environments`

use crate::release_policies::{ApprovalPolicyBody, Notification, ShownNotification, Source};
use serde::{Deserialize, Serialize};
pub use switchyard_domain::environment::{AlarmsSpec, FreezeWindowSpec, MetricGateSpec};
pub use switchyard_domain::service_deployment::{
    CanarySpec, EcsDeploymentSpec, GateSpec, LinearSpec,
};
use utoipa::ToSchema;

/// The body of `POST /api/environments`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    /// 2 to 40 characters: lowercase letters, digits and '-', starting with a letter.
    #[schema(example = "demo", value_type = crate::schema::EnvironmentNameText)]
    pub name: String,
    /// `local` (the embedded local cloud) or `aws`.
    #[schema(example = "local", value_type = crate::schema::PlatformName)]
    pub platform: String,
    /// The AWS region; required for `aws`.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::RegionText>)]
    pub region: Option<String>,
    /// The aws-config profile an `aws` environment's credentials come from
    /// (default: the server's environment, default profile or instance role);
    /// `aws` environments only. Read when the environment talks to AWS, so a
    /// profile missing from the host shows as a cloud error then.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::AwsProfileText>)]
    pub aws_profile: Option<String>,
    /// Existing cloud resources to drive; a provisioned stack fills them in.
    #[serde(default)]
    pub resources: Option<Resources>,
    /// The container the stack runs (defaults: web, port 80, "/", 2 tasks).
    #[serde(default)]
    pub container: Option<Container>,
    /// Which controller shifts traffic: `codedeploy` (default) or `ecs`
    /// (ECS's own blue/green, linear and canary deployments).
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::ControllerName>)]
    pub controller: Option<String>,
    /// The ECS controller's strategy, bake time and pause gates
    /// (`controller: ecs` only; absent parts take ECS's defaults).
    #[serde(default)]
    pub ecs_deployment: Option<EcsDeploymentSpec>,
    /// A predefined ECS deployment config (default CodeDeployDefault.ECSAllAtOnce).
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::DeploymentConfigName>)]
    pub deployment_config: Option<String>,
    /// Hold each deployment in Ready up to this long, until someone reroutes traffic.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2880)]
    pub ready_wait_minutes: Option<i64>,
    /// CONTINUE_DEPLOYMENT or STOP_DEPLOYMENT (implied by ready_wait_minutes).
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::ReadyActionName>)]
    pub ready_action_on_timeout: Option<String>,
    /// How long the original task set stays after traffic moved (default 5).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2880)]
    pub termination_wait_minutes: Option<i64>,
    /// Roll back automatically when a deployment fails (default true).
    #[serde(default)]
    pub auto_rollback: Option<bool>,
    /// Lifecycle hooks of every deployment: event -> function, e.g.
    /// `{"AfterAllowTestTraffic": "smoke-test"}`.
    #[serde(default)]
    pub hooks: Option<std::collections::BTreeMap<String, String>>,
    /// The git repository and branch whose pushes start the pipeline.
    #[serde(default)]
    pub source: Option<Source>,
    /// The secret git webhooks are signed with (16 to 256 characters); never shown again.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::WebhookSecretText>)]
    pub webhook_secret: Option<String>,
    /// How many approvers a release needs (default 0).
    #[serde(default)]
    pub approval_policy: Option<ApprovalPolicyBody>,
    /// Outgoing webhooks on approval requested and deployment outcomes.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub notifications: Option<Vec<Notification>>,
    /// The CloudWatch alarms that stop and roll back a deployment (default:
    /// on, 5 target 5xx a minute, 1 unhealthy host two minutes running).
    #[serde(default, deserialize_with = "object")]
    pub alarms: Option<AlarmsSpec>,
    /// The metric gate that judges green against blue while a deployment
    /// is held (default: off; it needs a hold: a ready wait with
    /// STOP_DEPLOYMENT, or an ECS PAUSE gate after the test traffic shift).
    #[serde(default, deserialize_with = "object")]
    pub metric_gate: Option<MetricGateSpec>,
    /// When the environment takes no new deployments (admin; default none).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub freeze_windows: Option<Vec<FreezeWindowSpec>>,
}

/// An optional object field that takes only an object (or null): serde
/// would build a struct from an array too.
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(map) => serde_json::from_value(serde_json::Value::Object(map))
            .map(Some)
            .map_err(D::Error::custom),
    }
}

/// The container a stack runs.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Container {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,255}$")]
    pub name: Option<String>,
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<i64>,
    #[schema(value_type = Option<crate::schema::HealthCheckPathText>)]
    pub health_check_path: Option<String>,
    #[schema(minimum = 1, maximum = 20)]
    pub desired_count: Option<i64>,
}

/// The cloud resources an environment drives.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,255}$")]
    pub cluster: Option<String>,
    #[schema(pattern = "^[A-Za-z0-9_-]{1,255}$")]
    pub service: Option<String>,
    #[schema(pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]{1,100}$")]
    pub codedeploy_application: Option<String>,
    #[schema(pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]{1,100}$")]
    pub deployment_group: Option<String>,
    #[schema(pattern = "^[A-Za-z0-9.@_-]{1,100}$")]
    pub pipeline: Option<String>,
    #[schema(value_type = Option<crate::schema::ArnText>)]
    pub prod_listener_arn: Option<String>,
    #[schema(value_type = Option<crate::schema::ArnText>)]
    pub test_listener_arn: Option<String>,
}

/// An environment as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Environment {
    pub name: String,
    pub platform: String,
    pub region: Option<String>,
    /// The aws-config profile of an `aws` environment.
    pub aws_profile: Option<String>,
    pub resources: Resources,
    pub container: Container,
    /// `codedeploy` or `ecs`.
    #[schema(value_type = crate::schema::ControllerName)]
    pub controller: String,
    /// The ECS controller's settings, every default written out (`ecs` only).
    pub ecs_deployment: Option<EcsDeploymentSpec>,
    /// The CloudWatch alarm settings, every default written out.
    pub alarms: AlarmsSpec,
    /// The metric gate settings, every default written out.
    pub metric_gate: MetricGateSpec,
    /// The CodeDeploy deployment group settings (used by `codedeploy`).
    pub deployment_group: DeploymentGroup,
    /// The production and test listeners' URLs, once a stack is provisioned.
    pub prod_url: Option<String>,
    pub test_url: Option<String>,
    /// Lifecycle event -> function run at it.
    #[schema(value_type = Object)]
    pub hooks: serde_json::Value,
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The repository and branch whose pushes start the pipeline.
    pub source: Option<Source>,
    /// Whether webhooks can be verified (the secret itself is never shown).
    pub webhook_secret_set: bool,
    pub approval_policy: ApprovalPolicyBody,
    pub notifications: Vec<ShownNotification>,
    /// When the environment takes no new deployments.
    pub freeze_windows: Vec<FreezeWindowSpec>,
    /// Whether it is frozen now, until when and why.
    pub freeze: FreezeStatus,
}

/// An environment's freeze now: `frozen: false` and nulls when open.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct FreezeStatus {
    pub frozen: bool,
    /// RFC 3339, UTC: when the freeze ends (overlapping windows chained).
    pub until: Option<String>,
    /// The same moment in the zone of the window that ends it, e.g.
    /// "Mon 2026-12-14 08:00 Europe/Berlin".
    pub until_local: Option<String>,
    pub reason: Option<String>,
}

/// The CodeDeploy deployment group settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeploymentGroup {
    pub deployment_config: String,
    pub ready_action_on_timeout: String,
    pub ready_wait_minutes: Option<i64>,
    pub termination_wait_minutes: i64,
    pub auto_rollback: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentList {
    pub environments: Vec<Environment>,
}

/// The body of `POST /api/environments/{name}/migrate`: the controller to
/// move to (`ecs`, from `codedeploy`) and its settings.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateEnvironment {
    /// The controller after the move: `ecs`.
    #[schema(value_type = crate::schema::MigrationTarget)]
    pub to: String,
    /// The ECS controller's strategy, bake time and gates (ECS's defaults
    /// where absent).
    #[serde(default)]
    pub ecs_deployment: Option<EcsDeploymentSpec>,
}
