//! `/api/environments/{name}/stack`: provisioning, its log and outputs, and
//! (for AWS stacks) Terraform plans.

use super::timestamp;
use crate::extract::{Admin, ApiPath, Authenticated, Authorized, OptionalJson};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use switchyard_api::stacks::{Operation, Plan, PlannedChange, Stack, StackRequest};
use switchyard_core::app::stacks::StackView;
use switchyard_core::provision::terraform::PlanReport;

/// A stack as the API shows it.
fn stack_json(view: StackView) -> Stack {
    let Some(row) = view.row else {
        return Stack {
            status: Stack::NOT_PROVISIONED.into(),
            operation_id: None,
            log: String::new(),
            outputs: serde_json::json!({}),
            variables: view.variables,
            started_by: None,
            started_at: None,
            finished_at: None,
        };
    };
    Stack {
        status: row.status,
        operation_id: Some(row.operation_id),
        log: row.log,
        outputs: serde_json::Value::Object(row.outputs.0),
        variables: view.variables,
        started_by: Some(row.started_by),
        started_at: Some(timestamp(row.started_at)),
        finished_at: row.finished_at.map(timestamp),
    }
}

/// A Terraform plan's report as the API shows it.
fn plan_json(report: PlanReport) -> Plan {
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

/// The stack's status, log and outputs. Every environment has a stack, from
/// its creation: `not_provisioned` until provisioned.
#[utoipa::path(get, path = "/api/environments/{name}/stack", tag = "stacks",
    params(("name" = String, Path, description = "Environment name")),
    responses((status = 200, body = Stack), (status = 404, description = "No such environment", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Stack>, Error> {
    Ok(Json(stack_json(state.app.stack(&actor, &name).await?)))
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
    let report = state.app.plan_stack(&actor, &name, body.variables).await?;
    Ok(Json(plan_json(report)))
}
