//! The server as people really start it: a relative data dir (the README's
//! own `--data-dir ./switchyard-data`), and an executable that an upgrade
//! replaces while the server runs.

use crate::deployments::provision;
use crate::helpers::{BIN, TestServer};
use crate::repo::Repo;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn until(s: &TestServer, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    until_within(s, path, Duration::from_secs(90), done).await
}

/// GETs `path` as admin until `done` holds for its body; fails after `limit`.
pub async fn until_within(
    s: &TestServer,
    path: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let body = s.get(path, &s.admin_token).await.body;
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never got there: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for deployment `id` to end, which must be in success, with `prod`
/// serving `text`.
pub async fn succeeds_and_serves(s: &TestServer, id: i64, prod: &str, text: &str) {
    let deployment = until(s, &format!("/api/deployments/{id}"), |d| {
        matches!(
            d["status"].as_str(),
            Some("Succeeded" | "Failed" | "Stopped")
        )
    })
    .await;
    assert_eq!(deployment["status"], "Succeeded", "{deployment}");
    let page = s
        .client()
        .get(prod)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(text), "{page}");
}

#[tokio::test]
async fn a_pipeline_runs_from_push_to_production_with_a_relative_data_dir() {
    let cwd = tempfile::tempdir().unwrap();
    let data_dir = cwd.path().join("switchyard-data");
    let s = TestServer::start_binary(
        std::path::Path::new(BIN),
        Some(cwd.path()),
        &data_dir,
        &["--time-scale", "60"],
        &[],
    )
    .await;
    let repo = Repo::new(&s.url("/hooks/github"), "carol");
    let created = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "shop", "platform": "local", "termination_wait_minutes": 0,
                   "source": {"repo": repo.bare.to_str().unwrap(), "branch": "main"},
                   "webhook_secret": crate::repo::SECRET, "approval_policy": {"required": 0}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let prod = provision(&s, "shop").await["outputs"]["prod_url"]
        .as_str()
        .unwrap()
        .to_owned();

    let (commit, printed) = repo.push_page("<h1>relative</h1>\n", "From a relative data dir");
    assert!(
        printed.contains("switchyard: 202"),
        "the hook said: {printed}"
    );
    let runs = until(&s, "/api/environments/shop/pipeline/runs", |runs| {
        runs["runs"].as_array().is_some_and(|runs| {
            runs.iter()
                .any(|r| r["commit"]["sha"] == commit.as_str() && r["status"] != "InProgress")
        })
    })
    .await;
    let run = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["commit"]["sha"] == commit.as_str())
        .unwrap()
        .clone();
    assert_eq!(run["status"], "Succeeded", "{run}");
    let deployment_id = run["deployment_id"].as_i64().expect("the run deployed");
    succeeds_and_serves(&s, deployment_id, &prod, "<h1>relative</h1>").await;
}

#[tokio::test]
async fn new_tasks_start_after_the_servers_executable_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("switchyard");
    std::fs::copy(BIN, &binary).unwrap();
    let s = TestServer::start_binary(
        &binary,
        None,
        &dir.path().join("data"),
        &["--time-scale", "60"],
        &[],
    )
    .await;
    // An upgrade: the file is replaced by another program while the server runs.
    std::fs::remove_file(&binary).unwrap();
    std::fs::write(&binary, "#!/bin/sh\nexit 3\n").unwrap();

    s.post(
        "/api/environments",
        &s.admin_token,
        json!({"name": "upgraded", "platform": "local", "termination_wait_minutes": 0}),
    )
    .await;
    let stack = provision(&s, "upgraded").await;
    let prod = stack["outputs"]["prod_url"].as_str().unwrap().to_owned();
    let image = s.write_site("v1");
    let started = s
        .post(
            "/api/environments/upgraded/deployments",
            &s.admin_token,
            json!({"image": image, "version": "v1"}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    let id = started.body["id"].as_i64().unwrap();
    succeeds_and_serves(&s, id, &prod, "<h1>v1</h1>").await;
}
