//! `/api/environments`

use super::release_policies::{
    ApprovalPolicyBody, Notification, ShownNotification, Source, parse_change,
};
use super::timestamp;
use crate::extract::{Admin, ApiJson, ApiPath, Authenticated, Authorized};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use switchyard_core::app::release_policies::PolicyChange;
use switchyard_core::store::environments::EnvironmentRow;
use switchyard_domain::ForField;
use switchyard_domain::environment::{
    AwsProfile, AwsRegion, CloudResources, CloudResourcesInput, ContainerInput, ContainerSettings,
    DeploymentGroupInput, DeploymentGroupSettings, EnvironmentName, LifecycleHooks, NewEnvironment,
    Platform,
};
use utoipa::ToSchema;

/// The body of `POST /api/environments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    /// 2 to 40 characters: lowercase letters, digits and '-', starting with a letter.
    #[schema(example = "demo", value_type = crate::api::schema::EnvironmentNameText)]
    pub name: String,
    /// `local` (the embedded local cloud) or `aws`.
    #[schema(example = "local", value_type = crate::api::schema::PlatformName)]
    pub platform: String,
    /// The AWS region; required for `aws`.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::schema::RegionText>)]
    pub region: Option<String>,
    /// The aws-config profile an `aws` environment's credentials come from
    /// (default: the server's environment, default profile or instance role).
    #[serde(default)]
    pub aws_profile: Option<String>,
    /// Existing cloud resources to drive; a provisioned stack fills them in.
    #[serde(default)]
    pub resources: Option<Resources>,
    /// The container the stack runs (defaults: web, port 80, "/", 2 tasks).
    #[serde(default)]
    pub container: Option<Container>,
    /// A predefined ECS deployment config (default CodeDeployDefault.ECSAllAtOnce).
    #[serde(default)]
    #[schema(value_type = Option<crate::api::schema::DeploymentConfigName>)]
    pub deployment_config: Option<String>,
    /// Hold each deployment in Ready up to this long, until someone reroutes traffic.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2880)]
    pub ready_wait_minutes: Option<i64>,
    /// CONTINUE_DEPLOYMENT or STOP_DEPLOYMENT (implied by ready_wait_minutes).
    #[serde(default)]
    #[schema(value_type = Option<crate::api::schema::ReadyActionName>)]
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
    #[schema(value_type = Option<crate::api::schema::WebhookSecretText>)]
    pub webhook_secret: Option<String>,
    /// How many approvers a release needs (default 0).
    #[serde(default)]
    pub approval_policy: Option<ApprovalPolicyBody>,
    /// Outgoing webhooks on approval requested and deployment outcomes.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub notifications: Option<Vec<Notification>>,
}

/// The container a stack runs.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Container {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,255}$")]
    pub name: Option<String>,
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<i64>,
    #[schema(pattern = "^/[^\\s\\x00-\\x1f\\x7f]{0,1023}$")]
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
    #[schema(value_type = Option<crate::api::schema::ArnText>)]
    pub prod_listener_arn: Option<String>,
    #[schema(value_type = Option<crate::api::schema::ArnText>)]
    pub test_listener_arn: Option<String>,
}

impl CreateEnvironment {
    fn policy(&self) -> Result<PolicyChange, Error> {
        parse_change(
            self.source.as_ref().map(Some),
            self.webhook_secret.as_deref().map(Some),
            self.approval_policy.as_ref(),
            self.notifications.as_deref(),
        )
    }

    fn parse(&self) -> Result<NewEnvironment, Error> {
        let name = EnvironmentName::parse(&self.name).for_field("name")?;
        let platform = Platform::parse(&self.platform).for_field("platform")?;
        let region = self
            .region
            .as_deref()
            .map(|r| AwsRegion::parse(r).for_field("region"))
            .transpose()?;
        let r = self.resources.as_ref();
        let input = CloudResourcesInput {
            cluster: r.and_then(|r| r.cluster.as_deref()),
            service: r.and_then(|r| r.service.as_deref()),
            codedeploy_application: r.and_then(|r| r.codedeploy_application.as_deref()),
            deployment_group: r.and_then(|r| r.deployment_group.as_deref()),
            pipeline: r.and_then(|r| r.pipeline.as_deref()),
            prod_listener_arn: r.and_then(|r| r.prod_listener_arn.as_deref()),
            test_listener_arn: r.and_then(|r| r.test_listener_arn.as_deref()),
        };
        let resources = CloudResources::parse(&input, "resources")?;
        let c = self.container.as_ref();
        let container = ContainerSettings::parse(&ContainerInput {
            name: c.and_then(|c| c.name.as_deref()),
            port: c.and_then(|c| c.port),
            health_check_path: c.and_then(|c| c.health_check_path.as_deref()),
            desired_count: c.and_then(|c| c.desired_count),
        })?;
        let deployment_group = DeploymentGroupSettings::parse(&DeploymentGroupInput {
            deployment_config: self.deployment_config.as_deref(),
            ready_action_on_timeout: self.ready_action_on_timeout.as_deref(),
            ready_wait_minutes: self.ready_wait_minutes,
            termination_wait_minutes: self.termination_wait_minutes,
            auto_rollback: self.auto_rollback,
        })?;
        let pairs: Vec<(&str, &str)> = self
            .hooks
            .iter()
            .flatten()
            .map(|(event, function)| (event.as_str(), function.as_str()))
            .collect();
        let hooks = LifecycleHooks::parse(&pairs)?;
        let aws_profile = self
            .aws_profile
            .as_deref()
            .map(|p| AwsProfile::parse(p).for_field("aws_profile"))
            .transpose()?;
        let mut new = NewEnvironment::new(name, platform, region, resources)?
            .with_aws_profile(aws_profile)?;
        new.container = container;
        new.deployment_group = deployment_group;
        new.hooks = hooks;
        Ok(new)
    }
}

