//! A task as containers on the engine: pull what is missing, create and
//! start the containers, copy their output into the task's log, report
//! exits (through the engine's wait endpoint) and health changes (through
//! its event stream), and stop and remove them.

use super::RegistryCredential;
use super::container_config::{ContainerTaskSpec, container_name, whole_seconds};
use super::container_engine::{ContainerEngine, LABEL_CONTAINER, LABEL_TASK_ID, engine_error};
use super::logs::{self, LineSplitter};
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::container::LogOutput;
use bollard::errors::Error as EngineError;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, LogsOptions, StopContainerOptions,
    WaitContainerOptions,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How long a stopped task's log pumps may take to write the last lines.
const LOG_DRAIN: Duration = Duration::from_secs(2);
/// The pause before following the engine's events again after the stream
/// broke off (say, the engine restarted).
const EVENTS_RETRY: Duration = Duration::from_secs(1);

/// What the watchers report about one of the task's containers.
#[derive(Debug)]
enum ContainerEvent {
    Exited { container: usize, how: String },
    Unhealthy { container: usize },
}

struct Member {
    /// The engine's name for it, `switchyard-<task id>-<container>`.
    engine_name: String,
    /// The container definition's name.
    name: String,
    essential: bool,
    stop_timeout: Duration,
    id: Option<String>,
}

pub(super) struct ContainerTask {
    engine: Arc<ContainerEngine>,
    /// In start order; the first owns the network namespace.
    members: Vec<Member>,
    events: mpsc::UnboundedReceiver<ContainerEvent>,
    /// The exit and health watchers, which end with the task.
    watchers: JoinSet<()>,
    /// Copy each container's output until its log stream ends.
    log_pumps: JoinSet<()>,
    /// Set once the containers are removed; until then dropping the task
    /// removes them in the background.
    removed: bool,
}

/// Where the task's containers come from and go to.
pub(super) struct ContainerLaunch<'a> {
    pub engine: &'a Arc<ContainerEngine>,
    pub spec: &'a ContainerTaskSpec,
    pub registry_credential: Option<&'a RegistryCredential>,
    pub task_set: &'a str,
    pub task_id: &'a str,
    pub port: u16,
    pub log_dir: &'a Path,
}

impl ContainerTask {
    /// Pulls the images the engine does not have. Safe to give up at any
    /// point: nothing of the task exists on the engine yet. On failure,
    /// returns the task's stopped reason.
    pub(super) async fn pull_images(launch: &ContainerLaunch<'_>) -> Result<(), String> {
        let mut log = open_log(launch)?;
        let mut images: Vec<&str> = Vec::new();
        for container in &launch.spec.containers {
            if !images.contains(&container.image.as_str()) {
                images.push(&container.image);
            }
        }
        for image in images {
            let pulled = ensure_image(
                launch.engine.docker(),
                image,
                launch.registry_credential,
                &mut log,
            )
            .await;
            if let Err(error) = pulled {
                let reason = format!("CannotPullContainerError: {error}");
                note(&mut log, &reason).await;
                return Err(reason);
            }
        }
        Ok(())
    }

    /// Creates and starts the containers in order (their images pulled).
    /// Not to be given up half-way: a create request in flight may still
    /// land. On failure, returns the task's stopped reason with whatever was
    /// created already removed.
    pub(super) async fn start(launch: ContainerLaunch<'_>) -> Result<ContainerTask, String> {
        let mut log = open_log(&launch)?;
        let ContainerLaunch {
            engine,
            spec,
            task_set,
            task_id,
            port,
            ..
        } = launch;
        let (mut task, sender) = ContainerTask::new(engine, spec, task_id);
        // Health events are read from this moment on, so that none is
        // missed between starting a container and following the stream.
        let since = unix_seconds(SystemTime::now()).saturating_sub(1);

        let docker = engine.docker().clone();
        let bodies = spec.create_bodies(engine.owner(), task_set, task_id, port);
        for (index, (engine_name, body)) in bodies.into_iter().enumerate() {
            let options = CreateContainerOptions {
                name: Some(engine_name.clone()),
                ..Default::default()
            };
            let started = async {
                let created = docker.create_container(Some(options), body).await?;
                task.members[index].id = Some(created.id);
                docker.start_container(&engine_name, None).await
            };
            if let Err(error) = started.await {
                let reason = format!(
                    "CannotStartContainerError: container {}: {}",
                    task.members[index].name,
                    engine_error(&error)
                );
                note(&mut log, &reason).await;
                task.stop().await;
                return Err(reason);
            }
            task.follow(index, &log, 0, &sender).await;
        }
        task.follow_health(spec, task_id, since, sender);
        Ok(task)
    }

