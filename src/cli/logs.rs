//! `switchyard logs ENV`: the last lines of each task's log, one line of
//! output per log line, prefixed by the task's short id so it composes with
//! grep; which task is which goes to stderr.

use super::client::{ApiClient, CliError, segment};
use super::output::Output;
use switchyard_api::logs::{TaskLogBody, TaskLogs};
use switchyard_domain::task_log::short_task_id;

pub(super) struct LogsArgs<'a> {
    pub environment: &'a str,
    pub tail: Option<u32>,
    pub task: Option<&'a str>,
}

pub(super) async fn run(
    client: &ApiClient,
    out: Output,
    args: LogsArgs<'_>,
) -> Result<(), CliError> {
    let mut path = format!("/api/environments/{}/logs", segment(args.environment));
    // The server checks both, so its message names the field at fault.
    let query: Vec<String> = [
        args.tail.map(|n| format!("tail={n}")),
        args.task.map(|id| format!("task={}", segment(id))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let logs: TaskLogs = client.get(&path).await?;
    if out == Output::Json {
        return Output::json(&logs);
    }
    if logs.tasks.is_empty() {
        eprintln!("environment {} has no tasks", args.environment);
    }
    for task in &logs.tasks {
        eprintln!("{}", describe(task));
        print!("{}", prefixed_lines(task));
    }
    Ok(())
}

/// `task 0123abcd (Green, RUNNING)`, with the stopped reason of a stopped task.
fn describe(task: &TaskLogBody) -> String {
    let status = &task.last_status;
    let mut state = match &task.task_set_label {
        Some(label) => format!("{label}, {status}"),
        None => status.clone(),
    };
    if let Some(reason) = &task.stopped_reason {
        state.push_str(&format!(": {reason}"));
    }
    let empty = if task.lines.is_empty() {
        ", no output"
    } else {
        ""
    };
    format!("task {} ({state}){empty}", short_task_id(&task.task_id))
}

/// Each log line as `<short task id> <line>`.
fn prefixed_lines(task: &TaskLogBody) -> String {
    let id = short_task_id(&task.task_id);
    task.lines
        .iter()
        .map(|line| format!("{id} {line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_carries_its_task_s_short_id() {
        let task = TaskLogBody {
            task_id: "0123456789abcdef".into(),
            task_set_label: Some("Green".into()),
            last_status: "RUNNING".into(),
            stopped_reason: None,
            lines: vec!["listening".into(), "GET / 200".into()],
        };
        assert_eq!(
            prefixed_lines(&task),
            "01234567 listening\n01234567 GET / 200\n"
        );
        assert_eq!(describe(&task), "task 01234567 (Green, RUNNING)");
    }

    #[test]
    fn a_stopped_task_says_why() {
        let task = TaskLogBody {
            task_id: "fedcba9876543210".into(),
            task_set_label: None,
            last_status: "STOPPED".into(),
            stopped_reason: Some("Essential container in task exited".into()),
            lines: Vec::new(),
        };
        assert_eq!(
            describe(&task),
            "task fedcba98 (STOPPED: Essential container in task exited), no output"
        );
        assert_eq!(prefixed_lines(&task), "");
    }
}
