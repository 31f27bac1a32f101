//! The API's error shape on every path a request can fail: path parameters,
//! bodies that are not JSON, and the role check before any of them.

use crate::helpers::{Answer, TestServer};
use reqwest::{Method, StatusCode};

async fn send(
    s: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    content_type: &str,
    body: &str,
) -> Answer {
    s.raw(
        s.client()
            .request(method, s.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body.to_owned()),
    )
    .await
}

fn assert_json_error(answer: &Answer, status: StatusCode, field: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}: {:?}", answer.body);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{what}: {:?}",
        answer.headers
    );
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {:?}",
        answer.body
    );
    assert_eq!(answer.field(), field, "{what}: {:?}", answer.body);
}

#[tokio::test]
async fn a_path_id_that_is_not_a_number_is_a_400_naming_it() {
    let s = TestServer::spawn().await;
    let token = s.admin_token.clone();
    for (method, path) in [
        (Method::GET, "/api/deployments/abc"),
        (Method::GET, "/api/deployments/99999999999999999999"),
        (Method::GET, "/api/deployments/1.5/events"),
        (Method::GET, "/api/pipeline-runs/x"),
        (Method::GET, "/api/pipeline-runs/x/actions/Build/log"),
        (Method::GET, "/api/approvals/x"),
        (Method::POST, "/api/deployments/abc/rollback"),
        (Method::POST, "/api/pipeline-runs/x/stop"),
    ] {
        let answer = send(&s, method.clone(), path, &token, "application/json", "{}").await;
        assert_json_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "id",
            &format!("{method} {path}"),
        );
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("whole number"),
            "{:?}",
            answer.body
        );
    }
    // A number that names nothing is still a 404.
    let missing = s.get("/api/deployments/12345", &token).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{:?}", missing.body);
}

#[tokio::test]
async fn truncated_json_is_a_400_for_the_api_and_the_webhooks() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    let token = s.admin_token.clone();
    for (method, path, body) in [
        (
            Method::POST,
            "/api/environments",
            r#"{"name": "x", "platfo"#,
        ),
        (
            Method::PATCH,
            "/api/environments/demo",
            r#"{"approval_policy": {"required": 1"#,
        ),
        (
            Method::POST,
            "/api/environments/demo/releases",
            r#"{"version": "v1""#,
        ),
        (
            Method::POST,
            "/api/environments/demo/rollback",
            r#"{"deployment_config": "#,
        ),
    ] {
        let answer = send(&s, method.clone(), path, &token, "application/json", body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {:?}",
            answer.body
        );
        assert_eq!(answer.code(), "malformed_json", "{:?}", answer.body);
    }
    let hook = s
        .raw(
            s.client()
                .post(s.url("/hooks/github"))
                .header("content-type", "application/json")
                .header("x-github-event", "push")
                .header("x-github-delivery", "d-1")
                .body(r#"{"ref": "refs/hea"#),
        )
        .await;
    assert_json_error(&hook, StatusCode::BAD_REQUEST, "body", "truncated push");
}

#[tokio::test]
async fn a_webhook_without_its_event_header_is_a_400_naming_the_header() {
    let s = TestServer::spawn().await;
    let answer = s
        .raw(
            s.client()
                .post(s.url("/hooks/github"))
                .header("content-type", "application/json")
                .header("x-github-delivery", "d-1")
                .body("{}"),
        )
        .await;
    assert_json_error(
        &answer,
        StatusCode::BAD_REQUEST,
        "X-GitHub-Event",
        "no event",
    );
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-GitHub-Event"),
        "{:?}",
        answer.body
    );
}

