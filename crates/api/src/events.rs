//! `/api/environments/{name}/events`: the audit trail.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One entry of the audit trail: who did what, when.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: i64,
    /// What happened, e.g. `environment.created`, `release.recorded`.
    pub kind: String,
    /// The user (or component) that did it.
    pub actor: String,
    pub at: String,
    pub deployment_id: Option<i64>,
    /// The facts of the change.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub next: Option<String>,
}
