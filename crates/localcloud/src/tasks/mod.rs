//! Tasks as local processes or containers: each task set runs
//! `desired_count` copies of its program, health-checks them over HTTP and
//! replaces the ones that die or turn unhealthy, as ECS would.
//!
//! One supervisor per task set reconciles the live tasks with the desired
//! count and publishes the healthy addresses; each task has a driver that
//! starts its process or containers, probes it and reports what happens.
//! The drivers only write state and wake the supervisor, so every decision
//! to start or stop a task is taken in one place.

mod container;
mod container_config;
mod container_engine;
mod health;
pub mod host_task;
pub mod lease;
mod leftovers;
pub mod logs;
mod process;
mod static_site;
mod task;

pub use container_config::{ContainerHealthCheck, ContainerSpec, ContainerTaskSpec};
pub(crate) use container_config::{environment, strings};
pub use container_engine::{ContainerEngine, DockerHost, TaskRunner};
pub use leftovers::Leftovers;
pub use process::HostTaskLife;
pub use static_site::serve_static;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// What a task runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TaskProgram {
    /// The built-in static file server serving `dir` (image `static:<dir>`).
    StaticSite { dir: PathBuf },
    /// A container definition's entryPoint followed by its command, run on the host.
    Command {
        argv: Vec<String>,
        env: Vec<(String, String)>,
        working_dir: Option<PathBuf>,
    },
    /// All of a task definition's containers, run on the container engine.
    Containers(ContainerTaskSpec),
}

/// A registry login for pulling a task's images (the local ECR's, say).
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCredential")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct TaskSetSpec {
    pub program: TaskProgram,
    /// The target group's health check path, e.g. "/".
    pub health_check_path: String,
    pub desired_count: usize,
    /// Where each task's stdout/stderr go (one file per task).
    pub log_dir: PathBuf,
    /// The engine a `Containers` program runs on.
    pub engine: Option<Arc<ContainerEngine>>,
    /// The login for pulling images that the engine does not have yet.
    pub registry_credential: Option<RegistryCredential>,
    /// Whether host tasks outlive the local cloud's process.
    pub host_life: HostTaskLife,
    /// Tasks an earlier run of the local cloud started that still run: the
    /// runner takes them over (checking each again) before it starts any.
    pub adopt: Vec<TaskRecord>,
    /// Told the runner's tasks whenever they change, so that they can be
    /// recorded for adoption.
    pub recorder: Option<TaskRecorder>,
}

/// A running task as recorded for the local cloud's next start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskRecord {
    pub task_id: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_ids: Vec<String>,
    /// Whether its last health check passed: an adopted healthy task takes
    /// traffic at once, until checks fail.
    pub healthy: bool,
    /// When it started, epoch milliseconds.
    pub started_at: i64,
}

pub type TaskRecorder = Arc<dyn Fn(Vec<TaskRecord>) + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskHealth {
    Unknown,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// 32 lowercase hex digits, like an ECS task id.
    pub task_id: String,
    pub port: u16,
    /// The task's process, when it runs on the host.
    pub pid: Option<u32>,
    /// The engine's ids of the task's containers, in start order, when it
    /// runs as containers.
    pub container_ids: Vec<String>,
    /// "PROVISIONING" before the process is spawned, "PENDING" until its
    /// first healthy check, then "RUNNING", and "STOPPED" once it has exited
    /// (ECS spelling). RUNNING waits for health so that a task set's
    /// runningCount means tasks that can take traffic.
    pub last_status: &'static str,
    pub health: TaskHealth,
    pub started_at: Option<SystemTime>,
    pub stopped_reason: Option<String>,
}

/// How tasks are health-checked, as a target group and an ECS service's
/// health check grace period would.
#[derive(Debug, Clone)]
pub struct HealthCheckSettings {
    /// Time between the starts of two probes of one task.
    pub interval: Duration,
    /// A probe that has not answered by then counts as failed.
    pub timeout: Duration,
    /// Consecutive successes that make a task Healthy.
    pub healthy_threshold: u32,
    /// Consecutive failures that make a Healthy task Unhealthy.
    pub unhealthy_threshold: u32,
    /// A task that is not Healthy this long after its start is Unhealthy;
    /// until then failed probes do not count against it.
    pub startup_grace: Duration,
}

