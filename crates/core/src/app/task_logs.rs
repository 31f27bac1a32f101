//! The recent log lines of an environment's tasks. The local cloud keeps a
//! log per task and hands its tail over; on AWS the tasks log to CloudWatch
//! Logs, which switchyard does not read, and the answer says where to look.

use super::deployments::service_target_of;
use super::environments::find_environment;
use super::{Actor, App, Error, Result};
use crate::cloud::deployments::{CloudError, TaskSetState};
use crate::cloud::tasks::{self, TaskState};
use crate::store::{self, environments::EnvironmentRow};
use switchyard_domain::environment::Platform;
use switchyard_domain::task_log::{LogTail, TaskIdPrefix, short_task_id};
use switchyard_domain::user::Role;

/// One task and the last lines of its log.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskLog {
    pub task_id: String,
    /// Blue or Green: the task set it belongs to in the latest deployment,
    /// when that deployment saw it.
    pub task_set_label: Option<String>,
    pub last_status: String,
    pub stopped_reason: Option<String>,
    /// Oldest first.
    pub lines: Vec<String>,
}

impl TaskLog {
    pub fn is_stopped(&self) -> bool {
        self.last_status == "STOPPED"
    }
}

impl App {
    /// The last `tail` lines of each task of an environment's service,
    /// newest task first, the recently stopped ones included; only the
    /// tasks whose id starts with `task` when it is given.
    pub async fn task_logs(
        &self,
        actor: &Actor,
        environment: &str,
        tail: LogTail,
        task: Option<&TaskIdPrefix>,
    ) -> Result<Vec<TaskLog>> {
        actor.require(Role::Viewer, "reading task logs")?;
        let db = self.store.reader();
        let env = find_environment(db, environment).await?;
        if env.platform != Platform::Local {
            return Err(Error::Conflict(self.cloudwatch_pointer(&env).await?));
        }
        let target = service_target_of(&env)?;
        let cloud = self.cloud_for(&env).await?;
        let mut found = tasks::service_tasks(&cloud, target.cluster, target.service)
            .await
            .map_err(|e| service_gone(&env, e))?;
        if let Some(prefix) = task {
            let known: Vec<String> = found
                .iter()
                .map(|t| short_task_id(&t.task_id).to_owned())
                .collect();
            found.retain(|t| prefix.matches(&t.task_id));
            if found.is_empty() {
                let prefix = prefix.as_str();
                return Err(Error::NotFound(if known.is_empty() {
                    format!("environment {environment} has no tasks, so none is {prefix:?}")
                } else {
                    format!(
                        "environment {environment} has no task {prefix:?}; its tasks are {}",
                        known.join(", ")
                    )
                }));
            }
        }
        let task_sets: Vec<TaskSetState> = store::deployments::for_environment(db, env.id, 1)
            .await?
            .into_iter()
            .next()
            .map(|d| d.task_sets.0)
            .unwrap_or_default();
        let endpoint = &self.cloud_settings()?.local_endpoint;
        let reads = found
            .iter()
            .map(|t| tasks::local_task_log(&self.http, endpoint, &t.task_id, tail.lines()));
        let logs = futures_util::future::join_all(reads).await;
        found
            .into_iter()
            .zip(logs)
            .map(|(t, lines)| {
                Ok(TaskLog {
                    task_set_label: label_of(&t, &task_sets),
                    lines: lines.map_err(Error::from)?.unwrap_or_default(),
                    task_id: t.task_id,
                    last_status: t.last_status,
                    stopped_reason: t.stopped_reason,
                })
            })
            .collect()
    }

    /// Where an AWS environment's task logs are: the stack's log group when
    /// its outputs name one.
    async fn cloudwatch_pointer(&self, env: &EnvironmentRow) -> Result<String> {
        let outputs = store::stacks::find(self.store.reader(), env.id)
            .await?
            .map(|stack| stack.outputs.0);
        let log_group = outputs
            .as_ref()
            .and_then(|o| o.get("terraform")?.get("log_group_name")?.as_str())
            .filter(|group| !group.is_empty());
        let name = &env.name;
        Ok(match log_group {
            Some(group) => {
                let region = env.region.as_deref().unwrap_or("us-east-1");
                format!(
                    "environment {name} runs on AWS ECS, whose tasks log to CloudWatch Logs: log group {group} \
                     (e.g. `aws logs tail {group} --follow --region {region}`); switchyard reads the logs of local environments only"
                )
            }
            None => format!(
                "environment {name} runs on AWS ECS, whose tasks log to CloudWatch Logs, in the log group that \
                 the task definition's awslogs log configuration names (awslogs-group); switchyard reads the \
                 logs of local environments only"
            ),
        })
    }
}

