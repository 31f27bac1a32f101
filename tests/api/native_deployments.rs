//! Deployments of an environment whose controller is ECS's own, end to end
//! on the embedded local cloud: provisioned with the ECS controller,
//! deployed by UpdateService, held by the environment's PAUSE gate,
//! continued, stopped and rolled back from the API, with production loaded
//! all along.

use crate::approvals::{pending_approval, vote};
use crate::dashboard::Session;
use crate::deployments::{Env, provision, until_only_served};
use crate::helpers::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// ECS settings: LINEAR 25 % a minute, a minute's bake, a gate before the
/// production shift that times out after `gate_minutes` with ROLLBACK.
fn linear_with_gate(gate_minutes: u32) -> Value {
    json!({
        "strategy": "LINEAR",
        "linear": {"step_percent": 25, "step_bake_minutes": 1},
        "bake_time_minutes": 1,
        "gates": [{"timeout_minutes": gate_minutes}]
    })
}

/// A server at time scale 60 with a provisioned local environment on ECS's
/// controller, deploying `linear_with_gate(600)`; `extra` adds to its body.
async fn native_env(extra: Value) -> Env {
    let s = TestServer::spawn_with(&["--time-scale", "60"]).await;
    let body = json!({
        "name": "native",
        "platform": "local",
        "container": {"desired_count": 2},
        "controller": "ecs",
        "ecs_deployment": linear_with_gate(600),
    });
    let body = crate::helpers::with_fields(body, &extra);
    let created = s.post("/api/environments", &s.admin_token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let stack = provision(&s, "native").await;
    for v in ["v1", "v2", "v3"] {
        s.write_site(v);
    }
    Env {
        prod_url: stack["outputs"]["prod_url"].as_str().unwrap().to_owned(),
        s,
    }
}

impl Env {
    async fn act(&self, id: i64, action: &str, body: Value) -> Value {
        let answer = self
            .s
            .post(
                &format!("/api/deployments/{id}/{action}"),
                &self.s.admin_token,
                body,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{action}: {:?}", answer.body);
        answer.body
    }

    /// Starts `version` and waits until the gate holds it.
    async fn deploy_to_gate(&self, version: &str) -> i64 {
        self.deploy_to_gate_as(&self.s.admin_token, version).await
    }

    async fn deploy_to_gate_as(&self, token: &str, version: &str) -> i64 {
        let started = self
            .s
            .post(
                "/api/environments/native/deployments",
                token,
                json!({"image": self.image(version), "version": version}),
            )
            .await;
        assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
        assert_eq!(started.body["controller"], "ecs");
        assert!(
            started.body["service_deployment_arn"]
                .as_str()
                .is_some_and(|arn| arn.contains(":service-deployment/")),
            "{:?}",
            started.body
        );
        assert_eq!(started.body["deployment_config"], "LINEAR: 25% every 1 min");
        let id = started.body["id"].as_i64().unwrap();
        let held = self.wait(id, &["Ready"]).await;
        assert_eq!(held["ecs_status"], "IN_PROGRESS", "{held}");
        let hook = &held["hooks"][0];
        assert_eq!(hook["target_type"], "PAUSE", "{held}");
        assert_eq!(hook["status"], "AWAITING_ACTION", "{held}");
        assert_eq!(hook["timeout_action"], "ROLLBACK", "{held}");
        assert!(hook["expires_at"].is_string(), "{held}");
        assert_eq!(held["green_weight"], 0.0, "the gate holds production");
        id
    }

    /// Polls until `ready` says the deployment is there (bounded).
    async fn until(&self, id: i64, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let d = self
                .s
                .get(&format!("/api/deployments/{id}"), &self.s.admin_token)
                .await
                .body;
            if ready(&d) {
                return d;
            }
            assert!(Instant::now() < deadline, "not {what}: {d}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn weights(d: &Value) -> Vec<f64> {
    d["traffic_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["green_weight"].as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn an_ecs_environment_deploys_linearly_past_its_gate_and_rolls_back_with_zero_failed_requests()
 {
    let e = native_env(json!({})).await;

    // CodeDeploy's configs are not ECS's: refused, and nothing starts.
    let refused = e
        .deploy("native", "v1", Some("CodeDeployDefault.ECSAllAtOnce"))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.field(), "deployment_config");
    let listed =
        e.s.get("/api/environments/native/deployments", &e.s.admin_token)
            .await;
    assert_eq!(listed.body["deployments"], json!([]), "nothing was started");

    // The first release waits at the gate like any other, then goes live.
    let first = e.deploy_to_gate("v1").await;
    let continued = e.act(first, "continue", json!({"wait": "ready"})).await;
    assert_eq!(continued["id"], first);
    let v1 = e.wait(first, &["Succeeded"]).await;
    assert_eq!(v1["ecs_status"], "SUCCESSFUL");
    assert_eq!(v1["green_weight"], 100.0);
    assert!(e.serving().await.contains("v1"));

    // v2 shifts in 25 % steps while production is loaded.
    let load = e.load(Duration::from_secs(12), 4);
    let second = e.deploy_to_gate("v2").await;
    let terminate =
        e.s.post(
            &format!("/api/deployments/{second}/continue"),
            &e.s.admin_token,
            json!({"wait": "termination"}),
        )
        .await;
    assert_eq!(
        terminate.status,
        StatusCode::CONFLICT,
        "{:?}",
        terminate.body
    );
    e.act(second, "continue", json!({"wait": "ready"})).await;
    let done = e.wait(second, &["Succeeded"]).await;
    let result = load.await.unwrap();
    assert_eq!(result.errors, 0, "failed requests during the shift");
    assert!(result.ok > 50, "{result:?}");
    assert!(e.serving().await.contains("v2"));
    let seen = weights(&done);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    for step in [25.0, 50.0, 75.0, 100.0] {
        assert!(seen.contains(&step), "the {step} % step: {seen:?}");
    }
    // The stages ECS went through are the deployment's lifecycle rows.
    let stages: Vec<&str> = done["lifecycle_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["status"], "Succeeded", "{s}");
            s["name"].as_str().unwrap()
        })
        .collect();
    for stage in [
        "SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "BAKE_TIME",
    ] {
        assert!(stages.contains(&stage), "{stage} in {stages:?}");
    }
    assert_eq!(done["hooks"][0]["status"], "SUCCEEDED", "{done}");
    // The plan is the strategy's, in schedule time.
    assert_eq!(
        done["planned_schedule"],
        json!([
            {"offset_seconds": 0, "green_weight": 25.0},
            {"offset_seconds": 60, "green_weight": 50.0},
            {"offset_seconds": 120, "green_weight": 75.0},
            {"offset_seconds": 180, "green_weight": 100.0},
        ])
    );
    assert_eq!(done["task_sets"]["green"]["traffic_weight"], 100.0);

    // The page shows the stages, the revisions and what the gate waits for;
    // rolled back from it, ECS is told to continue with ROLLBACK.
    let third = e.deploy_to_gate("v3").await;
    let session = Session::sign_in(&e.s, &e.s.admin_token).await;
    let (status, page) = session.page(&e.s, &format!("/deployments/{third}")).await;
    assert_eq!(status, StatusCode::OK);
    for text in [
        "Stages",
        "Service revisions",
        "PRODUCTION_TRAFFIC_SHIFT",
        "Held by a PAUSE hook until",
        "then ROLLBACK",
        ">Continue<",
        "IN_PROGRESS",
        "class=\"planned\"",
        "Plan: LINEAR: 25% every 1 min",
    ] {
        assert!(page.contains(text), "{text:?} on the page:\n{page}");
    }
    assert!(!page.contains("Terminate original"), "{page}");
    let rolled = session
        .post(&e.s, &format!("/deployments/{third}/rollback"))
        .form(&[("csrf", session.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(rolled.status(), StatusCode::SEE_OTHER);
    let rejected = e.wait(third, &["Stopped", "Failed"]).await;
    assert_eq!(rejected["status"], "Stopped", "{rejected}");
    assert_eq!(rejected["rolled_back"], true);
    assert_eq!(rejected["ecs_status"], "ROLLBACK_SUCCESSFUL");
    assert!(e.serving().await.contains("v2"));

    // Stopped mid-shift: all traffic returns to v2, no request fails.
    let load = e.load(Duration::from_secs(8), 4);
    let again = e.deploy_to_gate("v3").await;
    e.act(again, "continue", json!({"wait": "ready"})).await;
    e.until(again, "part-way shifted", |d| {
        d["green_weight"]
            .as_f64()
            .is_some_and(|w| w > 0.0 && w < 100.0)
    })
    .await;
    e.act(again, "rollback", json!({})).await;
    let stopped = e.wait(again, &["Stopped", "Failed"]).await;
    assert_eq!(stopped["rolled_back"], true, "{stopped}");
    assert!(e.serving().await.contains("v2"));
    let result = load.await.unwrap();
    assert_eq!(result.errors, 0, "failed requests around the stop");

    // The environment's rollback goes back to v1 at once, without the gate.
    let back =
        e.s.post(
            "/api/environments/native/rollback",
            &e.s.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(back.status, StatusCode::CREATED, "{:?}", back.body);
    assert_eq!(back.body["release"]["version"], "v1");
    assert_eq!(back.body["deployment_config"], "BLUE_GREEN: all at once");
    let id = back.body["id"].as_i64().unwrap();
    e.wait(id, &["Succeeded"]).await;
    assert!(e.serving().await.contains("v1"));

    // The audit trail tells it as ECS reported it.
    let kinds = e.s.event_kinds("native").await;
    for kind in [
        "deployment.started",
        "deployment.hook",
        "deployment.continued",
        "deployment.rollback_requested",
        "deployment.lifecycle",
        "deployment.traffic",
        "deployment.status",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

#[tokio::test]
async fn a_pause_gate_waits_for_two_of_three_approvers_and_a_rejection_or_its_timeout_rolls_back() {
    let e = native_env(json!({"approval_policy": {"required": 2}})).await;
    let s = &e.s;
    let ann = s.user("ann", "approver").await;
    let bob = s.user("bob", "approver").await;
    let cy = s.user("cy", "approver").await;

    // ann's release waits at the gate for two approvers other than ann.
    let first = e.deploy_to_gate_as(&ann, "v1").await;
    let approval = pending_approval(s, first).await;
    let approval_id = approval["id"].as_i64().unwrap();
    let held = e.wait(first, &["Ready"]).await;
    assert_eq!(
        approval["hook_id"], held["hooks"][0]["hook_id"],
        "{approval}"
    );
    assert_eq!(approval["timeout_action"], "ROLLBACK", "{approval}");
    assert_eq!(approval["expires_at"], held["hooks"][0]["expires_at"]);
    assert_eq!(
        (approval["author"].as_str(), approval["required"].as_i64()),
        (Some("ann"), Some(2))
    );
    let own = vote(s, &ann, approval_id, "approve", "mine").await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{:?}", own.body);
    let around = s
        .post(
            &format!("/api/deployments/{first}/continue"),
            &s.admin_token,
            json!({"wait": "ready"}),
        )
        .await;
    assert_eq!(around.status, StatusCode::CONFLICT, "{:?}", around.body);
    let one = vote(s, &bob, approval_id, "approve", "checked the test URL").await;
    assert_eq!(
        (one.body["state"].as_str(), one.body["remaining"].as_i64()),
        (Some("pending"), Some(1))
    );
    assert_eq!(
        e.wait(first, &["Ready"]).await["green_weight"],
        0.0,
        "one vote moves nothing"
    );

    // The deciding vote continues the gate; production shifts with no failure.
    let load = e.load(Duration::from_secs(8), 4);
    let two = vote(s, &cy, approval_id, "approve", "").await;
    assert_eq!(two.body["state"], "approved", "{:?}", two.body);
    let done = e.wait(first, &["Succeeded"]).await;
    assert_eq!(done["hooks"][0]["status"], "SUCCEEDED");
    let result = load.await.unwrap();
    assert_eq!(result.errors, 0, "failed requests during the shift");
    assert!(e.serving().await.contains("v1"));
    let decided = s
        .get(&format!("/api/approvals/{approval_id}"), &s.admin_token)
        .await
        .body;
    assert!(decided["applied_at"].is_string(), "{decided}");

    // A rejection continues the gate with ROLLBACK.
    let second = e.deploy_to_gate_as(&ann, "v2").await;
    let approval_id = pending_approval(s, second).await["id"].as_i64().unwrap();
    let no = vote(s, &bob, approval_id, "reject", "the test URL answers 500").await;
    assert_eq!(no.body["state"], "rejected", "{:?}", no.body);
    let rejected = e.wait(second, &["Stopped", "Failed"]).await;
    assert_eq!(
        (
            rejected["status"].as_str(),
            rejected["rolled_back"].as_bool()
        ),
        (Some("Stopped"), Some(true)),
        "{rejected}"
    );
    assert!(e.serving().await.contains("v1"));

    // Nobody decides: the gate times out after a (scaled) minute and ECS
    // rolls back; the approval closes, saying so.
    let changed = s
        .request(
            reqwest::Method::PATCH,
            "/api/environments/native",
            Some(&s.admin_token),
            Some(json!({"ecs_deployment": linear_with_gate(1)})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let third = e.deploy_to_gate_as(&ann, "v3").await;
    let approval_id = pending_approval(s, third).await["id"].as_i64().unwrap();
    let timed_out = e.wait(third, &["Stopped", "Failed"]).await;
    assert_eq!(
        (
            timed_out["status"].as_str(),
            timed_out["rolled_back"].as_bool()
        ),
        (Some("Failed"), Some(true)),
        "{timed_out}"
    );
    assert_eq!(timed_out["hooks"][0]["status"], "TIMED_OUT", "{timed_out}");
    assert!(e.serving().await.contains("v1"));
    let closed = s
        .get(&format!("/api/approvals/{approval_id}"), &s.admin_token)
        .await
        .body;
    assert_eq!(closed["state"], "closed", "{closed}");
    let trail = s
        .get("/api/environments/native/events?limit=200", &s.admin_token)
        .await
        .body;
    let reason = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ev| ev["kind"] == "approval.closed" && ev["detail"]["approval_id"] == approval_id)
        .map(|ev| ev["detail"]["reason"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no approval.closed for {approval_id}: {trail}"));
    assert!(
        reason.contains("timed out") && reason.contains("ROLLBACK"),
        "{reason}"
    );
    let late = vote(s, &bob, approval_id, "approve", "").await;
    assert_eq!(
        late.status,
        StatusCode::CONFLICT,
        "a closed gate takes no votes: {:?}",
        late.body
    );
}

#[tokio::test]
async fn a_killed_control_plane_loses_no_step_of_a_service_deployment() {
    let dir = tempfile::tempdir().unwrap();
    // The local cloud runs on its own, so killing the control plane leaves it be.
    let (mut cloud, cloud_url) =
        crate::helpers::standalone_local_cloud(&dir.path().join("cloud"), "60").await;
    let data = dir.path().join("server");
    let s = TestServer::start(&data, &["--localcloud-url", &cloud_url]).await;
    let created = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "native", "platform": "local", "controller": "ecs",
                   "ecs_deployment": {"strategy": "LINEAR", "linear": {"step_percent": 10, "step_bake_minutes": 1},
                                      "bake_time_minutes": 0, "gates": []}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let prod_url = provision(&s, "native").await["outputs"]["prod_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = Env { s, prod_url };
    let deploy = |version: &'static str| {
        let e = &e;
        async move {
            let image = e.s.write_site(version);
            let started =
                e.s.post(
                    "/api/environments/native/deployments",
                    &e.s.admin_token,
                    json!({"image": image, "version": version}),
                )
                .await;
            assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
            started.body["id"].as_i64().unwrap()
        }
    };
    let first = deploy("v1").await;
    e.wait(first, &["Succeeded"]).await;
    let id = deploy("v2").await;
    let at_kill = e
        .until(id, "20 % shifted", |d| {
            d["green_weight"].as_f64().unwrap_or(0.0) >= 20.0
        })
        .await["green_weight"]
        .as_f64()
        .unwrap();

    // kill -9 mid-shift; production keeps answering and the shift completes.
    let Env { s, prod_url } = e;
    let mut server = s;
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    until_only_served(&prod_url, "v2").await;
    drop(server);

    // The restarted tracker records the steps it missed, each at the time
    // the plan puts it: a second (a minute at time scale 60) apart.
    let restarted = TestServer::start(&data, &["--localcloud-url", &cloud_url]).await;
    let e = Env {
        s: restarted,
        prod_url,
    };
    let d = e.wait(id, &["Succeeded"]).await;
    let millis = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let samples: Vec<(i64, f64)> = d["traffic_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (millis(&s["at"]), s["green_weight"].as_f64().unwrap()))
        .collect();
    assert!(
        samples.windows(2).all(|w| w[0].1 <= w[1].1),
        "weights only grow: {samples:?}"
    );
    let first_step = samples
        .iter()
        .find(|(_, w)| *w == 10.0)
        .expect("the 10 % step")
        .0;
    for step in 1..=10 {
        let weight = f64::from(step * 10);
        let (at, _) = samples
            .iter()
            .find(|(_, w)| *w == weight)
            .unwrap_or_else(|| panic!("no sample at {weight} %: {samples:?}"));
        if weight > at_kill {
            let due = first_step + i64::from(step - 1) * 1000;
            assert!(
                (at - due).abs() <= 250,
                "the {weight} % step is dated {at}, due {due}: {samples:?}"
            );
        }
    }
    let trail =
        e.s.get(
            "/api/environments/native/events?limit=200",
            &e.s.admin_token,
        )
        .await
        .body;
    let mut shifts: Vec<f64> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ev| ev["deployment_id"] == id && ev["kind"] == "deployment.traffic")
        .map(|ev| ev["detail"]["green_weight"].as_f64().unwrap())
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
async fn a_codedeploy_environment_moves_to_ecs_own_controller_with_zero_failed_requests() {
    let e = Env::new("moving", json!({})).await;
    let first = e.deploy("moving", "v1", None).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let v1 = first.body["id"].as_i64().unwrap();
    e.wait(v1, &["Succeeded"]).await;
    assert!(e.serving().await.contains("v1"));
    let migrate = |body: Value| {
        e.s.post("/api/environments/moving/migrate", &e.s.admin_token, body)
    };

    // What cannot move is refused, and changes nothing.
    let back = migrate(json!({"to": "codedeploy"})).await;
    assert_eq!(
        back.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        back.body
    );
    assert_eq!(back.field(), "to");
    let bad = migrate(json!({"to": "ecs", "ecs_deployment": {"strategy": "LINEAR",
        "linear": {"step_percent": 1}}}))
    .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        bad.body
    );
    assert_eq!(bad.field(), "ecs_deployment.linear.step_percent");
    let busy = e.deploy("moving", "v2", None).await;
    let busy_id = busy.body["id"].as_i64().unwrap();
    let refused = migrate(json!({"to": "ecs"})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    e.wait(busy_id, &["Succeeded"]).await;
    let deployer = e.s.user("dee", "deployer").await;
    let forbidden =
        e.s.post(
            "/api/environments/moving/migrate",
            &deployer,
            json!({"to": "ecs"}),
        )
        .await;
    assert_eq!(
        forbidden.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        forbidden.body
    );

    // The move itself, from the CLI, with production loaded.
    let load = e.load(Duration::from_secs(6), 4);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let moved = crate::cli::cli(
        &e.s,
        Some(&e.s.admin_token),
        &[
            "env",
            "migrate",
            "moving",
            "--to",
            "ecs",
            "--strategy",
            "LINEAR",
            "--step-percent",
            "50",
            "--step-bake-minutes",
            "1",
            "--bake-minutes",
            "1",
            "--no-gates",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(moved.code, Some(0), "{}{}", moved.stdout, moved.stderr);
    let env: Value = serde_json::from_str(&moved.stdout).unwrap();
    assert_eq!(env["controller"], "ecs", "{env}");
    assert_eq!(env["ecs_deployment"]["strategy"], "LINEAR", "{env}");
    assert!(env["resources"]["deployment_group"].is_null(), "{env}");
    let result = load.await.unwrap();
    assert_eq!(
        result.errors, 0,
        "failed requests during the move: {result:?}"
    );
    assert!(result.ok > 50, "{result:?}");
    assert!(
        e.serving().await.contains("v2"),
        "the move kept the release"
    );

    // The next release goes through ECS's controller, by the new settings.
    let third = e.deploy("moving", "v3", None).await;
    assert_eq!(third.status, StatusCode::CREATED, "{:?}", third.body);
    assert_eq!(third.body["controller"], "ecs");
    let done = e
        .wait(third.body["id"].as_i64().unwrap(), &["Succeeded"])
        .await;
    assert!(weights(&done).contains(&50.0), "{done}");
    until_only_served(&e.prod_url, "v3").await;
    let again = migrate(json!({"to": "ecs"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    let kinds = e.s.event_kinds("moving").await;
    assert!(
        kinds.iter().any(|k| k == "environment.migrated"),
        "{kinds:?}"
    );
}
