//! The embedded local cloud: an AWS-wire-compatible slice of ECS,
//! CodeDeploy and CodePipeline that really runs tasks, as containers or
//! local processes, behind a real weighted load balancer, and pipelines with real git, builds
//! and deployments.
//!
//! - `wire`: the awsJson1_1 protocol; `ecs`, `codedeploy`, `codepipeline`
//!   and `ecr`: the operations (`ecr` also serves the OCI registry under
//!   `/v2/` that backs it); `cloudwatch`: alarms and metrics, over rpcv2Cbor
//!   and awsJson1_0 as its clients send them;
//! - `state`: what the cloud knows, persisted; `runtime`: the processes and
//!   listeners realized from it; `engine`: drives each deployment through its
//!   lifecycle from stored timestamps, so a restart resumes it;
//! - `internal`: what AWS does through other services (ELBv2, Lambda) that
//!   are out of scope here: load balancers and hook functions.

#[macro_use]
mod aws_enum;
mod cloudwatch;
mod codedeploy;
mod codepipeline;
mod die_with_parent;
mod ecr;
mod ecs;
mod functions;
mod internal;
pub mod proxy;
mod runtime;
mod spawn_error;
pub mod state;
pub mod tasks;
mod traffic;
mod wire;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use state::{CloudState, StateFile};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;
use wire::AwsError;

pub use internal::{CreateLoadBalancer, LoadBalancerInfo};

/// How the local cloud runs.
#[derive(Debug, Clone)]
pub struct LocalCloudConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// How many times faster than real time deployment intervals and waits
    /// pass: at 60, one minute of a deployment config takes one second.
    pub time_scale: f64,
    /// The container engine tasks run on, when it answers at start.
    pub docker_host: tasks::DockerHost,
    /// How long the tasks of this local cloud wait for it to come back after
    /// a crash before they stop themselves.
    pub task_orphan_grace: Duration,
}

/// Real and scaled ("cloud") time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub scale: f64,
}

impl Clock {
    /// Cloud time that has passed since `since` (epoch millis).
    pub fn cloud_elapsed(&self, since: i64, now: i64) -> Duration {
        Duration::from_secs_f64(((now - since).max(0) as f64 / 1000.0) * self.scale)
    }

    /// Cloud minutes as real milliseconds.
    pub fn minutes_to_real_millis(&self, minutes: f64) -> i64 {
        (minutes * 60_000.0 / self.scale) as i64
    }
}

pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub struct LocalCloud {
    state: Mutex<CloudState>,
    file: StateFile,
    clock: Clock,
    runtime: runtime::Runtime,
    registry: ecr::Registry,
    data_dir: PathBuf,
    endpoint: OnceLock<String>,
    /// Wakes the ECS-native deployment driver when an operation changed a
    /// service deployment.
    native_wake: tokio::sync::Notify,
    /// Counts alarm state changes: every CodeDeploy deployment driver
    /// watches it, so that an alarm stops its deployment at once.
    alarm_changes: tokio::sync::watch::Sender<u64>,
    /// Wakes the alarm evaluator when an alarm was put or deleted.
    alarms_put: tokio::sync::Notify,
    /// Held while this local cloud lives: one per data dir, and its host
    /// tasks stop themselves once it has lapsed for a while.
    _lease: tasks::lease::CloudLock,
}

impl std::fmt::Debug for LocalCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCloud")
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

/// A running local cloud.
pub struct LocalCloudHandle {
    pub cloud: Arc<LocalCloud>,
    pub address: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    native_deployments: tokio::task::JoinHandle<()>,
    host_sampling: tokio::task::JoinHandle<()>,
    alarms: tokio::task::JoinHandle<()>,
}

impl LocalCloudHandle {
    /// The endpoint URL for the AWS SDKs and CLI.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops serving and stops every task.
    pub async fn shutdown(self) {
        self.server.abort();
        self.native_deployments.abort();
        self.host_sampling.abort();
        self.alarms.abort();
        self.cloud.runtime.stop_all().await;
    }
}

