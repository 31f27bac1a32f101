//! What tests/awscli, tests/differential, tests/infra and tests/aws share
//! (the others include this file with `#[path]`): the Python virtualenv with
//! the AWS CLI and moto, moto on a loopback port, and the real binary's
//! standalone local cloud.

// Each test target uses a part of this module.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// The virtualenv that `scripts/setup-test-deps` makes: `SWITCHYARD_TEST_VENV`
/// (exported by `scripts/test`), else `.venv-test/` in the repository.
/// Missing tools fail the test: these suites never skip.
pub fn venv() -> PathBuf {
    let dir = venv_dir();
    for tool in ["aws", "moto_server"] {
        let path = dir.join("bin").join(tool);
        assert!(
            path.is_file(),
            "{} is missing: run scripts/setup-test-deps, which creates the virtualenv {} with the AWS CLI and moto \
             (scripts/test runs it and exports SWITCHYARD_TEST_VENV)",
            path.display(),
            dir.display()
        );
    }
    dir
}

fn venv_dir() -> PathBuf {
    match std::env::var_os("SWITCHYARD_TEST_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test"),
    }
}

/// The Docker engine the container tests use: `SWITCHYARD_TEST_DOCKER_HOST`
/// (exported by `scripts/test`), else the one `scripts/setup-docker-engine`
/// recorded in `.venv-test/docker-host`. No engine fails the test.
pub fn docker_host() -> String {
    let recorded = || {
        std::fs::read_to_string(venv_dir().join("docker-host"))
            .ok()
            .map(|host| host.trim().to_owned())
    };
    let host = std::env::var("SWITCHYARD_TEST_DOCKER_HOST")
        .ok()
        .filter(|host| !host.is_empty())
        .or_else(recorded)
        .expect(
            "no Docker engine for the container tests: run scripts/setup-test-deps, which starts one \
             (scripts/test runs it and exports SWITCHYARD_TEST_DOCKER_HOST)",
        );
    let answers = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .env("DOCKER_HOST", &host)
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        answers,
        "no Docker engine answers at {host}: run scripts/setup-docker-engine"
    );
    host
}

/// `docker ARGS` on the test engine, with its own client config dir, so no
/// login reaches ~/.docker; panics unless it succeeds, returns stdout.
pub fn docker(host: &str, config: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", config)
        .output()
        .expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The standalone local cloud, killed when dropped.
pub struct LocalCloud {
    pub child: Child,
    pub endpoint: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    time_scale: String,
    /// The Docker engine tasks run on; none: host processes.
    docker_host: Option<String>,
}

#[path = "../localcloud/shutdown.rs"]
mod shutdown;

impl Drop for LocalCloud {
    /// Shuts the local cloud down as SIGTERM does, so task containers go too.
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            shutdown::stop_gracefully(pid);
        }
    }
}

/// Runs `switchyard localcloud` on `data_dir`; the child and its endpoint.
async fn launch(
    data_dir: &Path,
    listen: &str,
    time_scale: &str,
    docker_host: Option<&str>,
) -> (Child, String) {
    let mut command = Command::new(BIN);
    command
        .args([
            "localcloud",
            "--listen",
            listen,
            "--time-scale",
            time_scale,
            "--data-dir",
        ])
        .arg(data_dir);
    if let Some(host) = docker_host {
        command.args(["--docker-host", host]);
    }
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the local cloud prints its address within 20 s")
            .unwrap()
            .expect("the local cloud starts");
        if let Some((_, url)) = line.split_once("listening on ") {
            break url.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, endpoint)
}

impl LocalCloud {
    /// Starts `switchyard localcloud` on a free loopback port; `time_scale`
    /// minutes of a deployment config pass in one second.
    pub async fn start(time_scale: &str) -> LocalCloud {
        Self::start_with(time_scale, None).await
    }

    /// Like `start`, with tasks as containers on the Docker engine at `host`.
    pub async fn start_on_engine(time_scale: &str, host: &str) -> LocalCloud {
        Self::start_with(time_scale, Some(host)).await
    }

    async fn start_with(time_scale: &str, docker_host: Option<&str>) -> LocalCloud {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("cloud");
        let (child, endpoint) = launch(&data_dir, "127.0.0.1:0", time_scale, docker_host).await;
        LocalCloud {
            child,
            endpoint,
            http: reqwest::Client::new(),
            dir,
            time_scale: time_scale.to_owned(),
            docker_host: docker_host.map(str::to_owned),
        }
    }

