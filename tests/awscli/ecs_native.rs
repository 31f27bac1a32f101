//! ECS-native blue/green deployments (the ECS deployment controller's
//! LINEAR and CANARY strategies, PAUSE hooks) driven with the AWS CLI, on
//! real containers behind the local load balancer. Production is sampled
//! on its listener all along: no request may fail.

use crate::sampler::{Sampler, Samples};
use crate::support::{LocalCloud, docker_host};
use crate::{Cli, TIME_SCALE};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchyard_loadgen::sampler::Outcome;

/// The image scripts/test builds offline on the test engine.
const IMAGE: &str = "switchyard-test/busybox:latest";
/// Serves a page that names $COLOUR on port 8080.
const SERVE_COLOUR: &str = r#"mkdir -p /www && echo "<h1>$COLOUR</h1>" > /www/index.html && exec httpd -f -p 8080 -h /www"#;

/// A service with the ECS deployment controller on the blue and green
/// target groups of one load balancer, running the blue revision.
struct NativeStack {
    cloud: LocalCloud,
    cli: Cli,
    lb: Value,
}

impl NativeStack {
    async fn create(deployment_configuration: Value) -> NativeStack {
        let cloud = LocalCloud::start_on_engine(TIME_SCALE, &docker_host()).await;
        let cli = Cli::new(&cloud.endpoint);
        let lb = cloud.load_balancer("shop").await;
        cli.ok(&["ecs", "create-cluster", "--cluster-name", "shop"])
            .await;
        let blue = register_colour(&cli, "blue").await;
        let load_balancers = json!([{
            "targetGroupArn": lb["target_groups"][0]["arn"],
            "containerName": "web",
            "containerPort": 8080,
            "advancedConfiguration": {
                "alternateTargetGroupArn": lb["target_groups"][1]["arn"],
                "productionListenerRule": lb["production_listener_rule_arn"],
                "testListenerRule": lb["test_listener_rule_arn"],
                "roleArn": "arn:aws:iam::000000000000:role/ecs-infrastructure",
            },
        }]);
        let created = cli
            .ok(&[
                "ecs",
                "create-service",
                "--cluster",
                "shop",
                "--service-name",
                "web",
                "--task-definition",
                &blue,
                "--desired-count",
                "2",
                "--deployment-controller",
                "type=ECS",
                "--deployment-configuration",
                &deployment_configuration.to_string(),
                "--load-balancers",
                &load_balancers.to_string(),
            ])
            .await;
        let service = &created["service"];
        assert_eq!(service["deploymentController"]["type"], "ECS", "{service}");
        assert_eq!(
            service["loadBalancers"][0]["advancedConfiguration"]["alternateTargetGroupArn"],
            lb["target_groups"][1]["arn"],
            "{service}"
        );
        assert!(
            service["currentServiceDeployment"].is_string(),
            "creating a service records its first deployment: {service}"
        );
        let stack = NativeStack { cloud, cli, lb };
        stack.wait_serving("production", "blue").await;
        stack
    }

