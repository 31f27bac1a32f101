//! Git push webhooks: `POST /hooks/github`, `/hooks/gitlab`, `/hooks/gitea`
//! (also Forgejo) and `/hooks/generic` for scripts. The signature is checked
//! against the secret of an environment that follows the repository before
//! anything is recorded. Slack's button clicks arrive at
//! `/hooks/slack/interactions` (see `slack`).

mod slack;

use super::{AppState, Error};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use switchyard_domain::webhook::Provider;

pub fn router(max_body_bytes: usize) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/hooks/{provider}", post(receive))
        .merge(slack::router())
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

/// 202 when a new push was recorded (pipelines start in the background),
/// 200 for pings, other events and redeliveries, 401 for a bad or missing
/// signature, 413 over the size limit.
async fn receive(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let provider = Provider::parse(&provider).map_err(|_| {
        switchyard_core::app::Error::NotFound(format!(
            "no webhook endpoint /hooks/{provider}: use github, gitlab, gitea or generic"
        ))
    })?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge(format!(
                "the payload is larger than the webhook limit of {} bytes",
                state.config.max_webhook_bytes
            ))
        } else {
            Error::MalformedJson(format!("could not read the body: {rejection}"))
        }
    })?;
    let outcome = state.app.ingest_webhook(provider, &headers, &body).await?;
    let status = if outcome.duplicate || outcome.event != "push" {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(json!({
            "event": outcome.event,
            "duplicate": outcome.duplicate,
            "started": outcome.started.iter().map(|(environment, run)| json!({
                "environment": environment,
                "pipeline_run": run,
                "url": format!("/api/pipeline-runs/{run}"),
            })).collect::<Vec<_>>(),
            "not_started": outcome.not_started.iter().map(|(environment, reason)| json!({
                "environment": environment, "reason": reason,
            })).collect::<Vec<_>>(),
        })),
    ))
}
