//! Read models for the dashboard: filtered release history, each release's
//! deployments and the DORA figures, computed in SQL so a page costs a few
//! index lookups however long the history is.

use super::{Page, PageRequest};
use sqlx::{FromRow, QueryBuilder, Sqlite, SqliteExecutor};
use switchyard_domain::deployment::DeploymentStatus;
use switchyard_domain::environment::Platform;

/// The outcome of a release's latest deployment, as `releases.outcome`
/// stores it (kept by triggers, see migrations/0007_sessions.sql).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    NotDeployed,
    InProgress,
    Succeeded,
    Failed,
    RolledBack,
    Stopped,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Succeeded,
        Outcome::InProgress,
        Outcome::RolledBack,
        Outcome::Failed,
        Outcome::Stopped,
        Outcome::NotDeployed,
    ];

    /// The column's value; `None` for never deployed.
    pub fn column(self) -> Option<&'static str> {
        match self {
            Outcome::NotDeployed => None,
            Outcome::InProgress => Some("in_progress"),
            Outcome::Succeeded => Some("succeeded"),
            Outcome::Failed => Some("failed"),
            Outcome::RolledBack => Some("rolled_back"),
            Outcome::Stopped => Some("stopped"),
        }
    }

    /// The query-string value.
    pub fn as_str(self) -> &'static str {
        self.column().unwrap_or("not_deployed")
    }

    pub fn parse(value: &str) -> Option<Outcome> {
        Self::ALL.into_iter().find(|o| o.as_str() == value)
    }

    pub fn from_column(value: Option<&str>) -> Outcome {
        value.and_then(Self::parse).unwrap_or(Outcome::NotDeployed)
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::NotDeployed => "not deployed",
            Outcome::InProgress => "in progress",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled back",
            Outcome::Stopped => "stopped",
        }
    }
}

/// Which releases of an environment to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseFilter {
    pub outcome: Option<Outcome>,
    pub author: Option<String>,
    /// Recorded at or after (epoch ms).
    pub from: Option<i64>,
    /// Recorded before (epoch ms).
    pub to: Option<i64>,
}

#[derive(Debug, Clone, FromRow)]
pub struct ReleaseHistoryRow {
    pub id: i64,
    pub version: String,
    pub image: String,
    pub git_commit: Option<String>,
    pub author: String,
    pub message: String,
    pub recorded_by: String,
    pub created_at: i64,
    pub outcome: Option<String>,
}

/// A page of an environment's releases matching `filter`, newest first.
pub async fn release_page(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    filter: &ReleaseFilter,
    request: PageRequest,
) -> Result<Page<ReleaseHistoryRow>, sqlx::Error> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT r.id, r.version, r.image, r.git_commit, r.author, r.message, r.recorded_by,
                r.created_at, r.outcome
         FROM releases r WHERE r.environment_id = ",
    );
    q.push_bind(environment_id);
    match filter.outcome.map(Outcome::column) {
        Some(Some(value)) => {
            q.push(" AND r.outcome = ").push_bind(value);
        }
        Some(None) => {
            q.push(" AND r.outcome IS NULL");
        }
        None => {}
    }
    if let Some(author) = &filter.author {
        q.push(" AND r.author = ").push_bind(author.clone());
    }
    if let Some(from) = filter.from {
        q.push(" AND r.created_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        q.push(" AND r.created_at < ").push_bind(to);
    }
    if filter.from.is_some() || filter.to.is_some() {
        // A time range walks (environment, created_at, id): the same order
        // as ids (both grow as releases are recorded), but the range is an
        // index range instead of a filter over every newer release.
        if let Some(before) = request.before {
            q.push(" AND (r.created_at, r.id) < ((SELECT created_at FROM releases WHERE id = ")
                .push_bind(before)
                .push("), ")
                .push_bind(before)
                .push(")");
        }
        q.push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ");
    } else {
        q.push(" AND r.id < ")
            .push_bind(request.before_bound())
            .push(" ORDER BY r.id DESC LIMIT ");
    }
    q.push_bind(request.fetch_limit());
    let rows = q.build_query_as().fetch_all(db).await?;
    Ok(Page::from_rows(rows, request, |r: &ReleaseHistoryRow| r.id))
}

