//! The release policy parts of an environment: source, webhook secret,
//! approval policy and notifications, as `POST /api/environments` and
//! `PATCH /api/environments/{name}` take them and every environment shows them.

use serde::{Deserialize, Deserializer, Serialize};
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
    #[schema(value_type = crate::schema::UrlText)]
    pub url: String,
    /// generic (default) or slack.
    #[serde(default = "generic")]
    #[schema(value_type = crate::schema::NotificationFormatName)]
    pub format: String,
}

/// An outgoing webhook as an environment shows it: the URL's path hidden.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ShownNotification {
    pub url: String,
    pub format: String,
}

fn generic() -> String {
    "generic".into()
}

/// `null` clears, absent keeps: tells the two apart.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The body of `PATCH /api/environments/{name}`: only the keys given change.
// A client sends only the keys it sets: `None` stays out of the body.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEnvironment {
    /// `null` stops following a repository.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Source>)]
    pub source: Option<Option<Source>>,
    /// `null` removes the secret (webhooks are then refused).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<crate::schema::WebhookSecretText>)]
    pub webhook_secret: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<ApprovalPolicyBody>,
    /// Replaces all notification targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 10)]
    pub notifications: Option<Vec<Notification>>,
    /// `codedeploy` or `ecs`; only while the environment has no service
    /// (a service is created for one controller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::ControllerName>)]
    pub controller: Option<String>,
    /// Replaces the ECS controller's settings (an `ecs` environment's);
    /// the next deployment uses them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_deployment: Option<crate::environments::EcsDeploymentSpec>,
    /// Changes the CloudWatch alarm settings (the parts given). A ready
    /// local stack's alarms change at once; an AWS stack's at its next
    /// provision.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::environments::object"
    )]
    pub alarms: Option<crate::environments::AlarmsSpec>,
    /// Changes the metric gate settings (the parts given); refused when
    /// the environment, as changed, never holds a deployment to judge.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::environments::object"
    )]
    pub metric_gate: Option<crate::environments::MetricGateSpec>,
    /// Replaces all freeze windows (`[]` removes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 50)]
    pub freeze_windows: Option<Vec<crate::environments::FreezeWindowSpec>>,
}
