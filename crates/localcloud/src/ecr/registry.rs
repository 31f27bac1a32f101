//! The OCI distribution API under `/v2/`, on the local cloud's own
//! listener: the part Docker uses to log in, push and pull. Every request
//! needs HTTP Basic `AWS:<token from GetAuthorizationToken>`. Bodies stream
//! to disk, never through the AWS wire's size limit. Errors are the spec's
//! `{"errors": [{"code", "message", "detail"}]}`.

use super::manifest::{self, Kind, MAX_MANIFEST_BYTES};
use super::reference::{
    Digest, Reference, ReferenceError, parse_content_range, upload_range, valid_repository_name,
};
use super::storage::StagedBlob;
use crate::state::{CloudState, Image, Repository};
use crate::wire::AwsError;
use crate::{LocalCloud, now_millis};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tower::ServiceExt;

const API_VERSION: (&str, &str) = ("docker-distribution-api-version", "registry/2.0");

pub fn router() -> Router<Arc<LocalCloud>> {
    Router::new()
        .route("/v2", any(serve))
        .route("/v2/", any(serve))
        .route("/v2/{*path}", any(serve))
}

/// A registry error: its HTTP status and spec code.
#[derive(Debug)]
pub struct RegistryError {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Value,
    headers: Vec<(header::HeaderName, String)>,
}

impl RegistryError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> RegistryError {
        RegistryError {
            status,
            code,
            message: message.into(),
            detail: Value::Null,
            headers: Vec::new(),
        }
    }

    fn with_detail(mut self, detail: Value) -> RegistryError {
        self.detail = detail;
        self
    }

    fn with_header(mut self, name: header::HeaderName, value: String) -> RegistryError {
        self.headers.push((name, value));
        self
    }

    /// The bytes an upload holds, for a client that sent a chunk out of order.
    pub fn with_range(self, range: String) -> RegistryError {
        self.with_header(header::RANGE, range)
    }

    pub fn name_unknown(repository: &str) -> RegistryError {
        RegistryError::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            super::repository_missing_message(repository),
        )
        .with_detail(json!({"name": repository}))
    }

    fn name_invalid(name: &str) -> RegistryError {
        RegistryError::new(
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            super::reference::invalid_repository_name_message(name),
        )
        .with_detail(json!({"name": name}))
    }

    fn blob_unknown(digest: &Digest) -> RegistryError {
        RegistryError::new(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            format!("blob {digest} is not in this repository"),
        )
        .with_detail(json!({"digest": digest.as_str()}))
    }

    pub fn upload_unknown(id: &str) -> RegistryError {
        RegistryError::new(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            format!(
                "there is no upload {id} in this repository: it was completed, cancelled or never started"
            ),
        )
    }

    pub fn upload_invalid(message: String) -> RegistryError {
        RegistryError::new(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", message)
    }

    pub fn range_invalid(message: String) -> RegistryError {
        RegistryError::new(StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID", message)
    }

    pub fn digest_invalid(message: String, digest: impl std::fmt::Display) -> RegistryError {
        RegistryError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", message)
            .with_detail(json!({"digest": digest.to_string()}))
    }

    fn manifest_unknown(reference: &str) -> RegistryError {
        RegistryError::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            format!("Requested image not found: no image {reference} in this repository"),
        )
    }

    fn manifest_invalid(message: String) -> RegistryError {
        RegistryError::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", message)
    }

    fn manifest_blob_unknown(digest: &Digest, what: &str) -> RegistryError {
        RegistryError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            format!("the manifest references {what} {digest}, which is not in this repository: push it first"),
        )
        .with_detail(json!({"digest": digest.as_str()}))
    }

    fn tag_invalid(message: String) -> RegistryError {
        RegistryError::new(StatusCode::BAD_REQUEST, "TAG_INVALID", message)
    }

    fn unsupported(status: StatusCode, message: String) -> RegistryError {
        RegistryError::new(status, "UNSUPPORTED", message)
    }

    pub fn storage(e: std::io::Error) -> RegistryError {
        RegistryError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            format!("the registry's storage failed: {e}"),
        )
    }

    fn from_reference(error: ReferenceError) -> RegistryError {
        match error {
            ReferenceError::Tag(why) => RegistryError::tag_invalid(why),
            ReferenceError::Digest(why) => {
                RegistryError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", why)
            }
        }
    }
}

