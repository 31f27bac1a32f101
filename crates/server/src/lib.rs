//! The interface: JSON API under `/api`, the dashboard's pages, git webhooks,
//! operational endpoints, the one error type that maps every failure to a
//! status code, and `serve`, which assembles it all into the running server.

pub mod api;
mod error;
pub(crate) mod extract;
mod hooks;
pub mod metrics;
mod ops;
pub mod pages;
pub mod serve;

pub use error::Error;
pub use switchyard_api::error::ErrorBody;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use std::sync::Arc;
use switchyard_core::app::App;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// Webhook payloads larger than this are refused with 413 (a push of
    /// many commits is large).
    pub max_webhook_bytes: usize,
    /// Checks the signature of Slack's interaction requests; without it
    /// `/hooks/slack/interactions` answers 404. Its Debug shows `***`.
    pub slack_signing_secret: Option<switchyard_domain::slack::SigningSecret>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 1024 * 1024,
            max_webhook_bytes: 8 * 1024 * 1024,
            slack_signing_secret: None,
        }
    }
}

/// What every handler can reach. axum clones the state for every request
/// (each route's service, each `State` extractor), so it is one shared
/// count rather than one per field.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

pub struct SharedState {
    pub app: Arc<App>,
    pub config: HttpConfig,
    pub metrics: Arc<metrics::HttpMetrics>,
    pub release_pages: api::releases::PageCache,
    pub tracker: Arc<switchyard_core::tracker::Tracker>,
    /// Set once the server shuts down (see `AppState::shut_down`).
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

impl AppState {
    pub fn new(app: Arc<App>, config: HttpConfig) -> AppState {
        AppState(Arc::new(SharedState {
            tracker: switchyard_core::tracker::Tracker::new(app.clone()),
            app,
            config,
            metrics: Arc::default(),
            release_pages: api::releases::PageCache::default(),
            shutdown: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// Ends the answers that never end by themselves (event streams): a
    /// graceful shutdown waits for every answer in flight.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once `shut_down` was called.
    pub fn shutting_down(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut down = self.shutdown.subscribe();
        async move {
            // An error means the state is gone, which is a shutdown too.
            let _ = down.wait_for(|&down| down).await;
        }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: random, short, and kept when the client sent its own.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = format!("{:016x}", rand::random::<u64>());
        Some(RequestId::new(id.parse().ok()?))
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let (api, _) = api::router().split_for_parts();
    let metrics = state.metrics.clone();
    Router::new()
        .merge(api)
        .merge(hooks::router(state.config.max_webhook_bytes))
        .merge(ops::router())
        .merge(pages::router())
        .route_layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state)
        .layer(CatchPanicLayer::new())
        // Outside everything that may answer early, the fallback and a caught panic included.
        .layer(axum::middleware::from_fn(
            switchyard_runtime::unread_body::read_away_unread_body,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // The path only: query strings can carry things that do not belong in logs.
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = request.uri().path(),
                    request_id,
                )
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
}

#[cfg(test)]
mod tests {
    use super::HttpConfig;
    use switchyard_domain::slack::SigningSecret;

    #[test]
    fn the_config_never_shows_the_slack_signing_secret() {
        let config = HttpConfig {
            slack_signing_secret: Some(SigningSecret::parse("do-not-print-me").unwrap()),
            ..HttpConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(shown.contains("***"), "{shown}");
        assert!(!shown.contains("do-not-print-me"), "{shown}");
    }
}
