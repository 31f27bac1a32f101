//! Stacks: the provisioned cloud resources behind an environment.

use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{FromRow, SqliteExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct StackRow {
    pub environment_id: i64,
    pub status: String,
    pub operation_id: String,
    pub log: String,
    /// Outputs (prod_url, test_url, resource names, and `terraform`: all of
    /// Terraform's); empty until the stack is ready.
    pub outputs: Json<Map<String, Value>>,
    pub started_by: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

pub async fn find(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
) -> Result<Option<StackRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT environment_id, status, operation_id, log, outputs, started_by, started_at, finished_at
         FROM stacks WHERE environment_id = ?",
    )
    .bind(environment_id)
    .fetch_optional(db)
    .await
}

/// Starts an operation: the stack takes `status` with an empty log.
pub async fn begin(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    status: &str,
    operation_id: &str,
    started_by: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stacks (environment_id, status, operation_id, log, outputs, started_by, started_at)
         VALUES (?, ?, ?, '', '{}', ?, ?)
         ON CONFLICT (environment_id) DO UPDATE SET status = excluded.status,
             operation_id = excluded.operation_id, log = '', started_by = excluded.started_by,
             started_at = excluded.started_at, finished_at = NULL",
    )
    .bind(environment_id)
    .bind(status)
    .bind(operation_id)
    .bind(started_by)
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn append_log(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    line: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE stacks SET log = log || ? || char(10) WHERE environment_id = ?")
        .bind(line)
        .bind(environment_id)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn finish(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    status: &str,
    outputs: &Map<String, Value>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stacks SET status = ?, outputs = ?, finished_at = ? WHERE environment_id = ?",
    )
    .bind(status)
    .bind(Json(outputs))
    .bind(now)
    .bind(environment_id)
    .execute(db)
    .await
    .map(|_| ())
}

/// Replaces a ready stack's outputs (a setting changed what it has).
pub async fn set_outputs(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    outputs: &Map<String, Value>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE stacks SET outputs = ? WHERE environment_id = ?")
        .bind(Json(outputs))
        .bind(environment_id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Marks operations that a stopped server left running as failed; returns
/// the environments affected.
pub async fn fail_interrupted(
    db: impl SqliteExecutor<'_>,
    now: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE stacks SET status = 'failed', finished_at = ?,
             log = log || 'failed: the server stopped during this operation; start it again' || char(10)
         WHERE status IN ('provisioning', 'destroying') RETURNING environment_id",
    )
    .bind(now)
    .fetch_all(db)
    .await
}