/// A change the state could not save.
impl From<AwsError> for RegistryError {
    fn from(e: AwsError) -> RegistryError {
        RegistryError::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.message)
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let body = json!({"errors": [{"code": self.code, "message": self.message, "detail": self.detail}]});
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body.to_string(),
        )
            .into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

type Answer = Result<Response, RegistryError>;

/// What a `/v2/...` path addresses.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Base,
    Tags { name: String },
    Manifest { name: String, reference: String },
    Uploads { name: String },
    Upload { name: String, id: String },
    Blob { name: String, digest: String },
}

impl Route {
    /// The repository it addresses (all but the base do).
    fn repository(&self) -> Option<&str> {
        match self {
            Route::Base => None,
            Route::Tags { name }
            | Route::Manifest { name, .. }
            | Route::Uploads { name }
            | Route::Upload { name, .. }
            | Route::Blob { name, .. } => Some(name),
        }
    }
}

/// Splits a path after `/v2/` into repository name and resource. Names
/// contain slashes, so the resource is recognized from the end.
fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    let segments: Vec<&str> = rest.split('/').collect();
    let n = segments.len();
    let name = |keep: usize| segments[..keep].join("/");
    let tail = |k: usize| segments[n - k..].to_vec();
    if n >= 3 && tail(2) == ["tags", "list"] {
        return Some(Route::Tags { name: name(n - 2) });
    }
    if n >= 3 && segments[n - 2] == "manifests" {
        return Some(Route::Manifest {
            name: name(n - 2),
            reference: segments[n - 1].to_owned(),
        });
    }
    if n >= 3 && tail(2) == ["blobs", "uploads"] {
        return Some(Route::Uploads { name: name(n - 2) });
    }
    if n >= 4 && segments[n - 3] == "blobs" && segments[n - 2] == "uploads" {
        let id = segments[n - 1];
        return Some(if id.is_empty() {
            Route::Uploads { name: name(n - 3) }
        } else {
            Route::Upload {
                name: name(n - 3),
                id: id.to_owned(),
            }
        });
    }
    if n >= 3 && segments[n - 2] == "blobs" {
        return Some(Route::Blob {
            name: name(n - 2),
            digest: segments[n - 1].to_owned(),
        });
    }
    None
}

