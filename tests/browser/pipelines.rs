//! Pipeline runs and approvals in the browser: a real `git push` through
//! the post-receive hook starts a run in the local cloud; its author
//! watches the run page while a second approver votes from the inbox's
//! run, and the run goes on to production without a reload. A deployer
//! starts, retries and stops a run from the pages while its build log
//! streams in; viewers and forged forms are refused.

use crate::helpers::TestServer;
use crate::repo::{Repo, SECRET};
use crate::support::{
    Browser, ONE_BROWSER_AT_A_TIME, PATIENCE, Session, Stack, eventually, screenshot_dir,
};
use fantoccini::Locator;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use std::time::Duration;

/// How long a pushed run may take to reach a stage: its build runs in the
/// local cloud on a busy machine.
const RUN_PATIENCE: Duration = Duration::from_secs(90);

async fn run(s: &TestServer, id: i64) -> Value {
    s.get(&format!("/api/pipeline-runs/{id}"), &s.admin_token)
        .await
        .body
}

async fn pending_approval(s: &TestServer, run_id: i64) -> i64 {
    eventually("the approval to open", RUN_PATIENCE, async || {
        let run = run(s, run_id).await;
        run["approvals"]
            .as_array()
            .and_then(|approvals| approvals.iter().find(|a| a["state"] == "pending"))
            .and_then(|a| a["id"].as_i64())
            .ok_or(run)
    })
    .await
}

/// Records, in the page, when each approval state, run status and stage
/// status first showed (and marks the page, which a reload would erase).
fn watch_run(approval: i64) -> String {
    format!(
        "window.__noReload = true;
         window.__seen = {{}};
         var seen = function (key) {{ if (!(key in window.__seen)) window.__seen[key] = Date.now(); }};
         var record = function () {{
             var a = document.querySelector('#approval-{approval} .badge');
             if (a) seen('approval:' + a.textContent.trim());
             var r = document.getElementById('run-status');
             if (r) seen('run:' + r.dataset.status);
             document.querySelectorAll('.stage').forEach(function (st) {{
                 seen('stage:' + st.querySelector('h3').textContent.trim() + ':' + st.querySelector('.badge').textContent.trim());
             }});
         }};
         record();
         new MutationObserver(record).observe(document.getElementById('live'),
             {{subtree: true, childList: true, characterData: true}});
         return true;"
    )
}

