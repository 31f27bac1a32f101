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
    let body = Bytes::from(writer.finish(cursor(end.next_before)));
    state
        .release_pages
        .put(&name, page, generation, body.clone());
    Ok(json_response(body))
}

fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Writes a `ReleasePage` straight from the rows the store visits, as
/// serde would write it (a test holds the two to the same bytes) but
/// without its byte-at-a-time escaping: release text seldom needs any, so a
/// string is checked whole and copied.
struct ReleasePageWriter {
    body: Vec<u8>,
    releases: usize,
}

impl ReleasePageWriter {
    fn with_capacity(releases: usize) -> ReleasePageWriter {
        // Sized for the page up front: growing a 16 kB body by doubling
        // copied it three times.
        let mut body = Vec::with_capacity(64 + releases * RELEASE_JSON_BYTES);
        body.extend_from_slice(br#"{"releases":["#);
        ReleasePageWriter { body, releases: 0 }
    }

    /// Appends one release, its fields in `Release`'s order.
    fn push(&mut self, r: &ReleaseRef<'_>) {
        let out = &mut self.body;
        if self.releases > 0 {
            out.push(b',');
        }
        self.releases += 1;
        out.extend_from_slice(br#"{"id":"#);
        out.extend_from_slice(itoa::Buffer::new().format(r.id).as_bytes());
        let texts: [(&[u8], Option<&str>); 6] = [
            (br#","version":"#, Some(r.version)),
            (br#","image":"#, Some(r.image)),
            (br#","commit":"#, r.git_commit),
            (br#","author":"#, Some(r.author)),
            (br#","message":"#, Some(r.message)),
            (br#","recorded_by":"#, Some(r.recorded_by)),
        ];
        for (key, text) in texts {
            out.extend_from_slice(key);
            json_option(out, text);
        }
        out.extend_from_slice(br#","created_at":"#);
        match Rfc3339Millis(r.created_at).ascii() {
            // Digits and separators: nothing to escape.
            Some(text) => {
                out.push(b'"');
                out.extend_from_slice(&text);
                out.push(b'"');
            }
            None => json_string(out, &timestamp(r.created_at)),
        }
        out.push(b'}');
    }

    fn finish(mut self, next: Option<String>) -> Vec<u8> {
        self.body.extend_from_slice(br#"],"next":"#);
        json_option(&mut self.body, next.as_deref());
        self.body.push(b'}');
        self.body
    }
}

fn json_option(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => json_string(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// `text` as a JSON string, escaped as serde_json escapes it.
fn json_string(out: &mut Vec<u8>, text: &str) {
    let needs_escape = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    let bytes = text.as_bytes();
    out.push(b'"');
    // A fold without an early exit, so the check runs many bytes at a time.
    if !bytes.iter().fold(false, |any, &b| any | needs_escape(b)) {
        out.extend_from_slice(bytes);
    } else {
        let mut copied = 0;
        for (at, &b) in bytes.iter().enumerate() {
            if !needs_escape(b) {
                continue;
            }
            out.extend_from_slice(&bytes[copied..at]);
            copied = at + 1;
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                _ => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                }
            }
        }
        out.extend_from_slice(&bytes[copied..]);
    }
    out.push(b'"');
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
        (status = 422, description = "A field is invalid, or a static: image names a directory that is missing or outside the static roots", body = ErrorBody),
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
    fn strings_are_escaped_as_serde_escapes_them() {
        let mut texts: Vec<String> = (0..=0x7fu8)
            .map(|b| format!("a{}z", char::from(b)))
            .collect();
        texts.extend(["", "\u{e9}\u{2603}\u{10348}", "\"\"\\\\", "\n\n"].map(String::from));
        for text in texts {
            let mut ours = Vec::new();
            json_string(&mut ours, &text);
            assert_eq!(ours, serde_json::to_vec(&text).unwrap(), "{text:?}");
        }
    }

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
            ReleaseRef {
                id: -7,
                version: "\\",
                image: "every control \u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f} and \u{7f}",
                git_commit: None,
                author: "\"",
                message: "\u{10348} \\\"",
                recorded_by: "",
                // Past four-digit years, where the timestamp is chrono's.
                created_at: 300_000_000_000_000,
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
                String::from_utf8(writer.finish(next)).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
