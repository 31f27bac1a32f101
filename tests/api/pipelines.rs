//! The whole flow, for real: `git push` to a bare repository whose
//! post-receive hook posts a signed GitHub-format push to switchyard, which
//! starts the environment's pipeline in the local cloud (Source, Build,
//! Approval, Deploy); two approvers let it through and production serves
//! the new page; one rejection keeps it out.

use crate::dashboard::Session;
use crate::deployments::provision;
use crate::helpers::TestServer;
use crate::repo::{Repo, SECRET, git};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run_of(s: &TestServer, commit: &str) -> Value {
    until("the pipeline run", async || {
        let runs = s
            .get("/api/environments/shop/pipeline/runs", &s.admin_token)
            .await
            .body;
        runs["runs"]
            .as_array()?
            .iter()
            .find(|r| r["commit"]["sha"] == commit)
            .cloned()
    })
    .await
}

pub(crate) async fn pending_approval(s: &TestServer, run_id: i64) -> Value {
    until("the approval to open", async || {
        let run = s
            .get(&format!("/api/pipeline-runs/{run_id}"), &s.admin_token)
            .await
            .body;
        run["approvals"]
            .as_array()?
            .iter()
            .find(|a| a["state"] == "pending")
            .cloned()
    })
    .await
}

pub(crate) async fn finished_run(s: &TestServer, run_id: i64) -> Value {
    until("the run to finish", async || {
        let run = s
            .get(&format!("/api/pipeline-runs/{run_id}"), &s.admin_token)
            .await
            .body;
        (run["status"] != "InProgress" && run["status"] != "Stopping").then_some(run)
    })
    .await
}

