//! The dashboard in a real browser (headless Chromium over WebDriver) and
//! over plain HTTP, against the real server binary with a local cloud.
//! Screenshots of every page land in target/screenshots/.

mod deploy_forms;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod pages;
mod pipelines;
// tests/api pushes the whole sample too; this suite pushes its local build.
#[allow(dead_code)]
mod repo;
mod support;

use fantoccini::Locator;
use serde_json::{Value, json};
use support::{Browser, ONE_BROWSER_AT_A_TIME, Stack, screenshot_dir};

/// The displayed green weight (as "30 %"), from the deployment page.
const GREEN_WEIGHT: &str = "#live .traffic [data-weight=green]";

#[tokio::test]
async fn sign_in_and_sign_out_in_the_browser() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let s = helpers::TestServer::spawn().await;
    s.environment("staging").await;
    let b = Browser::start().await;
    b.client.goto(&s.url("/")).await.unwrap();
    b.wait_for_path("/sign-in").await;
    b.screenshots("sign-in").await;

    b.fill("#token", "sy_not-a-token").await;
    b.submit("form button[type=submit]").await;
    b.wait_for_text(".error", "not valid").await;

    b.sign_in(&s, &s.admin_token).await;
    b.wait_for_text("main", "staging").await;
    b.submit(".who button").await;
    b.wait_for_path("/sign-in").await;
    b.client
        .goto(&s.url("/environments/staging"))
        .await
        .unwrap();
    b.wait_for_path("/sign-in").await;
    b.close().await;
}

/// The page's displayed weights with the time each first appeared, and a
/// marker that a reload would erase.
const WATCH_WEIGHTS: &str = "
    window.__noReload = true;
    window.__seen = {};
    window.__initial = null;
    window.__firstPath = (document.querySelector('path.actual') || {}).outerHTML || '';
    var record = function () {
        var el = document.querySelector('#live .traffic [data-weight=green]');
        if (!el) return;
        var text = el.textContent.trim();
        if (window.__initial === null) window.__initial = text;
        if (!(text in window.__seen)) window.__seen[text] = Date.now();
    };
    record();
    new MutationObserver(record).observe(document.getElementById('live'),
        {subtree: true, childList: true, characterData: true});
    return true;";