#[tokio::test]
async fn a_second_approver_lets_a_pushed_run_through_while_its_author_watches_live() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let s = TestServer::spawn_with(&["--time-scale", "60"]).await;
    let repo = Repo::new(&s.url("/hooks/github"), "carol");
    let stack = Stack::on(
        s,
        "shop",
        json!({"source": {"repo": repo.bare.to_str().unwrap(), "branch": "main"},
               "webhook_secret": SECRET, "approval_policy": {"required": 1}}),
    )
    .await;
    let s = &stack.s;
    let carol = s.user("carol", "approver").await;
    let alice = s.user("alice", "approver").await;
    let vic = s.user("vic", "viewer").await;

    let (commit, printed) = repo.push_page("<h1>green</h1>\n", "Turn the shop green");
    assert!(
        printed.contains("switchyard: 202"),
        "the hook said: {printed}"
    );
    let run_id = eventually("the pushed commit's run", RUN_PATIENCE, async || {
        let runs = s
            .get("/api/environments/shop/pipeline/runs", &s.admin_token)
            .await
            .body;
        runs["runs"]
            .as_array()
            .and_then(|runs| runs.iter().find(|r| r["commit"]["sha"] == commit.as_str()))
            .and_then(|r| r["id"].as_i64())
            .ok_or(runs)
    })
    .await;
    let approval = pending_approval(s, run_id).await;
    let run_page = format!("/pipeline-runs/{run_id}");
    let vote_url = format!("/approvals/{approval}/vote");

    // The author, an approver herself, may not approve her own push.
    let author = Browser::start().await;
    author.sign_in(s, &carol).await;
    author.client.goto(&s.url(&run_page)).await.unwrap();
    assert!(
        author
            .client
            .find_all(Locator::Css(&format!("form[action='{vote_url}']")))
            .await
            .unwrap()
            .is_empty(),
        "the author is offered a vote"
    );
    author
        .wait_for_text(
            &format!("#approval-{approval} [data-vote-refused]"),
            "author of this release",
        )
        .await;
    author.wait_for_text("#live", &commit).await;
    author.wait_for_text("#live", "Turn the shop green").await;
    let csrf = author.csrf().await;
    let own = author
        .post_form(
            &vote_url,
            &format!("csrf={csrf}&decision=approve&comment=mine"),
        )
        .await;
    assert_eq!(own["status"], 403, "{own}");
    assert!(
        own["body"]
            .as_str()
            .unwrap()
            .contains("author of this release")
    );
    author
        .client
        .execute(&watch_run(approval), vec![])
        .await
        .unwrap();

    // A viewer reads it all and is offered nothing; the server agrees.
    let viewer = Session::sign_in(s, &vic).await;
    let (status, page) = viewer.page(s, &run_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("<form method=\"post\" action=\"/pipeline-runs"));
    assert!(!page.contains(&format!("action=\"{vote_url}\"")));
    assert!(page.contains("Voting needs the approver role"));
    assert!(page.contains("needs the deployer role"));
    let forged = viewer
        .post(s, &format!("{run_page}/stop"))
        .form(&[("csrf", viewer.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("needs the deployer role")
    );
    // Links in notifications lead to where the approval is decided.
    let link = viewer
        .get(s, &format!("/approvals/{approval}"))
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        link.headers()[LOCATION],
        format!("{run_page}#approval-{approval}").as_str()
    );

    // The second approver: the inbox and the overview show what waits.
    let b = Browser::start().await;
    b.sign_in(s, &alice).await;
    b.wait_for_text(".envs", "Waiting for approval").await;
    b.wait_for_text(".callout", "1 approval pending").await;
    b.screenshots("overview-pipeline").await;
    b.client.goto(&s.url("/approvals")).await.unwrap();
    b.wait_for_text("#main", &format!("Pipeline run #{run_id}"))
        .await;
    b.wait_for(&format!(".inbox form[action='{vote_url}']"))
        .await;
    b.screenshots("approvals-inbox").await;
    b.click(&format!(".inbox a[href='{run_page}']")).await;
    b.wait_for_path(&run_page).await;
    b.screenshots("pipeline-run-waiting").await;

    // Forms without their token, and a rejection without a reason, are refused.
    let csrf = b.csrf().await;
    for (url, body) in [
        (vote_url.as_str(), "decision=approve".to_owned()),
        (&format!("{run_page}/stop"), String::new()),
        (vote_url.as_str(), "csrf=forged&decision=approve".to_owned()),
    ] {
        let refused = b.post_form(url, &body).await;
        assert_eq!(refused["status"], 403, "{url}: {refused}");
        assert!(refused["body"].as_str().unwrap().contains("security token"));
    }
    let no_reason = b
        .post_form(&vote_url, &format!("csrf={csrf}&decision=reject&comment=+"))
        .await;
    assert_eq!(no_reason["status"], 422, "{no_reason}");
    assert!(no_reason["body"].as_str().unwrap().contains("say why"));
    // In the page, Reject asks for the comment before anything is sent: the
    // form would fire `submit` in the click itself, so once the question
    // shows, the form has not gone and will not.
    b.mark_no_reload().await;
    b.client
        .execute(
            "window.__submitted = false;
             document.addEventListener('submit', function () { window.__submitted = true; }, true);
             return true;",
            vec![],
        )
        .await
        .unwrap();
    b.click(&format!("#approval-{approval} button[value=reject]"))
        .await;
    b.wait_until(
        "the page to ask why",
        &format!(
            "var c = document.getElementById('approval-{approval}-comment');
             return !!c && c.validationMessage.includes('Say why')"
        ),
    )
    .await;
    let submitted = b
        .client
        .execute("return window.__submitted", vec![])
        .await
        .unwrap();
    assert_eq!(submitted, false, "the empty rejection was sent");
    assert!(!b.reloaded().await, "the empty rejection was sent");
    assert_eq!(run(s, run_id).await["approvals"][0]["state"], "pending");

    b.fill(
        &format!("#approval-{approval}-comment"),
        "checked the test listener",
    )
    .await;
    b.submit(&format!("#approval-{approval} button[value=approve]"))
        .await;
    b.wait_until(
        "the approval to show as approved",
        &format!(
            "var a = document.querySelector('#approval-{approval} .badge');
             return !!a && a.textContent.trim() === 'approved'"
        ),
    )
    .await;
    b.wait_for_path(&run_page).await;

    // The author's page follows, without a reload, all the way to production.
    author
        .wait_until_within(
            "the run to succeed in the author's page",
            "return 'run:Succeeded' in window.__seen",
            Duration::from_secs(120),
        )
        .await;
    let seen = author
        .client
        .execute("return window.__seen", vec![])
        .await
        .unwrap();
    assert!(!author.reloaded().await, "the author's page reloaded");
    for key in [
        "approval:approved",
        "stage:Approval:Succeeded",
        "stage:Deploy:In progress",
        "stage:Deploy:Succeeded",
    ] {
        assert!(seen.get(key).is_some(), "never showed {key}: {seen}");
    }
    let done = run(s, run_id).await;
    let deployment = done["deployment_id"].as_i64().expect("a deployment");
    author
        .wait_for(&format!("#live a[href='/deployments/{deployment}']"))
        .await;
    // From the decision's commit to the author's page showing it.
    let events = s
        .get("/api/environments/shop/events?limit=200", &s.admin_token)
        .await
        .body;
    let approved = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "approval.approved")
        .expect("the approval was recorded");
    assert_eq!(approved["actor"], "alice");
    let committed = chrono::DateTime::parse_from_rfc3339(approved["at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let latency = seen["approval:approved"].as_i64().unwrap() - committed;
    let report =
        format!("approval visible in another viewer's run page {latency} ms after the vote\n");
    eprint!("{report}");
    std::fs::write(screenshot_dir().join("approval-latency.txt"), &report).unwrap();
    assert!(latency < 1000, "{report}");
    author.screenshots("pipeline-run-succeeded").await;
    author.client.goto(&s.url("/")).await.unwrap();
    let cell = ".envs td[data-label=Pipeline]";
    author.wait_for_text(cell, &format!("Run #{run_id}")).await;
    author.wait_for_text(cell, "Succeeded").await;
    author.screenshots("overview-after-run").await;
    author
        .client
        .goto(&s.url("/environments/shop"))
        .await
        .unwrap();
    author.wait_for_text("table.runs", "pushed by carol").await;
    author.screenshots("environment-pipeline").await;
    author.close().await;
    b.close().await;
}

#[tokio::test]
async fn a_deployer_starts_a_run_watches_its_log_retries_the_failed_build_and_stops_it() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let s = TestServer::spawn_with(&["--time-scale", "60"]).await;
    let repo = Repo::new(&s.url("/hooks/github"), "carol");
    // A build that talks for a while, and fails while the flag file exists
    // (outside the commit, so a retry of the same revision can pass).
    let flag = repo.dir.path().join("build-is-broken");
    std::fs::write(&flag, "").unwrap();
    repo.prepend_build_commands(&[
        "for i in 1 2 3 4 5 6; do echo \"compiling part $i of 6\"; sleep 0.4; done".into(),
        format!(
            "if [ -e {} ]; then echo 'the build is broken' >&2; exit 3; fi",
            flag.display()
        ),
    ]);
    // No webhook secret: this push starts nothing; the deployer does.
    repo.commit_and_push("A build that takes its time");
    let stack = Stack::on(
        s,
        "shop",
        json!({"source": {"repo": repo.bare.to_str().unwrap(), "branch": "main"},
               "approval_policy": {"required": 1}}),
    )
    .await;
    let s = &stack.s;
    let dave = s.user("dave", "deployer").await;

    let b = Browser::start().await;
    b.sign_in(s, &dave).await;
    b.client.goto(&s.url("/environments/shop")).await.unwrap();
    b.wait_for_text("main", "No runs yet").await;
    b.click("a[href='/environments/shop/pipeline']").await;
    b.wait_for_path("/environments/shop/pipeline").await;
    // Without its token, the start form is refused and starts nothing.
    let refused = b
        .post_form("/environments/shop/pipeline/runs", "commit=")
        .await;
    assert_eq!(refused["status"], 403, "{refused}");
    b.confirm("details.confirm summary", "").await;
    let url = eventually("the run page", PATIENCE, async || {
        let url = b.client.current_url().await.map_err(|e| e.to_string())?;
        if url.path().starts_with("/pipeline-runs/") {
            Ok(url)
        } else {
            Err(url.to_string())
        }
    })
    .await;
    let run_id: i64 = url.path().rsplit('/').next().unwrap().parse().unwrap();
    let run_page = format!("/pipeline-runs/{run_id}");
    b.mark_no_reload().await;

    // The log grows in the page while the build runs, then the build fails.
    b.wait_until_within(
        "the build log to stream in",
        "var pre = document.querySelector('#log-Build pre.log');
         return !!pre && pre.textContent.includes('compiling part 2 of 6')
             && !pre.textContent.includes('compiling part 6 of 6')",
        Duration::from_secs(60),
    )
    .await;
    b.wait_until_within(
        "the run to fail",
        "var r = document.getElementById('run-status'); return !!r && r.dataset.status === 'Failed'",
        Duration::from_secs(60),
    )
    .await;
    b.wait_until(
        "the whole log",
        "var pre = document.querySelector('#log-Build pre.log');
         return pre.textContent.includes('compiling part 6 of 6') && /^the build is broken$/m.test(pre.textContent)",
    )
    .await;
    assert!(!b.reloaded().await, "the page reloaded");
    let log = b
        .wait_for_text("#log-Build pre.log", "compiling part 6 of 6")
        .await;
    assert_eq!(
        log.matches("compiling part 3 of 6").count(),
        1,
        "lines repeat in the log: {log}"
    );
    let error = b.wait_for_text("#live .head .error", "Build").await;
    assert!(error.contains("Build") && error.contains('3'), "{error}");
    b.screenshots("pipeline-run-failed").await;

    // Retry the failed build, now that the flag is gone.
    let csrf = b.csrf().await;
    let forged = b
        .post_form(&format!("{run_page}/retry"), "stage=Build")
        .await;
    assert_eq!(forged["status"], 403, "{forged}");
    let unknown = b
        .post_form(
            &format!("{run_page}/retry"),
            &format!("csrf={csrf}&stage=Source"),
        )
        .await;
    assert_eq!(unknown["status"], 409, "{unknown}");
    std::fs::remove_file(&flag).unwrap();
    b.confirm("details[data-key='retry-Build'] summary", "")
        .await;
    b.wait_for_path(&run_page).await;
    b.mark_no_reload().await;
    b.wait_until_within(
        "the retried build to wait for approval",
        "return Array.prototype.some.call(document.querySelectorAll('.stage'), function (st) {
             return st.textContent.includes('Approval') && st.textContent.includes('Waiting for approval'); })",
        Duration::from_secs(60),
    )
    .await;
    b.wait_until(
        "the new build's log",
        "var pre = document.querySelector('#log-Build pre.log');
         return !!pre && pre.textContent.includes('compiling part 6 of 6') && !/^the build is broken$/m.test(pre.textContent)",
    )
    .await;
    assert!(!b.reloaded().await, "the page reloaded");

    // A deployer may not vote; he stops the run instead.
    b.wait_for_text("[data-vote-refused]", "approver role")
        .await;
    b.confirm(
        "details[data-key='stop'] summary",
        "form.querySelector('[name=reason]').value = 'not today'; form.querySelector('[name=abandon]').checked = true",
    )
    .await;
    b.wait_for_path(&run_page).await;
    b.wait_until_within(
        "the run to stop",
        "var r = document.getElementById('run-status'); return !!r && r.dataset.status === 'Stopped'",
        Duration::from_secs(60),
    )
    .await;
    b.wait_until(
        "the approval to close",
        "var a = document.querySelector('.approval .badge'); return !!a && a.textContent.trim() === 'closed'",
    )
    .await;
    b.screenshots("pipeline-run-stopped").await;
    let events = s
        .get("/api/environments/shop/events?limit=200", &s.admin_token)
        .await
        .body;
    let by_dave: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "dave" && e["kind"].as_str().unwrap().starts_with("pipeline."))
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        by_dave,
        [
            "pipeline.stop_requested",
            "pipeline.stage_retried",
            "pipeline.started"
        ]
    );
    let stopped = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "pipeline.stop_requested")
        .unwrap();
    assert_eq!(stopped["detail"]["reason"], "not today");
    assert_eq!(stopped["detail"]["abandon"], true);

    b.client
        .goto(&s.url("/environments/shop/pipeline"))
        .await
        .unwrap();
    b.wait_for_text("table.runs", &format!("Run #{run_id}"))
        .await;
    b.screenshots("pipeline-runs").await;
    b.close().await;
}

