//! From an ECS task definition's containerDefinitions to the engine's
//! create requests: pure mapping, no I/O.
//!
//! A task's containers share one network namespace, as on awsvpc: the
//! load balancer's container is created first, owns the namespace and
//! publishes its containerPort on the task's loopback port; the others join
//! it (network mode `container:<first>`), so they reach each other on
//! localhost. Other portMappings are reachable only inside the task.
//!
//! Not mapped: cpu and memory limits (a local machine is shared on purpose,
//! and a limit that fits Fargate may not fit a laptop), dependsOn (the
//! containers start in order: the namespace's owner first, then the others
//! as defined), secrets, volumes and logConfiguration (the output goes to the
//! task's log file).

use super::STOP_GRACE;
use super::container_engine::{LABEL_CONTAINER, LABEL_OWNER, LABEL_TASK_ID, LABEL_TASK_SET};
use bollard::models::{ContainerCreateBody, HealthConfig, HostConfig, PortBinding};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A task's containers as the task definition gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerTaskSpec {
    /// In start order: the one that owns the network namespace (the load
    /// balancer's container) first, then the others as defined.
    pub containers: Vec<ContainerSpec>,
    /// The load balancer's containerPort, published on 127.0.0.1:<task port>.
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// None keeps the image's ENTRYPOINT / CMD.
    pub entry_point: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub environment: Vec<(String, String)>,
    pub working_directory: Option<String>,
    pub essential: bool,
    pub health_check: Option<ContainerHealthCheck>,
    /// Between the stop signal and SIGKILL.
    pub stop_timeout: Duration,
    /// An init process as PID 1 that forwards signals and reaps zombies.
    pub init: bool,
    pub docker_labels: BTreeMap<String, String>,
}

/// ECS's container healthCheck; the same command convention as Docker's
/// (`["CMD-SHELL", "..."]` or `["CMD", "arg", ...]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerHealthCheck {
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

/// The defaults ECS applies to a healthCheck that leaves a field out.
const HEALTH_INTERVAL_SECS: u64 = 30;
const HEALTH_TIMEOUT_SECS: u64 = 5;
const HEALTH_RETRIES: u32 = 3;

