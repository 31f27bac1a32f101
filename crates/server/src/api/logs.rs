//! `/api/environments/{name}/logs`: the last lines of each task's log.

use super::ApiQuery;
use crate::extract::{ApiPath, Authenticated};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use switchyard_api::logs::{TaskLogBody, TaskLogs};
use switchyard_core::app::task_logs::TaskLog;
use switchyard_domain::ForField;
use switchyard_domain::task_log::{LogTail, TaskIdPrefix};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Lines per task, the last ones (default 100). Read as text so a bad
    /// one gets a clear message.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    tail: Option<String>,
    /// Only the task with this id, or the tasks whose id starts with it.
    #[param(pattern = "^[A-Za-z0-9-]{1,64}$")]
    task: Option<String>,
}

/// One task and its last lines as the API shows them.
fn task_log_json(log: TaskLog) -> TaskLogBody {
    TaskLogBody {
        task_id: log.task_id,
        task_set_label: log.task_set_label,
        last_status: log.last_status,
        stopped_reason: log.stopped_reason,
        lines: log.lines,
    }
}

/// The last lines of each task's log: the running tasks and the recently
/// stopped ones, newest first. Local environments only: on AWS the tasks
/// log to CloudWatch Logs, and the 409 says which log group.
#[utoipa::path(get, path = "/api/environments/{name}/logs", tag = "tasks",
    params(("name" = String, Path, description = "Environment name"), LogParams),
    responses(
        (status = 200, body = TaskLogs),
        (status = 404, description = "No such environment, or no such task", body = ErrorBody),
        (status = 409, description = "An AWS environment (its logs are in CloudWatch Logs), or no stack yet", body = ErrorBody),
        (status = 422, description = "A bad tail or task", body = ErrorBody),
        (status = 502, description = "The cloud failed to answer", body = ErrorBody),
    ))]
pub async fn logs(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<TaskLogs>, Error> {
    let tail = params
        .tail
        .as_deref()
        .map(|raw| LogTail::parse(raw).for_field("tail"))
        .transpose()?
        .unwrap_or(LogTail::DEFAULT);
    let task = params
        .task
        .as_deref()
        .map(|raw| TaskIdPrefix::parse(raw).for_field("task"))
        .transpose()?;
    let logs = state
        .app
        .task_logs(&actor, &name, tail, task.as_ref())
        .await?;
    Ok(Json(TaskLogs {
        tasks: logs.into_iter().map(task_log_json).collect(),
    }))
}
