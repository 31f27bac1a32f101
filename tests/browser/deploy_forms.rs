//! Deploying from the dashboard: the form, its confirmation, and the start
//! from the confirmation's POST, in a real browser and over plain HTTP.

use crate::helpers::TestServer;
use crate::support::{Browser, ONE_BROWSER_AT_A_TIME, Session, Stack, eventually, hidden};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// The displayed green weight, from the deployment page.
const GREEN_WEIGHT: &str = "#live .traffic [data-weight=green]";

/// What production answers now.
async fn production(s: &TestServer, environment: &str) -> String {
    let stack = s
        .get(
            &format!("/api/environments/{environment}/stack"),
            &s.admin_token,
        )
        .await
        .body;
    let url = stack["outputs"]["prod_url"].as_str().unwrap().to_owned();
    s.client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn events(s: &TestServer, environment: &str) -> Vec<Value> {
    s.get(
        &format!("/api/environments/{environment}/events?limit=200"),
        &s.admin_token,
    )
    .await
    .body["events"]
        .as_array()
        .unwrap()
        .clone()
}

async fn deployments(s: &TestServer, environment: &str) -> Vec<Value> {
    s.get(
        &format!("/api/environments/{environment}/deployments"),
        &s.admin_token,
    )
    .await
    .body["deployments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// POSTs the deploy form of `environment` with `fields` and the session's
/// CSRF token, as the confirmation's button does.
async fn post_deploy_form(
    session: &Session,
    s: &TestServer,
    environment: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf", session.csrf.as_str())];
    form.extend_from_slice(fields);
    session
        .post(s, &format!("/environments/{environment}/deploy"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The deploy page of environment `checked` for these query fields.
async fn confirmation(
    session: &Session,
    s: &TestServer,
    pairs: &[(&str, &str)],
) -> (StatusCode, String) {
    let answer = session
        .get(s, "/environments/checked/deploy")
        .query(pairs)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

/// The deployment id a `/deployments/{id}` location names.
fn deployment_id(location: &str) -> i64 {
    location
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{location} is not a deployment page"))
}

#[tokio::test]
async fn a_deployer_deploys_from_the_form_and_rolls_back_from_the_history() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let stack = Stack::new("forms", json!({})).await;
    let s = &stack.s;
    let first = stack.deploy("v1", "CodeDeployDefault.ECSAllAtOnce").await;
    stack
        .wait(first, "Succeeded", |d| d["status"] == "Succeeded")
        .await;
    let deployer = s.user("dana", "deployer").await;

    let b = Browser::start().await;
    b.sign_in(s, &deployer).await;
    b.client.goto(&s.url("/environments/forms")).await.unwrap();
    b.submit("#deploy-link").await;
    b.fill("input[name=version]", "v2").await;
    b.fill(
        "input[name=image]",
        &format!("static:{}", s.sites_dir().join("v2").display()),
    )
    .await;
    b.client
        .execute(
            "document.querySelector('select[name=deployment_config]').value =
                 'CodeDeployDefault.ECSLinear10PercentEvery1Minutes'; return true;",
            vec![],
        )
        .await
        .unwrap();
    b.screenshots("deploy-form").await;
    b.submit("#deploy-form button[type=submit]").await;

    // The confirmation says what production serves and what replaces it.
    b.wait_for_text("#deploy-heading", "Deploy v2 to forms")
        .await;
    b.wait_for_text("#live-release", "v1").await;
    b.wait_for_text("#candidate-release", "a new release").await;
    b.wait_for_text("#traffic-plan", "10% more every 1 min")
        .await;
    b.wait_for_text("#approvals-plan", "asks no approvals")
        .await;
    b.screenshots("deploy-confirmation").await;
    assert!(
        deployments(s, "forms").await.len() == 1,
        "the form and its confirmation started nothing"
    );
    b.submit("#confirm-deploy button[type=submit]").await;

    // The deployment page follows the shift without a reload.
    b.wait_for(GREEN_WEIGHT).await;
    b.mark_no_reload().await;
    let path = b.client.current_url().await.unwrap().path().to_owned();
    let id = deployment_id(&path);
    b.wait_until_within(
        "100 % on green in the page",
        "var e = document.querySelector('#live .traffic [data-weight=green]');
         return !!e && e.textContent.trim() === '100 %';",
        Duration::from_secs(90),
    )
    .await;
    assert!(!b.reloaded().await, "the page reloaded to show the shift");
    stack
        .wait(id, "Succeeded", |d| d["status"] == "Succeeded")
        .await;
    assert!(production(s, "forms").await.contains("v2"));

    // From the history: "roll back to this" on v1.
    b.client
        .goto(&s.url("/environments/forms/releases"))
        .await
        .unwrap();
    b.wait_for_texts("a.redeploy", &["Redeploy", "Roll back to this"])
        .await;
    b.submit("a.redeploy.danger").await;
    b.wait_for_text("#deploy-heading", "Roll forms back to v1")
        .await;
    b.wait_for_text("#candidate-release", "an earlier release")
        .await;
    b.wait_for_text("#confirm-deploy button", "Yes, roll forms back to v1")
        .await;
    b.submit("#confirm-deploy button[type=submit]").await;
    b.wait_for(GREEN_WEIGHT).await;
    let path = b.client.current_url().await.unwrap().path().to_owned();
    let back = deployment_id(&path);
    assert_ne!(back, id);
    stack
        .wait(back, "Succeeded", |d| d["status"] == "Succeeded")
        .await;
    assert!(production(s, "forms").await.contains("v1"));

    let started: Vec<(Value, Value)> = events(s, "forms")
        .await
        .into_iter()
        .filter(|e| e["kind"] == "deployment.started")
        .map(|e| (e["actor"].clone(), e["detail"]["version"].clone()))
        .collect();
    for version in ["v2", "v1"] {
        assert!(
            started.contains(&(json!("dana"), json!(version))),
            "the audit trail names dana for {version}: {started:?}"
        );
    }
    b.close().await;
}

#[tokio::test]
async fn viewers_get_no_deploy_forms_and_the_forms_check_their_fields() {
    let stack = Stack::new("checked", json!({"termination_wait_minutes": 120})).await;
    let s = &stack.s;
    let v1 = stack.deploy("v1", "CodeDeployDefault.ECSAllAtOnce").await;
    stack.wait(v1, "Baking", |d| d["status"] == "Baking").await;

    // A viewer sees no deploy link, no deploy form, and a forged POST with
    // the viewer's own valid token is refused.
    let viewer = Session::sign_in(s, &s.user("vic", "viewer").await).await;
    let (status, environment) = viewer.page(s, "/environments/checked").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!environment.contains("deploy-link"), "{environment}");
    let (status, releases) = viewer.page(s, "/environments/checked/releases").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!releases.contains("class=\"button redeploy"), "{releases}");
    let (status, form) = viewer.page(s, "/environments/checked/deploy").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{form}");
    assert!(form.contains("needs the deployer role"), "{form}");
    let forged = post_deploy_form(
        &viewer,
        s,
        "checked",
        &[("version", "v2"), ("image", &s.write_site("v2"))],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("needs the deployer role")
    );
    // Without the token, even a deployer's POST is refused.
    let deployer = Session::sign_in(s, &s.user("dee", "deployer").await).await;
    let tokenless = deployer
        .post(s, "/environments/checked/deploy")
        .form(&[("version", "v2"), ("image", &s.write_site("v2"))])
        .send()
        .await
        .unwrap();
    assert_eq!(tokenless.status(), StatusCode::FORBIDDEN);
    assert_eq!(deployments(s, "checked").await.len(), 1, "nothing started");

    // Bad fields are named, on the form (GET) and on a POST.
    let v2 = s.write_site("v2");
    for (pairs, field) in [
        (vec![("version", "v 2"), ("image", v2.as_str())], "version"),
        (vec![("version", "v9")], "image"),
        (vec![("version", "v2"), ("image", "not an image!")], "image"),
        (
            vec![
                ("version", "v2"),
                ("image", v2.as_str()),
                ("deployment_config", "Fastest"),
            ],
            "deployment_config",
        ),
    ] {
        let (status, page) = confirmation(&deployer, s, &pairs).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{pairs:?}: {page}"
        );
        assert!(
            page.contains(&format!("data-field=\"{field}\"")),
            "{pairs:?} names {field}: {page}"
        );
    }
    // v1 is recorded with its own image: another one needs a new version.
    let (status, page) = confirmation(&deployer, s, &[("version", "v1"), ("image", &v2)]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("give the new image a new version"), "{page}");

    // While v1 bakes, the confirmation warns that a start would be refused,
    // and the POST is refused with a way back.
    let (status, page) = confirmation(&deployer, s, &[("version", "v2"), ("image", &v2)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"in-progress\""), "{page}");
    let refused = post_deploy_form(
        &deployer,
        s,
        "checked",
        &[("version", "v2"), ("image", &v2)],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refused.text().await.unwrap().contains("in progress"));

    // Once it is done, a double submit of one confirmation starts one deployment.
    let admin = Session::sign_in(s, &s.admin_token).await;
    let ended = admin
        .post(s, &format!("/deployments/{v1}/terminate-original"))
        .form(&[("csrf", admin.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    stack
        .wait(v1, "Succeeded", |d| d["status"] == "Succeeded")
        .await;
    let (_, page) = confirmation(&deployer, s, &[("version", "v2"), ("image", &v2)]).await;
    assert!(!page.contains("id=\"in-progress\""), "{page}");
    let key = hidden(&page, "idempotency_key").expect("the confirmation carries a key");
    let mut locations = Vec::new();
    for _ in 0..2 {
        let answer = post_deploy_form(
            &deployer,
            s,
            "checked",
            &[("version", "v2"), ("image", &v2), ("idempotency_key", &key)],
        )
        .await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        locations.push(answer.headers()["location"].to_str().unwrap().to_owned());
    }
    assert_eq!(locations[0], locations[1], "one deployment for two clicks");
    eventually(
        "two deployments in the list",
        Duration::from_secs(10),
        async || {
            let all = deployments(s, "checked").await;
            if all.len() == 2 {
                Ok(())
            } else {
                Err(all.len())
            }
        },
    )
    .await;
    let started: Vec<Value> = events(s, "checked")
        .await
        .into_iter()
        .filter(|e| e["kind"] == "deployment.started" && e["detail"]["version"] == "v2")
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["actor"], "dee");
}

#[tokio::test]
async fn a_freeze_holds_the_form_and_an_admin_breaks_the_glass() {
    let stack = Stack::new("frozen", json!({})).await;
    let s = &stack.s;
    let v1 = stack.deploy("v1", "CodeDeployDefault.ECSAllAtOnce").await;
    stack
        .wait(v1, "Succeeded", |d| d["status"] == "Succeeded")
        .await;
    let minute = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M").to_string();
    let now = chrono::Utc::now();
    let window = json!({"kind": "once", "mode": "deny", "time_zone": "UTC",
        "from": minute(now - chrono::Duration::hours(1)),
        "to": minute(now + chrono::Duration::hours(2)), "reason": "year-end freeze"});
    let frozen = s
        .request(
            reqwest::Method::PATCH,
            "/api/environments/frozen",
            Some(&s.admin_token),
            Some(json!({"freeze_windows": [window]})),
        )
        .await;
    assert_eq!(frozen.status, StatusCode::OK, "{:?}", frozen.body);
    let v2 = s.write_site("v2");
    let ask = |session: &Session| {
        session
            .get(s, "/environments/frozen/deploy")
            .query(&[("version", "v2"), ("image", v2.as_str())])
            .send()
    };

    // A deployer is told until when, and gets no button; a forged POST is refused.
    let deployer = Session::sign_in(s, &s.user("dee", "deployer").await).await;
    let page = ask(&deployer).await.unwrap().text().await.unwrap();
    assert!(page.contains("year-end freeze"), "{page}");
    assert!(page.contains("id=\"frozen-refusal\""), "{page}");
    assert!(!page.contains("id=\"confirm-deploy\""), "{page}");
    let forged =
        post_deploy_form(&deployer, s, "frozen", &[("version", "v2"), ("image", &v2)]).await;
    assert_eq!(forged.status(), StatusCode::CONFLICT);
    assert!(forged.text().await.unwrap().contains("frozen until"));
    let breaking = post_deploy_form(
        &deployer,
        s,
        "frozen",
        &[
            ("version", "v2"),
            ("image", &v2),
            ("break_glass", "mine to break"),
        ],
    )
    .await;
    assert_eq!(breaking.status(), StatusCode::FORBIDDEN);
    assert_eq!(deployments(s, "frozen").await.len(), 1, "nothing started");

    // An admin gets the reason field, and breaking the glass is recorded.
    let admin = Session::sign_in(s, &s.admin_token).await;
    let page = ask(&admin).await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"break_glass\""), "{page}");
    let started = post_deploy_form(
        &admin,
        s,
        "frozen",
        &[
            ("version", "v2"),
            ("image", &v2),
            ("break_glass", "hotfix for the checkout outage"),
        ],
    )
    .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let broken: Vec<Value> = events(s, "frozen")
        .await
        .into_iter()
        .filter(|e| e["kind"] == "environment.freeze_broken")
        .collect();
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert_eq!(broken[0]["actor"], "admin");
    assert_eq!(
        broken[0]["detail"]["reason"],
        "hotfix for the checkout outage"
    );
}
