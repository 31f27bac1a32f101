//! One task's driver: starts its process or containers, probes it, and
//! stops it when the supervisor asks or when it fails, reporting each step to
//! the shared state.

use super::container::{ContainerLaunch, ContainerTask};
use super::process::{self, TaskProcess};
use super::{HostTaskLife, Shared, TaskHealth, TaskProgram, TaskRecord, TaskTemplate, health};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until};

/// Drives the task until its process or containers are gone, then records
/// it as stopped.
pub(super) async fn run(
    shared: Arc<Shared>,
    task_id: String,
    port: u16,
    stop_requested: oneshot::Receiver<String>,
) {
    let mut record = StopRecord {
        shared: &shared,
        task_id: &task_id,
        reason: None,
    };
    record.reason = Some(drive(&shared, &task_id, port, stop_requested).await);
}

/// Drives a task an earlier run of the local cloud started, from where it
/// was: its last known health stands until a check fails.
pub(super) async fn run_adopted(
    shared: Arc<Shared>,
    adopted: TaskRecord,
    stop_requested: oneshot::Receiver<String>,
) {
    let mut record = StopRecord {
        shared: &shared,
        task_id: &adopted.task_id,
        reason: None,
    };
    let task = match RunningTask::adopt(&shared.template, &adopted).await {
        Ok(task) => task,
        Err(reason) => {
            let reason = format!("The task could not be taken over after a restart: {reason}");
            tracing::warn!(task_set = %shared.name, task_id = adopted.task_id, reason, "replacing task");
            shared.task_failing(&adopted.task_id, TaskHealth::Unknown);
            record.reason = Some(reason);
            return;
        }
    };
    tracing::info!(task_set = %shared.name, task_id = adopted.task_id, port = adopted.port, healthy = adopted.healthy, "task adopted");
    let started_at = Duration::from_millis(u64::try_from(adopted.started_at).unwrap_or(0));
    let age = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(started_at);
    let health = Health {
        healthy: adopted.healthy,
        grace_ends: Instant::now() + shared.settings.startup_grace.saturating_sub(age),
    };
    let watched = watch(
        &shared,
        task,
        &adopted.task_id,
        adopted.port,
        health,
        stop_requested,
    );
    record.reason = Some(watched.await);
}

/// Records the task as stopped when the driver ends, even if it is aborted
/// or panics, so that no task stays "live" without a driver.
struct StopRecord<'a> {
    shared: &'a Shared,
    task_id: &'a str,
    reason: Option<String>,
}

impl Drop for StopRecord<'_> {
    fn drop(&mut self) {
        let reason = self
            .reason
            .take()
            .unwrap_or_else(|| "The task's supervisor stopped before the task".to_string());
        self.shared.task_stopped(self.task_id, reason);
    }
}

/// How a task of containers starts; None for a host process.
fn launch_of<'a>(
    template: &'a TaskTemplate,
    task_set: &'a str,
    task_id: &'a str,
    port: u16,
) -> Result<Option<ContainerLaunch<'a>>, String> {
    let TaskProgram::Containers(spec) = &template.program else {
        return Ok(None);
    };
    let engine = template.engine.as_ref().ok_or(
        "CannotStartContainerError: the task runs containers, and no container engine is connected",
    )?;
    Ok(Some(ContainerLaunch {
        engine,
        spec,
        registry_credential: template.registry_credential.as_ref(),
        task_set,
        task_id,
        port,
        log_dir: &template.log_dir,
    }))
}

/// A started task, whichever way it runs: the driver's probe and health
/// logic is the same for both.
enum RunningTask {
    Process(TaskProcess),
    Containers(ContainerTask),
}

impl RunningTask {
    /// What may take long before the start and can be given up at any
    /// point: pulling a container task's images.
    async fn prepare(
        template: &TaskTemplate,
        task_set: &str,
        task_id: &str,
        port: u16,
    ) -> Result<(), String> {
        match launch_of(template, task_set, task_id, port)? {
            Some(launch) => ContainerTask::pull_images(&launch).await,
            None => Ok(()),
        }
    }

    /// Starts the task (quickly, once prepared); on failure, returns its
    /// stopped reason.
    async fn start(
        template: &TaskTemplate,
        task_set: &str,
        task_id: &str,
        port: u16,
    ) -> Result<RunningTask, String> {
        match launch_of(template, task_set, task_id, port)? {
            Some(launch) => ContainerTask::start(launch)
                .await
                .map(RunningTask::Containers),
            None => process::spawn_task(template, task_id, port)
                .await
                .map(RunningTask::Process)
                .map_err(|error| format!("CannotStartContainerError: {error:#}")),
        }
    }

    /// Takes over a task an earlier run of the local cloud started; on
    /// failure, says why it cannot be.
    async fn adopt(template: &TaskTemplate, record: &TaskRecord) -> Result<RunningTask, String> {
        if let TaskProgram::Containers(spec) = &template.program {
            let engine = template
                .engine
                .as_ref()
                .ok_or("no container engine is connected")?;
            let task = ContainerTask::adopt(
                engine,
                spec,
                &record.task_id,
                &record.container_ids,
                &template.log_dir,
            );
            return task.await.map(RunningTask::Containers);
        }
        let (HostTaskLife::Leased { owner, .. }, Some(pid)) = (&template.host_life, record.pid)
        else {
            return Err("it is not a host task of this local cloud".to_owned());
        };
        TaskProcess::adopt(pid, owner, &record.task_id)
            .map(RunningTask::Process)
            .ok_or_else(|| format!("its process {pid} is gone"))
    }

