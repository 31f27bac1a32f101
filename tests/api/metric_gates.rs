//! Metric gates judge green against blue while a deployment is held with
//! test traffic only, on real containers: busybox httpd answers a CGI page
//! after a release's own delay, clients load both listeners, and the gate
//! lets a release as fast as blue go on and rolls back one ten times
//! slower, with both controllers (CodeDeploy's ready wait, an ECS PAUSE
//! hook after the test traffic shift). The settings are checked as users
//! give them: API, CLI, settings card.

use crate::containers::ContainerServer;
use crate::dashboard::Session;
use crate::helpers::{TestServer, with_fields};
use crate::notifications::{delivered, receiver};
use crate::paths::until_within;
use crate::support;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Blue's and a good green's answer time.
const BASE_DELAY_MS: u64 = 300;
/// A slow green's: ten times blue's, far above the gate's ratio.
const SLOW_DELAY_MS: u64 = 3_000;
/// How long a deployment may take to reach what a test waits for.
const WAIT: Duration = Duration::from_secs(120);
/// Clients on each listener, back to back.
const CLIENTS: usize = 12;

/// Bounds a test gate can reach at time scale 60 in seconds.
fn gate() -> Value {
    json!({"enabled": true, "max_5xx_increase_pp": 5, "max_p99_ratio": 3,
           "window_minutes": 5, "min_requests": 10})
}

/// An image answering `/cgi-bin/app` with its version after `delay_ms`, and
/// `/` at once (the health check), built on the test engine from the
/// offline busybox image.
fn app_image(docker_host: &str, version: &str, delay_ms: u64) -> String {
    let tag = format!("switchyard-test/gate-app:{version}-{delay_ms}");
    let context = tempfile::tempdir().unwrap();
    let write = |path: &str, text: String| {
        let path = context.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("www/index.html", format!("<h1>{version}</h1>\n"));
    write(
        "www/cgi-bin/app",
        format!(
            "#!/bin/sh\nusleep {}\nprintf 'Content-Type: text/plain\\r\\n\\r\\n{version}\\n'\n",
            delay_ms * 1000
        ),
    );
    write(
        "Dockerfile",
        "FROM switchyard-test/busybox:latest\nCOPY www /www\nRUN chmod 755 /www/cgi-bin/app\n\
         CMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n"
            .into(),
    );
    let config = tempfile::tempdir().unwrap();
    let context_path = context.path().to_str().unwrap();
    support::docker(
        docker_host,
        config.path(),
        &["build", "--quiet", "--tag", &tag, context_path],
    );
    tag
}

/// Loads `/cgi-bin/app` on both listeners with [`CLIENTS`] clients each
/// until dropped.
struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(env: &Value) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for listener in ["prod_url", "test_url"] {
            let base = env[listener]
                .as_str()
                .expect("a provisioned stack")
                .trim_end_matches('/');
            let url = format!("{base}/cgi-bin/app");
            for _ in 0..CLIENTS {
                let (url, stop) = (url.clone(), stop.clone());
                clients.push(tokio::spawn(async move {
                    let http = reqwest::Client::builder()
                        .timeout(Duration::from_secs(10))
                        .build()
                        .unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        if http.get(&url).send().await.is_err() {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }));
            }
        }
        Load { stop, clients }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for client in &self.clients {
            client.abort();
        }
    }
}

/// A provisioned environment `gated` on containers, created from `body`
/// with the gate off, running v1 (its hold continued by hand); then the
/// gate on. The server and the environment.
async fn gated(body: Value) -> (ContainerServer, Value) {
    let cs = ContainerServer::start().await;
    let s = &cs.s;
    let create = with_fields(json!({"name": "gated", "platform": "local"}), &body);
    let created = s.post("/api/environments", &s.admin_token, create).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    crate::deployments::provision(s, "gated").await;
    let v1 = app_image(&cs.docker_host, "v1", BASE_DELAY_MS);
    let id = deploy(s, &v1, "v1").await;
    let held = deployment_when(s, id, |d| d["status"] == "Ready").await;
    let continued = s
        .post(
            &format!("/api/deployments/{id}/continue"),
            &s.admin_token,
            json!({"wait": "ready"}),
        )
        .await;
    assert_eq!(
        continued.status,
        StatusCode::OK,
        "{held} {:?}",
        continued.body
    );
    deployment_when(s, id, |d| d["status"] == "Succeeded").await;
    let on = s
        .request(
            reqwest::Method::PATCH,
            "/api/environments/gated",
            Some(s.admin_token.as_str()),
            Some(json!({"metric_gate": gate()})),
        )
        .await;
    assert_eq!(on.status, StatusCode::OK, "{:?}", on.body);
    assert_eq!(on.body["metric_gate"]["enabled"], true);
    (cs, on.body)
}

