//! The container engine tasks run on: a Docker Engine API endpoint (Docker,
//! or Podman's compatible socket), asked once at start whether it is there.
//! Without one, tasks run as host processes.

use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};
use bollard::{API_DEFAULT_VERSION, BollardRequest, ClientVersion, Docker};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// Labels on every container the local cloud creates.
pub(super) const LABEL_OWNER: &str = "switchyard.localcloud";
pub(super) const LABEL_TASK_ID: &str = "switchyard.task-id";
pub(super) const LABEL_TASK_SET: &str = "switchyard.task-set";
pub(super) const LABEL_CONTAINER: &str = "switchyard.container";

/// How long the first question may take: an engine that does not answer
/// in this time is not used.
const PING_TIMEOUT_SECS: u64 = 5;
/// Any other request's limit on its answer's headers (streams such as
/// logs, events and waits answer at once and then run on).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// Where the engine listens: `unix:///path/to/socket` or
/// `tcp://<loopback address>:port` (the forms of DOCKER_HOST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerHost(String);

impl DockerHost {
    pub const DEFAULT: &'static str = "unix:///var/run/docker.sock";

    pub fn parse(value: &str) -> Result<DockerHost, String> {
        if let Some(path) = value.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "{value:?}: a unix socket needs an absolute path, e.g. unix:///var/run/docker.sock"
                ));
            }
            return Ok(DockerHost(value.to_owned()));
        }
        if let Some(address) = value.strip_prefix("tcp://") {
            let address = address.trim_end_matches('/');
            let (host, port) = address.rsplit_once(':').ok_or_else(|| {
                format!("{value:?}: a tcp engine address needs a port, e.g. tcp://127.0.0.1:2375")
            })?;
            port.parse::<u16>()
                .map_err(|_| format!("{value:?}: {port:?} is not a port number"))?;
            let ip = host.trim_start_matches('[').trim_end_matches(']');
            let loopback =
                ip == "localhost" || ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(format!(
                    "{value:?}: the engine must run on this machine, since tasks publish their ports \
                     on 127.0.0.1; use unix:///path/to/docker.sock or tcp://127.0.0.1:PORT"
                ));
            }
            return Ok(DockerHost(format!("tcp://{address}")));
        }
        Err(format!(
            "{value:?} is not a container engine address: use unix:///path/to/docker.sock or tcp://127.0.0.1:PORT"
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn client(&self, version: &ClientVersion, timeout_secs: u64) -> Result<Docker, String> {
        let connected = if self.0.starts_with("unix://") {
            Docker::connect_with_unix(&self.0, timeout_secs, version)
        } else {
            Docker::connect_with_http(&self.0, timeout_secs, version)
        };
        connected.map_err(|e| engine_error(&e))
    }
}

impl Default for DockerHost {
    fn default() -> Self {
        DockerHost(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reachable engine, as this local cloud uses it.
pub struct ContainerEngine {
    docker: Docker,
    host: DockerHost,
    /// "Docker" or "Podman".
    product: String,
    version: String,
    api_version: String,
    /// The value of the owner label on this local cloud's containers: unique
    /// to its data dir, so that two local clouds on one engine leave each
    /// other's containers alone.
    owner: String,
}

impl fmt::Debug for ContainerEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContainerEngine")
            .field("host", &self.host)
            .field("version", &self.version)
            .field("api_version", &self.api_version)
            .finish()
    }
}

impl ContainerEngine {
    /// Connects and asks the engine for its version.
    pub async fn connect(host: &DockerHost, owner: &str) -> Result<ContainerEngine, String> {
        // Asked without an API version in the path: an engine older than
        // this client refuses a versioned request as "too new" and a much
        // newer one may refuse it as too old, while every engine answers the
        // unversioned /version with the API version it speaks.
        let probe = host
            .client(API_DEFAULT_VERSION, PING_TIMEOUT_SECS)?
            .with_request_modifier(without_api_version);
        let answer = probe.version().await.map_err(|e| engine_error(&e))?;
        let api_version = answer
            .api_version
            .ok_or("the engine did not say which API version it speaks")?;
        let spoken = parse_api_version(&api_version).ok_or_else(|| {
            format!("the engine speaks an API version {api_version:?} this client cannot read")
        })?;
        let version = if spoken < *API_DEFAULT_VERSION {
            spoken
        } else {
            *API_DEFAULT_VERSION
        };
        let podman = answer
            .components
            .iter()
            .flatten()
            .any(|c| c.name.to_ascii_lowercase().contains("podman"));
        Ok(ContainerEngine {
            docker: host.client(&version, REQUEST_TIMEOUT_SECS)?,
            host: host.clone(),
            product: if podman { "Podman" } else { "Docker" }.to_owned(),
            version: answer
                .version
                .unwrap_or_else(|| "(unknown version)".to_owned()),
            api_version,
            owner: owner.to_owned(),
        })
    }

    /// The engine's client, speaking the API version the engine speaks.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub(super) fn owner(&self) -> &str {
        &self.owner
    }

    pub fn host(&self) -> &DockerHost {
        &self.host
    }

    /// Every container carrying this local cloud's owner label, running or
    /// not, as (container id, task id).
    pub async fn own_containers(&self) -> Result<Vec<(String, String)>, String> {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![format!("{LABEL_OWNER}={}", self.owner)],
        )]);
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| engine_error(&e))?;
        Ok(containers
            .into_iter()
            .filter_map(|c| {
                let task_id = c.labels?.remove(LABEL_TASK_ID).unwrap_or_default();
                Some((c.id?, task_id))
            })
            .collect())
    }

    /// Force-removes every container carrying this local cloud's owner
    /// label (those that a shutdown did not get to); returns how many it
    /// removed.
    pub async fn remove_own_containers(&self) -> Result<usize, String> {
        let mut removed = 0;
        for (id, _) in self.own_containers().await? {
            match self.remove(&id).await {
                Ok(()) => removed += 1,
                Err(error) => {
                    tracing::warn!(container = %id, error, "cannot remove a leftover task container")
                }
            }
        }
        Ok(removed)
    }

    /// Force-removes one container (with its anonymous volumes); one that
    /// is already gone is fine.
    pub async fn remove(&self, container: &str) -> Result<(), String> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(container, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            // Already on its way out by an earlier request.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => Ok(()),
            Err(error) => Err(engine_error(&error)),
        }
    }
}

