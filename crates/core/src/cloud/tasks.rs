//! A service's ECS tasks (ListTasks, DescribeTasks), and on the local cloud
//! the tail of each one's log, which the local cloud keeps per task.

use super::Cloud;
use super::deployments::{CloudError, cloud_error};
use aws_sdk_ecs::types::DesiredStatus;
use std::time::Duration;

/// DescribeTasks takes at most this many tasks at a time.
const DESCRIBE_TASKS_BATCH: usize = 100;

/// How long the local cloud may take to hand over one task's log.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);

/// One task as ECS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskState {
    /// The last part of the task's ARN.
    pub task_id: String,
    /// Who started it: for a task set's task, the task set's id.
    pub started_by: Option<String>,
    pub last_status: String,
    pub stopped_reason: Option<String>,
    /// Epoch milliseconds; none while ECS is still placing it.
    pub created_at: Option<i64>,
}

/// Every task of `service`, running and recently stopped, newest first.
pub async fn service_tasks(
    cloud: &Cloud,
    cluster: &str,
    service: &str,
) -> Result<Vec<TaskState>, CloudError> {
    let mut arns = Vec::new();
    // ListTasks answers one desired status at a time (RUNNING by default).
    for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let mut next_token = None;
        loop {
            let page = cloud
                .ecs
                .list_tasks()
                .cluster(cluster)
                .service_name(service)
                .desired_status(status.clone())
                .set_next_token(next_token)
                .send()
                .await
                .map_err(cloud_error)?;
            arns.extend(page.task_arns().iter().cloned());
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }
    }
    let mut tasks = Vec::with_capacity(arns.len());
    for batch in arns.chunks(DESCRIBE_TASKS_BATCH) {
        let described = cloud
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(batch.to_vec()))
            .send()
            .await
            .map_err(cloud_error)?;
        tasks.extend(described.tasks().iter().filter_map(|t| {
            Some(TaskState {
                task_id: task_id_of(t.task_arn()?).to_owned(),
                started_by: t.started_by().map(str::to_owned),
                last_status: t.last_status().unwrap_or("PROVISIONING").to_owned(),
                stopped_reason: t.stopped_reason().map(str::to_owned),
                created_at: t
                    .created_at()
                    .or(t.started_at())
                    .and_then(|at| at.to_millis().ok()),
            })
        }));
    }
    newest_first(&mut tasks);
    Ok(tasks)
}

/// `arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID` → `ID`.
fn task_id_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Newest first; a task ECS has not dated yet is being placed right now.
fn newest_first(tasks: &mut [TaskState]) {
    tasks.sort_by_key(|t| std::cmp::Reverse(t.created_at.unwrap_or(i64::MAX)));
}

/// The last `tail` lines of a local cloud task's log, from the local cloud
/// at `endpoint`; `None` when it keeps no log of that task.
pub async fn local_task_log(
    http: &reqwest::Client,
    endpoint: &str,
    task_id: &str,
    tail: u32,
) -> Result<Option<Vec<String>>, CloudError> {
    let failed = |message: String| CloudError {
        code: None,
        message,
    };
    let mut url = reqwest::Url::parse(endpoint).map_err(|e| {
        failed(format!(
            "the local cloud's endpoint {endpoint} is not a URL: {e}"
        ))
    })?;
    url.path_segments_mut()
        .map_err(|()| failed(format!("the local cloud's endpoint {endpoint} has no path")))?
        .pop_if_empty()
        .extend(["_localcloud", "tasks", task_id, "logs"]);
    url.query_pairs_mut().append_pair("tail", &tail.to_string());
    let unreadable = |e: reqwest::Error| {
        failed(format!(
            "the local cloud did not hand over task {task_id}'s log: {e}"
        ))
    };
    let response = http
        .get(url)
        .timeout(LOG_TIMEOUT)
        .send()
        .await
        .map_err(unreadable)?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let status = response.status();
    let text = response.text().await.map_err(unreadable)?;
    if !status.is_success() {
        return Err(failed(format!(
            "the local cloud answered {status} for task {task_id}'s log: {}",
            text.trim()
        )));
    }
    Ok(Some(text.lines().map(str::to_owned).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, created_at: Option<i64>) -> TaskState {
        TaskState {
            task_id: id.into(),
            started_by: None,
            last_status: "RUNNING".into(),
            stopped_reason: None,
            created_at,
        }
    }

    #[test]
    fn tasks_are_listed_newest_first_undated_ones_on_top() {
        let mut tasks = vec![
            task("old", Some(1_000)),
            task("new", Some(3_000)),
            task("placing", None),
            task("middle", Some(2_000)),
        ];
        newest_first(&mut tasks);
        let order: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(order, ["placing", "new", "middle", "old"]);
    }

    #[test]
    fn the_task_id_is_the_arn_s_last_part() {
        assert_eq!(
            task_id_of("arn:aws:ecs:us-east-1:000000000000:task/web/0123abcd"),
            "0123abcd"
        );
        assert_eq!(task_id_of("0123abcd"), "0123abcd");
    }

    #[tokio::test]
    async fn a_local_task_log_is_read_line_by_line_and_a_missing_one_is_none() {
        use axum::extract::{Path, Query};
        use std::collections::HashMap;
        let app = axum::Router::new().route(
            "/_localcloud/tasks/{id}/logs",
            axum::routing::get(
                |Path(id): Path<String>, Query(q): Query<HashMap<String, String>>| async move {
                    match id.as_str() {
                        "known" => Ok(format!("tail {}\nsecond\r\n", q["tail"])),
                        "broken" => Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
                        _ => Err(axum::http::StatusCode::NOT_FOUND),
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        assert_eq!(
            local_task_log(&http, &endpoint, "known", 7).await.unwrap(),
            Some(vec!["tail 7".to_owned(), "second".to_owned()])
        );
        assert_eq!(
            local_task_log(&http, &endpoint, "gone", 7).await.unwrap(),
            None
        );
        let error = local_task_log(&http, &endpoint, "broken", 7)
            .await
            .unwrap_err();
        assert!(error.message.contains("500"), "{error}");
    }
}
