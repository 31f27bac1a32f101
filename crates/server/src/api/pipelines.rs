//! Pipeline runs: list, show, start by hand, stop, retry a stage, and read
//! a build log.

use super::approvals::approval_json;
use super::{ApiQuery, PageParams, cursor, timestamp};
use crate::extract::{ApiJson, ApiPath, Authenticated, Authorized, Deployer};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use switchyard_api::approvals::Approval;
use switchyard_api::pipelines::{
    Action, Commit, PipelineRun, PipelineRunPage, RetryBody, RetryMode, Stage, StartRunBody,
    StopRunBody,
};
use switchyard_core::store::pipeline_runs::PipelineRunRow;
use switchyard_domain::ForField;
use switchyard_domain::release::GitCommit;

/// A pipeline run as the API shows it, with its approvals.
fn pipeline_run_json(run: PipelineRunRow, approvals: Vec<Approval>) -> PipelineRun {
    let stages = run.stages.0;
    let id = run.id;
    PipelineRun {
        id,
        environment: run.environment,
        pipeline: run.pipeline,
        execution_id: run.execution_id,
        status: run.status.to_string(),
        trigger: run.trigger,
        started_by: run.started_by,
        commit: Commit {
            sha: run.commit_sha,
            message: run.commit_message,
            author: run.author,
        },
        stages: stages
            .into_iter()
            .map(|s| Stage {
                duration_seconds: match (s.started_at, s.ended_at) {
                    (Some(a), Some(b)) => Some((b - a).max(0) as f64 / 1000.0),
                    _ => None,
                },
                name: s.name,
                status: s.status.to_string(),
                started_at: s.started_at.map(timestamp),
                ended_at: s.ended_at.map(timestamp),
                actions: s
                    .actions
                    .into_iter()
                    .map(|a| Action {
                        log: log_path(id, &a),
                        name: a.name,
                        category: a.category,
                        provider: a.provider,
                        status: a.status.to_string(),
                        summary: a.summary,
                        error: a.error,
                        external_id: a.external_id,
                        external_url: a.external_url,
                        started_at: a.started_at.map(timestamp),
                        updated_at: a.updated_at.map(timestamp),
                    })
                    .collect(),
            })
            .collect(),
        error: run.error,
        deployment_id: run.deployment_id,
        approvals,
        created_at: timestamp(run.created_at),
        updated_at: timestamp(run.updated_at),
        completed_at: run.completed_at.map(timestamp),
    }
}

/// Where a build action's log is read through switchyard, once it has one.
pub fn log_path(
    run_id: i64,
    action: &switchyard_core::cloud::pipelines::ActionState,
) -> Option<String> {
    (action.category == "Build" && action.external_url.is_some())
        .then(|| format!("/api/pipeline-runs/{run_id}/actions/{}/log", action.name))
}

async fn view(state: &AppState, run: PipelineRunRow) -> Result<PipelineRun, Error> {
    let approvals = state
        .app
        .pipeline_run_approvals(run.id)
        .await?
        .into_iter()
        .map(approval_json)
        .collect();
    Ok(pipeline_run_json(run, approvals))
}

/// An environment's pipeline runs, newest first.
#[utoipa::path(get, path = "/api/environments/{name}/pipeline/runs", tag = "pipelines",
    params(("name" = String, Path, description = "Environment name"), PageParams),
    responses((status = 200, body = PipelineRunPage), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(name): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PipelineRunPage>, Error> {
    let page = state
        .app
        .pipeline_runs(&actor, &name, page.parse()?)
        .await?;
    let mut runs = Vec::with_capacity(page.items.len());
    for run in page.items {
        runs.push(view(&state, run).await?);
    }
    Ok(Json(PipelineRunPage {
        runs,
        next: cursor(page.next_before),
    }))
}

/// Start the environment's pipeline by hand (deployer).
#[utoipa::path(post, path = "/api/environments/{name}/pipeline/runs", tag = "pipelines",
    params(("name" = String, Path, description = "Environment name")),
    request_body = StartRunBody,
    responses(
        (status = 201, body = PipelineRun),
        (status = 403, body = ErrorBody),
        (status = 409, description = "The environment has no pipeline", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, description = "CodePipeline refused", body = ErrorBody),
    ))]
pub async fn start(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Deployer>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<StartRunBody>,
) -> Result<impl IntoResponse, Error> {
    let commit = body
        .commit
        .as_deref()
        .map(|c| GitCommit::parse(c).for_field("commit"))
        .transpose()?;
    let run = state
        .app
        .start_pipeline_run(&actor, &name, commit.as_ref())
        .await?;
    let location = format!("/api/pipeline-runs/{}", run.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view(&state, run).await?),
    ))
}