#[tokio::test]
async fn a_last_event_id_that_is_no_event_id_is_a_400_naming_the_header() {
    let s = TestServer::spawn().await;
    let stream = |path: &str, last: &str| {
        s.raw(
            s.client()
                .get(s.url(path))
                .bearer_auth(&s.admin_token)
                .header("last-event-id", last),
        )
    };
    for path in ["/api/deployments/1/events", "/api/pipeline-runs/1/events"] {
        for last in ["9223372036854775808", "-1", "abc", "1.5", ""] {
            let answer = stream(path, last).await;
            assert_json_error(
                &answer,
                StatusCode::BAD_REQUEST,
                "Last-Event-ID",
                &format!("{path} after {last:?}"),
            );
        }
        // An event id is read, and the stream of nothing is a 404.
        let missing = stream(path, "9223372036854775807").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{:?}", missing.body);
    }
    // As the document says: an optional header is absent, never null.
    let doc = s.get("/api/openapi.json", &s.admin_token).await.body;
    for path in [
        "/api/deployments/{id}/events",
        "/api/pipeline-runs/{id}/events",
    ] {
        let header = &doc["paths"][path]["get"]["parameters"][1];
        assert_eq!(header["name"], "Last-Event-ID");
        assert_eq!(header["required"], false);
        assert_eq!(header["schema"]["type"], "integer", "{header}");
        assert_eq!(header["schema"]["minimum"], 0, "{header}");
    }
}

#[tokio::test]
async fn a_caller_without_the_role_gets_403_whatever_it_sends() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    let viewer = s.user("vic", "viewer").await;
    let deployer = s.user("dee", "deployer").await;
    let bodies = [
        ("application/json", "{nope"),
        ("application/json", r#"{"unknown": 1}"#),
        ("text/plain", "hello"),
        ("application/json", "[]"),
    ];
    let routes = [
        (Method::POST, "/api/environments", "admin"),
        (Method::PATCH, "/api/environments/demo", "admin"),
        (Method::POST, "/api/environments/demo/stack", "admin"),
        (Method::POST, "/api/users", "admin"),
        (Method::POST, "/api/environments/demo/releases", "deployer"),
        (
            Method::POST,
            "/api/environments/demo/deployments",
            "deployer",
        ),
        (
            Method::POST,
            "/api/environments/demo/pipeline/runs",
            "deployer",
        ),
        (Method::POST, "/api/deployments/abc/continue", "deployer"),
        (Method::POST, "/api/pipeline-runs/x/retry", "deployer"),
        (Method::POST, "/api/approvals/x/decisions", "approver"),
    ];
    for (method, path, needed) in routes {
        for (content_type, body) in bodies {
            for (token, role) in [(&viewer, "viewer"), (&deployer, "deployer")] {
                if role == needed {
                    continue;
                }
                let answer = send(&s, method.clone(), path, token, content_type, body).await;
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path} with {body:?}: {:?}",
                    answer.body
                );
                assert_eq!(answer.code(), "forbidden");
                assert!(
                    answer.body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("needs the {needed} role")),
                    "{:?}",
                    answer.body
                );
            }
        }
    }
    // Nothing was written on the way.
    assert_eq!(s.event_kinds("demo").await, ["environment.created"]);
}

#[tokio::test]
async fn bodies_are_read_as_the_openapi_document_describes_them() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    let token = s.admin_token.clone();
    // serde alone would read a struct from an array.
    let array = send(
        &s,
        Method::PATCH,
        "/api/environments/demo",
        &token,
        "application/json",
        "[null, null]",
    )
    .await;
    assert_json_error(&array, StatusCode::UNPROCESSABLE_ENTITY, "body", "an array");
    // 2.0 is an integer to JSON Schema.
    let integral = send(
        &s,
        Method::PATCH,
        "/api/environments/demo",
        &token,
        "application/json",
        r#"{"approval_policy": {"required": 2.0}}"#,
    )
    .await;
    assert_eq!(integral.status, StatusCode::OK, "{:?}", integral.body);
    assert_eq!(integral.body["approval_policy"]["required"], 2);
    let fraction = send(
        &s,
        Method::PATCH,
        "/api/environments/demo",
        &token,
        "application/json",
        r#"{"approval_policy": {"required": 2.5}}"#,
    )
    .await;
    assert_json_error(
        &fraction,
        StatusCode::UNPROCESSABLE_ENTITY,
        "approval_policy.required",
        "a fraction",
    );
    // An optional body may be null; a local stack takes no variables.
    let plan = send(
        &s,
        Method::POST,
        "/api/environments/demo/stack/plan",
        &token,
        "application/json",
        "null",
    )
    .await;
    assert_json_error(&plan, StatusCode::CONFLICT, "", "plan of a local stack");
}
