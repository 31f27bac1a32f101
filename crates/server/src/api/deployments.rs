//! Deployments: start one, watch it (JSON and Server-Sent Events), continue
//! it, roll it back.

use super::timestamp;
use crate::extract::{ApiJson, ApiPath, Authenticated, Authorized, Deployer, OptionalJson};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, Sse};
use std::convert::Infallible;
use switchyard_api::deployments::{
    AlarmStateChange, BreakGlass, ContinueBody, Deployment, DeploymentAlarm, DeploymentError,
    DeploymentList, EnvironmentRollbackBody, GateSideFigures, LifecycleEvent, LifecycleHook,
    MetricGateDecision, ReleaseRef, ScheduleStep, StartDeploymentBody, TaskSet, TaskSets,
    TrafficSample, Wait,
};
use switchyard_core::app::deployments::StartDeployment;
use switchyard_core::app::freeze::FreezeOverride;
use switchyard_core::app::guards::DeploymentGuards;
use switchyard_core::app::views::planned_steps;
use switchyard_core::store::deployments::DeploymentRow;
use switchyard_domain::ForField;
use switchyard_domain::deployment_config::DeploymentConfig;
use switchyard_domain::environment::{BreakGlassReason, GateDecision, SideFigures};

fn parse_config(name: Option<&str>) -> Result<Option<String>, Error> {
    name.map(|n| {
        DeploymentConfig::parse_predefined(n, "deployment_config")
            .map(|c| c.name().to_owned())
            .map_err(Error::from)
    })
    .transpose()
}

/// A deployment as the API shows it, with its traffic samples.
fn deployment_json(
    d: DeploymentRow,
    samples: Vec<(i64, f64)>,
    guards: DeploymentGuards,
) -> Deployment {
    let DeploymentGuards {
        alarms,
        gate_decisions,
        ..
    } = guards;
    let lifecycle = &d.lifecycle.0;
    let task_sets = &d.task_sets.0;
    let finished = d.status.is_terminal();
    let current = switchyard_domain::deployment::current_lifecycle_event(lifecycle, finished)
        .map(|e| e.name.clone());
    let set = |label: &str| {
        task_sets
            .iter()
            .find(|t| t.label == label)
            .map(|t| TaskSet {
                id: t.id.clone(),
                status: t.status.clone(),
                desired: t.desired,
                pending: t.pending,
                running: t.running,
                traffic_weight: t.traffic_weight,
                target_group: t.target_group.clone(),
            })
    };
    let planned_schedule = planned_steps(&d)
        .map(|(steps, _)| {
            steps
                .into_iter()
                .map(|(offset, weight)| ScheduleStep {
                    offset_seconds: (offset / 1000) as u64,
                    green_weight: weight,
                })
                .collect()
        })
        .unwrap_or_default();
    let controller = d.controller();
    Deployment {
        id: d.id,
        environment: d.environment,
        release: ReleaseRef {
            id: d.release_id,
            version: d.version,
            image: d.image,
            commit: d.git_commit,
        },
        controller: controller.to_string(),
        codedeploy_id: d.codedeploy_id,
        service_deployment_arn: d.service_deployment_arn,
        deployment_config: d.deployment_config,
        status: d.status.to_string(),
        ecs_status: d.cloud_status.map(|s| s.to_string()),
        rolled_back: d.rolled_back,
        current_lifecycle_event: current,
        lifecycle_events: lifecycle
            .iter()
            .map(|e| LifecycleEvent {
                name: e.name.clone(),
                status: e.status.to_string(),
                started_at: e.started_at.map(timestamp),
                ended_at: e.ended_at.map(timestamp),
            })
            .collect(),
        hooks: d
            .hooks
            .iter()
            .map(|h| LifecycleHook {
                hook_id: h.hook_id.clone(),
                target_type: h.target_type.to_string(),
                status: h.status.to_string(),
                expires_at: h.expires_at.map(timestamp),
                timeout_action: h.timeout_action.map(|a| a.to_string()),
            })
            .collect(),
        task_sets: TaskSets {
            blue: set("Blue"),
            green: set("Green"),
        },
        green_weight: d.green_weight,
        traffic_samples: samples
            .into_iter()
            .map(|(at, w)| TrafficSample {
                at: timestamp(at),
                green_weight: w,
            })
            .collect(),
        planned_schedule,
        error: d.error_code.map(|code| DeploymentError {
            code,
            message: d.error_message.unwrap_or_default(),
        }),
        alarms: alarms
            .into_iter()
            .map(|a| DeploymentAlarm {
                name: a.name,
                state: a.state.to_string(),
                stopped_deployment: a.stopped_deployment,
                history: a
                    .history
                    .into_iter()
                    .map(|c| AlarmStateChange {
                        at: timestamp(c.at),
                        state: c.state.to_string(),
                        reason: c.reason,
                    })
                    .collect(),
            })
            .collect(),
        metric_gate: gate_decisions.into_iter().map(gate_json).collect(),
        created_by: d.created_by,
        created_at: timestamp(d.created_at),
        updated_at: timestamp(d.updated_at),
        completed_at: d.completed_at.map(timestamp),
    }
}

