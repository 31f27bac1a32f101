//! One task's driver: spawns its process, probes it, and stops it when the
//! supervisor asks or when it fails, reporting each step to the shared state.

use super::{STOP_GRACE, Shared, TaskHealth, health, process};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until};

/// Drives the task until its process is gone, then records it as stopped.
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

type Probe<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Returns the stopped reason once the task's process has exited.
async fn drive(
    shared: &Shared,
    task_id: &str,
    port: u16,
    mut stop_requested: oneshot::Receiver<String>,
) -> String {
    let mut child = match process::spawn_task(&shared.template, task_id, port).await {
        Ok(child) => child,
        Err(error) => {
            tracing::warn!(task_set = %shared.name, task_id, error = format!("{error:#}"), "task failed to start");
            shared.task_failing(task_id, TaskHealth::Unknown);
            return format!("CannotStartContainerError: {error:#}");
        }
    };
    let pid = child.id();
    tracing::info!(task_set = %shared.name, task_id, port, pid, "task started");
    shared.task_spawned(task_id, pid);

    let settings = &shared.settings;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let grace_ends = Instant::now() + settings.startup_grace;
    let mut next_probe = Instant::now();
    let mut probe: Option<Probe<'_>> = None;
    let mut healthy = false;
    let mut successes = 0;
    let mut failures = 0;
    loop {
        tokio::select! {
            status = child.wait() => {
                shared.task_failing(task_id, TaskHealth::Unknown);
                if let Some(pid) = pid {
                    process::kill_leftovers(pid);
                }
                let reason = process::describe_exit(status);
                tracing::warn!(task_set = %shared.name, task_id, reason, "task exited");
                return reason;
            }
            reason = &mut stop_requested => {
                process::terminate(&mut child, STOP_GRACE).await;
                return reason.unwrap_or_else(|_| "The task set runner went away".to_string());
            }
            () = sleep_until(grace_ends), if !healthy => {
                shared.task_failing(task_id, TaskHealth::Unhealthy);
                let reason = format!(
                    "Task failed ELB health checks: not healthy within the {:?} startup grace",
                    settings.startup_grace
                );
                tracing::warn!(task_set = %shared.name, task_id, reason, "replacing task");
                process::terminate(&mut child, STOP_GRACE).await;
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
                            process::terminate(&mut child, STOP_GRACE).await;
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
