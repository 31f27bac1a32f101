use crate::helpers::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn create_show_list_delete() {
    let s = TestServer::spawn().await;
    let created = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "demo", "platform": "local"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.headers["location"], "/api/environments/demo");
    assert_eq!(created.body["name"], "demo");
    assert_eq!(created.body["platform"], "local");
    assert_eq!(created.body["created_by"], "admin");
    assert!(created.body["resources"]["cluster"].is_null());

    let shown = s.get("/api/environments/demo", &s.admin_token).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body, created.body);

    s.environment("alpha").await;
    let list = s.get("/api/environments", &s.admin_token).await;
    let names: Vec<&str> = list.body["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "demo"]);

    let deleted = s.delete("/api/environments/demo", &s.admin_token).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get("/api/environments/demo", &s.admin_token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.delete("/api/environments/demo", &s.admin_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The name is free again; the old environment's history is kept apart.
    s.environment("demo").await;
    assert_eq!(s.event_count("demo").await, 1);
}

#[tokio::test]
async fn aws_environments_carry_region_and_resources() {
    let s = TestServer::spawn().await;
    let listener = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
    let body = json!({
        "name": "prod-eu",
        "platform": "aws",
        "region": "eu-west-1",
        "resources": {
            "cluster": "web-cluster",
            "service": "web",
            "codedeploy_application": "web-app",
            "deployment_group": "web-dg",
            "pipeline": "web-pipeline",
            "prod_listener_arn": listener,
        }
    });
    let created = s.post("/api/environments", &s.admin_token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["region"], "eu-west-1");
    assert_eq!(created.body["resources"]["deployment_group"], "web-dg");
    assert_eq!(created.body["resources"]["prod_listener_arn"], listener);
    assert!(created.body["resources"]["test_listener_arn"].is_null());
}

#[tokio::test]
async fn invalid_input_is_refused_naming_the_field_and_writes_nothing() {
    let s = TestServer::spawn().await;
    let cases = [
        (json!({"name": "Bad Name", "platform": "local"}), "name"),
        (json!({"name": "x", "platform": "local"}), "name"),
        (json!({"name": "demo", "platform": "gcp"}), "platform"),
        (json!({"name": "demo", "platform": "aws"}), "region"),
        (
            json!({"name": "demo", "platform": "aws", "region": "mars-1"}),
            "region",
        ),
        (json!({"platform": "local"}), "name"),
        (json!({"name": 42, "platform": "local"}), "name"),
        (
            json!({"name": "demo", "platform": "local", "colour": "blue"}),
            "colour",
        ),
        (
            json!({"name": "demo", "platform": "local", "resources": {"cluster": "has space"}}),
            "resources.cluster",
        ),
        (
            json!({"name": "demo", "platform": "local", "resources": {"prod_listener_arn": "listener/1"}}),
            "resources.prod_listener_arn",
        ),
        (
            json!({"name": "demo", "platform": "local", "resources": {"clustr": "c"}}),
            "resources.clustr",
        ),
        (json!(["demo"]), "body"),
        // The document states both rules: the pattern, and aws only.
        (
            json!({"name": "demo", "platform": "aws", "region": "us-east-1", "aws_profile": "a\n"}),
            "aws_profile",
        ),
        (
            json!({"name": "demo", "platform": "local", "aws_profile": "default"}),
            "aws_profile",
        ),
        (
            json!({"name": "demo", "platform": "local", "container": {"health_check_path": "/\u{a0}"}}),
            "container.health_check_path",
        ),
    ];
    // Notification URLs as the document's pattern spells them, no looser.
    let urls = [
        "https://hooks.example.com/a b",
        "https://user:secret@hooks.example.com/x",
        "https://hooks.example.com/x#part",
        "https://hooks.example.com:99999/",
    ]
    .map(|url| {
        (
            json!({"name": "demo", "platform": "local", "notifications": [{"url": url}]}),
            "notifications[0]",
        )
    });
    for (body, field) in cases.into_iter().chain(urls) {
        let answer = s
            .post("/api/environments", &s.admin_token, body.clone())
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            answer.body
        );
        assert_eq!(answer.code(), "invalid_value");
        assert_eq!(answer.field(), field, "{body}: {:?}", answer.body);
        assert!(!answer.body["error"]["message"].as_str().unwrap().is_empty());
    }
    let list = s.get("/api/environments", &s.admin_token).await;
    assert_eq!(list.body["environments"], json!([]));
}

#[tokio::test]
async fn malformed_oversized_and_non_json_bodies() {
    let s = TestServer::spawn_with(&["--max-body-bytes", "4096"]).await;
    let post = || {
        s.client()
            .post(s.url("/api/environments"))
            .bearer_auth(&s.admin_token)
    };

    let malformed = s
        .raw(
            post()
                .header("content-type", "application/json")
                .body(r#"{"name": "demo", "#),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.code(), "malformed_json");

    let trailing = s
        .raw(
            post()
                .header("content-type", "application/json")
                .body(r#"{"name":"demo","platform":"local"} x"#),
        )
        .await;
    assert_eq!(trailing.status, StatusCode::BAD_REQUEST);

    let huge = format!(
        r#"{{"name": "demo", "platform": "local", "pad": "{}"}}"#,
        "x".repeat(10_000)
    );
    let oversized = s
        .raw(post().header("content-type", "application/json").body(huge))
        .await;
    assert_eq!(oversized.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(oversized.code(), "payload_too_large");

    let text = s
        .raw(
            post()
                .header("content-type", "text/plain")
                .body(r#"{"name":"demo","platform":"local"}"#),
        )
        .await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(
        s.get("/api/environments", &s.admin_token).await.body["environments"],
        json!([])
    );
}

#[tokio::test]
async fn duplicates_conflict_and_leave_one_record() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    let again = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "demo", "platform": "aws", "region": "us-east-1"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "conflict");
    assert!(
        again.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("demo")
    );
    assert_eq!(
        s.get("/api/environments/demo", &s.admin_token).await.body["platform"],
        "local"
    );
    assert_eq!(s.event_count("demo").await, 1);
}

#[tokio::test]
async fn roles_decide_who_may_change_environments() {
    let s = TestServer::spawn().await;
    let viewer = s.user("vera", "viewer").await;
    let deployer = s.user("dan", "deployer").await;
    s.environment("demo").await;

    for token in [&viewer, &deployer] {
        let create = s
            .post(
                "/api/environments",
                token,
                json!({"name": "other", "platform": "local"}),
            )
            .await;
        assert_eq!(create.status, StatusCode::FORBIDDEN, "{:?}", create.body);
        assert!(
            create.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("admin role")
        );
        assert_eq!(
            s.delete("/api/environments/demo", token).await.status,
            StatusCode::FORBIDDEN
        );
    }
    // Everyone may read.
    assert_eq!(
        s.get("/api/environments", &viewer).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.get("/api/environments/demo", &viewer).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.get("/api/environments/demo", &deployer).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_environments_are_404() {
    let s = TestServer::spawn().await;
    for path in [
        "/api/environments/nope",
        "/api/environments/nope/releases",
        "/api/environments/nope/events",
    ] {
        let answer = s.get(path, &s.admin_token).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.code(), "not_found");
    }
    let answer = s
        .request(
            Method::DELETE,
            "/api/environments/nope",
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_environment_with_a_deployment_in_progress_is_not_deleted() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    let release = s.release("demo", "v1").await;
    // Deployments are started through the cloud; here one is put in the
    // store directly, as the tracker would record it.
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        s.data_dir.join("switchyard.db").display()
    ))
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO deployments (environment_id, release_id, deployment_config, status, created_by, created_at, updated_at)
         SELECT id, ?, 'CodeDeployDefault.ECSAllAtOnce', 'InProgress', 'admin', 0, 0 FROM environments WHERE name = 'demo'",
    )
    .bind(release["id"].as_i64().unwrap())
    .execute(&db)
    .await
    .unwrap();

    let refused = s.delete("/api/environments/demo", &s.admin_token).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in progress")
    );
    assert_eq!(
        s.get("/api/environments/demo", &s.admin_token).await.status,
        StatusCode::OK
    );

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
        metrics.contains("switchyard_deployments_in_progress 1"),
        "{metrics}"
    );
    assert!(metrics.contains("switchyard_deployments_active{status=\"InProgress\"} 1"));

    sqlx::query("UPDATE deployments SET status = 'Succeeded'")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        s.delete("/api/environments/demo", &s.admin_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}
