//! `/deployments/{id}`: the traffic chart, lifecycle timeline, task sets,
//! the approval a deployment held in Ready waits for, and the actions the
//! viewer may take; `/deployments/{id}/live` is the part of it app.js swaps
//! in as SSE events arrive.

use super::alarm_strip::{self, AlarmChange, AlarmState, AlarmTrack, Strips};
use super::approvals::{ApprovalPanel, panel};
use super::chart::{self, Chart};
use super::csrf::{NoFields, SessionForm};
use super::format::{When, duration, percent, short_commit};
use super::gate_panel;
use super::metrics_chart::{self, MetricPeriod, Metrics, Side};
use super::sessions::SignedIn;
use super::{Chrome, PageError, html, see_other};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use switchyard_core::app::guards::DeploymentGuards;
use switchyard_core::app::views::{AllowedActions, DeploymentView};
use switchyard_core::store;
use switchyard_domain::deployment::{DeploymentStatus, LifecycleEventStatus};
use switchyard_domain::environment::{
    AlarmState as CloudAlarmState, DeploymentAlarm, GateDecision, TargetHealth,
};
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
    /// "2 of 2": its target group's healthy hosts of those registered, as
    /// the load balancer last counted them; and when, for the hover.
    pub healthy: String,
    pub healthy_title: String,
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
    /// Blue's and green's load balancer metrics; None while there are none.
    pub metrics: Option<Metrics>,
    /// Whether to show the metrics panel without metrics: a deployment
    /// still running may yet have some; one that ended without has none.
    pub metrics_panel: bool,
    pub alarms: Strips,
    /// The metric gate at each hold; empty when no gate watched.
    pub gates: Vec<gate_panel::GateView>,
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

/// What CloudWatch says about a deployment, as the page's panels take it.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// Blue's and green's listener metrics, per period of the cloud's clock.
    pub periods: Vec<MetricPeriod>,
    /// One period's wall-clock length, for when there are too few to tell.
    pub period_ms: i64,
    pub alarms: Vec<AlarmTrack>,
    pub gates: Vec<GateDecision>,
    /// Blue's and green's target group hosts, as last counted.
    pub target_health: Vec<TargetHealth>,
}

/// What the core recorded of a deployment's guards (its alarms, and blue's
/// and green's listener metrics per period) in the panels' terms.
fn watch(view: &DeploymentView, guards: DeploymentGuards) -> Watch {
    Watch {
        periods: guards
            .metrics
            .into_iter()
            .filter_map(|m| {
                let side = match m.side.as_str() {
                    "blue" => Side::Blue,
                    "green" => Side::Green,
                    _ => return None,
                };
                Some(MetricPeriod {
                    side,
                    start_ms: m.period_start,
                    requests: m.requests,
                    target_5xx: m.target_5xx,
                    p99_seconds: m.p99_seconds,
                })
            })
            .collect(),
        period_ms: cloud_minute(view),
        alarms: guards.alarms.into_iter().map(alarm_track).collect(),
        gates: guards.gate_decisions,
        target_health: guards.target_health,
    }
}

/// What a task set's card says of its health: the hosts of the target
/// group on its `side` ("blue" or "green"), and when they were counted.
fn healthy_hosts(side: &str, health: &[TargetHealth]) -> (String, String) {
    match health.iter().find(|h| h.side.as_str() == side) {
        Some(h) => (
            format!("{:.0} of {:.0}", h.healthy, h.healthy + h.unhealthy),
            format!(
                "HealthyHostCount of its target group in CloudWatch, the period from {}",
                When::at(h.period_start, h.period_start).absolute
            ),
        ),
        None => (
            "not counted yet".to_owned(),
            "CloudWatch has not counted its target group's hosts yet".to_owned(),
        ),
    }
}

