//! Spawns the real `switchyard` binary on a random port with its own data
//! dir, and talks to it over HTTP like any client would.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// `base` with the fields of `extra` set over it (both JSON objects): a
/// request body's defaults and a test's own parts.
pub fn with_fields(mut base: Value, extra: &Value) -> Value {
    for (k, v) in extra.as_object().expect("an object of fields") {
        base[k] = v.clone();
    }
    base
}

/// The static root of a server on `data_dir`: a sibling folder.
/// A Docker host no engine listens on.
pub const NO_CONTAINER_ENGINE: &str = "unix:///nonexistent/switchyard-tests/docker.sock";

fn sites_dir(data_dir: &Path) -> PathBuf {
    data_dir.parent().unwrap().join("sites")
}

/// A standalone `switchyard localcloud` at `time_scale` with its state in
/// `data_dir` (tasks as host processes): the process and its URL.
pub async fn standalone_local_cloud(data_dir: &Path, time_scale: &str) -> (Child, String) {
    let mut cloud = Command::new(BIN)
        .args([
            "localcloud",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            time_scale,
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env("DOCKER_HOST", NO_CONTAINER_ENGINE)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the switchyard binary starts");
    let mut lines = BufReader::new(cloud.stdout.take().unwrap()).lines();
    let url = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .expect("the local cloud announces its address in time")
            .unwrap()
            .expect("the local cloud keeps running");
        if let Some((_, url)) = line.split_once("listening on ") {
            break url.trim().to_owned();
        }
    };
    // Keep draining stdout so the local cloud never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (cloud, url)
}

pub struct TestServer {
    pub child: Child,
    pub base: String,
    pub admin_token: String,
    /// Everything the server printed on stdout up to "listening".
    pub stdout: String,
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    http: reqwest::Client,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `error.field` of an error answer.
    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestServer {
    pub async fn spawn() -> TestServer {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let data_dir = dir.path().join("data");
        let mut server = Self::start(&data_dir, extra).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server on an existing (or new) data dir.
    pub async fn start(data_dir: &Path, extra: &[&str]) -> TestServer {
        Self::start_with_env(data_dir, extra, &[]).await
    }

    /// Like `start`, with variables added to the server's environment (e.g.
    /// credentials for an AWS emulator).
    pub async fn start_with_env(
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> TestServer {
        Self::start_binary(Path::new(BIN), None, data_dir, extra, env).await
    }

    /// Like `start_with_env`, running the server from the executable
    /// `binary`; in the working directory `cwd` if given, with the data dir
    /// and static root named relative to it.
    pub async fn start_binary(
        binary: &Path,
        cwd: Option<&Path>,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> TestServer {
        let as_given = |path: &Path| match cwd {
            Some(cwd) => path.strip_prefix(cwd).expect("below cwd").to_path_buf(),
            None => path.to_path_buf(),
        };
        std::fs::create_dir_all(data_dir.parent().unwrap()).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.with_extension("log"))
            .unwrap();
        let mut command = Command::new(binary);
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(as_given(data_dir))
            .arg("--static-root")
            .arg(as_given(&sites_dir(data_dir)))
            .args(extra)
            // Host-process tasks unless a test names an engine with
            // --docker-host: the machine's own engine, if any, stays out.
            .env("DOCKER_HOST", NO_CONTAINER_ENGINE)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("the switchyard binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stdout = String::new();
        let base = loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
                .await
                .expect("the server announces its address in time")
                .unwrap()
                .expect("the server keeps running");
            stdout.push_str(&line);
            stdout.push('\n');
            if let Some((_, address)) = line.split_once("listening on ") {
                break address.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let admin_token = std::fs::read_to_string(data_dir.join("admin-token"))
            .expect("the admin token file exists")
            .trim()
            .to_owned();
        TestServer {
            child,
            base,
            admin_token,
            stdout,
            data_dir: data_dir.to_path_buf(),
            _dir: None,
            http: reqwest::Client::new(),
        }
    }

    /// The embedded local cloud's URL, as the server announced it.
    pub fn local_cloud_url(&self) -> String {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix("local cloud at "))
            .expect("the server names its local cloud")
            .trim()
            .to_owned()
    }

    /// Where this server's `static:` sites may live (its `--static-root`).
    pub fn sites_dir(&self) -> PathBuf {
        sites_dir(&self.data_dir)
    }

    /// Writes the one-page site `<h1>{version}</h1>` below `sites_dir`; its image.
    pub fn write_site(&self, version: &str) -> String {
        let dir = self.sites_dir().join(version);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), format!("<h1>{version}</h1>")).unwrap();
        format!("static:{}", dir.display())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::answer(request.send().await.expect("the server answers")).await
    }

    pub async fn raw(&self, request: reqwest::RequestBuilder) -> Answer {
        Self::answer(request.send().await.expect("the server answers")).await
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// The kinds of an environment's audit events, newest first (as admin).
    pub async fn event_kinds(&self, environment: &str) -> Vec<String> {
        let events = self
            .get(
                &format!("/api/environments/{environment}/events?limit=200"),
                &self.admin_token,
            )
            .await
            .body;
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// As admin: creates a user with `role` and returns their token.
    pub async fn user(&self, name: &str, role: &str) -> String {
        let answer = self
            .post(
                "/api/users",
                &self.admin_token,
                json!({"name": name, "role": role}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["token"].as_str().unwrap().to_owned()
    }

    /// As admin: creates a local environment.
    pub async fn environment(&self, name: &str) -> Value {
        let answer = self
            .post(
                "/api/environments",
                &self.admin_token,
                json!({"name": name, "platform": "local"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body
    }

    /// As admin: records a release.
    pub async fn release(&self, environment: &str, version: &str) -> Value {
        let answer = self
            .post(
                &format!("/api/environments/{environment}/releases"),
                &self.admin_token,
                json!({"version": version, "image": format!("nginx:{version}")}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body
    }

    /// How many audit events an environment has.
    pub async fn event_count(&self, environment: &str) -> usize {
        let answer = self
            .get(
                &format!("/api/environments/{environment}/events?limit=200"),
                &self.admin_token,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        answer.body["events"].as_array().unwrap().len()
    }

    /// Sends SIGTERM and returns the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("still running") as i32;
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait())
            .await
            .expect("the server exits after SIGTERM")
            .unwrap()
    }
}