async fn serve(State(cloud): State<Arc<LocalCloud>>, request: Request) -> Response {
    let sends_a_body = matches!(
        *request.method(),
        Method::PATCH | Method::PUT | Method::POST
    );
    let mut response = match handle(&cloud, request).await {
        Ok(response) => response,
        Err(error) => {
            let mut response = error.into_response();
            // A refused upload's body may be left unread, and hyper then
            // closes the connection: say so, or a client that reuses it for
            // its next request sees that request fail.
            if sends_a_body {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    };
    response
        .headers_mut()
        .insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
    response
}

async fn handle(cloud: &LocalCloud, request: Request) -> Answer {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Err(refusal) = cloud
        .registry
        .signer
        .check_basic(authorization, now_millis())
    {
        return Err(RegistryError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            refusal.message(),
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            format!(
                "Basic realm=\"{}/\",service=\"ecr.amazonaws.com\"",
                cloud.endpoint()
            ),
        ));
    }
    let path = percent_encoding::percent_decode_str(request.uri().path())
        .decode_utf8_lossy()
        .into_owned();
    let query: HashMap<String, String> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).map_err(|e| {
            RegistryError::unsupported(
                StatusCode::BAD_REQUEST,
                format!("malformed query string: {e}"),
            )
        })?;
    let route = route(&path).ok_or_else(|| {
        RegistryError::unsupported(
            StatusCode::NOT_FOUND,
            format!("the registry serves no {path}"),
        )
    })?;
    let method = request.method().clone();
    // `/v2/` itself: the version check clients start with.
    let Some(name) = route.repository().map(str::to_owned) else {
        return match method {
            Method::GET | Method::HEAD => Ok(json_response(json!({}))),
            other => Err(not_allowed(&other, "/v2/")),
        };
    };
    if !valid_repository_name(&name) {
        return Err(RegistryError::name_invalid(&name));
    }
    if !cloud.read(|s| s.repositories.contains_key(&name)) {
        return Err(RegistryError::name_unknown(&name));
    }
    let registry = Requests { cloud, name: &name };
    match (route, method) {
        (Route::Tags { .. }, Method::GET) => registry.tags(&query),
        (Route::Manifest { reference, .. }, Method::GET | Method::HEAD) => {
            registry.get_manifest(&reference).await
        }
        (Route::Manifest { reference, .. }, Method::PUT) => {
            let content_type =
                header_str(request.headers(), header::CONTENT_TYPE).map(str::to_owned);
            registry
                .put_manifest(&reference, content_type.as_deref(), request.into_body())
                .await
        }
        (Route::Manifest { .. }, Method::DELETE) => Err(RegistryError::unsupported(
            StatusCode::METHOD_NOT_ALLOWED,
            "delete images with `aws ecr batch-delete-image`".into(),
        )),
        (Route::Uploads { .. }, Method::POST) => {
            registry.start_upload(&query, request.into_body()).await
        }
        (Route::Upload { id, .. }, Method::GET) => registry.upload_status(&id).await,
        (Route::Upload { id, .. }, Method::PATCH) => {
            let start = match header_str(request.headers(), header::CONTENT_RANGE) {
                Some(range) => Some(
                    parse_content_range(range)
                        .map_err(RegistryError::range_invalid)?
                        .0,
                ),
                None => None,
            };
            registry.append(&id, start, request.into_body()).await
        }
        (Route::Upload { id, .. }, Method::PUT) => {
            let digest = query.get("digest").ok_or_else(|| {
                RegistryError::new(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "completing an upload needs ?digest=sha256:<the content's digest>",
                )
            })?;
            let digest = parse_digest(digest)?;
            registry
                .complete_with(&id, &digest, request.into_body())
                .await
        }
        (Route::Upload { id, .. }, Method::DELETE) => {
            if cloud.registry.storage.cancel(&name, &id) {
                Ok(StatusCode::NO_CONTENT.into_response())
            } else {
                Err(RegistryError::upload_unknown(&id))
            }
        }
        (Route::Blob { digest, .. }, Method::GET | Method::HEAD) => {
            registry.blob(&digest, request).await
        }
        (Route::Blob { .. }, Method::DELETE) => Err(RegistryError::unsupported(
            StatusCode::METHOD_NOT_ALLOWED,
            "blobs are not deleted one by one: delete images with `aws ecr batch-delete-image`, \
             or the repository with `aws ecr delete-repository --force`"
                .into(),
        )),
        (_, other) => Err(not_allowed(&other, &path)),
    }
}

fn not_allowed(method: &Method, path: &str) -> RegistryError {
    RegistryError::unsupported(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not served on {path}"),
    )
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn parse_digest(text: &str) -> Result<Digest, RegistryError> {
    Digest::parse(text).map_err(|why| RegistryError::digest_invalid(why, text))
}

fn json_response(value: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        value.to_string(),
    )
        .into_response()
}

