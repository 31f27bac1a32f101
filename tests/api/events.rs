use crate::helpers::TestServer;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_audit_trail_says_who_did_what_newest_first() {
    let s = TestServer::spawn().await;
    let deployer = s.user("dan", "deployer").await;
    s.environment("demo").await;
    s.post(
        "/api/environments/demo/releases",
        &deployer,
        json!({"version": "v1", "image": "nginx:1"}),
    )
    .await;

    let trail = s.get("/api/environments/demo/events", &deployer).await;
    assert_eq!(trail.status, StatusCode::OK);
    let events = trail.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["kind"], "release.recorded");
    assert_eq!(events[0]["actor"], "dan");
    assert_eq!(events[0]["detail"]["version"], "v1");
    assert_eq!(events[0]["detail"]["image"], "nginx:1");
    assert_eq!(events[1]["kind"], "environment.created");
    assert_eq!(events[1]["actor"], "admin");
    assert_eq!(events[1]["detail"]["platform"], "local");
    assert!(events[0]["id"].as_i64() > events[1]["id"].as_i64());
    assert!(events[0]["at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn the_audit_trail_pages_by_cursor() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    for v in 1..=4 {
        s.release("demo", &format!("v{v}")).await;
    }
    let first = s
        .get("/api/environments/demo/events?limit=2", &s.admin_token)
        .await;
    assert_eq!(first.body["events"].as_array().unwrap().len(), 2);
    let next = first.body["next"].as_str().unwrap();
    let second = s
        .get(
            &format!("/api/environments/demo/events?limit=2&before={next}"),
            &s.admin_token,
        )
        .await;
    let third_cursor = second.body["next"].as_str().unwrap();
    let third = s
        .get(
            &format!("/api/environments/demo/events?limit=2&before={third_cursor}"),
            &s.admin_token,
        )
        .await;
    assert_eq!(third.body["events"].as_array().unwrap().len(), 1);
    assert_eq!(third.body["events"][0]["kind"], "environment.created");
    assert!(third.body["next"].is_null());
}

#[tokio::test]
async fn the_audit_trail_cannot_be_rewritten() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        s.data_dir.join("switchyard.db").display()
    ))
    .await
    .unwrap();
    let update = sqlx::query("UPDATE events SET actor = 'mallory'")
        .execute(&db)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM events").execute(&db).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(s.event_count("demo").await, 1);
}