    /// Takes over the running containers `ids` of task `task_id`, which an
    /// earlier run of the local cloud started: follows their exits, health
    /// and output again. Fails, with nothing changed on the engine, unless
    /// the container holding the network and every essential one run.
    pub(super) async fn adopt(
        engine: &Arc<ContainerEngine>,
        spec: &ContainerTaskSpec,
        task_id: &str,
        ids: &[String],
        log_dir: &Path,
    ) -> Result<ContainerTask, String> {
        if ids.len() != spec.containers.len() {
            return Err(format!(
                "the task has {} containers, its definition {}",
                ids.len(),
                spec.containers.len()
            ));
        }
        let (mut task, sender) = ContainerTask::new(engine, spec, task_id);
        // Not ours to remove if the adoption fails: the caller decides.
        task.removed = true;
        for (index, id) in ids.iter().enumerate() {
            let member = &mut task.members[index];
            member.id = Some(id.clone());
            let running = engine
                .docker()
                .inspect_container(id, None)
                .await
                .map_err(|e| engine_error(&e))?
                .state
                .and_then(|state| state.running)
                .unwrap_or(false);
            if !running && (index == 0 || member.essential) {
                return Err(format!("container {} is not running", member.name));
            }
        }
        let log = logs::open_append(log_dir, task_id)
            .map(tokio::fs::File::from_std)
            .map_err(|e| e.to_string())?;
        // The output since the last line the log got, which the engine kept
        // meanwhile: a line of that same second may come twice, none is lost.
        let last_written = std::fs::metadata(logs::path(log_dir, task_id))
            .and_then(|m| m.modified())
            .map_or(0, unix_seconds);
        for index in 0..task.members.len() {
            task.follow(index, &log, last_written, &sender).await;
        }
        task.follow_health(spec, task_id, unix_seconds(SystemTime::now()), sender);
        task.removed = false;
        Ok(task)
    }

    fn new(
        engine: &Arc<ContainerEngine>,
        spec: &ContainerTaskSpec,
        task_id: &str,
    ) -> (ContainerTask, mpsc::UnboundedSender<ContainerEvent>) {
        let (sender, events) = mpsc::unbounded_channel();
        let task = ContainerTask {
            engine: engine.clone(),
            members: spec
                .containers
                .iter()
                .map(|c| Member {
                    engine_name: container_name(task_id, &c.name),
                    name: c.name.clone(),
                    essential: c.essential,
                    stop_timeout: c.stop_timeout,
                    id: None,
                })
                .collect(),
            events,
            watchers: JoinSet::new(),
            log_pumps: JoinSet::new(),
            removed: false,
        };
        (task, sender)
    }

    /// Copies the output of member `index` (from `since`, epoch seconds; 0
    /// for all of it) into the task's log and reports its exit.
    async fn follow(
        &mut self,
        index: usize,
        log: &tokio::fs::File,
        since: u64,
        events: &mpsc::UnboundedSender<ContainerEvent>,
    ) {
        let docker = self.engine.docker().clone();
        let engine_name = self.members[index].engine_name.clone();
        let prefix = (self.members.len() > 1).then(|| self.members[index].name.clone());
        match log.try_clone().await {
            Ok(file) => {
                self.log_pumps.spawn(pump_logs(
                    docker.clone(),
                    engine_name.clone(),
                    prefix,
                    file,
                    since,
                ));
            }
            Err(error) => {
                tracing::warn!(container = %engine_name, %error, "cannot copy the container's output to the task log");
            }
        }
        self.watchers
            .spawn(watch_exit(docker, engine_name, index, events.clone()));
    }