/// A response with `headers` and no body.
fn empty(status: StatusCode, headers: Vec<(&'static str, String)>) -> Response {
    let mut response = status.into_response();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Requests on one repository that exists.
struct Requests<'a> {
    cloud: &'a LocalCloud,
    name: &'a str,
}

impl Requests<'_> {
    fn repository<'s>(&self, s: &'s mut CloudState) -> Result<&'s mut Repository, RegistryError> {
        s.repositories
            .get_mut(self.name)
            .ok_or_else(|| RegistryError::name_unknown(self.name))
    }

    fn upload_location(&self, id: &str) -> String {
        format!("/v2/{}/blobs/uploads/{id}", self.name)
    }

    /// 202: the upload goes on at its Location.
    fn upload_accepted(&self, status: StatusCode, id: &str, size: u64) -> Response {
        empty(
            status,
            vec![
                ("location", self.upload_location(id)),
                ("range", upload_range(size)),
                ("docker-upload-uuid", id.to_owned()),
                ("content-length", "0".into()),
            ],
        )
    }

    /// 201: the blob is in the repository.
    fn blob_created(&self, digest: &Digest) -> Response {
        empty(
            StatusCode::CREATED,
            vec![
                ("location", format!("/v2/{}/blobs/{digest}", self.name)),
                ("docker-content-digest", digest.to_string()),
                ("content-length", "0".into()),
            ],
        )
    }

    fn links(&self, s: &CloudState, digest: &Digest) -> bool {
        s.repositories.get(self.name).is_some_and(|r| {
            r.blobs.contains(digest.as_str()) || r.images.contains_key(digest.as_str())
        })
    }

    async fn blob(&self, digest: &str, request: Request) -> Answer {
        let digest = parse_digest(digest)?;
        if !self.cloud.read(|s| self.links(s, &digest)) {
            return Err(RegistryError::blob_unknown(&digest));
        }
        // ServeFile answers HEAD and Range requests (a resumed pull) too.
        let path = self.cloud.registry.storage.blob_path(&digest);
        let Ok(response) = tower_http::services::ServeFile::new(path)
            .oneshot(request)
            .await;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::blob_unknown(&digest));
        }
        let mut response = response.map(Body::new);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Ok(value) = HeaderValue::from_str(digest.as_str()) {
            headers.insert("docker-content-digest", value);
        }
        Ok(response)
    }

    /// POST .../blobs/uploads/: a cross-repository mount (`?mount=&from=`),
    /// a whole blob in one request (`?digest=`), or a new upload.
    async fn start_upload(&self, query: &HashMap<String, String>, body: Body) -> Answer {
        if let Some(mount) = query.get("mount") {
            let digest = parse_digest(mount)?;
            let from = query.get("from").map(String::as_str);
            if self.mount(&digest, from)? {
                return Ok(self.blob_created(&digest));
            }
            // Not mountable: the client uploads it instead, as the spec says.
        }
        let storage = &self.cloud.registry.storage;
        let id = storage
            .start_upload(self.name)
            .map_err(RegistryError::storage)?;
        if let Some(digest) = query.get("digest") {
            let digest = parse_digest(digest)?;
            return self.complete_with(&id, &digest, body).await;
        }
        Ok(self.upload_accepted(StatusCode::ACCEPTED, &id, 0))
    }

    /// Links a blob of repository `from` into this one; whether it is here now.
    fn mount(&self, digest: &Digest, from: Option<&str>) -> Result<bool, RegistryError> {
        let (here, there) = self.cloud.read(|s| {
            let holds = |name: &str| {
                s.repositories
                    .get(name)
                    .is_some_and(|r| r.blobs.contains(digest.as_str()))
            };
            (holds(self.name), from.is_some_and(holds))
        });
        if here {
            return Ok(true);
        }
        if !there {
            return Ok(false);
        }
        self.cloud.mutate_as(|s| {
            let source_holds = from
                .and_then(|f| s.repositories.get(f))
                .is_some_and(|r| r.blobs.contains(digest.as_str()));
            let repository = self.repository(s)?;
            if source_holds {
                repository.blobs.insert(digest.to_string());
            }
            Ok(source_holds)
        })
    }

    async fn upload_status(&self, id: &str) -> Answer {
        let size = self
            .cloud
            .registry
            .storage
            .upload_size(self.name, id)
            .await?;
        Ok(self.upload_accepted(StatusCode::NO_CONTENT, id, size))
    }

    async fn append(&self, id: &str, start: Option<u64>, body: Body) -> Answer {
        let size = self
            .cloud
            .registry
            .storage
            .append(self.name, id, start, body)
            .await?;
        Ok(self.upload_accepted(StatusCode::ACCEPTED, id, size))
    }

    /// Appends the last chunk (`body`, often empty), verifies the upload
    /// against `digest` and links the blob.
    async fn complete_with(&self, id: &str, digest: &Digest, body: Body) -> Answer {
        let storage = &self.cloud.registry.storage;
        storage.append(self.name, id, None, body).await?;
        let staged = storage.finish(self.name, id, digest).await?;
        self.cloud.mutate_as(|s| {
            let repository = self.repository(s)?;
            staged.commit().map_err(RegistryError::storage)?;
            repository.blobs.insert(staged.digest.to_string());
            Ok::<(), RegistryError>(())
        })?;
        Ok(self.blob_created(&staged.digest))
    }

    async fn get_manifest(&self, reference: &str) -> Answer {
        let parsed = Reference::parse(reference).map_err(RegistryError::from_reference)?;
        let found = self.cloud.read(|s| {
            let repository = s.repositories.get(self.name)?;
            find_image(repository, &parsed)
                .map(|(digest, image)| (digest.to_owned(), image.media_type.clone()))
        });
        let (digest, media_type) =
            found.ok_or_else(|| RegistryError::manifest_unknown(reference))?;
        let digest = parse_digest(&digest)?;
        let bytes = match tokio::fs::read(self.cloud.registry.storage.blob_path(&digest)).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RegistryError::manifest_unknown(reference));
            }
            Err(e) => return Err(RegistryError::storage(e)),
        };
        let response = (
            [
                (header::CONTENT_TYPE, media_type),
                (
                    header::HeaderName::from_static("docker-content-digest"),
                    digest.to_string(),
                ),
            ],
            bytes,
        )
            .into_response();
        Ok(response)
    }

    async fn put_manifest(
        &self,
        reference: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> Answer {
        let reference = Reference::parse(reference).map_err(RegistryError::from_reference)?;
        let bytes = axum::body::to_bytes(body, MAX_MANIFEST_BYTES)
            .await
            .map_err(|e| {
                RegistryError::manifest_invalid(format!(
                    "cannot read the manifest (at most {MAX_MANIFEST_BYTES} bytes): {e}"
                ))
            })?;
        let manifest =
            manifest::parse(content_type, &bytes).map_err(RegistryError::manifest_invalid)?;
        let staged: StagedBlob = self
            .cloud
            .registry
            .storage
            .stage_bytes(&bytes)
            .map_err(RegistryError::storage)?;
        if let Reference::Digest(claimed) = &reference {
            super::reference::verify(claimed, &staged.digest)
                .map_err(|why| RegistryError::digest_invalid(why, claimed))?;
        }
        let digest = staged.digest.clone();
        self.cloud.mutate_as(|s| {
            let name = self.name;
            let repository = self.repository(s)?;
            let mut size = manifest.size;
            for reference in &manifest.references {
                let key = reference.digest.as_str();
                match manifest.kind {
                    Kind::Image if !repository.blobs.contains(key) => {
                        return Err(RegistryError::manifest_blob_unknown(&reference.digest, "blob"));
                    }
                    Kind::Index => match repository.images.get(key) {
                        Some(image) => size += image.size_bytes,
                        None => {
                            return Err(RegistryError::manifest_blob_unknown(
                                &reference.digest,
                                "manifest",
                            ));
                        }
                    },
                    Kind::Image => {}
                }
            }
            if let Reference::Tag(tag) = &reference {
                let holder = repository
                    .images
                    .iter()
                    .find(|(_, image)| image.tags.contains(tag))
                    .map(|(d, _)| d.clone());
                if let Some(holder) = holder.filter(|d| *d != digest.as_str()) {
                    if repository.image_tag_mutability == "IMMUTABLE" {
                        return Err(RegistryError::tag_invalid(format!(
                            "The image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because the repository is immutable."
                        )));
                    }
                    // The image it leaves stays, untagged, as in ECR.
                    if let Some(image) = repository.images.get_mut(&holder) {
                        image.tags.remove(tag);
                    }
                }
            }
            staged.commit().map_err(RegistryError::storage)?;
            let image = repository
                .images
                .entry(digest.to_string())
                .or_insert_with(|| Image {
                    media_type: manifest.media_type.clone(),
                    artifact_media_type: manifest.artifact_media_type.clone(),
                    size_bytes: size,
                    tags: Default::default(),
                    references: manifest
                        .references
                        .iter()
                        .map(|d| d.digest.to_string())
                        .collect(),
                    is_index: manifest.kind == Kind::Index,
                    pushed_at: now_millis(),
                });
            if let Reference::Tag(tag) = &reference {
                image.tags.insert(tag.clone());
            }
            Ok(())
        })?;
        Ok(empty(
            StatusCode::CREATED,
            vec![
                ("location", format!("/v2/{}/manifests/{digest}", self.name)),
                ("docker-content-digest", digest.to_string()),
                ("content-length", "0".into()),
            ],
        ))
    }

    /// GET .../tags/list, paginated with `n` and `last` as the spec says.
    fn tags(&self, query: &HashMap<String, String>) -> Answer {
        let mut tags: Vec<String> = self.cloud.read(|s| {
            s.repositories
                .get(self.name)
                .map(|r| {
                    r.images
                        .values()
                        .flat_map(|i| i.tags.iter().cloned())
                        .collect()
                })
                .unwrap_or_default()
        });
        tags.sort();
        if let Some(last) = query.get("last") {
            tags.retain(|t| t > last);
        }
        let mut next = None;
        if let Some(n) = query.get("n") {
            let n: usize = n.parse().map_err(|_| {
                RegistryError::new(
                    StatusCode::BAD_REQUEST,
                    "PAGINATION_NUMBER_INVALID",
                    format!("n must be a number of tags, not {n:?}"),
                )
            })?;
            if tags.len() > n {
                tags.truncate(n);
                next = tags.last().map(|last| {
                    format!(
                        "</v2/{}/tags/list?n={n}&last={last}>; rel=\"next\"",
                        self.name
                    )
                });
            }
        }
        let mut response = json_response(json!({"name": self.name, "tags": tags}));
        if let Some(link) = next.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LINK, link);
        }
        Ok(response)
    }
}

