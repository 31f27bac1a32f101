use crate::AwsServer;
use crate::helpers::TestServer;
use crate::infra_support::MOTO_CREDENTIALS;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What moto cannot do, kept behind variables (infra/README.md): the
/// CodeDeploy application and group cannot be deleted, the CodeCommit
/// repository, CodeBuild project and pipeline cannot be made; and moto
/// drops the health check grace period, which would show as drift.
fn moto_variables() -> Value {
    json!({
        "enable_pipeline": false,
        "enable_codedeploy": false,
        "health_check_grace_period_seconds": 0,
    })
}

/// An aws environment named `name` in moto's region.
async fn aws_environment(s: &TestServer, name: &str) {
    let created = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": name, "platform": "aws", "region": "us-east-1",
                   "container": {"name": "web", "port": 80, "health_check_path": "/", "desired_count": 2},
                   "deployment_config": "ECSLinear10PercentEvery1Minutes", "termination_wait_minutes": 1}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
}

/// Polls the stack until it is `until`; any other settled status fails.
async fn wait_stack(s: &TestServer, env: &str, until: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(600);
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
            "stack became {status}:\n{}",
            stack.body["log"].as_str().unwrap_or_default()
        );
        assert!(Instant::now() < deadline, "stack still {status}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn assert_no_secrets(log: &str) {
    for (name, value) in MOTO_CREDENTIALS {
        if name.contains("KEY") {
            assert!(!log.contains(value), "{name} reached the log");
        }
    }
    assert!(
        !log.contains("s3cret-token-value"),
        "a sensitive variable reached the log"
    );
}

