//! Team release approvals on deployments held in Ready: votes, the author
//! rule, one rejection, and what each decision does to production.

use crate::deployments::Env;
use crate::helpers::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The approval opened for a deployment, once it is pending.
pub(crate) async fn pending_approval(s: &TestServer, deployment_id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = s.get("/api/approvals?state=pending", &s.admin_token).await;
        assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
        if let Some(a) = list.body["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["deployment_id"] == deployment_id)
        {
            return a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no approval opened for deployment {deployment_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn vote(
    s: &TestServer,
    token: &str,
    id: i64,
    decision: &str,
    comment: &str,
) -> crate::helpers::Answer {
    s.post(
        &format!("/api/approvals/{id}/decisions"),
        token,
        json!({"decision": decision, "comment": comment}),
    )
    .await
}

pub(crate) async fn start_as(e: &Env, token: &str, env: &str, version: &str) -> i64 {
    let started =
        e.s.post(
            &format!("/api/environments/{env}/deployments"),
            token,
            json!({"image": e.image(version), "version": version}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    started.body["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_release_held_in_ready_needs_two_approvers_other_than_its_author() {
    let e = Env::new(
        "gated",
        json!({"ready_wait_minutes": 60, "ready_action_on_timeout": "STOP_DEPLOYMENT",
               "approval_policy": {"required": 2}}),
    )
    .await;
    let s = &e.s;
    let alice = s.user("alice", "approver").await;
    let bob = s.user("bob", "approver").await;
    let carol = s.user("carol", "approver").await;
    let dave = s.user("dave", "deployer").await;
    let vic = s.user("vic", "viewer").await;
    let erin = s.user("erin", "approver").await;

    let id = start_as(&e, &alice, "gated", "v1").await;
    e.wait(id, &["Ready"]).await;
    let approval = pending_approval(s, id).await;
    let approval_id = approval["id"].as_i64().unwrap();
    assert_eq!(approval["author"], "alice");
    assert_eq!(approval["required"], 2);
    assert_eq!(approval["remaining"], 2);
    let metrics = s
        .client()
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("switchyard_approvals_pending 1"),
        "{metrics}"
    );

    let own = vote(s, &alice, approval_id, "approve", "lgtm").await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{:?}", own.body);
    assert!(
        own.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("author"),
        "{:?}",
        own.body
    );
    for (who, token) in [("viewer", &vic), ("deployer", &dave)] {
        let refused = vote(s, token, approval_id, "approve", "").await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "a {who} voted: {:?}",
            refused.body
        );
    }
    let bad = vote(s, &bob, approval_id, "maybe", "").await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "decision")
    );

    let first = vote(s, &bob, approval_id, "approve", "checked the test URL").await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(
        (
            first.body["state"].as_str(),
            first.body["remaining"].as_i64()
        ),
        (Some("pending"), Some(1))
    );
    let twice = vote(s, &bob, approval_id, "approve", "").await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{:?}", twice.body);
    // Nobody reroutes around the approvers.
    let around = s
        .post(
            &format!("/api/deployments/{id}/continue"),
            &s.admin_token,
            json!({"wait": "ready"}),
        )
        .await;
    assert_eq!(around.status, StatusCode::CONFLICT, "{:?}", around.body);
    // Still held: one approval is not enough.
    assert_eq!(e.wait(id, &["Ready"]).await["status"], "Ready");

    let second = vote(s, &carol, approval_id, "approve", "").await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    assert_eq!(second.body["state"], "approved");
    let done = e.wait(id, &["Succeeded", "Failed", "Stopped"]).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert!(e.serving().await.contains("v1"));

    let late = vote(s, &erin, approval_id, "reject", "too late").await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{:?}", late.body);
    assert!(
        late.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("approved"),
        "{:?}",
        late.body
    );
    let shown = s
        .get(&format!("/api/approvals/{approval_id}"), &vic)
        .await
        .body;
    assert!(shown["applied_at"].is_string(), "{shown}");
    let voters: Vec<&str> = shown["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["voter"].as_str().unwrap())
        .collect();
    assert_eq!(voters, ["bob", "carol"]);

    // Every vote is in the audit trail, by its voter.
    let events = s
        .get("/api/environments/gated/events?limit=200", &s.admin_token)
        .await
        .body;
    let votes: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "approval.vote")
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(votes.len(), 2, "{events}");
}

#[tokio::test]
async fn without_approvers_the_hold_is_manual_and_one_rejection_rolls_back() {
    let e = Env::new(
        "strict",
        json!({"ready_wait_minutes": 60, "ready_action_on_timeout": "STOP_DEPLOYMENT"}),
    )
    .await;
    let s = &e.s;
    let bob = s.user("bob", "approver").await;
    // No approval policy: the deployment waits in Ready for a person to reroute, and no approval opens.
    let first = start_as(&e, &s.admin_token, "strict", "v1").await;
    e.wait(first, &["Ready"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(e.wait(first, &["Ready"]).await["status"], "Ready");
    let pending = s
        .get("/api/approvals?state=pending", &s.admin_token)
        .await
        .body;
    assert_eq!(pending["approvals"], json!([]), "{pending}");
    let rerouted = s
        .post(
            &format!("/api/deployments/{first}/continue"),
            &s.admin_token,
            json!({"wait": "ready"}),
        )
        .await;
    assert_eq!(rerouted.status, StatusCode::OK, "{:?}", rerouted.body);
    assert_eq!(
        e.wait(first, &["Succeeded", "Failed", "Stopped"]).await["status"],
        "Succeeded"
    );

    let changed = s
        .request(
            Method::PATCH,
            "/api/environments/strict",
            Some(&s.admin_token),
            Some(json!({"approval_policy": {"required": 1}})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(changed.body["approval_policy"]["required"], 1);

    let second = start_as(&e, &s.admin_token, "strict", "v2").await;
    e.wait(second, &["Ready"]).await;
    let approval = pending_approval(s, second).await;
    let id = approval["id"].as_i64().unwrap();
    let silent = vote(s, &bob, id, "reject", "  ").await;
    assert_eq!(
        (silent.status, silent.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "comment")
    );
    let rejected = vote(s, &bob, id, "reject", "the test URL shows a 500").await;
    assert_eq!(rejected.body["state"], "rejected", "{:?}", rejected.body);
    let done = e.wait(second, &["Succeeded", "Failed", "Stopped"]).await;
    assert_eq!(done["status"], "Stopped", "{done}");
    assert_eq!(done["rolled_back"], true, "{done}");
    // Production never saw v2.
    assert!(e.serving().await.contains("v1"));
}

#[tokio::test]
async fn approvals_from_the_command_line() {
    let e = Env::new(
        "cli",
        json!({"ready_wait_minutes": 60, "ready_action_on_timeout": "STOP_DEPLOYMENT",
               "approval_policy": {"required": 1}}),
    )
    .await;
    let s = &e.s;
    let bob = s.user("bob", "approver").await;
    let id = start_as(&e, &s.admin_token, "cli", "v1").await;
    e.wait(id, &["Ready"]).await;
    let approval_id = pending_approval(s, id).await["id"]
        .as_i64()
        .unwrap()
        .to_string();

    let listed = crate::cli::cli(s, Some(&bob), &["approvals"]).await;
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    assert!(
        listed.stdout.contains(&format!("deployment {id} (Ready)")),
        "{}",
        listed.stdout
    );
    let json_list = crate::cli::cli(s, Some(&bob), &["approvals", "--output", "json"]).await;
    let parsed: Value = serde_json::from_str(&json_list.stdout).unwrap();
    assert_eq!(parsed["approvals"][0]["id"].to_string(), approval_id);
    // The admin is the release's author and a viewer cannot vote: neither
    // is offered it, though both can see it by state.
    let viewer = s.user("vera", "viewer").await;
    for (who, token) in [("the author", &s.admin_token), ("a viewer", &viewer)] {
        let offered = crate::cli::cli(s, Some(token), &["approvals", "--output", "json"]).await;
        assert_eq!(offered.code, Some(0), "{who}: {}", offered.stderr);
        let offered: Value = serde_json::from_str(&offered.stdout).unwrap();
        assert_eq!(offered["approvals"], json!([]), "{who}");
        for state in ["pending", "all"] {
            let seen = crate::cli::cli(
                s,
                Some(token),
                &["approvals", "--state", state, "--output", "json"],
            )
            .await;
            assert_eq!(seen.code, Some(0), "{who} --state {state}: {}", seen.stderr);
            let seen: Value = serde_json::from_str(&seen.stdout).unwrap();
            assert_eq!(
                seen["approvals"][0]["id"].to_string(),
                approval_id,
                "{who} --state {state}"
            );
        }
    }
    let unknown = s.get("/api/approvals?state=someday", &bob).await;
    assert_eq!(
        (unknown.status, unknown.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "state"),
        "{:?}",
        unknown.body
    );

    let approved = crate::cli::cli(
        s,
        Some(&bob),
        &["approve", &approval_id, "--comment", "ship it"],
    )
    .await;
    assert_eq!(approved.code, Some(0), "{}", approved.stderr);
    assert!(approved.stdout.contains("approved"), "{}", approved.stdout);
    let decided = crate::cli::cli(s, Some(&bob), &["approvals", "--output", "json"]).await;
    let decided: Value = serde_json::from_str(&decided.stdout).unwrap();
    assert_eq!(
        decided["approvals"],
        json!([]),
        "a decided approval is offered"
    );
    let again = crate::cli::cli(
        s,
        Some(&bob),
        &["reject", &approval_id, "--comment", "changed my mind"],
    )
    .await;
    assert_ne!(again.code, Some(0));
    assert!(
        again.stderr.contains("already approved"),
        "{}",
        again.stderr
    );
    assert_eq!(
        e.wait(id, &["Succeeded", "Failed", "Stopped"]).await["status"],
        "Succeeded"
    );

    let none = crate::cli::cli(s, Some(&bob), &["pipeline", "start", "cli"]).await;
    assert_ne!(none.code, Some(0));
    assert!(none.stderr.contains("no pipeline"), "{}", none.stderr);
}
