//! `/deployments/{id}`: the traffic chart, lifecycle timeline, task sets,
//! the approval a deployment held in Ready waits for, and the actions the
//! viewer may take; `/deployments/{id}/live` is the part of it app.js swaps
//! in as SSE events arrive.

use super::approvals::{ApprovalPanel, panel};
use super::chart::{self, Chart};
use super::csrf::{NoFields, SessionForm};
use super::format::{When, duration, percent, short_commit};
use super::sessions::SignedIn;
use super::{Chrome, PageError, html, see_other};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use switchyard_core::app::views::{AllowedActions, DeploymentView};
use switchyard_core::store;
use switchyard_domain::deployment::{DeploymentStatus, LifecycleEventStatus};
use switchyard_domain::service_deployment::DeploymentController;

/// A CSS class for a CodeDeploy status.
pub fn status_class(status: DeploymentStatus, rolled_back: bool) -> &'static str {
    use DeploymentStatus::*;
    match status {
        _ if rolled_back => "bad",
        Succeeded => "good",
        Failed | Stopped => "bad",
        Ready | Baking => "wait",
        Created | Queued | InProgress => "busy",
    }
}

/// A status as people read it ("Stopped, rolled back").
pub fn status_text(status: DeploymentStatus, rolled_back: bool) -> String {
    if rolled_back {
        format!("{status}, rolled back")
    } else {
        status.to_string()
    }
}

pub struct TimelineItem {
    pub name: String,
    pub status: String,
    pub class: &'static str,
    pub started: Option<When>,
    pub duration: Option<String>,
}

pub struct TaskSetView {
    /// "Blue" or "Green", as CodeDeploy labels them.
    pub label: &'static str,
    pub class: &'static str,
    /// "original" or "replacement"; "source" or "target" revision with ECS.
    pub role: &'static str,
    pub id: String,
    pub status: String,
    pub desired: i64,
    pub running: i64,
    pub pending: i64,
    pub weight: String,
    pub target_group: String,
}

/// One button with its confirmation.
pub struct ActionView {
    pub path: &'static str,
    pub label: &'static str,
    pub question: String,
    pub confirm: &'static str,
    pub danger: bool,
}

/// Everything the live part of the page shows.
pub struct DeploymentModel {
    pub id: i64,
    pub environment: String,
    pub version: String,
    pub commit: Option<String>,
    pub commit_short: Option<String>,
    pub config: String,
    pub status: String,
    pub status_class: &'static str,
    /// ECS's own status word, with its controller.
    pub ecs_status: Option<String>,
    /// "Task sets" and "Lifecycle", or "Service revisions" and "Stages".
    pub sets_title: &'static str,
    pub timeline_title: &'static str,
    /// The PAUSE hook holding the deployment: until when, and then what.
    pub pause: Option<String>,
    pub running: bool,
    pub current_event: Option<String>,
    pub created_by: String,
    pub created: When,
    pub completed: Option<When>,
    pub took: String,
    pub error: Option<String>,
    pub blue_weight: String,
    pub green_weight: String,
    pub chart: Chart,
    pub planned_note: Option<String>,
    pub timeline: Vec<TimelineItem>,
    pub task_sets: Vec<TaskSetView>,
    pub actions: Vec<ActionView>,
    /// Why no buttons are shown, if the role is the reason.
    pub actions_note: Option<String>,
    pub prod_url: Option<String>,
    pub approval: Option<ApprovalPanel>,
    pub csrf: String,
    /// The API's SSE stream of this deployment, for app.js.
    pub events_url: String,
    pub last_event: i64,
}

