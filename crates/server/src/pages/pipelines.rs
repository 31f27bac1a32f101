//! Pipeline runs: an environment's list (`/environments/{name}/pipeline`,
//! and the latest few on the environment's page), and one run
//! (`/pipeline-runs/{id}`): its stages as a timeline, the commit, the
//! deployment it led to, its approvals, Stop / Retry, and the build log,
//! which app.js follows through the API's log endpoint while it grows.
//! `/pipeline-runs/{id}/live` is the part app.js swaps in on SSE events.

use super::approvals::{ApprovalPanel, panel};
use super::csrf::SessionForm;
use super::deployment::{status_class as deployment_class, status_text as deployment_text};
use super::diff::diff_of;
use super::format::{When, duration, short_commit};
use super::sessions::SignedIn;
use super::{Chrome, PageError, html, see_other};
use crate::AppState;
use crate::api::pipelines::log_path;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchyard_core::app::Actor;
use switchyard_core::app::diffs::Candidate;
use switchyard_core::app::views::{PipelineActions, PipelineRunView, current_stage};
use switchyard_core::cloud::pipelines::{ActionState, StageState};
use switchyard_core::store::pipeline_runs::PipelineRunRow;
use switchyard_core::store::{self, PageRequest};
use switchyard_domain::ForField;
use switchyard_domain::pipeline::{ActionStatus, RunStatus, StageStatus};
use switchyard_domain::release::GitCommit;

/// A CSS class for a run's status.
pub fn run_class(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "good",
        RunStatus::Failed | RunStatus::Stopped | RunStatus::Cancelled => "bad",
        RunStatus::Stopping => "wait",
        RunStatus::InProgress => "busy",
        RunStatus::Superseded => "todo",
    }
}

/// A CSS class for a stage's status.
fn stage_class(status: StageStatus) -> &'static str {
    match status {
        StageStatus::Succeeded => "good",
        StageStatus::Failed | StageStatus::Stopped => "bad",
        StageStatus::InProgress => "busy",
        StageStatus::Stopping => "wait",
        StageStatus::NotStarted | StageStatus::Cancelled | StageStatus::Skipped => "todo",
    }
}

/// A CSS class for an action's status.
fn action_class(status: ActionStatus) -> &'static str {
    match status {
        ActionStatus::Succeeded => "good",
        ActionStatus::Failed | ActionStatus::Abandoned => "bad",
        ActionStatus::InProgress => "busy",
        ActionStatus::NotStarted => "todo",
    }
}

/// A CodePipeline status as people read it.
pub fn words(status: &str) -> String {
    match status {
        "InProgress" => "In progress".into(),
        "NotStarted" => "Not started".into(),
        other => other.to_owned(),
    }
}

/// "12 s", "3 min 05 s so far"; nothing before it started.
fn took(started: Option<i64>, ended: Option<i64>, running: bool, now: i64) -> Option<String> {
    let start = started?;
    let text = duration(ended.unwrap_or(now) - start);
    Some(if ended.is_none() && running {
        format!("{text} so far")
    } else {
        text
    })
}

/// The start of `text`, cut at a word within `max` characters ("…" marks the cut).
fn brief(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(at) if at > max / 2 => &cut[..at],
        _ => &cut,
    };
    format!("{}…", cut.trim_end())
}

/// What waits at a stage: an approval action in progress.
fn awaits_approval(stage: &StageState) -> bool {
    stage
        .actions
        .iter()
        .any(|a| a.category == "Approval" && a.status == ActionStatus::InProgress)
}

/// One run in a list.
pub struct RunItem {
    pub id: i64,
    pub href: String,
    pub status: String,
    pub class: &'static str,
    /// The stage it is at, and how that stage stands.
    pub stage: String,
    pub stage_status: String,
    pub stage_class: &'static str,
    pub commit_short: Option<String>,
    pub commit: Option<String>,
    pub message: String,
    pub trigger: String,
    pub started: When,
    pub took: String,
}

