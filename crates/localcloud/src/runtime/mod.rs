//! Realizes the stored state: a task set runner per task set, listeners per
//! load balancer, target groups fed with each runner's healthy tasks, and
//! listener weights as stored. `sync` is idempotent and cheap, and runs after
//! every change, so the running world always converges on the stored one.
//!
//! At start, `restore` takes over what an earlier run left running (see
//! `journal`): the tasks are adopted with their last known health, and the
//! listeners serve from their first connection with the stored weights and
//! those tasks as targets, so a crash of the local cloud costs production
//! only the moments no process listens.
//!
//! The listeners' traffic metrics come in periods of one cloud minute;
//! `sample_hosts` adds the host counts to them (see `traffic`).

mod journal;
#[cfg(test)]
mod tests;

use super::Clock;
use super::ecs::computed_desired_count;
use super::proxy::{Listener, TargetGroup, TrafficMetrics};
use super::state::{
    CloudState, ListenerRecord, ServiceLoadBalancer, ServiceStatus, TargetGroupRecord,
    TaskDefinition,
};
use super::tasks::{
    self, ContainerTaskSpec, HostTaskLife, Leftovers, RegistryCredential, TaskHealth, TaskInfo,
    TaskProgram, TaskRecord, TaskRunner, TaskSetRunner, TaskSetSpec,
};
use journal::Journal;
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long a removed task set keeps serving requests already sent to it.
const DRAIN: Duration = Duration::from_secs(2);

/// Host counts are sampled this many times per metrics period.
const HOST_SAMPLES_PER_PERIOD: u32 = 4;

/// Which of a load balancer's two listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerRole {
    Production,
    Test,
}

struct Balancer {
    production: Arc<Listener>,
    test: Arc<Listener>,
    groups: HashMap<String, Arc<TargetGroup>>,
}

/// A load balancer's traffic metrics: per target group, and its listeners'
/// answers without a group (which count for the load balancer as a whole).
pub(crate) struct BalancerTraffic {
    /// Its name.
    pub load_balancer: String,
    /// By target group ARN.
    pub target_groups: Vec<(String, Arc<TrafficMetrics>)>,
    /// Its production and test listeners'.
    pub unrouted: Vec<Arc<TrafficMetrics>>,
}

struct Runner {
    runner: TaskSetRunner,
    program: TaskProgram,
    target_group: Option<Arc<TargetGroup>>,
    /// Cleared when the task set is removed: while its tasks drain and stop,
    /// their health changes must no longer reach the target group, which a
    /// new task set may already be feeding.
    attached: Arc<AtomicBool>,
}

pub struct Runtime {
    data_dir: PathBuf,
    runner: TaskRunner,
    host_life: HostTaskLife,
    journal: Arc<Journal>,
    /// Numbers the runners for the journal.
    next_runner: AtomicU64,
    /// Tasks found running at start, by task set ARN, until `sync` hands
    /// them to their runners.
    adoptable: Mutex<HashMap<String, Vec<TaskRecord>>>,
    balancers: Mutex<HashMap<String, Balancer>>,
    runners: Mutex<HashMap<String, Runner>>,
    /// Task sets whose program cannot run here, reported once.
    unrunnable: Mutex<HashMap<String, String>>,
    /// The local ECR, once the local cloud listens: tasks pull its images
    /// with its credential.
    registry: OnceLock<RegistryAccess>,
    /// The real length of one cloud minute: the metrics' period.
    metrics_period: Duration,
}

/// How tasks log in to the local ECR: its `host:port`, the prefix of its
/// image names, and a fresh credential on demand.
pub struct RegistryAccess {
    pub host: String,
    pub credential: Box<dyn Fn() -> RegistryCredential + Send + Sync>,
}

impl Runtime {
    pub fn new(
        data_dir: &Path,
        runner: TaskRunner,
        host_life: HostTaskLife,
        clock: Clock,
    ) -> Runtime {
        let minute_ms = clock.minutes_to_real_millis(1.0).max(1);
        Runtime {
            data_dir: data_dir.to_path_buf(),
            runner,
            host_life,
            journal: Arc::new(Journal::new(data_dir)),
            next_runner: AtomicU64::new(0),
            adoptable: Mutex::default(),
            balancers: Mutex::default(),
            runners: Mutex::default(),
            unrunnable: Mutex::default(),
            registry: OnceLock::new(),
            metrics_period: Duration::from_millis(minute_ms.unsigned_abs()),
        }
    }

