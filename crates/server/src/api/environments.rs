//! `/api/environments`

use super::release_policies::parse_change;
use super::timestamp;
use crate::extract::{Admin, ApiJson, ApiPath, Authenticated, Authorized};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use switchyard_api::environments::{
    Container, CreateEnvironment, DeploymentGroup, Environment, EnvironmentList, FreezeStatus,
    MigrateEnvironment, Resources,
};
use switchyard_api::release_policies::{ApprovalPolicyBody, ShownNotification, Source};
use switchyard_core::app::release_policies::{PolicyChange, PolicyView};
use switchyard_core::store::environments::EnvironmentRow;
use switchyard_domain::environment::{
    AlarmSettings, AwsProfile, AwsRegion, CloudResources, CloudResourcesInput, ContainerInput,
    ContainerSettings, DeploymentGroupInput, DeploymentGroupSettings, EnvironmentName,
    FreezeWindows, LifecycleHooks, MetricGateSettings, NewEnvironment, Platform,
};
use switchyard_domain::service_deployment::{DeploymentController, EcsDeploymentSettings};
use switchyard_domain::{FieldError, ForField};

/// The release policy a new environment starts with.
fn parse_policy(body: &CreateEnvironment) -> Result<PolicyChange, Error> {
    parse_change(
        body.source.as_ref().map(Some),
        body.webhook_secret.as_deref().map(Some),
        body.approval_policy.as_ref(),
        body.notifications.as_deref(),
    )
}

/// The environment a create request describes, validated.
fn parse_new_environment(body: &CreateEnvironment) -> Result<NewEnvironment, Error> {
    let name = EnvironmentName::parse(&body.name).for_field("name")?;
    let platform = Platform::parse(&body.platform).for_field("platform")?;
    let region = body
        .region
        .as_deref()
        .map(|r| AwsRegion::parse(r).for_field("region"))
        .transpose()?;
    let r = body.resources.as_ref();
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
    let c = body.container.as_ref();
    let container = ContainerSettings::parse(&ContainerInput {
        name: c.and_then(|c| c.name.as_deref()),
        port: c.and_then(|c| c.port),
        health_check_path: c.and_then(|c| c.health_check_path.as_deref()),
        desired_count: c.and_then(|c| c.desired_count),
    })?;
    let deployment_group = DeploymentGroupSettings::parse(&DeploymentGroupInput {
        deployment_config: body.deployment_config.as_deref(),
        ready_action_on_timeout: body.ready_action_on_timeout.as_deref(),
        ready_wait_minutes: body.ready_wait_minutes,
        termination_wait_minutes: body.termination_wait_minutes,
        auto_rollback: body.auto_rollback,
    })?;
    let pairs: Vec<(&str, &str)> = body
        .hooks
        .iter()
        .flatten()
        .map(|(event, function)| (event.as_str(), function.as_str()))
        .collect();
    let hooks = LifecycleHooks::parse(&pairs)?;
    let aws_profile = body
        .aws_profile
        .as_deref()
        .map(|p| AwsProfile::parse(p).for_field("aws_profile"))
        .transpose()?;
    let mut new =
        NewEnvironment::new(name, platform, region, resources)?.with_aws_profile(aws_profile)?;
    new.container = container;
    new.deployment_group = deployment_group;
    new.hooks = hooks;
    new.ecs_deployment = parse_ecs_deployment(body)?;
    if let Some(spec) = &body.alarms {
        new.alarms = AlarmSettings::parse(spec, AlarmSettings::default(), "alarms")?;
    }
    if let Some(spec) = &body.metric_gate {
        new.metric_gate =
            MetricGateSettings::parse(spec, MetricGateSettings::default(), "metric_gate")?;
    }
    if let Some(specs) = &body.freeze_windows {
        new.freeze_windows = FreezeWindows::parse(specs, "freeze_windows")?;
    }
    Ok(new)
}