pub fn run_item(run: &PipelineRunRow, now: i64) -> RunItem {
    let current = current_stage(&run.stages);
    let (stage_status, stage_class) = match current {
        Some(s) if awaits_approval(s) => ("Waiting for approval".to_owned(), "wait"),
        Some(s) => (words(s.status.as_str()), stage_class(s.status)),
        None => ("Not started".to_owned(), "todo"),
    };
    RunItem {
        id: run.id,
        href: format!("/pipeline-runs/{}", run.id),
        status: words(run.status.as_str()),
        class: run_class(run.status),
        stage: current.map_or_else(|| "Source".to_owned(), |s| s.name.clone()),
        stage_status,
        stage_class,
        commit_short: run.commit_sha.as_deref().map(short_commit),
        commit: run.commit_sha.clone(),
        message: run
            .commit_message
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(100)
            .collect(),
        trigger: trigger_text(run),
        started: When::at(run.created_at, now),
        took: duration(run.completed_at.unwrap_or(now) - run.created_at),
    }
}

fn trigger_text(run: &PipelineRunRow) -> String {
    if run.trigger == "push" {
        format!("pushed by {}", run.author)
    } else {
        format!("started by {}", run.started_by)
    }
}

pub struct ActionView {
    pub name: String,
    pub status: String,
    pub class: &'static str,
    pub kind: String,
    pub summary: Option<String>,
    /// The start of its error; the whole is on the run's head and in the log.
    pub error: Option<String>,
    pub took: Option<String>,
    /// Whether to name it: not when it is its stage's only action of the same name.
    pub named: bool,
    /// Where it leads: the build log below, or the deployment's page.
    pub link: Option<Link>,
}

pub struct Link {
    pub href: String,
    pub label: &'static str,
}

pub struct StageView {
    pub name: String,
    pub status: String,
    pub class: &'static str,
    pub took: Option<String>,
    pub started: Option<When>,
    pub actions: Vec<ActionView>,
    pub current: bool,
}

pub struct DeploymentLink {
    pub href: String,
    pub id: i64,
    pub version: String,
    pub status: String,
    pub class: &'static str,
}

/// A build log on the page: app.js reads on from `offset` while the
/// build runs.
pub struct LogView {
    pub action: String,
    /// The API's log endpoint.
    pub url: String,
    /// The build it belongs to (a retried stage starts a new log).
    pub build: String,
    pub status: String,
    pub text: String,
    pub offset: u64,
    pub note: Option<String>,
}

/// Stop, with its confirmation.
pub struct StopAction {
    pub question: String,
}

/// Retry of one failed or stopped stage, with its confirmation.
pub struct RetryAction {
    pub stage: String,
    pub question: String,
}

/// Everything the live part of the run page shows.
pub struct RunModel {
    pub id: i64,
    pub environment: String,
    pub pipeline: String,
    pub execution_id: String,
    /// CodePipeline's status, for app.js.
    pub status: String,
    pub status_text: String,
    pub status_class: &'static str,
    pub running: bool,
    pub trigger: String,
    pub started: When,
    pub completed: Option<When>,
    pub took: String,
    pub commit: Option<String>,
    pub commit_short: Option<String>,
    pub message: String,
    pub author: String,
    /// Why it failed: the start, and the whole when that is longer.
    pub error: Option<String>,
    pub error_whole: Option<String>,
    pub stages: Vec<StageView>,
    pub now_at: Option<String>,
    pub deployment: Option<DeploymentLink>,
    pub approvals: Vec<ApprovalPanel>,
    pub stop: Option<StopAction>,
    pub retries: Vec<RetryAction>,
    pub actions_note: Option<String>,
    pub logs: Vec<LogView>,
    pub csrf: String,
    pub events_url: String,
    pub last_event: i64,
}