fn gate_json(gate: GateDecision) -> MetricGateDecision {
    let side = |f: SideFigures| GateSideFigures {
        requests: f.requests,
        error_rate_pct: f.error_rate_pct,
        p99_ms: f.p99_ms,
    };
    MetricGateDecision {
        hold: gate.hold.to_string(),
        held_since: timestamp(gate.held_since),
        window_start: timestamp(gate.window_start),
        window_end: timestamp(gate.window_end),
        outcome: gate.outcome.map(|o| o.to_string()),
        blue: gate.blue.map(side),
        green: gate.green.map(side),
        reasons: gate.reasons,
        action: gate.action.map(|a| a.to_string()),
        decided_at: gate.decided_at.map(timestamp),
    }
}

async fn view(state: &AppState, d: DeploymentRow) -> Result<Deployment, Error> {
    let samples = state.app.traffic_samples(d.id).await?;
    let guards = state.app.deployment_guards(d.id).await?;
    Ok(deployment_json(d, samples, guards))
}

/// Start a blue/green deployment (deployer). An `Idempotency-Key` header
/// makes a retried request answer the first deployment (200) instead of
/// starting another.
#[utoipa::path(post, path = "/api/environments/{name}/deployments", tag = "deployments",
    params(("name" = String, Path, description = "Environment name"),
           ("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays return the first result",
            min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$")),
    request_body = StartDeploymentBody,
    responses(
        (status = 201, body = Deployment),
        (status = 200, description = "Replay of an earlier request with the same Idempotency-Key", body = Deployment),
        (status = 403, description = "Not a deployer, or break_glass from someone not an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A deployment is in progress, the stack is not provisioned, or the environment is frozen (code `frozen`; the message says until when)", body = ErrorBody),
        (status = 422, description = "A field is invalid, or a static: image names a directory that is missing or outside the static roots", body = ErrorBody),
        (status = 502, description = "The cloud refused", body = ErrorBody),
    ))]
pub async fn start(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Deployer>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StartDeploymentBody>,
) -> Result<(StatusCode, Json<Deployment>), Error> {
    let idempotency_key = match headers.get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .filter(|k| (1..=255).contains(&k.len()))
                .ok_or_else(|| {
                    Error::from(switchyard_domain::FieldError {
                        field: "Idempotency-Key".into(),
                        message: "the Idempotency-Key header must be 1 to 255 visible characters"
                            .into(),
                    })
                })?
                .to_owned(),
        ),
        None => None,
    };
    let request = StartDeployment {
        release: super::releases::parse_release(
            &body.version,
            &body.image,
            body.commit.as_deref(),
            body.author.as_deref(),
            body.message.as_deref(),
            &actor.name,
        )?,
        config: parse_config(body.deployment_config.as_deref())?,
        ecs: None,
        idempotency_key,
        freeze: freeze_override(body.break_glass.as_ref())?,
    };
    let (row, created) = state.app.start_deployment(&actor, &name, &request).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&state, row).await?)))
}

/// Going through a freeze when the body breaks the glass.
fn freeze_override(break_glass: Option<&BreakGlass>) -> Result<FreezeOverride, Error> {
    Ok(match break_glass {
        None => FreezeOverride::None,
        Some(glass) => FreezeOverride::BreakGlass {
            reason: BreakGlassReason::parse(&glass.reason).for_field("break_glass.reason")?,
        },
    })
}

/// A deployment: status, lifecycle events, task sets and traffic.
#[utoipa::path(get, path = "/api/deployments/{id}", tag = "deployments",
    params(("id" = i64, Path, description = "Deployment id")),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Deployment>, Error> {
    let d = state.app.deployment(&actor, id).await?;
    Ok(Json(view(&state, d).await?))
}

/// Continue a deployment held in a wait (deployer).
#[utoipa::path(post, path = "/api/deployments/{id}/continue", tag = "deployments",
    params(("id" = i64, Path, description = "Deployment id")),
    request_body = ContinueBody,
    responses((status = 200, body = Deployment), (status = 403, description = "Not a deployer, or break_glass from someone not an admin", body = ErrorBody), (status = 409, description = "Not in that wait, or the environment is frozen (code `frozen`)", body = ErrorBody), (status = 502, description = "The cloud refused or could not be reached", body = ErrorBody)))]