impl LocalCloud {
    /// Loads the persisted state, relaunches its tasks and listeners,
    /// resumes unfinished deployments and serves the API.
    pub async fn start(config: LocalCloudConfig) -> anyhow::Result<LocalCloudHandle> {
        anyhow::ensure!(config.time_scale > 0.0, "the time scale must be positive");
        std::fs::create_dir_all(&config.data_dir)?;
        let lease = tasks::lease::CloudLock::acquire(&config.data_dir)?;
        let file = StateFile::new(&config.data_dir);
        let state = file.load()?;
        let owner = instance_id(&config.data_dir)?;
        let runner = tasks::TaskRunner::find(&config.docker_host, &owner).await;
        tracing::info!(%runner, "local cloud task runner");
        eprintln!("local cloud: {runner}");
        let registry = ecr::Registry::open(&config.data_dir)?;
        // Blobs a crash left between upload and link, or after a delete.
        registry.collect_garbage(&state);
        let host_life = tasks::HostTaskLife::Leased {
            owner,
            lease: tasks::lease::lock_path(&config.data_dir),
            orphan_grace: config.task_orphan_grace,
        };
        let clock = Clock {
            scale: config.time_scale,
        };
        let cloud = Arc::new(LocalCloud {
            state: Mutex::new(CloudState::default()),
            file,
            clock,
            runtime: runtime::Runtime::new(&config.data_dir, runner, host_life, clock),
            registry,
            data_dir: config.data_dir.clone(),
            endpoint: OnceLock::new(),
            native_wake: tokio::sync::Notify::new(),
            alarm_changes: tokio::sync::watch::Sender::new(0),
            alarms_put: tokio::sync::Notify::new(),
            _lease: lease,
        });
        // The address before the tasks: images in the local ECR are named
        // after it, and tasks pull them with its credential.
        let listener = switchyard_runtime::listen::bind_remembered(
            config.listen,
            &config.data_dir.join("listen-address"),
        )
        .await?;
        let address = listener.local_addr()?;
        let _ = cloud.endpoint.set(format!("http://{address}"));
        cloud.runtime.set_registry(runtime::RegistryAccess {
            host: cloud.registry_host(),
            credential: cloud.registry.pull_credential(),
        });
        // Listeners on the ports they had, so production URLs stay the same,
        // serving the tasks still running from their first connection on.
        let leftovers = cloud.runtime.restore(&state).await?;
        let unfinished: Vec<String> = state
            .deployments
            .values()
            .filter(|d| !d.is_finished())
            .map(|d| d.id.clone())
            .collect();
        {
            let mut guard = cloud.lock();
            *guard = state;
            cloud.runtime.sync(&guard);
        }
        let adopting = cloud.clone();
        tokio::spawn(async move { adopting.runtime.end_leftovers(leftovers).await });
        for id in unfinished {
            tracing::info!(deployment = %id, "resuming deployment");
            tokio::spawn(codedeploy::engine::drive(cloud.clone(), id));
        }
        codepipeline::resume(&cloud);
        let native_deployments = tokio::spawn(ecs::native::engine::run(cloud.clone()));
        let host_sampling = tokio::spawn(sample_hosts(Arc::downgrade(&cloud)));
        let alarms = tokio::spawn(cloudwatch::engine::run(cloud.clone()));
        let router = Router::new()
            .route(
                "/",
                axum::routing::post(aws).layer(axum::extract::DefaultBodyLimit::max(
                    wire::MAX_REQUEST_BYTES,
                )),
            )
            .merge(cloudwatch::protocol::router())
            .merge(internal::router())
            .merge(ecr::registry::router())
            .with_state(cloud.clone())
            // SDKs and the CLI reuse connections: one refused body must not break the next call.
            .layer(axum::middleware::from_fn(
                switchyard_runtime::unread_body::read_away_unread_body,
            ));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "the local cloud stopped serving");
            }
        });
        Ok(LocalCloudHandle {
            cloud,
            address,
            server,
            native_deployments,
            host_sampling,
            alarms,
        })
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn endpoint(&self) -> &str {
        self.endpoint.get().map_or("", String::as_str)
    }

    /// How tasks run: as containers on an engine, or as host processes.
    pub fn task_runner(&self) -> &tasks::TaskRunner {
        self.runtime.task_runner()
    }

    /// The last `lines` lines of a task's log (its process's or containers'
    /// output); None for a task this local cloud has no log of.
    pub fn task_log(&self, task_id: &str, lines: usize) -> std::io::Result<Option<String>> {
        if !tasks::logs::is_task_id(task_id) {
            return Ok(None);
        }
        match tasks::logs::tail(&tasks::logs::path(&self.runtime.log_dir(), task_id), lines) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CloudState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the state.
    fn read<T>(&self, f: impl FnOnce(&CloudState) -> T) -> T {
        f(&self.lock())
    }

    /// Changes the state: on success the new state is saved and realized
    /// (processes, listener weights) before the lock is released, so what
    /// runs always matches what is stored. On error nothing changes.
    fn mutate<T>(
        &self,
        f: impl FnOnce(&mut CloudState) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        self.mutate_as(f)
    }

    /// `mutate` for a caller with an error type of its own (the registry's).
    fn mutate_as<T, E: From<AwsError>>(
        &self,
        f: impl FnOnce(&mut CloudState) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut guard = self.lock();
        let mut draft = guard.clone();
        let result = f(&mut draft)?;
        self.file.save(&draft).map_err(|e| {
            E::from(AwsError::new(
                "ServerException",
                format!("cannot save the local cloud's state: {e}"),
            ))
        })?;
        *guard = draft;
        self.runtime.sync(&guard);
        Ok(result)
    }
}