impl Default for HealthCheckSettings {
    fn default() -> Self {
        HealthCheckSettings {
            interval: Duration::from_millis(500),
            timeout: Duration::from_secs(2),
            healthy_threshold: 1,
            unhealthy_threshold: 3,
            startup_grace: Duration::from_secs(30),
        }
    }
}

/// How long a stopping task has between SIGTERM and SIGKILL (a container's
/// default stopTimeout).
const STOP_GRACE: Duration = Duration::from_secs(2);
/// The wait before replacing a failed task, doubled for every failure in a
/// row up to the maximum, so a crash-looping program does not spin.
const RESTART_BACKOFF_FIRST: Duration = Duration::from_millis(200);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A task healthy this long proves the program works: its failure starts a
/// new backoff series.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Stopped tasks remembered for `tasks()`, as ECS keeps them for a while.
const STOPPED_TASKS_KEPT: usize = 10;

/// Runs one task set's tasks until `stop` (or drop, which kills them).
pub struct TaskSetRunner {
    shared: Arc<Shared>,
    supervisor: Option<JoinHandle<()>>,
}

impl TaskSetRunner {
    /// Starts the tasks; must be called inside a Tokio runtime. `on_healthy`
    /// is called (from a background task) with the full list of healthy task
    /// addresses (127.0.0.1:port) every time that list changes.
    pub fn start(
        name: &str,
        spec: TaskSetSpec,
        on_healthy: Arc<dyn Fn(Vec<SocketAddr>) + Send + Sync>,
    ) -> TaskSetRunner {
        Self::start_with_settings(name, spec, HealthCheckSettings::default(), on_healthy)
    }

    pub fn start_with_settings(
        name: &str,
        spec: TaskSetSpec,
        settings: HealthCheckSettings,
        on_healthy: Arc<dyn Fn(Vec<SocketAddr>) + Send + Sync>,
    ) -> TaskSetRunner {
        let health_check_path = if spec.health_check_path.starts_with('/') {
            spec.health_check_path
        } else {
            format!("/{}", spec.health_check_path)
        };
        let shared = Arc::new(Shared {
            name: name.to_string(),
            template: TaskTemplate {
                program: spec.program,
                health_check_path,
                log_dir: spec.log_dir,
                engine: spec.engine,
                registry_credential: spec.registry_credential,
                host_life: spec.host_life,
            },
            settings,
            state: Mutex::new(State {
                desired: spec.desired_count,
                shutting_down: false,
                live: Vec::new(),
                stopped: VecDeque::new(),
                failure_streak: 0,
                restart_not_before: None,
            }),
            changed: Notify::new(),
        });
        // Listed at once, so that the runner counts them from the start.
        let adopted = {
            let mut state = shared.state();
            spec.adopt
                .into_iter()
                .map(|record| {
                    let stop_requested = Shared::adopt(&mut state, &record);
                    (record, stop_requested)
                })
                .collect()
        };
        let supervisor = tokio::spawn(supervise(
            shared.clone(),
            adopted,
            on_healthy,
            spec.recorder,
        ));
        TaskSetRunner {
            shared,
            supervisor: Some(supervisor),
        }
    }

    pub fn set_desired_count(&self, count: usize) {
        self.shared.state().desired = count;
        self.shared.changed.notify_one();
    }

    pub fn desired_count(&self) -> usize {
        self.shared.state().desired
    }

    /// Every task the runner currently knows: the live ones in start order,
    /// then the last few stopped ones in stop order.
    pub fn tasks(&self) -> Vec<TaskInfo> {
        let state = self.shared.state();
        state
            .live
            .iter()
            .map(|task| task.info.clone())
            .chain(state.stopped.iter().cloned())
            .collect()
    }

