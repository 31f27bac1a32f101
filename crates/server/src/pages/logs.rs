//! Task logs on the dashboard: the panel of the environment's page (the
//! last lines of each live task) and `/environments/{name}/logs` (more
//! lines, the recently stopped tasks too). Server-rendered; askama escapes
//! every line.

use super::sessions::SignedIn;
use super::{Chrome, PageError, html};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use switchyard_core::app::task_logs::TaskLog;
use switchyard_core::app::{Actor, App};
use switchyard_domain::task_log::{LogTail, short_task_id};

/// Lines per task on the environment's page.
pub const PANEL_TAIL: LogTail = LogTail::clamped(20);
/// Lines per task on the full view.
pub const PAGE_TAIL: LogTail = LogTail::clamped(200);

/// One task's log as a page shows it.
pub struct TaskLogItem {
    pub task_id: String,
    pub short_id: String,
    pub label: Option<String>,
    /// `blue` or `green`, for the label's swatch.
    pub label_class: &'static str,
    pub status: String,
    pub status_class: &'static str,
    pub stopped_reason: Option<String>,
    /// The lines, oldest first, one per line.
    pub text: String,
}

impl From<TaskLog> for TaskLogItem {
    fn from(log: TaskLog) -> Self {
        let label_class = match log.task_set_label.as_deref() {
            Some("Blue") => "blue",
            Some("Green") => "green",
            _ => "",
        };
        let status_class = match log.last_status.as_str() {
            "RUNNING" => "good",
            "STOPPED" | "DEPROVISIONING" => "skip",
            _ => "busy",
        };
        TaskLogItem {
            short_id: short_task_id(&log.task_id).to_owned(),
            label_class,
            status_class,
            text: log.lines.join("\n"),
            task_id: log.task_id,
            label: log.task_set_label,
            status: log.last_status,
            stopped_reason: log.stopped_reason,
        }
    }
}

/// The task logs a page shows, or why there are none to show.
pub struct TaskLogsView {
    /// Newest task first.
    pub tasks: Vec<TaskLogItem>,
    /// Why no logs can be read here: an AWS environment (where they are
    /// instead), no stack yet, or the cloud failed to answer.
    pub unavailable: Option<String>,
    /// Stopped tasks the view leaves out (the panel shows live ones only).
    pub stopped_not_shown: usize,
}

impl TaskLogsView {
    /// The last `tail` lines of each task's log; with `live_only`, of the tasks
    /// not stopped. A failure to read them is shown in their place, so the
    /// rest of the page still renders.
    pub async fn read(
        app: &App,
        actor: &Actor,
        environment: &str,
        tail: LogTail,
        live_only: bool,
    ) -> TaskLogsView {
        match app.task_logs(actor, environment, tail, None).await {
            Ok(logs) => {
                let total = logs.len();
                let tasks: Vec<TaskLogItem> = logs
                    .into_iter()
                    .filter(|log| !(live_only && log.is_stopped()))
                    .map(TaskLogItem::from)
                    .collect();
                TaskLogsView {
                    stopped_not_shown: total - tasks.len(),
                    tasks,
                    unavailable: None,
                }
            }
            Err(e) => TaskLogsView {
                tasks: Vec::new(),
                unavailable: Some(PageError::from(e).message),
                stopped_not_shown: 0,
            },
        }
    }
}

#[derive(Template)]
#[template(path = "task_logs.html")]
struct TaskLogsPage {
    chrome: Chrome,
    environment: String,
    environment_href: String,
    lines: u32,
    logs: TaskLogsView,
}

pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let actor = &signed_in.session.actor;
    let chrome = Chrome::new(format!("{name} · task logs"), &signed_in.session, "/");
    // An unknown environment is a 404 page; any other failure shows in the page.
    state
        .app
        .environment(actor, &name)
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let logs = TaskLogsView::read(&state.app, actor, &name, PAGE_TAIL, false).await;
    Ok(html(
        StatusCode::OK,
        &TaskLogsPage {
            chrome,
            environment_href: format!("/environments/{name}"),
            environment: name,
            lines: PAGE_TAIL.lines(),
            logs,
        },
    ))
}
