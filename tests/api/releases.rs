use crate::helpers::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn record_and_page_through_history_newest_first() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    let deployer = s.user("dan", "deployer").await;
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let image = s.write_site("site-v1");
    let recorded = s
        .post(
            "/api/environments/demo/releases",
            &deployer,
            json!({"version": "v1", "image": image, "commit": commit, "author": "Jane <jane@example.com>", "message": "First\n\nbody"}),
        )
        .await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{:?}", recorded.body);
    assert_eq!(recorded.body["version"], "v1");
    assert_eq!(recorded.body["image"], image);
    assert_eq!(recorded.body["commit"], commit);
    assert_eq!(recorded.body["author"], "Jane <jane@example.com>");
    assert_eq!(recorded.body["recorded_by"], "dan");
    for v in 2..=7 {
        s.release("demo", &format!("v{v}")).await;
    }

    let first = s.get("/api/environments/demo/releases", &deployer).await;
    assert_eq!(first.status, StatusCode::OK);
    let versions = |page: &Value| -> Vec<String> {
        page["releases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["version"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        versions(&first.body),
        ["v7", "v6", "v5", "v4", "v3", "v2", "v1"]
    );
    assert!(first.body["next"].is_null());

    let mut seen = Vec::new();
    let mut path = "/api/environments/demo/releases?limit=3".to_owned();
    loop {
        let page = s.get(&path, &deployer).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body["releases"].as_array().unwrap().len() <= 3);
        seen.extend(versions(&page.body));
        match page.body["next"].as_str() {
            Some(next) => path = format!("/api/environments/demo/releases?limit=3&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["v7", "v6", "v5", "v4", "v3", "v2", "v1"]);
}

#[tokio::test]
async fn commits_of_sha256_repositories_are_recorded() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    let sha256 = "89ABCDEF".repeat(8);
    let recorded = s
        .post(
            "/api/environments/demo/releases",
            &s.admin_token,
            json!({"version": "v1", "image": "nginx", "commit": sha256}),
        )
        .await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{:?}", recorded.body);
    assert_eq!(recorded.body["commit"], sha256.to_ascii_lowercase());
    let one_short = s
        .post(
            "/api/environments/demo/releases",
            &s.admin_token,
            json!({"version": "v2", "image": "nginx", "commit": &sha256[1..]}),
        )
        .await;
    assert_eq!(one_short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(one_short.body["error"]["field"], "commit");
    assert!(
        one_short.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("40 or 64 hex digits"),
        "{:?}",
        one_short.body
    );
}

#[tokio::test]
async fn a_new_release_shows_up_on_the_next_read() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    s.release("demo", "v1").await;
    let before = s
        .get("/api/environments/demo/releases", &s.admin_token)
        .await;
    assert_eq!(before.body["releases"].as_array().unwrap().len(), 1);
    s.release("demo", "v2").await;
    let after = s
        .get("/api/environments/demo/releases", &s.admin_token)
        .await;
    assert_eq!(after.body["releases"][0]["version"], "v2");
    // Deleting the environment hides its history at once.
    s.delete("/api/environments/demo", &s.admin_token).await;
    assert_eq!(
        s.get("/api/environments/demo/releases", &s.admin_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn histories_are_per_environment() {
    let s = TestServer::spawn().await;
    s.environment("blue-team").await;
    s.environment("green-team").await;
    s.release("blue-team", "v1").await;
    // The same version may exist in another environment.
    s.release("green-team", "v1").await;
    s.release("green-team", "v2").await;
    let blue = s
        .get("/api/environments/blue-team/releases", &s.admin_token)
        .await;
    assert_eq!(blue.body["releases"].as_array().unwrap().len(), 1);
    let green = s
        .get("/api/environments/green-team/releases", &s.admin_token)
        .await;
    assert_eq!(green.body["releases"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_releases_are_refused_and_nothing_is_recorded() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    s.release("demo", "v1").await;
    let events_before = s.event_count("demo").await;
    let cases = [
        (json!({"version": "v 2", "image": "nginx"}), "version"),
        (json!({"version": "v2", "image": "Not An Image"}), "image"),
        (
            json!({"version": "v2", "image": "static:relative"}),
            "image",
        ),
        (
            json!({"version": "v2", "image": "nginx", "commit": "abc123"}),
            "commit",
        ),
        (
            json!({"version": "v2", "image": "nginx", "author": "  "}),
            "author",
        ),
        (json!({"version": "v2"}), "image"),
        (
            json!({"version": "v2", "image": "nginx", "extra": 1}),
            "extra",
        ),
    ];
    for (body, field) in cases {
        let answer = s
            .post(
                "/api/environments/demo/releases",
                &s.admin_token,
                body.clone(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer.field(), field, "{body}: {:?}", answer.body);
    }
    let duplicate = s
        .post(
            "/api/environments/demo/releases",
            &s.admin_token,
            json!({"version": "v1", "image": "nginx:2"}),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert!(
        duplicate.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("v1")
    );

    let unknown = s
        .post(
            "/api/environments/nope/releases",
            &s.admin_token,
            json!({"version": "v2", "image": "nginx"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let viewer = s.user("vera", "viewer").await;
    let forbidden = s
        .post(
            "/api/environments/demo/releases",
            &viewer,
            json!({"version": "v2", "image": "nginx"}),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(
        forbidden.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deployer")
    );

    let list = s
        .get("/api/environments/demo/releases", &s.admin_token)
        .await;
    assert_eq!(list.body["releases"].as_array().unwrap().len(), 1);
    assert_eq!(s.event_count("demo").await, events_before);
}

#[tokio::test]
async fn bad_page_parameters_name_the_parameter() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("before=abc", "before"),
        ("before=-3", "before"),
    ] {
        let answer = s
            .get(
                &format!("/api/environments/demo/releases?{query}"),
                &s.admin_token,
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(answer.field(), field, "{query}");
    }
    let ok = s
        .get("/api/environments/demo/releases?limit=200", &s.admin_token)
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}