    /// Counts as ECS reports them for a task set: (pending, running).
    pub fn counts(&self) -> (usize, usize) {
        let state = self.shared.state();
        let count = |status: &[&str]| {
            state
                .live
                .iter()
                .filter(|task| status.contains(&task.info.last_status))
                .count()
        };
        (count(&["PROVISIONING", "PENDING"]), count(&["RUNNING"]))
    }

    /// Healthy task addresses now.
    pub fn healthy(&self) -> Vec<SocketAddr> {
        self.shared.healthy()
    }

    /// Stops every task: SIGTERM, then SIGKILL after a grace period (2 s,
    /// or a container's stopTimeout); waits for them.
    pub async fn stop(mut self) {
        self.shared.state().shutting_down = true;
        self.shared.changed.notify_one();
        if let Some(supervisor) = self.supervisor.take()
            && let Err(error) = supervisor.await
        {
            tracing::error!(task_set = %self.shared.name, %error, "task set supervisor failed");
        }
    }
}

impl Drop for TaskSetRunner {
    /// Without `stop`, the tasks are killed outright: aborting the supervisor
    /// drops its drivers, whose children are killed on drop.
    fn drop(&mut self) {
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.abort();
        }
    }
}

/// What every task of a set runs and how it is checked.
struct TaskTemplate {
    program: TaskProgram,
    health_check_path: String,
    log_dir: PathBuf,
    engine: Option<Arc<ContainerEngine>>,
    registry_credential: Option<RegistryCredential>,
    host_life: HostTaskLife,
}

struct Shared {
    name: String,
    template: TaskTemplate,
    settings: HealthCheckSettings,
    state: Mutex<State>,
    /// Wakes the supervisor after any change to `state`.
    changed: Notify,
}

struct State {
    desired: usize,
    shutting_down: bool,
    /// Tasks whose process may still be alive, oldest first.
    live: Vec<LiveTask>,
    stopped: VecDeque<TaskInfo>,
    /// Task failures since a task last proved stable.
    failure_streak: u32,
    restart_not_before: Option<Instant>,
}

struct LiveTask {
    info: TaskInfo,
    healthy_since: Option<Instant>,
    /// Set once the task is on its way out (asked to stop, or failed): it
    /// takes no traffic and no longer counts towards the desired count.
    stopping: bool,
    /// Tells the task's driver to stop it, with the reason to record.
    stop: Option<oneshot::Sender<String>>,
}

impl LiveTask {
    fn request_stop(&mut self, reason: &str) {
        self.stopping = true;
        if let Some(stop) = self.stop.take() {
            // The driver has finished if nobody listens; nothing to stop.
            let _ = stop.send(reason.to_string());
        }
    }
}

impl State {
    fn task_mut(&mut self, task_id: &str) -> Option<&mut LiveTask> {
        self.live
            .iter_mut()
            .find(|task| task.info.task_id == task_id)
    }

    fn note_failure(&mut self, healthy_since: Option<Instant>) {
        let now = Instant::now();
        if healthy_since.is_some_and(|since| now.duration_since(since) >= STABLE_AFTER) {
            self.failure_streak = 0;
        }
        self.failure_streak = self.failure_streak.saturating_add(1);
        let doublings = (self.failure_streak - 1).min(16);
        let delay = RESTART_BACKOFF_FIRST
            .saturating_mul(1 << doublings)
            .min(RESTART_BACKOFF_MAX);
        self.restart_not_before = Some(now + delay);
    }

