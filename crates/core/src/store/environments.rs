//! Environments. Rows are never removed: deletion sets `deleted_at`.

use sqlx::types::Json;
use sqlx::{FromRow, SqliteExecutor};
use std::collections::BTreeMap;
use switchyard_domain::environment::{
    AlarmsSpec, FreezeWindowSpec, MetricGateSpec, Platform, ReadyAction,
};
use switchyard_domain::service_deployment::{DeploymentController, EcsDeploymentSpec};

#[derive(Debug, Clone, FromRow)]
pub struct EnvironmentRow {
    pub id: i64,
    pub name: String,
    pub platform: Platform,
    pub region: Option<String>,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub codedeploy_application: Option<String>,
    pub deployment_group: Option<String>,
    pub pipeline: Option<String>,
    pub prod_listener_arn: Option<String>,
    pub test_listener_arn: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub container_name: String,
    pub container_port: i64,
    pub health_check_path: String,
    pub desired_count: i64,
    pub deployment_config: String,
    pub ready_wait_minutes: Option<i64>,
    pub ready_action: ReadyAction,
    pub termination_wait_minutes: i64,
    pub auto_rollback: bool,
    pub prod_url: Option<String>,
    pub test_url: Option<String>,
    /// Lifecycle event -> function.
    pub hooks: Json<BTreeMap<String, String>>,
    /// The aws-config profile of an `aws` environment.
    pub aws_profile: Option<String>,
    pub deployment_controller: DeploymentController,
    /// The ECS controller's settings (with `DeploymentController::Ecs`).
    pub ecs_deployment: Option<Json<EcsDeploymentSpec>>,
    /// The CloudWatch alarm settings (NULL: the defaults).
    pub alarms: Option<Json<AlarmsSpec>>,
    /// The metric gate settings (NULL: the defaults, off).
    pub metric_gate: Option<Json<MetricGateSpec>>,
    /// The freeze windows, as given ('[]': none).
    pub freeze_windows: Json<Vec<FreezeWindowSpec>>,
}

const COLUMNS: &str = "id, name, platform, region, cluster, service, codedeploy_application, \
     deployment_group, pipeline, prod_listener_arn, test_listener_arn, created_by, created_at, \
     container_name, container_port, health_check_path, desired_count, deployment_config, \
     ready_wait_minutes, ready_action, termination_wait_minutes, auto_rollback, prod_url, test_url, hooks, aws_profile, \
     deployment_controller, ecs_deployment, alarms, metric_gate, freeze_windows";

/// The column values of a new environment.
#[derive(Debug, Clone)]
pub struct NewEnvironmentRow<'a> {
    pub name: &'a str,
    pub platform: Platform,
    pub region: Option<&'a str>,
    pub cluster: Option<&'a str>,
    pub service: Option<&'a str>,
    pub codedeploy_application: Option<&'a str>,
    pub deployment_group: Option<&'a str>,
    pub pipeline: Option<&'a str>,
    pub prod_listener_arn: Option<&'a str>,
    pub test_listener_arn: Option<&'a str>,
    pub created_by: &'a str,
    pub created_at: i64,
    pub container_name: &'a str,
    pub container_port: i64,
    pub health_check_path: &'a str,
    pub desired_count: i64,
    pub deployment_config: &'a str,
    pub ready_wait_minutes: Option<i64>,
    pub ready_action: ReadyAction,
    pub termination_wait_minutes: i64,
    pub auto_rollback: bool,
    pub hooks: &'a BTreeMap<String, String>,
    pub aws_profile: Option<&'a str>,
    pub deployment_controller: DeploymentController,
    pub ecs_deployment: Option<&'a EcsDeploymentSpec>,
    pub alarms: &'a AlarmsSpec,
    pub metric_gate: &'a MetricGateSpec,
    pub freeze_windows: &'a [FreezeWindowSpec],
}

pub async fn insert(
    db: impl SqliteExecutor<'_>,
    row: &NewEnvironmentRow<'_>,
) -> Result<EnvironmentRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO environments (name, platform, region, cluster, service, codedeploy_application,
             deployment_group, pipeline, prod_listener_arn, test_listener_arn, created_by, created_at,
             container_name, container_port, health_check_path, desired_count, deployment_config,
             ready_wait_minutes, ready_action, termination_wait_minutes, auto_rollback, hooks,
             aws_profile, deployment_controller, ecs_deployment, alarms, metric_gate, freeze_windows)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         RETURNING {COLUMNS}"
    ))
    .bind(row.name)
    .bind(row.platform)
    .bind(row.region)
    .bind(row.cluster)
    .bind(row.service)
    .bind(row.codedeploy_application)
    .bind(row.deployment_group)
    .bind(row.pipeline)
    .bind(row.prod_listener_arn)
    .bind(row.test_listener_arn)
    .bind(row.created_by)
    .bind(row.created_at)
    .bind(row.container_name)
    .bind(row.container_port)
    .bind(row.health_check_path)
    .bind(row.desired_count)
    .bind(row.deployment_config)
    .bind(row.ready_wait_minutes)
    .bind(row.ready_action)
    .bind(row.termination_wait_minutes)
    .bind(row.auto_rollback)
    .bind(Json(row.hooks))
    .bind(row.aws_profile)
    .bind(row.deployment_controller)
    .bind(row.ecs_deployment.map(Json))
    .bind(Json(row.alarms))
    .bind(Json(row.metric_gate))
    .bind(Json(row.freeze_windows))
    .fetch_one(db)
    .await
}