#[derive(Debug, Clone, FromRow)]
pub struct ReleaseDeploymentRow {
    pub id: i64,
    pub release_id: i64,
    pub status: DeploymentStatus,
    pub rolled_back: bool,
    pub deployment_config: String,
    pub created_by: String,
    pub created_at: i64,
    pub completed_at: Option<i64>,
}

/// The deployments of these releases, newest first.
pub async fn deployments_of_releases(
    db: impl SqliteExecutor<'_>,
    release_ids: &[i64],
) -> Result<Vec<ReleaseDeploymentRow>, sqlx::Error> {
    if release_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT id, release_id, status, rolled_back, deployment_config, created_by, created_at,
                completed_at
         FROM deployments WHERE release_id IN (",
    );
    let mut ids = q.separated(", ");
    for id in release_ids {
        ids.push_bind(*id);
    }
    q.push(") ORDER BY id DESC");
    q.build_query_as().fetch_all(db).await
}

/// The environment a deployment belongs to, even a deleted one.
#[derive(Debug, Clone, FromRow)]
pub struct DeploymentContext {
    pub platform: Platform,
    pub prod_url: Option<String>,
    pub deleted: bool,
}

pub async fn deployment_context(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
) -> Result<Option<DeploymentContext>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.platform, e.prod_url, e.deleted_at IS NOT NULL AS deleted
         FROM deployments d JOIN environments e ON e.id = d.environment_id WHERE d.id = ?",
    )
    .bind(deployment_id)
    .fetch_optional(db)
    .await
}

/// The newest audit event of a deployment: what its rendered state includes.
pub async fn last_event_id(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events WHERE deployment_id = ?")
        .bind(deployment_id)
        .fetch_one(db)
        .await
}

/// The newest audit event of a pipeline run (its votes and approvals
/// included): what its rendered state includes.
pub async fn last_run_event_id(
    db: impl SqliteExecutor<'_>,
    run_id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(MAX(id), 0) FROM events WHERE json_extract(detail, '$.pipeline_run_id') = ?",
    )
    .bind(run_id)
    .fetch_one(db)
    .await
}

/// The traffic samples of one pixel column of a chart: enough to draw the
/// column's steps (where it starts, its extremes, where it ends) however
/// many samples fell into it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrafficColumn {
    pub column: i64,
    pub first_at: i64,
    pub first_weight: f64,
    pub low: f64,
    pub high: f64,
    pub last_at: i64,
    pub last_weight: f64,
    pub samples: i64,
}

/// A deployment's traffic samples reduced in SQL to `columns` columns over
/// `[start, start + span)` (samples outside clamp to the edge columns),
/// oldest first: a chart costs one row per pixel column, not one per sample.
///
/// One grouped pass over the deployment's samples. The first and last
/// sample of a column come out of MIN and MAX over `at` and the weight
/// packed into one integer (the weight in hundredths of a percent below
/// the time): window functions doing the same take twice as long.
pub async fn traffic_columns(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
    start: i64,
    span: i64,
    columns: i64,
) -> Result<Vec<TrafficColumn>, sqlx::Error> {
    let rows: Vec<PackedColumn> = sqlx::query_as(
        "SELECT MIN(MAX((at - ?1) * ?2 / ?3, 0), ?2 - 1) AS column,
                MIN(at * 100000 + CAST(ROUND(green_weight * 100) AS INTEGER)) AS first,
                MAX(at * 100000 + CAST(ROUND(green_weight * 100) AS INTEGER)) AS last,
                MIN(green_weight) AS low, MAX(green_weight) AS high, COUNT(*) AS samples
         FROM traffic_samples WHERE deployment_id = ?4
         GROUP BY column ORDER BY column",
    )
    .bind(start)
    .bind(columns.max(1))
    .bind(span.max(1))
    .bind(deployment_id)
    .fetch_all(db)
    .await?;
    let unpack = |key: i64| {
        (
            key.div_euclid(100_000),
            key.rem_euclid(100_000) as f64 / 100.0,
        )
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let (first_at, first_weight) = unpack(r.first);
            let (last_at, last_weight) = unpack(r.last);
            TrafficColumn {
                column: r.column,
                first_at,
                first_weight,
                low: r.low,
                high: r.high,
                last_at,
                last_weight,
                samples: r.samples,
            }
        })
        .collect())
}