    /// kill -9, then start again on the same data dir and port.
    pub async fn restart(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        let listen = self.endpoint.trim_start_matches("http://").to_owned();
        let (child, endpoint) = launch(
            &self.dir.path().join("cloud"),
            &listen,
            &self.time_scale,
            self.docker_host.as_deref(),
        )
        .await;
        assert_eq!(
            endpoint, self.endpoint,
            "the restarted local cloud keeps its port"
        );
        self.child = child;
    }

    /// A load balancer with production and test listeners and the target
    /// groups `blue` and `green` (the local cloud's internal API).
    pub async fn load_balancer(&self, name: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/_localcloud/load-balancers", self.endpoint))
            .json(&json!({"name": name, "target_groups": [{"name": "blue"}, {"name": "green"}]}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body
    }

    /// A directory with an index.html that shows `<h1>{colour}</h1>`, for a
    /// `static:<dir>` image.
    pub fn site(&self, colour: &str) -> PathBuf {
        let dir = self.dir.path().join(format!("{colour}-site"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), format!("<h1>{colour}</h1>")).unwrap();
        dir
    }

    /// Waits until `url` serves the site of `colour`.
    pub async fn wait_serving(&self, url: &str, colour: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.http.get(url).send().await
                && r.status().is_success()
                && r.text()
                    .await
                    .unwrap_or_default()
                    .contains(&format!("<h1>{colour}</h1>"))
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{url} never served {colour}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// moto_server on a free loopback port, killed when dropped.
pub struct Moto {
    _child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts moto with `env` added to its environment (moto's own
    /// settings) and waits until it answers.
    pub async fn start_with(env: &[(&str, &str)]) -> Moto {
        let moto_server = venv().join("bin").join("moto_server");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(&moto_server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", moto_server.display()));
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http
                .get(format!("{endpoint}/moto-api/data.json"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("moto_server exited with {status} before answering on {endpoint}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {endpoint} within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Moto {
            _child: child,
            endpoint,
        }
    }
}

/// An ECS AppSpec that deploys `task_definition` behind container web:80.
pub fn appspec(task_definition: &str) -> String {
    json!({
        "version": 0.0,
        "Resources": [{"TargetService": {
            "Type": "AWS::ECS::Service",
            "Properties": {"TaskDefinition": task_definition, "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80}},
        }}],
    })
    .to_string()
}

/// Walks each answer through its operation's output shape in botocore's
/// models (the venv's copy): members the model does not have, JSON types that
/// do not fit the shape, and values outside an enum.
const MODEL_CHECK: &str = r#"
import json, sys, botocore.session

session = botocore.session.get_session()
models = {}
problems = []

def fits(type_name, value):
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return {
        "structure": isinstance(value, dict), "map": isinstance(value, dict), "list": isinstance(value, list),
        "string": isinstance(value, str), "blob": isinstance(value, str), "boolean": isinstance(value, bool),
        "integer": number and float(value).is_integer(), "long": number and float(value).is_integer(),
        "double": number, "float": number, "timestamp": number,
    }.get(type_name, False)

def walk(where, shape, value, path):
    if not fits(shape.type_name, value):
        problems.append(f"{where}: {path} is {json.dumps(value)[:60]}, the model says {shape.type_name} ({shape.name})")
    elif shape.type_name == "structure":
        for key, child in value.items():
            member = shape.members.get(key)
            if member is None:
                problems.append(f"{where}: {path}.{key} is not in the model's {shape.name}".replace(": .", ": "))
            else:
                walk(where, member, child, f"{path}.{key}".lstrip("."))
    elif shape.type_name == "list":
        for item in value:
            walk(where, shape.member, item, path + "[]")
    elif shape.type_name == "map":
        for item in value.values():
            walk(where, shape.value, item, path + "{}")
    elif shape.type_name == "string" and shape.enum and value not in shape.enum:
        problems.append(f"{where}: {path} is {value!r}, not one of {shape.name} {shape.enum}")

for service, operation, answer in json.load(sys.stdin):
    if service not in models:
        models[service] = session.get_service_model(service)
    shape = models[service].operation_model(operation).output_shape
    if shape is None:
        if answer:
            problems.append(f"{operation}: the model has no output, the answer is {json.dumps(answer)[:60]}")
        continue
    walk(operation, shape, answer, "")
print(json.dumps(problems))
"#;

/// Problems botocore's models find in the answers, each
/// `(service, operation, answer)`: none when every answer fits.
pub async fn model_problems(answers: &[(&str, &str, &Value)]) -> Vec<String> {
    let input: Vec<Value> = answers
        .iter()
        .map(|(service, operation, answer)| json!([service, operation, answer]))
        .collect();
    let mut child = Command::new(venv().join("bin").join("python"))
        .args(["-c", MODEL_CHECK])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, json!(input).to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "the model check failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
