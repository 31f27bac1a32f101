//! `/api/environments/{name}/releases`

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A release as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Release {
    pub id: i64,
    pub version: String,
    pub image: String,
    /// Full git commit id, when known.
    pub commit: Option<String>,
    pub author: String,
    pub message: String,
    /// The user who recorded the release.
    pub recorded_by: String,
    pub created_at: String,
}

/// One page of release history, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReleasePage {
    pub releases: Vec<Release>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next: Option<String>,
}

/// The body of `POST /api/environments/{name}/releases`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRelease {
    #[schema(example = "v2", value_type = crate::schema::VersionText)]
    pub version: String,
    /// A container image reference, or `static:<dir>` for the local cloud.
    #[schema(example = "static:/srv/site-v2", value_type = crate::schema::ImageText)]
    pub image: String,
    /// The full git commit (40 or 64 hex digits) the release was built from.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::CommitText>)]
    pub commit: Option<String>,
    /// Who wrote the change; defaults to the caller.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::AuthorText>)]
    pub author: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::MessageText>)]
    pub message: Option<String>,
}
