//! `/api/environments/{name}/stack`: provisioning, its log and outputs, and
//! (for AWS stacks) Terraform plans.

use super::timestamp;
use crate::extract::{Admin, ApiJson, ApiPath, Authenticated, Authorized};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use switchyard_core::app::stacks::{StackView, Variables};
use switchyard_core::provision::terraform::PlanReport;
use utoipa::ToSchema;

/// A stack operation accepted for the background.
#[derive(Debug, Serialize, ToSchema)]
pub struct Operation {
    pub operation_id: String,
    /// provisioning or destroying.
    pub status: String,
}

/// The body of a provisioning or plan request; it may be left out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StackRequest {
    /// An aws stack's own Terraform variables (e.g. `{"enable_nat_gateway":
    /// false}`). Given, they replace the stack's stored variables (a plan
    /// uses them for itself only); left out, the stored ones apply. The
    /// variables the environment sets (region, container, deployment group)
    /// are refused here: change the environment instead.
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Variables>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stack {
    /// provisioning, ready, failed, destroying or destroyed.
    pub status: String,
    pub operation_id: String,
    /// The latest operation's log, one line per step (Terraform's output for
    /// an aws stack, secrets redacted).
    pub log: String,
    /// prod_url, test_url and the resources the stack made; for an aws
    /// stack also `terraform`, every Terraform output.
    #[schema(value_type = Object)]
    pub outputs: serde_json::Value,
    /// An aws stack's own Terraform variables (sensitive values hidden).
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Variables>,
    pub started_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
}

impl From<StackView> for Stack {
    fn from(view: StackView) -> Self {
        let row = view.row;
        Stack {
            status: row.status,
            operation_id: row.operation_id,
            log: row.log,
            outputs: serde_json::Value::Object(row.outputs.0),
            variables: view.variables,
            started_by: row.started_by,
            started_at: timestamp(row.started_at),
            finished_at: row.finished_at.map(timestamp),
        }
    }
}

/// What applying would change.
#[derive(Debug, Serialize, ToSchema)]
pub struct Plan {
    /// Whether applying would change any resource.
    pub changes: bool,
    pub add: u64,
    pub change: u64,
    pub destroy: u64,
    pub resource_changes: Vec<PlannedChange>,
    /// Terraform's output, one line each (secrets redacted).
    pub log: Vec<String>,
}

/// One resource the plan would change.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlannedChange {
    pub address: String,
    /// create, update, delete or replace.
    pub action: String,
    /// The attributes an update or replacement changes.
    pub attributes: Vec<String>,
}

impl From<PlanReport> for Plan {
    fn from(report: PlanReport) -> Self {
        Plan {
            changes: report.changes,
            add: report.add,
            change: report.change,
            destroy: report.destroy,
            resource_changes: report
                .resource_changes
                .into_iter()
                .map(|c| PlannedChange {
                    address: c.address,
                    action: c.action,
                    attributes: c.attributes,
                })
                .collect(),
            log: report.log,
        }
    }
}

/// A JSON body that may be left out: no body at all, or `null`, reads as
/// the default.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Error> {
        let headers = request.headers();
        let empty = headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length == "0")
            || (!headers.contains_key(header::CONTENT_LENGTH)
                && !headers.contains_key(header::TRANSFER_ENCODING));
        if empty {
            return Ok(OptionalJson(T::default()));
        }
        ApiJson::<Option<T>>::from_request(request, state)
            .await
            .map(|ApiJson(body)| OptionalJson(body.unwrap_or_default()))
    }
}

/// Provision the environment's stack (admin); 202 with the operation id. An
/// aws stack runs Terraform init, plan and apply; a retry after a failure
/// resumes from Terraform's state.
#[utoipa::path(post, path = "/api/environments/{name}/stack", tag = "stacks",
    params(("name" = String, Path, description = "Environment name")),
    request_body(content = Option<StackRequest>, description = "Optional: an aws stack's Terraform variables"),
    responses(
        (status = 202, body = Operation),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Another stack operation or plan is running", body = ErrorBody),
        (status = 422, description = "A variable the module does not declare, or one the environment sets", body = ErrorBody),
    ))]
pub async fn provision(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
    ApiPath(name): ApiPath<String>,
    OptionalJson(body): OptionalJson<StackRequest>,
) -> Result<(StatusCode, Json<Operation>), Error> {
    let op = state
        .app
        .provision_stack(&actor, &name, body.variables)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Operation {
            operation_id: op.operation_id,
            status: op.status.into(),
        }),
    ))
}

/// The stack's status, log and outputs.
#[utoipa::path(get, path = "/api/environments/{name}/stack", tag = "stacks",
    params(("name" = String, Path, description = "Environment name")),
    responses((status = 200, body = Stack), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Stack>, Error> {
    Ok(Json(state.app.stack(&actor, &name).await?.into()))
}

/// Destroy the environment's stack (admin); 202 with the operation id.
#[utoipa::path(delete, path = "/api/environments/{name}/stack", tag = "stacks",
    params(("name" = String, Path, description = "Environment name")),
    responses((status = 202, body = Operation), (status = 409, body = ErrorBody)))]
pub async fn destroy(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<Operation>), Error> {
    let op = state.app.destroy_stack(&actor, &name).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Operation {
            operation_id: op.operation_id,
            status: op.status.into(),
        }),
    ))
}

/// Plan an aws stack without applying (admin): Terraform init and plan,
/// answered when done.
#[utoipa::path(post, path = "/api/environments/{name}/stack/plan", tag = "stacks",
    params(("name" = String, Path, description = "Environment name")),
    request_body(content = Option<StackRequest>, description = "Optional: variables for this plan instead of the stack's"),
    responses(
        (status = 200, body = Plan),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A stack operation or another plan is running, or the stack is local (it has no plan)", body = ErrorBody),
        (status = 422, description = "A variable the module does not declare, or one the environment sets", body = ErrorBody),
        (status = 502, description = "Terraform failed; the message carries its errors", body = ErrorBody),
    ))]
pub async fn plan(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
    ApiPath(name): ApiPath<String>,
    OptionalJson(body): OptionalJson<StackRequest>,
) -> Result<Json<Plan>, Error> {
    Ok(Json(
        state
            .app
            .plan_stack(&actor, &name, body.variables)
            .await?
            .into(),
    ))
}
