//! Approvals from Slack: signed button clicks vote through the inbox's
//! rules, unsigned, stale, future and replayed ones change nothing, and the
//! message is redrawn with the tally at the click's response_url.

use crate::approvals::{pending_approval, start_as};
use crate::deployments::Env;
use crate::helpers::{Answer, BIN, TestServer};
use crate::notifications::{Received, receiver_answering, requests};
use axum::http::StatusCode as AxumStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use switchyard_domain::slack::{SigningSecret, signature_header};

const SECRET: &str = "test-signing-secret-0123456789";
const TEAM: &str = "T0SWITCH";

/// A response_url receiver on loopback: `/broken` answers 500, the rest 200.
async fn response_receiver() -> (String, Arc<Mutex<Received>>) {
    receiver_answering(|path, _| {
        if path == "broken" {
            AxumStatus::INTERNAL_SERVER_ERROR
        } else {
            AxumStatus::OK
        }
    })
    .await
}

/// The first body posted to `path`, waiting for it (bounded).
async fn posted(received: &Arc<Mutex<Received>>, path: &str) -> Value {
    requests(received, path, 1).await.remove(0)
}

/// The form body Slack posts when `slack_user` clicks `action` on approval `id`.
fn click(slack_user: &str, action: &str, id: i64, response_url: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": slack_user, "username": slack_user.to_lowercase(), "team_id": TEAM},
        "team": {"id": TEAM, "domain": "switchyard"},
        "api_app_id": "A0APP",
        "container": {"type": "message", "message_ts": "1.2"},
        "actions": [{"type": "button", "action_id": action, "value": id.to_string(),
                     "block_id": format!("switchyard-approval-{id}"), "action_ts": "1.3"}],
        "response_url": response_url,
    });
    format!("payload={}", form_encode(&payload.to_string()))
}

