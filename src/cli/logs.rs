//! `switchyard logs ENV`: the last lines of each task's log, one line of
//! output per log line, prefixed by the task's short id so it composes with
//! grep; which task is which goes to stderr.

use super::client::{ApiClient, CliError, segment};
use super::output::Output;
use serde_json::Value;
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
    let logs = client.get(&path).await?;
    if out == Output::Json {
        return Output::json(&logs);
    }
    let tasks = logs["tasks"].as_array().map_or(&[][..], Vec::as_slice);
    if tasks.is_empty() {
        eprintln!("environment {} has no tasks", args.environment);
    }
    for task in tasks {
        eprintln!("{}", describe(task));
        print!("{}", prefixed_lines(task));
    }
    Ok(())
}

/// `task 0123abcd (Green, RUNNING)`, with the stopped reason of a stopped task.
fn describe(task: &Value) -> String {
    let id = task["task_id"].as_str().unwrap_or_default();
    let status = task["last_status"].as_str().unwrap_or("unknown");
    let mut state = match task["task_set_label"].as_str() {
        Some(label) => format!("{label}, {status}"),
        None => status.to_owned(),
    };
    if let Some(reason) = task["stopped_reason"].as_str() {
        state.push_str(&format!(": {reason}"));
    }
    let lines = task["lines"].as_array().map_or(0, Vec::len);
    let empty = if lines == 0 { ", no output" } else { "" };
    format!("task {} ({state}){empty}", short_task_id(id))
}

/// Each log line as `<short task id> <line>`.
fn prefixed_lines(task: &Value) -> String {
    let id = short_task_id(task["task_id"].as_str().unwrap_or_default());
    task["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|line| format!("{id} {line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_line_carries_its_task_s_short_id() {
        let task = json!({"task_id": "0123456789abcdef", "task_set_label": "Green",
                          "last_status": "RUNNING", "stopped_reason": null,
                          "lines": ["listening", "GET / 200"]});
        assert_eq!(
            prefixed_lines(&task),
            "01234567 listening\n01234567 GET / 200\n"
        );
        assert_eq!(describe(&task), "task 01234567 (Green, RUNNING)");
    }

    #[test]
    fn a_stopped_task_says_why() {
        let task = json!({"task_id": "fedcba9876543210", "task_set_label": null,
                          "last_status": "STOPPED",
                          "stopped_reason": "Essential container in task exited",
                          "lines": []});
        assert_eq!(
            describe(&task),
            "task fedcba98 (STOPPED: Essential container in task exited), no output"
        );
        assert_eq!(prefixed_lines(&task), "");
    }
}