fn model(view: PipelineRunView, allowed: PipelineActions, csrf: &str) -> RunModel {
    let now = store::now_millis();
    let run = &view.run;
    let running = !view.finished;
    let current = current_stage(&run.stages).map(|s| s.name.clone());
    let deployment_href = view
        .deployment
        .as_ref()
        .map(|d| format!("/deployments/{}", d.id));
    let mut logs = Vec::new();
    let stages: Vec<StageView> = run
        .stages
        .iter()
        .map(|s| {
            let waiting = awaits_approval(s);
            StageView {
                name: s.name.clone(),
                status: if waiting {
                    "Waiting for approval".into()
                } else {
                    words(s.status.as_str())
                },
                class: if waiting {
                    "wait"
                } else {
                    stage_class(s.status)
                },
                took: took(
                    s.started_at,
                    s.ended_at,
                    s.status == StageStatus::InProgress,
                    now,
                ),
                started: s.started_at.map(|at| When::at(at, now)),
                current: running && current.as_deref() == Some(s.name.as_str()),
                actions: s
                    .actions
                    .iter()
                    .map(|a| {
                        let link = if let Some(url) = log_path(run.id, a) {
                            logs.push(log_view(a, url));
                            Some(Link {
                                href: format!("#log-{}", a.name),
                                label: "build log",
                            })
                        } else if a.category == "Deploy" {
                            deployment_href.clone().map(|href| Link {
                                href,
                                label: "deployment",
                            })
                        } else {
                            None
                        };
                        let running = a.status == ActionStatus::InProgress;
                        let waiting = running && a.category == "Approval";
                        ActionView {
                            name: a.name.clone(),
                            status: if waiting {
                                "Waiting for approval".into()
                            } else {
                                words(a.status.as_str())
                            },
                            class: if waiting {
                                "wait"
                            } else {
                                action_class(a.status)
                            },
                            kind: if a.provider.is_empty() {
                                a.category.clone()
                            } else {
                                format!("{} · {}", a.category, a.provider)
                            },
                            summary: a.summary.clone().filter(|s| !s.is_empty()),
                            error: a.error.as_deref().map(|e| brief(e, 140)),
                            named: !(s.actions.len() == 1 && a.name == s.name),
                            took: took(
                                a.started_at,
                                (!running).then_some(a.updated_at).flatten(),
                                running,
                                now,
                            ),
                            link,
                        }
                    })
                    // An unnamed action with nothing to say is its stage's badge already.
                    .filter(|a| {
                        a.named
                            || !a.kind.is_empty()
                            || a.error.is_some()
                            || a.summary.is_some()
                            || a.link.is_some()
                    })
                    .collect(),
            }
        })
        .collect();
    let mut approvals: Vec<ApprovalPanel> = view
        .approvals
        .iter()
        .map(|a| panel(a, csrf, &format!("/pipeline-runs/{}", run.id), now))
        .collect();
    // The one waiting for votes first, then the newest.
    approvals.sort_by_key(|p| (p.status != "pending", -p.id));
    let stop = (running && allowed.stop).then(|| StopAction {
        question: format!(
            "Stop pipeline run {} of {}? Actions in progress finish (or are abandoned, if you \
             tick the box); later stages do not start.",
            run.id, run.environment
        ),
    });
    let retries: Vec<RetryAction> = if allowed.retry {
        run.stages
            .iter()
            .filter(|s| s.status.is_retryable())
            .map(|s| RetryAction {
                stage: s.name.clone(),
                question: format!(
                    "Run the {} stage of pipeline run {} again, at the same commit?",
                    s.name, run.id
                ),
            })
            .collect()
    } else {
        Vec::new()
    };
    let retriable = run.stages.iter().any(|s| s.status.is_retryable());
    let actions_note = ((running || retriable) && !allowed.stop).then(|| {
        "Your role can watch this run; stopping or retrying it needs the deployer role.".into()
    });
    RunModel {
        id: run.id,
        environment: run.environment.clone(),
        pipeline: run.pipeline.clone(),
        execution_id: run.execution_id.clone(),
        status: run.status.to_string(),
        status_text: words(run.status.as_str()),
        status_class: run_class(run.status),
        running,
        trigger: trigger_text(run),
        started: When::at(run.created_at, now),
        completed: run.completed_at.map(|at| When::at(at, now)),
        took: duration(run.completed_at.unwrap_or(now) - run.created_at),
        commit_short: run.commit_sha.as_deref().map(short_commit),
        commit: run.commit_sha.clone(),
        message: run.commit_message.trim().to_owned(),
        author: run.author.clone(),
        error: run.error.as_deref().map(|e| brief(e, 300)),
        error_whole: run.error.clone().filter(|e| brief(e, 300) != *e),
        now_at: current.filter(|_| running),
        stages,
        deployment: view.deployment.as_ref().map(|d| DeploymentLink {
            href: format!("/deployments/{}", d.id),
            id: d.id,
            version: d.version.clone(),
            status: deployment_text(d.status, d.rolled_back),
            class: deployment_class(d.status, d.rolled_back),
        }),
        approvals,
        stop,
        retries,
        actions_note,
        logs,
        csrf: csrf.to_owned(),
        events_url: format!("/api/pipeline-runs/{}/events", run.id),
        last_event: view.last_event_id,
    }
}

fn log_view(action: &ActionState, url: String) -> LogView {
    LogView {
        action: action.name.clone(),
        url,
        build: action.external_id.clone().unwrap_or_default(),
        status: action.status.to_string(),
        text: String::new(),
        offset: 0,
        note: None,
    }
}

