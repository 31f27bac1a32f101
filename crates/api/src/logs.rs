//! `/api/environments/{name}/logs`: the last lines of each task's log.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The tasks of an environment's service, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskLogs {
    pub tasks: Vec<TaskLogBody>,
}

/// One task and the last lines of its log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskLogBody {
    pub task_id: String,
    /// Blue or Green, when the latest deployment saw the task's task set.
    pub task_set_label: Option<String>,
    /// ECS's lastStatus: PROVISIONING, PENDING, RUNNING or STOPPED.
    pub last_status: String,
    /// Why ECS stopped it (a stopped task only).
    pub stopped_reason: Option<String>,
    /// Oldest first.
    pub lines: Vec<String>,
}
