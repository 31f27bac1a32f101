//! The notification outbox.

use sqlx::{FromRow, SqliteExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct NotificationRow {
    pub id: i64,
    pub target_id: i64,
    pub url: String,
    pub kind: String,
    pub body: String,
    pub attempts: i64,
}

pub async fn enqueue(
    db: impl SqliteExecutor<'_>,
    target_id: i64,
    kind: &str,
    body: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO notifications (target_id, kind, body, next_attempt_at, created_at) \
         VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(target_id)
    .bind(kind)
    .bind(body)
    .bind(now)
    .bind(now)
    .fetch_one(db)
    .await
}

/// Notifications due for an attempt now, oldest first.
pub async fn due(
    db: impl SqliteExecutor<'_>,
    now: i64,
    limit: i64,
) -> Result<Vec<NotificationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT n.id, n.target_id, t.url, n.kind, n.body, n.attempts FROM notifications n \
         JOIN notification_targets t ON t.id = n.target_id \
         WHERE n.delivered_at IS NULL AND n.gave_up_at IS NULL AND n.next_attempt_at <= ? \
         ORDER BY n.next_attempt_at, n.id LIMIT ?",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// When the next undelivered notification is due, if any.
pub async fn next_due_at(db: impl SqliteExecutor<'_>) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM notifications WHERE delivered_at IS NULL AND gave_up_at IS NULL",
    )
    .fetch_one(db)
    .await
}

pub async fn delivered(db: impl SqliteExecutor<'_>, id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE notifications SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Records a failed attempt: tried again at `retry_at`, or given up when `None`.
pub async fn failed(
    db: impl SqliteExecutor<'_>,
    id: i64,
    error: &str,
    retry_at: Option<i64>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET attempts = attempts + 1, last_error = ?, \
             next_attempt_at = COALESCE(?, next_attempt_at), \
             gave_up_at = CASE WHEN ? IS NULL THEN ? ELSE NULL END WHERE id = ?",
    )
    .bind(error)
    .bind(retry_at)
    .bind(retry_at)
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct NotificationStatusRow {
    pub id: i64,
    pub url: String,
    pub kind: String,
    pub attempts: i64,
    pub delivered_at: Option<i64>,
    pub gave_up_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// An environment's latest notifications, newest first.
pub async fn recent_for_environment(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    limit: i64,
) -> Result<Vec<NotificationStatusRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT n.id, t.url, n.kind, n.attempts, n.delivered_at, n.gave_up_at, n.last_error, n.created_at \
         FROM notifications n JOIN notification_targets t ON t.id = n.target_id \
         WHERE t.environment_id = ? ORDER BY n.id DESC LIMIT ?",
    )
    .bind(environment_id)
    .bind(limit)
    .fetch_all(db)
    .await
}
