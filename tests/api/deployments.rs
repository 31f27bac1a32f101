use crate::helpers::{Answer, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

struct Env {
    s: TestServer,
    prod_url: String,
    sites: tempfile::TempDir,
}

impl Env {
    /// A server at time scale 60 with a provisioned local environment.
    async fn new(name: &str, extra: Value) -> Env {
        let s = TestServer::spawn_with(&["--time-scale", "60"]).await;
        let mut body = json!({"name": name, "platform": "local", "termination_wait_minutes": 1,
                              "container": {"desired_count": 2}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let created = s.post("/api/environments", &s.admin_token, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        s.post(
            &format!("/api/environments/{name}/stack"),
            &s.admin_token,
            json!({}),
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(60);
        let stack = loop {
            let stack = s
                .get(&format!("/api/environments/{name}/stack"), &s.admin_token)
                .await
                .body;
            if stack["status"] == "ready" {
                break stack;
            }
            assert!(
                Instant::now() < deadline && stack["status"] == "provisioning",
                "{stack}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let sites = tempfile::tempdir().unwrap();
        for v in ["v1", "v2", "v3"] {
            std::fs::create_dir_all(sites.path().join(v)).unwrap();
            std::fs::write(
                sites.path().join(v).join("index.html"),
                format!("<h1>{v}</h1>"),
            )
            .unwrap();
        }
        Env {
            prod_url: stack["outputs"]["prod_url"].as_str().unwrap().to_owned(),
            s,
            sites,
        }
    }

    fn image(&self, version: &str) -> String {
        format!("static:{}", self.sites.path().join(version).display())
    }

    async fn deploy(&self, env: &str, version: &str, config: Option<&str>) -> Answer {
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

    async fn wait(&self, id: i64, statuses: &[&str]) -> Value {
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

    async fn serving(&self) -> String {
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
    let address: std::net::SocketAddr = e.prod_url.trim_start_matches("http://").parse().unwrap();
    let load = tokio::spawn(async move {
        switchyard::bench::load::run(&switchyard::bench::load::LoadSpec {
            address,
            method: hyper::Method::GET,
            paths: vec!["/".into()],
            headers: vec![],
            body: bytes::Bytes::new(),
            connections: 8,
            duration: Duration::from_secs(14),
        })
        .await
        .unwrap()
    });
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
        (json!({"image": "nginx:1.27", "version": "v2"}), "image"),
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

    // Stop the canary and roll back: 100 % back on the original.
    let id = first.body["id"].as_i64().unwrap();
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

    // Back to v1, the release before the live one.
    let back =
        e.s.post(
            "/api/environments/gate/rollback",
            &e.s.admin_token,
            json!({}),
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