#[tokio::test]
async fn an_aws_stack_is_provisioned_planned_and_destroyed_through_the_api() {
    let aws = AwsServer::spawn().await;
    let s = &aws.server;
    aws_environment(s, "shop").await;

    let mut variables = moto_variables();
    // Sensitive: its value must never show in the log or the API.
    variables["container_environment"] = json!({"API_TOKEN": "s3cret-token-value"});
    let started = s
        .post(
            "/api/environments/shop/stack",
            &s.admin_token,
            json!({"variables": variables}),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    assert_eq!(started.body["status"], "provisioning");

    // One operation per stack at a time, plans included.
    let again = s
        .post("/api/environments/shop/stack", &s.admin_token, json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    let planned = s
        .post(
            "/api/environments/shop/stack/plan",
            &s.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(planned.status, StatusCode::CONFLICT, "{:?}", planned.body);

    // Terraform's output is readable while it runs.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let stack = s
            .get("/api/environments/shop/stack", &s.admin_token)
            .await
            .body;
        let log = stack["log"].as_str().unwrap();
        if stack["status"] == "provisioning" && log.contains("Creating...") {
            assert!(log.contains("$ terraform init"), "{log}");
            break;
        }
        assert_eq!(stack["status"], "provisioning", "{log}");
        assert!(Instant::now() < deadline, "no progress in the log:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let stack = wait_stack(s, "shop", "ready").await;
    let log = stack["log"].as_str().unwrap();
    for step in [
        "$ terraform init",
        "terraform init finished in",
        "Plan: ",
        "terraform plan finished in",
        "module.app_infra.aws_lb.this: Creation complete",
        "Apply complete!",
        "terraform apply finished in",
        "ready: production http://",
    ] {
        assert!(log.contains(step), "the log lacks {step:?}:\n{log}");
    }
    assert_no_secrets(log);
    assert_eq!(
        stack["variables"]["container_environment"], "(sensitive)",
        "{}",
        stack["variables"]
    );
    assert_eq!(stack["variables"]["enable_pipeline"], false);

    let outputs = &stack["outputs"];
    assert_eq!(outputs["cluster"], "shop");
    assert_eq!(outputs["service"], "shop");
    assert_eq!(outputs["task_definition_family"], "shop");
    assert_eq!(outputs["target_groups"], json!(["shop-blue", "shop-green"]));
    for key in ["prod_listener_arn", "test_listener_arn"] {
        assert!(
            outputs[key].as_str().unwrap().starts_with(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/"
            ),
            "{key}: {outputs}"
        );
    }
    let dns = outputs["terraform"]["alb_dns_name"].as_str().unwrap();
    assert!(dns.ends_with(".elb.amazonaws.com"), "{dns}");
    assert_eq!(outputs["prod_url"], format!("http://{dns}"));
    assert_eq!(outputs["test_url"], format!("http://{dns}:8080"));
    // Turned off for moto: no CodeDeploy application, no pipeline.
    assert_eq!(outputs["codedeploy_application"], "");
    assert_eq!(outputs["terraform"]["pipeline_name"], Value::Null);

    // The environment now names what the stack made.
    let env = s.get("/api/environments/shop", &s.admin_token).await.body;
    for (field, output) in [
        ("cluster", "cluster"),
        ("service", "service"),
        ("prod_listener_arn", "prod_listener_arn"),
        ("test_listener_arn", "test_listener_arn"),
    ] {
        assert_eq!(env["resources"][field], outputs[output], "{field}");
    }
    assert_eq!(env["prod_url"], outputs["prod_url"]);
    assert_eq!(env["test_url"], outputs["test_url"]);
    assert!(
        env["resources"]["codedeploy_application"].is_null(),
        "{env}"
    );
    assert!(env["resources"]["pipeline"].is_null(), "{env}");

    // moto holds the stack.
    let held = aws.moto.leftovers("shop").await;
    assert_eq!(held["load_balancers"], json!(["shop"]), "{held}");
    assert_eq!(held["vpcs"].as_array().unwrap().len(), 1, "{held}");
    assert_eq!(held["subnets"].as_array().unwrap().len(), 4, "{held}");

    // A second plan changes nothing, but for moto's one drift: it ignores
    // the service's availabilityZoneRebalancing, which the provider always
    // sends (infra/README.md).
    let replanned = s
        .post(
            "/api/environments/shop/stack/plan",
            &s.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(replanned.status, StatusCode::OK, "{:?}", replanned.body);
    let plan = &replanned.body;
    assert_eq!(
        plan["resource_changes"],
        json!([{"address": "module.app_infra.aws_ecs_service.app", "action": "update",
                "attributes": ["availability_zone_rebalancing"]}]),
        "{}",
        plan["log"]
    );
    assert_eq!(
        (plan["add"].as_u64(), plan["destroy"].as_u64()),
        (Some(0), Some(0))
    );
    assert_no_secrets(&plan["log"].to_string());

    // A plan with other variables shows their effect and stores nothing.
    let mut without_nat = moto_variables();
    without_nat["enable_nat_gateway"] = json!(false);
    without_nat["container_environment"] = json!({"API_TOKEN": "s3cret-token-value"});
    let what_if = s
        .post(
            "/api/environments/shop/stack/plan",
            &s.admin_token,
            json!({"variables": without_nat}),
        )
        .await;
    assert_eq!(what_if.status, StatusCode::OK, "{:?}", what_if.body);
    let deleted: Vec<&str> = what_if.body["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "delete")
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert!(
        deleted.contains(&"module.networking.aws_nat_gateway.this[0]"),
        "{deleted:?}"
    );
    assert_eq!(what_if.body["changes"], true);
    let stack = s
        .get("/api/environments/shop/stack", &s.admin_token)
        .await
        .body;
    assert_eq!(stack["status"], "ready");
    assert!(stack["variables"].get("enable_nat_gateway").is_none());

    // Destroy leaves nothing, in moto or in the environment.
    let destroying = s
        .delete("/api/environments/shop/stack", &s.admin_token)
        .await;
    assert_eq!(
        destroying.status,
        StatusCode::ACCEPTED,
        "{:?}",
        destroying.body
    );
    let stack = wait_stack(s, "shop", "destroyed").await;
    let log = stack["log"].as_str().unwrap();
    assert!(log.contains("Destroy complete!"), "{log}");
    assert!(
        log.contains("the stack's state holds no resources"),
        "{log}"
    );
    assert_no_secrets(log);
    assert_eq!(aws.moto.leftovers("shop").await, json!({}));
    let env = s.get("/api/environments/shop", &s.admin_token).await.body;
    assert!(
        env["resources"]["cluster"].is_null() && env["prod_url"].is_null(),
        "{env}"
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
}

#[tokio::test]
async fn a_failed_apply_leaves_the_stack_failed_and_a_retry_resumes_from_the_state() {
    let aws = AwsServer::spawn().await;
    let s = &aws.server;
    aws_environment(s, "cart").await;

    // A value the module refuses: the plan fails before anything is made.
    let mut invalid = moto_variables();
    invalid["cpu"] = json!(300);
    let started = s
        .post(
            "/api/environments/cart/stack",
            &s.admin_token,
            json!({"variables": invalid}),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let stack = wait_stack(s, "cart", "failed").await;
    let log = stack["log"].as_str().unwrap();
    assert!(log.contains("Error: Invalid value for variable"), "{log}");
    assert!(log.contains("cpu must be a Fargate size"), "{log}");
    assert!(log.contains("terraform plan failed"), "{log}");
    assert!(log.contains("failed: terraform plan failed"), "{log}");
    assert_eq!(aws.moto.count("cart").await, 0);

    // A name taken in the cloud: the apply fails midway, after making part
    // of the stack.
    assert!(
        ecr(&aws.moto.endpoint, "create_repository", "cart").await,
        "the conflicting repository was made"
    );
    let retried = s
        .post(
            "/api/environments/cart/stack",
            &s.admin_token,
            json!({"variables": moto_variables()}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{:?}", retried.body);
    let stack = wait_stack(s, "cart", "failed").await;
    let log = stack["log"].as_str().unwrap();
    assert!(log.contains("RepositoryAlreadyExists"), "{log}");
    assert!(log.contains("terraform apply failed"), "{log}");
    let planned_first = planned_additions(log);
    let made = aws.moto.count("cart").await;
    assert!(made > 0, "nothing was made before the failure");

    // Once the conflict is gone, a retry picks up where Terraform's state
    // left off: it adds only what is missing.
    assert!(ecr(&aws.moto.endpoint, "delete_repository", "cart").await);
    s.post("/api/environments/cart/stack", &s.admin_token, json!({}))
        .await;
    let stack = wait_stack(s, "cart", "ready").await;
    let log = stack["log"].as_str().unwrap();
    let planned_retry = planned_additions(log);
    assert!(
        planned_retry < planned_first,
        "the retry planned {planned_retry} additions, the first apply {planned_first}:\n{log}"
    );
    assert!(
        log.contains(&format!("Apply complete! Resources: {planned_retry} added")),
        "{log}"
    );
    // The stored variables applied again (the retry sent none).
    assert_eq!(stack["variables"], moto_variables());

    s.delete("/api/environments/cart/stack", &s.admin_token)
        .await;
    wait_stack(s, "cart", "destroyed").await;
    assert_eq!(aws.moto.leftovers("cart").await, json!({}));
}

/// "Plan: N to add, ..." of a log.
fn planned_additions(log: &str) -> u64 {
    log.lines()
        .find_map(|line| line.split_once("Plan: ")?.1.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no plan summary in:\n{log}"))
}

#[tokio::test]
async fn stack_requests_that_cannot_be_served() {
    let aws = AwsServer::spawn().await;
    let s = &aws.server;
    aws_environment(s, "prod").await;
    s.environment("demo").await;
    for (body, field) in [
        (
            json!({"variables": {"no_such_variable": 1}}),
            "variables.no_such_variable",
        ),
        (
            json!({"variables": {"desired_count": 5}}),
            "variables.desired_count",
        ),
        (
            json!({"variables": {"aws_endpoint_url": "http://elsewhere"}}),
            "variables.aws_endpoint_url",
        ),
        (json!({"variables": []}), "variables"),
    ] {
        for path in [
            "/api/environments/prod/stack",
            "/api/environments/prod/stack/plan",
        ] {
            let refused = s.post(path, &s.admin_token, body.clone()).await;
            assert_eq!(
                refused.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {body}: {:?}",
                refused.body
            );
            assert_eq!(refused.field(), field, "{path} {body}");
        }
    }
    // Nothing was started by the refusals.
    assert_eq!(
        s.get("/api/environments/prod/stack", &s.admin_token)
            .await
            .body["status"],
        "not_provisioned"
    );
    // Local stacks take no Terraform variables and have no plan.
    let local = s
        .post(
            "/api/environments/demo/stack",
            &s.admin_token,
            json!({"variables": {}}),
        )
        .await;
    assert_eq!(local.status, StatusCode::CONFLICT, "{:?}", local.body);
    let plan = s
        .post(
            "/api/environments/demo/stack/plan",
            &s.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(plan.status, StatusCode::CONFLICT, "{:?}", plan.body);
    // Planning and provisioning are the admin's.
    let deployer = s.user("dan", "deployer").await;
    for path in [
        "/api/environments/prod/stack",
        "/api/environments/prod/stack/plan",
    ] {
        assert_eq!(
            s.post(path, &deployer, json!({})).await.status,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        s.delete("/api/environments/prod/stack", &s.admin_token)
            .await
            .status,
        StatusCode::CONFLICT
    );
}

/// One boto3 ECR call on a repository in moto; whether it succeeded.
async fn ecr(endpoint: &str, call: &str, repository: &str) -> bool {
    let script = format!(
        "import boto3; boto3.client('ecr', endpoint_url='{endpoint}', region_name='us-east-1').{call}(repositoryName='{repository}')"
    );
    tokio::process::Command::new(crate::venv_support::venv().join("bin").join("python"))
        .args(["-c", &script])
        .envs(MOTO_CREDENTIALS.iter().copied())
        .status()
        .await
        .unwrap()
        .success()
}
