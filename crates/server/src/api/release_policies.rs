//! The release policy parts of an environment: source, webhook secret,
//! approval policy and notifications, as `POST /api/environments` and
//! `PATCH /api/environments/{name}` take them and every environment shows them.

use super::environments::Environment;
use crate::extract::{Admin, ApiJson, ApiPath, Authorized};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use switchyard_core::app::release_policies::{PolicyChange, PolicyView};
use switchyard_domain::ForField;
use switchyard_domain::pipeline::{
    ApprovalPolicy, NotificationTarget, SourceSettings, WebhookSecret,
};
use utoipa::ToSchema;

/// The git repository and branch an environment follows.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A URL git can fetch, or a path on the switchyard host.
    #[schema(
        example = "https://github.com/acme/shop.git",
        max_length = 1024,
        pattern = "^(/|https?://|ssh://|git://|file://|[^-\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*(@[^\\x00-\\x1f\\x7f-\\x9f]*:|:[^\\x00-\\x1f\\x7f-\\x9f]*@))[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub repo: String,
    /// Slash-separated parts of letters, digits, '_' and '-' (git allows more).
    #[schema(
        example = "main",
        max_length = 255,
        pattern = "^[A-Za-z0-9_][A-Za-z0-9_-]*(/[A-Za-z0-9_][A-Za-z0-9_-]*)*$"
    )]
    pub branch: String,
}

/// How many approvers a release needs, and whether its author may be one.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicyBody {
    /// 0 lets releases through without a vote.
    #[schema(minimum = 0, maximum = 20)]
    pub required: i64,
    #[serde(default)]
    pub allow_self_approval: bool,
}

/// An outgoing webhook. Shown with its path hidden: a Slack webhook URL is
/// a credential.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    #[schema(value_type = crate::api::schema::UrlText)]
    pub url: String,
    /// generic (default) or slack.
    #[serde(default = "generic")]
    #[schema(value_type = crate::api::schema::NotificationFormatName)]
    pub format: String,
}

/// An outgoing webhook as an environment shows it: the URL's path hidden.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShownNotification {
    pub url: String,
    pub format: String,
}

fn generic() -> String {
    "generic".into()
}

/// `null` clears, absent keeps: tells the two apart.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

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

impl Environment {
    /// Adds the policy to an environment as it is shown.
    pub fn with_policy(mut self, policy: PolicyView) -> Environment {
        self.source = policy.source.map(|s| Source {
            repo: s.repo,
            branch: s.branch,
        });
        self.webhook_secret_set = policy.webhook_secret_set;
        self.approval_policy = ApprovalPolicyBody {
            required: i64::from(policy.approval.required),
            allow_self_approval: policy.approval.allow_self_approval,
        };
        self.notifications = policy
            .notifications
            .into_iter()
            .map(|(url, format)| ShownNotification { url, format })
            .collect();
        self
    }
}

/// The body of `PATCH /api/environments/{name}`: only the keys given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEnvironment {
    /// `null` stops following a repository.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Source>)]
    pub source: Option<Option<Source>>,
    /// `null` removes the secret (webhooks are then refused).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::api::schema::WebhookSecretText>)]
    pub webhook_secret: Option<Option<String>>,
    #[serde(default)]
    pub approval_policy: Option<ApprovalPolicyBody>,
    /// Replaces all notification targets.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub notifications: Option<Vec<Notification>>,
}

/// Change an environment's release policy (admin).
#[utoipa::path(patch, path = "/api/environments/{name}", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    request_body = ChangeEnvironment,
    responses(
        (status = 200, body = Environment),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
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
    let policy = state
        .app
        .change_release_policy(&actor, &name, &change)
        .await?;
    let env = state.app.environment(&actor, &name).await?;
    Ok(Json(Environment::from(env).with_policy(policy)))
}
