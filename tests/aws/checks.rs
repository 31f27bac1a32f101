use crate::AwsServer;
use crate::helpers::TestServer;
use aws_sdk_codedeploy::types as cd;
use aws_sdk_ecs::types as ecs;
use reqwest::StatusCode;
use serde_json::{Value, json};

const PROD_LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/0123456789abcdef/1111111111111111";
const TEST_LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/0123456789abcdef/2222222222222222";
const TARGET_GROUP: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-blue/0123456789abcdef";

/// An existing AWS setup, made in moto with the SDK as someone would have
/// made it without Terraform: a cluster with a CODE_DEPLOY service `web` and
/// a service `legacy` under the default (ECS) controller, and a CodeDeploy
/// application with a blue/green deployment group for `web`.
async fn existing_setup(endpoint: &str) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "AKIASWITCHYARDTEST",
            "switchyard-test-secret-key-never-logged",
            None,
            None,
            "test",
        ))
        .load()
        .await;
    let ecs_client = aws_sdk_ecs::Client::new(&config);
    ecs_client
        .create_cluster()
        .cluster_name("web")
        .send()
        .await
        .unwrap();
    ecs_client
        .register_task_definition()
        .family("web")
        .network_mode(ecs::NetworkMode::Awsvpc)
        .requires_compatibilities(ecs::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ecs::ContainerDefinition::builder()
                .name("web")
                .image("nginx")
                .port_mappings(ecs::PortMapping::builder().container_port(80).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    for (service, controller) in [
        ("web", Some(ecs::DeploymentControllerType::CodeDeploy)),
        ("legacy", None),
    ] {
        let mut create = ecs_client
            .create_service()
            .cluster("web")
            .service_name(service)
            .task_definition("web")
            .desired_count(1)
            .launch_type(ecs::LaunchType::Fargate)
            .load_balancers(
                ecs::LoadBalancer::builder()
                    .target_group_arn(TARGET_GROUP)
                    .container_name("web")
                    .container_port(80)
                    .build(),
            );
        if let Some(controller) = controller {
            create = create.deployment_controller(
                ecs::DeploymentController::builder()
                    .r#type(controller)
                    .build()
                    .unwrap(),
            );
        }
        create.send().await.unwrap();
    }
    let codedeploy = aws_sdk_codedeploy::Client::new(&config);
    codedeploy
        .create_application()
        .application_name("web")
        .compute_platform(cd::ComputePlatform::Ecs)
        .send()
        .await
        .unwrap();
    codedeploy
        .create_deployment_group()
        .application_name("web")
        .deployment_group_name("web-dg")
        .service_role_arn("arn:aws:iam::123456789012:role/web-codedeploy")
        .deployment_config_name("CodeDeployDefault.ECSAllAtOnce")
        .deployment_style(
            cd::DeploymentStyle::builder()
                .deployment_type(cd::DeploymentType::BlueGreen)
                .deployment_option(cd::DeploymentOption::WithTrafficControl)
                .build(),
        )
        .ecs_services(
            cd::EcsService::builder()
                .cluster_name("web")
                .service_name("web")
                .build(),
        )
        .load_balancer_info(
            cd::LoadBalancerInfo::builder()
                .target_group_pair_info_list(
                    cd::TargetGroupPairInfo::builder()
                        .target_groups(cd::TargetGroupInfo::builder().name("web-blue").build())
                        .target_groups(cd::TargetGroupInfo::builder().name("web-green").build())
                        .prod_traffic_route(
                            cd::TrafficRoute::builder()
                                .listener_arns(PROD_LISTENER)
                                .build(),
                        )
                        .test_traffic_route(
                            cd::TrafficRoute::builder()
                                .listener_arns(TEST_LISTENER)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Creates an aws environment naming `resources` (and `extra` fields).
async fn environment(s: &TestServer, name: &str, resources: Value, extra: Value) {
    let mut body =
        json!({"name": name, "platform": "aws", "region": "us-east-1", "resources": resources});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let created = s.post("/api/environments", &s.admin_token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
}

fn web(service: &str) -> Value {
    json!({"cluster": "web", "service": service, "codedeploy_application": "web",
           "deployment_group": "web-dg", "prod_listener_arn": PROD_LISTENER, "test_listener_arn": TEST_LISTENER})
}

/// POST /check as a deployer: (ok, finding by resource).
async fn check(s: &TestServer, token: &str, name: &str) -> (bool, Value) {
    let answer = s
        .post(&format!("/api/environments/{name}/check"), token, json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let mut by_resource = serde_json::Map::new();
    for finding in answer.body["findings"].as_array().unwrap() {
        by_resource.insert(
            finding["resource"].as_str().unwrap().to_owned(),
            finding.clone(),
        );
    }
    (
        answer.body["ok"].as_bool().unwrap(),
        Value::Object(by_resource),
    )
}

#[tokio::test]
async fn the_check_reports_each_resource_of_an_environment_made_without_terraform() {
    let dir = tempfile::tempdir().unwrap();
    // A profile of the shared config file the server reads (and a broken
    // one), to show the environment's profile is what signs its calls.
    let config = dir.path().join("aws-config");
    std::fs::write(
        &config,
        "[profile moto]\naws_access_key_id = AKIAPROFILEKEY\naws_secret_access_key = profile-secret\n\n\
         [profile broken]\nregion = us-east-1\n",
    )
    .unwrap();
    let config_path = config.display().to_string();
    let aws = AwsServer::spawn_with_env(&[("AWS_CONFIG_FILE", &config_path)]).await;
    let s = &aws.server;
    existing_setup(&aws.moto.endpoint).await;
    let deployer = s.user("dee", "deployer").await;

    environment(s, "good", web("web"), json!({})).await;
    let (ok, findings) = check(s, &deployer, "good").await;
    assert!(ok, "{findings:#}");
    assert_eq!(findings.as_object().unwrap().len(), 6, "{findings:#}");
    assert!(
        findings["service"]["message"]
            .as_str()
            .unwrap()
            .contains("CODE_DEPLOY")
    );
    assert!(
        findings["deployment_group"]["message"]
            .as_str()
            .unwrap()
            .contains("BLUE_GREEN")
    );
    assert_eq!(findings["prod_listener_arn"]["name"], PROD_LISTENER);

    // A service name that does not exist.
    environment(s, "typo", web("wbe"), json!({})).await;
    let (ok, findings) = check(s, &deployer, "typo").await;
    assert!(!ok);
    assert_eq!(findings["service"]["ok"], false);
    let message = findings["service"]["message"].as_str().unwrap();
    assert!(
        message.contains("not found") && message.contains("wbe"),
        "{message}"
    );
    assert_eq!(findings["cluster"]["ok"], true, "{findings:#}");
    // The group deploys web, not wbe: reported too.
    assert_eq!(findings["deployment_group"]["ok"], false);
    assert!(
        findings["deployment_group"]["message"]
            .as_str()
            .unwrap()
            .contains("web/wbe")
    );

    // A service under the ECS controller cannot be deployed blue/green.
    environment(s, "legacy", web("legacy"), json!({})).await;
    let (ok, findings) = check(s, &deployer, "legacy").await;
    assert!(!ok);
    assert_eq!(findings["service"]["ok"], false);
    let message = findings["service"]["message"].as_str().unwrap();
    assert!(
        message.contains("uses the ECS deployment controller") && message.contains("CODE_DEPLOY"),
        "{message}"
    );

    // Wrong kinds and missing names.
    environment(
        s,
        "partial",
        json!({"cluster": "nope", "codedeploy_application": "web", "deployment_group": "missing-dg",
               "prod_listener_arn": TEST_LISTENER}),
        json!({}),
    )
    .await;
    let (ok, findings) = check(s, &deployer, "partial").await;
    assert!(!ok);
    assert!(
        findings["cluster"]["message"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{findings:#}"
    );
    assert!(
        findings["service"]["message"]
            .as_str()
            .unwrap()
            .starts_with("not set"),
        "{findings:#}"
    );
    assert!(
        findings["deployment_group"]["message"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{findings:#}"
    );
    assert_eq!(findings["codedeploy_application"]["ok"], true);
    assert_eq!(findings["prod_listener_arn"]["ok"], false);

    // The environment's profile signs its calls: a working one passes, a
    // profile without credentials fails, even with keys in the server's
    // environment.
    environment(s, "profiled", web("web"), json!({"aws_profile": "moto"})).await;
    let (ok, findings) = check(s, &deployer, "profiled").await;
    assert!(ok, "{findings:#}");
    environment(s, "unsigned", web("web"), json!({"aws_profile": "broken"})).await;
    let (ok, findings) = check(s, &deployer, "unsigned").await;
    assert!(!ok);
    assert!(
        findings["cluster"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be checked"),
        "{findings:#}"
    );
    let shown = s
        .get("/api/environments/profiled", &s.admin_token)
        .await
        .body;
    assert_eq!(shown["aws_profile"], "moto");

    // Who may check, and a profile only aws environments take.
    let viewer = s.user("vic", "viewer").await;
    assert_eq!(
        s.post("/api/environments/good/check", &viewer, json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.post("/api/environments/nope/check", &deployer, json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let refused = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "loc", "platform": "local", "aws_profile": "moto"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.field(), "aws_profile");
    let refused = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "loc", "platform": "aws", "region": "us-east-1", "aws_profile": "has space"}),
        )
        .await;
    assert_eq!(refused.field(), "aws_profile");
}
