//! The dashboard over plain HTTP: every page renders its state without
//! JavaScript, sign-in cookies carry the right attributes, forms need their
//! CSRF token, and the session cookie reads the API but never changes it.

use crate::helpers::TestServer;
use crate::support::{Session, Stack, hidden, no_redirects, set_cookie, sign_in_form};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION};
use serde_json::json;

#[tokio::test]
async fn sign_in_cookies_are_http_only_strict_and_secure_behind_tls() {
    let s = TestServer::spawn().await;
    let http = no_redirects();

    // Over plain HTTP: no Secure (the browser would never send it back).
    let (csrf, form_cookie) = sign_in_form(&http, &s).await;
    let signed = http
        .post(s.url("/sign-in"))
        .header(COOKIE, &form_cookie)
        .form(&[
            ("token", s.admin_token.as_str()),
            ("csrf", &csrf),
            ("next", "/environments/x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed.headers()[LOCATION], "/environments/x");
    let cookie = set_cookie(&signed, "sy_session").unwrap();
    for attribute in [
        "; Path=/",
        "; HttpOnly",
        "; SameSite=Strict",
        "; Max-Age=43200",
    ] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    let session_id = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("sy_session=");
    assert!(session_id.len() >= 43, "a short session id: {cookie}");
    // The database keeps only a hash of it.
    let db = std::fs::read(s.data_dir.join("switchyard.db")).unwrap();
    let wal = std::fs::read(s.data_dir.join("switchyard.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes
                .windows(session_id.len())
                .any(|w| w == session_id.as_bytes()),
            "the session id is stored in the clear"
        );
    }

    // Behind a TLS-terminating proxy: Secure on both cookies.
    let page = http
        .get(s.url("/sign-in"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(
        set_cookie(&page, "sy_sign_in")
            .unwrap()
            .contains("; Secure")
    );
    let csrf = hidden(&page.text().await.unwrap(), "csrf").unwrap();
    let form_cookie = format!("sy_sign_in={csrf}");
    let signed = http
        .post(s.url("/sign-in"))
        .header("x-forwarded-proto", "https")
        .header(COOKIE, &form_cookie)
        .form(&[("token", s.admin_token.as_str()), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookie(&signed, "sy_session")
            .unwrap()
            .ends_with("; Secure")
    );
    // Only this server's paths are followed after signing in.
    let (csrf, form_cookie) = sign_in_form(&http, &s).await;
    let signed = http
        .post(s.url("/sign-in"))
        .header(COOKIE, &form_cookie)
        .form(&[
            ("token", s.admin_token.as_str()),
            ("csrf", &csrf),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.headers()[LOCATION], "/");
}

#[tokio::test]
async fn sign_in_refuses_bad_tokens_and_forms_without_their_token() {
    let s = TestServer::spawn().await;
    let http = no_redirects();
    let (csrf, form_cookie) = sign_in_form(&http, &s).await;
    let post = |token: &'static str, csrf: String, cookie: Option<String>| {
        let mut r = http
            .post(s.url("/sign-in"))
            .form(&[("token", token), ("csrf", &csrf)]);
        if let Some(c) = cookie {
            r = r.header(COOKIE, c);
        }
        r.send()
    };
    let wrong = post("sy_wrong", csrf.clone(), Some(form_cookie.clone()))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&wrong, "sy_session").is_none());
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("that API token is not valid")
    );
    let empty = post("", csrf.clone(), Some(form_cookie.clone()))
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The form's own token must match its cookie: login CSRF.
    let forged = post("sy_x", csrf.clone(), None).await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let forged = post("sy_x", "other".into(), Some(form_cookie))
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.text().await.unwrap().contains("security token"));
}

#[tokio::test]
async fn pages_render_their_state_without_javascript() {
    let stack = Stack::new("web", json!({})).await;
    let s = &stack.s;
    let first = stack.deploy("v1", "CodeDeployDefault.ECSAllAtOnce").await;
    stack
        .wait(first, "Succeeded", |d| d["status"] == "Succeeded")
        .await;
    let second = stack
        .deploy("v2", "CodeDeployDefault.ECSLinear10PercentEvery1Minutes")
        .await;
    stack
        .wait(second, "Succeeded", |d| d["status"] == "Succeeded")
        .await;
    let session = Session::sign_in(s, &s.admin_token).await;

    let (status, overview) = session.page(s, "/").await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        "href=\"/environments/web\"",
        ">v2</a>",
        "Green (replacement) serves all traffic",
        "1 of 1 serving tasks running",
        "Succeeded",
        "no runs",
    ] {
        assert!(overview.contains(expected), "overview lacks {expected}");
    }

    let (status, page) = session.page(s, &format!("/deployments/{second}")).await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        "<path class=\"actual\"",
        "<path class=\"planned\"",
        "data-status=\"Succeeded\"",
        "AllowTraffic",
        "Green <strong data-weight=\"green\">100 %</strong>",
        "Blue <strong data-weight=\"blue\">0 %</strong>",
        "replacement",
        "<time datetime=\"",
    ] {
        assert!(
            page.contains(expected),
            "the deployment page lacks {expected}"
        );
    }
    // Finished: no live stream, no actions.
    assert!(!page.contains("data-events="));
    assert!(!page.contains("details class=\"confirm"));

    let (status, env) = session.page(s, "/environments/web").await;
    assert_eq!(status, StatusCode::OK);
    assert!(env.contains(&format!("href=\"/deployments/{first}\"")));
    let (status, releases) = session.page(s, "/environments/web/releases").await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        "data-label=\"Release\">v1",
        "data-label=\"Release\">v2",
        "Deployment frequency",
        "0 of 2 finished deployments",
        "succeeded",
    ] {
        assert!(
            releases.contains(expected),
            "the releases page lacks {expected}"
        );
    }
    let (status, missing) = session.page(s, "/deployments/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing.contains("no deployment 999"));

    // Everything comes from this server: the stylesheet and the script,
    // cached for a year under a content hash.
    let mut first_load = page.len();
    for (attr, kind) in [
        ("href=\"/static/app.", "text/css"),
        ("src=\"/static/app.", "text/javascript"),
    ] {
        let start = page.find(attr).unwrap() + attr.len() - "/static/app.".len();
        let url = page[start..].split('"').next().unwrap();
        let r = session.get(s, url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(
            r.headers()[CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        first_load += r.bytes().await.unwrap().len();
    }
    assert!(first_load < 100_000, "the first load is {first_load} bytes");
    for page in [&overview, &page, &env, &releases] {
        for external in ["src=\"http", "href=\"https://", "url(http", "@import"] {
            assert!(!page.contains(external), "a page loads {external}");
        }
    }
    let stale = session
        .get(s, "/static/app.000000000000.css")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_session_cookie_reads_the_api_but_never_changes_it() {
    let s = TestServer::spawn().await;
    s.environment("web").await;
    let session = Session::sign_in(&s, &s.admin_token).await;
    let me = session.get(&s, "/api/me").send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let write = session
        .post(&s, "/api/environments/web/releases")
        .json(&json!({"version": "v9", "image": "nginx:v9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.get("/api/environments/web/releases", &s.admin_token)
            .await
            .body["releases"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn sign_out_needs_its_token_and_ends_the_session() {
    let s = TestServer::spawn().await;
    let session = Session::sign_in(&s, &s.admin_token).await;
    let without = session
        .post(&s, "/sign-out")
        .form(&[("x", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert_eq!(session.page(&s, "/").await.0, StatusCode::OK);
    let out = session
        .post(&s, "/sign-out")
        .form(&[("csrf", session.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookie(&out, "sy_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = session.get(&s, "/").send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(after.headers()[LOCATION], "/sign-in?next=%2F");
    let api = session.get(&s, "/api/me").send().await.unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn release_history_filters_and_pages_by_keyset() {
    let s = TestServer::spawn().await;
    s.environment("web").await;
    for i in 0..120 {
        let author = if i % 3 == 0 { "ann" } else { "bob" };
        let answer = s
            .post(
                "/api/environments/web/releases",
                &s.admin_token,
                json!({"version": format!("v{i}"), "image": format!("nginx:{i}"), "author": author,
                       "message": format!("change {i}")}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED);
    }
    let session = Session::sign_in(&s, &s.admin_token).await;
    let (status, page) = session.page(&s, "/environments/web/releases").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-label=\"Release\">v119"));
    assert_eq!(page.matches("data-label=\"Release\"").count(), 50);
    let older = page
        .split("href=\"")
        .find_map(|rest| rest.split('"').next().filter(|h| h.contains("before=")))
        .expect("an older page")
        .replace("&amp;", "&");
    let (_, page2) = session.page(&s, &older).await;
    assert!(page2.contains("data-label=\"Release\">v69"));
    assert!(!page2.contains("data-label=\"Release\">v70"));

    let (_, anns) = session
        .page(&s, "/environments/web/releases?author=ann")
        .await;
    assert_eq!(anns.matches("data-label=\"Release\"").count(), 40);
    assert!(!anns.contains("data-label=\"Author\">bob<"));
    let (_, undeployed) = session
        .page(
            &s,
            "/environments/web/releases?status=not_deployed&author=bob",
        )
        .await;
    assert_eq!(undeployed.matches("data-label=\"Release\"").count(), 50);
    let (_, none) = session
        .page(&s, "/environments/web/releases?status=succeeded")
        .await;
    assert!(none.contains("No release matches these filters."));
    let (_, future) = session
        .page(&s, "/environments/web/releases?from=2999-01-01")
        .await;
    assert!(future.contains("No release matches these filters."));
    let (status, bad) = session
        .page(&s, "/environments/web/releases?from=yesterday")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.contains("is not a date"));
    let (status, _) = session.page(&s, "/environments/nope/releases").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pipeline_and_approval_pages_explain_what_they_cannot_do() {
    let s = TestServer::spawn().await;
    s.environment("web").await;
    let admin = Session::sign_in(&s, &s.admin_token).await;
    let (status, inbox) = admin.page(&s, "/approvals").await;
    assert_eq!(status, StatusCode::OK);
    assert!(inbox.contains("Nothing waits for your vote."));
    assert!(inbox.contains("aria-current=\"page\">Approvals</a>"));
    let (status, runs) = admin.page(&s, "/environments/web/pipeline").await;
    assert_eq!(status, StatusCode::OK);
    assert!(runs.contains("This environment has no pipeline"));
    assert!(
        !runs.contains("Start pipeline run"),
        "a run is offered without a pipeline"
    );
    for (path, status, says) in [
        ("/environments/nope/pipeline", StatusCode::NOT_FOUND, "nope"),
        (
            "/environments/web/pipeline?before=x",
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a page cursor",
        ),
        (
            "/pipeline-runs/999",
            StatusCode::NOT_FOUND,
            "no pipeline run 999",
        ),
        ("/approvals/999", StatusCode::NOT_FOUND, "no approval 999"),
    ] {
        let (got, page) = admin.page(&s, path).await;
        assert_eq!(got, status, "{path}");
        assert!(page.contains(says), "{path} does not say {says:?}");
    }
    let csrf = admin.csrf.as_str();
    for (path, form, status, says) in [
        (
            "/approvals/999/vote",
            vec![("decision", "approve")],
            StatusCode::NOT_FOUND,
            "no approval 999",
        ),
        (
            "/approvals/999/vote",
            vec![("decision", "maybe")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown decision",
        ),
        (
            "/pipeline-runs/999/stop",
            vec![("reason", "x")],
            StatusCode::NOT_FOUND,
            "no pipeline run 999",
        ),
        (
            "/pipeline-runs/999/retry",
            vec![("stage", "Build")],
            StatusCode::NOT_FOUND,
            "no pipeline run 999",
        ),
        (
            "/environments/web/pipeline/runs",
            vec![],
            StatusCode::CONFLICT,
            "has no pipeline",
        ),
        (
            "/environments/web/pipeline/runs",
            vec![("commit", "main")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "commit",
        ),
    ] {
        let mut fields = form.clone();
        fields.push(("csrf", csrf));
        let answer = admin.post(&s, path).form(&fields).send().await.unwrap();
        assert_eq!(answer.status(), status, "{path} {form:?}");
        assert!(
            answer.text().await.unwrap().contains(says),
            "{path} {form:?} does not say {says:?}"
        );
    }
}