#[tokio::test]
async fn a_deployment_held_in_ready_is_approved_from_its_page() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let stack = Stack::new(
        "gated",
        json!({"ready_wait_minutes": 60, "approval_policy": {"required": 1}}),
    )
    .await;
    let s = &stack.s;
    let alice = s.user("alice", "approver").await;
    let id = stack.deploy("v1", "CodeDeployDefault.ECSAllAtOnce").await;
    stack.wait(id, "Ready", |d| d["status"] == "Ready").await;
    let page = format!("/deployments/{id}");

    // The author (admin, who started it) sees why there is no vote for him.
    let admin = Session::sign_in(s, &s.admin_token).await;
    let (_, html) = admin.page(s, &page).await;
    assert!(html.contains("author of this release"), "{html}");
    assert!(!html.contains("/vote\""));
    // Rerouting is the approvers' call now; stopping is still his.
    assert!(!html.contains(&format!("{page}/reroute")), "{html}");
    assert!(html.contains(&format!("{page}/rollback")), "{html}");

    let b = Browser::start().await;
    b.sign_in(s, &alice).await;
    b.client.goto(&s.url(&page)).await.unwrap();
    let panel = b.wait_for_text(".approval", "1 more approval needed").await;
    assert!(panel.contains("May still vote: alice"), "{panel}");
    b.screenshots("deployment-ready-approval").await;
    b.fill(".approval textarea", "the test listener looks right")
        .await;
    b.submit(".approval button[value=approve]").await;
    b.wait_for_path(&page).await;
    b.mark_no_reload().await;
    let done = stack
        .wait(id, "Succeeded", |d| d["status"] == "Succeeded")
        .await;
    assert_eq!(done["rolled_back"], false, "{done}");
    b.wait_until(
        "the page to show Succeeded",
        "var s = document.getElementById('deployment-status'); return !!s && s.dataset.status === 'Succeeded'",
    )
    .await;
    assert!(!b.reloaded().await, "the page reloaded");
    let panel = b
        .wait_for_text(".approval", "the test listener looks right")
        .await;
    assert!(panel.contains("approved"), "{panel}");
    b.close().await;
}
