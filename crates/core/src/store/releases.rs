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
