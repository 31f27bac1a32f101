//! The audit trail. Rows are only ever inserted; triggers in the schema
//! refuse updates and deletes.

use super::{Page, PageRequest};
use sqlx::{FromRow, SqliteExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub deployment_id: Option<i64>,
    pub actor: String,
    pub kind: String,
    pub detail: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub environment_id: Option<i64>,
    pub deployment_id: Option<i64>,
    pub actor: &'a str,
    pub kind: &'a str,
    /// A JSON object with the facts of the change.
    pub detail: String,
    pub created_at: i64,
}

pub async fn append(db: impl SqliteExecutor<'_>, event: &NewEvent<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO events (environment_id, deployment_id, actor, kind, detail, created_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(event.environment_id)
    .bind(event.deployment_id)
    .bind(event.actor)
    .bind(event.kind)
    .bind(&event.detail)
    .bind(event.created_at)
    .fetch_one(db)
    .await
}

/// An environment's events, newest first.
pub async fn page_for_environment(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    request: PageRequest,
) -> Result<Page<EventRow>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT id, deployment_id, actor, kind, detail, created_at
         FROM events WHERE environment_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
    )
    .bind(environment_id)
    .bind(request.before_bound())
    .bind(request.fetch_limit())
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(rows, request, |e| e.id))
}

/// A deployment's events after `after` (an event id), oldest first: what a
/// reconnecting SSE client missed.
pub async fn for_deployment_after(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
    after: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, deployment_id, actor, kind, detail, created_at
         FROM events WHERE deployment_id = ? AND id > ? ORDER BY id",
    )
    .bind(deployment_id)
    .bind(after)
    .fetch_all(db)
    .await
}

/// A pipeline run's events after `after`, oldest first.
pub async fn for_pipeline_run_after(
    db: impl SqliteExecutor<'_>,
    run_id: i64,
    after: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, deployment_id, actor, kind, detail, created_at
         FROM events WHERE json_extract(detail, '$.pipeline_run_id') = ? AND id > ? ORDER BY id",
    )
    .bind(run_id)
    .bind(after)
    .fetch_all(db)
    .await
}
