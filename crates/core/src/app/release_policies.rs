//! An environment's release policy: the source it follows, its webhook
//! secret, who must approve and whom to notify.

use super::environments::find_environment;
use super::{Actor, App, Result, detail};
use crate::store::{self, events::NewEvent, release_policies::ReleasePolicyRow};
use serde_json::json;
use switchyard_domain::pipeline::{
    ApprovalPolicy, NotificationTarget, SourceSettings, WebhookSecret,
};
use switchyard_domain::user::Role;

/// A change to a policy: `None` leaves a part as it is; `Some(None)`
/// clears an optional part.
#[derive(Debug, Clone, Default)]
pub struct PolicyChange {
    pub source: Option<Option<SourceSettings>>,
    pub webhook_secret: Option<Option<WebhookSecret>>,
    pub approval: Option<ApprovalPolicy>,
    pub notifications: Option<Vec<NotificationTarget>>,
}

impl PolicyChange {
    pub fn is_empty(&self) -> bool {
        self.source.is_none()
            && self.webhook_secret.is_none()
            && self.approval.is_none()
            && self.notifications.is_none()
    }

    /// What changed, for the audit trail; the secret only as set or cleared.
    fn describe(&self) -> serde_json::Value {
        let mut d = serde_json::Map::new();
        if let Some(source) = &self.source {
            d.insert(
                "source".into(),
                source
                    .as_ref()
                    .map_or(json!(null), |s| json!({"repo": s.repo, "branch": s.branch})),
            );
        }
        if let Some(secret) = &self.webhook_secret {
            d.insert(
                "webhook_secret".into(),
                json!(if secret.is_some() { "set" } else { "cleared" }),
            );
        }
        if let Some(a) = &self.approval {
            d.insert(
                "approval_policy".into(),
                json!({"required": a.required, "allow_self_approval": a.allow_self_approval}),
            );
        }
        if let Some(targets) = &self.notifications {
            d.insert("notifications".into(), json!(targets.len()));
        }
        serde_json::Value::Object(d)
    }
}

/// A policy as it may be shown: no secret, notification URLs shortened
/// (a Slack webhook URL is itself a credential).
#[derive(Debug, Clone)]
pub struct PolicyView {
    pub source: Option<SourceSettings>,
    pub webhook_secret_set: bool,
    pub approval: ApprovalPolicy,
    pub notifications: Vec<(String, String)>,
}

/// `https://hooks.slack.com/services/T0/B0/xyz` → `https://hooks.slack.com/…`
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}/…",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "…".into(),
    }
}

impl App {
    pub async fn release_policy(&self, actor: &Actor, environment: &str) -> Result<PolicyView> {
        actor.require(Role::Viewer, "reading environments")?;
        let env = find_environment(self.store.reader(), environment).await?;
        self.policy_view(env.id).await
    }

    pub(crate) async fn policy_view(&self, environment_id: i64) -> Result<PolicyView> {
        let row = store::release_policies::find(self.store.reader(), environment_id).await?;
        let targets =
            store::release_policies::notification_targets(self.store.reader(), environment_id)
                .await?;
        Ok(PolicyView {
            source: match (&row.source_repo, &row.source_branch) {
                (Some(repo), Some(branch)) => Some(SourceSettings {
                    repo: repo.clone(),
                    branch: branch.clone(),
                }),
                _ => None,
            },
            webhook_secret_set: row.webhook_secret.is_some(),
            approval: ApprovalPolicy {
                required: row.approvals_required.clamp(0, 20) as u8,
                allow_self_approval: row.allow_self_approval,
            },
            notifications: targets
                .into_iter()
                .map(|t| (redact_url(&t.url), t.format))
                .collect(),
        })
    }
}

/// Applies a change inside the caller's transaction, with its audit event.
pub(crate) async fn write_policy(
    tx: &mut sqlx::SqliteConnection,
    environment_id: i64,
    change: &PolicyChange,
    actor: &str,
    now: i64,
) -> Result<()> {
    if change.is_empty() {
        return Ok(());
    }
    let current = store::release_policies::find(&mut *tx, environment_id).await?;
    let mut next = ReleasePolicyRow {
        environment_id,
        ..current
    };
    if let Some(source) = &change.source {
        next.source_repo = source.as_ref().map(|s| s.repo.clone());
        next.source_branch = source.as_ref().map(|s| s.branch.clone());
    }
    if let Some(secret) = &change.webhook_secret {
        next.webhook_secret = secret.as_ref().map(|s| s.expose().to_owned());
    }
    if let Some(a) = &change.approval {
        next.approvals_required = i64::from(a.required);
        next.allow_self_approval = a.allow_self_approval;
    }
    store::release_policies::upsert(&mut *tx, &next).await?;
    if let Some(targets) = &change.notifications {
        let rows: Vec<(String, &'static str)> = targets
            .iter()
            .map(|t| (t.url.clone(), t.format.as_str()))
            .collect();
        store::release_policies::replace_notification_targets(tx, environment_id, &rows, now)
            .await?;
    }
    store::events::append(
        &mut *tx,
        &NewEvent {
            environment_id: Some(environment_id),
            deployment_id: None,
            actor,
            kind: "environment.policy_changed",
            detail: detail(change.describe()),
            created_at: now,
        },
    )
    .await?;
    Ok(())
}
