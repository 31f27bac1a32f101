use crate::helpers::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn wait_stack(s: &TestServer, env: &str, until: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stack = s
            .get(&format!("/api/environments/{env}/stack"), &s.admin_token)
            .await;
        assert_eq!(stack.status, StatusCode::OK, "{:?}", stack.body);
        let status = stack.body["status"].as_str().unwrap().to_owned();
        if status == until {
            return stack.body;
        }
        assert!(
            matches!(status.as_str(), "provisioning" | "destroying"),
            "stack became {status}: {}",
            stack.body["log"]
        );
        assert!(Instant::now() < deadline, "stack still {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_local_stack_is_provisioned_serves_and_is_destroyed() {
    let s = TestServer::spawn().await;
    let created = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "shop", "platform": "local", "container": {"name": "app", "port": 8080, "desired_count": 2},
                   "deployment_config": "ECSLinear10PercentEvery1Minutes", "termination_wait_minutes": 1}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["container"]["name"], "app");
    assert_eq!(
        created.body["deployment_group"]["deployment_config"],
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    );
    // The stack is there from the environment's creation, not provisioned.
    let fresh = s.get("/api/environments/shop/stack", &s.admin_token).await;
    assert_eq!(fresh.status, StatusCode::OK, "{:?}", fresh.body);
    assert_eq!(
        fresh.body,
        json!({"status": "not_provisioned", "operation_id": null, "log": "", "outputs": {},
               "variables": null, "started_by": null, "started_at": null, "finished_at": null})
    );
    let nothing = s
        .delete("/api/environments/shop/stack", &s.admin_token)
        .await;
    assert_eq!(nothing.status, StatusCode::CONFLICT, "{:?}", nothing.body);

    let started = s
        .post("/api/environments/shop/stack", &s.admin_token, json!({}))
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    assert!(
        started.body["operation_id"]
            .as_str()
            .unwrap()
            .starts_with("op-")
    );
    assert_eq!(started.body["status"], "provisioning");
    // One operation per stack at a time.
    let again = s
        .post("/api/environments/shop/stack", &s.admin_token, json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let stack = wait_stack(&s, "shop", "ready").await;
    assert_eq!(stack["operation_id"], started.body["operation_id"]);
    let log = stack["log"].as_str().unwrap();
    for step in [
        "load balancer",
        "ECS cluster",
        "task definition",
        "ECS service",
        "CodeDeploy application",
        "ready:",
    ] {
        assert!(log.contains(step), "log lacks {step}: {log}");
    }
    let outputs = &stack["outputs"];
    for key in [
        "prod_url",
        "test_url",
        "cluster",
        "service",
        "codedeploy_application",
        "deployment_group",
        "prod_listener_arn",
        "test_listener_arn",
    ] {
        assert!(
            outputs[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} missing in {outputs}"
        );
    }
    // The listeners really serve the placeholder page through the tasks.
    for url in [&outputs["prod_url"], &outputs["test_url"]] {
        let page = s.client().get(url.as_str().unwrap()).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("has no release yet"));
    }
    // The environment now names its resources.
    let env = s.get("/api/environments/shop", &s.admin_token).await.body;
    assert_eq!(
        env["resources"]["deployment_group"],
        outputs["deployment_group"]
    );
    assert_eq!(env["prod_url"], outputs["prod_url"]);

    let destroying = s
        .delete("/api/environments/shop/stack", &s.admin_token)
        .await;
    assert_eq!(destroying.status, StatusCode::ACCEPTED);
    wait_stack(&s, "shop", "destroyed").await;
    assert!(
        s.client()
            .get(outputs["prod_url"].as_str().unwrap())
            .send()
            .await
            .is_err(),
        "the listener is gone"
    );
    let env = s.get("/api/environments/shop", &s.admin_token).await.body;
    assert!(env["resources"]["deployment_group"].is_null() && env["prod_url"].is_null());
    assert_eq!(
        s.delete("/api/environments/shop/stack", &s.admin_token)
            .await
            .status,
        StatusCode::CONFLICT
    );

    assert_eq!(
        s.event_kinds("shop").await,
        [
            "stack.destroyed",
            "stack.destroying",
            "stack.ready",
            "stack.provisioning",
            "environment.created"
        ]
    );

    // Provisioning again after a destroy works.
    s.post("/api/environments/shop/stack", &s.admin_token, json!({}))
        .await;
    wait_stack(&s, "shop", "ready").await;
}

#[tokio::test]
async fn stack_requests_that_cannot_be_served() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    let deployer = s.user("dan", "deployer").await;
    let refused = s
        .post("/api/environments/demo/stack", &deployer, json!({}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        s.post("/api/environments/nope/stack", &s.admin_token, json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    s.post(
        "/api/environments",
        &s.admin_token,
        json!({"name": "prod", "platform": "aws", "region": "us-east-1"}),
    )
    .await;
    // AWS stacks are Terraform's (tests/aws); a variable infra/ does not
    // declare is refused before anything runs.
    let aws = s
        .post(
            "/api/environments/prod/stack",
            &s.admin_token,
            json!({"variables": {"no_such_variable": 1}}),
        )
        .await;
    assert_eq!(aws.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(aws.field(), "variables.no_such_variable");
    assert_eq!(
        s.delete("/api/environments/demo/stack", &s.admin_token)
            .await
            .status,
        StatusCode::CONFLICT
    );
    // Bad stack settings are refused when the environment is created.
    for (body, field) in [
        (
            json!({"name": "x1", "platform": "local", "container": {"port": 0}}),
            "container.port",
        ),
        (
            json!({"name": "x1", "platform": "local", "deployment_config": "Fastest"}),
            "deployment_config",
        ),
        (
            json!({"name": "x1", "platform": "local", "termination_wait_minutes": 5000}),
            "termination_wait_minutes",
        ),
        (
            json!({"name": "x1", "platform": "local", "container": {"desired_count": 100}}),
            "container.desired_count",
        ),
    ] {
        let answer = s
            .post("/api/environments", &s.admin_token, body.clone())
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer.field(), field);
    }
}