/// The ECS controller's settings of an `ecs` environment; `None` for
/// `codedeploy`. Each controller's own fields are refused for the other.
fn parse_ecs_deployment(body: &CreateEnvironment) -> Result<Option<EcsDeploymentSettings>, Error> {
    let controller = body
        .controller
        .as_deref()
        .map(|c| DeploymentController::parse(c).for_field("controller"))
        .transpose()?
        .unwrap_or_default();
    let misplaced = |field: &str, controller: &str| FieldError {
        field: field.into(),
        message: format!("{field} applies to the {controller} controller only"),
    };
    match controller {
        DeploymentController::CodeDeploy => match body.ecs_deployment {
            Some(_) => Err(misplaced("ecs_deployment", "ecs").into()),
            None => Ok(None),
        },
        DeploymentController::Ecs => {
            let codedeploy_fields = [
                ("deployment_config", body.deployment_config.is_some()),
                ("ready_wait_minutes", body.ready_wait_minutes.is_some()),
                (
                    "ready_action_on_timeout",
                    body.ready_action_on_timeout.is_some(),
                ),
                (
                    "termination_wait_minutes",
                    body.termination_wait_minutes.is_some(),
                ),
                ("auto_rollback", body.auto_rollback.is_some()),
                ("hooks", body.hooks.is_some()),
            ];
            if let Some((field, _)) = codedeploy_fields.iter().find(|(_, given)| *given) {
                return Err(misplaced(field, "codedeploy").into());
            }
            let spec = body.ecs_deployment.clone().unwrap_or_default();
            Ok(Some(EcsDeploymentSettings::parse(&spec, "ecs_deployment")?))
        }
    }
}

/// An environment as the API shows it, with its release policy.
pub fn environment_json(row: EnvironmentRow, policy: PolicyView) -> Environment {
    let alarms = row.alarm_settings().unwrap_or_default().spec();
    let metric_gate = row.metric_gate_settings().unwrap_or_default().spec();
    let freeze = freeze_status(&row);
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
        controller: row.deployment_controller.to_string(),
        alarms,
        metric_gate,
        ecs_deployment: row.ecs_deployment.map(|spec| spec.0),
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
        source: policy.source.map(|s| Source {
            repo: s.repo,
            branch: s.branch,
        }),
        webhook_secret_set: policy.webhook_secret_set,
        approval_policy: ApprovalPolicyBody {
            required: i64::from(policy.approval.required),
            allow_self_approval: policy.approval.allow_self_approval,
        },
        notifications: policy
            .notifications
            .into_iter()
            .map(|(url, format)| ShownNotification { url, format })
            .collect(),
        freeze_windows: row.freeze_windows.0,
        freeze,
    }
}

/// Frozen now or not; stored windows always parse (they were parsed to be stored).
fn freeze_status(row: &EnvironmentRow) -> FreezeStatus {
    match row.freeze_now().ok().flatten() {
        None => FreezeStatus::default(),
        Some(freeze) => FreezeStatus {
            frozen: true,
            until: Some(freeze.until_text()),
            until_local: Some(freeze.until_local),
            reason: Some(freeze.reason),
        },
    }
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
        (status = 422, description = "A field is invalid, or belongs to the other controller or strategy (the error names it)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
    ApiJson(body): ApiJson<CreateEnvironment>,
) -> Result<impl IntoResponse, Error> {
    let new = parse_new_environment(&body)?;
    let policy = parse_policy(&body)?;
    let row = state
        .app
        .create_environment_with_policy(&actor, &new, &policy)
        .await?;
    let location = format!("/api/environments/{}", row.name);
    let policy = state.app.release_policy(&actor, &row.name).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(environment_json(row, policy)),
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
        environments.push(environment_json(row, policy));
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
    Ok(Json(environment_json(row, policy)))
}

/// Move the environment from CodeDeploy to ECS's own controller (admin), as
/// AWS's migration guide does: between deployments, its tasks kept, so
/// production does not notice. Local stacks only, so far.
#[utoipa::path(post, path = "/api/environments/{name}/migrate", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    request_body = MigrateEnvironment,
    responses(
        (status = 200, description = "Moved", body = Environment),
        (status = 403, description = "Needs the admin role", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "On ECS's controller already, on AWS (its controller is the stack's Terraform variable), a deployment or pipeline run in progress, or the stack not ready", body = ErrorBody),
        (status = 422, description = "A field is invalid, or belongs to another strategy (the error names it)", body = ErrorBody),
        (status = 502, description = "The cloud refused; the environment stays on CodeDeploy", body = ErrorBody),
    ))]
pub async fn migrate(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<MigrateEnvironment>,
) -> Result<Json<Environment>, Error> {
    if DeploymentController::parse(&body.to).for_field("to")? != DeploymentController::Ecs {
        return Err(FieldError {
            field: "to".into(),
            message: "environments move from codedeploy to ecs, not back".into(),
        }
        .into());
    }
    let settings = body
        .ecs_deployment
        .as_ref()
        .map(|spec| EcsDeploymentSettings::parse(spec, "ecs_deployment"))
        .transpose()?;
    let row = state.app.migrate_to_ecs(&actor, &name, settings).await?;
    let policy = state.app.release_policy(&actor, &name).await?;
    Ok(Json(environment_json(row, policy)))
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
