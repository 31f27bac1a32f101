//! Releases: append-only rows, paged newest first by keyset.

use super::inline_reader::InlineReader;
use super::{Page, PageRequest};
use sqlx::{FromRow, SqliteExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct ReleaseRow {
    pub id: i64,
    pub version: String,
    pub image: String,
    pub git_commit: Option<String>,
    pub author: String,
    pub message: String,
    pub recorded_by: String,
    pub created_at: i64,
}

macro_rules! columns {
    () => {
        "id, version, image, git_commit, author, message, recorded_by, created_at"
    };
}

#[derive(Debug, Clone)]
pub struct NewReleaseRow<'a> {
    pub environment_id: i64,
    pub version: &'a str,
    pub image: &'a str,
    pub git_commit: Option<&'a str>,
    pub author: &'a str,
    pub message: &'a str,
    pub recorded_by: &'a str,
    pub created_at: i64,
}

pub async fn insert(
    db: impl SqliteExecutor<'_>,
    row: &NewReleaseRow<'_>,
) -> Result<ReleaseRow, sqlx::Error> {
    sqlx::query_as(concat!(
        // Clustered by environment, releases have no rowid to number them
        // (migration 0008): the id is one past the largest, as a rowid's
        // was; the write transaction keeps it from racing.
        "INSERT INTO releases (id, environment_id, version, image, git_commit, author, message, recorded_by, created_at)
         VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM releases), ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
        columns!()
    ))
    .bind(row.environment_id)
    .bind(row.version)
    .bind(row.image)
    .bind(row.git_commit)
    .bind(row.author)
    .bind(row.message)
    .bind(row.recorded_by)
    .bind(row.created_at)
    .fetch_one(db)
    .await
}

/// The rows of a page of an environment's releases: newest first, strictly
/// before the cursor, the environment found by its name in the same query.
const PAGE_BY_ENVIRONMENT_NAME: &str =
    "SELECT r.id, r.version, r.image, r.git_commit, r.author, r.message, r.recorded_by, r.created_at
     FROM releases r JOIN environments e ON e.id = r.environment_id
     WHERE e.name = ? AND e.deleted_at IS NULL AND r.id < ?
     ORDER BY r.id DESC LIMIT ?";

/// A release as the page query yields it, borrowed from SQLite's current
/// row: a page is written out without copying its 350 strings first.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseRef<'r> {
    pub id: i64,
    pub version: &'r str,
    pub image: &'r str,
    pub git_commit: Option<&'r str>,
    pub author: &'r str,
    pub message: &'r str,
    pub recorded_by: &'r str,
    pub created_at: i64,
}

impl ReleaseRef<'_> {
    pub fn to_row(&self) -> ReleaseRow {
        ReleaseRow {
            id: self.id,
            version: self.version.to_owned(),
            image: self.image.to_owned(),
            git_commit: self.git_commit.map(str::to_owned),
            author: self.author.to_owned(),
            message: self.message.to_owned(),
            recorded_by: self.recorded_by.to_owned(),
            created_at: self.created_at,
        }
    }
}

/// How a visited page ended: how many releases it had, and the cursor of
/// the next page if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageEnd {
    pub visited: usize,
    pub next_before: Option<i64>,
}

