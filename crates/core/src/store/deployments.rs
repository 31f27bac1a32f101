//! Deployments: the current state of each; its history is in events.

use sqlx::SqliteExecutor;
use sqlx::types::Json;
use switchyard_domain::deployment::{DeploymentStatus, LifecycleEventState, TaskSetState};
use switchyard_domain::service_deployment::progress::{HookState, ServiceDeploymentStatus};
use switchyard_domain::service_deployment::{
    DeploymentController, EcsDeploymentSettings, EcsDeploymentSpec,
};

const ACTIVE: &str = "('Created', 'Queued', 'InProgress', 'Ready', 'Baking')";

/// Whether the environment has a deployment that has not finished.
pub async fn has_active(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM deployments WHERE environment_id = ? AND status IN {ACTIVE})"
    ))
    .bind(environment_id)
    .fetch_one(db)
    .await
}

/// How many deployments are in each unfinished status, for the metrics.
pub async fn count_active_by_status(
    db: impl SqliteExecutor<'_>,
) -> Result<Vec<(DeploymentStatus, i64)>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT status, COUNT(*) FROM deployments WHERE status IN {ACTIVE} GROUP BY status"
    ))
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_list_matches_the_domain() {
        let active: Vec<String> = DeploymentStatus::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .map(|s| format!("'{s}'"))
            .collect();
        assert_eq!(ACTIVE, format!("({})", active.join(", ")));
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeploymentRow {
    pub id: i64,
    pub environment_id: i64,
    pub environment: String,
    pub release_id: i64,
    pub version: String,
    pub image: String,
    pub git_commit: Option<String>,
    pub codedeploy_id: Option<String>,
    pub deployment_config: String,
    pub status: DeploymentStatus,
    pub rolled_back: bool,
    pub task_definition_arn: Option<String>,
    pub lifecycle: Json<Vec<LifecycleEventState>>,
    pub task_sets: Json<Vec<TaskSetState>>,
    pub green_weight: f64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    /// Set when ECS's own controller runs the deployment.
    pub service_deployment_arn: Option<String>,
    /// ECS's status word, beside the shared `status`.
    pub cloud_status: Option<ServiceDeploymentStatus>,
    pub hooks: Json<Vec<HookState>>,
    /// The ECS settings it was started with.
    pub ecs_deployment: Option<Json<EcsDeploymentSpec>>,
}

impl DeploymentRow {
    /// The ECS settings it was started with, parsed (ECS's controller only).
    pub fn ecs_settings(&self) -> Option<EcsDeploymentSettings> {
        let spec = self.ecs_deployment.as_ref()?;
        EcsDeploymentSettings::parse(&spec.0, "ecs_deployment").ok()
    }

    pub fn controller(&self) -> DeploymentController {
        if self.service_deployment_arn.is_some() {
            DeploymentController::Ecs
        } else {
            DeploymentController::CodeDeploy
        }
    }
}

const SELECT: &str = "SELECT d.id, d.environment_id, e.name AS environment, d.release_id, r.version, r.image, r.git_commit,
        d.codedeploy_id, d.deployment_config, d.status, d.rolled_back, d.task_definition_arn, d.lifecycle,
        d.task_sets, d.green_weight, d.error_code, d.error_message, d.created_by, d.created_at, d.updated_at,
        d.completed_at, d.service_deployment_arn, d.cloud_status, d.hooks, d.ecs_deployment
    FROM deployments d JOIN environments e ON e.id = d.environment_id JOIN releases r ON r.id = d.release_id";

pub async fn find(
    db: impl SqliteExecutor<'_>,
    id: i64,
) -> Result<Option<DeploymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE d.id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The deployment recorded for a CodeDeploy deployment id, if any.
pub async fn find_by_codedeploy_id(
    db: impl SqliteExecutor<'_>,
    codedeploy_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM deployments WHERE codedeploy_id = ?")
        .bind(codedeploy_id)
        .fetch_optional(db)
        .await
}

/// The deployment recorded for an ECS service deployment ARN, if any.
pub async fn find_by_service_deployment_arn(
    db: impl SqliteExecutor<'_>,
    arn: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM deployments WHERE service_deployment_arn = ?")
        .bind(arn)
        .fetch_optional(db)
        .await
}

pub async fn find_by_idempotency_key(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    key: &str,
) -> Result<Option<DeploymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE d.environment_id = ? AND d.idempotency_key = ?"
    ))
    .bind(environment_id)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// The environment's unfinished deployment, if it has one.
pub async fn active(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
) -> Result<Option<DeploymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE d.environment_id = ? AND d.status IN {ACTIVE} ORDER BY d.id DESC LIMIT 1"
    ))
    .bind(environment_id)
    .fetch_optional(db)
    .await
}