    fn url(&self, listener: &str) -> String {
        self.lb[format!("{listener}_url")]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until every answer of the listener names `colour`.
    async fn wait_serving(&self, listener: &str, colour: &str) {
        self.cloud.wait_serving(&self.url(listener), colour).await;
        for _ in 0..10 {
            let body = self.page(listener).await;
            assert!(body.contains(&format!("<h1>{colour}</h1>")), "{body}");
        }
    }

    async fn page(&self, listener: &str) -> String {
        let response = self.cloud.http.get(self.url(listener)).send().await;
        response.unwrap().text().await.unwrap()
    }

    /// Registers the green revision and deploys it with UpdateService; the
    /// service deployment's ARN.
    async fn deploy_green(&self) -> String {
        let green = register_colour(&self.cli, "green").await;
        let updated = self
            .cli
            .ok(&[
                "ecs",
                "update-service",
                "--cluster",
                "shop",
                "--service",
                "web",
                "--task-definition",
                &green,
            ])
            .await;
        assert_eq!(
            updated["service"]["taskDefinition"]
                .as_str()
                .map(|td| td.ends_with(":1")),
            Some(true),
            "the service keeps running blue until the deployment is done: {updated}"
        );
        let listed = self
            .cli
            .ok(&[
                "ecs",
                "list-service-deployments",
                "--cluster",
                "shop",
                "--service",
                "web",
            ])
            .await;
        // Newest first: this one, then the service's first.
        let listed = listed["serviceDeployments"].as_array().unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        let arn = listed[0]["serviceDeploymentArn"]
            .as_str()
            .unwrap_or_else(|| panic!("no deployment: {listed:?}"))
            .to_owned();
        assert_eq!(
            updated["service"]["currentServiceDeployment"].as_str(),
            Some(arn.as_str())
        );
        arn
    }

    /// Registers a local function (what a Lambda hook's ARN names).
    async fn register_function(&self, name: &str, command: &[&str]) {
        let url = format!("{}/_localcloud/functions/{name}", self.cloud.endpoint);
        let response = self
            .cloud
            .http
            .put(url)
            .json(&json!({"command": command}))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
    }

    /// Deploys green again, as a new revision; the new service
    /// deployment's ARN.
    async fn redeploy(&self) -> String {
        let green = register_colour(&self.cli, "green").await;
        let updated = self
            .cli
            .ok(&[
                "ecs",
                "update-service",
                "--cluster",
                "shop",
                "--service",
                "web",
                "--task-definition",
                &green,
            ])
            .await;
        updated["service"]["currentServiceDeployment"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn describe(&self, arn: &str) -> Value {
        let described = self
            .cli
            .ok(&[
                "ecs",
                "describe-service-deployments",
                "--service-deployment-arns",
                arn,
            ])
            .await;
        described["serviceDeployments"][0].clone()
    }

    /// Polls the deployment until `check` holds, failing after `limit`.
    async fn wait_for(
        &self,
        arn: &str,
        what: &str,
        limit: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let d = self.describe(arn).await;
            if check(&d) {
                return d;
            }
            assert!(Instant::now() < deadline, "never {what}: {d}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_status(&self, arn: &str, status: &str) -> Value {
        self.wait_for(arn, status, Duration::from_secs(60), |d| {
            d["status"] == status
        })
        .await
    }

    async fn service(&self) -> Value {
        let described = self
            .cli
            .ok(&[
                "ecs",
                "describe-services",
                "--cluster",
                "shop",
                "--services",
                "web",
            ])
            .await;
        described["services"][0].clone()
    }
}

async fn register_colour(cli: &Cli, colour: &str) -> String {
    let containers = json!([{
        "name": "web",
        "image": IMAGE,
        "command": ["sh", "-c", SERVE_COLOUR],
        "environment": [{"name": "COLOUR", "value": colour}],
        "portMappings": [{"containerPort": 8080}],
    }]);
    let registered = cli
        .ok(&[
            "ecs",
            "register-task-definition",
            "--family",
            "web",
            "--container-definitions",
            &containers.to_string(),
        ])
        .await;
    registered["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn pause_at(stage: &str, timeout_minutes: u32, action: &str) -> Value {
    json!({
        "targetType": "PAUSE",
        "lifecycleStages": [stage],
        "timeoutConfiguration": {"timeoutInMinutes": timeout_minutes, "action": action},
    })
}

fn weight(revision: &Value, kind: &str) -> Option<f64> {
    revision[format!("requested{kind}TrafficWeight")].as_f64()
}

fn target_production_weight(d: &Value) -> Option<f64> {
    weight(&d["targetServiceRevision"], "Production")
}

/// Every sample was served, blue or green; (blue, green) counts.
fn all_served(samples: &Samples) -> (usize, usize) {
    let (mut blue, mut green) = (0, 0);
    for sample in &samples.0 {
        match &sample.outcome {
            Outcome::Served(body) if body.contains("<h1>blue</h1>") => blue += 1,
            Outcome::Served(body) if body.contains("<h1>green</h1>") => green += 1,
            other => panic!("production failed a request: {other:?}"),
        }
    }
    (blue, green)
}

#[tokio::test]
async fn a_linear_deployment_waits_at_its_pause_hook_then_shifts_production_in_steps() {
    let stack = NativeStack::create(json!({
        "strategy": "LINEAR",
        "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 3},
        "bakeTimeInMinutes": 2,
        "lifecycleHooks": [pause_at("PRE_PRODUCTION_TRAFFIC_SHIFT", 60, "ROLLBACK")],
    }))
    .await;
    let production = Sampler::start(&stack.url("production"));
    let arn = stack.deploy_green().await;

    let paused = stack
        .wait_for(
            &arn,
            "awaiting the pause hook",
            Duration::from_secs(60),
            |d| d["lifecycleHookDetails"][0]["status"] == "AWAITING_ACTION",
        )
        .await;
    assert_eq!(paused["status"], "IN_PROGRESS", "{paused}");
    // The model's stages have no PRE_PRODUCTION_TRAFFIC_SHIFT: held there,
    // the deployment is at the start of the production shift, at weight 0.
    assert_eq!(
        paused["lifecycleStage"], "PRODUCTION_TRAFFIC_SHIFT",
        "{paused}"
    );
    let hook = &paused["lifecycleHookDetails"][0];
    assert_eq!(hook["targetType"], "PAUSE", "{hook}");
    assert_eq!(hook["timeoutAction"], "ROLLBACK", "{hook}");
    assert!(hook["expiresAt"].is_number(), "{hook}");
    assert_eq!(target_production_weight(&paused), Some(0.0), "{paused}");
    assert_eq!(
        weight(&paused["targetServiceRevision"], "Test"),
        Some(100.0)
    );
    stack.wait_serving("test", "green").await;
    // The hook holds: production stays on blue until someone continues.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.wait_serving("production", "blue").await;

    let hook_id = hook["hookId"].as_str().unwrap();
    let continued = stack
        .cli
        .ok(&[
            "ecs",
            "continue-service-deployment",
            "--service-deployment-arn",
            &arn,
            "--hook-id",
            hook_id,
            "--action",
            "CONTINUE",
        ])
        .await;
    assert_eq!(continued["serviceDeploymentArn"], arn.as_str());

    // Production follows the steps: 25, 50, 75, 100, never back.
    let mut seen: Vec<f64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let baking = loop {
        let d = stack.describe(&arn).await;
        if let Some(w) = target_production_weight(&d).filter(|w| seen.last() != Some(w)) {
            seen.push(w);
        }
        if d["lifecycleStage"] == "BAKE_TIME" || d["status"] == "SUCCESSFUL" {
            break d;
        }
        assert!(Instant::now() < deadline, "never reached bake time: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "production weights only grow: {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|w| [0.0, 25.0, 50.0, 75.0, 100.0].contains(w)),
        "production weights are the linear steps: {seen:?}"
    );
    let intermediate: Vec<f64> = seen
        .iter()
        .copied()
        .filter(|w| *w > 0.0 && *w < 100.0)
        .collect();
    assert!(
        intermediate.len() >= 2,
        "two steps seen on the way: {seen:?}"
    );
    assert_eq!(target_production_weight(&baking), Some(100.0), "{baking}");
    // On a busy machine the bake can end between the two reads; the claim
    // holds only for a service read made while the deployment still bakes.
    let service = stack.service().await;
    let still_baking = stack.describe(&arn).await["lifecycleStage"] == "BAKE_TIME";
    if baking["lifecycleStage"] == "BAKE_TIME" && still_baking {
        assert_eq!(
            service["deployments"].as_array().map(Vec::len),
            Some(2),
            "both revisions run during bake time: {service}"
        );
    }
    let done = stack.wait_status(&arn, "SUCCESSFUL").await;
    assert!(done["finishedAt"].is_number(), "{done}");
    stack.wait_serving("production", "green").await;
    let service = stack.service().await;
    let deployments = service["deployments"].as_array().unwrap();
    assert_eq!(
        deployments.len(),
        1,
        "the old revision is gone after bake time: {service}"
    );
    assert_eq!(deployments[0]["status"], "PRIMARY");
    assert!(
        service["taskDefinition"].as_str().unwrap().ends_with(":2"),
        "{service}"
    );

    let samples = production.stop().await;
    let (blue, green) = all_served(&samples);
    assert!(blue > 0 && green > 0, "{blue} blue, {green} green");
    for step in intermediate {
        assert_share_seen(&samples, step);
    }
}

/// Somewhere in the samples, 40 in a row (0.8 s) had green's share of a
/// step: the listener really served that weight, not only reported it.
fn assert_share_seen(samples: &Samples, percent: f64) {
    let green: Vec<bool> = samples
        .0
        .iter()
        .map(|s| matches!(&s.outcome, Outcome::Served(body) if body.contains("<h1>green</h1>")))
        .collect();
    let seen = green.windows(40).any(|window| {
        let share = window.iter().filter(|g| **g).count() as f64 * 100.0 / 40.0;
        (share - percent).abs() <= 10.0
    });
    assert!(seen, "production never served {percent} % green for 0.8 s");
}

#[tokio::test]
async fn a_stopped_canary_returns_all_traffic_to_the_source_revision() {
    let stack = NativeStack::create(json!({
        "strategy": "CANARY",
        "canaryConfiguration": {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 60},
    }))
    .await;
    let production = Sampler::start(&stack.url("production"));
    let arn = stack.deploy_green().await;
    let canary = stack
        .wait_for(&arn, "at the canary", Duration::from_secs(60), |d| {
            target_production_weight(d) == Some(20.0)
        })
        .await;
    assert_eq!(
        canary["lifecycleStage"], "PRODUCTION_TRAFFIC_SHIFT",
        "{canary}"
    );
    assert_eq!(
        weight(&canary["sourceServiceRevisions"][0], "Production"),
        Some(80.0),
        "{canary}"
    );
    // Let the canary serve a while, then stop it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopped = stack
        .cli
        .ok(&[
            "ecs",
            "stop-service-deployment",
            "--service-deployment-arn",
            &arn,
            "--stop-type",
            "ROLLBACK",
        ])
        .await;
    assert_eq!(stopped["serviceDeploymentArn"], arn.as_str());
    let rolled_back = stack.wait_status(&arn, "ROLLBACK_SUCCESSFUL").await;
    let rollback = &rolled_back["rollback"];
    assert!(
        rollback["reason"]
            .as_str()
            .is_some_and(|r| r.contains("StopServiceDeployment")),
        "{rolled_back}"
    );
    assert!(rollback["startedAt"].is_number(), "{rolled_back}");
    assert_eq!(
        rollback["serviceRevisionArn"], rolled_back["sourceServiceRevisions"][0]["arn"],
        "{rolled_back}"
    );
    stack.wait_serving("production", "blue").await;
    stack.wait_serving("test", "blue").await;
    let service = stack.service().await;
    assert_eq!(
        service["deployments"].as_array().map(Vec::len),
        Some(1),
        "{service}"
    );
    assert!(
        service["taskDefinition"].as_str().unwrap().ends_with(":1"),
        "{service}"
    );

    let samples = production.stop().await;
    let (blue, green) = all_served(&samples);
    assert!(green > 0, "the canary served: {blue} blue, {green} green");
    assert_share_seen(&samples, 20.0);
    stack
        .cli
        .fails(
            &[
                "ecs",
                "stop-service-deployment",
                "--service-deployment-arn",
                &arn,
            ],
            "ConflictException",
            "StopServiceDeployment",
        )
        .await;
}

#[tokio::test]
async fn a_pause_hook_that_times_out_rolls_back() {
    let stack = NativeStack::create(json!({
        "strategy": "BLUE_GREEN",
        "bakeTimeInMinutes": 0,
        "lifecycleHooks": [pause_at("POST_TEST_TRAFFIC_SHIFT", 2, "ROLLBACK")],
    }))
    .await;
    let production = Sampler::start(&stack.url("production"));
    let arn = stack.deploy_green().await;
    let done = stack.wait_status(&arn, "ROLLBACK_SUCCESSFUL").await;
    let hook = &done["lifecycleHookDetails"][0];
    assert_eq!(hook["status"], "TIMED_OUT", "{done}");
    assert!(
        done["rollback"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("timed out")),
        "{done}"
    );
    stack.wait_serving("production", "blue").await;
    let samples = production.stop().await;
    let (_, green) = all_served(&samples);
    assert_eq!(green, 0, "production never reached green");
}

#[tokio::test]
async fn a_killed_local_cloud_resumes_a_linear_deployment_mid_step() {
    let mut stack = NativeStack::create(json!({
        "strategy": "LINEAR",
        "linearConfiguration": {"stepPercent": 50.0, "stepBakeTimeInMinutes": 4},
    }))
    .await;
    let production = Sampler::start(&stack.url("production"));
    let arn = stack.deploy_green().await;
    stack
        .wait_for(&arn, "at the first step", Duration::from_secs(60), |d| {
            target_production_weight(d) == Some(50.0)
        })
        .await;
    let killed = Instant::now();
    stack.cloud.restart().await;
    let restarted = Instant::now();
    let done = stack.wait_status(&arn, "SUCCESSFUL").await;
    assert_eq!(target_production_weight(&done), Some(100.0), "{done}");
    stack.wait_serving("production", "green").await;
    let samples = production.stop().await;
    // The process is gone once restart() has waited for it.
    samples.assert_only_lost_while_down(killed, restarted, restarted);
}

#[tokio::test]
async fn native_settings_and_calls_are_checked_as_ecs_checks_them() {
    let stack = NativeStack::create(json!({
        "strategy": "BLUE_GREEN",
        "lifecycleHooks": [pause_at("POST_SCALE_UP", 60, "ROLLBACK")],
    }))
    .await;
    let cli = &stack.cli;
    let td = register_colour(cli, "green").await;
    let create = |configuration: Value, load_balancers: Value| {
        let td = td.clone();
        async move {
            cli.run(&[
                "ecs",
                "create-service",
                "--cluster",
                "shop",
                "--service-name",
                "other",
                "--task-definition",
                &td,
                "--deployment-controller",
                "type=ECS",
                "--deployment-configuration",
                &configuration.to_string(),
                "--load-balancers",
                &load_balancers.to_string(),
            ])
            .await
        }
    };
    let plain = json!([{"targetGroupArn": stack.lb["target_groups"][0]["arn"], "containerName": "web", "containerPort": 8080}]);
    for (configuration, load_balancers, says) in [
        (
            json!({"strategy": "LINEAR"}),
            plain.clone(),
            "advancedConfiguration",
        ),
        (
            json!({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 2.0}}),
            plain.clone(),
            "stepPercent",
        ),
        (
            json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [pause_at("TEST_TRAFFIC_SHIFT", 5, "ROLLBACK")]}),
            plain.clone(),
            "TEST_TRAFFIC_SHIFT",
        ),
        (
            json!({"strategy": "CANARY", "linearConfiguration": {"stepPercent": 10.0}}),
            plain.clone(),
            "linearConfiguration",
        ),
    ] {
        let answer = create(configuration.clone(), load_balancers).await;
        assert_eq!(
            answer.code,
            crate::CLI_SERVICE_ERROR,
            "{configuration}: {}",
            answer.stderr
        );
        assert!(
            answer.stderr.contains("(InvalidParameterException)") && answer.stderr.contains(says),
            "{configuration}: {}",
            answer.stderr
        );
    }
    let arn = stack.deploy_green().await;
    cli.fails(
        &[
            "ecs",
            "continue-service-deployment",
            "--service-deployment-arn",
            &arn,
            "--hook-id",
            "ecs-pause-nope",
        ],
        "InvalidParameterException",
        "ContinueServiceDeployment",
    )
    .await;
    // Another rollout while one is in progress is refused, even of the
    // revision the service still runs.
    let running = stack.service().await["taskDefinition"]
        .as_str()
        .unwrap()
        .to_owned();
    cli.fails(
        &[
            "ecs",
            "update-service",
            "--cluster",
            "shop",
            "--service",
            "web",
            "--task-definition",
            &running,
        ],
        "InvalidParameterException",
        "UpdateService",
    )
    .await;
    let missing = arn.replace(arn.rsplit('/').next().unwrap(), "AAAAAAAAAAAAAAAAAAAAA");
    cli.fails(
        &[
            "ecs",
            "stop-service-deployment",
            "--service-deployment-arn",
            &missing,
        ],
        "ServiceDeploymentNotFoundException",
        "StopServiceDeployment",
    )
    .await;
    let described = cli
        .ok(&[
            "ecs",
            "describe-service-deployments",
            "--service-deployment-arns",
            &arn,
            &missing,
        ])
        .await;
    assert_eq!(
        described["failures"][0]["arn"],
        missing.as_str(),
        "{described}"
    );
    assert_eq!(described["failures"][0]["reason"], "MISSING", "{described}");
    let paused = stack
        .wait_for(&arn, "paused", Duration::from_secs(60), |d| {
            d["lifecycleHookDetails"][0]["status"] == "AWAITING_ACTION"
        })
        .await;
    let hook_id = paused["lifecycleHookDetails"][0]["hookId"]
        .as_str()
        .unwrap();
    cli.ok(&[
        "ecs",
        "continue-service-deployment",
        "--service-deployment-arn",
        &arn,
        "--hook-id",
        hook_id,
    ])
    .await;
    let done = stack.wait_status(&arn, "SUCCESSFUL").await;
    assert_eq!(
        done["lifecycleHookDetails"][0]["status"], "SUCCEEDED",
        "{done}"
    );
    let revisions = cli
        .ok(&[
            "ecs",
            "describe-service-revisions",
            "--service-revision-arns",
            done["targetServiceRevision"]["arn"].as_str().unwrap(),
        ])
        .await;
    let revision = &revisions["serviceRevisions"][0];
    let service = stack.service().await;
    assert_eq!(
        revision["taskDefinition"], service["taskDefinition"],
        "{revision}"
    );
    assert_eq!(
        revision["resolvedConfiguration"]["loadBalancers"][0]["targetGroupArn"],
        stack.lb["target_groups"][1]["arn"],
        "the new revision serves the alternate target group: {revision}"
    );
    // The target groups swapped roles: the next deployment starts on blue's.
    let lb = &service["loadBalancers"][0];
    assert_eq!(
        lb["targetGroupArn"], stack.lb["target_groups"][1]["arn"],
        "{service}"
    );
    assert_eq!(
        lb["advancedConfiguration"]["alternateTargetGroupArn"], stack.lb["target_groups"][0]["arn"],
        "{service}"
    );
}

#[tokio::test]
async fn a_failing_lambda_hook_rolls_back_and_a_passing_one_lets_the_deployment_through() {
    let stack = NativeStack::create(json!({
        "strategy": "BLUE_GREEN",
        "lifecycleHooks": [{
            "targetType": "AWS_LAMBDA",
            "hookTargetArn": "arn:aws:lambda:us-east-1:000000000000:function:smoke-test",
            "roleArn": "arn:aws:iam::000000000000:role/ecs-hooks",
            "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
        }],
    }))
    .await;
    // The hook sees the deployment and stage, and fails.
    let record = stack.cloud.dir.path().join("hook-calls");
    let script = format!(
        r#"echo "$SERVICE_DEPLOYMENT_ARN $LIFECYCLE_STAGE" >> {}; test -e {}/pass"#,
        record.display(),
        stack.cloud.dir.path().display()
    );
    stack
        .register_function("smoke-test", &["sh", "-c", &script])
        .await;
    let arn = stack.deploy_green().await;
    let failed = stack.wait_status(&arn, "ROLLBACK_SUCCESSFUL").await;
    assert_eq!(
        failed["lifecycleHookDetails"][0]["status"], "FAILED",
        "{failed}"
    );
    assert!(
        failed["rollback"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("failed")),
        "{failed}"
    );
    let calls = std::fs::read_to_string(&record).unwrap();
    assert_eq!(calls.trim(), format!("{arn} POST_TEST_TRAFFIC_SHIFT"));
    stack.wait_serving("production", "blue").await;

    std::fs::write(stack.cloud.dir.path().join("pass"), "").unwrap();
    let again = stack.redeploy().await;
    let done = stack.wait_status(&again, "SUCCESSFUL").await;
    assert_eq!(
        done["lifecycleHookDetails"][0]["status"], "SUCCEEDED",
        "{done}"
    );
    stack.wait_serving("production", "green").await;
}