/// "1.41" as a client version.
fn parse_api_version(value: &str) -> Option<ClientVersion> {
    let (major, minor) = value.split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

/// Drops the `/v1.NN` bollard puts in front of every path.
fn without_api_version(mut request: BollardRequest) -> BollardRequest {
    let uri = request.uri();
    let Some(rest) = uri
        .path()
        .strip_prefix("/v")
        .and_then(|p| p.find('/').map(|slash| &p[slash..]))
    else {
        return request;
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(unversioned) = hyper::Uri::from_parts(parts) {
            *request.uri_mut() = unversioned;
        }
    }
    request
}

/// What the engine said, or why it could not be asked: the engine's own
/// message for errors it answered, the whole chain of causes otherwise
/// (a refused connection says so only deep down).
pub(super) fn engine_error(error: &bollard::errors::Error) -> String {
    use bollard::errors::Error;
    match error {
        Error::DockerResponseServerError { message, .. } => message.clone(),
        Error::DockerStreamError { error } => error.clone(),
        Error::SocketNotFoundError(path) => format!("no socket at {path}"),
        Error::RequestTimeoutError => "the engine did not answer in time".to_owned(),
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.contains(&cause_text) {
                    text = format!("{text}: {cause_text}");
                }
                source = cause.source();
            }
            text
        }
    }
}

/// How this local cloud runs tasks, decided once at start.
#[derive(Debug, Clone)]
pub enum TaskRunner {
    /// Every task whose image is not `static:` runs as containers.
    Containers(Arc<ContainerEngine>),
    /// No engine answered: `static:` images and entryPoint/command run on
    /// the host.
    HostProcesses {
        docker_host: DockerHost,
        why_not_containers: String,
    },
}

impl TaskRunner {
    /// Asks the engine at `host`; falls back to host processes if it does
    /// not answer.
    pub async fn find(host: &DockerHost, owner: &str) -> TaskRunner {
        match ContainerEngine::connect(host, owner).await {
            Ok(engine) => TaskRunner::Containers(Arc::new(engine)),
            Err(why) => TaskRunner::HostProcesses {
                docker_host: host.clone(),
                why_not_containers: why,
            },
        }
    }

    pub fn engine(&self) -> Option<&Arc<ContainerEngine>> {
        match self {
            TaskRunner::Containers(engine) => Some(engine),
            TaskRunner::HostProcesses { .. } => None,
        }
    }

    pub fn runs_containers(&self) -> bool {
        self.engine().is_some()
    }
}

impl fmt::Display for TaskRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskRunner::Containers(engine) => write!(
                f,
                "tasks run as containers on {} {} (API {}) at {}",
                engine.product, engine.version, engine.api_version, engine.host
            ),
            TaskRunner::HostProcesses {
                docker_host,
                why_not_containers,
            } => write!(
                f,
                "no container engine at {docker_host} ({why_not_containers}); tasks run as host processes \
                 (static: images, or an entryPoint/command run on the host)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hosts_are_unix_sockets_or_loopback_tcp() {
        for ok in [
            "unix:///var/run/docker.sock",
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375",
        ] {
            assert_eq!(DockerHost::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(
            DockerHost::parse("tcp://127.0.0.1:2375/").unwrap().as_str(),
            "tcp://127.0.0.1:2375"
        );
        let refused = [
            ("unix://docker.sock", "absolute path"),
            ("tcp://127.0.0.1", "needs a port"),
            ("tcp://127.0.0.1:docker", "not a port number"),
            ("tcp://10.0.0.5:2375", "must run on this machine"),
            ("ssh://me@host", "not a container engine address"),
            ("/var/run/docker.sock", "not a container engine address"),
        ];
        for (value, why) in refused {
            let error = DockerHost::parse(value).unwrap_err();
            assert!(error.contains(why), "{value}: {error}");
        }
    }

    #[test]
    fn requests_lose_their_api_version_prefix() {
        let request = hyper::Request::get("http://127.0.0.1:2375/v1.53/version?x=1")
            .body(bollard::body_full(bytes::Bytes::new()))
            .unwrap();
        let request = without_api_version(request);
        assert_eq!(
            request.uri().to_string(),
            "http://127.0.0.1:2375/version?x=1"
        );
    }

    #[test]
    fn api_versions_parse() {
        let version = parse_api_version("1.41").unwrap();
        assert_eq!((version.major_version, version.minor_version), (1, 41));
        assert!(parse_api_version("one").is_none());
    }

    #[tokio::test]
    async fn a_missing_socket_means_host_processes_and_says_where_it_looked() {
        let host = DockerHost::parse("unix:///nonexistent.sock").unwrap();
        let runner = TaskRunner::find(&host, "test").await;
        assert!(!runner.runs_containers());
        assert_eq!(
            runner.to_string(),
            "no container engine at unix:///nonexistent.sock (no socket at /nonexistent.sock); \
             tasks run as host processes (static: images, or an entryPoint/command run on the host)"
        );
    }
}
