//! `switchyard-bench native`: the local cloud's ECS-native deployments.
//!
//! 1. Schedule: how late each production weight change of a LINEAR
//!    deployment (10 % every minute, time scale 60) reaches the running
//!    listener, against the step times the schedule gives; the baseline is a
//!    CodeDeploy ECSLinear10PercentEvery1Minutes deployment measured the
//!    same way in the same run. The listener's applied weights are read
//!    back from the local cloud every 2 ms.
//! 2. Idle cost: the local cloud's CPU while 20 native deployments on 20
//!    services wait in bake time, against the same 20 services with no
//!    deployment in progress.

use super::ChildServer;
use crate::deployments::cpu_seconds;
use clap::Args;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";
const CODEDEPLOY: &str = "CodeDeploy_20141006";
/// One step a second at time scale 60.
const STEP: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
pub struct NativeBench {
    /// LINEAR deployments measured for the schedule (10 steps each); as
    /// many CodeDeploy deployments for the baseline.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Services deploying at once for the idle cost.
    #[arg(long, default_value_t = 20)]
    services: usize,
    /// How long the CPU is measured in each state, seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

pub async fn run(args: NativeBench) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("switchyard-bench-native-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = measure(&args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(args: &NativeBench, dir: &Path) -> anyhow::Result<()> {
    let mut child = ChildServer::start(
        &[
            "localcloud",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            "60",
            "--data-dir",
        ],
        Some(&dir.join("cloud")),
    )?;
    let cloud = Cloud {
        http: reqwest::Client::new(),
        endpoint: format!("http://{}", child.address().await?),
        sites: dir.to_owned(),
    };
    cloud.set_up().await?;
    let native = schedule_lateness(&cloud, args.rounds, Controller::Ecs).await?;
    let codedeploy = schedule_lateness(&cloud, args.rounds, Controller::CodeDeploy).await?;
    let idle = idle_cost(&cloud, &child, args).await?;
    print(args, &native, &codedeploy, idle);
    child.stop().await
}

/// The local cloud on the wire: raw awsJson1_1 calls (the Rust SDK this
/// workspace pins predates the native deployment operations).
struct Cloud {
    http: reqwest::Client,
    endpoint: String,
    sites: std::path::PathBuf,
}

impl Cloud {
    async fn call(&self, target: &str, operation: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(&self.endpoint)
            .header("x-amz-target", format!("{target}.{operation}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{operation}: {status} {answer}");
        Ok(answer)
    }

    async fn ecs(&self, operation: &str, body: Value) -> anyhow::Result<Value> {
        self.call(ECS, operation, body).await
    }

    async fn load_balancer(&self, name: &str) -> anyhow::Result<Value> {
        let url = format!("{}/_localcloud/load-balancers/{name}", self.endpoint);
        Ok(self
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    async fn create_load_balancer(&self, name: &str) -> anyhow::Result<Value> {
        let groups = json!([{"name": format!("{name}-blue")}, {"name": format!("{name}-green")}]);
        let url = format!("{}/_localcloud/load-balancers", self.endpoint);
        let body = json!({"name": name, "target_groups": groups});
        let response = self.http.post(url).json(&body).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }

    /// The cluster and two revisions of a static site.
    async fn set_up(&self) -> anyhow::Result<()> {
        self.ecs("CreateCluster", json!({"clusterName": "bench"}))
            .await?;
        for colour in ["blue", "green"] {
            let site = self.sites.join(colour);
            std::fs::create_dir_all(&site)?;
            std::fs::write(site.join("index.html"), format!("<h1>{colour}</h1>"))?;
            let containers = json!([{"name": "web", "image": format!("static:{}", site.display()), "portMappings": [{"containerPort": 80}]}]);
            self.ecs(
                "RegisterTaskDefinition",
                json!({"family": "web", "containerDefinitions": containers}),
            )
            .await?;
        }
        Ok(())
    }

    /// A service with the ECS controller on its own load balancer.
    async fn native_service(&self, name: &str, configuration: Value) -> anyhow::Result<Value> {
        let lb = self.create_load_balancer(name).await?;
        self.ecs("CreateService", ecs_service(name, &lb, configuration))
            .await?;
        Ok(lb)
    }

    /// A CODE_DEPLOY service with its application and deployment group.
    async fn codedeploy_service(&self, name: &str) -> anyhow::Result<Value> {
        let lb = self.create_load_balancer(name).await?;
        self.ecs("CreateService", codedeploy_service(name, &lb))
            .await?;
        self.call(
            CODEDEPLOY,
            "CreateApplication",
            json!({"applicationName": name, "computePlatform": "ECS"}),
        )
        .await?;
        self.call(CODEDEPLOY, "CreateDeploymentGroup", linear_group(name, &lb))
            .await?;
        Ok(lb)
    }
}

/// CreateService of a one-task service `name` under the ECS controller with
/// `configuration`, on `lb`'s blue group with green as its alternate.
pub(crate) fn ecs_service(name: &str, lb: &Value, configuration: Value) -> Value {
    json!({
        "cluster": "bench", "serviceName": name, "taskDefinition": "web:1", "desiredCount": 1,
        "deploymentController": {"type": "ECS"},
        "deploymentConfiguration": configuration,
        "loadBalancers": [{
            "targetGroupArn": lb["target_groups"][0]["arn"],
            "containerName": "web",
            "containerPort": 80,
            "advancedConfiguration": {
                "alternateTargetGroupArn": lb["target_groups"][1]["arn"],
                "productionListenerRule": lb["production_listener_rule_arn"],
                "testListenerRule": lb["test_listener_rule_arn"],
                "roleArn": "arn:aws:iam::000000000000:role/ecs-infrastructure",
            },
        }],
    })
}

/// CreateService of a one-task CODE_DEPLOY service `name` on `lb`'s blue group.
pub(crate) fn codedeploy_service(name: &str, lb: &Value) -> Value {
    json!({
        "cluster": "bench", "serviceName": name, "taskDefinition": "web:1", "desiredCount": 1,
        "deploymentController": {"type": "CODE_DEPLOY"},
        "loadBalancers": [{"targetGroupArn": lb["target_groups"][0]["arn"], "containerName": "web", "containerPort": 80}],
    })
}

/// CreateDeploymentGroup of a group `name` shifting `lb`'s listeners
/// linearly, 10 % a minute, and ending at once.
pub(crate) fn linear_group(name: &str, lb: &Value) -> Value {
    json!({
        "applicationName": name, "deploymentGroupName": name,
        "serviceRoleArn": "arn:aws:iam::000000000000:role/codedeploy",
        "deploymentConfigName": "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        "ecsServices": [{"serviceName": name, "clusterName": "bench"}],
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "loadBalancerInfo": {"targetGroupPairInfoList": [{
            "targetGroups": [{"name": format!("{name}-blue")}, {"name": format!("{name}-green")}],
            "prodTrafficRoute": {"listenerArns": [lb["production_listener_arn"]]},
            "testTrafficRoute": {"listenerArns": [lb["test_listener_arn"]]},
        }]},
        "blueGreenDeploymentConfiguration": {
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 0},
        },
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Controller {
    Ecs,
    CodeDeploy,
}

/// Lateness (ms) of every weight change after the first, over `rounds`
/// deployments that go back and forth between the two revisions.
async fn schedule_lateness(
    cloud: &Cloud,
    rounds: usize,
    controller: Controller,
) -> anyhow::Result<Vec<f64>> {
    let name = match controller {
        Controller::Ecs => "linear-ecs",
        Controller::CodeDeploy => "linear-codedeploy",
    };
    let lb = match controller {
        Controller::Ecs => {
            let linear = json!({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 10.0, "stepBakeTimeInMinutes": 1}});
            cloud.native_service(name, linear).await?
        }
        Controller::CodeDeploy => cloud.codedeploy_service(name).await?,
    };
    wait_serving(cloud, name, &lb).await?;
    let mut lateness = Vec::new();
    for round in 0..rounds {
        let revision = if round % 2 == 0 { "web:2" } else { "web:1" };
        start_deployment(cloud, controller, name, revision).await?;
        let changes = watch_production(cloud, name).await?;
        lateness.extend(late_by(&changes));
        wait_settled(cloud, controller, name).await?;
    }
    Ok(lateness)
}

async fn start_deployment(
    cloud: &Cloud,
    controller: Controller,
    name: &str,
    revision: &str,
) -> anyhow::Result<()> {
    match controller {
        Controller::Ecs => {
            cloud
                .ecs(
                    "UpdateService",
                    json!({"cluster": "bench", "service": name, "taskDefinition": revision}),
                )
                .await?;
        }
        Controller::CodeDeploy => {
            let td = cloud
                .ecs(
                    "DescribeTaskDefinition",
                    json!({"taskDefinition": revision}),
                )
                .await?;
            let arn = &td["taskDefinition"]["taskDefinitionArn"];
            let appspec = json!({"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service",
                "Properties": {"TaskDefinition": arn, "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80}}}}]});
            let revision = json!({"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec.to_string()}});
            cloud
                .call(CODEDEPLOY, "CreateDeployment", json!({"applicationName": name, "deploymentGroupName": name, "revision": revision}))
                .await?;
        }
    }
    Ok(())
}

/// Waits until the service has no deployment in progress.
async fn wait_settled(cloud: &Cloud, controller: Controller, name: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let active = match controller {
            Controller::Ecs => {
                let body = json!({"cluster": "bench", "service": name, "status": ["PENDING", "IN_PROGRESS", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"]});
                cloud.ecs("ListServiceDeployments", body).await?["serviceDeployments"].clone()
            }
            Controller::CodeDeploy => {
                let body = json!({"applicationName": name, "deploymentGroupName": name,
                    "includeOnlyStatuses": ["Created", "Queued", "InProgress", "Baking", "Ready"]});
                cloud.call(CODEDEPLOY, "ListDeployments", body).await?["deployments"].clone()
            }
        };
        if active.as_array().is_none_or(Vec::is_empty) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name}: a deployment is still in progress after 60 s: {active}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The production listener's largest share (per mille of its weights)
/// other than the one it started on, each time it changes, until that
/// share is whole: (when, share).
async fn watch_production(cloud: &Cloud, name: &str) -> anyhow::Result<Vec<(Instant, u32)>> {
    let start = cloud.load_balancer(name).await?;
    let from = forwarded_to(&start);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut changes: Vec<(Instant, u32)> = Vec::new();
    loop {
        let lb = cloud.load_balancer(name).await?;
        let now = Instant::now();
        let share = share_away_from(&lb, &from);
        if share > changes.last().map_or(0, |c| c.1) {
            changes.push((now, share));
        }
        if share == 1000 {
            return Ok(changes);
        }
        if now >= deadline {
            let listed = cloud
                .ecs(
                    "ListServiceDeployments",
                    json!({"cluster": "bench", "service": name}),
                )
                .await?;
            anyhow::bail!("{name}: the shift did not finish in 60 s ({changes:?}; {lb}; {listed})");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The target group a listener forwards everything to.
fn forwarded_to(lb: &Value) -> String {
    lb["production_weights"]
        .as_array()
        .into_iter()
        .flatten()
        .max_by_key(|w| w["weight"].as_u64())
        .and_then(|w| w["target_group_arn"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Per mille of production going elsewhere than `from`.
fn share_away_from(lb: &Value, from: &str) -> u32 {
    let weights: Vec<(String, u64)> = lb["production_weights"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            (
                w["target_group_arn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                w["weight"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let total: u64 = weights.iter().map(|w| w.1).sum();
    let away: u64 = weights.iter().filter(|w| w.0 != from).map(|w| w.1).sum();
    (away * 1000).checked_div(total).unwrap_or(0) as u32
}

/// How late each change after the first came, in ms, against one step a
/// second from the first.
fn late_by(changes: &[(Instant, u32)]) -> Vec<f64> {
    let Some((anchor, _)) = changes.first() else {
        return Vec::new();
    };
    changes
        .iter()
        .enumerate()
        .skip(1)
        .map(|(k, (at, _))| {
            let planned = *anchor + STEP * k as u32;
            at.duration_since(*anchor).as_secs_f64() * 1000.0
                - (planned - *anchor).as_secs_f64() * 1000.0
        })
        .collect()
}

async fn wait_serving(cloud: &Cloud, name: &str, lb: &Value) -> anyhow::Result<()> {
    let url = lb["production_url"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if cloud
            .http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{name} never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The cloud's CPU share of a core with `services` services at rest, then
/// with a deployment of each waiting in bake time: (at rest, baking).
async fn idle_cost(
    cloud: &Cloud,
    child: &ChildServer,
    args: &NativeBench,
) -> anyhow::Result<(f64, f64)> {
    let pid = child.pid()?;
    let baking = json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 600});
    let mut names = Vec::new();
    for i in 0..args.services {
        let name = format!("bake-{i}");
        let lb = cloud.native_service(&name, baking.clone()).await?;
        wait_serving(cloud, &name, &lb).await?;
        names.push(name);
    }
    let at_rest = cpu_share(pid, args.seconds).await?;
    let mut arns = Vec::new();
    for name in &names {
        let updated = cloud
            .ecs(
                "UpdateService",
                json!({"cluster": "bench", "service": name, "taskDefinition": "web:2"}),
            )
            .await?;
        arns.push(updated["service"]["currentServiceDeployment"].clone());
    }
    wait_all_baking(cloud, &arns).await?;
    let baking = cpu_share(pid, args.seconds).await?;
    Ok((at_rest, baking))
}

async fn wait_all_baking(cloud: &Cloud, arns: &[Value]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut baking = 0;
        for batch in arns.chunks(20) {
            let described = cloud
                .ecs(
                    "DescribeServiceDeployments",
                    json!({"serviceDeploymentArns": batch}),
                )
                .await?;
            baking += described["serviceDeployments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["lifecycleStage"] == "BAKE_TIME")
                .count();
        }
        if baking == arns.len() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {baking} of {} deployments reached bake time",
            arns.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The process's CPU time over `seconds`, as a share of one core.
pub(crate) async fn cpu_share(pid: u32, seconds: u64) -> anyhow::Result<f64> {
    let before = cpu_seconds(pid)?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Ok((cpu_seconds(pid)? - before) / seconds as f64)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn print(args: &NativeBench, native: &[f64], codedeploy: &[f64], (at_rest, baking): (f64, f64)) {
    let line = |name: &str, values: &[f64]| {
        println!(
            "  {name:<28} {:>3} changes  p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms",
            values.len(),
            percentile(values, 0.5),
            percentile(values, 0.99),
            percentile(values, 1.0)
        );
    };
    println!(
        "weight change on the listener, late against the schedule (LINEAR 10 % a minute, time scale 60):"
    );
    line("ECS native", native);
    line("CodeDeploy (baseline)", codedeploy);
    println!(
        "  p99 ratio native / CodeDeploy: {:.2}",
        percentile(native, 0.99) / percentile(codedeploy, 0.99)
    );
    println!(
        "local cloud CPU, {} services, {} s each:",
        args.services, args.seconds
    );
    println!(
        "  at rest (no deployment)        {:>5.2} % of a core",
        at_rest * 100.0
    );
    println!(
        "  {} deployments in bake time    {:>5.2} % of a core",
        args.services,
        baking * 100.0
    );
    println!(
        "  the engine's share (difference) {:>5.2} % of a core",
        (baking - at_rest) * 100.0
    );
}