#[derive(FromRow)]
struct PackedColumn {
    column: i64,
    first: i64,
    last: i64,
    low: f64,
    high: f64,
    samples: i64,
}

/// When the deployment's last traffic sample was taken.
pub async fn last_sample_at(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT MAX(at) FROM traffic_samples WHERE deployment_id = ?")
        .bind(deployment_id)
        .fetch_one(db)
        .await
}

/// When the deployment's green weight first reached `weight` (half a
/// percent of rounding allowed).
pub async fn first_reached(
    db: impl SqliteExecutor<'_>,
    deployment_id: i64,
    weight: f64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(at) FROM traffic_samples WHERE deployment_id = ? AND green_weight >= ?",
    )
    .bind(deployment_id)
    .bind(weight - 0.5)
    .fetch_one(db)
    .await
}

/// Who may vote on approvals at all: approvers and admins, by name.
pub async fn approvers(db: impl SqliteExecutor<'_>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM users WHERE role IN ('approver', 'admin') ORDER BY name")
        .fetch_all(db)
        .await
}

/// Pending approvals per environment id.
pub async fn pending_approvals_by_environment(
    db: impl SqliteExecutor<'_>,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT environment_id, COUNT(*) FROM approvals WHERE state = 'pending' GROUP BY environment_id",
    )
    .fetch_all(db)
    .await
}

/// The four DORA measures of one environment over `[from, to)`, by when
/// deployments finished. Durations are milliseconds.
#[derive(Debug, Clone, Default, PartialEq, FromRow)]
pub struct DoraRow {
    /// Deployments that finished in the window.
    pub finished: i64,
    pub succeeded: i64,
    /// Failed, stopped or rolled back.
    pub failed: i64,
    pub lead_time_avg: Option<f64>,
    pub restore_avg: Option<f64>,
    /// Failed deployments whose service was restored (by their rollback or
    /// a later successful deployment).
    pub restored: i64,
    pub lead_time_median: Option<i64>,
}

/// When production traffic was fully on the new release: the first sample
/// at 100 %, or the completion when no sample was kept.
const SHIFTED_AT: &str = "COALESCE((SELECT MIN(t.at) FROM traffic_samples t
        WHERE t.deployment_id = d.id AND t.green_weight >= 100), d.completed_at)";

/// When service was back after a failed deployment: the end of its own
/// rollback, else the next successful deployment's completion.
const RESTORED_AT: &str = "CASE WHEN d.rolled_back = 1 THEN d.completed_at ELSE
        (SELECT MIN(s.completed_at) FROM deployments s
         WHERE s.environment_id = d.environment_id AND s.status = 'Succeeded'
           AND s.rolled_back = 0 AND s.completed_at > d.completed_at) END";

const SUCCEEDED: &str = "d.status = 'Succeeded' AND d.rolled_back = 0";
const FAILED: &str = "(d.status IN ('Failed', 'Stopped') OR d.rolled_back = 1)";