/// One pipeline run with its stages, actions and approvals.
#[utoipa::path(get, path = "/api/pipeline-runs/{id}", tag = "pipelines",
    params(("id" = i64, Path, description = "Pipeline run id")),
    responses((status = 200, body = PipelineRun), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PipelineRun>, Error> {
    let run = state.app.pipeline_run(&actor, id).await?;
    Ok(Json(view(&state, run).await?))
}

/// Stop a run (deployer).
#[utoipa::path(post, path = "/api/pipeline-runs/{id}/stop", tag = "pipelines",
    params(("id" = i64, Path, description = "Pipeline run id")),
    request_body = StopRunBody,
    responses((status = 200, body = PipelineRun), (status = 409, description = "Already finished", body = ErrorBody), (status = 502, description = "The cloud refused or could not be reached", body = ErrorBody)))]
pub async fn stop(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Deployer>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<StopRunBody>,
) -> Result<Json<PipelineRun>, Error> {
    let reason = body.reason.unwrap_or_default();
    if reason.chars().count() > 200 {
        return Err(switchyard_domain::FieldError {
            field: "reason".into(),
            message: "a reason must be at most 200 characters".into(),
        }
        .into());
    }
    let run = state
        .app
        .stop_pipeline_run(&actor, id, body.abandon, &reason)
        .await?;
    Ok(Json(view(&state, run).await?))
}

/// Retry a failed or stopped stage of a run (deployer).
#[utoipa::path(post, path = "/api/pipeline-runs/{id}/retry", tag = "pipelines",
    params(("id" = i64, Path, description = "Pipeline run id")),
    request_body = RetryBody,
    responses((status = 200, body = PipelineRun), (status = 409, description = "The stage has not failed", body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, description = "The cloud refused or could not be reached", body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Deployer>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RetryBody>,
) -> Result<Json<PipelineRun>, Error> {
    let all = matches!(body.mode, Some(RetryMode::AllActions));
    let run = state
        .app
        .retry_pipeline_stage(&actor, id, &body.stage, all)
        .await?;
    Ok(Json(view(&state, run).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Bytes already read; the answer's `X-Next-Offset` is where to go on.
    offset: Option<u64>,
}

/// A build action's log as plain text, from `offset`. While the build
/// runs, poll with the `X-Next-Offset` of the previous answer.
#[utoipa::path(get, path = "/api/pipeline-runs/{id}/actions/{action}/log", tag = "pipelines",
    params(("id" = i64, Path, description = "Pipeline run id"),
           ("action" = String, Path, description = "Action name"), LogParams),
    responses((status = 200, description = "The log", content_type = "text/plain"), (status = 404, body = ErrorBody), (status = 502, description = "The cloud refused or could not be reached", body = ErrorBody)))]
pub async fn build_log(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath((id, action)): ApiPath<(i64, String)>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<impl IntoResponse, Error> {
    let (text, next) = state
        .app
        .build_log(&actor, id, &action, params.offset.unwrap_or(0))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (
                header::HeaderName::from_static("x-next-offset"),
                next.to_string(),
            ),
        ],
        text,
    ))
}

/// Every change of a run (stages, actions, approvals, its deployment) as
/// Server-Sent Events, resumable with `Last-Event-ID`; ends when the run
/// finishes.
#[utoipa::path(get, path = "/api/pipeline-runs/{id}/events", tag = "pipelines",
    params(("id" = i64, Path, description = "Pipeline run id"),
           ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, description = "Resume after this event: the `id:` of the last one received")),
    responses((status = 200, description = "text/event-stream of the run's events", content_type = "text/event-stream")))]
pub async fn events(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<i64>,
    super::events::LastEventId(last): super::events::LastEventId,
) -> Result<impl IntoResponse, Error> {
    state.app.pipeline_run(&actor, id).await?;
    let shutdown = state.shutting_down();
    let changes = state.app.subscribe_run_changes();
    Ok(super::events::live(
        RunEvents { state, id },
        last,
        changes,
        shutdown,
    ))
}

struct RunEvents {
    state: AppState,
    id: i64,
}

impl super::events::EventSource for RunEvents {
    type Change = switchyard_core::app::pipelines::RunChanged;

    async fn after(
        &self,
        last: i64,
    ) -> switchyard_core::app::Result<Vec<switchyard_core::store::events::EventRow>> {
        self.state
            .app
            .pipeline_run_events_after(self.id, last)
            .await
    }

    async fn finished(&self) -> bool {
        match self.state.app.find_run(self.id).await {
            Ok(run) => run.status.is_terminal(),
            Err(_) => true,
        }
    }

    fn concerns(&self, change: &Self::Change) -> bool {
        change.run_id == self.id
    }
}