async fn deploy(s: &TestServer, image: &str, version: &str) -> i64 {
    let started = s
        .post(
            "/api/environments/gated/deployments",
            &s.admin_token,
            json!({"image": image, "version": version}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    started.body["id"].as_i64().unwrap()
}

/// The deployment once `ready` holds (within [`WAIT`]).
async fn deployment_when(s: &TestServer, id: i64, ready: impl Fn(&Value) -> bool) -> Value {
    until_within(s, &format!("/api/deployments/{id}"), WAIT, ready).await
}

/// Deploys `version` answering after `delay_ms` under load, and returns the
/// deployment once it ended, with the gate's one decision.
async fn judged_release(
    cs: &ContainerServer,
    env: &Value,
    version: &str,
    delay_ms: u64,
) -> (Value, Value) {
    let s = &cs.s;
    let image = app_image(&cs.docker_host, version, delay_ms);
    let _load = Load::start(env);
    let id = deploy(s, &image, version).await;
    let ended = deployment_when(s, id, |d| {
        d["completed_at"].is_string() && d["metric_gate"][0]["action"].is_string()
    })
    .await;
    let gates = ended["metric_gate"].as_array().unwrap();
    assert_eq!(gates.len(), 1, "one hold, one decision: {ended}");
    (ended.clone(), gates[0].clone())
}

/// The gate judged whole periods from the hold on, with both sides' traffic.
fn judged_its_window(gate: &Value) {
    let millis = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(gate[field].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    assert!(millis("window_start") >= millis("held_since"), "{gate}");
    assert_eq!(
        millis("window_end") - millis("window_start"),
        5_000,
        "{gate}"
    );
    assert!(millis("decided_at") >= millis("window_end"), "{gate}");
    for side in ["blue", "green"] {
        assert!(gate[side]["requests"].as_f64().unwrap() >= 10.0, "{gate}");
    }
}

/// Green's p99 over blue's.
fn p99_ratio(gate: &Value) -> f64 {
    gate["green"]["p99_ms"].as_f64().unwrap() / gate["blue"]["p99_ms"].as_f64().unwrap()
}

async fn a_good_green_goes_on_and_a_slow_one_is_rolled_back(body: Value, hold: &str) {
    let (url, received) = receiver().await;
    let mut body = body;
    body["notifications"] = json!([{"url": format!("{url}/gate"), "format": "generic"}]);
    let (cs, env) = gated(body).await;
    let s = &cs.s;

    let (good, gate) = judged_release(&cs, &env, "v2", BASE_DELAY_MS).await;
    assert_eq!(gate["hold"], hold, "{gate}");
    assert_eq!(gate["outcome"], "passed", "{gate}");
    assert_eq!(gate["action"], "continued", "{gate}");
    judged_its_window(&gate);
    assert!(p99_ratio(&gate) <= 3.0, "{gate}");
    assert_eq!(good["status"], "Succeeded", "{good}");
    assert_eq!(good["green_weight"], 100.0);

    let (slow, gate) = judged_release(&cs, &env, "v3", SLOW_DELAY_MS).await;
    assert_eq!(gate["outcome"], "failed", "{gate}");
    assert_eq!(gate["action"], "rolled_back", "{gate}");
    judged_its_window(&gate);
    assert!(p99_ratio(&gate) > 3.0, "{gate}");
    let reasons = gate["reasons"].to_string();
    assert!(reasons.contains("is above 3 × blue's"), "{reasons}");
    assert_eq!(slow["rolled_back"], true, "{slow}");
    assert_eq!(slow["green_weight"], 0.0, "{slow}");
    // Production still answers from the release the gate protected.
    let prod = env["prod_url"].as_str().unwrap().trim_end_matches('/');
    let page = reqwest::get(format!("{prod}/cgi-bin/app"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page.trim(), "v2", "the good release stays live");

    // Audited, notified and on the page, with the figures that decided.
    let events = s
        .get("/api/environments/gated/events?limit=200", &s.admin_token)
        .await
        .body;
    let gate_events: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "deployment.metric_gate" && e["actor"] == "metric-gate")
        .collect();
    assert!(
        gate_events.len() >= 4,
        "watching and judged, twice: {events}"
    );
    // v1 and v2 live, v3 judged, v3 rolled back.
    let notified = delivered(&received, "gate", 4).await;
    let gate_notice = notified
        .iter()
        .find(|n| n["event"] == "deployment.metric_gate")
        .unwrap_or_else(|| panic!("no gate notification in {notified:?}"));
    let summary = gate_notice["summary"].as_str().unwrap();
    assert!(
        summary.contains("v3: the metric gate at")
            && summary.contains("found green worse than blue and rolled it back"),
        "{summary}"
    );
    let session = Session::sign_in(s, &s.admin_token).await;
    let id = slow["id"].as_i64().unwrap();
    let (status, page) = session.page(s, &format!("/deployments/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    for text in [
        "id=\"metric-gate\"",
        ">failed</span>",
        "The gate rolled it back.",
        "p99 latency",
    ] {
        assert!(page.contains(text), "{text:?} on the page");
    }
    // Blue's card counts its health-checked containers (#23's "not observed").
    let blue = page
        .split("<article class=\"set blue\"")
        .nth(1)
        .and_then(|card| card.split("</article>").next())
        .expect("a blue card");
    assert!(blue.contains(">2 of 2</dd>"), "{blue}");
}

#[tokio::test]
async fn a_gate_at_the_codedeploy_ready_wait_passes_a_good_green_and_rolls_back_a_slow_one() {
    a_good_green_goes_on_and_a_slow_one_is_rolled_back(
        json!({"ready_wait_minutes": 60, "termination_wait_minutes": 0}),
        "READY_WAIT",
    )
    .await;
}

#[tokio::test]
async fn a_gate_at_an_ecs_pause_hook_passes_a_good_green_and_rolls_back_a_slow_one() {
    a_good_green_goes_on_and_a_slow_one_is_rolled_back(
        json!({"controller": "ecs", "ecs_deployment": {"strategy": "BLUE_GREEN",
               "bake_time_minutes": 0,
               "gates": [{"stage": "POST_TEST_TRAFFIC_SHIFT", "timeout_minutes": 60}]}}),
        "POST_TEST_TRAFFIC_SHIFT",
    )
    .await;
}

#[tokio::test]
async fn a_gate_needs_a_hold_and_its_settings_are_checked_everywhere() {
    let s = TestServer::spawn().await;
    let create = |body: Value| {
        let create = with_fields(json!({"name": "gated", "platform": "local"}), &body);
        s.post("/api/environments", &s.admin_token, create)
    };
    // Nothing holds a deployment here, so nothing would be judged.
    let refused = create(json!({"metric_gate": {"enabled": true}})).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.field(), "metric_gate.enabled");
    assert!(
        refused.body.to_string().contains("ready wait"),
        "{:?}",
        refused.body
    );
    let refused =
        create(json!({"ready_wait_minutes": 30, "metric_gate": {"max_p99_ratio": 0.5}})).await;
    assert_eq!(refused.field(), "metric_gate.max_p99_ratio");
    let list = s.get("/api/environments", &s.admin_token).await.body;
    assert_eq!(list["environments"], json!([]), "nothing half-created");

    let created = create(json!({"ready_wait_minutes": 30, "metric_gate": gate()})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(
        created.body["metric_gate"],
        json!({"enabled": true, "max_5xx_increase_pp": 5.0, "max_p99_ratio": 3.0,
               "window_minutes": 5, "min_requests": 10})
    );
    // A change that takes the hold away is refused whole.
    let patch = |body: Value| {
        s.request(
            reqwest::Method::PATCH,
            "/api/environments/gated",
            Some(s.admin_token.as_str()),
            Some(body),
        )
    };
    let refused = patch(json!({"controller": "ecs", "approval_policy": {"required": 2}})).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.field(), "metric_gate.enabled");
    let env = s.get("/api/environments/gated", &s.admin_token).await.body;
    assert_eq!(env["controller"], "codedeploy");
    assert_eq!(env["approval_policy"]["required"], 0, "{env}");
    let moved = patch(json!({"controller": "ecs", "ecs_deployment":
        {"gates": [{"stage": "PRE_PRODUCTION_TRAFFIC_SHIFT"}]}}))
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);

    // The CLI sets and shows it; the settings card says it.
    let token = Some(s.admin_token.as_str());
    let changed = crate::cli::cli(
        &s,
        token,
        &[
            "env",
            "update",
            "gated",
            "--metric-gate-max-p99-ratio",
            "2",
            "--metric-gate-window",
            "3",
        ],
    )
    .await;
    assert_eq!(changed.code, Some(0), "{changed:?}");
    assert!(
        changed
            .stdout
            .contains("green p99 ≤ 2 × blue's, over 3 min of the hold"),
        "{}",
        changed.stdout
    );
    let usage = crate::cli::cli(
        &s,
        token,
        &["env", "update", "gated", "--metric-gate", "maybe"],
    )
    .await;
    assert_eq!(usage.code, Some(2), "{usage:?}");
    assert!(
        usage.stderr.contains("--metric-gate takes on or off"),
        "{usage:?}"
    );
    let session = Session::sign_in(&s, &s.admin_token).await;
    let (_, page) = session.page(&s, "/environments/gated").await;
    assert!(
        page.contains("<dt>Metric gate</dt><dd>on: green 5xx rate ≤ blue"),
        "{page}"
    );
    let off = patch(json!({"metric_gate": {"enabled": false}})).await;
    assert_eq!(off.body["metric_gate"]["enabled"], false);
    let kinds = s.event_kinds("gated").await;
    let changes = kinds
        .iter()
        .filter(|k| *k == "environment.metric_gate_changed")
        .count();
    assert_eq!(changes, 2, "{kinds:?}");
}
