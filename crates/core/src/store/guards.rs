//! What guarded a deployment: the alarms it saw, its metric gates'
//! decisions and its target groups' hosts (JSON columns of `deployments`),
//! and its sides' metrics per period (`deployment_metrics`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::types::Json;
use sqlx::{FromRow, SqliteExecutor};
use switchyard_domain::environment::{DeploymentAlarm, GateDecision, TargetHealth};

/// The alarms a deployment saw; empty when none guarded it.
pub async fn alarms(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
) -> Result<Vec<DeploymentAlarm>, sqlx::Error> {
    list(db, "alarms", deployment_id).await
}

pub async fn set_alarms(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
    alarms: &[DeploymentAlarm],
) -> Result<(), sqlx::Error> {
    set_list(db, "alarms", deployment_id, alarms).await
}

/// What the metric gates did at a deployment's holds, oldest first.
pub async fn gate_decisions(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
) -> Result<Vec<GateDecision>, sqlx::Error> {
    list(db, "metric_gates", deployment_id).await
}

pub async fn set_gate_decisions(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
    decisions: &[GateDecision],
) -> Result<(), sqlx::Error> {
    set_list(db, "metric_gates", deployment_id, decisions).await
}

/// Each side's hosts, as last counted; empty until counted.
pub async fn target_health(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
) -> Result<Vec<TargetHealth>, sqlx::Error> {
    list(db, "target_health", deployment_id).await
}

pub async fn set_target_health(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
    health: &[TargetHealth],
) -> Result<(), sqlx::Error> {
    set_list(db, "target_health", deployment_id, health).await
}

/// A JSON list column of `deployments` (a name from this module, never
/// input); empty when NULL.
async fn list<T: DeserializeOwned + Send + Unpin + 'static>(
    db: impl SqliteExecutor<'_>,
    column: &'static str,
    deployment_id: i64,
) -> Result<Vec<T>, sqlx::Error> {
    let stored: Option<Option<Json<Vec<T>>>> =
        sqlx::query_scalar(&format!("SELECT {column} FROM deployments WHERE id = ?"))
            .bind(deployment_id)
            .fetch_optional(db)
            .await?;
    Ok(stored.flatten().map(|j| j.0).unwrap_or_default())
}

async fn set_list<T: Serialize + Sync>(
    db: impl SqliteExecutor<'_>,
    column: &'static str,
    deployment_id: i64,
    values: &[T],
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("UPDATE deployments SET {column} = ? WHERE id = ?"))
        .bind(Json(values))
        .bind(deployment_id)
        .execute(db)
        .await
        .map(|_| ())
}

/// One side's figures for one period.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct MetricRow {
    /// `blue` or `green`.
    pub side: String,
    pub period_start: i64,
    pub requests: f64,
    pub target_5xx: f64,
    pub p99_seconds: Option<f64>,
}

/// Stores a period's figures, replacing what an earlier reading of the
/// same period said (a period fills up until it ends).
pub async fn put_metric(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
    row: &MetricRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO deployment_metrics (deployment_id, side, period_start, requests, target_5xx, p99_seconds)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (deployment_id, side, period_start) DO UPDATE SET
             requests = excluded.requests, target_5xx = excluded.target_5xx,
             p99_seconds = excluded.p99_seconds",
    )
    .bind(deployment_id)
    .bind(&row.side)
    .bind(row.period_start)
    .bind(row.requests)
    .bind(row.target_5xx)
    .bind(row.p99_seconds)
    .execute(db)
    .await
    .map(|_| ())
}

/// A deployment's periods, oldest first.
pub async fn metrics(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
) -> Result<Vec<MetricRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT side, period_start, requests, target_5xx, p99_seconds FROM deployment_metrics
         WHERE deployment_id = ? ORDER BY period_start, side",
    )
    .bind(deployment_id)
    .fetch_all(db)
    .await
}