    /// How often `sample_hosts` should run: a few times per period.
    pub fn host_sampling_interval(&self) -> Duration {
        self.metrics_period / HOST_SAMPLES_PER_PERIOD
    }

    fn new_target_group(&self, record: &TargetGroupRecord) -> Arc<TargetGroup> {
        TargetGroup::with_period(&record.name, &record.arn, self.metrics_period)
    }

    /// Tells the runtime where the local ECR is; set once, before tasks start.
    pub fn set_registry(&self, access: RegistryAccess) {
        let _ = self.registry.set(access);
    }

    /// The local ECR's credential when a task pulls from it, and only then:
    /// no other registry sees it. A token lasts 12 hours; a replacement task
    /// after that finds the image already on the engine.
    fn registry_credential_for(&self, program: &TaskProgram) -> Option<RegistryCredential> {
        let access = self.registry.get()?;
        let TaskProgram::Containers(task) = program else {
            return None;
        };
        task.containers
            .iter()
            .any(|c| c.image.split('/').next() == Some(access.host.as_str()))
            .then(|| (access.credential)())
    }

    /// Binds a load balancer's listeners (port 0 picks free ports) and
    /// returns the ports they got.
    pub async fn bind_load_balancer(
        &self,
        name: &str,
        target_groups: &[TargetGroupRecord],
        production_port: u16,
        test_port: u16,
    ) -> std::io::Result<(u16, u16)> {
        let groups = target_groups
            .iter()
            .map(|tg| (tg.arn.clone(), self.new_target_group(tg)))
            .collect();
        let no_forward = ListenerRecord {
            arn: String::new(),
            port: 0,
            forward: Vec::new(),
        };
        self.bind(
            name,
            groups,
            (production_port, &no_forward),
            (test_port, &no_forward),
        )
        .await
    }

    /// Binds the listeners on the ports and with the weights `production`
    /// and `test` give, over `groups` (by ARN).
    async fn bind(
        &self,
        name: &str,
        groups: HashMap<String, Arc<TargetGroup>>,
        (production_port, production): (u16, &ListenerRecord),
        (test_port, test): (u16, &ListenerRecord),
    ) -> std::io::Result<(u16, u16)> {
        let listen = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let forward = |record: &ListenerRecord| {
            record
                .forward
                .iter()
                .filter_map(|(arn, w)| groups.get(arn).map(|tg| (tg.clone(), *w)))
                .collect()
        };
        let bind = |port: u16, record: &ListenerRecord| {
            Listener::bind_forwarding_with_period(
                listen(port),
                forward(record),
                self.metrics_period,
            )
        };
        let production = bind(production_port, production).await?;
        let test = match bind(test_port, test).await {
            Ok(test) => test,
            Err(e) => {
                production.shutdown();
                return Err(e);
            }
        };
        let ports = (production.local_addr().port(), test.local_addr().port());
        let previous = lock(&self.balancers).insert(
            name.to_owned(),
            Balancer {
                production,
                test,
                groups,
            },
        );
        if let Some(previous) = previous {
            previous.production.shutdown();
            previous.test.shutdown();
        }
        Ok(ports)
    }