    fn pid(&self) -> Option<u32> {
        match self {
            RunningTask::Process(process) => Some(process.pid()),
            RunningTask::Containers(_) => None,
        }
    }

    fn container_ids(&self) -> Vec<String> {
        match self {
            RunningTask::Process(_) => Vec::new(),
            RunningTask::Containers(containers) => containers.container_ids(),
        }
    }

    /// Resolves when the task ends on its own, with its stopped reason.
    /// Cancel-safe.
    async fn exited(&mut self) -> String {
        match self {
            RunningTask::Process(process) => process.exited().await,
            RunningTask::Containers(containers) => containers.exited().await,
        }
    }

    /// Stops what is still running of the task and cleans up after it.
    async fn stop(&mut self) {
        match self {
            RunningTask::Process(process) => process.stop().await,
            RunningTask::Containers(containers) => containers.stop().await,
        }
    }
}

type Probe<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Returns the stopped reason once the task's process has exited.
async fn drive(
    shared: &Shared,
    task_id: &str,
    port: u16,
    mut stop_requested: oneshot::Receiver<String>,
) -> String {
    let template = &shared.template;
    let prepared = tokio::select! {
        prepared = RunningTask::prepare(template, &shared.name, task_id, port) => prepared,
        // An image pull can take long: a stop request ends it.
        reason = &mut stop_requested => {
            return reason.unwrap_or_else(|_| "The task set runner went away".to_string());
        }
    };
    // A stop request during the start is handled right after it, below.
    let started = match prepared {
        Ok(()) => RunningTask::start(template, &shared.name, task_id, port).await,
        Err(reason) => Err(reason),
    };
    let task = match started {
        Ok(task) => task,
        Err(reason) => {
            tracing::warn!(task_set = %shared.name, task_id, reason, "task failed to start");
            shared.task_failing(task_id, TaskHealth::Unknown);
            return reason;
        }
    };
    let pid = task.pid();
    let container_ids = task.container_ids();
    tracing::info!(task_set = %shared.name, task_id, port, pid, ?container_ids, "task started");
    shared.task_spawned(task_id, pid, container_ids);
    let health = Health {
        healthy: false,
        grace_ends: Instant::now() + shared.settings.startup_grace,
    };
    watch(shared, task, task_id, port, health, stop_requested).await
}

/// Where a task's health checks start from.
struct Health {
    /// Healthy until `unhealthy_threshold` checks in a row fail; otherwise
    /// starting up, until a check passes or the grace ends.
    healthy: bool,
    grace_ends: Instant,
}

/// Probes the running task until it exits, is stopped, or fails its health
/// checks; returns its stopped reason.
async fn watch(
    shared: &Shared,
    mut task: RunningTask,
    task_id: &str,
    port: u16,
    health: Health,
    mut stop_requested: oneshot::Receiver<String>,
) -> String {
    let settings = &shared.settings;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Health {
        mut healthy,
        grace_ends,
    } = health;
    let mut next_probe = Instant::now();
    let mut probe: Option<Probe<'_>> = None;
    let mut successes = 0;
    let mut failures = 0;
    loop {
        tokio::select! {
            reason = task.exited() => {
                shared.task_failing(task_id, TaskHealth::Unknown);
                tracing::warn!(task_set = %shared.name, task_id, reason, "task exited");
                // What else of the task runs (its other containers) goes too.
                task.stop().await;
                return reason;
            }
            reason = &mut stop_requested => {
                task.stop().await;
                return reason.unwrap_or_else(|_| "The task set runner went away".to_string());
            }
            () = sleep_until(grace_ends), if !healthy => {
                shared.task_failing(task_id, TaskHealth::Unhealthy);
                let reason = format!(
                    "Task failed ELB health checks: not healthy within the {:?} startup grace",
                    settings.startup_grace
                );
                tracing::warn!(task_set = %shared.name, task_id, reason, "replacing task");
                task.stop().await;
                return reason;
            }
            () = sleep_until(next_probe), if probe.is_none() => {
                next_probe = Instant::now() + settings.interval;
                probe = Some(Box::pin(health::probe(
                    address,
                    &shared.template.health_check_path,
                    settings.timeout,
                )));
            }
            result = in_flight(&mut probe) => {
                probe = None;
                match result {
                    Ok(()) => {
                        failures = 0;
                        successes += 1;
                        if !healthy && successes >= settings.healthy_threshold.max(1) {
                            healthy = true;
                            shared.task_healthy(task_id);
                        }
                    }
                    // Before its first success a task is still starting up:
                    // only the startup grace can fail it.
                    Err(error) if healthy => {
                        successes = 0;
                        failures += 1;
                        if failures >= settings.unhealthy_threshold.max(1) {
                            shared.task_failing(task_id, TaskHealth::Unhealthy);
                            let reason = format!(
                                "Task failed ELB health checks: {failures} consecutive failures, the last: {error}"
                            );
                            tracing::warn!(task_set = %shared.name, task_id, reason, "replacing task");
                            task.stop().await;
                            return reason;
                        }
                    }
                    Err(_) => successes = 0,
                }
            }
        }
    }
}

/// The result of the probe in flight; never resolves while there is none.
async fn in_flight(probe: &mut Option<Probe<'_>>) -> Result<(), String> {
    match probe {
        Some(probe) => probe.await,
        None => std::future::pending().await,
    }
}
