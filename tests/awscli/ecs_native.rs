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
                "--status",
                "PENDING",
                "IN_PROGRESS",
            ])
            .await;
        let arn = listed["serviceDeployments"][0]["serviceDeploymentArn"]
            .as_str()
            .unwrap_or_else(|| panic!("no deployment in progress: {listed}"))
            .to_owned();
        assert_eq!(
            updated["service"]["currentServiceDeployment"].as_str(),
            Some(arn.as_str())
        );
        arn
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
        self.wait_for(arn, &format!("{status}"), Duration::from_secs(60), |d| {
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
    assert_eq!(
        paused["lifecycleStage"], "PRE_PRODUCTION_TRAFFIC_SHIFT",
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
    let service = stack.service().await;
    if baking["lifecycleStage"] == "BAKE_TIME" {
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
