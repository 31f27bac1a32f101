//! Black-box tests of the local cloud with the real AWS CLI (v1, from the
//! virtualenv of scripts/setup-test-deps): the CLI serializes requests and
//! parses answers with botocore's own service models, so a field the local
//! cloud misspells or mistypes fails here as it would for a user.

mod cloudwatch;
mod codepipeline;
mod docker;
mod ecr;
mod ecs_native;
#[path = "../localcloud/git_repo.rs"]
mod git_repo;
#[path = "../localcloud/registry_client.rs"]
mod registry_client;
#[path = "../localcloud/sampler.rs"]
mod sampler;
mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{LocalCloud, appspec, venv};
use tokio::process::Command;

/// One minute of a deployment config passes in one second.
const TIME_SCALE: &str = "60";

/// What the AWS CLI v1 exits with when the service answers an error (v2 would
/// exit 254).
const CLI_SERVICE_ERROR: i32 = 255;

const LIFECYCLE: [&str; 8] = [
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
];

struct Answer {
    code: i32,
    json: Value,
    stderr: String,
}

/// The AWS CLI pointed at one endpoint, with no configuration of the machine.
struct Cli {
    aws: PathBuf,
    endpoint: String,
    home: tempfile::TempDir,
}

impl Cli {
    fn new(endpoint: &str) -> Cli {
        Cli {
            aws: venv().join("bin").join("aws"),
            endpoint: endpoint.to_owned(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    async fn run(&self, args: &[&str]) -> Answer {
        let output = self.output(args).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        Answer {
            code: output.status.code().unwrap_or(-1),
            json: if stdout.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&stdout).unwrap_or_else(|e| {
                    panic!("aws {}: stdout is not JSON ({e}): {stdout}", args.join(" "))
                })
            },
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed and prints text, not JSON (such as
    /// `ecr get-login-password`); its stdout.
    async fn text(&self, args: &[&str]) -> String {
        let output = self.output(args).await;
        assert!(
            output.status.success(),
            "aws {} exited {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    async fn output(&self, args: &[&str]) -> std::process::Output {
        let home = self.home.path();
        let mut command = Command::new(&self.aws);
        command
            .args(["--endpoint-url", &self.endpoint, "--output", "json"])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("LANG", "C.UTF-8")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", home.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .unwrap_or_else(|_| panic!("aws {} took over 60 s", args.join(" ")))
            .unwrap()
    }

    /// Runs a command that must succeed; its parsed JSON output.
    async fn ok(&self, args: &[&str]) -> Value {
        let answer = self.run(args).await;
        assert_eq!(
            answer.code,
            0,
            "aws {} exited {}: {}",
            args.join(" "),
            answer.code,
            answer.stderr
        );
        answer.json
    }

    /// Runs a command that the service must refuse with `exception`: the
    /// CLI's own error message and exit status.
    async fn fails(&self, args: &[&str], exception: &str, operation: &str) {
        let answer = self.run(args).await;
        let expected =
            format!("An error occurred ({exception}) when calling the {operation} operation: ");
        assert!(
            answer.stderr.contains(&expected),
            "aws {}: expected {expected:?}, got {:?}",
            args.join(" "),
            answer.stderr
        );
        assert_eq!(
            answer.code,
            CLI_SERVICE_ERROR,
            "aws {}: {}",
            args.join(" "),
            answer.stderr
        );
        assert_eq!(answer.json, Value::Null, "nothing on stdout for an error");
    }
}

/// A blue/green stack built with the CLI alone: load balancer (internal API),
/// cluster, task definition, CODE_DEPLOY service on the blue site,
/// application and deployment group.
struct Stack {
    cloud: LocalCloud,
    cli: Cli,
    lb: Value,
    green_site: PathBuf,
}

impl Stack {
    async fn create() -> Stack {
        let cloud = LocalCloud::start(TIME_SCALE).await;
        let cli = Cli::new(&cloud.endpoint);
        let lb = cloud.load_balancer("shop").await;
        let blue_site = cloud.site("blue");
        let green_site = cloud.site("green");

        let cluster = cli
            .ok(&["ecs", "create-cluster", "--cluster-name", "shop"])
            .await;
        assert_eq!(cluster["cluster"]["clusterName"], "shop");
        assert_eq!(cluster["cluster"]["status"], "ACTIVE");
        assert!(
            cluster["cluster"]["clusterArn"]
                .as_str()
                .unwrap()
                .ends_with(":cluster/shop")
        );

        let td = register(&cli, &blue_site).await;
        assert!(td.ends_with(":task-definition/web:1"), "{td}");

        let target_group = lb["target_groups"][0]["arn"].as_str().unwrap();
        let service = cli
            .ok(&[
                "ecs",
                "create-service",
                "--cluster",
                "shop",
                "--service-name",
                "web",
                "--task-definition",
                "web",
                "--desired-count",
                "1",
                "--deployment-controller",
                "type=CODE_DEPLOY",
                "--load-balancers",
                &format!("targetGroupArn={target_group},containerName=web,containerPort=80"),
            ])
            .await;
        let service = &service["service"];
        assert_eq!(service["serviceName"], "web");
        assert_eq!(service["status"], "ACTIVE");
        assert_eq!(service["desiredCount"], 1);
        assert_eq!(service["deploymentController"]["type"], "CODE_DEPLOY");
        assert_eq!(service["taskDefinition"], td.as_str());
        assert_eq!(service["loadBalancers"][0]["targetGroupArn"], target_group);
        assert_eq!(service["loadBalancers"][0]["containerPort"], 80);
        assert_eq!(
            service["taskSets"].as_array().map(Vec::len),
            Some(1),
            "{service}"
        );
        assert_eq!(service["taskSets"][0]["status"], "PRIMARY");
        assert!(
            service["createdAt"].is_number(),
            "timestamps parse as epoch seconds: {service}"
        );

        cloud
            .wait_serving(lb["production_url"].as_str().unwrap(), "blue")
            .await;
        let described = cli
            .ok(&[
                "ecs",
                "describe-services",
                "--cluster",
                "shop",
                "--services",
                "web",
                "nope",
            ])
            .await;
        assert_eq!(
            described["services"].as_array().map(Vec::len),
            Some(1),
            "{described}"
        );
        let service = &described["services"][0];
        assert_eq!(
            (
                service["runningCount"].as_i64(),
                service["pendingCount"].as_i64()
            ),
            (Some(1), Some(0)),
            "{service}"
        );
        assert_eq!(service["taskSets"][0]["runningCount"], 1);
        assert_eq!(
            service["taskSets"][0]["scale"],
            json!({"value": 100.0, "unit": "PERCENT"})
        );
        assert_eq!(described["failures"][0]["reason"], "MISSING");
        assert!(
            described["failures"][0]["arn"]
                .as_str()
                .unwrap()
                .ends_with("service/shop/nope")
        );

        let app = cli
            .ok(&[
                "deploy",
                "create-application",
                "--application-name",
                "shop",
                "--compute-platform",
                "ECS",
            ])
            .await;
        assert!(
            app["applicationId"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{app}"
        );

        let load_balancer_info = json!({"targetGroupPairInfoList": [{
            "targetGroups": [{"name": "blue"}, {"name": "green"}],
            "prodTrafficRoute": {"listenerArns": [lb["production_listener_arn"]]},
            "testTrafficRoute": {"listenerArns": [lb["test_listener_arn"]]},
        }]});
        let group = cli
            .ok(&[
                "deploy",
                "create-deployment-group",
                "--application-name",
                "shop",
                "--deployment-group-name",
                "shop-dg",
                "--service-role-arn",
                "arn:aws:iam::000000000000:role/codedeploy",
                "--deployment-config-name",
                "CodeDeployDefault.ECSAllAtOnce",
                "--ecs-services",
                "serviceName=web,clusterName=shop",
                "--deployment-style",
                "deploymentType=BLUE_GREEN,deploymentOption=WITH_TRAFFIC_CONTROL",
                "--load-balancer-info",
                &load_balancer_info.to_string(),
                "--blue-green-deployment-configuration",
                r#"{"deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
                    "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 0}}"#,
                "--auto-rollback-configuration",
                "enabled=true,events=DEPLOYMENT_FAILURE,DEPLOYMENT_STOP_ON_REQUEST",
            ])
            .await;
        assert!(
            group["deploymentGroupId"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{group}"
        );
        Stack {
            cloud,
            cli,
            lb,
            green_site,
        }
    }

    fn production_url(&self) -> &str {
        self.lb["production_url"].as_str().unwrap()
    }

    /// Registers the green revision and starts a deployment of it; the
    /// revision goes as AppSpecContent JSON in a file.
    async fn deploy_green(&self, config: &str) -> String {
        let td = register(&self.cli, &self.green_site).await;
        assert!(td.ends_with(":task-definition/web:2"), "{td}");
        let revision = self.cloud.dir.path().join("revision.json");
        let body =
            json!({"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(&td)}});
        std::fs::write(&revision, body.to_string()).unwrap();
        let created = self
            .cli
            .ok(&[
                "deploy",
                "create-deployment",
                "--application-name",
                "shop",
                "--deployment-group-name",
                "shop-dg",
                "--deployment-config-name",
                config,
                "--description",
                "green",
                "--revision",
                &format!("file://{}", revision.display()),
            ])
            .await;
        let id = created["deploymentId"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"))
            .to_owned();
        assert!(id.len() == 11 && id.starts_with("d-"), "{id}");
        id
    }

    async fn deployment(&self, id: &str) -> Value {
        self.cli
            .ok(&["deploy", "get-deployment", "--deployment-id", id])
            .await["deploymentInfo"]
            .clone()
    }

    /// Polls get-deployment until the deployment has finished.
    async fn wait_finished(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let info = self.deployment(id).await;
            if matches!(
                info["status"].as_str(),
                Some("Succeeded" | "Failed" | "Stopped")
            ) {
                return info;
            }
            assert!(
                Instant::now() < deadline,
                "deployment {id} is still {}",
                info["status"]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// get-deployment-target of the service; None while the deployment has
    /// not started (DeploymentNotStartedException).
    async fn target(&self, id: &str) -> Option<Value> {
        let args = [
            "deploy",
            "get-deployment-target",
            "--deployment-id",
            id,
            "--target-id",
            "shop:web",
        ];
        let answer = self.cli.run(&args).await;
        if answer.code != 0 && answer.stderr.contains("(DeploymentNotStartedException)") {
            return None;
        }
        assert_eq!(answer.code, 0, "{}", answer.stderr);
        let target = answer.json["deploymentTarget"].clone();
        assert_eq!(target["deploymentTargetType"], "ECSTarget", "{target}");
        assert_eq!(target["ecsTarget"]["deploymentId"], id);
        assert_eq!(target["ecsTarget"]["targetId"], "shop:web");
        assert!(
            target["ecsTarget"]["targetArn"]
                .as_str()
                .unwrap()
                .ends_with(":service/shop/web"),
            "{target}"
        );
        let names: Vec<&str> = target["ecsTarget"]["lifecycleEvents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["lifecycleEventName"].as_str().unwrap())
            .collect();
        assert_eq!(names, LIFECYCLE);
        Some(target["ecsTarget"].clone())
    }
}

async fn register(cli: &Cli, site: &Path) -> String {
    let containers = json!([{"name": "web", "image": format!("static:{}", site.display()), "portMappings": [{"containerPort": 80}]}]);
    let td = cli
        .ok(&[
            "ecs",
            "register-task-definition",
            "--family",
            "web",
            "--container-definitions",
            &containers.to_string(),
        ])
        .await;
    let td = &td["taskDefinition"];
    assert_eq!(td["family"], "web");
    assert_eq!(td["status"], "ACTIVE");
    assert_eq!(
        td["containerDefinitions"][0]["image"],
        format!("static:{}", site.display())
    );
    td["taskDefinitionArn"].as_str().unwrap().to_owned()
}

/// The task set of `label` (Blue or Green) in a deployment target.
fn task_set<'a>(target: &'a Value, label: &str) -> &'a Value {
    target["taskSetsInfo"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ts| ts["taskSetLabel"] == label)
        .unwrap_or_else(|| panic!("no {label} task set in {target}"))
}

#[tokio::test]
async fn deployment_configs_and_service_errors_as_the_cli_reports_them() {
    let cloud = LocalCloud::start(TIME_SCALE).await;
    let cli = Cli::new(&cloud.endpoint);
    let configs = cli.ok(&["deploy", "list-deployment-configs"]).await;
    let names: Vec<&str> = configs["deploymentConfigsList"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in [
        "CodeDeployDefault.ECSAllAtOnce",
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        "CodeDeployDefault.ECSCanary10Percent15Minutes",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }

    let linear = cli
        .ok(&[
            "deploy",
            "get-deployment-config",
            "--deployment-config-name",
            "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
        ])
        .await;
    let info = &linear["deploymentConfigInfo"];
    assert_eq!(
        info["deploymentConfigName"],
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes"
    );
    assert_eq!(info["computePlatform"], "ECS");
    assert_eq!(
        info["trafficRoutingConfig"],
        json!({"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 3}})
    );
    assert!(info["createTime"].is_number(), "{info}");
    let canary = cli
        .ok(&[
            "deploy",
            "get-deployment-config",
            "--deployment-config-name",
            "CodeDeployDefault.ECSCanary10Percent5Minutes",
        ])
        .await;
    assert_eq!(
        canary["deploymentConfigInfo"]["trafficRoutingConfig"],
        json!({"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 5}})
    );

    let errors = [
        (
            vec![
                "deploy",
                "get-deployment-config",
                "--deployment-config-name",
                "CodeDeployDefault.NoSuchConfig",
            ],
            "DeploymentConfigDoesNotExistException",
            "GetDeploymentConfig",
        ),
        (
            vec!["deploy", "get-deployment", "--deployment-id", "d-AAAAAAAAA"],
            "DeploymentDoesNotExistException",
            "GetDeployment",
        ),
        (
            vec!["deploy", "get-deployment", "--deployment-id", "not-an-id"],
            "InvalidDeploymentIdException",
            "GetDeployment",
        ),
        (
            vec![
                "deploy",
                "stop-deployment",
                "--deployment-id",
                "d-AAAAAAAAA",
            ],
            "DeploymentDoesNotExistException",
            "StopDeployment",
        ),
        (
            vec![
                "deploy",
                "get-deployment-target",
                "--deployment-id",
                "d-AAAAAAAAA",
                "--target-id",
                "shop:web",
            ],
            "DeploymentDoesNotExistException",
            "GetDeploymentTarget",
        ),
        (
            vec![
                "deploy",
                "create-application",
                "--application-name",
                "x",
                "--compute-platform",
                "Lambda",
            ],
            "InvalidComputePlatformException",
            "CreateApplication",
        ),
        (
            vec![
                "deploy",
                "create-deployment-group",
                "--application-name",
                "nope",
                "--deployment-group-name",
                "g",
                "--service-role-arn",
                "arn:aws:iam::0:role/r",
            ],
            "ApplicationDoesNotExistException",
            "CreateDeploymentGroup",
        ),
        (
            vec![
                "ecs",
                "describe-services",
                "--cluster",
                "nope",
                "--services",
                "web",
            ],
            "ClusterNotFoundException",
            "DescribeServices",
        ),
        (
            vec![
                "ecs",
                "create-service",
                "--cluster",
                "nope",
                "--service-name",
                "web",
                "--task-definition",
                "web",
            ],
            "ClusterNotFoundException",
            "CreateService",
        ),
    ];
    // The CLI starts slowly: run them side by side.
    let cli = std::sync::Arc::new(cli);
    let checks: Vec<_> = errors
        .into_iter()
        .map(|(args, exception, operation)| {
            let cli = cli.clone();
            tokio::spawn(async move { cli.fails(&args, exception, operation).await })
        })
        .collect();
    for check in checks {
        check.await.unwrap();
    }
}

#[tokio::test]
async fn all_at_once_deployment_through_the_cli() {
    let stack = Stack::create().await;
    let cli = &stack.cli;
    let id = stack.deploy_green("CodeDeployDefault.ECSAllAtOnce").await;
    let info = stack.wait_finished(&id).await;
    assert_eq!(info["status"], "Succeeded", "{info}");
    assert_eq!(info["deploymentId"], id.as_str());
    assert_eq!(info["applicationName"], "shop");
    assert_eq!(info["deploymentGroupName"], "shop-dg");
    assert_eq!(
        info["deploymentConfigName"],
        "CodeDeployDefault.ECSAllAtOnce"
    );
    assert_eq!(info["computePlatform"], "ECS");
    assert_eq!(info["description"], "green");
    assert_eq!(info["revision"]["revisionType"], "AppSpecContent");
    assert_eq!(
        info["deploymentStyle"],
        json!({"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"})
    );
    assert_eq!(info["deploymentOverview"]["Succeeded"], 1);
    assert_eq!(info["deploymentOverview"]["Failed"], 0);
    for field in ["createTime", "startTime", "completeTime"] {
        assert!(info[field].is_number(), "{field} in {info}");
    }
    assert!(info["createTime"].as_f64() <= info["completeTime"].as_f64());

    let target = stack
        .target(&id)
        .await
        .expect("a finished deployment has started");
    assert_eq!(target["status"], "Succeeded", "{target}");
    for event in target["lifecycleEvents"].as_array().unwrap() {
        assert_eq!(event["status"], "Succeeded", "{event}");
        assert!(
            event["startTime"].as_f64() <= event["endTime"].as_f64(),
            "{event}"
        );
    }
    let green = task_set(&target, "Green");
    assert_eq!(green["trafficWeight"], 100.0);
    assert_eq!(green["targetGroup"]["name"], "green");
    assert_eq!(green["status"], "PRIMARY");
    assert_eq!(
        (
            green["desiredCount"].as_i64(),
            green["runningCount"].as_i64()
        ),
        (Some(1), Some(1)),
        "{green}"
    );
    let green_id = green["identifer"]
        .as_str()
        .expect("identifer, as the model spells it");
    assert!(green_id.starts_with("ecs-svc/"), "{green_id}");
    if let Some(blue) = target["taskSetsInfo"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ts| ts["taskSetLabel"] == "Blue")
    {
        assert_eq!(blue["trafficWeight"], 0.0, "{target}");
    }
    stack
        .cloud
        .wait_serving(stack.production_url(), "green")
        .await;

    // ECS sees the green task set as the service's primary one.
    let described = cli
        .ok(&[
            "ecs",
            "describe-services",
            "--cluster",
            "shop",
            "--services",
            "web",
        ])
        .await;
    let service = &described["services"][0];
    assert!(
        service["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with(":task-definition/web:2"),
        "{service}"
    );
    let primary = service["taskSets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ts| ts["status"] == "PRIMARY")
        .expect("a primary task set");
    assert_eq!(primary["id"], green_id);
    assert_eq!(primary["externalId"], id.as_str());
    assert_eq!(primary["startedBy"], "CODE_DEPLOY");

    let stop = ["deploy", "stop-deployment", "--deployment-id", &id];
    let other_target = [
        "deploy",
        "get-deployment-target",
        "--deployment-id",
        &id,
        "--target-id",
        "shop:other",
    ];
    let again = [
        "deploy",
        "create-application",
        "--application-name",
        "shop",
        "--compute-platform",
        "ECS",
    ];
    tokio::join!(
        cli.fails(
            &stop,
            "DeploymentAlreadyCompletedException",
            "StopDeployment"
        ),
        cli.fails(
            &other_target,
            "DeploymentTargetDoesNotExistException",
            "GetDeploymentTarget"
        ),
        cli.fails(
            &again,
            "ApplicationAlreadyExistsException",
            "CreateApplication"
        ),
    );
}

#[tokio::test]
async fn linear_deployment_shifts_in_steps_and_stops_with_a_rollback() {
    let stack = Stack::create().await;
    let cli = &stack.cli;
    let id = stack
        .deploy_green("CodeDeployDefault.ECSLinear10PercentEvery3Minutes")
        .await;

    // Ten steps of ten percent, one every three seconds: catch it in the
    // middle (the CLI takes a second or two a call), then stop it there.
    let deadline = Instant::now() + Duration::from_secs(30);
    let shifting = loop {
        if let Some(target) = stack.target(&id).await {
            assert_ne!(
                target["status"], "Succeeded",
                "the linear deployment finished before it was seen shifting: {target}"
            );
            let weight = target["taskSetsInfo"]
                .as_array()
                .unwrap()
                .iter()
                .find(|ts| ts["taskSetLabel"] == "Green")
                .and_then(|green| green["trafficWeight"].as_f64());
            if weight.is_some_and(|w| w > 0.0 && w < 100.0) {
                break target;
            }
        }
        assert!(
            Instant::now() < deadline,
            "deployment {id} never shifted part of the traffic"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shifting["status"], "InProgress", "{shifting}");
    let (blue, green) = (task_set(&shifting, "Blue"), task_set(&shifting, "Green"));
    let (blue_weight, green_weight) = (
        blue["trafficWeight"].as_f64().unwrap(),
        green["trafficWeight"].as_f64().unwrap(),
    );
    assert_eq!(blue_weight + green_weight, 100.0, "{shifting}");
    assert_eq!(
        green_weight % 10.0,
        0.0,
        "linear steps of ten percent: {shifting}"
    );
    assert_eq!(
        (
            blue["targetGroup"]["name"].as_str(),
            green["targetGroup"]["name"].as_str()
        ),
        (Some("blue"), Some("green"))
    );
    assert_eq!(
        (blue["status"].as_str(), green["status"].as_str()),
        (Some("PRIMARY"), Some("ACTIVE"))
    );
    assert_ne!(blue["identifer"], green["identifer"]);
    let allow_traffic = &shifting["lifecycleEvents"][6];
    assert_eq!(
        (
            allow_traffic["lifecycleEventName"].as_str(),
            allow_traffic["status"].as_str()
        ),
        (Some("AllowTraffic"), Some("InProgress"))
    );
    let info = stack.deployment(&id).await;
    assert_eq!(info["status"], "InProgress");
    assert_eq!(info["deploymentOverview"]["InProgress"], 1);

    let stopped = cli
        .ok(&[
            "deploy",
            "stop-deployment",
            "--deployment-id",
            &id,
            "--auto-rollback-enabled",
        ])
        .await;
    assert_eq!(stopped["status"], "Pending", "{stopped}");
    assert!(
        stopped["statusMessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{stopped}"
    );

    let info = stack.wait_finished(&id).await;
    assert_eq!(info["status"], "Stopped", "{info}");
    assert_eq!(info["deploymentOverview"]["Succeeded"], 0);
    assert!(
        info["errorInformation"]["code"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{info}"
    );
    let rollback = info["rollbackInfo"]["rollbackDeploymentId"]
        .as_str()
        .expect("a rollback deployment");
    assert!(rollback.starts_with("d-") && rollback != id, "{info}");
    // All traffic goes back to blue.
    stack
        .cloud
        .wait_serving(stack.production_url(), "blue")
        .await;
    for _ in 0..10 {
        let body = stack
            .cloud
            .http
            .get(stack.production_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("<h1>blue</h1>"), "{body}");
    }

    cli.fails(
        &["deploy", "stop-deployment", "--deployment-id", &id],
        "DeploymentAlreadyCompletedException",
        "StopDeployment",
    )
    .await;
}