/// Unfinished deployments, for the tracker to resume.
pub async fn unfinished(db: impl SqliteExecutor<'_>) -> Result<Vec<DeploymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE d.status IN {ACTIVE} ORDER BY d.id"
    ))
    .fetch_all(db)
    .await
}

/// The latest succeeded deployments of an environment, newest first.
pub async fn succeeded(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    limit: i64,
) -> Result<Vec<DeploymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE d.environment_id = ? AND d.status = 'Succeeded' ORDER BY d.id DESC LIMIT ?"
    ))
    .bind(environment_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub struct NewDeploymentRow<'a> {
    pub environment_id: i64,
    pub release_id: i64,
    /// The controller's id of the deployment.
    pub started: StartedAs<'a>,
    pub deployment_config: &'a str,
    pub task_definition_arn: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub created_by: &'a str,
    pub now: i64,
}

/// How the cloud knows a deployment.
#[derive(Debug, Clone, Copy)]
pub enum StartedAs<'a> {
    CodeDeploy {
        deployment_id: &'a str,
    },
    Ecs {
        service_deployment_arn: &'a str,
        settings: &'a EcsDeploymentSpec,
    },
}

pub async fn insert(
    db: impl SqliteExecutor<'_>,
    row: &NewDeploymentRow<'_>,
) -> Result<i64, sqlx::Error> {
    let (codedeploy_id, service_deployment_arn, settings) = match row.started {
        StartedAs::CodeDeploy { deployment_id } => (Some(deployment_id), None, None),
        StartedAs::Ecs {
            service_deployment_arn,
            settings,
        } => (None, Some(service_deployment_arn), Some(Json(settings))),
    };
    sqlx::query_scalar(
        "INSERT INTO deployments (environment_id, release_id, codedeploy_id, service_deployment_arn,
             ecs_deployment, deployment_config, status, task_definition_arn, idempotency_key,
             created_by, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'Created', ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(row.environment_id)
    .bind(row.release_id)
    .bind(codedeploy_id)
    .bind(service_deployment_arn)
    .bind(settings)
    .bind(row.deployment_config)
    .bind(row.task_definition_arn)
    .bind(row.idempotency_key)
    .bind(row.created_by)
    .bind(row.now)
    .bind(row.now)
    .fetch_one(db)
    .await
}

/// The observed state of a deployment.
pub struct Observed<'a> {
    pub status: DeploymentStatus,
    pub rolled_back: bool,
    pub lifecycle: &'a [LifecycleEventState],
    pub task_sets: &'a [TaskSetState],
    pub green_weight: f64,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub completed_at: Option<i64>,
    /// ECS's status and hooks, for a deployment of its own controller.
    pub native: Option<(ServiceDeploymentStatus, &'a [HookState])>,
    pub now: i64,
}

pub async fn update_observed(
    db: impl SqliteExecutor<'_>,
    id: i64,
    o: &Observed<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deployments SET status = ?, rolled_back = ?, lifecycle = ?, task_sets = ?, green_weight = ?,
             error_code = ?, error_message = ?, completed_at = ?, updated_at = ?,
             cloud_status = COALESCE(?, cloud_status), hooks = COALESCE(?, hooks)
         WHERE id = ?",
    )
    .bind(o.status)
    .bind(o.rolled_back)
    .bind(Json(o.lifecycle))
    .bind(Json(o.task_sets))
    .bind(o.green_weight)
    .bind(o.error_code)
    .bind(o.error_message)
    .bind(o.completed_at)
    .bind(o.now)
    .bind(o.native.map(|(status, _)| status))
    .bind(o.native.map(|(_, hooks)| Json(hooks)))
    .bind(id)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn add_traffic_sample(
    db: impl SqliteExecutor<'_>,
    id: i64,
    at: i64,
    green_weight: f64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO traffic_samples (deployment_id, at, green_weight) VALUES (?, ?, ?)")
        .bind(id)
        .bind(at)
        .bind(green_weight)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn traffic_samples(
    db: impl SqliteExecutor<'_>,
    id: i64,
) -> Result<Vec<(i64, f64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, green_weight FROM traffic_samples WHERE deployment_id = ? ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// An environment's deployments, newest first.
pub async fn for_environment(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    limit: i64,
) -> Result<Vec<DeploymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE d.environment_id = ? ORDER BY d.id DESC LIMIT ?"
    ))
    .bind(environment_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The latest deployment of a release that registered a task definition.
pub async fn latest_with_task_definition(
    db: impl SqliteExecutor<'_>,
    release_id: i64,
) -> Result<Option<DeploymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE d.release_id = ? AND d.task_definition_arn IS NOT NULL ORDER BY d.id DESC LIMIT 1"
    ))
    .bind(release_id)
    .fetch_optional(db)
    .await
}
