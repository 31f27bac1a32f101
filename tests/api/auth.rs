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

#[tokio::test]
async fn an_admin_cannot_revoke_their_own_tokens_but_another_admin_can() {
    let s = TestServer::spawn().await;
    let own = s.delete("/api/users/admin/tokens", &s.admin_token).await;
    assert_eq!(own.status, StatusCode::CONFLICT, "{:?}", own.body);
    assert_eq!(own.code(), "conflict");
    let message = own.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("switchyard user revoke admin"),
        "{message}"
    );
    assert_eq!(
        s.get("/api/me", &s.admin_token).await.status,
        StatusCode::OK
    );

    let ada = s.user("ada", "admin").await;
    let revoked = s.delete("/api/users/admin/tokens", &ada).await;
    assert_eq!(revoked.body, json!({"user": "admin", "revoked": 1}));
    assert_eq!(
        s.get("/api/me", &s.admin_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn revoked_tokens_stop_working() {
    let s = TestServer::spawn().await;
    let bob = s.user("bob", "deployer").await;
    let viewer = s.user("vic", "viewer").await;
    // Used once, so the server has it cached.
    assert_eq!(s.get("/api/me", &bob).await.status, StatusCode::OK);

    let refused = s.delete("/api/users/bob/tokens", &viewer).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    let unknown = s.delete("/api/users/nobody/tokens", &s.admin_token).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);
    let bad_name = s
        .delete("/api/users/bob%20smith/tokens", &s.admin_token)
        .await;
    assert_eq!(
        (bad_name.status, bad_name.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "name"),
        "{:?}",
        bad_name.body
    );
    assert_eq!(s.get("/api/me", &bob).await.status, StatusCode::OK);

    let revoked = s.delete("/api/users/bob/tokens", &s.admin_token).await;
    assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
    assert_eq!(revoked.body, json!({"user": "bob", "revoked": 1}));
    // At once, though the token was cached a moment ago.
    assert_eq!(
        s.get("/api/me", &bob).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = s.delete("/api/users/bob/tokens", &s.admin_token).await;
    assert_eq!(again.body["revoked"], 0, "{:?}", again.body);
    assert_eq!(s.get("/api/me", &viewer).await.status, StatusCode::OK);

    // From the command line, another process: within the cache's TTL.
    assert_eq!(s.get("/api/me", &viewer).await.status, StatusCode::OK);
    let cli = tokio::process::Command::new(crate::helpers::BIN)
        .args(["user", "revoke", "vic", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .await
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains("revoked 1 API token(s) of vic"),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while s.get("/api/me", &viewer).await.status != StatusCode::UNAUTHORIZED {
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked token still works after the cache TTL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let missing = tokio::process::Command::new(crate::helpers::BIN)
        .args(["user", "revoke", "nobody", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .await
        .unwrap();
    assert_ne!(missing.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no user named nobody"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
