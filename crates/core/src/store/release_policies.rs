//! Release policies: an environment's source, webhook secret, approval
//! policy and notification targets.

use sqlx::{FromRow, SqliteExecutor};

#[derive(Debug, Clone, Default, FromRow)]
pub struct ReleasePolicyRow {
    pub environment_id: i64,
    pub source_repo: Option<String>,
    pub source_branch: Option<String>,
    pub webhook_secret: Option<String>,
    pub approvals_required: i64,
    pub allow_self_approval: bool,
}

/// An environment's policy; environments without a row have the defaults.
pub async fn find(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
) -> Result<ReleasePolicyRow, sqlx::Error> {
    let row: Option<ReleasePolicyRow> =
        sqlx::query_as("SELECT * FROM release_policies WHERE environment_id = ?")
            .bind(environment_id)
            .fetch_optional(db)
            .await?;
    Ok(row.unwrap_or(ReleasePolicyRow {
        environment_id,
        ..Default::default()
    }))
}

/// Every live environment's policy, keyed by environment id.
pub async fn all(db: impl SqliteExecutor<'_>) -> Result<Vec<ReleasePolicyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.* FROM release_policies p JOIN environments e ON e.id = p.environment_id \
         WHERE e.deleted_at IS NULL",
    )
    .fetch_all(db)
    .await
}

/// The live environments that follow some repository: their name, policy.
#[derive(Debug, Clone, FromRow)]
pub struct Follower {
    pub environment_id: i64,
    pub environment: String,
    pub pipeline: Option<String>,
    pub source_repo: String,
    pub source_branch: String,
    pub webhook_secret: Option<String>,
}

pub async fn followers(db: impl SqliteExecutor<'_>) -> Result<Vec<Follower>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.id AS environment_id, e.name AS environment, e.pipeline, p.source_repo, \
                p.source_branch, p.webhook_secret \
         FROM release_policies p JOIN environments e ON e.id = p.environment_id \
         WHERE e.deleted_at IS NULL AND p.source_repo IS NOT NULL",
    )
    .fetch_all(db)
    .await
}

pub async fn upsert(
    db: impl SqliteExecutor<'_>,
    row: &ReleasePolicyRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO release_policies (environment_id, source_repo, source_branch, webhook_secret, \
                                       approvals_required, allow_self_approval) \
         VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (environment_id) DO UPDATE SET source_repo = excluded.source_repo, \
             source_branch = excluded.source_branch, webhook_secret = excluded.webhook_secret, \
             approvals_required = excluded.approvals_required, \
             allow_self_approval = excluded.allow_self_approval",
    )
    .bind(row.environment_id)
    .bind(&row.source_repo)
    .bind(&row.source_branch)
    .bind(&row.webhook_secret)
    .bind(row.approvals_required)
    .bind(row.allow_self_approval)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct NotificationTargetRow {
    pub id: i64,
    pub environment_id: i64,
    pub url: String,
    pub format: String,
}

pub async fn notification_targets(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
) -> Result<Vec<NotificationTargetRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, environment_id, url, format FROM notification_targets \
         WHERE environment_id = ? AND removed_at IS NULL ORDER BY id",
    )
    .bind(environment_id)
    .fetch_all(db)
    .await
}

/// Replaces the environment's targets; queued notifications to the old
/// ones still go out.
pub async fn replace_notification_targets(
    tx: &mut sqlx::SqliteConnection,
    environment_id: i64,
    targets: &[(String, &'static str)],
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notification_targets SET removed_at = ? WHERE environment_id = ? AND removed_at IS NULL",
    )
    .bind(now)
    .bind(environment_id)
    .execute(&mut *tx)
    .await?;
    for (url, format) in targets {
        sqlx::query(
            "INSERT INTO notification_targets (environment_id, url, format, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(environment_id)
        .bind(url)
        .bind(*format)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