    /// Follows the health of the containers with a healthCheck, from
    /// `since` (epoch seconds).
    fn follow_health(
        &mut self,
        spec: &ContainerTaskSpec,
        task_id: &str,
        since: u64,
        events: mpsc::UnboundedSender<ContainerEvent>,
    ) {
        let checked: HashMap<String, usize> = spec
            .containers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.health_check.is_some())
            .map(|(index, c)| (c.name.clone(), index))
            .collect();
        if !checked.is_empty() {
            self.watchers.spawn(watch_health(
                self.engine.docker().clone(),
                task_id.to_owned(),
                since,
                checked,
                events,
            ));
        }
    }

    /// The containers' ids, in start order.
    pub(super) fn container_ids(&self) -> Vec<String> {
        self.members.iter().filter_map(|m| m.id.clone()).collect()
    }

    /// Resolves when the task ends on its own, with its stopped reason: an
    /// essential container exited or turned unhealthy (non-essential ones
    /// only get logged). Cancel-safe.
    pub(super) async fn exited(&mut self) -> String {
        loop {
            let Some(event) = self.events.recv().await else {
                return "The engine stopped reporting on the task's containers".to_owned();
            };
            match event {
                ContainerEvent::Exited { container, how } => {
                    let member = &self.members[container];
                    if member.essential {
                        return format!(
                            "Essential container in task exited ({}: {how})",
                            member.name
                        );
                    }
                    // Docker takes the namespace's published port and
                    // interfaces with it: the task can take no more traffic.
                    if container == 0 {
                        return format!(
                            "Container {}, which holds the task's network, exited ({how})",
                            member.name
                        );
                    }
                    tracing::info!(container = %member.engine_name, how, "a non-essential container exited; the task runs on");
                }
                ContainerEvent::Unhealthy { container } => {
                    let member = &self.members[container];
                    if member.essential {
                        return format!("Task failed container health checks ({})", member.name);
                    }
                    tracing::info!(container = %member.engine_name, "a non-essential container is unhealthy; the task runs on");
                }
            }
        }
    }

    /// Stops every container (each gets its stop signal, then SIGKILL after
    /// its stopTimeout), removes them and lets the log pumps finish.
    pub(super) async fn stop(&mut self) {
        self.watchers.abort_all();
        let docker = self.engine.docker();
        let stops = self.members.iter().map(|member| async move {
            let options = StopContainerOptions {
                t: Some(i32::try_from(whole_seconds(member.stop_timeout)).unwrap_or(i32::MAX)),
                ..Default::default()
            };
            match docker.stop_container(&member.engine_name, Some(options)).await {
                Ok(()) | Err(EngineError::DockerResponseServerError { status_code: 404, .. }) => {}
                Err(error) => {
                    tracing::warn!(container = %member.engine_name, error = engine_error(&error), "cannot stop a task container; removing it by force");
                }
            }
        });
        // All at once, as ECS stops a task's containers.
        futures_util::future::join_all(stops).await;
        for member in &self.members {
            if let Err(error) = self.engine.remove(&member.engine_name).await {
                tracing::warn!(container = %member.engine_name, error, "cannot remove a task container");
            }
        }
        self.removed = true;
        let drained = tokio::time::timeout(LOG_DRAIN, async {
            while self.log_pumps.join_next().await.is_some() {}
        });
        if drained.await.is_err() {
            self.log_pumps.abort_all();
        }
    }
}

impl Drop for ContainerTask {
    /// A task dropped without `stop` (its driver was aborted, or its start
    /// was given up) still leaves no container behind.
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // The next start removes them, by their owner label.
        };
        let engine = self.engine.clone();
        let names: Vec<String> = self.members.iter().map(|m| m.engine_name.clone()).collect();
        runtime.spawn(async move {
            for name in names {
                if let Err(error) = engine.remove(&name).await {
                    tracing::warn!(container = %name, error, "cannot remove a task container");
                }
            }
        });
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn open_log(launch: &ContainerLaunch<'_>) -> Result<tokio::fs::File, String> {
    logs::open_append(launch.log_dir, launch.task_id)
        .map(tokio::fs::File::from_std)
        .map_err(|e| format!("CannotStartContainerError: {e}"))
}

