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
use switchyard_core::store::releases::ReleaseRow;
use switchyard_domain::ForField;
use switchyard_domain::release::{
    Author, GitCommit, ImageRef, NewRelease, ReleaseMessage, VersionLabel,
};
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
    let body = match state.release_pages.get(&name, page, generation) {
        Some(body) => body,
        None => {
            let rows = state.app.releases(&actor, &name, page).await?;
            // Sized for the page up front: growing a 16 kB body by doubling
            // copied it three times.
            let mut body = Vec::with_capacity(64 + rows.items.len() * RELEASE_JSON_BYTES);
            serde_json::to_writer(
                &mut body,
                &ReleasePage {
                    next: cursor(rows.next_before),
                    releases: rows.items.into_iter().map(release_json).collect(),
                },
            )
            .map_err(|e| switchyard_core::app::Error::Internal(e.into()))?;
            let body = Bytes::from(body);
            state
                .release_pages
                .put(&name, page, generation, body.clone());
            body
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
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

/// Serialized release pages, valid while the application's generation is
/// unchanged. Release history is read far more often than written (every
/// dashboard and script polls it), and a page only changes when a release
/// or environment is written, which bumps the generation.
#[derive(Debug, Default)]
pub struct PageCache {
    pages: Mutex<HashMap<(String, PageRequest), (u64, Bytes)>>,
}

impl PageCache {
    const MAX_PAGES: usize = 256;

    fn get(&self, environment: &str, page: PageRequest, generation: u64) -> Option<Bytes> {
        let pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        match pages.get(&(environment.to_owned(), page)) {
            Some((g, body)) if *g == generation => Some(body.clone()),
            _ => None,
        }
    }

    fn put(&self, environment: &str, page: PageRequest, generation: u64, body: Bytes) {
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        if pages.len() >= Self::MAX_PAGES {
            pages.retain(|_, (g, _)| *g == generation);
            if pages.len() >= Self::MAX_PAGES {
                pages.clear();
            }
        }
        pages.insert((environment.to_owned(), page), (generation, body));
    }
}