fn alarm_track(alarm: DeploymentAlarm) -> AlarmTrack {
    let state = |s: CloudAlarmState| match s {
        CloudAlarmState::Ok => AlarmState::Ok,
        CloudAlarmState::Alarm => AlarmState::Alarm,
        CloudAlarmState::InsufficientData => AlarmState::InsufficientData,
    };
    AlarmTrack {
        name: alarm.name,
        state: state(alarm.state),
        stopped_deployment: alarm.stopped_deployment,
        changes: alarm
            .history
            .into_iter()
            .map(|c| AlarmChange {
                at_ms: c.at,
                state: state(c.state),
                reason: c.reason,
            })
            .collect(),
    }
}

/// One minute of the cloud's clock on the wall clock: shorter when the
/// local cloud runs with a time scale.
fn cloud_minute(view: &DeploymentView) -> i64 {
    let ratio = view.planned.as_ref().map_or(1.0, |p| p.clock_ratio);
    ((60_000.0 * ratio) as i64).max(1)
}

fn model(
    view: DeploymentView,
    watch: Watch,
    allowed: AllowedActions,
    csrf: &str,
) -> DeploymentModel {
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
    let metrics = (!watch.periods.is_empty()).then(|| {
        metrics_chart::build(&metrics_chart::MetricsInput {
            window: view.window,
            now: (!view.finished).then_some(end),
            period_ms: watch.period_ms,
            periods: &watch.periods,
        })
    });
    let alarms = alarm_strip::build(&alarm_strip::StripInput {
        window: view.window,
        start: d.created_at,
        end,
        now,
        alarms: &watch.alarms,
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
            let t = view.task_set(label)?;
            let (healthy, healthy_title) = healthy_hosts(class, &watch.target_health);
            Some(TaskSetView {
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
                healthy,
                healthy_title,
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
        metrics_panel: metrics.is_some() || !view.finished,
        metrics,
        alarms,
        gates: gate_panel::build(&watch.gates, now),
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
    /// Set while the deployment's environment is frozen.
    freeze: Option<switchyard_core::app::freeze::FreezeView>,
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
    let guards = state
        .app
        .deployment_guards(id)
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let watch = watch(&view, guards);
    let d = model(
        view,
        watch,
        AllowedActions::of(&session.actor),
        &session.csrf_token,
    );
    let chrome = Chrome {
        title: format!("Deployment {id} · {} {}", d.environment, d.version),
        ..chrome
    };
    // A deleted environment has no freeze to show.
    let freeze = match state.app.environment(&session.actor, &d.environment).await {
        Ok(env) => env
            .freeze_now()
            .map_err(|e| PageError::from(e).within(chrome.clone()))?,
        Err(_) => None,
    };
    Ok(html(StatusCode::OK, &DeploymentPage { chrome, d, freeze }))
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
    let guards = state.app.deployment_guards(id).await?;
    let watch = watch(&view, guards);
    let d = model(
        view,
        watch,
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
                .continue_deployment(&session.actor, id, true, &Default::default())
                .await
        }
        "terminate-original" => {
            state
                .app
                .continue_deployment(&session.actor, id, false, &Default::default())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::{NavItem, assets};
    use sqlx::types::Json;
    use switchyard_core::app::views::{ChartWindow, PlannedShift};
    use switchyard_core::store::deployments::DeploymentRow;
    use switchyard_core::store::views::TrafficColumn;
    use switchyard_domain::deployment::{LifecycleEventState, TaskSetState};
    use switchyard_domain::environment::{GateAction, GateHold, GateOutcome, SideFigures};

    const T0: i64 = 1_764_230_400_000;
    const MIN: i64 = 60_000;

    fn row(end: i64) -> DeploymentRow {
        let event = |name: &str, status, from: i64, to: Option<i64>| LifecycleEventState {
            name: name.into(),
            status,
            started_at: Some(T0 + from),
            ended_at: to.map(|t| T0 + t),
        };
        let set = |label: &str, weight: f64| TaskSetState {
            label: label.into(),
            id: format!("arn:aws:ecs:us-east-1:000000000000:task-set/demo/demo/ecs-svc/{label}"),
            status: "PRIMARY".into(),
            desired: 2,
            pending: 0,
            running: 2,
            traffic_weight: weight,
            target_group: Some(format!(
                "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/demo-{}/1",
                label.to_lowercase()
            )),
        };
        use LifecycleEventStatus::*;
        DeploymentRow {
            id: 42,
            environment_id: 1,
            environment: "demo".into(),
            release_id: 7,
            version: "v1.4.0".into(),
            image: "demo:v1.4.0".into(),
            git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            codedeploy_id: Some("d-EXAMPLE42".into()),
            deployment_config: "CodeDeployDefault.ECSLinear10PercentEvery1Minutes".into(),
            status: DeploymentStatus::Stopped,
            rolled_back: true,
            task_definition_arn: None,
            lifecycle: Json(vec![
                event("Install", Succeeded, 0, Some(25_000)),
                event("AllowTestTraffic", Succeeded, 25_000, Some(30_000)),
                event("AllowTraffic", Failed, 30_000, Some(end - T0)),
            ]),
            task_sets: Json(vec![set("Blue", 100.0), set("Green", 0.0)]),
            green_weight: 0.0,
            error_code: Some("ALARM_ACTIVE".into()),
            error_message: Some("One or more alarms have been activated: demo-green-5xx".into()),
            created_by: "ann".into(),
            created_at: T0,
            updated_at: end,
            completed_at: Some(end),
            service_deployment_arn: None,
            cloud_status: None,
            hooks: Json(Vec::new()),
            ecs_deployment: None,
        }
    }

    /// A linear shift stopped by a 5xx alarm on green after five minutes.
    fn example() -> (DeploymentView, Watch) {
        let end = T0 + 5 * MIN + 40_000;
        let planned = PlannedShift {
            starts_at: T0 + 30_000,
            projected: false,
            steps: (0..=10).map(|i| (i * MIN, (i * 10) as f64)).collect(),
            clock_ratio: 1.0,
        };
        let weight_at = |t: i64| {
            if t < T0 + 30_000 || t >= end - 20_000 {
                0.0
            } else {
                ((t - T0 - 30_000).max(0) / MIN * 10 + 10).min(100) as f64
            }
        };
        let samples: Vec<i64> = (0..=(end - T0) / 5_000).map(|i| T0 + i * 5_000).collect();
        let window = ChartWindow::new(T0, end, planned.end(), samples.last().copied());
        let traffic = samples
            .iter()
            .map(|&at| {
                let w = weight_at(at);
                TrafficColumn {
                    column: (at - window.start) * i64::from(chart::COLUMNS) / window.span,
                    first_at: at,
                    first_weight: w,
                    low: w,
                    high: w,
                    last_at: at,
                    last_weight: w,
                    samples: 1,
                }
            })
            .collect();
        let mut periods = Vec::new();
        for minute in 0..6 {
            let start = T0 + minute * MIN;
            let green = weight_at(start + 30_000) / 100.0;
            let requests = 1_200.0;
            periods.push(MetricPeriod {
                side: Side::Blue,
                start_ms: start,
                requests: requests * (1.0 - green),
                target_5xx: if minute == 2 { 1.0 } else { 0.0 },
                p99_seconds: Some(0.082 + 0.004 * minute as f64),
            });
            periods.push(MetricPeriod {
                side: Side::Green,
                start_ms: start,
                requests: requests * green,
                target_5xx: if minute >= 4 {
                    requests * green * 0.08
                } else {
                    0.0
                },
                p99_seconds: (green > 0.0).then_some(0.11 + 0.03 * minute as f64),
            });
        }
        let alarms = vec![
            AlarmTrack {
                name: "demo-green-5xx".into(),
                state: AlarmState::Alarm,
                stopped_deployment: true,
                changes: vec![
                    AlarmChange {
                        at_ms: end - 30_000,
                        state: AlarmState::Alarm,
                        reason: "Threshold Crossed: 1 out of the last 1 datapoints [8.0 (07/12/26 00:04:00)] was greater than the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition).".into(),
                    },
                    AlarmChange {
                        at_ms: T0 - 3_600_000,
                        state: AlarmState::Ok,
                        reason: "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching].".into(),
                    },
                ],
            },
            AlarmTrack {
                name: "demo-p99-latency".into(),
                state: AlarmState::Ok,
                stopped_deployment: false,
                changes: vec![AlarmChange {
                    at_ms: T0 + 90_000,
                    state: AlarmState::Ok,
                    reason: "Threshold Crossed: 3 datapoints were not greater than the threshold (0.5).".into(),
                }],
            },
        ];
        let view = DeploymentView {
            row: row(end),
            window,
            end,
            traffic: std::sync::Arc::new(traffic),
            planned: Some(planned),
            approval: None,
            prod_url: Some("http://127.0.0.1:8080/".into()),
            finished: true,
            last_event_id: 99,
        };
        let watch = Watch {
            periods,
            period_ms: MIN,
            alarms,
            gates: vec![GateDecision {
                outcome: Some(GateOutcome::Failed),
                blue: Some(SideFigures {
                    requests: 1_080.0,
                    error_rate_pct: 0.0,
                    p99_ms: Some(86.0),
                }),
                green: Some(SideFigures {
                    requests: 120.0,
                    error_rate_pct: 8.0,
                    p99_ms: Some(170.0),
                }),
                reasons: vec!["green's 5xx rate 8.0 % is above blue's 0.0 % + 1 pp".into()],
                action: Some(GateAction::RolledBack),
                decided_at: Some(end - 20_000),
                ..GateDecision::seen(GateHold::ReadyWait, T0 + 30_000, MIN, 2)
            }],
            target_health: vec![TargetHealth {
                side: switchyard_domain::environment::Side::Blue,
                period_start: end - MIN,
                healthy: 2.0,
                unhealthy: 0.0,
            }],
        };
        (view, watch)
    }

    fn page(view: DeploymentView, watch: Watch) -> String {
        let d = model(
            view,
            watch,
            AllowedActions {
                deploy: true,
                continue_deployment: true,
                roll_back_deployment: true,
            },
            "csrf-token",
        );
        let chrome = Chrome {
            title: format!("Deployment {}", d.id),
            user: "ann".into(),
            role: "deployer",
            csrf: "csrf-token".into(),
            nav: vec![NavItem {
                href: "/",
                label: "Environments",
                current: false,
            }],
            css: assets::css_url(),
            js: assets::js_url(),
        };
        DeploymentPage {
            chrome,
            d,
            freeze: None,
        }
        .render()
        .unwrap()
    }

    /// The text between `from` and the next `to` after it.
    fn between<'a>(html: &'a str, from: &str, to: &str) -> &'a str {
        let start = html.find(from).unwrap_or_else(|| panic!("no {from}"));
        let rest = &html[start..];
        &rest[..rest.find(to).unwrap_or(rest.len())]
    }

    #[test]
    fn the_page_draws_blue_and_green_metrics_and_the_alarms() {
        let (view, watch) = example();
        let html = page(view, watch);
        if let Some(path) = std::env::var_os("SWITCHYARD_EXAMPLE_PAGE") {
            // For a look in a browser: the stylesheet inline, no script.
            let inline = html
                .replace(
                    &format!("<link rel=\"stylesheet\" href=\"{}\">", assets::css_url()),
                    &format!("<style>{}</style>", assets::CSS),
                )
                .replace(
                    &format!("<script src=\"{}\" defer></script>", assets::js_url()),
                    "",
                );
            std::fs::write(path, inline).unwrap();
        }
        for id in ["requests", "errors", "latency"] {
            let chart = between(&html, &format!("id=\"metric-{id}\""), "</figure>");
            for side in ["blue", "green"] {
                let series = between(chart, &format!("class=\"series {side}\""), "</g>");
                assert!(series.contains("<path d=\"M"), "{id} {side}: {series}");
            }
            assert!(chart.contains("viewBox=\"0 0 720 "));
        }
        let table = between(&html, "<table class=\"latest", "</table>");
        assert!(table.contains("Blue") && table.contains("Green"));
        assert!(table.contains("req/s") && table.contains(" ms"));
        let alarms = between(&html, "id=\"alarms\"", "</section>");
        assert!(alarms.contains("1 in ALARM"));
        assert!(alarms.contains("demo-green-5xx"));
        assert!(alarms.contains("stopped this deployment"));
        assert!(alarms.contains("class=\"band bad\""));
        assert!(alarms.contains("<details class=\"changes\""));
        assert!(alarms.contains("was greater than the threshold (5.0)"));
        // Under the traffic chart, in the live fragment.
        let traffic = html.find("id=\"traffic-title\"").unwrap();
        let metrics = html.find("id=\"metrics\"").unwrap();
        assert!(traffic < metrics && metrics < html.find("id=\"alarms\"").unwrap());
        let gate = between(&html, "id=\"metric-gate\"", "</section>");
        assert!(gate.contains("At the ready wait"), "{gate}");
        assert!(gate.contains("<span class=\"badge bad\">failed</span>"));
        assert!(gate.contains("<td class=\"num\" data-label=\"Green\">8.0 %</td>"));
        assert!(gate.contains("5xx rate 8.0 % is above blue"), "{gate}");
        assert!(gate.contains("The gate rolled it back."));
        // Each card says its target group's hosts, as last counted.
        let blue = between(&html, "<article class=\"set blue\"", "</article>");
        assert!(
            blue.contains("<dt>Healthy</dt><dd title=\"HealthyHostCount of its target group"),
            "{blue}"
        );
        assert!(blue.contains(">2 of 2</dd>"), "{blue}");
        let green = between(&html, "<article class=\"set green\"", "</article>");
        assert!(green.contains(">not counted yet</dd>"), "{green}");
    }

    #[test]
    fn without_cloudwatch_data_the_panels_say_so_or_stay_away() {
        let (view, _) = example();
        let html = page(view.clone(), Watch::default());
        assert!(!html.contains("id=\"metrics\""));
        assert!(html.contains("No CloudWatch alarm watches this deployment"));
        assert!(!html.contains("id=\"metric-gate\""));
        let running = DeploymentView {
            finished: false,
            ..view
        };
        let html = page(running, Watch::default());
        assert!(html.contains("No load balancer metrics yet"));
    }

    #[test]
    fn the_cores_guards_become_the_panels_inputs() {
        use switchyard_domain::environment::AlarmStateChange;
        let (mut view, _) = example();
        let alarms = vec![DeploymentAlarm {
            name: "demo-target-5xx".into(),
            state: CloudAlarmState::Alarm,
            stopped_deployment: true,
            history: vec![AlarmStateChange {
                at: T0 + MIN,
                state: CloudAlarmState::Alarm,
                reason: "Threshold Crossed".into(),
            }],
        }];
        let metric = |side: &str| switchyard_core::store::guards::MetricRow {
            side: side.into(),
            period_start: T0,
            requests: 10.0,
            target_5xx: 1.0,
            p99_seconds: None,
        };
        let metrics = vec![metric("blue"), metric("green"), metric("purple")];
        let guards = DeploymentGuards {
            alarms,
            metrics,
            gate_decisions: vec![GateDecision::seen(GateHold::ReadyWait, T0, MIN, 5)],
            target_health: Vec::new(),
        };
        let w = watch(&view, guards);
        assert_eq!(w.gates.len(), 1);
        assert_eq!(w.period_ms, 60_000);
        let sides: Vec<_> = w.periods.iter().map(|p| p.side).collect();
        assert_eq!(sides, [Side::Blue, Side::Green]);
        assert_eq!(w.periods[0].start_ms, T0);
        assert_eq!(w.alarms[0].state, AlarmState::Alarm);
        assert!(w.alarms[0].stopped_deployment);
        assert_eq!(w.alarms[0].changes[0].at_ms, T0 + MIN);
        assert_eq!(w.alarms[0].changes[0].reason, "Threshold Crossed");
        // A local cloud at --time-scale 60: a cloud minute is a second.
        view.planned.as_mut().unwrap().clock_ratio = 1.0 / 60.0;
        assert_eq!(watch(&view, DeploymentGuards::default()).period_ms, 1_000);
    }
}
