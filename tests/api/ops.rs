use crate::helpers::TestServer;
use reqwest::StatusCode;

#[tokio::test]
async fn health_readiness_and_metrics_need_no_token() {
    let s = TestServer::spawn().await;
    for (path, body) in [("/healthz", "ok\n"), ("/readyz", "ready\n")] {
        let response = s.client().get(s.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), body);
    }
    s.environment("demo").await;
    s.release("demo", "v1").await;
    s.get("/api/environments/demo/releases", &s.admin_token)
        .await;
    s.get("/api/environments/nope", &s.admin_token).await;
    s.client()
        .get(s.url("/no/such/route/123"))
        .send()
        .await
        .unwrap();

    let response = s.client().get(s.url("/metrics")).send().await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = response.text().await.unwrap();
    for line in [
        "switchyard_http_requests_total{method=\"GET\",route=\"/api/environments/{name}/releases\",status=\"200\"} 1",
        "switchyard_http_requests_total{method=\"GET\",route=\"/api/environments/{name}\",status=\"404\"} 1",
        "switchyard_http_requests_total{method=\"POST\",route=\"/api/environments\",status=\"201\"} 1",
        "switchyard_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "switchyard_http_request_duration_seconds_count{method=\"GET\",route=\"/api/environments/{name}/releases\",status=\"200\"} 1",
        "switchyard_environments 1",
        "switchyard_releases 1",
        "switchyard_deployments_in_progress 0",
        "switchyard_pipeline_runs_in_progress 0",
        "switchyard_approvals_pending 0",
        "switchyard_notifications_queued 0",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    assert!(
        !metrics.contains("/no/such/route"),
        "raw paths never become labels"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let s = TestServer::spawn().await;
    let a = s.client().get(s.url("/healthz")).send().await.unwrap();
    let b = s.client().get(s.url("/api/me")).send().await.unwrap();
    let id_a = a.headers()["x-request-id"].to_str().unwrap().to_owned();
    let id_b = b.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id_a.len(), 16);
    assert_ne!(id_a, id_b);
    let mine = s
        .client()
        .get(s.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(mine.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn unknown_routes_answer_json_404() {
    let s = TestServer::spawn().await;
    let answer = s.get("/api/nothing-here", &s.admin_token).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.code(), "not_found");
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let s = TestServer::spawn().await;
    let doc = s.get("/api/openapi.json", &s.admin_token).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths = doc.body["paths"].as_object().unwrap();
    for path in [
        "/api/environments",
        "/api/environments/{name}",
        "/api/environments/{name}/releases",
        "/api/environments/{name}/events",
        "/api/users",
        "/api/me",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    assert!(
        doc.body["paths"]["/api/environments"]["post"]["responses"]
            .get("409")
            .is_some()
    );
    assert_eq!(
        doc.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(
        doc.body["components"]["schemas"]
            .get("CreateEnvironment")
            .is_some()
    );
}