#[tokio::test]
async fn the_chart_follows_a_shift_live_and_stop_rolls_back() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let stack = Stack::new("web", json!({})).await;
    let first = stack.deploy("v1", "CodeDeployDefault.ECSAllAtOnce").await;
    stack
        .wait(first, "Succeeded", |d| d["status"] == "Succeeded")
        .await;

    let b = Browser::start().await;
    b.sign_in(&stack.s, &stack.s.admin_token).await;
    // Three seconds per 10 % step at time scale 60.
    let id = stack
        .deploy("v2", "CodeDeployDefault.ECSLinear10PercentEvery3Minutes")
        .await;
    b.client
        .goto(&stack.s.url(&format!("/deployments/{id}")))
        .await
        .unwrap();
    b.wait_for(GREEN_WEIGHT).await;
    b.client.execute(WATCH_WEIGHTS, vec![]).await.unwrap();

    b.wait_until(
        "30 % on green in the page",
        "return '30 %' in window.__seen && '20 %' in window.__seen",
    )
    .await;
    let state = b
        .client
        .execute(
            "return {noReload: window.__noReload === true, seen: window.__seen, initial: window.__initial,
                     pathChanged: (document.querySelector('path.actual') || {}).outerHTML !== window.__firstPath}",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(state["noReload"], true, "the page reloaded");
    assert_eq!(state["pathChanged"], true, "the chart did not change");

    // Each weight change, from the moment the server committed it to the
    // moment the page showed it.
    let events = stack
        .s
        .get(
            "/api/environments/web/events?limit=200",
            &stack.s.admin_token,
        )
        .await
        .body;
    let mut report = String::new();
    let mut measured = 0;
    for event in events["events"].as_array().unwrap() {
        if event["kind"] != "deployment.traffic" || event["deployment_id"] != json!(id) {
            continue;
        }
        let weight = event["detail"]["green_weight"].as_f64().unwrap();
        let label = format!("{weight:.0} %");
        let Some(seen) = state["seen"][&label].as_i64() else {
            continue;
        };
        if state["initial"] == Value::String(label.clone()) {
            continue; // rendered with the page, not pushed
        }
        let committed = chrono::DateTime::parse_from_rfc3339(event["at"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        let latency = seen - committed;
        report.push_str(&format!(
            "green {label}: visible {latency} ms after the change\n"
        ));
        assert!(
            latency < 1000,
            "{label} took {latency} ms to show in the browser"
        );
        measured += 1;
    }
    assert!(measured >= 2, "measured {measured} changes; seen {state}");
    eprint!("{report}");
    std::fs::write(screenshot_dir().join("live-latency.txt"), &report).unwrap();
    b.screenshots("deployment-shifting").await;

    // Stop and roll back: the button opens a dialog; confirming posts the form.
    b.open_confirmation("details.confirm.danger summary").await;
    b.wait_for_text(
        "#confirm-dialog .dialog-body p",
        "return all production traffic",
    )
    .await;
    b.click("#confirm-dialog .dialog-body button[type=submit]")
        .await;
    b.wait_until(
        "the rolled-back state",
        "return window.__noReload !== true && !!document.getElementById('deployment-status')
            && document.getElementById('deployment-status').dataset.status.includes('rolled back')",
    )
    .await;
    stack
        .wait(id, "Stopped and rolled back", |d| {
            d["status"] == "Stopped" && d["rolled_back"] == true
        })
        .await;
    // A finished deployment keeps its chart.
    b.wait_for("path.actual").await;
    b.screenshots("deployment-rolled-back").await;

    for (path, name) in [
        ("/", "overview"),
        ("/environments/web", "environment"),
        ("/environments/web/releases", "releases"),
    ] {
        b.client.goto(&stack.s.url(path)).await.unwrap();
        b.screenshots(name).await;
    }
    b.close().await;
}

#[tokio::test]
async fn viewers_see_no_actions_and_forged_posts_are_refused() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    // After the shift the original task set stays for 30 s (30 minutes at
    // time scale 60): the termination wait, status Baking.
    let stack = Stack::new("held", json!({"termination_wait_minutes": 30})).await;
    let id = stack.deploy("v1", "CodeDeployDefault.ECSAllAtOnce").await;
    stack.wait(id, "Baking", |d| d["status"] == "Baking").await;
    let deployer = stack.s.user("dee", "deployer").await;
    let viewer = stack.s.user("vic", "viewer").await;
    let page = format!("/deployments/{id}");

    let v = Browser::start().await;
    v.sign_in(&stack.s, &viewer).await;
    v.client.goto(&stack.s.url(&page)).await.unwrap();
    assert!(
        v.client
            .find_all(Locator::Css(
                "details.confirm, form[action^='/deployments']"
            ))
            .await
            .unwrap()
            .is_empty(),
        "a viewer is offered actions"
    );
    v.wait_for_text(".note", "needs the deployer role").await;
    v.screenshots("deployment-viewer").await;
    // A hand-made form with the viewer's own, valid CSRF token.
    let forged = v
        .client
        .execute(
            "var csrf = document.querySelector('input[name=csrf]').value;
             return fetch(arguments[0], {method: 'POST', credentials: 'same-origin',
                 headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                 body: 'csrf=' + encodeURIComponent(csrf)})
               .then(function (r) { return r.text().then(function (t) { return {status: r.status, body: t}; }); });",
            vec![json!(format!("{page}/rollback"))],
        )
        .await
        .unwrap();
    assert_eq!(forged["status"], 403, "{forged}");
    assert!(
        forged["body"]
            .as_str()
            .unwrap()
            .contains("needs the deployer role")
    );
    v.close().await;

    let b = Browser::start().await;
    b.sign_in(&stack.s, &deployer).await;
    b.client.goto(&stack.s.url(&page)).await.unwrap();
    b.wait_for_texts(
        "details.confirm summary",
        &["Terminate original now", "Stop and roll back"],
    )
    .await;
    b.screenshots("deployment-baking").await;
    // No token, a wrong token, and the API with only the cookie: all refused.
    let attempts = b
        .client
        .execute(
            "var post = function (url, body, type) {
                 return fetch(url, {method: 'POST', credentials: 'same-origin',
                     headers: {'Content-Type': type}, body: body})
                   .then(function (r) { return r.text().then(function (t) { return {status: r.status, body: t}; }); });
             };
             return Promise.all([
                 post(arguments[0], '', 'application/x-www-form-urlencoded'),
                 post(arguments[0], 'csrf=not-the-token', 'application/x-www-form-urlencoded'),
                 post(arguments[1], '{}', 'application/json'),
             ]);",
            vec![
                json!(format!("{page}/rollback")),
                json!(format!("/api/deployments/{id}/rollback")),
            ],
        )
        .await
        .unwrap();
    assert_eq!(attempts[0]["status"], 403, "{attempts}");
    assert!(
        attempts[0]["body"]
            .as_str()
            .unwrap()
            .contains("security token")
    );
    assert_eq!(attempts[1]["status"], 403, "{attempts}");
    assert_eq!(attempts[2]["status"], 401, "{attempts}");
    let unchanged = stack.deployment(id).await;
    assert_eq!(unchanged["status"], "Baking", "{unchanged}");
    assert_eq!(unchanged["rolled_back"], false, "{unchanged}");

    // The deployer ends the termination wait from the page.
    b.confirm(
        "details.confirm:has(form[action$='/terminate-original']) summary",
        "",
    )
    .await;
    stack
        .wait(id, "Succeeded", |d| d["status"] == "Succeeded")
        .await;
    b.wait_until(
        "the page to show Succeeded",
        "var s = document.getElementById('deployment-status'); return !!s && s.dataset.status === 'Succeeded'",
    )
    .await;
    let events = stack
        .s
        .get(
            "/api/environments/held/events?limit=50",
            &stack.s.admin_token,
        )
        .await;
    assert!(
        events.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "deployment.original_terminated" && e["actor"] == "dee"),
        "{:?}",
        events.body
    );
    b.close().await;
}

