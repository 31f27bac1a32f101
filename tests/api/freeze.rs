//! Freeze windows: a window around now refuses deployments with the time
//! it ends and writes nothing; an admin breaks the glass with a reason
//! (audited), anyone else may not; a pipeline run's approval is held until
//! the window goes; the CLI sets and shows the windows.

use crate::dashboard::Session;
use crate::deployments::{Env, provision};
use crate::helpers::TestServer;
use crate::paths::until_within;
use crate::pipelines::{finished_run, pending_approval};
use crate::repo::Repo;
use chrono::{Duration as Span, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

/// A one-off deny window in UTC from an hour ago to two hours on, whatever
/// the day, and the RFC 3339 time it ends.
fn window_around_now() -> (Value, String) {
    let minute = |at: chrono::DateTime<Utc>| at.format("%Y-%m-%dT%H:%M").to_string();
    let to = Utc::now() + Span::hours(2);
    let window = json!({"kind": "once", "mode": "deny", "time_zone": "UTC",
        "from": minute(Utc::now() - Span::hours(1)), "to": minute(to), "reason": "release freeze"});
    (window, format!("{}:00Z", minute(to)))
}

async fn patch(s: &TestServer, token: &str, body: Value) -> crate::helpers::Answer {
    s.request(
        Method::PATCH,
        "/api/environments/shop",
        Some(token),
        Some(body),
    )
    .await
}

async fn events(s: &TestServer) -> Vec<Value> {
    let page = s
        .get("/api/environments/shop/events?limit=200", &s.admin_token)
        .await;
    page.body["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_freeze_refuses_deploys_until_an_admin_breaks_the_glass() {
    let (window, until_text) = window_around_now();
    let e = Env::new("shop", json!({"freeze_windows": [window]})).await;
    let s = &e.s;
    let shown = s.get("/api/environments/shop", &s.admin_token).await.body;
    assert_eq!(shown["freeze"]["frozen"], true, "{shown}");
    assert_eq!(shown["freeze"]["until"], until_text.as_str(), "{shown}");
    assert_eq!(shown["freeze_windows"][0]["reason"], "release freeze");

    let before = s.event_count("shop").await;
    let refused = e.deploy("shop", "v1", None).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::CONFLICT, "frozen"),
        "{:?}",
        refused.body
    );
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&until_text) && message.contains("release freeze"),
        "{message}"
    );
    let dave = s.user("dave", "deployer").await;
    let body = json!({"image": e.image("v1"), "version": "v1",
                      "break_glass": {"reason": "hotfix"}});
    let forbidden = s
        .post("/api/environments/shop/deployments", &dave, body.clone())
        .await;
    assert_eq!(
        forbidden.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        forbidden.body
    );
    let not_admin = patch(s, &dave, json!({"freeze_windows": []})).await;
    assert_eq!(not_admin.status, StatusCode::FORBIDDEN);
    assert_eq!(
        s.event_count("shop").await,
        before,
        "a refusal wrote nothing"
    );
    let list = s
        .get("/api/environments/shop/deployments", &s.admin_token)
        .await;
    assert_eq!(list.body["deployments"], json!([]), "{:?}", list.body);

    let passed = s
        .post("/api/environments/shop/deployments", &s.admin_token, body)
        .await;
    assert_eq!(passed.status, StatusCode::CREATED, "{:?}", passed.body);
    let broken = events(s)
        .await
        .into_iter()
        .find(|ev| ev["kind"] == "environment.freeze_broken")
        .expect("the break is audited");
    assert_eq!(broken["detail"]["reason"], "hotfix", "{broken}");
    assert_eq!(broken["detail"]["until"], until_text.as_str(), "{broken}");
    assert_eq!(broken["actor"], "admin", "{broken}");
    let id = passed.body["id"].as_i64().unwrap();
    e.wait(id, &["Succeeded"]).await;

    let dashboard = Session::sign_in(s, &s.admin_token).await;
    let (status, page) = dashboard.page(s, "/environments/shop").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("freeze-banner") && page.contains(&until_text),
        "the environment page shows the freeze: {page}"
    );
    assert!(
        page.contains("deny once"),
        "the settings card lists the window"
    );
    let (_, page) = dashboard.page(s, &format!("/deployments/{id}")).await;
    assert!(page.contains("freeze-banner"), "{page}");
}