/// Samples the load balancers' host counts into their metrics a few times
/// per period, while the local cloud lives.
async fn sample_hosts(cloud: Weak<LocalCloud>) {
    let Some(every) = cloud.upgrade().map(|c| c.runtime.host_sampling_interval()) else {
        return;
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(cloud) = cloud.upgrade() else {
            return;
        };
        cloud.runtime.sample_hosts();
    }
}

/// This local cloud's id, made on its first start and kept in its data dir:
/// the owner label of its containers, which tells them from those of other
/// local clouds on the same engine.
fn instance_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("instance-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    }
    let id = random_hex(16);
    std::fs::write(&path, format!("{id}\n"))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(id)
}

/// `POST /`: one AWS operation.
async fn aws(
    State(cloud): State<Arc<LocalCloud>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // awsJson1_0, with its own content type and error shape.
    if let Ok((wire::CLOUDWATCH_PREFIX, operation)) = wire::target(&headers) {
        return cloudwatch::protocol::json(&cloud, operation, body);
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            return wire::too_large();
        }
        Err(rejection) => {
            return AwsError::new(
                "SerializationException",
                format!("cannot read the request body: {rejection}"),
            )
            .into_response();
        }
    };
    let result = wire::target(&headers).and_then(|(prefix, operation)| {
        let input = wire::body(&body)?;
        match prefix {
            wire::ECS_PREFIX => ecs::call(&cloud, operation, &input),
            wire::CODEDEPLOY_PREFIX => codedeploy::call(&cloud, operation, &input),
            wire::CODEPIPELINE_PREFIX => codepipeline::call(&cloud, operation, &input),
            wire::ECR_PREFIX => ecr::call(&cloud, operation, &input),
            other => Err(AwsError::new(
                "UnknownOperationException",
                format!("the local cloud does not serve {other}"),
            )),
        }
    });
    match result {
        Ok(value) => wire::ok(wire::compact(value)),
        Err(error) => error.into_response(),
    }
}

/// Random ids in AWS's shapes.
pub(crate) fn random_id(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

pub fn random_hex(len: usize) -> String {
    random_id(b"0123456789abcdef", len)
}

pub(crate) fn random_uuid() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
