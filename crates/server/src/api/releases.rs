//! `/api/environments/{name}/releases`

use super::{ApiQuery, PageParams, cursor, timestamp};
use crate::extract::{ApiJson, ApiPath, Authenticated, Authorized, Deployer};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Mutex;
use switchyard_api::releases::{RecordRelease, Release, ReleasePage};
use switchyard_core::store::PageRequest;
use switchyard_core::store::releases::{ReleaseRef, ReleaseRow};
use switchyard_domain::ForField;
use switchyard_domain::release::{
    Author, GitCommit, ImageRef, NewRelease, ReleaseMessage, VersionLabel,
};
use switchyard_domain::time::Rfc3339Millis;
use switchyard_domain::user::Role;

/// A release as the API shows it.
fn release_json(row: ReleaseRow) -> Release {
    Release {
        id: row.id,
        version: row.version,
        image: row.image,
        commit: row.git_commit,
        author: row.author,
        message: row.message,
        recorded_by: row.recorded_by,
        created_at: timestamp(row.created_at),
    }
}

/// The release fields of a request, as a validated release; the author
/// defaults to the caller.
pub fn parse_release(
    version: &str,
    image: &str,
    commit: Option<&str>,
    author: Option<&str>,
    message: Option<&str>,
    caller: &str,
) -> Result<NewRelease, Error> {
    Ok(NewRelease {
        version: VersionLabel::parse(version).for_field("version")?,
        image: ImageRef::parse(image).for_field("image")?,
        commit: commit
            .map(|c| GitCommit::parse(c).for_field("commit"))
            .transpose()?,
        author: Author::parse(author.unwrap_or(caller)).for_field("author")?,
        message: ReleaseMessage::parse(message.unwrap_or_default()).for_field("message")?,
    })
}

/// About what one release takes in JSON (a page of 50 is 16 kB).
const RELEASE_JSON_BYTES: usize = 360;

/// Release history, newest first, keyset-paginated.
#[utoipa::path(get, path = "/api/environments/{name}/releases", tag = "releases",
    params(("name" = String, Path, description = "Environment name"), PageParams),
    responses(
        (status = 200, body = ReleasePage),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Bad limit or cursor", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Response, Error> {
    actor.require(Role::Viewer, "reading releases")?;
    let page = params.parse()?;
    // Read the generation before the rows: a write that lands meanwhile makes
    // the stored page stale at once instead of serving it as current.
    let generation = state.app.generation();
    if let Some(body) = state.release_pages.get(&name, page, generation) {
        return Ok(json_response(body));
    }
    let mut writer = ReleasePageWriter::with_capacity(page.limit as usize);
    let end = state
        .app
        .visit_releases(&actor, &name, page, |release| writer.push(release))
        .await?;
    let body = Bytes::from(
        writer
            .finish(cursor(end.next_before))
            .map_err(|e| switchyard_core::app::Error::Internal(e.into()))?,
    );
    state
        .release_pages
        .put(&name, page, generation, body.clone());
    Ok(json_response(body))
}

fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Writes a `ReleasePage` straight from the rows the store visits: no owned
/// copy of each row, no `String` per timestamp.
struct ReleasePageWriter {
    body: Vec<u8>,
    releases: usize,
    failed: Option<serde_json::Error>,
}

/// `Release`, borrowed (a test checks that both write the same JSON).
#[derive(serde::Serialize)]
struct BorrowedRelease<'a> {
    id: i64,
    version: &'a str,
    image: &'a str,
    commit: Option<&'a str>,
    author: &'a str,
    message: &'a str,
    recorded_by: &'a str,
    #[serde(serialize_with = "rfc3339_millis")]
    created_at: i64,
}

fn rfc3339_millis<S: serde::Serializer>(millis: &i64, to: S) -> Result<S::Ok, S::Error> {
    to.collect_str(&Rfc3339Millis(*millis))
}

