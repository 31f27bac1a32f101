//! The walkthrough's sample app on real containers: its Dockerfile,
//! buildspec.yml, taskdef.json and appspec.yaml as they are, from `git push`
//! through CodeBuild's `docker build` and `docker push` to the local ECR, to
//! a blue/green shift between nginx containers on the production listener;
//! and the image's FAIL_PERCENT switch, on containers of its own.

use crate::helpers::TestServer;
use crate::paths::{succeeds_and_serves, until_within};
use crate::repo::Repo;
use crate::support;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/app-sample");

/// A server whose local cloud runs tasks on the test engine, with the AWS
/// CLI on the PATH its builds see (the buildspec calls `aws ecr`).
pub struct ContainerServer {
    pub s: TestServer,
    pub docker_host: String,
    pub cloud_url: String,
    _dir: tempfile::TempDir,
}

impl Drop for ContainerServer {
    /// The server is killed, and its containers with it.
    fn drop(&mut self) {
        crate::test_engine::kill_and_reap(&mut self.s.child);
        // The embedded local cloud keeps its instance id in its own data dir.
        crate::test_engine::remove_containers_of(
            &self.docker_host,
            &self.s.data_dir.join("localcloud"),
        );
    }
}

impl ContainerServer {
    pub async fn start() -> ContainerServer {
        let docker_host = support::docker_host();
        let path = format!(
            "{}:{}",
            support::venv().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let dir = tempfile::tempdir().unwrap();
        let s = TestServer::start_with_env(
            &dir.path().join("data"),
            &["--time-scale", "60", "--docker-host", &docker_host],
            &[("PATH", &path)],
        )
        .await;
        let cloud_url = s.local_cloud_url();
        ContainerServer {
            s,
            docker_host,
            cloud_url,
            _dir: dir,
        }
    }

    /// `aws ecr ...` against the local cloud; the parsed JSON answer.
    pub fn ecr(&self, args: &[&str]) -> Value {
        let out = std::process::Command::new(support::venv().join("bin/aws"))
            .args(["--endpoint-url", &self.cloud_url, "--output", "json", "ecr"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws ecr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The containers running `image`, by the name tasks were given: tests
    /// running side by side build identical images under other names, which
    /// docker's `ancestor` filter would match too.
    pub fn containers_of(&self, image: &str) -> Vec<String> {
        let config = tempfile::tempdir().unwrap();
        support::docker(
            &self.docker_host,
            config.path(),
            &["ps", "--format", "{{.ID}} {{.Image}}"],
        )
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, name)| *name == image)
        .map(|(id, _)| id.to_owned())
        .collect()
    }
}

/// An environment following `repo`, shifting 10 % a minute (10 s at time
/// scale 60), provisioned; its production URL.
pub async fn shop(cs: &ContainerServer, repo: &Repo) -> String {
    let s = &cs.s;
    let created = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "shop", "platform": "local", "termination_wait_minutes": 0,
                   "deployment_config": "ECSLinear10PercentEvery1Minutes",
                   "source": {"repo": repo.bare.to_str().unwrap(), "branch": "main"},
                   "webhook_secret": crate::repo::SECRET, "approval_policy": {"required": 0}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    crate::deployments::provision(s, "shop").await["outputs"]["prod_url"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The pipeline run of `commit` once it has ended: it must have succeeded.
pub async fn finished_run(s: &TestServer, commit: &str) -> Value {
    let runs = until_within(
        s,
        "/api/environments/shop/pipeline/runs",
        Duration::from_secs(240),
        |runs| {
            runs["runs"].as_array().is_some_and(|runs| {
                runs.iter()
                    .any(|r| r["commit"]["sha"] == commit && r["status"] != "InProgress")
            })
        },
    )
    .await;
    let run = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["commit"]["sha"] == commit)
        .unwrap()
        .clone();
    assert_eq!(run["status"], "Succeeded", "{run}");
    run
}

/// Pushes the green page, as the walkthrough does: `cp index_green.html index.html`.
pub fn push_green(repo: &Repo) -> String {
    std::fs::copy(
        Path::new(SAMPLE).join("index_green.html"),
        repo.work.join("index.html"),
    )
    .unwrap();
    repo.commit_and_push("Green").0
}

/// What the production listener answered while it was watched.
#[derive(Default, Debug)]
pub struct Watched {
    pub answers: Vec<&'static str>,
    pub failures: Vec<String>,
}

/// Requests `url` back to back until `stop`, classifying every answer as
/// the blue or the green page.
pub fn watch(url: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Watched> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let mut watched = Watched::default();
        while !stop.load(Ordering::Relaxed) {
            match http.get(&url).send().await {
                Ok(r) if r.status() == StatusCode::OK => {
                    let page = r.text().await.unwrap_or_default();
                    watched.answers.push(if page.contains("<h1>green</h1>") {
                        "green"
                    } else if page.contains("<h1>blue</h1>") {
                        "blue"
                    } else {
                        "other"
                    });
                }
                Ok(r) => watched.failures.push(format!("status {}", r.status())),
                Err(e) => watched.failures.push(format!("{e:#}")),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        watched
    })
}

#[tokio::test]
async fn the_sample_app_builds_pushes_and_shifts_to_green_on_containers() {
    let cs = ContainerServer::start().await;
    let s = &cs.s;
    let said = std::fs::read_to_string(s.data_dir.with_extension("log")).unwrap();
    assert!(
        said.contains("tasks run as containers"),
        "the server says which runner it uses: {said}"
    );
    let repo = Repo::whole_sample(&s.url("/hooks/github"), "carol");
    let prod = shop(&cs, &repo).await;

    // The first release: the blue page, as the sample has it.
    std::fs::write(
        repo.work.join("README.md"),
        "The sample app, on switchyard.\n",
    )
    .unwrap();
    let blue = repo.commit_and_push("Blue").0;
    let run = finished_run(s, &blue).await;
    let blue_deployment = run["deployment_id"].as_i64().expect("the run deployed");
    until_within(
        s,
        &format!("/api/deployments/{blue_deployment}"),
        Duration::from_secs(90),
        |d| d["status"] == "Succeeded",
    )
    .await;

    // The image is in the local ECR, tagged by the commit as buildspec.yml does.
    let images = cs.ecr(&["describe-images", "--repository-name", "shop"]);
    let tags: Vec<&str> = images["imageDetails"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["imageTags"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    assert!(tags.contains(&&blue[..12]), "{images}");
    assert!(tags.contains(&"latest"), "{images}");
    let repository_uri = cs.ecr(&["describe-repositories", "--repository-names", "shop"])
        ["repositories"][0]["repositoryUri"]
        .as_str()
        .unwrap()
        .to_owned();
    let blue_image = format!("{repository_uri}:{}", &blue[..12]);
    assert_eq!(
        cs.containers_of(&blue_image).len(),
        2,
        "two blue containers run"
    );

    // The second release shifts production to green while it is watched.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(prod.clone(), stop.clone());
    let green = push_green(&repo);
    let run = finished_run(s, &green).await;
    let green_deployment = run["deployment_id"].as_i64().expect("the run deployed");
    let deployment = until_within(
        s,
        &format!("/api/deployments/{green_deployment}"),
        Duration::from_secs(120),
        |d| {
            matches!(
                d["status"].as_str(),
                Some("Succeeded" | "Failed" | "Stopped")
            )
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let watched = watcher.await.unwrap();
    assert_eq!(deployment["status"], "Succeeded", "{deployment}");
    assert!(
        watched.failures.is_empty(),
        "{} of {} requests failed during the shift: {:?}",
        watched.failures.len(),
        watched.answers.len() + watched.failures.len(),
        &watched.failures[..watched.failures.len().min(5)]
    );
    assert!(!watched.answers.contains(&"other"), "{watched:?}");
    let first_green = watched
        .answers
        .iter()
        .position(|a| *a == "green")
        .expect("green answered");
    assert!(
        watched.answers[first_green..].contains(&"blue"),
        "blue and green answered side by side during the shift"
    );
    assert!(
        watched.answers.iter().rev().take(10).all(|a| *a == "green"),
        "production ends on green"
    );
    let green_image = format!("{repository_uri}:{}", &green[..12]);
    assert_eq!(
        cs.containers_of(&green_image).len(),
        2,
        "two green containers run"
    );
    // Termination wait 0: the blue task set's containers are gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cs.containers_of(&blue_image).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the blue containers were never removed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_container_killed_mid_shift_is_replaced_and_the_shift_completes() {
    let cs = ContainerServer::start().await;
    let s = &cs.s;
    let repo = Repo::whole_sample(&s.url("/hooks/github"), "carol");
    let prod = shop(&cs, &repo).await;
    let green = push_green(&repo);
    let run = finished_run(s, &green).await;
    let deployment_id = run["deployment_id"].as_i64().expect("the run deployed");

    // Once traffic has started to move, kill one green container.
    let path = format!("/api/deployments/{deployment_id}");
    until_within(s, &path, Duration::from_secs(60), |d| {
        d["task_sets"]["green"]["traffic_weight"]
            .as_f64()
            .is_some_and(|w| w > 0.0)
    })
    .await;
    let repository_uri = cs.ecr(&["describe-repositories", "--repository-names", "shop"])
        ["repositories"][0]["repositoryUri"]
        .as_str()
        .unwrap()
        .to_owned();
    let green_image = format!("{repository_uri}:{}", &green[..12]);
    let before = cs.containers_of(&green_image);
    assert_eq!(before.len(), 2, "{before:?}");
    let config = tempfile::tempdir().unwrap();
    support::docker(&cs.docker_host, config.path(), &["kill", &before[0]]);

    // The task set gets a new container; the killed one stays gone.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = cs.containers_of(&green_image);
        if now.len() == 2 && !now.contains(&before[0]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed container was never replaced: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    succeeds_and_serves(s, deployment_id, &prod, "<h1>green</h1>").await;
}

/// The sample's image, built once per test run from examples/app-sample as
/// it is (the engine has its FROM image, offline); its image id.
fn sample_image(docker_host: &str) -> &'static str {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| {
        let config = tempfile::tempdir().unwrap();
        support::docker(docker_host, config.path(), &["build", "--quiet", SAMPLE])
            .trim()
            .to_owned()
    })
}

/// A container of the sample image, force-removed when dropped (a failed
/// assertion included).
struct SampleContainer {
    docker_host: String,
    config: tempfile::TempDir,
    id: String,
}

impl Drop for SampleContainer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "--force", "--volumes", &self.id])
            .env("DOCKER_HOST", &self.docker_host)
            .env("DOCKER_CONFIG", self.config.path())
            .output();
    }
}

impl SampleContainer {
    /// Starts the sample image with FAIL_PERCENT=`fail_percent`, its port
    /// 80 published on a free loopback port (the engine's containers sit on
    /// a bridge of their own; docker-proxy forwards from 127.0.0.1).
    fn start(fail_percent: &str) -> SampleContainer {
        let docker_host = support::docker_host();
        let image = sample_image(&docker_host);
        let config = tempfile::tempdir().unwrap();
        let name = format!("switchyard-sample-test-{:016x}", rand::random::<u64>());
        let id = support::docker(
            &docker_host,
            config.path(),
            &[
                "run",
                "--detach",
                "--name",
                &name,
                "--env",
                &format!("FAIL_PERCENT={fail_percent}"),
                "--publish",
                "127.0.0.1::80",
                image,
            ],
        )
        .trim()
        .to_owned();
        SampleContainer {
            docker_host,
            config,
            id,
        }
    }

