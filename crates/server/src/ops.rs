//! Operational endpoints: liveness, readiness and metrics. No token needed:
//! they reveal no data and probes must reach them.

use super::{AppState, Error};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::fmt::Write;
use switchyard_core::app;
use switchyard_core::store;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up and serving.
async fn healthz() -> &'static str {
    "ok\n"
}

/// The database answers: the server can do its job.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.app.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, Error> {
    let mut out = String::with_capacity(4096);
    state.metrics.render(&mut out);
    let db = state.app.store().reader();
    let gauge = |out: &mut String, name: &str, help: &str, value: i64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        );
    };
    let environments = store::environments::count(db)
        .await
        .map_err(app::Error::from)?;
    gauge(
        &mut out,
        "switchyard_environments",
        "Environments (not deleted).",
        environments,
    );
    let releases = store::releases::count(db).await.map_err(app::Error::from)?;
    gauge(
        &mut out,
        "switchyard_releases",
        "Releases recorded in all environments.",
        releases,
    );
    let active = store::deployments::count_active_by_status(db)
        .await
        .map_err(app::Error::from)?;
    gauge(
        &mut out,
        "switchyard_deployments_in_progress",
        "Deployments that have not finished.",
        active.iter().map(|(_, n)| n).sum(),
    );
    let (runs, approvals, undelivered) = store::pipeline_runs::release_flow_counts(db)
        .await
        .map_err(app::Error::from)?;
    gauge(
        &mut out,
        "switchyard_pipeline_runs_in_progress",
        "Pipeline runs that have not finished.",
        runs,
    );
    gauge(
        &mut out,
        "switchyard_approvals_pending",
        "Release approvals waiting for votes.",
        approvals,
    );
    gauge(
        &mut out,
        "switchyard_notifications_queued",
        "Notifications not yet delivered (and not given up).",
        undelivered,
    );
    out.push_str(
        "# HELP switchyard_deployments_active Unfinished deployments by CodeDeploy status.\n",
    );
    out.push_str("# TYPE switchyard_deployments_active gauge\n");
    for status in switchyard_domain::deployment::DeploymentStatus::ALL
        .into_iter()
        .filter(|s| s.is_active())
    {
        let n = active
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(
            out,
            "switchyard_deployments_active{{status=\"{status}\"}} {n}"
        );
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}

pub async fn not_found(State(state): State<AppState>, request: axum::extract::Request) -> Error {
    state.metrics.observe(
        request.method().as_str(),
        super::metrics::UNMATCHED,
        404,
        std::time::Instant::now(),
    );
    Error::App(app::Error::NotFound(format!(
        "no route for {} {}",
        request.method(),
        request.uri().path()
    )))
}