/// application/x-www-form-urlencoded, as Slack sends it.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Posts `body` to the hook, signed with `secret` at `timestamp` (unsigned
/// when `secret` is None).
async fn send(s: &TestServer, body: &str, secret: Option<&str>, timestamp: i64) -> Answer {
    let mut request = s
        .client()
        .post(s.url("/hooks/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(secret) = secret {
        let secret = SigningSecret::parse(secret).unwrap();
        request = request
            .header("X-Slack-Request-Timestamp", timestamp.to_string())
            .header(
                "X-Slack-Signature",
                signature_header(&secret, timestamp, body.as_bytes()),
            );
    }
    s.raw(request).await
}

async fn link(s: &TestServer, name: &str, slack_user: &str) {
    let linked = s
        .request(
            reqwest::Method::PUT,
            &format!("/api/users/{name}/slack-account"),
            Some(&s.admin_token),
            Some(json!({"team_id": TEAM, "user_id": slack_user})),
        )
        .await;
    assert_eq!(linked.status, StatusCode::OK, "{:?}", linked.body);
}

async fn votes(s: &TestServer, id: i64) -> Vec<Value> {
    let shown = s.get(&format!("/api/approvals/{id}"), &s.admin_token).await;
    shown.body["votes"].as_array().unwrap().clone()
}

fn assert_ephemeral(answer: &Answer, says: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(
        answer.body["response_type"], "ephemeral",
        "{:?}",
        answer.body
    );
    let text = answer.body["text"].as_str().unwrap();
    assert!(text.contains(says), "{text:?} does not say {says:?}");
}

#[tokio::test]
async fn approvals_from_slack_follow_the_inbox_rules_and_redraw_the_message() {
    let (url, received) = response_receiver().await;
    let e = Env::new_with_args(
        "chat",
        json!({"ready_wait_minutes": 60, "ready_action_on_timeout": "STOP_DEPLOYMENT",
               "approval_policy": {"required": 2},
               "notifications": [{"url": format!("{url}/notify"), "format": "slack"}]}),
        &["--slack-signing-secret", SECRET],
    )
    .await;
    let s = &e.s;
    let alice = s.user("alice", "approver").await;
    s.user("bob", "approver").await;
    s.user("carol", "approver").await;
    s.user("vic", "viewer").await;
    for (name, slack_user) in [("alice", "UALICE"), ("bob", "UBOB"), ("vic", "UVIC")] {
        link(s, name, slack_user).await;
    }
    // The CLI links too, on the data dir.
    let cli = std::process::Command::new(BIN)
        .args([
            "user",
            "link-slack",
            "carol",
            "--team",
            TEAM,
            "--user",
            "UCAROL",
        ])
        .arg("--data-dir")
        .arg(&s.data_dir)
        .output()
        .unwrap();
    assert!(cli.status.success(), "{cli:?}");

    let id = start_as(&e, &alice, "chat", "v1").await;
    e.wait(id, &["Ready"]).await;
    let approval_id = pending_approval(s, id).await["id"].as_i64().unwrap();
    let request = posted(&received, "notify").await;
    assert_eq!(
        request["blocks"][1]["elements"][0]["value"],
        approval_id.to_string(),
        "the Slack notification carries the buttons: {request}"
    );

    // Not from Slack: nothing changes.
    let approve = |user: &str, path: &str| {
        click(
            user,
            "switchyard.approve",
            approval_id,
            &format!("{url}/{path}"),
        )
    };
    let body = approve("UBOB", "r1");
    let refused = [
        send(s, &body, None, now()).await,
        send(s, &body, Some("not-the-signing-secret"), now()).await,
        send(s, &body, Some(SECRET), now() - 400).await,
        send(s, &body, Some(SECRET), now() + 400).await,
    ];
    for (case, answer) in ["unsigned", "bad signature", "stale", "future"]
        .iter()
        .zip(&refused)
    {
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {:?}",
            answer.body
        );
    }
    // Not allowed to vote: told privately, nothing changes.
    let unlinked = send(s, &approve("UERIN", "x"), Some(SECRET), now()).await;
    assert_ephemeral(&unlinked, "not linked");
    let own = send(s, &approve("UALICE", "x"), Some(SECRET), now()).await;
    assert_ephemeral(&own, "author");
    let viewer = send(s, &approve("UVIC", "x"), Some(SECRET), now()).await;
    assert_ephemeral(&viewer, "approver role");
    assert!(votes(s, approval_id).await.is_empty());

    // bob's click counts once; the replayed request does not.
    let at = now();
    let first = send(s, &body, Some(SECRET), at).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let redrawn = posted(&received, "r1").await;
    assert_eq!(redrawn["replace_original"], true, "{redrawn}");
    assert!(
        redrawn["text"]
            .as_str()
            .unwrap()
            .contains("1 of 2 approvals: bob"),
        "{redrawn}"
    );
    let replay = send(s, &body, Some(SECRET), at).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{:?}", replay.body);
    assert_eq!(votes(s, approval_id).await.len(), 1);

    // carol completes it; her message cannot be redrawn, the vote stands.
    let second = send(s, &approve("UCAROL", "broken"), Some(SECRET), now()).await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    posted(&received, "broken").await;
    let done = e.wait(id, &["Succeeded", "Failed", "Stopped"]).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    let late = send(s, &approve("UBOB", "x"), Some(SECRET), now()).await;
    assert_ephemeral(&late, "already approved");

    // A rejection from Slack, with its comment.
    let id = start_as(&e, &alice, "chat", "v2").await;
    e.wait(id, &["Ready"]).await;
    let rejected_id = pending_approval(s, id).await["id"].as_i64().unwrap();
    let reject = click(
        "UBOB",
        "switchyard.reject",
        rejected_id,
        &format!("{url}/r2"),
    );
    let answer = send(s, &reject, Some(SECRET), now()).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let redrawn = posted(&received, "r2").await;
    assert!(
        redrawn["text"]
            .as_str()
            .unwrap()
            .contains("Rejected by bob"),
        "{redrawn}"
    );
    let vote = &votes(s, rejected_id).await[0];
    assert_eq!(vote["comment"], "rejected from Slack by bob", "{vote}");
    let stopped = e.wait(id, &["Succeeded", "Failed", "Stopped"]).await;
    assert_ne!(stopped["status"], "Succeeded", "{stopped}");

    // The audit trail names the voters and the channel.
    let events = s
        .get("/api/environments/chat/events?limit=200", &s.admin_token)
        .await
        .body;
    let from_slack: Vec<(String, String)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "approval.vote")
        .map(|e| {
            assert_eq!(e["detail"]["via"], "slack", "{e}");
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["detail"]["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(from_slack.len(), 3, "{events}");
    for vote in [("bob", "approve"), ("carol", "approve"), ("bob", "reject")] {
        assert!(
            from_slack.contains(&(vote.0.to_owned(), vote.1.to_owned())),
            "{from_slack:?}"
        );
    }
}

#[tokio::test]
async fn linking_needs_an_admin_and_the_hook_is_off_without_a_secret() {
    let s = TestServer::spawn().await;
    let bob = s.user("bob", "approver").await;
    let path = "/api/users/bob/slack-account";
    let body = json!({"team_id": TEAM, "user_id": "UBOB"});
    let by_bob = s
        .request(reqwest::Method::PUT, path, Some(&bob), Some(body.clone()))
        .await;
    assert_eq!(by_bob.status, StatusCode::FORBIDDEN, "{:?}", by_bob.body);
    let bad = s
        .request(
            reqwest::Method::PUT,
            path,
            Some(&s.admin_token),
            Some(json!({"team_id": "nope", "user_id": "UBOB"})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "team_id")
    );
    link(&s, "bob", "UBOB").await;
    s.user("carol", "approver").await;
    let taken = s
        .request(
            reqwest::Method::PUT,
            "/api/users/carol/slack-account",
            Some(&s.admin_token),
            Some(body),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{:?}", taken.body);
    let unlinked = s.delete(path, &s.admin_token).await;
    assert_eq!(
        unlinked.status,
        StatusCode::NO_CONTENT,
        "{:?}",
        unlinked.body
    );
    let again = s.delete(path, &s.admin_token).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT, "{:?}", again.body);
    let nobody = s
        .delete("/api/users/nobody/slack-account", &s.admin_token)
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND, "{:?}", nobody.body);

    let off = send(
        &s,
        &click("UBOB", "switchyard.approve", 1, "http://127.0.0.1:9/x"),
        Some(SECRET),
        now(),
    )
    .await;
    assert_eq!(off.status, StatusCode::NOT_FOUND, "{:?}", off.body);
    assert!(
        off.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--slack-signing-secret"),
        "{:?}",
        off.body
    );
}