/// The task set label of a task, from the task sets a deployment reported.
fn label_of(task: &TaskState, task_sets: &[TaskSetState]) -> Option<String> {
    let started_by = task.started_by.as_deref()?;
    task_sets
        .iter()
        .find(|set| set.id == started_by && !set.label.is_empty())
        .map(|set| set.label.clone())
}

/// A stack whose cluster or service the cloud no longer has is a state the
/// user can fix; anything else is the cloud's failure.
fn service_gone(env: &EnvironmentRow, error: CloudError) -> Error {
    match error.code.as_deref() {
        Some("ClusterNotFoundException" | "ServiceNotFoundException") => Error::Conflict(format!(
            "environment {}'s service is not in the cloud ({}); provision its stack again: POST /api/environments/{}/stack",
            env.name, error.message, env.name
        )),
        _ => error.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task_set(label: &str, id: &str) -> TaskSetState {
        TaskSetState {
            label: label.into(),
            id: id.into(),
            status: "PRIMARY".into(),
            desired: 1,
            pending: 0,
            running: 1,
            traffic_weight: 100.0,
            target_group: None,
        }
    }

    fn task(started_by: Option<&str>) -> TaskState {
        TaskState {
            task_id: "t".into(),
            started_by: started_by.map(str::to_owned),
            last_status: "RUNNING".into(),
            stopped_reason: None,
            created_at: None,
        }
    }

    #[test]
    fn a_task_takes_the_label_of_its_task_set() {
        let sets = [
            task_set("Blue", "ecs-svc/1"),
            task_set("Green", "ecs-svc/2"),
        ];
        assert_eq!(
            label_of(&task(Some("ecs-svc/2")), &sets).as_deref(),
            Some("Green")
        );
        // The service's first task set, before any deployment labelled it.
        assert_eq!(label_of(&task(Some("ecs-svc/0")), &sets), None);
        assert_eq!(label_of(&task(None), &sets), None);
    }

    fn actor(role: Role) -> Actor {
        Actor {
            user_id: 1,
            name: "someone".into(),
            role,
        }
    }

    async fn app_with(sql: &str) -> (tempfile::TempDir, App) {
        let dir = tempfile::tempdir().unwrap();
        let app = App::new(crate::store::Store::open(dir.path()).await.unwrap());
        let mut tx = app.store.begin().await.unwrap();
        sqlx::raw_sql(sql).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        (dir, app)
    }

    #[tokio::test]
    async fn an_aws_environment_s_logs_are_pointed_to_in_cloudwatch() {
        let (_dir, app) = app_with(
            "INSERT INTO environments (id, name, platform, region, created_by, created_at)
                 VALUES (1, 'prod', 'aws', 'eu-west-1', 'a', 0), (2, 'edge', 'aws', 'us-west-2', 'a', 0);
             INSERT INTO stacks (environment_id, status, operation_id, log, outputs, started_by, started_at)
                 VALUES (1, 'ready', 'op', '', '{\"terraform\": {\"log_group_name\": \"/ecs/prod\"}}', 'a', 0);",
        )
        .await;
        let viewer = actor(Role::Viewer);
        let Err(Error::Conflict(known)) =
            app.task_logs(&viewer, "prod", LogTail::DEFAULT, None).await
        else {
            panic!("an AWS environment's logs are a conflict");
        };
        assert!(
            known.contains("CloudWatch Logs") && known.contains("log group /ecs/prod"),
            "{known}"
        );
        assert!(known.contains("--region eu-west-1"), "{known}");
        let Err(Error::Conflict(unknown)) =
            app.task_logs(&viewer, "edge", LogTail::DEFAULT, None).await
        else {
            panic!("an AWS environment's logs are a conflict");
        };
        assert!(unknown.contains("awslogs-group"), "{unknown}");
    }

    #[tokio::test]
    async fn a_local_environment_without_a_stack_has_no_tasks_to_read() {
        let (_dir, app) = app_with(
            "INSERT INTO environments (id, name, platform, created_by, created_at)
                 VALUES (1, 'web', 'local', 'a', 0);",
        )
        .await;
        let viewer = actor(Role::Viewer);
        let result = app.task_logs(&viewer, "web", LogTail::DEFAULT, None).await;
        assert!(
            matches!(&result, Err(Error::Conflict(why)) if why.contains("no provisioned stack")),
            "{result:?}"
        );
        let result = app.task_logs(&viewer, "nope", LogTail::DEFAULT, None).await;
        assert!(matches!(result, Err(Error::NotFound(_))), "{result:?}");
    }
}
