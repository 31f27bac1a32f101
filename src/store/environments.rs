//! Environments. Rows are never removed: deletion sets `deleted_at`.

use sqlx::{FromRow, SqliteExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct EnvironmentRow {
    pub id: i64,
    pub name: String,
    pub platform: String,
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
}

const COLUMNS: &str = "id, name, platform, region, cluster, service, codedeploy_application, \
     deployment_group, pipeline, prod_listener_arn, test_listener_arn, created_by, created_at";

/// The column values of a new environment.
#[derive(Debug, Clone, Default)]
pub struct NewEnvironmentRow<'a> {
    pub name: &'a str,
    pub platform: &'a str,
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
}

pub async fn insert(
    db: impl SqliteExecutor<'_>,
    row: &NewEnvironmentRow<'_>,
) -> Result<EnvironmentRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO environments (name, platform, region, cluster, service, codedeploy_application,
             deployment_group, pipeline, prod_listener_arn, test_listener_arn, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