fn model(view: DeploymentView, allowed: AllowedActions, csrf: &str) -> DeploymentModel {
    let now = store::now_millis();
    let d = &view.row;
    let end = view.end;
    let chart = chart::build(&chart::ChartInput {
        window: view.window,
        end,
        running: !view.finished,
        traffic: &view.traffic,
        planned: view.planned.as_ref(),
    });
    let planned_note = view.planned.as_ref().map(|p| {
        let mut notes = Vec::new();
        if p.projected {
            notes.push("Traffic has not started moving; the plan is drawn from now.".to_owned());
        }
        if p.clock_ratio < 1.0 {
            notes.push(format!(
                "The local cloud runs {}× faster than the wall clock; the plan is drawn to that scale.",
                super::format::percent(1.0 / p.clock_ratio)
            ));
        }
        notes.join(" ")
    });
    let timeline = view
        .row
        .lifecycle
        .iter()
        .map(|e| TimelineItem {
            name: e.name.clone(),
            class: match e.status {
                LifecycleEventStatus::Succeeded => "good",
                LifecycleEventStatus::Failed => "bad",
                LifecycleEventStatus::InProgress => "busy",
                LifecycleEventStatus::Skipped => "skip",
                LifecycleEventStatus::Pending | LifecycleEventStatus::Unknown => "todo",
            },
            status: e.status.to_string(),
            started: e.started_at.map(|at| When::at(at, now)),
            duration: e.started_at.map(|start| {
                let took = duration(e.ended_at.unwrap_or(now) - start);
                if e.ended_at.is_none() && e.status == LifecycleEventStatus::InProgress {
                    format!("{took} so far")
                } else {
                    took
                }
            }),
        })
        .collect();
    let ecs = d.controller() == DeploymentController::Ecs;
    let (original, replacement) = if ecs {
        ("source", "target")
    } else {
        ("original", "replacement")
    };
    let task_sets = [("Blue", "blue", original), ("Green", "green", replacement)]
        .into_iter()
        .filter_map(|(label, class, role)| {
            view.task_set(label).map(|t| TaskSetView {
                label,
                class,
                role,
                id: t.id.rsplit('/').next().unwrap_or(&t.id).to_owned(),
                status: t.status.clone(),
                desired: t.desired,
                running: t.running,
                pending: t.pending,
                weight: percent(t.traffic_weight),
                target_group: t
                    .target_group
                    .as_deref()
                    .map(|tg| tg.rsplit(['/', ':']).nth(1).unwrap_or(tg).to_owned())
                    .unwrap_or_default(),
            })
        })
        .collect();
    // While the team's approval is pending, rerouting is the approvers'
    // call (the server refuses it by hand): the approval panel stands in.
    let awaiting_approval = view
        .approval
        .as_ref()
        .is_some_and(|a| a.view.approval.state == "pending");
    let mut actions = Vec::new();
    if !view.finished {
        if allowed.continue_deployment && d.status == DeploymentStatus::Ready && !awaiting_approval
        {
            actions.push(ActionView {
                path: "reroute",
                label: if ecs { "Continue" } else { "Reroute traffic" },
                question: if ecs {
                    format!(
                        "Release the PAUSE hook holding {} and let ECS go on with the deployment?",
                        d.version
                    )
                } else {
                    format!(
                        "Move production traffic to the replacement (green) task set of {} now, \
                         instead of waiting out the ready wait?",
                        d.version
                    )
                },
                confirm: if ecs {
                    "Yes, continue"
                } else {
                    "Yes, reroute traffic"
                },
                danger: false,
            });
        }
        // ECS has no call that ends its bake time early.
        if allowed.continue_deployment && d.status == DeploymentStatus::Baking && !ecs {
            actions.push(ActionView {
                path: "terminate-original",
                label: "Terminate original now",
                question: "End the termination wait and remove the original (blue) task set now? \
                           After this, rolling back needs a new deployment."
                    .into(),
                confirm: "Yes, terminate the original",
                danger: true,
            });
        }
        if allowed.roll_back_deployment {
            actions.push(ActionView {
                path: "rollback",
                label: "Stop and roll back",
                question: format!(
                    "Stop deployment {} and return all production traffic to the {original} (blue) {}?",
                    d.id,
                    if ecs { "revision" } else { "task set" }
                ),
                confirm: "Yes, stop and roll back",
                danger: true,
            });
        }
    }
    let actions_note = (!view.finished && !allowed.roll_back_deployment).then(|| {
        "Your role can watch this deployment; acting on it needs the deployer role.".into()
    });
    let current_event = view.current_event().map(|e| e.name.clone());
    DeploymentModel {
        id: d.id,
        environment: d.environment.clone(),
        version: d.version.clone(),
        commit_short: d.git_commit.as_deref().map(short_commit),
        commit: d.git_commit.clone(),
        config: d
            .deployment_config
            .trim_start_matches(switchyard_domain::deployment_config::PREDEFINED_PREFIX)
            .to_owned(),
        status: status_text(d.status, d.rolled_back),
        status_class: status_class(d.status, d.rolled_back),
        ecs_status: d.cloud_status.map(|s| s.to_string()),
        sets_title: if ecs {
            "Service revisions"
        } else {
            "Task sets"
        },
        timeline_title: if ecs { "Stages" } else { "Lifecycle" },
        pause: d.hooks.iter().find(|h| h.is_awaiting()).map(|h| {
            let until = h.expires_at.map_or_else(String::new, |at| {
                let when = When::at(at, now);
                format!(" until {} ({})", when.absolute, when.relative)
            });
            let then = h
                .timeout_action
                .map_or_else(String::new, |a| format!(", then {a}"));
            format!("Held by a PAUSE hook{until}{then}")
        }),
        running: !view.finished,
        current_event,
        created_by: d.created_by.clone(),
        created: When::at(d.created_at, now),
        completed: d.completed_at.map(|at| When::at(at, now)),
        took: duration(end - d.created_at),
        error: d
            .error_code
            .as_ref()
            .map(|code| format!("{code}: {}", d.error_message.as_deref().unwrap_or_default())),
        blue_weight: percent(100.0 - d.green_weight),
        green_weight: percent(d.green_weight),
        chart,
        planned_note,
        timeline,
        task_sets,
        actions,
        actions_note,
        prod_url: view.prod_url.clone(),
        approval: view
            .approval
            .as_ref()
            .map(|a| panel(a, csrf, &format!("/deployments/{}", d.id), now)),
        csrf: csrf.to_owned(),
        events_url: format!("/api/deployments/{}/events", d.id),
        last_event: view.last_event_id,
    }
}

