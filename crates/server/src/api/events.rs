//! `/api/environments/{name}/events`: the audit trail.

use super::{ApiQuery, PageParams, cursor, timestamp};
use crate::extract::{ApiPath, Authenticated};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use switchyard_api::events::{Event, EventPage};
use switchyard_core::store::events::EventRow;
use switchyard_domain::FieldError;

/// An audit trail entry as the API shows it.
fn event_json(row: EventRow) -> Event {
    Event {
        id: row.id,
        kind: row.kind,
        actor: row.actor,
        at: timestamp(row.created_at),
        deployment_id: row.deployment_id,
        detail: serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::String(row.detail)),
    }
}

/// An environment's audit trail, newest first.
#[utoipa::path(get, path = "/api/environments/{name}/events", tag = "events",
    params(("name" = String, Path, description = "Environment name"), PageParams),
    responses((status = 200, body = EventPage), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<EventPage>, Error> {
    let page = state
        .app
        .environment_events(&actor, &name, params.parse()?)
        .await?;
    Ok(Json(EventPage {
        next: cursor(page.next_before),
        events: page.items.into_iter().map(event_json).collect(),
    }))
}

/// Where a live stream reads from: the events after a cursor, and whether
/// the thing it follows has finished.
pub trait EventSource: Send + 'static {
    /// What the application broadcasts when something changed.
    type Change: Clone + Send + 'static;
    fn after(
        &self,
        last: i64,
    ) -> impl std::future::Future<Output = switchyard_core::app::Result<Vec<EventRow>>> + Send;
    fn finished(&self) -> impl std::future::Future<Output = bool> + Send;
    /// Whether a broadcast change concerns this stream.
    fn concerns(&self, change: &Self::Change) -> bool;
}

/// The `Last-Event-ID` of a reconnecting client: the `id:` of the last
/// event it got, so a whole number this server wrote (0, from the start,
/// when absent). Anything else is a malformed request, a 400 naming the
/// header, rather than a stream silently replayed from the start.
pub struct LastEventId(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for LastEventId {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Error> {
        let Some(value) = parts.headers.get("last-event-id") else {
            return Ok(LastEventId(0));
        };
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|id| *id >= 0)
            .map(LastEventId)
            .ok_or_else(|| {
                switchyard_core::app::Error::Malformed(FieldError {
                    field: "Last-Event-ID".into(),
                    message: format!(
                        "Last-Event-ID must be the id of an event this stream sent: a whole \
                         number from 0 to {} (got {value:?})",
                        i64::MAX
                    ),
                })
                .into()
            })
    }
}

/// Every event of a source as Server-Sent Events, each with an `id:` so a
/// client that reconnects with `Last-Event-ID` gets what it missed. Wakes on
/// the broadcast changes (subscribed before the backlog is read, so nothing
/// falls in between) and ends once the source has finished, or when
/// `shutdown` resolves (the client reconnects to the next server).
pub fn live<S: EventSource>(
    source: S,
    last: i64,
    changes: tokio::sync::broadcast::Receiver<S::Change>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    struct Cursor<S: EventSource> {
        source: S,
        last: i64,
        backlog: std::collections::VecDeque<EventRow>,
        changes: tokio::sync::broadcast::Receiver<S::Change>,
        done: bool,
    }
    let cursor = Cursor {
        source,
        last,
        backlog: Default::default(),
        changes,
        done: false,
    };
    let stream = futures_util::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(row) = c.backlog.pop_front() {
                c.last = row.id;
                let kind = row.kind.clone();
                let data = serde_json::to_string(&event_json(row)).unwrap_or_default();
                let event = SseEvent::default()
                    .id(c.last.to_string())
                    .event(kind)
                    .data(data);
                return Some((Ok(event), c));
            }
            if c.done {
                return None;
            }
            // Finished first, then the events: the last ones are committed with the final status.
            let finished = c.source.finished().await;
            match c.source.after(c.last).await {
                Ok(rows) if !rows.is_empty() => {
                    c.backlog.extend(rows);
                    continue;
                }
                Ok(_) if finished => return None,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read events for a live stream");
                    c.done = true;
                    continue;
                }
            }
            loop {
                match tokio::time::timeout(std::time::Duration::from_secs(5), c.changes.recv())
                    .await
                {
                    Ok(Ok(change)) if c.source.concerns(&change) => break,
                    Ok(Ok(_)) => continue,
                    Ok(Err(RecvError::Lagged(_))) | Err(_) => break,
                    Ok(Err(RecvError::Closed)) => return None,
                }
            }
        }
    });
    Sse::new(futures_util::StreamExt::take_until(stream, shutdown)).keep_alive(KeepAlive::default())
}