    fn remember_stopped(&mut self, info: TaskInfo) {
        self.stopped.push_back(info);
        while self.stopped.len() > STOPPED_TASKS_KEPT {
            self.stopped.pop_front();
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; if some did, the state is
        // still consistent field by field, so keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn healthy(&self) -> Vec<SocketAddr> {
        self.state()
            .live
            .iter()
            .filter(|task| !task.stopping && task.info.health == TaskHealth::Healthy)
            .map(|task| SocketAddr::from((Ipv4Addr::LOCALHOST, task.info.port)))
            .collect()
    }

    /// Starts or stops tasks to match the desired count. Returns when to
    /// look again if a start waits for the restart backoff, and whether the
    /// runner has shut down completely.
    fn reconcile(self: &Arc<Self>, drivers: &mut JoinSet<()>) -> Reconciled {
        let mut state = self.state();
        if state.shutting_down {
            let reason = format!("Task set {} was stopped", self.name);
            for task in &mut state.live {
                task.request_stop(&reason);
            }
            return Reconciled {
                restart_at: None,
                finished: state.live.is_empty() && drivers.is_empty(),
            };
        }
        let active = state.live.iter().filter(|task| !task.stopping).count();
        let desired = state.desired;
        if active > desired {
            let reason = format!("Scaling activity initiated by (task set {})", self.name);
            let newest_first = state.live.iter_mut().rev().filter(|task| !task.stopping);
            for task in newest_first.take(active - desired) {
                task.request_stop(&reason);
            }
        } else if active < desired {
            if let Some(at) = state.restart_not_before
                && at > Instant::now()
            {
                return Reconciled {
                    restart_at: Some(at),
                    finished: false,
                };
            }
            for _ in active..desired {
                if !self.launch(&mut state, drivers) {
                    return Reconciled {
                        restart_at: state.restart_not_before,
                        finished: false,
                    };
                }
            }
        }
        Reconciled {
            restart_at: None,
            finished: false,
        }
    }

    /// Records a new task and starts its driver; false if it could not.
    fn launch(self: &Arc<Self>, state: &mut State, drivers: &mut JoinSet<()>) -> bool {
        let task_id = format!("{:032x}", rand::random::<u128>());
        let mut info = TaskInfo {
            task_id: task_id.clone(),
            port: 0,
            pid: None,
            container_ids: Vec::new(),
            last_status: "PROVISIONING",
            health: TaskHealth::Unknown,
            started_at: None,
            stopped_reason: None,
        };
        match process::free_loopback_port() {
            Ok(port) => info.port = port,
            Err(error) => {
                tracing::error!(task_set = %self.name, %error, "no free port for a task");
                info.last_status = "STOPPED";
                info.stopped_reason = Some(format!(
                    "ResourceInitializationError: no free loopback port: {error}"
                ));
                state.remember_stopped(info);
                state.note_failure(None);
                return false;
            }
        }
        let (stop, stop_requested) = oneshot::channel();
        let port = info.port;
        state.live.push(LiveTask {
            info,
            healthy_since: None,
            stopping: false,
            stop: Some(stop),
        });
        drivers.spawn(task::run(self.clone(), task_id, port, stop_requested));
        true
    }

    /// Takes over a task an earlier run of the local cloud started, with
    /// the health it last had; its driver (started by the supervisor, with
    /// the receiver returned) checks that it is still there.
    fn adopt(state: &mut State, record: &TaskRecord) -> oneshot::Receiver<String> {
        let started_at = SystemTime::UNIX_EPOCH
            + Duration::from_millis(u64::try_from(record.started_at).unwrap_or(0));
        let info = TaskInfo {
            task_id: record.task_id.clone(),
            port: record.port,
            pid: record.pid,
            container_ids: record.container_ids.clone(),
            last_status: if record.healthy { "RUNNING" } else { "PENDING" },
            health: if record.healthy {
                TaskHealth::Healthy
            } else {
                TaskHealth::Unknown
            },
            started_at: Some(started_at),
            stopped_reason: None,
        };
        let (stop, stop_requested) = oneshot::channel();
        state.live.push(LiveTask {
            info,
            healthy_since: record.healthy.then(Instant::now),
            stopping: false,
            stop: Some(stop),
        });
        stop_requested
    }

    /// The live tasks worth adopting after a crash: started, and not on
    /// their way out.
    fn records(&self) -> Vec<TaskRecord> {
        let millis = |time: SystemTime| {
            time.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        };
        self.state()
            .live
            .iter()
            .filter(|task| !task.stopping)
            .filter_map(|task| {
                let info = &task.info;
                let started = info.pid.is_some() || !info.container_ids.is_empty();
                started.then(|| TaskRecord {
                    task_id: info.task_id.clone(),
                    port: info.port,
                    pid: info.pid,
                    container_ids: info.container_ids.clone(),
                    healthy: info.health == TaskHealth::Healthy,
                    started_at: info.started_at.map_or(0, millis),
                })
            })
            .collect()
    }

    fn task_spawned(&self, task_id: &str, pid: Option<u32>, container_ids: Vec<String>) {
        let mut state = self.state();
        if let Some(task) = state.task_mut(task_id) {
            task.info.last_status = "PENDING";
            task.info.pid = pid;
            task.info.container_ids = container_ids;
            task.info.started_at = Some(SystemTime::now());
        }
        drop(state);
        self.changed.notify_one();
    }

    fn task_healthy(&self, task_id: &str) {
        let mut state = self.state();
        if let Some(task) = state.task_mut(task_id) {
            task.info.last_status = "RUNNING";
            task.info.health = TaskHealth::Healthy;
            task.healthy_since = Some(Instant::now());
        }
        drop(state);
        self.changed.notify_one();
    }

    /// The task is going away on its own account (its process exited, it
    /// failed to start or its health checks): take it out of service and
    /// schedule its replacement after the backoff.
    fn task_failing(&self, task_id: &str, health: TaskHealth) {
        let mut state = self.state();
        let Some(task) = state.task_mut(task_id) else {
            return;
        };
        task.info.health = health;
        // A task already asked to stop is not replaced: the supervisor has
        // accounted for it.
        if !task.stopping {
            task.stopping = true;
            task.stop = None;
            let healthy_since = task.healthy_since;
            state.note_failure(healthy_since);
        }
        drop(state);
        self.changed.notify_one();
    }

    /// The task's process is gone (or never started).
    fn task_stopped(&self, task_id: &str, reason: String) {
        let mut state = self.state();
        let Some(index) = state
            .live
            .iter()
            .position(|task| task.info.task_id == task_id)
        else {
            return;
        };
        let mut info = state.live.remove(index).info;
        info.last_status = "STOPPED";
        if info.health == TaskHealth::Healthy {
            info.health = TaskHealth::Unknown;
        }
        info.stopped_reason = Some(reason);
        state.remember_stopped(info);
        drop(state);
        self.changed.notify_one();
    }
}

struct Reconciled {
    restart_at: Option<Instant>,
    finished: bool,
}

/// The runner's one supervisor: takes over the adopted tasks, then
/// reconciles after every change and publishes the healthy addresses (and
/// the task records) when they differ from the last published ones.
async fn supervise(
    shared: Arc<Shared>,
    adopted: Vec<(TaskRecord, oneshot::Receiver<String>)>,
    on_healthy: Arc<dyn Fn(Vec<SocketAddr>) + Send + Sync>,
    recorder: Option<TaskRecorder>,
) {
    let mut drivers = JoinSet::new();
    for (record, stop_requested) in adopted {
        drivers.spawn(task::run_adopted(shared.clone(), record, stop_requested));
    }
    let mut published = Vec::new();
    let mut recorded = Vec::new();
    loop {
        let reconciled = shared.reconcile(&mut drivers);
        let healthy = shared.healthy();
        if healthy != published {
            published = healthy.clone();
            on_healthy(healthy);
        }
        if let Some(recorder) = &recorder {
            let records = shared.records();
            if records != recorded {
                recorded = records.clone();
                recorder(records);
            }
        }
        if reconciled.finished {
            return;
        }
        let restart = async {
            match reconciled.restart_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.changed.notified() => {}
            Some(joined) = drivers.join_next() => {
                if let Err(error) = joined {
                    tracing::error!(task_set = %shared.name, %error, "task driver failed");
                }
            }
            () = restart => {}
        }
    }
}

#[cfg(test)]
mod tests;