impl ReleasePageWriter {
    fn with_capacity(releases: usize) -> ReleasePageWriter {
        // Sized for the page up front: growing a 16 kB body by doubling
        // copied it three times.
        let mut body = Vec::with_capacity(64 + releases * RELEASE_JSON_BYTES);
        body.extend_from_slice(br#"{"releases":["#);
        ReleasePageWriter {
            body,
            releases: 0,
            failed: None,
        }
    }

    fn push(&mut self, r: &ReleaseRef<'_>) {
        if self.failed.is_some() {
            return;
        }
        if self.releases > 0 {
            self.body.push(b',');
        }
        self.releases += 1;
        let release = BorrowedRelease {
            id: r.id,
            version: r.version,
            image: r.image,
            commit: r.git_commit,
            author: r.author,
            message: r.message,
            recorded_by: r.recorded_by,
            created_at: r.created_at,
        };
        if let Err(e) = serde_json::to_writer(&mut self.body, &release) {
            self.failed = Some(e);
        }
    }

    fn finish(mut self, next: Option<String>) -> serde_json::Result<Vec<u8>> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.body.extend_from_slice(br#"],"next":"#);
        serde_json::to_writer(&mut self.body, &next)?;
        self.body.push(b'}');
        Ok(self.body)
    }
}

/// Record a release built elsewhere (deployer).
#[utoipa::path(post, path = "/api/environments/{name}/releases", tag = "releases",
    params(("name" = String, Path, description = "Environment name")),
    request_body = RecordRelease,
    responses(
        (status = 201, body = Release),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The version exists in this environment", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn record(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Deployer>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<RecordRelease>,
) -> Result<impl IntoResponse, Error> {
    let new = parse_release(
        &body.version,
        &body.image,
        body.commit.as_deref(),
        body.author.as_deref(),
        body.message.as_deref(),
        &actor.name,
    )?;
    let row = state.app.record_release(&actor, &name, &new).await?;
    Ok((StatusCode::CREATED, Json(release_json(row))))
}

/// Serialized head pages of release history (no cursor), valid while the
/// application's generation is unchanged. The head is read far more often
/// than written (every dashboard and script polls it), and it only changes
/// when a release or environment is written, which bumps the generation.
/// Deeper pages are read once (no one polls them), so they are answered
/// from the database each time and never evict the head.
#[derive(Debug, Default)]
pub struct PageCache {
    /// By environment and page size.
    pages: Mutex<HashMap<(String, u32), (u64, Bytes)>>,
}

impl PageCache {
    const MAX_PAGES: usize = 256;

    fn get(&self, environment: &str, page: PageRequest, generation: u64) -> Option<Bytes> {
        if page.before.is_some() {
            return None;
        }
        let pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        match pages.get(&(environment.to_owned(), page.limit)) {
            Some((g, body)) if *g == generation => Some(body.clone()),
            _ => None,
        }
    }

    fn put(&self, environment: &str, page: PageRequest, generation: u64, body: Bytes) {
        if page.before.is_some() {
            return;
        }
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        if pages.len() >= Self::MAX_PAGES {
            pages.retain(|_, (g, _)| *g == generation);
            if pages.len() >= Self::MAX_PAGES {
                pages.clear();
            }
        }
        pages.insert((environment.to_owned(), page.limit), (generation, body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_writer_writes_what_serde_writes_for_a_release_page() {
        let releases = [
            ReleaseRef {
                id: 9,
                version: "v2 \"quoted\"",
                image: "static:/srv/v2",
                git_commit: Some("0123456789abcdef0123456789abcdef01234567"),
                author: "ann",
                message: "line one\nline two \u{2603}",
                recorded_by: "admin",
                created_at: 1_796_299_200_123,
            },
            ReleaseRef {
                id: 8,
                version: "v1",
                image: "nginx:1.27",
                git_commit: None,
                author: "bob",
                message: "",
                recorded_by: "ci",
                created_at: -1,
            },
        ];
        for (page, next) in [(&releases[..], Some("8".to_owned())), (&[][..], None)] {
            let mut writer = ReleasePageWriter::with_capacity(page.len());
            page.iter().for_each(|r| writer.push(r));
            let expected = serde_json::to_vec(&ReleasePage {
                releases: page.iter().map(|r| release_json(r.to_row())).collect(),
                next: next.clone(),
            })
            .unwrap();
            assert_eq!(
                String::from_utf8(writer.finish(next).unwrap()).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