pub async fn continue_deployment(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Deployer>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ContinueBody>,
) -> Result<Json<Deployment>, Error> {
    let ready = matches!(body.wait, Wait::Ready);
    let freeze = freeze_override(body.break_glass.as_ref())?;
    let d = state
        .app
        .continue_deployment(&actor, id, ready, &freeze)
        .await?;
    Ok(Json(view(&state, d).await?))
}

/// Stop a deployment in flight and return all traffic to the original (deployer).
#[utoipa::path(post, path = "/api/deployments/{id}/rollback", tag = "deployments",
    params(("id" = i64, Path, description = "Deployment id")),
    responses((status = 200, body = Deployment), (status = 409, description = "Already finished", body = ErrorBody), (status = 502, description = "The cloud refused or could not be reached", body = ErrorBody)))]
pub async fn roll_back(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Deployer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Deployment>, Error> {
    let d = state.app.roll_back_deployment(&actor, id).await?;
    Ok(Json(view(&state, d).await?))
}

/// Redeploy the release before the live one (deployer). The body is
/// optional: without one (or with `null`) the release goes out with
/// CodeDeployDefault.ECSAllAtOnce.
#[utoipa::path(post, path = "/api/environments/{name}/rollback", tag = "deployments",
    params(("name" = String, Path, description = "Environment name")),
    request_body(content = Option<EnvironmentRollbackBody>, description = "Optional: the deployment config to roll back with"),
    responses(
        (status = 201, body = Deployment),
        (status = 409, description = "A deployment is in progress, or there is no earlier release to go back to", body = ErrorBody),
        (status = 502, description = "The cloud refused or could not be reached", body = ErrorBody),
    ))]
pub async fn roll_back_environment(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Deployer>,
    ApiPath(name): ApiPath<String>,
    OptionalJson(body): OptionalJson<EnvironmentRollbackBody>,
) -> Result<(StatusCode, Json<Deployment>), Error> {
    let config = parse_config(body.deployment_config.as_deref())?;
    let d = state
        .app
        .roll_back_environment(&actor, &name, config)
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, d).await?)))
}

/// Every change of a deployment as Server-Sent Events. Each event has an
/// `id:`; a client that reconnects with `Last-Event-ID` gets what it missed.
/// The stream ends after the deployment finishes.
#[utoipa::path(get, path = "/api/deployments/{id}/events", tag = "deployments",
    params(("id" = i64, Path, description = "Deployment id"),
           ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, description = "Resume after this event: the `id:` of the last one received")),
    responses((status = 200, description = "text/event-stream of deployment events", content_type = "text/event-stream")))]
pub async fn events(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<i64>,
    super::events::LastEventId(last): super::events::LastEventId,
) -> Result<Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>>, Error> {
    state.app.deployment(&actor, id).await?;
    let shutdown = state.shutting_down();
    let changes = state.app.subscribe_deployment_changes();
    Ok(super::events::live(
        DeploymentEvents { state, id },
        last,
        changes,
        shutdown,
    ))
}

struct DeploymentEvents {
    state: AppState,
    id: i64,
}

impl super::events::EventSource for DeploymentEvents {
    type Change = switchyard_core::app::deployments::DeploymentChanged;

    async fn after(
        &self,
        last: i64,
    ) -> switchyard_core::app::Result<Vec<switchyard_core::store::events::EventRow>> {
        self.state.app.deployment_events_after(self.id, last).await
    }

    async fn finished(&self) -> bool {
        match switchyard_core::store::deployments::find(self.state.app.store().reader(), self.id)
            .await
        {
            Ok(Some(d)) => d.status.is_terminal(),
            _ => true,
        }
    }

    fn concerns(&self, change: &Self::Change) -> bool {
        change.deployment_id == self.id
    }
}

/// An environment's latest deployments, newest first (`?limit=`, at most 50).
#[utoipa::path(get, path = "/api/environments/{name}/deployments", tag = "deployments",
    params(("name" = String, Path, description = "Environment name"), super::PageParams),
    responses((status = 200, body = DeploymentList), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(name): ApiPath<String>,
    super::ApiQuery(params): super::ApiQuery<super::PageParams>,
) -> Result<Json<DeploymentList>, Error> {
    let page = params.parse()?;
    let rows = state
        .app
        .environment_deployments(&actor, &name, page.limit.min(50))
        .await?;
    let mut deployments = Vec::with_capacity(rows.len());
    for row in rows {
        deployments.push(view(&state, row).await?);
    }
    Ok(Json(DeploymentList { deployments }))
}
