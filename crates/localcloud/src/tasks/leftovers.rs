//! The tasks of the local cloud's earlier life that still run when it
//! starts again (after a crash: a clean stop ends them): host processes
//! found by their command lines, containers by their owner label. Those the
//! recorded state names are adopted by their task set's runner; the rest are
//! ended.

use super::process::{self, HostTaskLife};
use super::{TaskRecord, TaskRunner};
use std::collections::HashSet;

#[derive(Debug, Default)]
pub struct Leftovers {
    /// (pid, task id)
    processes: Vec<(u32, String)>,
    /// (container id, task id)
    containers: Vec<(String, String)>,
}

impl Leftovers {
    /// Looks for them: on the engine, and among host processes when they
    /// outlive the local cloud.
    pub async fn find(runner: &TaskRunner, host_life: &HostTaskLife) -> Leftovers {
        let processes = match host_life {
            HostTaskLife::Leased { owner, .. } => process::own_host_tasks(owner),
            HostTaskLife::TiedToParent => Vec::new(),
        };
        let containers = match runner.engine() {
            Some(engine) => engine.own_containers().await.unwrap_or_else(|error| {
                tracing::warn!(
                    error,
                    "cannot look for task containers a previous run left behind"
                );
                Vec::new()
            }),
            None => Vec::new(),
        };
        Leftovers {
            processes,
            containers,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.processes.is_empty() && self.containers.is_empty()
    }

    /// Whether what the record names of the task is still there.
    pub fn still_has(&self, record: &TaskRecord) -> bool {
        match record.pid {
            Some(pid) => self
                .processes
                .iter()
                .any(|(p, id)| *p == pid && *id == record.task_id),
            None => {
                !record.container_ids.is_empty()
                    && record
                        .container_ids
                        .iter()
                        .all(|c| self.containers.iter().any(|(id, _)| id == c))
            }
        }
    }

    /// Ends every leftover whose task is not in `adopted`; returns how many
    /// tasks that was.
    pub async fn end_all_but(
        self,
        adopted: &HashSet<String>,
        runner: &TaskRunner,
        host_life: &HostTaskLife,
    ) -> usize {
        let mut ended = HashSet::new();
        if let HostTaskLife::Leased { owner, .. } = host_life {
            let ends = self
                .processes
                .iter()
                .filter(|(_, task_id)| !adopted.contains(task_id))
                .map(|(pid, task_id)| {
                    ended.insert(task_id.clone());
                    process::end_leftover(*pid, owner, task_id)
                });
            futures_util::future::join_all(ends.collect::<Vec<_>>()).await;
        }
        if let Some(engine) = runner.engine() {
            for (id, task_id) in &self.containers {
                if adopted.contains(task_id) {
                    continue;
                }
                ended.insert(task_id.clone());
                if let Err(error) = engine.remove(id).await {
                    tracing::warn!(container = %id, error, "cannot remove a leftover task container");
                }
            }
        }
        ended.len()
    }
}