/// Hands each release of a page of an environment's releases to `visit`,
/// read inline (every dashboard and script polls this; see
/// `inline_reader`). An empty page can mean the environment does not
/// exist; the caller tells the two apart.
pub fn visit_page_by_environment_name(
    reader: &InlineReader,
    environment: &str,
    request: PageRequest,
    mut visit: impl FnMut(&ReleaseRef<'_>),
) -> rusqlite::Result<PageEnd> {
    reader.with(|db| {
        let mut statement = db.prepare_cached(PAGE_BY_ENVIRONMENT_NAME)?;
        let mut rows =
            statement.query((environment, request.before_bound(), request.fetch_limit()))?;
        let mut end = PageEnd {
            visited: 0,
            next_before: None,
        };
        let mut last = None;
        while let Some(row) = rows.next()? {
            if end.visited == request.limit as usize {
                // The one row past the limit only says that there is more.
                end.next_before = last;
                break;
            }
            let release = ReleaseRef {
                id: row.get(0)?,
                version: text(row, 1)?,
                image: text(row, 2)?,
                git_commit: row.get_ref(3)?.as_str_or_null().map_err(|e| bad(3, e))?,
                author: text(row, 4)?,
                message: text(row, 5)?,
                recorded_by: text(row, 6)?,
                created_at: row.get(7)?,
            };
            visit(&release);
            last = Some(release.id);
            end.visited += 1;
        }
        Ok(end)
    })
}

fn text<'r>(row: &'r rusqlite::Row<'_>, index: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(index)?.as_str().map_err(|e| bad(index, e))
}

fn bad(index: usize, error: rusqlite::types::FromSqlError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(error))
}

/// A page of an environment's releases as owned rows (see
/// `visit_page_by_environment_name`), as `page_by_environment_name_sqlx`
/// returns them: `switchyard-bench releases` compares the two drivers on it.
pub fn page_by_environment_name(
    reader: &InlineReader,
    environment: &str,
    request: PageRequest,
) -> rusqlite::Result<Page<ReleaseRow>> {
    let mut items = Vec::with_capacity(request.limit as usize);
    let end = visit_page_by_environment_name(reader, environment, request, |release| {
        items.push(release.to_row())
    })?;
    Ok(Page {
        items,
        next_before: end.next_before,
    })
}

/// The same page through sqlx's pool, for `switchyard-bench releases` to
/// measure the two drivers side by side.
pub async fn page_by_environment_name_sqlx(
    db: impl SqliteExecutor<'_>,
    environment: &str,
    request: PageRequest,
) -> Result<Page<ReleaseRow>, sqlx::Error> {
    let rows: Vec<ReleaseRow> = sqlx::query_as(PAGE_BY_ENVIRONMENT_NAME)
        .bind(environment)
        .bind(request.before_bound())
        .bind(request.fetch_limit())
        .fetch_all(db)
        .await?;
    Ok(Page::from_rows(rows, request, |r| r.id))
}

pub async fn count(db: impl SqliteExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM releases")
        .fetch_one(db)
        .await
}