    /// Realizes the stored state at start. Finds the tasks an earlier run
    /// left running; those recorded as this state's are kept for their
    /// runners (`sync` hands them over) and those recorded healthy are
    /// targets at once. Then binds every load balancer's listeners on their
    /// ports with their stored weights. Returns what was found, for
    /// `end_leftovers` once `sync` has run.
    pub async fn restore(&self, state: &CloudState) -> anyhow::Result<Leftovers> {
        let leftovers = Leftovers::find(&self.runner, &self.host_life).await;
        let adoptable: HashMap<String, Vec<TaskRecord>> = self
            .journal
            .load()
            .into_iter()
            .map(|(arn, records)| {
                let alive = records.into_iter().filter(|r| leftovers.still_has(r));
                (arn, alive.collect())
            })
            .collect();
        let task_set_target_groups: HashMap<&str, &str> = state
            .services
            .values()
            .flat_map(|service| &service.task_sets)
            .map(|ts| (ts.arn.as_str(), ts.load_balancer.target_group_arn.as_str()))
            .collect();
        let healthy_targets = |tg_arn: &str| -> Vec<SocketAddr> {
            adoptable
                .iter()
                .filter(|(ts, _)| task_set_target_groups.get(ts.as_str()) == Some(&tg_arn))
                .flat_map(|(_, records)| records.iter().filter(|r| r.healthy))
                .map(|r| SocketAddr::from((Ipv4Addr::LOCALHOST, r.port)))
                .collect()
        };
        for lb in state.load_balancers.values() {
            let groups = lb
                .target_groups
                .iter()
                .map(|tg| {
                    let group = self.new_target_group(tg);
                    group.set_targets(healthy_targets(&tg.arn));
                    (tg.arn.clone(), group)
                })
                .collect();
            let production = (lb.production.port, &lb.production);
            self.bind(&lb.name, groups, production, (lb.test.port, &lb.test))
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot listen again on the ports of load balancer {}: {e}",
                        lb.name
                    )
                })?;
        }
        *lock(&self.adoptable) = adoptable;
        Ok(leftovers)
    }

    /// Ends what `restore` found running that no runner has adopted (a task
    /// of a task set gone meanwhile, or one the crash left unrecorded).
    pub async fn end_leftovers(&self, leftovers: Leftovers) {
        lock(&self.adoptable).clear();
        if leftovers.is_empty() {
            return;
        }
        let adopted: HashSet<String> = lock(&self.runners)
            .values()
            .flat_map(|r| r.runner.tasks())
            .map(|task| task.task_id)
            .collect();
        let ended = leftovers
            .end_all_but(&adopted, &self.runner, &self.host_life)
            .await;
        if ended > 0 {
            tracing::info!(
                ended,
                adopted = adopted.len(),
                "ended the tasks a previous run left behind that no task set wants"
            );
        }
    }

    /// What a bound listener forwards now, as (target group name, weight).
    pub fn listener_forward(
        &self,
        balancer: &str,
        role: ListenerRole,
    ) -> Option<Vec<(String, u32)>> {
        let balancers = lock(&self.balancers);
        let b = balancers.get(balancer)?;
        Some(match role {
            ListenerRole::Production => b.production.forward(),
            ListenerRole::Test => b.test.forward(),
        })
    }

    pub fn remove_load_balancer(&self, name: &str) {
        if let Some(b) = lock(&self.balancers).remove(name) {
            b.production.shutdown();
            b.test.shutdown();
        }
    }

    /// Every load balancer's traffic metrics.
    pub(crate) fn traffic(&self) -> Vec<BalancerTraffic> {
        lock(&self.balancers)
            .iter()
            .map(|(name, b)| BalancerTraffic {
                load_balancer: name.clone(),
                target_groups: b
                    .groups
                    .iter()
                    .map(|(arn, group)| (arn.clone(), group.metrics().clone()))
                    .collect(),
                unrouted: [&b.production, &b.test]
                    .map(|listener| listener.unrouted_metrics().clone())
                    .to_vec(),
            })
            .collect()
    }

    /// Adds a sample of each target group's host counts to its metrics:
    /// healthy, its targets now; unhealthy, the tasks feeding it that have
    /// failed their health checks and are not stopped yet.
    pub fn sample_hosts(&self) {
        // The groups first, then the runners: `sync` takes the runners'
        // lock before the balancers'.
        let groups: Vec<Arc<TargetGroup>> = lock(&self.balancers)
            .values()
            .flat_map(|b| b.groups.values().cloned())
            .collect();
        let unhealthy = self.unhealthy_tasks(&groups);
        for (group, unhealthy) in groups.iter().zip(unhealthy) {
            let healthy = u32::try_from(group.targets().len()).unwrap_or(u32::MAX);
            group.metrics().record_hosts(healthy, unhealthy);
        }
    }

    /// For each group, the failing tasks of the runners attached to it.
    fn unhealthy_tasks(&self, groups: &[Arc<TargetGroup>]) -> Vec<u32> {
        let runners = lock(&self.runners);
        groups
            .iter()
            .map(|group| {
                let failing = runners
                    .values()
                    .filter(|r| r.attached.load(Ordering::SeqCst))
                    .filter(|r| {
                        r.target_group
                            .as_ref()
                            .is_some_and(|tg| Arc::ptr_eq(tg, group))
                    })
                    .flat_map(|r| r.runner.tasks())
                    .filter(|task| {
                        task.last_status != "STOPPED" && task.health == TaskHealth::Unhealthy
                    })
                    .count();
                u32::try_from(failing).unwrap_or(u32::MAX)
            })
            .collect()
    }

    fn target_group(&self, arn: &str) -> Option<Arc<TargetGroup>> {
        lock(&self.balancers)
            .values()
            .find_map(|b| b.groups.get(arn).cloned())
    }

    /// Converges processes and listeners on `state`.
    pub fn sync(&self, state: &CloudState) {
        let mut wanted: HashMap<String, (usize, TaskProgram, String, String)> = HashMap::new();
        for service in state
            .services
            .values()
            .filter(|s| s.status == ServiceStatus::Active)
        {
            for ts in &service.task_sets {
                let desired = computed_desired_count(service, ts);
                let program = super::ecs::find_task_definition(state, &ts.task_definition)
                    .map_err(|e| e.message)
                    .and_then(|td| program_for(td, &ts.load_balancer, &self.runner));
                match program {
                    Ok(program) => {
                        let health = health_path(state, &ts.load_balancer.target_group_arn);
                        wanted.insert(
                            ts.arn.clone(),
                            (
                                desired,
                                program,
                                ts.load_balancer.target_group_arn.clone(),
                                health,
                            ),
                        );
                    }
                    Err(why) => {
                        let mut reported = lock(&self.unrunnable);
                        if reported.insert(ts.arn.clone(), why.clone()).is_none() {
                            tracing::warn!(task_set = %ts.arn, "cannot run this task set locally: {why}");
                        }
                    }
                }
            }
        }

        let mut runners = lock(&self.runners);
        let stale: Vec<String> = runners
            .iter()
            .filter(|(arn, r)| {
                wanted
                    .get(*arn)
                    .is_none_or(|(_, program, _, _)| *program != r.program)
            })
            .map(|(arn, _)| arn.clone())
            .collect();
        for arn in stale {
            let removed = runners.remove(&arn).expect("listed above");
            removed.attached.store(false, Ordering::SeqCst);
            if let Some(tg) = &removed.target_group {
                tg.set_targets(Vec::new());
            }
            tokio::spawn(async move {
                tokio::time::sleep(DRAIN).await;
                removed.runner.stop().await;
            });
        }
        for (arn, (desired, program, tg_arn, health)) in wanted {
            match runners.get(&arn) {
                Some(existing) => {
                    if existing.runner.desired_count() != desired {
                        existing.runner.set_desired_count(desired);
                    }
                }
                None => {
                    let target_group = self.target_group(&tg_arn);
                    let feed = target_group.clone();
                    let attached = Arc::new(AtomicBool::new(true));
                    let still_attached = attached.clone();
                    let on_healthy: Arc<dyn Fn(Vec<SocketAddr>) + Send + Sync> =
                        Arc::new(move |healthy| {
                            let attached = still_attached.load(Ordering::SeqCst);
                            if let Some(tg) = feed.as_ref().filter(|_| attached) {
                                tg.set_targets(healthy);
                            }
                        });
                    let spec = TaskSetSpec {
                        program: program.clone(),
                        health_check_path: health,
                        desired_count: desired,
                        log_dir: self.log_dir(),
                        engine: self.runner.engine().cloned(),
                        registry_credential: self.registry_credential_for(&program),
                        host_life: self.host_life.clone(),
                        adopt: lock(&self.adoptable).remove(&arn).unwrap_or_default(),
                        recorder: Some(self.recorder(&arn)),
                    };
                    let name = arn.rsplit('/').next().unwrap_or(&arn).to_owned();
                    let runner = TaskSetRunner::start(&name, spec, on_healthy);
                    runners.insert(
                        arn,
                        Runner {
                            runner,
                            program,
                            target_group,
                            attached,
                        },
                    );
                }
            }
        }
        drop(runners);

        let balancers = lock(&self.balancers);
        for lb in state.load_balancers.values() {
            let Some(b) = balancers.get(&lb.name) else {
                continue;
            };
            for (listener, record) in [(&b.production, &lb.production), (&b.test, &lb.test)] {
                let wanted: Vec<(String, u32)> = record
                    .forward
                    .iter()
                    .filter_map(|(arn, w)| b.groups.get(arn).map(|tg| (tg.name().to_owned(), *w)))
                    .collect();
                if listener.forward() != wanted {
                    let forward = record
                        .forward
                        .iter()
                        .filter_map(|(arn, w)| b.groups.get(arn).map(|tg| (tg.clone(), *w)))
                        .collect();
                    listener.set_forward(forward);
                }
            }
        }
    }

    /// Records a new runner's tasks in the journal whenever they change.
    fn recorder(&self, task_set_arn: &str) -> tasks::TaskRecorder {
        let journal = self.journal.clone();
        let runner = self.next_runner.fetch_add(1, Ordering::Relaxed);
        let arn = task_set_arn.to_owned();
        Arc::new(move |tasks| journal.record(runner, &arn, tasks))
    }

    /// (pending, running) tasks of a task set.
    pub fn counts(&self, task_set_arn: &str) -> (usize, usize) {
        lock(&self.runners)
            .get(task_set_arn)
            .map_or((0, 0), |r| r.runner.counts())
    }

    pub fn healthy_count(&self, task_set_arn: &str) -> usize {
        lock(&self.runners)
            .get(task_set_arn)
            .map_or(0, |r| r.runner.healthy().len())
    }

    pub fn tasks(&self, task_set_arn: &str) -> Vec<TaskInfo> {
        lock(&self.runners)
            .get(task_set_arn)
            .map_or_else(Vec::new, |r| r.runner.tasks())
    }

    /// Why a task set cannot run here, if it cannot.
    pub fn unrunnable(&self, task_set_arn: &str) -> Option<String> {
        lock(&self.unrunnable).get(task_set_arn).cloned()
    }

    pub fn task_runner(&self) -> &TaskRunner {
        &self.runner
    }

    /// Where each task's log file is.
    pub fn log_dir(&self) -> PathBuf {
        self.data_dir.join("tasks")
    }

    pub async fn stop_all(&self) {
        let runners: Vec<Runner> = lock(&self.runners).drain().map(|(_, r)| r).collect();
        for r in runners {
            r.runner.stop().await;
        }
        for (_, b) in lock(&self.balancers).drain() {
            b.production.shutdown();
            b.test.shutdown();
        }
        // Task sets still draining when the shutdown came stop in the
        // background, which ends with this process: remove their containers.
        if let Some(engine) = self.runner.engine()
            && let Err(error) = engine.remove_own_containers().await
        {
            tracing::warn!(error, "cannot remove the task containers left draining");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn health_path(state: &CloudState, tg_arn: &str) -> String {
    state
        .load_balancers
        .values()
        .flat_map(|lb| lb.target_groups.iter())
        .find(|tg| tg.arn == tg_arn)
        .map_or_else(|| "/".to_owned(), |tg| tg.health_check_path.clone())
}

/// What a task of this task definition runs here: all of its containers
/// when a container engine is reachable; otherwise the container that takes
/// the load balancer's traffic (or the first one), as a host process.
/// `static:` images are served by the built-in static server either way.
pub fn program_for(
    td: &TaskDefinition,
    load_balancer: &ServiceLoadBalancer,
    runner: &TaskRunner,
) -> Result<TaskProgram, String> {
    let containers = td.input["containerDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let container = containers
        .iter()
        .find(|c| c["name"] == load_balancer.container_name.as_str())
        .or_else(|| containers.first())
        .ok_or("the task definition has no containers")?;
    let image = container["image"].as_str().unwrap_or_default();
    if let Some(dir) = image.strip_prefix("static:") {
        return Ok(TaskProgram::StaticSite {
            dir: PathBuf::from(dir),
        });
    }
    let docker_host = match runner {
        TaskRunner::Containers(_) => {
            return ContainerTaskSpec::from_definitions(
                &containers,
                &load_balancer.container_name,
                load_balancer.container_port,
            )
            .map(TaskProgram::Containers);
        }
        TaskRunner::HostProcesses { docker_host, .. } => docker_host,
    };
    let mut argv = tasks::strings(container, "entryPoint").unwrap_or_default();
    argv.extend(tasks::strings(container, "command").unwrap_or_default());
    if argv.is_empty() {
        return Err(format!(
            "image {image} needs a container engine, and no container engine was reachable at {docker_host} \
             when the local cloud started; start one (or point --docker-host at it) and restart the local cloud, \
             give the container an entryPoint/command to run on the host, or use an image static:<dir>"
        ));
    }
    Ok(TaskProgram::Command {
        argv,
        env: tasks::environment(container),
        working_dir: container["workingDirectory"].as_str().map(PathBuf::from),
    })
}