async fn page(s: &TestServer, url: &str) -> String {
    s.client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Adds `field` to the first container of the sample's local/taskdef.json.
fn add_to_task_definition(repo: &Repo, field: &str) {
    let path = repo.work.join("local/taskdef.json");
    let taskdef = std::fs::read_to_string(&path).unwrap().replacen(
        "\"essential\": true,",
        &format!("\"essential\": true,\n      {field},"),
        1,
    );
    std::fs::write(path, taskdef).unwrap();
}

/// What a run waiting for approval would deploy, against what is live:
/// through the API, the CLI, the inbox and the run's page. The commits are
/// the live one and the run's.
async fn assert_the_run_s_diff_is_shown(
    s: &TestServer,
    approver: &str,
    run_id: i64,
    (live, pushed): (&str, &str),
) {
    let path = format!("/api/environments/shop/diff?run={run_id}");
    let diff = s.get(&path, approver).await;
    assert_eq!(diff.status, StatusCode::OK, "{:?}", diff.body);
    let diff = diff.body;
    assert_eq!(diff["candidate"]["image"], "static:site", "{diff}");
    assert_eq!(diff["candidate"]["commit"], pushed, "{diff}");
    assert_eq!(diff["live"]["commit"], live, "{diff}");
    // Both commits of the push, newest first, back to the live one.
    let messages: Vec<&str> = diff["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap().trim())
        .collect();
    assert_eq!(
        messages,
        ["Break the shop", "Let the shop say its mood"],
        "{diff}"
    );
    assert_eq!(diff["commits"][0]["sha"], pushed, "{diff}");
    assert_eq!(diff["commits"][1]["author"], "Carol Coder", "{diff}");
    assert_eq!(diff["commits_complete"], true, "{diff}");
    // The build's task definition, not only its image: the added variable
    // shows, and nothing that stayed the same does.
    let unified = diff["unified"].as_str().unwrap();
    assert!(unified.contains("+image: static:site\n"), "{unified}");
    assert!(unified.contains("+env SHOP_MOOD=broken\n"), "{unified}");
    let changed: Vec<&str> = unified
        .lines()
        .filter(|l| l.starts_with(['+', '-']) && !l.starts_with("+++") && !l.starts_with("---"))
        .collect();
    assert_eq!(changed.len(), 3, "{unified}");

    let output = tokio::process::Command::new(crate::helpers::BIN)
        .args(["diff", "shop", "--run", &run_id.to_string()])
        .env("SWITCHYARD_URL", &s.base)
        .env("SWITCHYARD_TOKEN", approver)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("+env SHOP_MOOD=broken\n"), "{stdout}");
    assert!(stdout.contains(&pushed[..12]), "{stdout}");
    assert!(stdout.contains("Break the shop"), "{stdout}");
    assert!(stdout.contains("Let the shop say its mood"), "{stdout}");

    let session = Session::sign_in(s, approver).await;
    for page in ["/approvals".to_owned(), format!("/pipeline-runs/{run_id}")] {
        let (status, html) = session.page(s, &page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(html.contains("+env SHOP_MOOD=broken"), "{page}: {html}");
        assert!(html.contains("Let the shop say its mood"), "{page}: {html}");
    }

    let unknown = s
        .get("/api/environments/shop/diff?run=999999", approver)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);
    let both = s.get(&format!("{path}&version=v1"), approver).await;
    assert_eq!(
        both.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        both.body
    );
    assert_eq!(both.body["error"]["field"], "run", "{:?}", both.body);
}

#[tokio::test]
async fn a_git_push_goes_through_build_and_two_approvals_to_production_and_a_rejection_stops_the_next()
 {
    let s = TestServer::spawn_with(&["--time-scale", "60"]).await;
    let repo = Repo::new(&s.url("/hooks/github"), "carol");
    let created = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "shop", "platform": "local", "termination_wait_minutes": 1,
                   "container": {"desired_count": 2},
                   "source": {"repo": repo.bare.to_str().unwrap(), "branch": "main"},
                   "webhook_secret": SECRET, "approval_policy": {"required": 2}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let stack = provision(&s, "shop").await;
    assert_eq!(stack["outputs"]["pipeline"], "shop", "{stack}");
    let prod = stack["outputs"]["prod_url"].as_str().unwrap().to_owned();
    let alice = s.user("alice", "approver").await;
    let bob = s.user("bob", "approver").await;
    let carol = s.user("carol", "approver").await;

    let (commit, printed) = repo.push_page("<h1>green</h1>\n", "Turn the shop green");
    assert!(
        printed.contains("switchyard: 202"),
        "the hook said: {printed}"
    );
    let run = run_of(&s, &commit).await;
    let run_id = run["id"].as_i64().unwrap();
    assert_eq!(
        (run["trigger"].as_str(), run["commit"]["author"].as_str()),
        (Some("push"), Some("carol"))
    );
    let approval = pending_approval(&s, run_id).await;
    let shown = s
        .get(&format!("/api/pipeline-runs/{run_id}"), &s.admin_token)
        .await
        .body;
    let stage = |name: &str| {
        shown["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(stage("Source")["status"], "Succeeded", "{shown}");
    assert_eq!(stage("Build")["status"], "Succeeded", "{shown}");
    assert_eq!(stage("Approval")["status"], "InProgress", "{shown}");
    assert_eq!(
        shown["commit"]["message"].as_str().map(str::trim),
        Some("Turn the shop green")
    );
    let log_path = stage("Build")["actions"][0]["log"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = s
        .client()
        .get(s.url(&log_path))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(log.status(), StatusCode::OK);
    assert!(
        log.text().await.unwrap().contains("ImageURI"),
        "the build log shows the build's output"
    );
    assert!(
        !page(&s, &prod).await.contains("green"),
        "production moved before the approvals"
    );

    let id = approval["id"].as_i64().unwrap();
    let own = s
        .post(
            &format!("/api/approvals/{id}/decisions"),
            &carol,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(
        own.status,
        StatusCode::FORBIDDEN,
        "the pusher approved her own release: {:?}",
        own.body
    );
    for token in [&alice, &bob] {
        let vote = s
            .post(
                &format!("/api/approvals/{id}/decisions"),
                token,
                json!({"decision": "approve"}),
            )
            .await;
        assert_eq!(vote.status, StatusCode::OK, "{:?}", vote.body);
    }
    let done = finished_run(&s, run_id).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    let deployment_id = done["deployment_id"]
        .as_i64()
        .expect("the run led to a deployment");
    // The run and its deployment are tracked apart: wait for the deployment's own end.
    let deployment = until("the deployment to finish", async || {
        let d = s
            .get(&format!("/api/deployments/{deployment_id}"), &s.admin_token)
            .await
            .body;
        matches!(
            d["status"].as_str(),
            Some("Succeeded" | "Failed" | "Stopped")
        )
        .then_some(d)
    })
    .await;
    assert_eq!(deployment["status"], "Succeeded", "{deployment}");
    assert_eq!(deployment["release"]["commit"], commit.as_str());
    assert!(page(&s, &prod).await.contains("green"));

    // The next push brings two commits, one of them changing the task
    // definition. One approver reads what it would deploy, says no, and
    // production keeps the green page.
    add_to_task_definition(
        &repo,
        r#""environment": [{"name": "SHOP_MOOD", "value": "broken"}]"#,
    );
    git(&repo.work, &["commit", "-qam", "Let the shop say its mood"]);
    let (second, _) = repo.push_page("<h1>broken</h1>\n", "Break the shop");
    let run = run_of(&s, &second).await;
    let run_id = run["id"].as_i64().unwrap();
    let approval = pending_approval(&s, run_id).await;
    let id = approval["id"].as_i64().unwrap();
    assert_the_run_s_diff_is_shown(&s, &alice, run_id, (&commit, &second)).await;
    let no = s
        .post(
            &format!("/api/approvals/{id}/decisions"),
            &alice,
            json!({"decision": "reject", "comment": "it says broken"}),
        )
        .await;
    assert_eq!(no.body["state"], "rejected", "{:?}", no.body);
    let done = finished_run(&s, run_id).await;
    assert_eq!(done["status"], "Failed", "{done}");
    assert!(done["deployment_id"].is_null(), "{done}");
    assert!(page(&s, &prod).await.contains("green"));
    let closed = s
        .post(
            &format!("/api/approvals/{id}/decisions"),
            &bob,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::CONFLICT, "{:?}", closed.body);
}

#[tokio::test]
async fn a_run_started_by_hand_fails_its_build_is_retried_and_stopped() {
    let s = TestServer::spawn_with(&["--time-scale", "60"]).await;
    let repo = Repo::new(&s.url("/hooks/github"), "carol");
    // The build fails while this file exists: the fix is outside the commit, so a retry of the same revision can pass.
    let flag = repo.dir.path().join("build-is-broken");
    std::fs::write(&flag, "").unwrap();
    repo.prepend_build_commands(&[format!(
        "if [ -e {} ]; then echo 'the build is broken' >&2; exit 3; fi",
        flag.display()
    )]);
    let (commit, _) = repo.commit_and_push("Break the build");

    let created = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "shop", "platform": "local", "container": {"desired_count": 1},
                   "source": {"repo": repo.bare.to_str().unwrap(), "branch": "main"},
                   "approval_policy": {"required": 1}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    provision(&s, "shop").await;
    let viewer = s.user("vic", "viewer").await;
    let dave = s.user("dave", "deployer").await;
    let refused = s
        .post("/api/environments/shop/pipeline/runs", &viewer, json!({}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let bad = s
        .post(
            "/api/environments/shop/pipeline/runs",
            &dave,
            json!({"commit": "main"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "commit")
    );

    let started = s
        .post(
            "/api/environments/shop/pipeline/runs",
            &dave,
            json!({"commit": commit}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    let run_id = started.body["id"].as_i64().unwrap();
    assert_eq!(
        (
            started.body["trigger"].as_str(),
            started.body["commit"]["author"].as_str()
        ),
        (Some("manual"), Some("dave"))
    );
    let failed = finished_run(&s, run_id).await;
    assert_eq!(failed["status"], "Failed", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("3"),
        "the exit status is in the error: {failed}"
    );
    let log = s
        .client()
        .get(s.url(&format!("/api/pipeline-runs/{run_id}/actions/Build/log")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert!(log.text().await.unwrap().contains("the build is broken"));

    let wrong_stage = s
        .post(
            &format!("/api/pipeline-runs/{run_id}/retry"),
            &dave,
            json!({"stage": "Source"}),
        )
        .await;
    assert_eq!(
        wrong_stage.status,
        StatusCode::CONFLICT,
        "{:?}",
        wrong_stage.body
    );
    std::fs::remove_file(&flag).unwrap();
    let retried = s
        .post(
            &format!("/api/pipeline-runs/{run_id}/retry"),
            &dave,
            json!({"stage": "Build"}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{:?}", retried.body);
    pending_approval(&s, run_id).await;

    let stopped = s
        .post(
            &format!("/api/pipeline-runs/{run_id}/stop"),
            &dave,
            json!({"abandon": true, "reason": "not today"}),
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK, "{:?}", stopped.body);
    let done = finished_run(&s, run_id).await;
    assert_eq!(done["status"], "Stopped", "{done}");
    let approval = &done["approvals"][0];
    assert_eq!(
        approval["state"], "closed",
        "the pending approval closes with the run: {done}"
    );
    let again = s
        .post(
            &format!("/api/pipeline-runs/{run_id}/stop"),
            &dave,
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let events = s
        .get("/api/environments/shop/events?limit=200", &s.admin_token)
        .await
        .body;
    let actors: Vec<(&str, &str)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["kind"] == "pipeline.started"
                || e["kind"] == "pipeline.stage_retried"
                || e["kind"] == "pipeline.stop_requested"
        })
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actors,
        [
            ("pipeline.stop_requested", "dave"),
            ("pipeline.stage_retried", "dave"),
            ("pipeline.started", "dave")
        ]
    );
}

/// The deployment a finished run started, once it has ended too.
async fn finished_deployment(s: &TestServer, run: &Value) -> Value {
    let id = run["deployment_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("the run led to no deployment: {run}"));
    until("the deployment to finish", async || {
        let d = s
            .get(&format!("/api/deployments/{id}"), &s.admin_token)
            .await
            .body;
        matches!(
            d["status"].as_str(),
            Some("Succeeded" | "Failed" | "Stopped")
        )
        .then_some(d)
    })
    .await
}

#[tokio::test]
async fn a_git_push_reaches_production_through_the_ecs_action_and_the_environments_gate() {
    let s = TestServer::spawn_with(&["--time-scale", "60"]).await;
    let repo = Repo::new(&s.url("/hooks/github"), "carol");
    let created = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "shop", "platform": "local", "controller": "ecs",
                   "container": {"desired_count": 2},
                   "source": {"repo": repo.bare.to_str().unwrap(), "branch": "main"},
                   "webhook_secret": SECRET, "approval_policy": {"required": 1}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let stack = provision(&s, "shop").await;
    assert_eq!(stack["outputs"]["pipeline"], "shop", "{stack}");
    let prod = stack["outputs"]["prod_url"].as_str().unwrap().to_owned();
    let alice = s.user("alice", "approver").await;

    // Settings changed after provisioning are the ones the pipeline's
    // rollout runs with: switchyard applies them to the service.
    let changed = s
        .request(
            reqwest::Method::PATCH,
            "/api/environments/shop",
            Some(&s.admin_token),
            Some(json!({"ecs_deployment": {
                "strategy": "LINEAR",
                "linear": {"step_percent": 50, "step_bake_minutes": 1},
                "bake_time_minutes": 1,
                "gates": [{"timeout_minutes": 600}],
            }})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);

    let (commit, printed) = repo.push_page("<h1>green</h1>\n", "Turn the shop green");
    assert!(
        printed.contains("switchyard: 202"),
        "the hook said: {printed}"
    );
    let run_id = run_of(&s, &commit).await["id"].as_i64().unwrap();
    let release = pending_approval(&s, run_id).await;
    let vote = |id: i64| {
        let token = alice.clone();
        let s = &s;
        async move {
            s.post(
                &format!("/api/approvals/{id}/decisions"),
                &token,
                json!({"decision": "approve"}),
            )
            .await
        }
    };
    let voted = vote(release["id"].as_i64().unwrap()).await;
    assert_eq!(voted.status, StatusCode::OK, "{:?}", voted.body);

    // The ECS action started a service deployment; its gate is an approval
    // of its own, and production waits for it.
    let deployment_id = until("the run's deployment", async || {
        let run = s
            .get(&format!("/api/pipeline-runs/{run_id}"), &s.admin_token)
            .await
            .body;
        run["deployment_id"].as_i64()
    })
    .await;
    let gate = crate::approvals::pending_approval(&s, deployment_id).await;
    assert!(gate["hook_id"].is_string(), "{gate}");
    let held = s
        .get(&format!("/api/deployments/{deployment_id}"), &s.admin_token)
        .await
        .body;
    assert_eq!(held["controller"], "ecs", "{held}");
    assert_eq!(
        held["deployment_config"], "LINEAR: 50% every 1 min",
        "{held}"
    );
    assert_eq!(held["release"]["commit"], commit.as_str(), "{held}");
    assert!(!page(&s, &prod).await.contains("green"));
    let voted = vote(gate["id"].as_i64().unwrap()).await;
    assert_eq!(voted.status, StatusCode::OK, "{:?}", voted.body);

    let done = finished_run(&s, run_id).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    let deploy_action = &done["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["name"] == "Deploy")
        .unwrap()["actions"][0];
    assert_eq!(deploy_action["provider"], "ECS", "{done}");
    let deployment = finished_deployment(&s, &done).await;
    assert_eq!(deployment["status"], "Succeeded", "{deployment}");
    assert_eq!(
        deployment["service_deployment_arn"],
        held["service_deployment_arn"]
    );
    let steps: Vec<f64> = deployment["traffic_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["green_weight"].as_f64().unwrap())
        .collect();
    assert!(
        steps.contains(&50.0) && steps.last() == Some(&100.0),
        "the shift went by the environment's LINEAR 50 %: {steps:?}"
    );
    assert!(page(&s, &prod).await.contains("green"));

    // ECS's action puts the build's image into the service's task
    // definition and ignores taskdef.json: the next run's diff says so.
    add_to_task_definition(
        &repo,
        r#""environment": [{"name": "SHOP_MOOD", "value": "ignored"}]"#,
    );
    let (second, _) = repo.push_page("<h1>blue</h1>\n", "Turn the shop blue");
    let next_run = run_of(&s, &second).await["id"].as_i64().unwrap();
    pending_approval(&s, next_run).await;
    let diff = s
        .get(
            &format!("/api/environments/shop/diff?run={next_run}"),
            &alice,
        )
        .await;
    assert_eq!(diff.status, StatusCode::OK, "{:?}", diff.body);
    let unified = diff.body["unified"].as_str().unwrap();
    assert!(unified.contains("+image: static:site\n"), "{unified}");
    assert!(!unified.contains("SHOP_MOOD"), "{unified}");
    assert_eq!(diff.body["commits"][0]["sha"], second.as_str());
}