/// The strings of `definition[key]`, if it is an array (non-strings are skipped).
pub(crate) fn strings(definition: &Value, key: &str) -> Option<Vec<String>> {
    definition[key].as_array().map(|items| {
        items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

/// A container definition's `environment` as (name, value) pairs.
pub(crate) fn environment(definition: &Value) -> Vec<(String, String)> {
    definition["environment"]
        .as_array()
        .map(|vars| {
            vars.iter()
                .filter_map(|v| {
                    Some((
                        v["name"].as_str()?.to_owned(),
                        v["value"].as_str().unwrap_or_default().to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl ContainerTaskSpec {
    /// Reads the task definition's containers; `load_balancer_container` is
    /// the one whose `container_port` takes the target group's traffic (the
    /// first container when no container has that name).
    pub fn from_definitions(
        definitions: &[Value],
        load_balancer_container: &str,
        container_port: i64,
    ) -> Result<ContainerTaskSpec, String> {
        let container_port = u16::try_from(container_port)
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| {
                format!("the load balancer's containerPort {container_port} is not a port number")
            })?;
        let mut containers = definitions
            .iter()
            .map(ContainerSpec::from_definition)
            .collect::<Result<Vec<_>, _>>()?;
        if containers.is_empty() {
            return Err("the task definition has no containers".to_owned());
        }
        for (index, container) in containers.iter().enumerate() {
            if containers[..index].iter().any(|c| c.name == container.name) {
                return Err(format!(
                    "two containers are named {:?}; container names must be unique in a task definition",
                    container.name
                ));
            }
        }
        if !containers.iter().any(|c| c.essential) {
            return Err("the task definition needs at least one essential container".to_owned());
        }
        if let Some(owner) = containers
            .iter()
            .position(|c| c.name == load_balancer_container)
        {
            let owner = containers.remove(owner);
            containers.insert(0, owner);
        }
        Ok(ContainerTaskSpec {
            containers,
            container_port,
        })
    }

    /// The create request of each container, in start order, for task
    /// `task_id` of task set `task_set`, whose traffic arrives on
    /// 127.0.0.1:`host_port`. `owner` is the local cloud's label value.
    pub(super) fn create_bodies(
        &self,
        owner: &str,
        task_set: &str,
        task_id: &str,
        host_port: u16,
    ) -> Vec<(String, ContainerCreateBody)> {
        let namespace_owner = container_name(task_id, &self.containers[0].name);
        self.containers
            .iter()
            .enumerate()
            .map(|(index, container)| {
                let mut labels: HashMap<String, String> = container
                    .docker_labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                // Set last: the cleanup of leftovers relies on them.
                labels.insert(LABEL_OWNER.to_owned(), owner.to_owned());
                labels.insert(LABEL_TASK_ID.to_owned(), task_id.to_owned());
                labels.insert(LABEL_TASK_SET.to_owned(), task_set.to_owned());
                labels.insert(LABEL_CONTAINER.to_owned(), container.name.clone());
                let mut host_config = HostConfig {
                    init: Some(container.init),
                    ..Default::default()
                };
                let mut exposed_ports = None;
                if index == 0 {
                    let port = format!("{}/tcp", self.container_port);
                    host_config.port_bindings = Some(HashMap::from([(
                        port.clone(),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".to_owned()),
                            host_port: Some(host_port.to_string()),
                        }]),
                    )]));
                    exposed_ports = Some(vec![port]);
                } else {
                    host_config.network_mode = Some(format!("container:{namespace_owner}"));
                }
                let body = ContainerCreateBody {
                    image: Some(container.image.clone()),
                    entrypoint: container.entry_point.clone(),
                    cmd: container.command.clone(),
                    env: Some(
                        container
                            .environment
                            .iter()
                            .map(|(name, value)| format!("{name}={value}"))
                            .collect(),
                    ),
                    working_dir: container.working_directory.clone(),
                    labels: Some(labels),
                    healthcheck: container.health_check.as_ref().map(health_config),
                    stop_timeout: Some(whole_seconds(container.stop_timeout)),
                    exposed_ports,
                    host_config: Some(host_config),
                    ..Default::default()
                };
                (container_name(task_id, &container.name), body)
            })
            .collect()
    }
}

/// The engine's name for a task's container.
pub(super) fn container_name(task_id: &str, container: &str) -> String {
    format!("switchyard-{task_id}-{container}")
}

/// Seconds for the engine's stop timeouts, rounded up so that a grace of
/// half a second is not none.
pub(super) fn whole_seconds(duration: Duration) -> i64 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

fn health_config(check: &ContainerHealthCheck) -> HealthConfig {
    HealthConfig {
        test: Some(check.command.clone()),
        interval: Some(nanos(check.interval)),
        timeout: Some(nanos(check.timeout)),
        retries: Some(i64::from(check.retries)),
        start_period: Some(nanos(check.start_period)),
        ..Default::default()
    }
}

impl ContainerSpec {
    fn from_definition(definition: &Value) -> Result<ContainerSpec, String> {
        let name = definition["name"]
            .as_str()
            .filter(|name| !name.is_empty())
            .ok_or("every container definition needs a name")?
            .to_owned();
        let valid_name = name.len() <= 255
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(format!(
                "container name {name:?}: up to 255 letters, digits, hyphens and underscores"
            ));
        }
        let image = definition["image"]
            .as_str()
            .filter(|image| !image.is_empty())
            .ok_or_else(|| format!("container {name} needs an image"))?
            .to_owned();
        if image.starts_with("static:") {
            return Err(format!(
                "container {name}: a static: image is served by the local cloud itself, and cannot \
                 run next to other containers in one task"
            ));
        }
        let seconds = |value: &Value, what: &str| -> Result<Option<Duration>, String> {
            match value {
                Value::Null => Ok(None),
                value => value
                    .as_f64()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Some(Duration::from_secs_f64(s)))
                    .ok_or_else(|| {
                        format!("container {name}: {what} must be a number of seconds, not {value}")
                    }),
            }
        };
        let health_check = match &definition["healthCheck"] {
            Value::Null => None,
            check => {
                let command = strings(check, "command")
                    .filter(|command| !command.is_empty())
                    .ok_or_else(|| format!("container {name}: healthCheck needs a command"))?;
                let retries = match &check["retries"] {
                    Value::Null => HEALTH_RETRIES,
                    value => value
                        .as_u64()
                        .and_then(|r| u32::try_from(r).ok())
                        .ok_or_else(|| {
                            format!("container {name}: healthCheck.retries must be a whole number")
                        })?,
                };
                Some(ContainerHealthCheck {
                    command,
                    interval: seconds(&check["interval"], "healthCheck.interval")?
                        .unwrap_or(Duration::from_secs(HEALTH_INTERVAL_SECS)),
                    timeout: seconds(&check["timeout"], "healthCheck.timeout")?
                        .unwrap_or(Duration::from_secs(HEALTH_TIMEOUT_SECS)),
                    retries,
                    start_period: seconds(&check["startPeriod"], "healthCheck.startPeriod")?
                        .unwrap_or_default(),
                })
            }
        };
        let docker_labels = match &definition["dockerLabels"] {
            Value::Null => BTreeMap::new(),
            Value::Object(labels) => labels
                .iter()
                .map(|(key, value)| match value.as_str() {
                    Some(value) => Ok((key.clone(), value.to_owned())),
                    None => Err(format!(
                        "container {name}: dockerLabels.{key} must be a string"
                    )),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(format!("container {name}: dockerLabels must be an object")),
        };
        let non_empty = |values: Option<Vec<String>>| values.filter(|v| !v.is_empty());
        Ok(ContainerSpec {
            entry_point: non_empty(strings(definition, "entryPoint")),
            command: non_empty(strings(definition, "command")),
            environment: environment(definition),
            working_directory: definition["workingDirectory"].as_str().map(str::to_owned),
            // ECS: a container is essential unless it says otherwise.
            essential: definition["essential"].as_bool().unwrap_or(true),
            health_check,
            stop_timeout: seconds(&definition["stopTimeout"], "stopTimeout")?.unwrap_or(STOP_GRACE),
            // On by default here, unlike ECS: images whose PID 1 is a shell
            // (sh -c "...") ignore SIGTERM, and each stop would then wait
            // out the whole stop timeout for SIGKILL.
            init: definition["linuxParameters"]["initProcessEnabled"]
                .as_bool()
                .unwrap_or(true),
            docker_labels,
            name,
            image,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TASK: &str = "0123456789abcdef0123456789abcdef";

    fn spec(definitions: Value) -> Result<ContainerTaskSpec, String> {
        ContainerTaskSpec::from_definitions(definitions.as_array().unwrap(), "web", 8080)
    }

    #[test]
    fn a_full_container_definition_maps_to_its_create_request() {
        let task = spec(json!([{
            "name": "web",
            "image": "switchyard-test/busybox:latest",
            "entryPoint": ["sh", "-c"],
            "command": ["httpd -f -p 8080 -h /www"],
            "environment": [{"name": "GREETING", "value": "hello"}, {"name": "EMPTY"}],
            "workingDirectory": "/www",
            "portMappings": [{"containerPort": 8080}],
            "healthCheck": {"command": ["CMD-SHELL", "wget -q -O - http://127.0.0.1:8080/"],
                            "interval": 5, "timeout": 2, "retries": 4, "startPeriod": 10},
            "stopTimeout": 7,
            "linuxParameters": {"initProcessEnabled": false},
            "dockerLabels": {"team": "shop", "switchyard.task-id": "forged"},
            "cpu": 256,
            "memory": 512
        }]))
        .unwrap();
        let bodies = task.create_bodies("cloud-1", "ecs-svc/1", TASK, 41000);
        assert_eq!(bodies.len(), 1);
        let (name, body) = &bodies[0];
        assert_eq!(name, &format!("switchyard-{TASK}-web"));
        assert_eq!(
            body.image.as_deref(),
            Some("switchyard-test/busybox:latest")
        );
        assert_eq!(
            body.entrypoint,
            Some(vec!["sh".to_owned(), "-c".to_owned()])
        );
        assert_eq!(body.cmd, Some(vec!["httpd -f -p 8080 -h /www".to_owned()]));
        assert_eq!(
            body.env,
            Some(vec!["GREETING=hello".to_owned(), "EMPTY=".to_owned()])
        );
        assert_eq!(body.working_dir.as_deref(), Some("/www"));
        assert_eq!(body.stop_timeout, Some(7));
        assert_eq!(body.exposed_ports, Some(vec!["8080/tcp".to_owned()]));
        let health = body.healthcheck.as_ref().unwrap();
        assert_eq!(
            health.test,
            Some(vec![
                "CMD-SHELL".to_owned(),
                "wget -q -O - http://127.0.0.1:8080/".to_owned()
            ])
        );
        let second = 1_000_000_000;
        assert_eq!(
            (
                health.interval,
                health.timeout,
                health.retries,
                health.start_period
            ),
            (
                Some(5 * second),
                Some(2 * second),
                Some(4),
                Some(10 * second)
            )
        );
        let labels = body.labels.as_ref().unwrap();
        assert_eq!(labels["team"], "shop");
        assert_eq!(labels["switchyard.localcloud"], "cloud-1");
        assert_eq!(
            labels["switchyard.task-id"], TASK,
            "ours win over the definition's"
        );
        assert_eq!(labels["switchyard.task-set"], "ecs-svc/1");
        assert_eq!(labels["switchyard.container"], "web");
        let host = body.host_config.as_ref().unwrap();
        assert_eq!(host.init, Some(false));
        assert_eq!(host.network_mode, None);
        assert_eq!(
            host.port_bindings.as_ref().unwrap()["8080/tcp"],
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".to_owned()),
                host_port: Some("41000".to_owned()),
            }])
        );
        assert_eq!(host.memory, None, "resource limits are not applied locally");
    }

    #[test]
    fn defaults_keep_the_image_command_and_run_an_init() {
        let task = spec(
            json!([{"name": "web", "image": "nginx", "healthCheck": {"command": ["CMD", "true"]}}]),
        )
        .unwrap();
        let container = &task.containers[0];
        assert!(container.essential);
        assert!(container.init);
        assert_eq!(container.stop_timeout, STOP_GRACE);
        let (_, body) = &task.create_bodies("o", "ts", TASK, 1)[0];
        assert_eq!((&body.entrypoint, &body.cmd), (&None, &None));
        assert_eq!(body.host_config.as_ref().unwrap().init, Some(true));
        let health = body.healthcheck.as_ref().unwrap();
        assert_eq!(
            (
                health.interval,
                health.timeout,
                health.retries,
                health.start_period
            ),
            (Some(30_000_000_000), Some(5_000_000_000), Some(3), Some(0))
        );
        assert_eq!(body.stop_timeout, Some(2));
    }

    #[test]
    fn sidecars_join_the_load_balancer_containers_network() {
        let task = spec(json!([
            {"name": "log-router", "image": "busybox", "essential": false},
            {"name": "web", "image": "nginx"},
            {"name": "metrics", "image": "busybox", "essential": false}
        ]))
        .unwrap();
        let names: Vec<&str> = task.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["web", "log-router", "metrics"]);
        let bodies = task.create_bodies("o", "ts", TASK, 41000);
        let owner = format!("switchyard-{TASK}-web");
        assert_eq!(bodies[0].0, owner);
        for (name, body) in &bodies[1..] {
            let host = body.host_config.as_ref().unwrap();
            assert_eq!(
                host.network_mode,
                Some(format!("container:{owner}")),
                "{name}"
            );
            assert_eq!(host.port_bindings, None, "{name}");
            assert_eq!(body.exposed_ports, None, "{name}");
        }
    }

    #[test]
    fn a_load_balancer_container_that_is_not_there_means_the_first() {
        let task = ContainerTaskSpec::from_definitions(
            json!([{"name": "api", "image": "a"}, {"name": "worker", "image": "b"}])
                .as_array()
                .unwrap(),
            "web",
            80,
        )
        .unwrap();
        assert_eq!(task.containers[0].name, "api");
        assert_eq!(task.container_port, 80);
    }

    #[test]
    fn definitions_that_cannot_run_say_why() {
        let cases = [
            (json!([]), "no containers"),
            (json!([{"image": "nginx"}]), "needs a name"),
            (json!([{"name": "web"}]), "container web needs an image"),
            (
                json!([{"name": "web app", "image": "nginx"}]),
                "letters, digits",
            ),
            (
                json!([{"name": "web", "image": "nginx"}, {"name": "web", "image": "nginx"}]),
                "two containers are named \"web\"",
            ),
            (
                json!([{"name": "web", "image": "nginx", "essential": false}]),
                "at least one essential container",
            ),
            (
                json!([{"name": "web", "image": "static:/srv/site"}]),
                "static: image",
            ),
            (
                json!([{"name": "web", "image": "nginx", "healthCheck": {"interval": 5}}]),
                "healthCheck needs a command",
            ),
            (
                json!([{"name": "web", "image": "nginx", "stopTimeout": "soon"}]),
                "stopTimeout must be a number of seconds",
            ),
            (
                json!([{"name": "web", "image": "nginx", "dockerLabels": {"n": 1}}]),
                "dockerLabels.n must be a string",
            ),
        ];
        for (definitions, why) in cases {
            let error = spec(definitions.clone()).unwrap_err();
            assert!(error.contains(why), "{definitions}: {error}");
        }
        let error = ContainerTaskSpec::from_definitions(
            json!([{"name": "web", "image": "nginx"}])
                .as_array()
                .unwrap(),
            "web",
            70000,
        )
        .unwrap_err();
        assert!(error.contains("70000 is not a port number"), "{error}");
    }

    #[test]
    fn stop_timeouts_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(500)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }
}
