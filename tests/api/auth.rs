use crate::helpers::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::json;

const API_ROUTES: [(&str, &str); 9] = [
    ("GET", "/api/environments"),
    ("POST", "/api/environments"),
    ("GET", "/api/environments/demo"),
    ("DELETE", "/api/environments/demo"),
    ("GET", "/api/environments/demo/releases"),
    ("POST", "/api/environments/demo/releases"),
    ("GET", "/api/environments/demo/events"),
    ("GET", "/api/me"),
    ("GET", "/api/openapi.json"),
];

#[tokio::test]
async fn every_api_route_needs_a_valid_token() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    for (method, path) in API_ROUTES {
        let method: Method = method.parse().unwrap();
        let missing = s.request(method.clone(), path, None, Some(json!({}))).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(missing.code(), "unauthorized");
        assert_eq!(missing.headers["www-authenticate"], "Bearer");
        let wrong = s
            .request(
                method.clone(),
                path,
                Some("sy_not-a-real-token"),
                Some(json!({})),
            )
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let basic = s
            .raw(
                s.client()
                    .request(method.clone(), s.url(path))
                    .header("authorization", "Basic YWRtaW46YWRtaW4="),
            )
            .await;
        assert_eq!(basic.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    // Nothing was changed by any of them.
    assert_eq!(s.event_count("demo").await, 1);
}

#[tokio::test]
async fn me_tells_who_the_token_belongs_to() {
    let s = TestServer::spawn().await;
    let me = s.get("/api/me", &s.admin_token).await;
    assert_eq!(me.body, json!({"name": "admin", "role": "admin"}));
    let token = s.user("ann", "approver").await;
    assert!(token.starts_with("sy_"));
    let me = s.get("/api/me", &token).await;
    assert_eq!(me.body, json!({"name": "ann", "role": "approver"}));
}

#[tokio::test]
async fn only_admins_manage_users() {
    let s = TestServer::spawn().await;
    let approver = s.user("ann", "approver").await;
    let refused = s
        .post(
            "/api/users",
            &approver,
            json!({"name": "eve", "role": "admin"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        s.get("/api/users", &approver).await.status,
        StatusCode::FORBIDDEN
    );

    let duplicate = s
        .post(
            "/api/users",
            &s.admin_token,
            json!({"name": "ann", "role": "viewer"}),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    let bad_role = s
        .post(
            "/api/users",
            &s.admin_token,
            json!({"name": "bob", "role": "root"}),
        )
        .await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_role.field(), "role");
    let bad_name = s
        .post(
            "/api/users",
            &s.admin_token,
            json!({"name": "bob smith", "role": "viewer"}),
        )
        .await;
    assert_eq!(bad_name.field(), "name");

    let users = s.get("/api/users", &s.admin_token).await;
    let names: Vec<&str> = users.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "ann"]);
    assert!(
        users.body.to_string().find("sy_").is_none(),
        "tokens are never listed"
    );
}
