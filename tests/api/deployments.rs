use crate::helpers::{Answer, TestServer};
use crate::paths::until_within;
use crate::sampler::Sampler;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Provisions a local environment's stack and waits until it is ready.
pub(crate) async fn provision(s: &TestServer, name: &str) -> Value {
    s.post(
        &format!("/api/environments/{name}/stack"),
        &s.admin_token,
        json!({}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stack = s
            .get(&format!("/api/environments/{name}/stack"), &s.admin_token)
            .await
            .body;
        if stack["status"] == "ready" {
            return stack;
        }
        assert!(
            Instant::now() < deadline && stack["status"] == "provisioning",
            "{stack}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (30 s at most) until 20 answers in a row of `url` contain `marker`,
/// asserting every answer is a 200: the shift finished in the cloud.
pub(crate) async fn until_only_served(url: &str, marker: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = http.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        if response.text().await.unwrap().contains(marker) {
            let mut all = true;
            for _ in 0..20 {
                let response = http.get(url).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                all &= response.text().await.unwrap().contains(marker);
            }
            if all {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the shift never finished in the cloud"
        );
    }
}

pub(crate) struct Env {
    pub(crate) s: TestServer,
    pub(crate) prod_url: String,
}

impl Env {
    /// A server at time scale 60 with a provisioned local environment.
    pub(crate) async fn new(name: &str, extra: Value) -> Env {
        Self::new_with_args(name, extra, &[]).await
    }

    /// Like `new`, with more arguments for `switchyard serve`.
    pub(crate) async fn new_with_args(name: &str, extra: Value, args: &[&str]) -> Env {
        let s = TestServer::spawn_with(&[&["--time-scale", "60"], args].concat()).await;
        let defaults = json!({"name": name, "platform": "local", "termination_wait_minutes": 1,
                              "container": {"desired_count": 2}});
        let body = crate::helpers::with_fields(defaults, &extra);
        let created = s.post("/api/environments", &s.admin_token, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let stack = provision(&s, name).await;
        for v in ["v1", "v2", "v3"] {
            s.write_site(v);
        }
        Env {
            prod_url: stack["outputs"]["prod_url"].as_str().unwrap().to_owned(),
            s,
        }
    }

    pub(crate) fn image(&self, version: &str) -> String {
        format!("static:{}", self.s.sites_dir().join(version).display())
    }

    pub(crate) async fn deploy(&self, env: &str, version: &str, config: Option<&str>) -> Answer {
        let mut body = json!({"image": self.image(version), "version": version, "commit": format!("{:0>40}", version.trim_start_matches('v'))});
        if let Some(config) = config {
            body["deployment_config"] = json!(config);
        }
        self.s
            .post(
                &format!("/api/environments/{env}/deployments"),
                &self.s.admin_token,
                body,
            )
            .await
    }

    pub(crate) async fn wait(&self, id: i64, statuses: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let d = self
                .s
                .get(&format!("/api/deployments/{id}"), &self.s.admin_token)
                .await
                .body;
            if statuses.contains(&d["status"].as_str().unwrap()) {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "deployment {id} is {}, not {statuses:?}",
                d["status"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Loads the production URL with `connections` keep-alive connections
    /// for `duration` in the background.
    pub(crate) fn load(
        &self,
        duration: Duration,
        connections: usize,
    ) -> tokio::task::JoinHandle<switchyard_loadgen::LoadResult> {
        let address: std::net::SocketAddr =
            self.prod_url.trim_start_matches("http://").parse().unwrap();
        tokio::spawn(async move {
            switchyard_loadgen::run(&switchyard_loadgen::LoadSpec {
                address,
                method: hyper::Method::GET,
                paths: vec!["/".into()],
                headers: vec![],
                body: bytes::Bytes::new(),
                connections,
                duration,
                vary: None,
            })
            .await
            .unwrap()
        })
    }

    pub(crate) async fn serving(&self) -> String {
        let response = self.s.client().get(&self.prod_url).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

#[tokio::test]
async fn deploy_then_shift_linearly_with_live_traffic_and_zero_failed_requests() {
    let e = Env::new("web", json!({})).await;
    let first = e.deploy("web", "v1", None).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.body["release"]["version"], "v1");
    assert!(
        first.body["codedeploy_id"]
            .as_str()
            .unwrap()
            .starts_with("d-")
    );
    let v1 = e
        .wait(first.body["id"].as_i64().unwrap(), &["Succeeded"])
        .await;
    assert_eq!(v1["green_weight"], 100.0);
    assert!(e.serving().await.contains("v1"));

    // Load the production URL for the whole linear shift.
    let load = e.load(Duration::from_secs(14), 8);
    let second = e
        .deploy("web", "v2", Some("ECSLinear10PercentEvery1Minutes"))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    let id = second.body["id"].as_i64().unwrap();
    // Sample the split while it moves: both versions answer.
    let mut seen_v1 = 0;
    let mut seen_v2 = 0;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let d =
            e.s.get(&format!("/api/deployments/{id}"), &e.s.admin_token)
                .await
                .body;
        let page = e.serving().await;
        if page.contains("v1") {
            seen_v1 += 1
        } else {
            seen_v2 += 1
        }
        if d["status"] == "Baking" || d["status"] == "Succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "{d}");
    }
    assert!(
        seen_v1 > 0 && seen_v2 > 0,
        "both versions served during the shift ({seen_v1} v1, {seen_v2} v2)"
    );
    let done = e.wait(id, &["Succeeded"]).await;
    let result = load.await.unwrap();
    assert_eq!(result.errors, 0, "failed requests during the deployment");
    assert!(result.ok > 100);

    assert_eq!(done["green_weight"], 100.0);
    assert!(!done["rolled_back"].as_bool().unwrap());
    assert!(done["completed_at"].is_string());
    let events = done["lifecycle_events"].as_array().unwrap();
    assert_eq!(events.len(), 8);
    assert!(
        events
            .iter()
            .all(|ev| ev["status"] == "Succeeded" && ev["started_at"].is_string()),
        "{events:?}"
    );
    // The traffic samples climb through the schedule's steps to 100.
    let weights: Vec<f64> = done["traffic_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["green_weight"].as_f64().unwrap())
        .collect();
    assert!(weights.windows(2).all(|w| w[0] <= w[1]), "{weights:?}");
    assert!(
        weights.iter().filter(|w| **w > 0.0 && **w < 100.0).count() >= 5,
        "intermediate steps observed: {weights:?}"
    );
    assert_eq!(*weights.last().unwrap(), 100.0);
    assert_eq!(done["planned_schedule"].as_array().unwrap().len(), 10);
    assert_eq!(done["task_sets"]["green"]["traffic_weight"], 100.0);
    assert!(e.serving().await.contains("v2"));

    // The audit trail has the whole story.
    let trail =
        e.s.get("/api/environments/web/events?limit=200", &e.s.admin_token)
            .await
            .body;
    let kinds: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ev| ev["deployment_id"] == id)
        .map(|ev| ev["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"deployment.started")
            && kinds.contains(&"deployment.traffic")
            && kinds.contains(&"deployment.lifecycle")
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "deployment.status").count(),
        3,
        "InProgress, Baking, Succeeded: {kinds:?}"
    );
}

#[tokio::test]
async fn idempotent_retries_concurrent_refusals_and_bad_inputs() {
    let e = Env::new(
        "api",
        json!({"deployment_config": "ECSCanary10Percent15Minutes"}),
    )
    .await;
    let body = json!({"image": e.image("v1"), "version": "v1"});
    let send = |key: &'static str| {
        e.s.raw(
            e.s.client()
                .post(e.s.url("/api/environments/api/deployments"))
                .bearer_auth(&e.s.admin_token)
                .header("idempotency-key", key)
                .json(&body),
        )
    };
    let first = send("retry-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let replay = send("retry-1").await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.body["id"], first.body["id"]);
    let busy = e.deploy("api", "v2", None).await;
    assert_eq!(busy.status, StatusCode::CONFLICT, "{:?}", busy.body);
    assert!(
        busy.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in progress")
    );

    let releases_before =
        e.s.get("/api/environments/api/releases", &e.s.admin_token)
            .await
            .body["releases"]
            .as_array()
            .unwrap()
            .len();
    for (body, field) in [
        (
            json!({"image": e.image("v2"), "version": "v2", "deployment_config": "ECSFastest"}),
            "deployment_config",
        ),
        (json!({"image": "Not An Image", "version": "v2"}), "image"),
        (
            json!({"image": "static:/no/such/dir", "version": "v2"}),
            "image",
        ),
        (json!({"image": e.image("v2"), "version": "v 2"}), "version"),
    ] {
        let answer =
            e.s.post(
                "/api/environments/api/deployments",
                &e.s.admin_token,
                body.clone(),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            answer.body
        );
        assert_eq!(answer.field(), field, "{body}");
    }
    assert_eq!(
        e.s.post(
            "/api/environments/nope/deployments",
            &e.s.admin_token,
            json!({"image": e.image("v2"), "version": "v2"})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let viewer = e.s.user("vera", "viewer").await;
    assert_eq!(
        e.s.post(
            "/api/environments/api/deployments",
            &viewer,
            json!({"image": e.image("v2"), "version": "v2"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let releases_after =
        e.s.get("/api/environments/api/releases", &e.s.admin_token)
            .await
            .body["releases"]
            .as_array()
            .unwrap()
            .len();
    assert_eq!(
        releases_before, releases_after,
        "refused deployments record nothing"
    );

    // Stop the canary mid-shift under load and roll back: 100 % back on the
    // original, and production fails no request on the way.
    let id = first.body["id"].as_i64().unwrap();
    until_within(
        &e.s,
        &format!("/api/deployments/{id}"),
        Duration::from_secs(60),
        |d| d["green_weight"] == 10.0,
    )
    .await;
    let load = e.load(Duration::from_secs(5), 8);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped =
        e.s.post(
            &format!("/api/deployments/{id}/rollback"),
            &e.s.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK, "{:?}", stopped.body);
    let d = e.wait(id, &["Stopped"]).await;
    assert!(d["rolled_back"].as_bool().unwrap(), "{d}");
    assert_eq!(d["error"]["code"], "MANUAL_STOP");
    let result = load.await.unwrap();
    assert_eq!(
        result.errors, 0,
        "failed requests during the stop and rollback"
    );
    assert!(result.ok > 100);
    assert!(
        e.serving().await.contains("has no release yet"),
        "the original serves again"
    );
    // Actions on a finished deployment are refused, and recorded nowhere.
    let again =
        e.s.post(
            &format!("/api/deployments/{id}/rollback"),
            &e.s.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let cont =
        e.s.post(
            &format!("/api/deployments/{id}/continue"),
            &e.s.admin_token,
            json!({"wait": "ready"}),
        )
        .await;
    assert_eq!(cont.status, StatusCode::CONFLICT);
    let bad =
        e.s.post(
            &format!("/api/deployments/{id}/continue"),
            &e.s.admin_token,
            json!({"wait": "soon"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "wait")
    );
    assert_eq!(
        e.s.get("/api/deployments/999999", &e.s.admin_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// A rollback's body is optional in the document, and so on the wire: none
/// or `null` means the defaults; one that is there is read like any body.
#[tokio::test]
async fn an_environment_rollback_takes_its_body_as_the_document_says() {
    let s = TestServer::spawn().await;
    s.environment("gate").await;
    let doc = s.get("/api/openapi.json", &s.admin_token).await.body;
    let body = &doc["paths"]["/api/environments/{name}/rollback"]["post"]["requestBody"];
    assert_ne!(body["required"], true, "{body}");
    let path = "/api/environments/gate/rollback";
    let send = |content_type: Option<&str>, body: &str| {
        let mut request = s
            .client()
            .post(s.url(path))
            .bearer_auth(&s.admin_token)
            .body(body.to_owned());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        s.raw(request)
    };
    // Read and passed on: nothing to roll back to yet.
    for (content_type, body) in [(None, ""), (Some("application/json"), "null")] {
        let answer = send(content_type, body).await;
        assert_eq!(
            answer.status,
            StatusCode::CONFLICT,
            "{body:?}: {:?}",
            answer.body
        );
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no successful deployment"),
            "{:?}",
            answer.body
        );
    }
    let unknown = send(Some("application/json"), r#"{"deployment_config": "nope"}"#).await;
    assert_eq!(
        (unknown.status, unknown.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "deployment_config"),
        "{:?}",
        unknown.body
    );
    let text = send(Some("text/plain"), "{}").await;
    assert_eq!(
        text.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{:?}",
        text.body
    );
}

#[tokio::test]
async fn ready_wait_continue_and_environment_rollback() {
    let e = Env::new("gate", json!({"ready_wait_minutes": 30})).await;
    let first = e.deploy("gate", "v1", None).await;
    let id = first.body["id"].as_i64().unwrap();
    let held = e.wait(id, &["Ready"]).await;
    assert_eq!(held["current_lifecycle_event"], "BeforeAllowTraffic");
    let continued =
        e.s.post(
            &format!("/api/deployments/{id}/continue"),
            &e.s.admin_token,
            json!({"wait": "ready"}),
        )
        .await;
    assert_eq!(continued.status, StatusCode::OK, "{:?}", continued.body);
    e.wait(id, &["Baking", "Succeeded"]).await;
    let terminate =
        e.s.post(
            &format!("/api/deployments/{id}/continue"),
            &e.s.admin_token,
            json!({"wait": "termination"}),
        )
        .await;
    assert!(
        terminate.status == StatusCode::OK || terminate.status == StatusCode::CONFLICT,
        "{:?}",
        terminate.body
    );
    e.wait(id, &["Succeeded"]).await;

    let second = e.deploy("gate", "v2", None).await;
    let id2 = second.body["id"].as_i64().unwrap();
    e.wait(id2, &["Ready"]).await;
    e.s.post(
        &format!("/api/deployments/{id2}/continue"),
        &e.s.admin_token,
        json!({"wait": "ready"}),
    )
    .await;
    e.wait(id2, &["Succeeded"]).await;
    assert!(e.serving().await.contains("v2"));

    // Back to v1, the release before the live one; the body is optional.
    let back =
        e.s.request(
            Method::POST,
            "/api/environments/gate/rollback",
            Some(&e.s.admin_token),
            None,
        )
        .await;
    assert_eq!(back.status, StatusCode::CREATED, "{:?}", back.body);
    assert_eq!(back.body["release"]["version"], "v1");
    assert_eq!(
        back.body["deployment_config"],
        "CodeDeployDefault.ECSAllAtOnce"
    );
    let id3 = back.body["id"].as_i64().unwrap();
    e.wait(id3, &["Ready"]).await;
    let busy =
        e.s.post(
            "/api/environments/gate/rollback",
            &e.s.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
    e.s.post(
        &format!("/api/deployments/{id3}/continue"),
        &e.s.admin_token,
        json!({"wait": "ready"}),
    )
    .await;
    e.wait(id3, &["Succeeded"]).await;
    assert!(e.serving().await.contains("v1"));
}

/// Reads an SSE stream until it ends: (id, event kind) pairs.
async fn read_sse(s: &TestServer, id: i64, last_event_id: Option<&str>) -> Vec<(i64, String)> {
    let mut request = s
        .client()
        .get(s.url(&format!("/api/deployments/{id}/events")))
        .bearer_auth(&s.admin_token)
        .header("accept", "text/event-stream");
    if let Some(last) = last_event_id {
        request = request.header("last-event-id", last);
    }
    let mut response = request.send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(chunk) = tokio::time::timeout_at(deadline.into(), response.chunk())
        .await
        .expect("the stream ends once the deployment finishes")
        .unwrap()
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let field = |name: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(&format!("{name}:"))
                    .map(|v| v.trim().to_owned())
            })
        };
        if let (Some(id), Some(kind)) = (field("id"), field("event")) {
            events.push((id.parse().unwrap(), kind));
        }
    }
    events
}

#[tokio::test]
async fn server_sent_events_resume_with_last_event_id() {
    let e = Env::new("live", json!({})).await;
    let started = e
        .deploy("live", "v1", Some("ECSLinear10PercentEvery1Minutes"))
        .await;
    let id = started.body["id"].as_i64().unwrap();
    let all = read_sse(&e.s, id, None).await;
    assert_eq!(all.first().unwrap().1, "deployment.started");
    assert_eq!(all.last().unwrap().1, "deployment.status");
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "ids increase");
    assert!(
        all.iter()
            .filter(|(_, k)| k == "deployment.traffic")
            .count()
            >= 5,
        "{all:?}"
    );
    // A client that saw half reconnects and gets exactly the rest.
    let middle = all[all.len() / 2].0;
    let rest = read_sse(&e.s, id, Some(&middle.to_string())).await;
    let expected: Vec<(i64, String)> = all.iter().filter(|(i, _)| *i > middle).cloned().collect();
    assert_eq!(rest, expected);
}

pub(crate) async fn cli(e: &Env, args: &[&str]) -> (Option<i32>, String, String) {
    let output = tokio::process::Command::new(crate::helpers::BIN)
        .args(args)
        .env("SWITCHYARD_URL", &e.s.base)
        .env("SWITCHYARD_TOKEN", &e.s.admin_token)
        .output()
        .await
        .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_cli_deploys_follows_and_rolls_back() {
    let e = Env::new("cli", json!({})).await;
    let v1 = e.image("v1");
    let (code, stdout, stderr) = cli(
        &e,
        &[
            "deploy",
            "cli",
            "--image",
            &v1,
            "--version",
            "v1",
            "--wait-until",
            "completed",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("v1 Succeeded"), "{stdout}");
    assert!(stderr.contains("100% green"), "progress is shown: {stderr}");

    // traffic-shifted returns before the termination wait ends.
    let v2 = e.image("v2");
    let (code, stdout, stderr) = cli(
        &e,
        &[
            "deploy",
            "cli",
            "--image",
            &v2,
            "--version",
            "v2",
            "--config",
            "ECSLinear10PercentEvery1Minutes",
            "--wait-until",
            "traffic-shifted",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let shifted: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shifted["green_weight"], 100.0);
    assert!(
        matches!(shifted["status"].as_str(), Some("Baking" | "Succeeded")),
        "{shifted}"
    );
    e.wait(shifted["id"].as_i64().unwrap(), &["Succeeded"])
        .await;

    let (code, stdout, _) = cli(&e, &["status", "cli"]).await;
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("v2") && stdout.contains("v1") && stdout.contains(&e.prod_url),
        "{stdout}"
    );

    // A deployment stopped from elsewhere makes `deploy` fail with status 5.
    let v3 = e.image("v3");
    let base = e.s.base.clone();
    let token = e.s.admin_token.clone();
    let follower = tokio::spawn(async move {
        tokio::process::Command::new(crate::helpers::BIN)
            .args([
                "deploy",
                "cli",
                "--image",
                &v3,
                "--version",
                "v3",
                "--config",
                "ECSCanary10Percent15Minutes",
            ])
            .env("SWITCHYARD_URL", base)
            .env("SWITCHYARD_TOKEN", token)
            .output()
            .await
            .unwrap()
    });
    let canary = |list: &Value| {
        let newest = &list["deployments"][0];
        newest["release"]["version"] == "v3" && newest["green_weight"] == 10.0
    };
    let list = until_within(
        &e.s,
        "/api/environments/cli/deployments",
        Duration::from_secs(60),
        canary,
    )
    .await;
    let id = list["deployments"][0]["id"].as_i64().unwrap();
    let (code, _, stderr) = cli(&e, &["rollback", &id.to_string()]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let followed = follower.await.unwrap();
    assert_eq!(followed.status.code(), Some(5));
    assert!(
        String::from_utf8_lossy(&followed.stderr).contains("rolled back"),
        "{}",
        String::from_utf8_lossy(&followed.stderr)
    );
    assert!(e.serving().await.contains("v2"));

    // Rolling the environment back redeploys v1.
    let (code, stdout, stderr) = cli(&e, &["rollback", "cli"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("v1 Succeeded"), "{stdout}");
    assert!(e.serving().await.contains("v1"));
    let (code, _, stderr) = cli(&e, &["continue", &id.to_string()]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("409"), "{stderr}");
}

#[tokio::test]
async fn a_killed_server_restarts_its_embedded_cloud_without_an_outage_mid_shift() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--time-scale", "60"];
    let s = TestServer::start(&data, &args).await;
    s.post(
        "/api/environments",
        &s.admin_token,
        json!({"name": "embed", "platform": "local", "termination_wait_minutes": 0}),
    )
    .await;
    let prod_url = provision(&s, "embed").await["outputs"]["prod_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let deploy = |version: &'static str, config: Option<&'static str>| {
        let body = json!({"image": s.write_site(version), "version": version, "deployment_config": config});
        s.post("/api/environments/embed/deployments", &s.admin_token, body)
    };
    let first = deploy("v1", None).await.body["id"].as_i64().unwrap();
    let limit = Duration::from_secs(30);
    until_within(&s, &format!("/api/deployments/{first}"), limit, |d| {
        d["status"] == "Succeeded"
    })
    .await;
    let id = deploy("v2", Some("ECSLinear10PercentEvery1Minutes"))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    until_within(&s, &format!("/api/deployments/{id}"), limit, |d| {
        d["green_weight"].as_f64().unwrap_or(0.0) >= 20.0
    })
    .await;

    let production = Sampler::start(&prod_url);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut server = s;
    let killed = Instant::now();
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    let dead = Instant::now();
    drop(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = TestServer::start(&data, &args).await;
    let back = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    production
        .stop()
        .await
        .assert_only_lost_while_down(killed, dead, back);

    let d = until_within(&restarted, &format!("/api/deployments/{id}"), limit, |d| {
        d["status"] == "Succeeded"
    })
    .await;
    assert_eq!(d["green_weight"], 100.0);
    let body = reqwest::get(&prod_url).await.unwrap().text().await.unwrap();
    assert!(body.contains("v2"), "{body}");
}

#[tokio::test]
async fn a_killed_control_plane_catches_up_after_restart_while_traffic_keeps_flowing() {
    let dir = tempfile::tempdir().unwrap();
    // The local cloud runs on its own, so killing the control plane leaves it be.
    let (mut cloud, cloud_url) =
        crate::helpers::standalone_local_cloud(&dir.path().join("cloud"), "60").await;
    let data = dir.path().join("server");
    let s = TestServer::start(&data, &["--localcloud-url", &cloud_url]).await;
    let image = |v: &str| s.write_site(v);
    s.post(
        "/api/environments",
        &s.admin_token,
        json!({"name": "crash", "platform": "local", "termination_wait_minutes": 0}),
    )
    .await;
    let prod_url = provision(&s, "crash").await["outputs"]["prod_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = s
        .post(
            "/api/environments/crash/deployments",
            &s.admin_token,
            json!({"image": image("v1"), "version": "v1"}),
        )
        .await;
    let id1 = first.body["id"].as_i64().unwrap();
    until_within(
        &s,
        &format!("/api/deployments/{id1}"),
        Duration::from_secs(60),
        |d| d["status"] == "Succeeded",
    )
    .await;
    let second = s
        .post("/api/environments/crash/deployments", &s.admin_token, json!({"image": image("v2"), "version": "v2", "deployment_config": "ECSLinear10PercentEvery1Minutes"}))
        .await;
    let id = second.body["id"].as_i64().unwrap();
    until_within(
        &s,
        &format!("/api/deployments/{id}"),
        Duration::from_secs(60),
        |d| d["green_weight"].as_f64().unwrap_or(0.0) >= 20.0,
    )
    .await;
    let weight_at_kill = s
        .get(&format!("/api/deployments/{id}"), &s.admin_token)
        .await
        .body["green_weight"]
        .as_f64()
        .unwrap();
    let api_url = s.base.clone();
    // kill -9 mid-shift.
    let mut server = s;
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    // Production keeps answering while the control plane is down, and the shift completes.
    until_only_served(&prod_url, "v2").await;
    drop(server);
    let restarted = TestServer::start(&data, &["--localcloud-url", &cloud_url]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let d = loop {
        let d = restarted
            .get(&format!("/api/deployments/{id}"), &restarted.admin_token)
            .await
            .body;
        if d["status"] == "Succeeded" {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted tracker never caught up: {d}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(d["green_weight"], 100.0);
    assert_eq!(restarted.base, api_url, "the API is back on its port");
    // Every step the control plane missed is a sample at the time the
    // schedule put it: AllowTraffic's start plus one second (a minute at
    // time scale 60) per step.
    let millis = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let allow_started = millis(
        &d["lifecycle_events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "AllowTraffic")
            .unwrap()["started_at"],
    );
    let samples: Vec<(i64, f64)> = d["traffic_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (millis(&s["at"]), s["green_weight"].as_f64().unwrap()))
        .collect();
    for step in 1..=10 {
        let weight = f64::from(step * 10);
        let (at, _) = samples
            .iter()
            .find(|(_, w)| *w == weight)
            .unwrap_or_else(|| panic!("no sample at {weight} %: {samples:?}"));
        if weight > weight_at_kill {
            let due = allow_started + i64::from(step - 1) * 1000;
            assert!(
                (at - due).abs() <= 200,
                "the {weight} % step is dated {at}, due {due}: {samples:?}"
            );
        }
    }
    assert!(
        samples.windows(2).all(|w| w[0].1 <= w[1].1),
        "weights only grow: {samples:?}"
    );
    assert!(
        d["lifecycle_events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "Succeeded" && e["ended_at"].is_string()),
        "{d}"
    );
    let trail = restarted
        .get(
            "/api/environments/crash/events?limit=200",
            &restarted.admin_token,
        )
        .await
        .body;
    let statuses: Vec<String> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["deployment_id"] == id && e["kind"] == "deployment.status")
        .map(|e| e["detail"]["to"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        statuses.first().map(String::as_str),
        Some("Succeeded"),
        "the final status is on record: {statuses:?}"
    );
    let mut shifts: Vec<f64> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["deployment_id"] == id && e["kind"] == "deployment.traffic")
        .map(|e| e["detail"]["green_weight"].as_f64().unwrap())
        .collect();
    shifts.reverse();
    assert_eq!(
        shifts,
        (1..=10).map(|i| f64::from(i * 10)).collect::<Vec<_>>(),
        "the audit trail has every step, none twice"
    );
    cloud.start_kill().unwrap();
}

#[tokio::test]
async fn a_replacement_that_never_turns_healthy_rolls_back_with_zero_failed_requests() {
    let e = Env::new(
        "sick",
        json!({"container": {"health_check_path": "/health", "desired_count": 2}}),
    )
    .await;
    // v1 answers its health check; v2 lacks /health, so its tasks never turn healthy.
    for v in ["v1", "v2"] {
        std::fs::write(e.s.sites_dir().join(v).join("health"), "ok").unwrap();
    }
    std::fs::remove_file(e.s.sites_dir().join("v2").join("health")).unwrap();
    let first = e.deploy("sick", "v1", None).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    e.wait(first.body["id"].as_i64().unwrap(), &["Succeeded"])
        .await;

    let load = e.load(Duration::from_secs(25), 4);
    let second = e.deploy("sick", "v2", None).await;
    let id = second.body["id"].as_i64().unwrap();
    let d = e.wait(id, &["Failed", "Stopped", "Succeeded"]).await;
    assert_eq!(d["status"], "Failed", "{d}");
    assert!(d["rolled_back"].as_bool().unwrap(), "{d}");
    assert_eq!(d["error"]["code"], "ECS_UPDATE_ERROR");
    assert!(
        d["error"]["message"].as_str().unwrap().contains("healthy"),
        "{d}"
    );
    assert!(e.serving().await.contains("v1"));
    let result = load.await.unwrap();
    assert_eq!(result.errors, 0, "production never failed a request");
}

#[tokio::test]
async fn a_failing_hook_rolls_back_and_a_passing_one_lets_the_release_through() {
    let e = Env::new(
        "hooked",
        json!({"hooks": {"AfterAllowTestTraffic": "smoke-test"}}),
    )
    .await;
    let env =
        e.s.get("/api/environments/hooked", &e.s.admin_token)
            .await
            .body;
    assert_eq!(env["hooks"], json!({"AfterAllowTestTraffic": "smoke-test"}));
    // In the local cloud a hook function is a registered command.
    let cloud = e.s.local_cloud_url();
    let register = |command: Value| {
        let url = format!("{cloud}/_localcloud/functions/smoke-test");
        let http = e.s.client().clone();
        async move {
            assert_eq!(
                http.put(url)
                    .json(&json!({"command": command}))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                StatusCode::NO_CONTENT
            )
        }
    };
    register(json!([
        "sh",
        "-c",
        "echo 'smoke test: /checkout answered 500' >&2; exit 1"
    ]))
    .await;
    let failed = e.deploy("hooked", "v1", None).await;
    let d = e
        .wait(
            failed.body["id"].as_i64().unwrap(),
            &["Failed", "Succeeded"],
        )
        .await;
    assert_eq!(d["status"], "Failed", "{d}");
    assert!(d["rolled_back"].as_bool().unwrap());
    assert_eq!(d["error"]["code"], "HOOK_EXECUTION_FAILURE");
    assert!(
        d["error"]["message"]
            .as_str()
            .unwrap()
            .contains("answered 500"),
        "{d}"
    );
    let hook = d["lifecycle_events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ev| ev["name"] == "AfterAllowTestTraffic")
        .unwrap()
        .clone();
    assert_eq!(hook["status"], "Failed");
    assert!(
        e.serving().await.contains("has no release yet"),
        "production stayed on the original"
    );

    register(json!(["true"])).await;
    let passed = e.deploy("hooked", "v2", None).await;
    let d = e
        .wait(
            passed.body["id"].as_i64().unwrap(),
            &["Failed", "Succeeded"],
        )
        .await;
    assert_eq!(d["status"], "Succeeded", "{d}");
    assert!(e.serving().await.contains("v2"));

    let bad =
        e.s.post(
            "/api/environments",
            &e.s.admin_token,
            json!({"name": "bad-hooks", "platform": "local", "hooks": {"Install": "x"}}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "hooks.Install")
    );
}

#[tokio::test]
async fn a_container_image_without_an_engine_fails_its_deployment_saying_so() {
    let e = Env::new("noengine", json!({})).await;
    let answer =
        e.s.post(
            "/api/environments/noengine/deployments",
            &e.s.admin_token,
            json!({"image": "nginx:1.27", "version": "nginx"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let d = e
        .wait(
            answer.body["id"].as_i64().unwrap(),
            &["Failed", "Stopped", "Succeeded"],
        )
        .await;
    assert_eq!(d["status"], "Failed", "{d}");
    let message = d["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no container engine")
            && message.contains(crate::helpers::NO_CONTAINER_ENGINE),
        "the failure names the engine it could not reach: {d}"
    );
    assert!(
        e.serving().await.contains("no release yet"),
        "production still serves what it served"
    );
}
