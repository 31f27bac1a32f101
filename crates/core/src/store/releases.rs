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
        "INSERT INTO releases (environment_id, version, image, git_commit, author, message, recorded_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
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

/// A page of an environment's releases, read inline (every dashboard and
/// script polls this; see `inline_reader`). An empty page can mean the
/// environment does not exist; the caller tells the two apart.
pub fn page_by_environment_name(
    reader: &InlineReader,
    environment: &str,
    request: PageRequest,
) -> rusqlite::Result<Page<ReleaseRow>> {
    let rows = reader.with(|db| {
        let mut statement = db.prepare_cached(PAGE_BY_ENVIRONMENT_NAME)?;
        let rows = statement.query_map(
            (environment, request.before_bound(), request.fetch_limit()),
            |row| {
                Ok(ReleaseRow {
                    id: row.get(0)?,
                    version: row.get(1)?,
                    image: row.get(2)?,
                    git_commit: row.get(3)?,
                    author: row.get(4)?,
                    message: row.get(5)?,
                    recorded_by: row.get(6)?,
                    created_at: row.get(7)?,
                })
            },
        )?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    })?;
    Ok(Page::from_rows(rows, request, |r| r.id))
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
