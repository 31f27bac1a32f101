//! Release approvals and their votes. Votes are never changed.

use sqlx::{FromRow, SqliteExecutor};
use switchyard_domain::service_deployment::TimeoutAction;

#[derive(Debug, Clone, FromRow)]
pub struct ApprovalRow {
    pub id: i64,
    pub environment_id: i64,
    pub environment: String,
    pub pipeline_run_id: Option<i64>,
    pub deployment_id: Option<i64>,
    pub stage_name: Option<String>,
    pub action_name: Option<String>,
    pub token: Option<String>,
    pub author: String,
    pub required: i64,
    pub allow_self_approval: bool,
    pub state: String,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub applied_at: Option<i64>,
    pub apply_error: Option<String>,
    /// A PAUSE gate's timeout (epoch ms), and what ECS does then.
    pub expires_at: Option<i64>,
    pub timeout_action: Option<TimeoutAction>,
}

impl ApprovalRow {
    /// The PAUSE hook this approval answers, for a gate of ECS's controller.
    pub fn hook_id(&self) -> Option<&str> {
        self.deployment_id.and(self.token.as_deref())
    }
}

const SELECT: &str = "SELECT a.id, a.environment_id, e.name AS environment, a.pipeline_run_id, \
     a.deployment_id, a.stage_name, a.action_name, a.token, a.author, a.required, \
     a.allow_self_approval, a.state, a.created_at, a.decided_at, a.applied_at, a.apply_error, \
     a.expires_at, a.timeout_action \
     FROM approvals a JOIN environments e ON e.id = a.environment_id";

#[derive(Debug, Clone, FromRow)]
pub struct VoteRow {
    pub approval_id: i64,
    pub voter: String,
    pub decision: String,
    pub comment: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct NewApproval<'a> {
    pub environment_id: i64,
    pub pipeline_run_id: Option<i64>,
    pub deployment_id: Option<i64>,
    pub stage_name: Option<&'a str>,
    pub action_name: Option<&'a str>,
    pub token: Option<&'a str>,
    pub author: &'a str,
    pub required: i64,
    pub allow_self_approval: bool,
    pub expires_at: Option<i64>,
    pub timeout_action: Option<TimeoutAction>,
    pub now: i64,
}

/// Opens an approval; `None` when it is open already.
pub async fn open(
    db: impl SqliteExecutor<'_>,
    a: &NewApproval<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO approvals (environment_id, pipeline_run_id, deployment_id, stage_name, \
             action_name, token, author, required, allow_self_approval, state, created_at, \
             expires_at, timeout_action) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(a.environment_id)
    .bind(a.pipeline_run_id)
    .bind(a.deployment_id)
    .bind(a.stage_name)
    .bind(a.action_name)
    .bind(a.token)
    .bind(a.author)
    .bind(a.required)
    .bind(a.allow_self_approval)
    .bind(a.now)
    .bind(a.expires_at)
    .bind(a.timeout_action)
    .fetch_optional(db)
    .await
}

pub async fn find(
    db: impl SqliteExecutor<'_>,
    id: i64,
) -> Result<Option<ApprovalRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE a.id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Approvals in a state (or all), newest first.
pub async fn list(
    db: impl SqliteExecutor<'_>,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<ApprovalRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE (?1 IS NULL OR a.state = ?1) ORDER BY a.id DESC LIMIT ?2"
    ))
    .bind(state)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn for_pipeline_run(
    db: impl SqliteExecutor<'_>,
    run_id: i64,
) -> Result<Vec<ApprovalRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE a.pipeline_run_id = ? ORDER BY a.id"
    ))
    .bind(run_id)
    .fetch_all(db)
    .await
}

pub async fn for_deployment(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
) -> Result<Option<ApprovalRow>, sqlx::Error> {
    // The latest: a deployment of ECS's controller may pass several gates.
    sqlx::query_as(&format!(
        "{SELECT} WHERE a.deployment_id = ? ORDER BY a.id DESC LIMIT 1"
    ))
    .bind(deployment_id)
    .fetch_optional(db)
    .await
}

/// A deployment's pending approvals (a gate's, or the ready wait's).
pub async fn pending_for_deployment(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
) -> Result<Vec<ApprovalRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE a.deployment_id = ? AND a.state = 'pending' ORDER BY a.id"
    ))
    .bind(deployment_id)
    .fetch_all(db)
    .await
}

/// Decided approvals the cloud has not taken yet (to retry).
pub async fn unapplied(db: impl SqliteExecutor<'_>) -> Result<Vec<ApprovalRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE a.state IN ('approved', 'rejected') AND a.applied_at IS NULL ORDER BY a.id"
    ))
    .fetch_all(db)
    .await
}

pub async fn votes(
    db: impl SqliteExecutor<'_>,
    approval_id: i64,
) -> Result<Vec<VoteRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT approval_id, voter, decision, comment, created_at FROM approval_votes \
         WHERE approval_id = ? ORDER BY created_at, voter",
    )
    .bind(approval_id)
    .fetch_all(db)
    .await
}

/// Records a vote; false when this voter has voted already.
pub async fn add_vote(
    db: impl SqliteExecutor<'_>,
    approval_id: i64,
    voter: &str,
    decision: &str,
    comment: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO approval_votes (approval_id, voter, decision, comment, created_at) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(approval_id)
    .bind(voter)
    .bind(decision)
    .bind(comment)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a pending approval to `state`; false if it was no longer pending.
pub async fn decide(
    db: impl SqliteExecutor<'_>,
    id: i64,
    state: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE approvals SET state = ?, decided_at = ? WHERE id = ? AND state = 'pending'",
    )
    .bind(state)
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the outcome of handing the decision to the cloud.
pub async fn set_applied(
    db: impl SqliteExecutor<'_>,
    id: i64,
    applied_at: Option<i64>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE approvals SET applied_at = ?, apply_error = ? WHERE id = ?")
        .bind(applied_at)
        .bind(error)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn close_pending_of_environment(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE approvals SET state = 'closed', decided_at = ? \
         WHERE environment_id = ? AND state = 'pending'",
    )
    .bind(now)
    .bind(environment_id)
    .execute(db)
    .await?;
    Ok(())
}
