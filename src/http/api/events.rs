//! `/api/environments/{name}/events`: the audit trail.

use super::{ApiQuery, PageParams, cursor, timestamp};
use crate::http::extract::Authenticated;
use crate::http::{AppState, Error, ErrorBody};
use crate::store::events::EventRow;
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

/// One entry of the audit trail: who did what, when.
#[derive(Debug, Serialize, ToSchema)]
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

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Event {
            id: row.id,
            kind: row.kind,
            actor: row.actor,
            at: timestamp(row.created_at),
            deployment_id: row.deployment_id,
            detail: serde_json::from_str(&row.detail)
                .unwrap_or(serde_json::Value::String(row.detail)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub next: Option<String>,
}

/// An environment's audit trail, newest first.
#[utoipa::path(get, path = "/api/environments/{name}/events", tag = "events",
    params(("name" = String, Path, description = "Environment name"), PageParams),
    responses((status = 200, body = EventPage), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<EventPage>, Error> {
    let page = state
        .app
        .environment_events(&actor, &name, params.parse()?)
        .await?;
    Ok(Json(EventPage {
        next: cursor(page.next_before),
        events: page.items.into_iter().map(Event::from).collect(),
    }))
}