#[derive(Template)]
#[template(path = "deployment.html")]
struct DeploymentPage {
    chrome: Chrome,
    d: DeploymentModel,
}

#[derive(Template)]
#[template(path = "deployment_live.html")]
struct DeploymentLive {
    d: DeploymentModel,
}

pub async fn page(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let chrome = Chrome::new(format!("Deployment {id}"), &session, "");
    let view = state
        .app
        .deployment_view(&session.actor, id, chart::COLUMNS)
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let d = model(
        view,
        AllowedActions::of(&session.actor),
        &session.csrf_token,
    );
    let chrome = Chrome {
        title: format!("Deployment {id} · {} {}", d.environment, d.version),
        ..chrome
    };
    Ok(html(StatusCode::OK, &DeploymentPage { chrome, d }))
}

pub async fn live(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let view = state
        .app
        .deployment_view(&session.actor, id, chart::COLUMNS)
        .await?;
    let d = model(
        view,
        AllowedActions::of(&session.actor),
        &session.csrf_token,
    );
    Ok(html(StatusCode::OK, &DeploymentLive { d }))
}

/// `POST /deployments/{id}/{action}`: the use case decides who may.
pub async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(i64, String)>,
    form: SessionForm<NoFields>,
) -> Response {
    let session = &form.signed_in.session;
    let chrome = Chrome::new("Refused", session, "");
    let back = format!("/deployments/{id}");
    let result = match action.as_str() {
        "reroute" => {
            state
                .app
                .continue_deployment(&session.actor, id, true)
                .await
        }
        "terminate-original" => {
            state
                .app
                .continue_deployment(&session.actor, id, false)
                .await
        }
        "rollback" => state.app.roll_back_deployment(&session.actor, id).await,
        _ => {
            return PageError::new(
                StatusCode::NOT_FOUND,
                "No such action",
                format!(
                    "{action:?} is not an action on deployments (reroute, terminate-original, rollback)"
                ),
            )
            .within(chrome)
            .back(back)
            .into_response();
        }
    };
    match result {
        Ok(_) => see_other(&back),
        Err(e) => PageError::from(e).within(chrome).back(back).into_response(),
    }
}
