//! The release policy parts of an environment: source, webhook secret,
//! approval policy and notifications, as `POST /api/environments` and
//! `PATCH /api/environments/{name}` take them and every environment shows them.

use super::environments::environment_json;
use crate::extract::{Admin, ApiJson, ApiPath, Authorized};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use switchyard_api::environments::Environment;
use switchyard_api::release_policies::{
    ApprovalPolicyBody, ChangeEnvironment, Notification, Source,
};
use switchyard_core::app::environments::EnvironmentChange;
use switchyard_core::app::release_policies::PolicyChange;
use switchyard_domain::ForField;
use switchyard_domain::environment::FreezeWindows;
use switchyard_domain::pipeline::{
    ApprovalPolicy, NotificationTarget, SourceSettings, WebhookSecret,
};
use switchyard_domain::service_deployment::{DeploymentController, EcsDeploymentSettings};

/// Parses the policy fields of a request body into a change.
pub fn parse_change(
    source: Option<Option<&Source>>,
    webhook_secret: Option<Option<&str>>,
    approval_policy: Option<&ApprovalPolicyBody>,
    notifications: Option<&[Notification]>,
) -> Result<PolicyChange, Error> {
    let source = source
        .map(|s| {
            s.map(|s| SourceSettings::parse(&s.repo, &s.branch))
                .transpose()
        })
        .transpose()?;
    let webhook_secret = webhook_secret
        .map(|s| {
            s.map(|s| WebhookSecret::parse(s).for_field("webhook_secret"))
                .transpose()
        })
        .transpose()?;
    let approval = approval_policy
        .map(|a| ApprovalPolicy::parse(a.required, a.allow_self_approval))
        .transpose()?;
    let notifications = notifications
        .map(|targets| {
            if targets.len() > 10 {
                return Err(switchyard_domain::FieldError {
                    field: "notifications".into(),
                    message: "at most 10 notification targets per environment".into(),
                });
            }
            targets
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    NotificationTarget::parse(&t.url, &t.format)
                        .for_field(&format!("notifications[{i}]"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(PolicyChange {
        source,
        webhook_secret,
        approval,
        notifications,
    })
}

/// Change an environment's release policy, controller or ECS deployment
/// settings (admin); all of the change or none of it.
#[utoipa::path(patch, path = "/api/environments/{name}", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    request_body = ChangeEnvironment,
    responses(
        (status = 200, body = Environment),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The controller cannot change now", body = ErrorBody),
        (status = 422, description = "A field is invalid, or belongs to the other controller or strategy (the error names it)", body = ErrorBody),
    ))]
pub async fn change(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeEnvironment>,
) -> Result<Json<Environment>, Error> {
    let change = parse_change(
        body.source.as_ref().map(Option::as_ref),
        body.webhook_secret.as_ref().map(Option::as_deref),
        body.approval_policy.as_ref(),
        body.notifications.as_deref(),
    )?;
    let change = EnvironmentChange {
        policy: change,
        controller: body
            .controller
            .as_deref()
            .map(|c| DeploymentController::parse(c).for_field("controller"))
            .transpose()?,
        ecs_deployment: body
            .ecs_deployment
            .as_ref()
            .map(|spec| EcsDeploymentSettings::parse(spec, "ecs_deployment"))
            .transpose()?,
        alarms: body.alarms.clone(),
        metric_gate: body.metric_gate.clone(),
        freeze_windows: body
            .freeze_windows
            .as_deref()
            .map(|specs| FreezeWindows::parse(specs, "freeze_windows"))
            .transpose()?,
    };
    let policy = state.app.change_environment(&actor, &name, &change).await?;
    let env = state.app.environment(&actor, &name).await?;
    Ok(Json(environment_json(env, policy)))
}
