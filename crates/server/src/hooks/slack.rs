//! `POST /hooks/slack/interactions`: a click on Approve or Reject in a
//! Slack message. Slack's v0 signature is checked, and a replay refused,
//! before anything is read; the vote then goes through the inbox's own use
//! case, and the message is redrawn with the tally after the commit.

use crate::{AppState, Error};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use switchyard_core::app::{self, slack::SlackVote};
use switchyard_domain::FieldError;
use switchyard_domain::slack;

/// Without a signing secret the endpoint does not exist on this server:
/// 404 rather than 503, because nothing will change by retrying; only the
/// operator can switch it on.
const NOT_ENABLED: &str = "Slack interactions are not enabled on this server: start `switchyard \
                           serve` with --slack-signing-secret (or SWITCHYARD_SLACK_SIGNING_SECRET)";

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/hooks/slack/interactions", post(interaction))
}

/// 200 with an empty body when the vote was taken, 200 with an ephemeral
/// message when the user may not vote (nothing changes), 401 for an
/// unsigned, wrongly signed, stale, future or replayed request, 400 for a
/// payload that is not a click on switchyard's buttons.
async fn interaction(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let secret = state
        .config
        .slack_signing_secret
        .as_ref()
        .ok_or_else(|| app::Error::NotFound(NOT_ENABLED.into()))?;
    let now = chrono::Utc::now().timestamp();
    let signed = slack::verify(secret, &headers, &body, now).map_err(|refused| {
        tracing::debug!(reason = refused.message(), "refused a Slack interaction");
        app::Error::Unauthenticated(refused.message())
    })?;
    state
        .app
        .accept_slack_delivery(&signed.signature_hex)
        .await?;
    let click = slack::parse_interaction(&body).map_err(|e| {
        app::Error::Malformed(FieldError {
            field: "payload".into(),
            message: e.to_string(),
        })
    })?;
    match state.app.vote_from_slack(&click).await? {
        SlackVote::Refused(why) => Ok(Json(slack::ephemeral(&why)).into_response()),
        SlackVote::Taken(view) => {
            let app = state.app.clone();
            // After the commit, off the request: Slack wants an answer within 3 s.
            tokio::spawn(async move { app.redraw_slack_message(&click.response_url, &view).await });
            Ok(StatusCode::OK.into_response())
        }
    }
}
