//! Deployments: the current state of each; its history is in events.

use crate::domain::deployment::DeploymentStatus;
use sqlx::SqliteExecutor;

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
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT status, COUNT(*) FROM deployments WHERE status IN {ACTIVE} GROUP BY status"
    ))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(status, n)| DeploymentStatus::parse(&status).ok().map(|s| (s, n)))
        .collect())
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