    fn docker(&self, args: &[&str]) -> String {
        support::docker(&self.docker_host, self.config.path(), args)
    }

    /// The URL of its published port 80.
    fn url(&self) -> String {
        let published = self.docker(&["port", &self.id, "80/tcp"]);
        let address = published
            .lines()
            .find(|line| line.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("port 80 is not published on 127.0.0.1: {published}"));
        format!("http://{}/", address.trim())
    }

    /// Its exit code once it has stopped (within 30 s).
    async fn exit_code(&self) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = self.docker(&[
                "inspect",
                "--format",
                "{{.State.Status}} {{.State.ExitCode}}",
                &self.id,
            ]);
            if let Some(code) = state.trim().strip_prefix("exited ") {
                return code.parse().unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "the container still runs: {state}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What it wrote to stdout and stderr.
    fn log(&self) -> String {
        let out = std::process::Command::new("docker")
            .args(["logs", &self.id])
            .env("DOCKER_HOST", &self.docker_host)
            .env("DOCKER_CONFIG", self.config.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

/// The statuses of `count` GETs on `url` with `user_agent`, in order; waits
/// (up to 30 s) for nginx to answer first.
async fn statuses(url: &str, user_agent: &str, count: usize) -> Vec<(StatusCode, String)> {
    let http = reqwest::Client::builder()
        .user_agent(user_agent)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(url).send().await.is_err() {
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut answers = Vec::with_capacity(count);
    for _ in 0..count {
        let r = http.get(url).send().await.unwrap();
        let status = r.status();
        answers.push((status, r.text().await.unwrap()));
    }
    answers
}

#[tokio::test]
async fn fail_percent_fails_that_share_of_requests_but_never_the_health_checker() {
    let c = SampleContainer::start("30");
    let url = c.url();

    let answers = statuses(&url, "curl/8.5.0", 1000).await;
    let failed: Vec<&String> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::INTERNAL_SERVER_ERROR)
        .map(|(_, body)| body)
        .collect();
    let served = answers
        .iter()
        .filter(|(status, body)| *status == StatusCode::OK && body.contains("<h1>blue</h1>"))
        .count();
    assert_eq!(
        failed.len() + served,
        1000,
        "every answer is the page or the injected 500: {:?}",
        answers
            .iter()
            .find(|(status, _)| !matches!(status.as_u16(), 200 | 500))
    );
    // 30 % of 1000 draws: the standard deviation is about 14.5.
    assert!(
        (200..=400).contains(&failed.len()),
        "{} of 1000 requests failed with FAIL_PERCENT=30",
        failed.len()
    );
    assert!(
        failed
            .iter()
            .all(|body| body.contains("injected failure") && body.contains("30%")),
        "{:?}",
        failed.first()
    );

    let checks = statuses(&url, "ELB-HealthChecker/2.0", 300).await;
    assert!(
        checks.iter().all(|(status, _)| *status == StatusCode::OK),
        "the health checker got {:?}",
        checks.iter().find(|(status, _)| *status != StatusCode::OK)
    );
    assert!(
        c.log().contains("FAIL_PERCENT=30"),
        "it says so at start: {}",
        c.log()
    );
}

#[tokio::test]
async fn an_invalid_fail_percent_stops_the_container_saying_why() {
    for value in ["abc", "101"] {
        let c = SampleContainer::start(value);
        let code = c.exit_code().await;
        let log = c.log();
        assert_ne!(code, 0, "FAIL_PERCENT={value}: {log}");
        assert!(
            log.contains(&format!(
                "FAIL_PERCENT must be a whole number from 0 to 100 (the share of requests answered \
                 with HTTP 500), not '{value}'"
            )),
            "FAIL_PERCENT={value}: {log}"
        );
    }
}