pub async fn dora(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    from: i64,
    to: i64,
) -> Result<DoraRow, sqlx::Error> {
    // One pass over the window's deployments (materialized once), then the
    // aggregates and the median lead time over it.
    sqlx::query_as(&format!(
        "WITH w AS MATERIALIZED (
             SELECT {SUCCEEDED} AS ok, {FAILED} AS bad,
                    CASE WHEN {SUCCEEDED} THEN {SHIFTED_AT} - r.created_at END AS lead,
                    CASE WHEN {FAILED} THEN {RESTORED_AT} - d.created_at END AS restore
             FROM deployments d JOIN releases r ON r.id = d.release_id
             WHERE d.environment_id = ? AND d.completed_at IS NOT NULL
               AND d.completed_at >= ? AND d.completed_at < ?)
         SELECT COUNT(*) AS finished,
                COALESCE(SUM(ok), 0) AS succeeded,
                COALESCE(SUM(bad), 0) AS failed,
                AVG(lead) AS lead_time_avg,
                AVG(restore) AS restore_avg,
                COUNT(restore) AS restored,
                (SELECT lead FROM w WHERE lead IS NOT NULL ORDER BY lead
                 LIMIT 1 OFFSET (SELECT (COUNT(lead) - 1) / 2 FROM w)) AS lead_time_median
         FROM w"
    ))
    .bind(environment_id)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await
}