/// Logs longer than this show their end on the page, and link the whole.
const LOG_PAGE_BYTES: usize = 200_000;

/// Reads each build log as far as it goes now, for the first render.
async fn read_logs(state: &AppState, signed_in: &SignedIn, run_id: i64, logs: &mut [LogView]) {
    for log in logs {
        match state
            .app
            .build_log(&signed_in.session.actor, run_id, &log.action, 0)
            .await
        {
            Ok((text, next)) => {
                log.offset = next;
                if text.len() > LOG_PAGE_BYTES {
                    let mut cut = text.len() - LOG_PAGE_BYTES;
                    while !text.is_char_boundary(cut) {
                        cut += 1;
                    }
                    let cut = text[cut..].find('\n').map_or(cut, |n| cut + n + 1);
                    log.note = Some(format!(
                        "The first {} KB are not shown here; the link has the whole log.",
                        cut / 1024
                    ));
                    log.text = text[cut..].to_owned();
                } else {
                    log.text = text;
                }
            }
            Err(switchyard_core::app::Error::Unsupported(why)) => log.note = Some(why),
            Err(e) => log.note = Some(format!("The log could not be read: {e}")),
        }
    }
}

#[derive(Template)]
#[template(path = "pipeline_run.html")]
struct RunPage {
    chrome: Chrome,
    r: RunModel,
}

#[derive(Template)]
#[template(path = "pipeline_run_live.html")]
struct RunLive {
    r: RunModel,
}

pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let session = &signed_in.session;
    let chrome = Chrome::new(format!("Pipeline run {id}"), session, "");
    let view = state
        .app
        .pipeline_run_view(&session.actor, id)
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let mut r = model(
        view,
        PipelineActions::of(&session.actor),
        &session.csrf_token,
    );
    read_logs(&state, &signed_in, id, &mut r.logs).await;
    show_pending_diff(&state, &session.actor, id, &mut r).await;
    let chrome = Chrome {
        title: format!("Pipeline run {id} · {}", r.environment),
        ..chrome
    };
    Ok(html(StatusCode::OK, &RunPage { chrome, r }))
}

/// The live part; its logs are left empty, app.js keeps the ones it has.
pub async fn live(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let view = state.app.pipeline_run_view(&session.actor, id).await?;
    let mut r = model(
        view,
        PipelineActions::of(&session.actor),
        &session.csrf_token,
    );
    show_pending_diff(&state, &session.actor, id, &mut r).await;
    Ok(html(StatusCode::OK, &RunLive { r }))
}

/// What the run would deploy, on the approval that waits for votes: where
/// the approvers decide.
async fn show_pending_diff(state: &AppState, actor: &Actor, run_id: i64, r: &mut RunModel) {
    if let Some(pending) = r.approvals.iter_mut().find(|p| p.status == "pending") {
        let candidate = Candidate::PipelineRun(run_id);
        pending.diff = Some(diff_of(state, actor, &r.environment, &candidate).await);
    }
}

fn form_error(e: impl Into<PageError>, signed_in: &SignedIn, back: &str) -> Response {
    e.into()
        .within(Chrome::new("Refused", &signed_in.session, ""))
        .back(back)
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct StopForm {
    #[serde(default)]
    reason: String,
    /// A checkbox: present when ticked.
    abandon: Option<String>,
}

/// `POST /pipeline-runs/{id}/stop`.
pub async fn stop(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SessionForm<StopForm>,
) -> Response {
    let back = format!("/pipeline-runs/{id}");
    let reason = form.fields.reason.trim();
    if reason.chars().count() > 200 {
        let e = switchyard_core::app::Error::Invalid(switchyard_domain::FieldError {
            field: "reason".into(),
            message: "a reason must be at most 200 characters".into(),
        });
        return form_error(e, &form.signed_in, &back);
    }
    match state
        .app
        .stop_pipeline_run(
            &form.signed_in.session.actor,
            id,
            form.fields.abandon.is_some(),
            reason,
        )
        .await
    {
        Ok(_) => see_other(&back),
        Err(e) => form_error(e, &form.signed_in, &back),
    }
}

#[derive(Debug, Deserialize)]
pub struct RetryForm {
    #[serde(default)]
    stage: String,
    /// A checkbox: run every action of the stage again, not only the failed ones.
    all_actions: Option<String>,
}

/// `POST /pipeline-runs/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SessionForm<RetryForm>,
) -> Response {
    let back = format!("/pipeline-runs/{id}");
    match state
        .app
        .retry_pipeline_stage(
            &form.signed_in.session.actor,
            id,
            &form.fields.stage,
            form.fields.all_actions.is_some(),
        )
        .await
    {
        Ok(_) => see_other(&back),
        Err(e) => form_error(e, &form.signed_in, &back),
    }
}