/// A reference with the tag the engine would otherwise not assume: asked for
/// a bare name, the pull endpoint fetches every tag of the repository.
fn with_default_tag(image: &str) -> String {
    let last_part = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last_part.contains(':') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

/// Pulls `image` unless the engine has it.
async fn ensure_image(
    docker: &Docker,
    image: &str,
    credential: Option<&RegistryCredential>,
    log: &mut tokio::fs::File,
) -> Result<(), String> {
    match docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(EngineError::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(error) => return Err(engine_error(&error)),
    }
    note(log, &format!("pulling image {image}")).await;
    let options = CreateImageOptions {
        from_image: Some(with_default_tag(image)),
        ..Default::default()
    };
    let credentials = credential.map(|c| DockerCredentials {
        username: Some(c.username.clone()),
        password: Some(c.password.clone()),
        ..Default::default()
    });
    let mut progress = docker.create_image(Some(options), None, credentials);
    while let Some(step) = progress.next().await {
        step.map_err(|e| engine_error(&e))?;
    }
    Ok(())
}

/// A line of the local cloud's own in the task's log.
async fn note(log: &mut tokio::fs::File, line: &str) {
    let line = format!("[local cloud] {line}\n");
    if let Err(error) = append(log, line.as_bytes()).await {
        tracing::warn!(%error, "cannot write to a task log");
    }
}

async fn append(log: &mut tokio::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    log.write_all(bytes).await?;
    // tokio's File finishes writes in the background: flush, so that a
    // reader of the log sees every line already handed over.
    log.flush().await
}

/// Copies the container's stdout and stderr, line by line, into the task's
/// log until the container is gone.
async fn pump_logs(
    docker: Docker,
    container: String,
    prefix: Option<String>,
    mut log: tokio::fs::File,
    since: u64,
) {
    let options = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        since: i32::try_from(since).unwrap_or(i32::MAX),
        ..Default::default()
    };
    let mut output = docker.logs(&container, Some(options));
    let mut stdout = LineSplitter::new(prefix.as_deref());
    let mut stderr = LineSplitter::new(prefix.as_deref());
    while let Some(chunk) = output.next().await {
        let lines = match chunk {
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                stdout.push(&message)
            }
            Ok(LogOutput::StdErr { message }) => stderr.push(&message),
            Ok(LogOutput::StdIn { .. }) => continue,
            // The container was removed while following, or the engine went away.
            Err(error) => {
                tracing::debug!(%container, error = engine_error(&error), "the container's log stream ended");
                break;
            }
        };
        if let Err(error) = append(&mut log, &lines).await {
            tracing::warn!(%container, %error, "cannot write to the task log");
            return;
        }
    }
    let mut rest = stdout.finish();
    rest.extend(stderr.finish());
    if let Err(error) = append(&mut log, &rest).await {
        tracing::warn!(%container, %error, "cannot write to the task log");
    }
}

/// Waits, through the engine, for the container to stop running and
/// reports how it ended.
async fn watch_exit(
    docker: Docker,
    container: String,
    index: usize,
    events: mpsc::UnboundedSender<ContainerEvent>,
) {
    let options = WaitContainerOptions {
        condition: "not-running".to_owned(),
    };
    let answer = docker
        .wait_container(&container, Some(options))
        .next()
        .await;
    let how = match answer {
        Some(Ok(exit)) => format!("exit code {}", exit.status_code),
        // bollard turns a non-zero exit code into this error.
        Some(Err(EngineError::DockerContainerWaitError { code, .. })) => {
            format!("exit code {code}")
        }
        Some(Err(error)) => format!("the engine stopped waiting on it: {}", engine_error(&error)),
        None => "the engine ended the wait without an exit code".to_owned(),
    };
    tracing::info!(%container, how, "task container stopped");
    // Nobody listens once the task has ended: nothing to report to.
    let _ = events.send(ContainerEvent::Exited {
        container: index,
        how,
    });
}

/// Follows the engine's health events of the task's containers (those with
/// a healthCheck, by definition name) and reports each turn to unhealthy.
async fn watch_health(
    docker: Docker,
    task_id: String,
    mut since: u64,
    checked: HashMap<String, usize>,
    events: mpsc::UnboundedSender<ContainerEvent>,
) {
    loop {
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            ("event".to_owned(), vec!["health_status".to_owned()]),
            (
                "label".to_owned(),
                vec![format!("{LABEL_TASK_ID}={task_id}")],
            ),
        ]);
        let options = EventsOptions {
            since: Some(since.to_string()),
            until: None,
            filters: Some(filters),
        };
        let mut stream = docker.events(Some(options));
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(
                        task_id,
                        error = engine_error(&error),
                        "the engine's event stream broke off; following it again"
                    );
                    break;
                }
            };
            if let Some(time) = event.time.and_then(|t| u64::try_from(t).ok()) {
                since = time;
            }
            let status = event
                .action
                .as_deref()
                .and_then(|action| action.strip_prefix("health_status:"))
                .map(str::trim);
            let container = event
                .actor
                .and_then(|actor| actor.attributes)
                .and_then(|attributes| attributes.get(LABEL_CONTAINER).cloned())
                .and_then(|name| checked.get(&name).copied());
            if let (Some("unhealthy"), Some(container)) = (status, container)
                && events
                    .send(ContainerEvent::Unhealthy { container })
                    .is_err()
            {
                return;
            }
        }
        tokio::time::sleep(EVENTS_RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_image_name_means_its_latest_tag() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("busybox:1.36"), "busybox:1.36");
        assert_eq!(
            with_default_tag("127.0.0.1:5000/shop/web"),
            "127.0.0.1:5000/shop/web:latest"
        );
        assert_eq!(
            with_default_tag("127.0.0.1:5000/shop/web:v2"),
            "127.0.0.1:5000/shop/web:v2"
        );
        let pinned =
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(with_default_tag(pinned), pinned);
    }
}
