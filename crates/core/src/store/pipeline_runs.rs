//! Pipeline runs: the last observed state of each CodePipeline execution;
//! how it got there is in events.

use super::{Page, PageRequest};
use sqlx::types::Json;
use sqlx::{FromRow, SqliteExecutor};
use switchyard_domain::pipeline::{RunStatus, StageState};

#[derive(Debug, Clone, FromRow)]
pub struct PipelineRunRow {
    pub id: i64,
    pub environment_id: i64,
    pub environment: String,
    pub pipeline: String,
    pub execution_id: String,
    pub status: RunStatus,
    pub trigger: String,
    pub delivery_id: Option<i64>,
    pub commit_sha: Option<String>,
    pub commit_message: String,
    pub author: String,
    pub started_by: String,
    /// The stages, as last observed.
    pub stages: Json<Vec<StageState>>,
    pub deployment_id: Option<i64>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

const SELECT: &str = "SELECT r.id, r.environment_id, e.name AS environment, r.pipeline, \
     r.execution_id, r.status, r.trigger, r.delivery_id, r.commit_sha, r.commit_message, r.author, \
     r.started_by, r.stages, r.deployment_id, r.error, r.created_at, r.updated_at, r.completed_at \
     FROM pipeline_runs r JOIN environments e ON e.id = r.environment_id";

#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub environment_id: i64,
    pub pipeline: &'a str,
    pub execution_id: &'a str,
    pub trigger: &'a str,
    pub delivery_id: Option<i64>,
    pub commit_sha: Option<&'a str>,
    pub commit_message: &'a str,
    pub author: &'a str,
    pub started_by: &'a str,
    pub now: i64,
}

/// Records a run; when the execution is known already (a start that was
/// answered twice), returns the existing run's id.
pub async fn insert(tx: &mut sqlx::SqliteConnection, run: &NewRun<'_>) -> Result<i64, sqlx::Error> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO pipeline_runs (environment_id, pipeline, execution_id, status, trigger, \
             delivery_id, commit_sha, commit_message, author, started_by, created_at, updated_at) \
         VALUES (?, ?, ?, 'InProgress', ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (execution_id) DO NOTHING RETURNING id",
    )
    .bind(run.environment_id)
    .bind(run.pipeline)
    .bind(run.execution_id)
    .bind(run.trigger)
    .bind(run.delivery_id)
    .bind(run.commit_sha)
    .bind(run.commit_message)
    .bind(run.author)
    .bind(run.started_by)
    .bind(run.now)
    .bind(run.now)
    .fetch_optional(&mut *tx)
    .await?;
    match inserted {
        Some(id) => Ok(id),
        None => {
            sqlx::query_scalar("SELECT id FROM pipeline_runs WHERE execution_id = ?")
                .bind(run.execution_id)
                .fetch_one(&mut *tx)
                .await
        }
    }
}

pub async fn find(
    db: impl SqliteExecutor<'_>,
    id: i64,
) -> Result<Option<PipelineRunRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE r.id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn page_for_environment(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    page: PageRequest,
) -> Result<Page<PipelineRunRow>, sqlx::Error> {
    let rows = sqlx::query_as(&format!(
        "{SELECT} WHERE r.environment_id = ? AND r.id < ? ORDER BY r.id DESC LIMIT ?"
    ))
    .bind(environment_id)
    .bind(page.before_bound())
    .bind(page.fetch_limit())
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(rows, page, |r: &PipelineRunRow| r.id))
}

/// Runs the tracker still follows: unfinished ones, and finished ones whose
/// last stage may still be retried are picked up again on retry.
pub async fn unfinished(db: impl SqliteExecutor<'_>) -> Result<Vec<PipelineRunRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE r.status IN ('InProgress', 'Stopping') ORDER BY r.id"
    ))
    .fetch_all(db)
    .await
}

/// The newest run of each environment (for overviews).
pub async fn latest_per_environment(
    db: impl SqliteExecutor<'_>,
) -> Result<Vec<PipelineRunRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE r.id IN (SELECT MAX(id) FROM pipeline_runs GROUP BY environment_id)"
    ))
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone)]
pub struct ObservedRun<'a> {
    pub status: RunStatus,
    pub stages: &'a [StageState],
    pub commit_sha: Option<&'a str>,
    pub commit_message: Option<&'a str>,
    pub error: Option<&'a str>,
    pub completed_at: Option<i64>,
    pub now: i64,
}

pub async fn update_observed(
    db: impl SqliteExecutor<'_>,
    id: i64,
    seen: &ObservedRun<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE pipeline_runs SET status = ?, stages = ?, commit_sha = COALESCE(?, commit_sha), \
             commit_message = COALESCE(?, commit_message), error = ?, completed_at = ?, updated_at = ? \
         WHERE id = ?",
    )
    .bind(seen.status)
    .bind(Json(seen.stages))
    .bind(seen.commit_sha)
    .bind(seen.commit_message)
    .bind(seen.error)
    .bind(seen.completed_at)
    .bind(seen.now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_deployment(
    db: impl SqliteExecutor<'_>,
    id: i64,
    deployment_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE pipeline_runs SET deployment_id = ? WHERE id = ?")
        .bind(deployment_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Marks a finished run as running again (a retried stage).
pub async fn reopen(db: impl SqliteExecutor<'_>, id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE pipeline_runs SET status = 'InProgress', completed_at = NULL, error = NULL, \
         updated_at = ? WHERE id = ?",
    )
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Runs in progress, approvals pending, notifications queued (for metrics).
pub async fn release_flow_counts(
    db: impl SqliteExecutor<'_>,
) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM pipeline_runs WHERE status IN ('InProgress', 'Stopping')), \
                (SELECT COUNT(*) FROM approvals WHERE state = 'pending'), \
                (SELECT COUNT(*) FROM notifications WHERE delivered_at IS NULL AND gave_up_at IS NULL)",
    )
    .fetch_one(db)
    .await
}