#[tokio::test]
async fn windows_are_parsed_and_audited_with_old_and_new() {
    let s = TestServer::spawn().await;
    s.environment("shop").await;
    let bad = patch(
        &s,
        &s.admin_token,
        json!({"freeze_windows": [{"kind": "weekly", "time_zone": "Mars/Olympus",
                                   "from": "Fri 16:00", "to": "Mon 08:00"}]}),
    )
    .await;
    assert_eq!(
        (bad.status, bad.field()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "freeze_windows[0].time_zone"
        ),
        "{:?}",
        bad.body
    );
    let (window, _) = window_around_now();
    let set = patch(&s, &s.admin_token, json!({"freeze_windows": [window]})).await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    let cleared = patch(&s, &s.admin_token, json!({"freeze_windows": []})).await;
    assert_eq!(
        cleared.body["freeze"]["frozen"], false,
        "{:?}",
        cleared.body
    );
    let changes: Vec<Value> = events(&s)
        .await
        .into_iter()
        .filter(|ev| ev["kind"] == "environment.freeze_changed")
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0]["detail"]["new"], json!([]));
    assert_eq!(changes[0]["detail"]["old"][0]["reason"], "release freeze");
}

#[tokio::test]
async fn a_pipeline_runs_deploy_stage_is_held_while_frozen() {
    let s = TestServer::spawn_with(&["--time-scale", "60"]).await;
    let repo = Repo::new(&s.url("/hooks/github"), "carol");
    let (commit, _) = repo.push_page("<h1>frozen</h1>\n", "A release during the freeze");
    let (window, until_text) = window_around_now();
    let created = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "shop", "platform": "local", "termination_wait_minutes": 1,
                   "container": {"desired_count": 1},
                   "source": {"repo": repo.bare.to_str().unwrap(), "branch": "main"},
                   "approval_policy": {"required": 1}, "freeze_windows": [window]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    provision(&s, "shop").await;
    let alice = s.user("alice", "approver").await;
    let started = s
        .post(
            "/api/environments/shop/pipeline/runs",
            &s.admin_token,
            json!({"commit": commit}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    let run_id = started.body["id"].as_i64().unwrap();
    let approval = pending_approval(&s, run_id).await;
    let id = approval["id"].as_i64().unwrap();
    let vote = s
        .post(
            &format!("/api/approvals/{id}/decisions"),
            &alice,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(vote.status, StatusCode::OK, "{:?}", vote.body);
    let held = until_within(&s, &format!("/api/approvals/{id}"), WAIT, |a| {
        a["apply_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("held: frozen until"))
    })
    .await;
    let held = held["apply_error"].as_str().unwrap();
    assert!(held.contains(&until_text), "{held}");
    // Held through a few of the tracker's retries: Deploy never starts.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let run_path = format!("/api/pipeline-runs/{run_id}");
    let shown = s.get(&run_path, &s.admin_token).await.body;
    assert_eq!(shown["status"], "InProgress", "{shown}");
    assert!(shown["deployment_id"].is_null(), "{shown}");

    let cleared = patch(&s, &s.admin_token, json!({"freeze_windows": []})).await;
    assert_eq!(cleared.status, StatusCode::OK, "{:?}", cleared.body);
    let done = finished_run(&s, run_id).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert!(done["deployment_id"].is_i64(), "{done}");
}

#[tokio::test]
async fn the_cli_sets_and_shows_freeze_windows() {
    let s = TestServer::spawn().await;
    s.environment("shop").await;
    let (window, until_text) = window_around_now();
    let file = s.data_dir.join("freeze.json");
    std::fs::write(&file, json!([window]).to_string()).unwrap();
    let cli = async |args: &[&str]| {
        let output = tokio::process::Command::new(crate::helpers::BIN)
            .args(args)
            .env("SWITCHYARD_URL", &s.base)
            .env("SWITCHYARD_TOKEN", &s.admin_token)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(output.status.success(), "{args:?}: {stdout}{stderr}");
        stdout
    };
    let at_file = format!("@{}", file.display());
    cli(&["env", "update", "shop", "--freeze-json", &at_file]).await;
    let shown = cli(&["env", "show", "shop"]).await;
    assert!(
        shown.contains(&format!("frozen until {until_text}")) && shown.contains("release freeze"),
        "{shown}"
    );
    assert!(shown.contains("deny once"), "{shown}");
    cli(&["env", "update", "shop", "--freeze-json", "[]"]).await;
    let shown = cli(&["env", "show", "shop"]).await;
    assert!(
        shown
            .lines()
            .any(|l| l.contains("freeze") && l.contains("open")),
        "{shown}"
    );
}