/// An environment as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Environment {
    pub name: String,
    pub platform: String,
    pub region: Option<String>,
    /// The aws-config profile of an `aws` environment.
    pub aws_profile: Option<String>,
    pub resources: Resources,
    pub container: Container,
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
}

/// The CodeDeploy deployment group settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentGroup {
    pub deployment_config: String,
    pub ready_action_on_timeout: String,
    pub ready_wait_minutes: Option<i64>,
    pub termination_wait_minutes: i64,
    pub auto_rollback: bool,
}

impl From<EnvironmentRow> for Environment {
    fn from(row: EnvironmentRow) -> Self {
        Environment {
            name: row.name,
            platform: row.platform.to_string(),
            region: row.region,
            aws_profile: row.aws_profile,
            resources: Resources {
                cluster: row.cluster,
                service: row.service,
                codedeploy_application: row.codedeploy_application,
                deployment_group: row.deployment_group,
                pipeline: row.pipeline,
                prod_listener_arn: row.prod_listener_arn,
                test_listener_arn: row.test_listener_arn,
            },
            container: Container {
                name: Some(row.container_name),
                port: Some(row.container_port),
                health_check_path: Some(row.health_check_path),
                desired_count: Some(row.desired_count),
            },
            deployment_group: DeploymentGroup {
                deployment_config: row.deployment_config,
                ready_action_on_timeout: row.ready_action.as_aws().to_owned(),
                ready_wait_minutes: row.ready_wait_minutes,
                termination_wait_minutes: row.termination_wait_minutes,
                auto_rollback: row.auto_rollback,
            },
            prod_url: row.prod_url,
            test_url: row.test_url,
            hooks: serde_json::json!(row.hooks.0),
            created_by: row.created_by,
            created_at: timestamp(row.created_at),
            source: None,
            webhook_secret_set: false,
            approval_policy: ApprovalPolicyBody::default(),
            notifications: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnvironmentList {
    pub environments: Vec<Environment>,
}

/// Create an environment (admin).
#[utoipa::path(post, path = "/api/environments", tag = "environments",
    request_body = CreateEnvironment,
    responses(
        (status = 201, description = "Created", body = Environment),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Needs the admin role", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
    ApiJson(body): ApiJson<CreateEnvironment>,
) -> Result<impl IntoResponse, Error> {
    let new = body.parse()?;
    let policy = body.policy()?;
    let row = state
        .app
        .create_environment_with_policy(&actor, &new, &policy)
        .await?;
    let location = format!("/api/environments/{}", row.name);
    let policy = state.app.release_policy(&actor, &row.name).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(Environment::from(row).with_policy(policy)),
    ))
}

/// List environments.
#[utoipa::path(get, path = "/api/environments", tag = "environments",
    responses((status = 200, body = EnvironmentList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> Result<Json<EnvironmentList>, Error> {
    let rows = state.app.list_environments(&actor).await?;
    let mut environments = Vec::with_capacity(rows.len());
    for row in rows {
        let policy = state.app.release_policy(&actor, &row.name).await?;
        environments.push(Environment::from(row).with_policy(policy));
    }
    Ok(Json(EnvironmentList { environments }))
}

/// Show one environment.
#[utoipa::path(get, path = "/api/environments/{name}", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    responses((status = 200, body = Environment), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Environment>, Error> {
    let row = state.app.environment(&actor, &name).await?;
    let policy = state.app.release_policy(&actor, &name).await?;
    Ok(Json(Environment::from(row).with_policy(policy)))
}

/// Delete an environment (admin). Refused with 409 while a deployment runs;
/// its releases and audit trail are kept.
#[utoipa::path(delete, path = "/api/environments/{name}", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A deployment is in progress", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, Error> {
    state.app.delete_environment(&actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