/// The image a tag or digest names in a repository.
pub fn find_image<'r>(
    repository: &'r Repository,
    reference: &Reference,
) -> Option<(&'r str, &'r Image)> {
    match reference {
        Reference::Digest(digest) => repository
            .images
            .get_key_value(digest.as_str())
            .map(|(d, i)| (d.as_str(), i)),
        Reference::Tag(tag) => repository
            .images
            .iter()
            .find(|(_, image)| image.tags.contains(tag))
            .map(|(d, i)| (d.as_str(), i)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> String {
        n.to_owned()
    }

    #[test]
    fn routes_are_read_from_the_end_of_the_path() {
        assert_eq!(route("/v2/"), Some(Route::Base));
        assert_eq!(route("/v2"), Some(Route::Base));
        assert_eq!(
            route("/v2/team/web/manifests/v1"),
            Some(Route::Manifest {
                name: name("team/web"),
                reference: name("v1")
            })
        );
        assert_eq!(
            route("/v2/web/blobs/uploads/"),
            Some(Route::Uploads { name: name("web") })
        );
        assert_eq!(
            route("/v2/web/blobs/uploads"),
            Some(Route::Uploads { name: name("web") })
        );
        assert_eq!(
            route("/v2/a/b/blobs/uploads/1234"),
            Some(Route::Upload {
                name: name("a/b"),
                id: name("1234")
            })
        );
        assert_eq!(
            route("/v2/web/blobs/sha256:ab"),
            Some(Route::Blob {
                name: name("web"),
                digest: name("sha256:ab")
            })
        );
        // A repository may itself be called ".../blobs/...".
        assert_eq!(
            route("/v2/x/blobs/y/blobs/sha256:ab"),
            Some(Route::Blob {
                name: name("x/blobs/y"),
                digest: name("sha256:ab")
            })
        );
        assert_eq!(
            route("/v2/web/tags/list"),
            Some(Route::Tags { name: name("web") })
        );
        assert_eq!(route("/v2/web"), None);
        assert_eq!(route("/v2/web/other/thing"), None);
        assert_eq!(route("/v3/web/tags/list"), None);
        assert_eq!(route("/v2web/tags/list"), None);
    }
}