/// The authors of an environment's latest releases, for the filter's
/// suggestions: a bounded scan, however long the history.
pub async fn recent_authors(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT author FROM
             (SELECT author FROM releases WHERE environment_id = ? ORDER BY id DESC LIMIT 500)
         ORDER BY author LIMIT ?",
    )
    .bind(environment_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    async fn exec(store: &Store, sql: &str) {
        let mut tx = store.begin().await.unwrap();
        sqlx::raw_sql(sql).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// One environment; releases recorded at t=0, 100 and 200 s; their
    /// deployments: one succeeded (fully shifted at 160 s), one rolled back
    /// (started 300 s, back at 360 s), one failed without rollback
    /// (started 400 s) and restored by a success at 700 s.
    async fn seeded() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        exec(
            &store,
            "INSERT INTO environments (id, name, platform, created_by, created_at) VALUES (1, 'web', 'local', 'a', 0);
             INSERT INTO releases (id, environment_id, version, image, author, message, recorded_by, created_at) VALUES
                 (1, 1, 'v1', 'i', 'ann', '', 'a', 0), (2, 1, 'v2', 'i', 'bob', '', 'a', 100000),
                 (3, 1, 'v3', 'i', 'ann', '', 'a', 200000), (4, 1, 'v4', 'i', 'bob', '', 'a', 250000);
             INSERT INTO deployments (id, environment_id, release_id, deployment_config, status, created_by, created_at, updated_at)
                 VALUES (1, 1, 1, 'c', 'Created', 'a', 60000, 60000), (2, 1, 2, 'c', 'Created', 'a', 300000, 300000),
                        (3, 1, 3, 'c', 'Created', 'a', 400000, 400000), (4, 1, 3, 'c', 'Created', 'a', 600000, 600000);
             INSERT INTO traffic_samples (deployment_id, at, green_weight) VALUES (1, 100000, 10), (1, 160000, 100);
             UPDATE deployments SET status = 'Succeeded', completed_at = 170000 WHERE id = 1;
             UPDATE deployments SET status = 'Stopped', rolled_back = 1, completed_at = 360000 WHERE id = 2;
             UPDATE deployments SET status = 'Failed', completed_at = 450000 WHERE id = 3;",
        )
        .await;
        (dir, store)
    }

    #[tokio::test]
    async fn outcomes_follow_each_release_s_latest_deployment() {
        let (_dir, store) = seeded().await;
        let outcome = |release: i64| {
            let store = store.clone();
            async move {
                sqlx::query_scalar::<_, Option<String>>("SELECT outcome FROM releases WHERE id = ?")
                    .bind(release)
                    .fetch_one(store.reader())
                    .await
                    .unwrap()
            }
        };
        assert_eq!(outcome(1).await.as_deref(), Some("succeeded"));
        assert_eq!(outcome(2).await.as_deref(), Some("rolled_back"));
        // Deployment 4 of release 3 is newer than the failed one.
        assert_eq!(outcome(3).await.as_deref(), Some("in_progress"));
        assert_eq!(outcome(4).await, None);
        let page = |filter: ReleaseFilter| {
            let store = store.clone();
            async move {
                release_page(
                    store.reader(),
                    1,
                    &filter,
                    PageRequest {
                        before: None,
                        limit: 10,
                    },
                )
                .await
                .unwrap()
                .items
                .iter()
                .map(|r| r.version.clone())
                .collect::<Vec<_>>()
            }
        };
        let only = |o| ReleaseFilter {
            outcome: Some(o),
            ..Default::default()
        };
        assert_eq!(page(only(Outcome::NotDeployed)).await, ["v4"]);
        assert_eq!(page(only(Outcome::RolledBack)).await, ["v2"]);
        let anns = ReleaseFilter {
            author: Some("ann".into()),
            from: Some(100_000),
            ..Default::default()
        };
        assert_eq!(page(anns).await, ["v3"]);
    }

    #[tokio::test]
    async fn dora_figures_are_aggregated_in_sql() {
        let (_dir, store) = seeded().await;
        exec(
            &store,
            "UPDATE deployments SET status = 'Succeeded', completed_at = 700000 WHERE id = 4;",
        )
        .await;
        let row = dora(store.reader(), 1, 0, 1_000_000).await.unwrap();
        let median = row.lead_time_median;
        assert_eq!(
            (row.finished, row.succeeded, row.failed, row.restored),
            (4, 2, 2, 2)
        );
        // Lead times: 160 s (first sample at 100 %) and 500 s (no samples: completion).
        assert_eq!(row.lead_time_avg, Some(330_000.0));
        assert_eq!(median, Some(160_000));
        // Restored: the rollback after 60 s; the failure after 300 s.
        assert_eq!(row.restore_avg, Some(180_000.0));
        let empty = dora(store.reader(), 1, 800_000, 900_000).await.unwrap();
        assert_eq!(
            (empty.finished, empty.lead_time_avg, empty.lead_time_median),
            (0, None, None)
        );
    }

    #[tokio::test]
    async fn traffic_is_reduced_to_first_extremes_and_last_per_column() {
        let (_dir, store) = seeded().await;
        // Deployment 4: 1,000 samples one second apart, the weight rising by
        // 10 every 100 s and wobbling by one; ten columns of 100 s.
        let values: Vec<String> = (0..1000)
            .map(|i| {
                let w = (i / 100) * 10 + if i % 2 == 0 { 1 } else { 0 };
                format!("(4, {}, {w})", 600_000 + i * 1000)
            })
            .collect();
        exec(
            &store,
            &format!(
                "INSERT INTO traffic_samples (deployment_id, at, green_weight) VALUES {};",
                values.join(", ")
            ),
        )
        .await;
        let columns = traffic_columns(store.reader(), 4, 600_000, 1_000_000, 10)
            .await
            .unwrap();
        assert_eq!(columns.len(), 10);
        let third = &columns[2];
        assert_eq!(
            (third.column, third.first_at, third.last_at, third.samples),
            (2, 800_000, 899_000, 100)
        );
        assert_eq!(
            (third.first_weight, third.low, third.high, third.last_weight),
            (21.0, 20.0, 21.0, 20.0)
        );
        // Samples outside the window land in the edge columns.
        let narrow = traffic_columns(store.reader(), 4, 700_000, 100_000, 4)
            .await
            .unwrap();
        assert_eq!(narrow.len(), 4);
        assert_eq!(
            (narrow[0].first_at, narrow[3].last_at),
            (600_000, 1_599_000)
        );
        assert_eq!(
            last_sample_at(store.reader(), 4).await.unwrap(),
            Some(1_599_000)
        );
        assert_eq!(
            first_reached(store.reader(), 4, 30.0).await.unwrap(),
            Some(900_000)
        );
        assert_eq!(first_reached(store.reader(), 4, 100.0).await.unwrap(), None);
    }
}