const PAGE_SIZE: u32 = 25;

#[derive(Debug, Deserialize)]
pub struct ListParams {
    before: Option<String>,
}

#[derive(Template)]
#[template(path = "pipeline_runs.html")]
struct RunsPage {
    chrome: Chrome,
    environment: String,
    pipeline: Option<String>,
    runs: Vec<RunItem>,
    can_start: bool,
    csrf: String,
    next_href: Option<String>,
    first_href: Option<String>,
}

/// `GET /environments/{name}/pipeline`: the runs, newest first.
pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Response, PageError> {
    let session = &signed_in.session;
    let chrome = Chrome::new(format!("{name} · pipeline"), session, "/");
    let fail = |e: PageError| e.within(chrome.clone());
    let before = match params.before.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            fail(
                switchyard_core::app::Error::Invalid(switchyard_domain::FieldError {
                    field: "before".into(),
                    message: format!("{v:?} is not a page cursor"),
                })
                .into(),
            )
        })?),
    };
    let environment = state
        .app
        .environment(&session.actor, &name)
        .await
        .map_err(|e| fail(e.into()))?;
    let page = state
        .app
        .pipeline_runs(
            &session.actor,
            &name,
            PageRequest {
                before,
                limit: PAGE_SIZE,
            },
        )
        .await
        .map_err(|e| fail(e.into()))?;
    let now = store::now_millis();
    let base = format!("/environments/{name}/pipeline");
    let page = RunsPage {
        environment: name.clone(),
        can_start: PipelineActions::of(&session.actor).start && environment.pipeline.is_some(),
        pipeline: environment.pipeline,
        runs: page.items.iter().map(|r| run_item(r, now)).collect(),
        csrf: session.csrf_token.clone(),
        next_href: page.next_before.map(|b| format!("{base}?before={b}")),
        first_href: before.map(|_| base.clone()),
        chrome,
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    commit: String,
}

/// `POST /environments/{name}/pipeline/runs`: a run started by hand.
pub async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: SessionForm<StartForm>,
) -> Response {
    let back = format!("/environments/{name}/pipeline");
    let commit = match form.fields.commit.trim() {
        "" => None,
        sha => match GitCommit::parse(sha).for_field("commit") {
            Ok(c) => Some(c),
            Err(e) => {
                return form_error(
                    switchyard_core::app::Error::Invalid(e),
                    &form.signed_in,
                    &back,
                );
            }
        },
    };
    match state
        .app
        .start_pipeline_run(&form.signed_in.session.actor, &name, commit.as_ref())
        .await
    {
        Ok(run) => see_other(&format!("/pipeline-runs/{}", run.id)),
        Err(e) => form_error(e, &form.signed_in, &back),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_say_when_they_are_still_running() {
        assert_eq!(took(None, None, true, 10_000), None);
        assert_eq!(
            took(Some(0), None, true, 42_000).as_deref(),
            Some("42 s so far")
        );
        assert_eq!(
            took(Some(0), Some(3_000), false, 42_000).as_deref(),
            Some("3 s")
        );
    }

    #[test]
    fn long_errors_are_cut_at_a_word() {
        assert_eq!(brief("exit status 3", 20), "exit status 3");
        assert_eq!(
            brief("Build failed: exit status 3", 20),
            "Build failed: exit…"
        );
        assert_eq!(brief(&"x".repeat(30), 10), format!("{}…", "x".repeat(10)));
    }

    #[test]
    fn statuses_have_words_and_colours() {
        assert_eq!(words("InProgress"), "In progress");
        assert_eq!(words("Succeeded"), "Succeeded");
        assert_eq!(run_class(RunStatus::Failed), "bad");
        assert_eq!(run_class(RunStatus::Superseded), "todo");
        assert_eq!(action_class(ActionStatus::Abandoned), "bad");
        assert_eq!(stage_class(StageStatus::Stopping), "wait");
    }
}
