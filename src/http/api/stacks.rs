//! `/api/environments/{name}/stack`: provisioning, its log and outputs.

use super::timestamp;
use crate::http::extract::Authenticated;
use crate::http::{AppState, Error, ErrorBody};
use crate::store::stacks::StackRow;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// A stack operation accepted for the background.
#[derive(Debug, Serialize, ToSchema)]
pub struct Operation {
    pub operation_id: String,
    /// provisioning or destroying.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stack {
    /// provisioning, ready, failed, destroying or destroyed.
    pub status: String,
    pub operation_id: String,
    /// The latest operation's log, one line per step.
    pub log: String,
    /// prod_url, test_url and the resources the stack made.
    #[schema(value_type = Object)]
    pub outputs: serde_json::Value,
    pub started_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
}

impl From<StackRow> for Stack {
    fn from(row: StackRow) -> Self {
        Stack {
            status: row.status,
            operation_id: row.operation_id,
            log: row.log,
            outputs: serde_json::from_str(&row.outputs).unwrap_or_default(),
            started_by: row.started_by,
            started_at: timestamp(row.started_at),
            finished_at: row.finished_at.map(timestamp),
        }
    }
}

/// Provision the environment's stack (admin); 202 with the operation id.
#[utoipa::path(post, path = "/api/environments/{name}/stack", tag = "stacks",
    params(("name" = String, Path, description = "Environment name")),
    responses(
        (status = 202, body = Operation),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Another stack operation is running", body = ErrorBody),
        (status = 501, description = "AWS stacks need Terraform", body = ErrorBody),
    ))]
pub async fn provision(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Operation>), Error> {
    let op = state.app.provision_stack(&actor, &name).await?;
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
    Path(name): Path<String>,
) -> Result<Json<Stack>, Error> {
    Ok(Json(state.app.stack(&actor, &name).await?.into()))
}

/// Destroy the environment's stack (admin); 202 with the operation id.
#[utoipa::path(delete, path = "/api/environments/{name}/stack", tag = "stacks",
    params(("name" = String, Path, description = "Environment name")),
    responses((status = 202, body = Operation), (status = 409, body = ErrorBody)))]
pub async fn destroy(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(name): Path<String>,
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