#[tokio::test]
async fn a_canary_on_ecs_own_controller_is_stopped_from_the_dashboard() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    // 20 % on green, then a 10-hour canary bake (10 minutes at time scale
    // 60): time enough to stop it from the page.
    let stack = Stack::new(
        "canary",
        json!({"controller": "ecs", "termination_wait_minutes": null, "ecs_deployment": {
            "strategy": "CANARY", "canary": {"percent": 20, "bake_minutes": 600},
            "bake_time_minutes": 1,
        }}),
    )
    .await;
    let started = stack
        .s
        .post(
            "/api/environments/canary/deployments",
            &stack.s.admin_token,
            json!({"image": format!("static:{}", stack.s.sites_dir().join("v2").display()),
                   "version": "v2"}),
        )
        .await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let id = started.body["id"].as_i64().unwrap();
    stack
        .wait(id, "20 % on green", |d| d["green_weight"] == 20.0)
        .await;

    let b = Browser::start().await;
    b.sign_in(&stack.s, &stack.s.admin_token).await;
    b.client
        .goto(&stack.s.url(&format!("/deployments/{id}")))
        .await
        .unwrap();
    b.wait_for_text(GREEN_WEIGHT, "20 %").await;
    b.wait_for_text("main", "CANARY").await;
    b.screenshots("deployment-canary").await;
    b.open_confirmation("details.confirm.danger summary").await;
    b.wait_for_text(
        "#confirm-dialog .dialog-body p",
        "return all production traffic",
    )
    .await;
    b.click("#confirm-dialog .dialog-body button[type=submit]")
        .await;
    let stopped = stack
        .wait(id, "stopped and rolled back", |d| {
            matches!(d["status"].as_str(), Some("Stopped" | "Failed")) && d["rolled_back"] == true
        })
        .await;
    assert_eq!(stopped["ecs_status"], "ROLLBACK_SUCCESSFUL", "{stopped}");
    assert_eq!(stopped["green_weight"], 0.0, "{stopped}");
    b.wait_until(
        "the page to show the rollback",
        "var s = document.getElementById('deployment-status');
         return !!s && s.dataset.status.includes('rolled back')",
    )
    .await;
    b.screenshots("deployment-canary-stopped").await;
    let events = stack
        .s
        .get(
            "/api/environments/canary/events?limit=50",
            &stack.s.admin_token,
        )
        .await
        .body;
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "deployment.rollback_requested" && e["actor"] == "admin"),
        "the audit trail names who stopped it: {events}"
    );
    b.close().await;
}