/// The live (not deleted) environment with this name.
pub async fn find_by_name(
    db: impl SqliteExecutor<'_>,
    name: &str,
) -> Result<Option<EnvironmentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM environments WHERE name = ? AND deleted_at IS NULL"
    ))
    .bind(name)
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl SqliteExecutor<'_>) -> Result<Vec<EnvironmentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM environments WHERE deleted_at IS NULL ORDER BY name"
    ))
    .fetch_all(db)
    .await
}

pub async fn count(db: impl SqliteExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM environments WHERE deleted_at IS NULL")
        .fetch_one(db)
        .await
}

pub async fn mark_deleted(
    db: impl SqliteExecutor<'_>,
    id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE environments SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Sets the controller and, for ECS, its settings.
pub async fn set_deployment_controller(
    db: impl SqliteExecutor<'_>,
    id: i64,
    controller: DeploymentController,
    ecs_deployment: Option<&EcsDeploymentSpec>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE environments SET deployment_controller = ?, ecs_deployment = ? WHERE id = ?",
    )
    .bind(controller)
    .bind(ecs_deployment.map(Json))
    .bind(id)
    .execute(db)
    .await
    .map(|_| ())
}

/// Sets the CloudWatch alarm settings.
pub async fn set_alarms(
    db: impl SqliteExecutor<'_>,
    id: i64,
    alarms: &AlarmsSpec,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE environments SET alarms = ? WHERE id = ?")
        .bind(Json(alarms))
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Sets the metric gate settings.
pub async fn set_metric_gate(
    db: impl SqliteExecutor<'_>,
    id: i64,
    gate: &MetricGateSpec,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE environments SET metric_gate = ? WHERE id = ?")
        .bind(Json(gate))
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Replaces the freeze windows.
pub async fn set_freeze_windows(
    db: impl SqliteExecutor<'_>,
    id: i64,
    windows: &[FreezeWindowSpec],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE environments SET freeze_windows = ? WHERE id = ?")
        .bind(Json(windows))
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// The cloud resources and URLs a provisioned stack fills in (or clears,
/// with `None`s, when it is destroyed).
#[derive(Debug, Clone, Default)]
pub struct StackResources<'a> {
    pub cluster: Option<&'a str>,
    pub service: Option<&'a str>,
    pub codedeploy_application: Option<&'a str>,
    pub deployment_group: Option<&'a str>,
    pub prod_listener_arn: Option<&'a str>,
    pub test_listener_arn: Option<&'a str>,
    pub prod_url: Option<&'a str>,
    pub test_url: Option<&'a str>,
    pub pipeline: Option<&'a str>,
}

pub async fn set_stack_resources(
    db: impl SqliteExecutor<'_>,
    id: i64,
    r: &StackResources<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE environments SET cluster = ?, service = ?, codedeploy_application = ?, deployment_group = ?,
             prod_listener_arn = ?, test_listener_arn = ?, prod_url = ?, test_url = ?,
             pipeline = ?
         WHERE id = ?",
    )
    .bind(r.cluster)
    .bind(r.service)
    .bind(r.codedeploy_application)
    .bind(r.deployment_group)
    .bind(r.prod_listener_arn)
    .bind(r.test_listener_arn)
    .bind(r.prod_url)
    .bind(r.test_url)
    .bind(r.pipeline)
    .bind(id)
    .execute(db)
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn columns_decode_to_domain_types_and_refuse_unknown_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO environments (name, platform, ready_action, hooks, created_by, created_at)
                 VALUES ('web', 'aws', 'STOP_DEPLOYMENT', '{\"AfterInstall\": \"check\"}', 'a', 0);",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let web = find_by_name(store.reader(), "web").await.unwrap().unwrap();
        assert_eq!(web.platform, Platform::Aws);
        assert_eq!(web.ready_action, ReadyAction::Stop);
        assert_eq!(web.hooks.0["AfterInstall"], "check");

        // The schema's CHECKs keep such values out; were one there, reading it fails.
        let odd = sqlx::query_scalar::<_, Platform>("SELECT 'mars'")
            .fetch_one(store.reader())
            .await
            .unwrap_err();
        assert!(
            odd.to_string().contains("unknown platform \"mars\""),
            "{odd}"
        );
    }
}
