//! Outgoing notifications: generic JSON and Slack bodies on approval
//! requested and deployment outcomes, with a link, retried when the
//! receiver fails.

use crate::deployments::Env;
use axum::extract::{Path, State};
use axum::http::StatusCode as AxumStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct Received {
    /// (path, body) of every request, failed ones too.
    requests: Vec<(String, Value)>,
}

/// A receiver on loopback that fails each path's first request with 503.
pub(crate) async fn receiver() -> (String, Arc<Mutex<Received>>) {
    receiver_answering(|path, r| {
        if r.requests.iter().any(|(p, _)| p == path) {
            AxumStatus::OK
        } else {
            AxumStatus::SERVICE_UNAVAILABLE
        }
    })
    .await
}

/// A receiver on loopback that records every request and answers what
/// `answer` says, given the path and what came before.
pub(crate) async fn receiver_answering(
    answer: fn(&str, &Received) -> AxumStatus,
) -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let app = axum::Router::new()
        .route(
            "/{path}",
            axum::routing::post(
                move |State(r): State<Arc<Mutex<Received>>>,
                      Path(path): Path<String>,
                      body: String| async move {
                    let mut r = r.lock().unwrap();
                    let status = answer(&path, &r);
                    r.requests
                        .push((path, serde_json::from_str(&body).unwrap_or(Value::Null)));
                    status
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// Every body sent to `path` (answered or not), once there are `n`.
pub(crate) async fn requests(received: &Arc<Mutex<Received>>, path: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        {
            let r = received.lock().unwrap();
            let all: Vec<Value> = r
                .requests
                .iter()
                .filter(|(p, _)| p == path)
                .map(|(_, b)| b.clone())
                .collect();
            if all.len() >= n {
                return all;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{path} got fewer than {n} requests"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bodies delivered to `path` (answered 200), once there are `n`.
pub(crate) async fn delivered(received: &Arc<Mutex<Received>>, path: &str, n: usize) -> Vec<Value> {
    // The first request to each path failed; the rest were delivered.
    requests(received, path, n + 1).await[1..].to_vec()
}

#[tokio::test]
async fn approvals_and_outcomes_are_announced_and_a_failed_delivery_is_retried() {
    let (url, received) = receiver().await;
    let e = Env::new(
        "noisy",
        json!({"ready_wait_minutes": 60, "ready_action_on_timeout": "STOP_DEPLOYMENT",
               "approval_policy": {"required": 1},
               "notifications": [{"url": format!("{url}/generic")},
                                 {"url": format!("{url}/slack"), "format": "slack"}]}),
    )
    .await;
    let s = &e.s;
    let shown = s.get("/api/environments/noisy", &s.admin_token).await.body;
    assert_eq!(
        shown["notifications"][0]["url"],
        format!("{url}/…"),
        "URLs are shown without their path: {shown}"
    );
    let bob = s.user("bob", "approver").await;

    let started = e.deploy("noisy", "v1", None).await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    let id = started.body["id"].as_i64().unwrap();
    // The first attempt gets a 503; the retry a second later gets through.
    let first = Instant::now();
    let requested = &delivered(&received, "generic", 1).await[0];
    assert!(
        first.elapsed() >= Duration::from_millis(900),
        "retried too soon"
    );
    assert_eq!(requested["event"], "approval.requested", "{requested}");
    assert_eq!(requested["environment"], "noisy");
    let approval_id = requested["approval_id"].as_i64().unwrap();
    assert!(
        requested["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/approvals/{approval_id}")),
        "{requested}"
    );
    let slack = &delivered(&received, "slack", 1).await[0];
    assert!(
        slack["text"].as_str().unwrap().contains("needs 1 approval"),
        "{slack}"
    );
    assert!(
        slack["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("|Open in switchyard>"),
        "{slack}"
    );

    let vote = s
        .post(
            &format!("/api/approvals/{approval_id}/decisions"),
            &bob,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(vote.status, StatusCode::OK, "{:?}", vote.body);
    e.wait(id, &["Succeeded"]).await;
    let succeeded = &delivered(&received, "generic", 2).await[1];
    assert_eq!(succeeded["event"], "deployment.succeeded", "{succeeded}");
    assert_eq!(succeeded["deployment_id"], id);
    assert!(
        succeeded["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/deployments/{id}"))
    );

    let second = e.deploy("noisy", "v2", None).await.body["id"]
        .as_i64()
        .unwrap();
    let requested = &delivered(&received, "generic", 3).await[2];
    let approval_id = requested["approval_id"].as_i64().unwrap();
    s.post(
        &format!("/api/approvals/{approval_id}/decisions"),
        &bob,
        json!({"decision": "reject", "comment": "no"}),
    )
    .await;
    e.wait(second, &["Stopped", "Failed"]).await;
    let rolled_back = &delivered(&received, "generic", 4).await[3];
    assert_eq!(
        rolled_back["event"], "deployment.rolled_back",
        "{rolled_back}"
    );
}
