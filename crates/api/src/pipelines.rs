//! Pipeline runs: list, show, start by hand, stop, retry a stage, and read
//! a build log.

use crate::approvals::Approval;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Action {
    pub name: String,
    /// Source, Build, Approval or Deploy.
    pub category: String,
    pub provider: String,
    /// NotStarted, InProgress, Succeeded, Failed or Abandoned.
    pub status: String,
    pub summary: Option<String>,
    pub error: Option<String>,
    /// The build id, or the CodeDeploy deployment id.
    pub external_id: Option<String>,
    pub external_url: Option<String>,
    /// Where to read the build log through switchyard (Build actions).
    pub log: Option<String>,
    pub started_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Stage {
    pub name: String,
    /// NotStarted, InProgress, Succeeded, Failed, Stopped or Stopping.
    pub status: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Commit {
    pub sha: Option<String>,
    pub message: String,
    /// The pusher, or the user who started the run.
    pub author: String,
}

/// A pipeline run as switchyard last observed it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PipelineRun {
    pub id: i64,
    pub environment: String,
    pub pipeline: String,
    pub execution_id: String,
    /// InProgress, Stopping, Stopped, Succeeded, Superseded, Failed or Cancelled.
    pub status: String,
    /// push or manual.
    pub trigger: String,
    pub started_by: String,
    pub commit: Commit,
    pub stages: Vec<Stage>,
    pub error: Option<String>,
    /// The deployment the Deploy action started.
    pub deployment_id: Option<i64>,
    pub approvals: Vec<Approval>,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PipelineRunPage {
    pub runs: Vec<PipelineRun>,
    /// Pass as `before` for the next page.
    pub next: Option<String>,
}

/// The body of `POST /api/environments/{name}/pipeline/runs`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRunBody {
    /// A full commit id to build; the branch head when absent.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::CommitText>)]
    pub commit: Option<String>,
}

/// The body of `POST /api/pipeline-runs/{id}/stop`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopRunBody {
    /// Abandon in-progress actions instead of letting them finish.
    #[serde(default)]
    pub abandon: bool,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub reason: Option<String>,
}

/// The body of `POST /api/pipeline-runs/{id}/retry`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// The failed or stopped stage.
    pub stage: String,
    #[serde(default)]
    pub mode: Option<RetryMode>,
}

/// Which actions of the stage run again (FAILED_ACTIONS when absent).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryMode {
    FailedActions,
    AllActions,
}
