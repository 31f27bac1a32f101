//! The body of every error response: `{"error": {"code", "message", "field"}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code, e.g. `invalid_value` or `conflict`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The input field at fault, when there is one (e.g. `resources.cluster`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
