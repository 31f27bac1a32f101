//! The tasks that run, recorded by task set in `DATA_DIR/running-tasks.json`
//! whenever they change, so that a local cloud that crashed can adopt them
//! on its next start instead of starting them again.
//!
//! Written without fsync: the file only has to outlive this process, not
//! the machine, whose crash takes the tasks with it anyway.

use crate::tasks::TaskRecord;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Journal {
    path: PathBuf,
    /// By runner: its task set's ARN and its tasks. A task set may have two
    /// runners for a moment (one draining, one starting).
    runners: Mutex<BTreeMap<u64, (String, Vec<TaskRecord>)>>,
}

/// Recorded tasks by task set ARN.
pub type Recorded = BTreeMap<String, Vec<TaskRecord>>;

impl Journal {
    pub fn new(data_dir: &Path) -> Journal {
        Journal {
            path: data_dir.join("running-tasks.json"),
            runners: Mutex::default(),
        }
    }

    /// What the last run recorded; nothing if it recorded nothing, or if the
    /// file cannot be read (its tasks are then started anew).
    pub fn load(&self) -> Recorded {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::warn!(path = %self.path.display(), %error, "cannot read the running tasks; starting them anew");
                Recorded::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Recorded::new(),
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "cannot read the running tasks; starting them anew");
                Recorded::new()
            }
        }
    }

    /// Replaces the tasks of one runner and rewrites the file.
    pub fn record(&self, runner: u64, task_set_arn: &str, tasks: Vec<TaskRecord>) {
        let mut runners = self.runners.lock().unwrap_or_else(|p| p.into_inner());
        if tasks.is_empty() {
            runners.remove(&runner);
        } else {
            runners.insert(runner, (task_set_arn.to_owned(), tasks));
        }
        let mut recorded = Recorded::new();
        for (arn, tasks) in runners.values() {
            recorded
                .entry(arn.clone())
                .or_default()
                .extend(tasks.iter().cloned());
        }
        // Written under the lock, so that files land in the order of changes.
        if let Err(error) = self.write(&recorded) {
            tracing::warn!(path = %self.path.display(), %error, "cannot record the running tasks; a crash now would restart them");
        }
    }

    fn write(&self, recorded: &Recorded) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(recorded)?)?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, healthy: bool) -> TaskRecord {
        TaskRecord {
            task_id: id.to_owned(),
            port: 4000,
            pid: Some(42),
            container_ids: Vec::new(),
            healthy,
            started_at: 1,
        }
    }

    #[test]
    fn records_every_runners_tasks_by_task_set_and_forgets_finished_runners() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        assert!(journal.load().is_empty());
        journal.record(1, "ts/blue", vec![task("a", true)]);
        journal.record(2, "ts/blue", vec![task("b", false)]);
        journal.record(3, "ts/green", vec![task("c", true)]);
        let loaded = Journal::new(dir.path()).load();
        assert_eq!(loaded["ts/blue"], vec![task("a", true), task("b", false)]);
        assert_eq!(loaded["ts/green"], vec![task("c", true)]);

        journal.record(1, "ts/blue", Vec::new());
        journal.record(3, "ts/green", Vec::new());
        let loaded = Journal::new(dir.path()).load();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded["ts/blue"], vec![task("b", false)]);
    }

    #[test]
    fn an_unreadable_record_means_nothing_to_adopt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("running-tasks.json"), "{not json").unwrap();
        assert!(Journal::new(dir.path()).load().is_empty());
    }
}
