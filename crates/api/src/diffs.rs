//! `/api/environments/{name}/diff`: what deploying a release or an image
//! would change against what is live.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use switchyard_domain::task_definition_diff::TaskDefinitionDiff;

/// The diff of a candidate against the live release.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentDiff {
    pub environment: String,
    pub live: DiffSide,
    pub candidate: DiffSide,
    /// Field by field; secrets by name only.
    pub changes: TaskDefinitionDiff,
    /// The same as a unified text: `-` lines live, `+` lines the candidate.
    pub unified: String,
    /// The pushed commits from the candidate's back to the live one's,
    /// newest first (empty unless both came from pushes).
    pub commits: Vec<Commit>,
    /// Whether the recorded pushes reach the live commit.
    pub commits_complete: bool,
}

/// One side of a diff.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiffSide {
    /// The release's version; null for a bare image.
    pub version: Option<String>,
    pub image: String,
    /// The registered task definition; null when the candidate has none
    /// yet (the diff shows what a deployment would register).
    pub task_definition_arn: Option<String>,
    pub commit: Option<String>,
}

/// A pushed commit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Commit {
    pub sha: String,
    pub author: Option<String>,
    pub message: Option<String>,
}
