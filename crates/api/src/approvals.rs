//! Release approvals: the inbox and the votes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Vote {
    pub voter: String,
    /// approve or reject.
    pub decision: String,
    pub comment: String,
    pub at: String,
}

/// A release approval and its votes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Approval {
    pub id: i64,
    pub environment: String,
    /// pending, approved, rejected, or closed (the cloud moved on without it).
    pub state: String,
    /// The pipeline run waiting at a manual approval action, if that is what waits.
    pub pipeline_run_id: Option<i64>,
    /// The pipeline stage, or the deployment stage a PAUSE gate holds.
    pub stage: Option<String>,
    pub action: Option<String>,
    /// The deployment held in Ready or at a PAUSE gate, if that is what waits.
    pub deployment_id: Option<i64>,
    /// The PAUSE hook a gate's approval answers (ECS's controller).
    pub hook_id: Option<String>,
    /// When the gate's hook times out if nobody decides.
    pub expires_at: Option<String>,
    /// What ECS does then: ROLLBACK or CONTINUE.
    pub timeout_action: Option<String>,
    /// Whose release it is (the pusher, or who started it).
    pub author: String,
    pub required: i64,
    pub allow_self_approval: bool,
    /// Approvals still needed.
    pub remaining: u8,
    pub votes: Vec<Vote>,
    pub created_at: String,
    pub decided_at: Option<String>,
    /// When the cloud took the decision.
    pub applied_at: Option<String>,
    /// Why the cloud did not take it (yet).
    pub apply_error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalList {
    pub approvals: Vec<Approval>,
}

/// The body of `POST /api/approvals/{id}/decisions`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    #[schema(value_type = crate::schema::DecisionName)]
    pub decision: String,
    /// Required when rejecting.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::CommentText>)]
    pub comment: Option<String>,
}
