//! Release approvals: the inbox and the votes.

use super::{ApiQuery, timestamp};
use crate::extract::{ApiJson, ApiPath, Approver, Authenticated, Authorized};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use switchyard_api::approvals::{Approval, ApprovalList, DecisionBody, Vote};
use switchyard_core::app::approvals::ApprovalView;
use switchyard_domain::ForField;
use switchyard_domain::pipeline::Decision;

/// An approval and its votes as the API shows them.
pub fn approval_json(view: ApprovalView) -> Approval {
    let remaining = view.remaining();
    let a = view.approval;
    let hook_id = a.hook_id().map(str::to_owned);
    Approval {
        id: a.id,
        environment: a.environment,
        state: a.state,
        pipeline_run_id: a.pipeline_run_id,
        stage: a.stage_name,
        action: a.action_name,
        deployment_id: a.deployment_id,
        hook_id,
        expires_at: a.expires_at.map(timestamp),
        timeout_action: a.timeout_action.map(|t| t.to_string()),
        author: a.author,
        required: a.required,
        allow_self_approval: a.allow_self_approval,
        remaining,
        votes: view
            .votes
            .into_iter()
            .map(|v| Vote {
                voter: v.voter,
                decision: v.decision,
                comment: v.comment,
                at: timestamp(v.created_at),
            })
            .collect(),
        created_at: timestamp(a.created_at),
        decided_at: a.decided_at.map(timestamp),
        applied_at: a.applied_at.map(timestamp),
        apply_error: a.apply_error,
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApprovalFilter {
    /// pending, approved, rejected, closed or all (the default).
    #[param(value_type = Option<switchyard_api::schema::ApprovalStateName>, inline)]
    state: Option<String>,
    /// Only the approvals the caller may vote on now: pending, not voted on
    /// yet, not their own release unless the policy allows (approver role).
    #[serde(default)]
    votable: bool,
}

/// Approvals, newest first (at most 200).
#[utoipa::path(get, path = "/api/approvals", tag = "approvals",
    params(ApprovalFilter),
    responses((status = 200, body = ApprovalList), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(filter): ApiQuery<ApprovalFilter>,
) -> Result<Json<ApprovalList>, Error> {
    let views = state
        .app
        .approvals(&actor, filter.state.as_deref(), filter.votable)
        .await?;
    Ok(Json(ApprovalList {
        approvals: views.into_iter().map(approval_json).collect(),
    }))
}

#[utoipa::path(get, path = "/api/approvals/{id}", tag = "approvals",
    params(("id" = i64, Path, description = "Approval id")),
    responses((status = 200, body = Approval), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Approval>, Error> {
    Ok(Json(approval_json(state.app.approval(&actor, id).await?)))
}

/// Vote on an approval (approver). One rejection rejects; the policy's
/// number of approvals approves. Authors may not approve their own release
/// unless the policy allows it.
#[utoipa::path(post, path = "/api/approvals/{id}/decisions", tag = "approvals",
    params(("id" = i64, Path, description = "Approval id")),
    request_body = DecisionBody,
    responses(
        (status = 200, body = Approval),
        (status = 403, description = "Not an approver, or the author approving their own release", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already voted, or the approval is closed", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn decide(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Approver>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> Result<Json<Approval>, Error> {
    let (decision, comment) = parse_vote(&body.decision, body.comment.as_deref())?;
    let view = state
        .app
        .decide_approval(&actor, id, decision, comment)
        .await?;
    Ok(Json(approval_json(view)))
}

/// A vote as the API and the dashboard take it: the decision, and the
/// comment (trimmed), which a rejection must have.
pub fn parse_vote<'a>(
    decision: &str,
    comment: Option<&'a str>,
) -> Result<(Decision, &'a str), switchyard_domain::FieldError> {
    let decision = Decision::parse(decision).for_field("decision")?;
    let comment = comment.unwrap_or_default().trim();
    if decision == Decision::Reject && comment.is_empty() {
        return Err(switchyard_domain::FieldError {
            field: "comment".into(),
            message: "say why when you reject: the comment goes to the team and the pipeline"
                .into(),
        });
    }
    Ok((decision, comment))
}