pub async fn find_by_version(
    db: impl SqliteExecutor<'_>,
    environment_id: i64,
    version: &str,
) -> Result<Option<ReleaseRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM releases WHERE environment_id = ? AND version = ?"
    ))
    .bind(environment_id)
    .bind(version)
    .fetch_optional(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PageRequest, Store};
    use sqlx::{Connection, Executor};

    /// A data dir whose database stopped at migration 0007 (releases by
    /// rowid), holding two environments' interleaved releases and a
    /// deployment.
    async fn database_before_clustering() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join(crate::store::DATABASE_FILE))
            .create_if_missing(true)
            .foreign_keys(true);
        let mut db = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let mut migrator = sqlx::migrate!("./migrations");
        let before = migrator
            .migrations
            .iter()
            .position(|m| m.version == 8)
            .expect("migration 0008");
        migrator.migrations = migrator.migrations[..before].to_vec().into();
        migrator.run(&mut db).await.unwrap();
        db.execute(
            "INSERT INTO environments (id, name, platform, created_by, created_at)
                 VALUES (1, 'web', 'local', 'a', 0), (2, 'api', 'local', 'a', 0);
             INSERT INTO releases (id, environment_id, version, image, git_commit, author, message, recorded_by, created_at)
                 VALUES (1, 1, 'v1', 'i1', NULL, 'ann', 'first', 'ci', 10),
                        (2, 2, 'v1', 'j1', 'abc1234', 'bob', '', 'ci', 20),
                        (3, 1, 'v2', 'i2', NULL, 'ann', 'second', 'ci', 30),
                        (7, 1, 'v3', 'i3', NULL, 'cy', 'third', 'ci', 40);
             INSERT INTO deployments (id, environment_id, release_id, deployment_config, status, created_by, created_at, updated_at)
                 VALUES (1, 1, 3, 'c', 'Created', 'a', 50, 50);
             UPDATE deployments SET status = 'Succeeded', completed_at = 60 WHERE id = 1;",
        )
        .await
        .unwrap();
        db.close().await.unwrap();
        dir
    }

    #[tokio::test]
    async fn a_database_with_dangling_foreign_keys_is_refused_by_name() {
        let dir = database_before_clustering().await;
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join(crate::store::DATABASE_FILE))
            .foreign_keys(false);
        let mut db = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        db.execute("DELETE FROM releases WHERE id = 3")
            .await
            .unwrap();
        db.close().await.unwrap();
        let refused = Store::open(dir.path()).await.unwrap_err().to_string();
        assert!(
            refused.contains(
                "foreign keys point nowhere (1 of them, the first in deployments, to releases)"
            ),
            "{refused}"
        );
    }

    async fn outcome(store: &Store, release: i64) -> Option<String> {
        sqlx::query_scalar("SELECT outcome FROM releases WHERE id = ?")
            .bind(release)
            .fetch_one(store.reader())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn clustering_by_environment_keeps_every_release_and_what_refers_to_it() {
        let dir = database_before_clustering().await;
        let store = Store::open(dir.path()).await.unwrap();
        let web = page_by_environment_name(
            store.inline_reader(),
            "web",
            PageRequest {
                before: None,
                limit: 2,
            },
        )
        .unwrap();
        let ids: Vec<i64> = web.items.iter().map(|r| r.id).collect();
        assert_eq!(ids, [7, 3]);
        assert_eq!(web.next_before, Some(3));
        let third = &web.items[0];
        assert_eq!(
            (
                third.version.as_str(),
                third.image.as_str(),
                third.author.as_str()
            ),
            ("v3", "i3", "cy")
        );
        assert_eq!(outcome(&store, 3).await.as_deref(), Some("succeeded"));
        assert_eq!(outcome(&store, 1).await, None);
        let api = find_by_version(store.reader(), 2, "v1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((api.id, api.git_commit.as_deref()), (2, Some("abc1234")));

        // New releases are numbered past the largest id, in any environment.
        let mut tx = store.begin().await.unwrap();
        let new = NewReleaseRow {
            environment_id: 2,
            version: "v2",
            image: "j2",
            git_commit: None,
            author: "bob",
            message: "",
            recorded_by: "ci",
            created_at: 70,
        };
        let recorded = insert(&mut *tx, &new).await.unwrap();
        assert_eq!(recorded.id, 8);
        let again = insert(&mut *tx, &new).await.unwrap_err();
        assert!(crate::store::is_unique_violation(&again), "{again}");
        // The outcome triggers were rebuilt with the table.
        tx.execute(
            "INSERT INTO deployments (id, environment_id, release_id, deployment_config, status, created_by, created_at, updated_at)
                 VALUES (2, 2, 8, 'c', 'Created', 'a', 80, 80)",
        )
        .await
        .unwrap();
        // And deployments still refer to releases that exist.
        let dangling = tx
            .execute(
                "INSERT INTO deployments (id, environment_id, release_id, deployment_config, status, created_by, created_at, updated_at)
                     VALUES (3, 2, 99, 'c', 'Created', 'a', 80, 80)",
            )
            .await
            .unwrap_err();
        assert!(dangling.to_string().contains("FOREIGN KEY"), "{dangling}");
        tx.commit().await.unwrap();
        assert_eq!(outcome(&store, 8).await.as_deref(), Some("in_progress"));
        store.close().await;
    }
}
