//! The local cloud on the wire for `bench rollback`, and what each run
//! needs from it: a blue and a flaky green revision run as host processes
//! (this binary's `serve-flaky`), a service per controller on its own load
//! balancer, and the 5xx alarm of infra/modules/app_infra wired to it.

use super::Controller;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";
const CODEDEPLOY: &str = "CodeDeploy_20141006";
const CLOUDWATCH: &str = "GraniteServiceVersion20100801";

/// The alarm as `aws_cloudwatch_metric_alarm.target_5xx` defines it, with
/// the stack's default `alarm_5xx_threshold`.
pub const PERIOD_SECONDS: u64 = 60;
pub const EVALUATION_PERIODS: u64 = 1;
const THRESHOLD: f64 = 5.0;

/// Raw awsJson calls (the Rust SDK this workspace pins predates the
/// native deployment operations).
pub struct Cloud {
    pub http: reqwest::Client,
    pub endpoint: String,
}

impl Cloud {
    async fn call(&self, target: &str, operation: &str, body: Value) -> anyhow::Result<Value> {
        let content_type = if target == CLOUDWATCH {
            "application/x-amz-json-1.0"
        } else {
            "application/x-amz-json-1.1"
        };
        let response = self
            .http
            .post(&self.endpoint)
            .header("x-amz-target", format!("{target}.{operation}"))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{operation}: {status} {answer}");
        Ok(answer)
    }

    pub async fn ecs(&self, operation: &str, body: Value) -> anyhow::Result<Value> {
        self.call(ECS, operation, body).await
    }

    pub async fn codedeploy(&self, operation: &str, body: Value) -> anyhow::Result<Value> {
        self.call(CODEDEPLOY, operation, body).await
    }

    pub async fn cloudwatch(&self, operation: &str, body: Value) -> anyhow::Result<Value> {
        self.call(CLOUDWATCH, operation, body).await
    }

    pub async fn load_balancer(&self, name: &str) -> anyhow::Result<Value> {
        let url = format!("{}/_localcloud/load-balancers/{name}", self.endpoint);
        let response = self.http.get(url).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }

    async fn create_load_balancer(&self, name: &str) -> anyhow::Result<Value> {
        let groups = json!([{"name": format!("{name}-blue")}, {"name": format!("{name}-green")}]);
        let url = format!("{}/_localcloud/load-balancers", self.endpoint);
        let body = json!({"name": name, "target_groups": groups});
        let response = self.http.post(url).json(&body).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }

    /// The cluster, and the two revisions of family `web`: 1 is blue
    /// (always 200), 2 is green (500 to `fail_percent` of requests).
    pub async fn set_up(&self, fail_percent: u32) -> anyhow::Result<()> {
        self.ecs("CreateCluster", json!({"clusterName": "bench"}))
            .await?;
        let bench = std::env::current_exe()?;
        for (colour, fail) in [("blue", 0), ("green", fail_percent)] {
            let command = [
                "serve-flaky",
                "--fail-percent",
                &fail.to_string(),
                "--answer",
                colour,
            ];
            let containers = json!([{
                "name": "web", "image": "switchyard-bench:local",
                "entryPoint": [bench.display().to_string()], "command": command,
                "portMappings": [{"containerPort": 80}],
            }]);
            self.ecs(
                "RegisterTaskDefinition",
                json!({"family": "web", "containerDefinitions": containers}),
            )
            .await?;
        }
        Ok(())
    }
}

/// One service under test, on its own load balancer, guarded by its alarm.
pub struct Stack {
    pub name: String,
    pub controller: Controller,
    pub alarm: String,
    /// The target group blue serves from: all production traffic once a
    /// deployment is rolled back.
    pub blue_group: String,
    pub production: SocketAddr,
}

impl Stack {
    pub async fn create(cloud: &Cloud, controller: Controller) -> anyhow::Result<Stack> {
        let name = match controller {
            Controller::CodeDeploy => "rollback-codedeploy",
            Controller::Ecs => "rollback-ecs",
        };
        let lb = cloud.create_load_balancer(name).await?;
        let alarm = format!("{name}-target-5xx");
        put_alarm(cloud, &alarm, &lb).await?;
        match controller {
            Controller::CodeDeploy => codedeploy_service(cloud, name, &lb, &alarm).await?,
            Controller::Ecs => native_service(cloud, name, &lb, &alarm).await?,
        }
        let url = lb["production_url"].as_str().unwrap_or_default();
        let stack = Stack {
            name: name.to_owned(),
            controller,
            alarm,
            blue_group: lb["target_groups"][0]["arn"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            production: url.trim_start_matches("http://").parse()?,
        };
        Ok(stack)
    }

    /// Deploys the flaky green (`web:2`): the deployment's id (CodeDeploy)
    /// or ARN (ECS).
    pub async fn deploy_green(&self, cloud: &Cloud) -> anyhow::Result<String> {
        let name = &self.name;
        let answer = match self.controller {
            Controller::Ecs => {
                let body = json!({"cluster": "bench", "service": name, "taskDefinition": "web:2", "forceNewDeployment": true});
                let updated = cloud.ecs("UpdateService", body).await?;
                updated["service"]["currentServiceDeployment"].clone()
            }
            Controller::CodeDeploy => {
                let td = json!({"taskDefinition": "web:2"});
                let td = cloud.ecs("DescribeTaskDefinition", td).await?;
                let arn = &td["taskDefinition"]["taskDefinitionArn"];
                let appspec = json!({"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service",
                    "Properties": {"TaskDefinition": arn, "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80}}}}]});
                let revision = json!({"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec.to_string()}});
                let body = json!({"applicationName": name, "deploymentGroupName": name, "revision": revision});
                cloud.codedeploy("CreateDeployment", body).await?["deploymentId"].clone()
            }
        };
        answer
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("{name}: no deployment in {answer}"))
    }

    /// How the deployment ended, once it has: `Stopped` or
    /// `ROLLBACK_SUCCESSFUL` when the alarm rolled it back.
    pub async fn outcome(&self, cloud: &Cloud, id: &str) -> anyhow::Result<Option<String>> {
        let status = match self.controller {
            Controller::Ecs => {
                let body = json!({"serviceDeploymentArns": [id]});
                let described = cloud.ecs("DescribeServiceDeployments", body).await?;
                described["serviceDeployments"][0]["status"].clone()
            }
            Controller::CodeDeploy => {
                let body = json!({"deploymentId": id});
                cloud.codedeploy("GetDeployment", body).await?["deploymentInfo"]["status"].clone()
            }
        };
        let status = status.as_str().unwrap_or_default().to_owned();
        let finished = [
            "Succeeded",
            "Failed",
            "Stopped",
            "SUCCESSFUL",
            "STOPPED",
            "ROLLBACK_SUCCESSFUL",
            "ROLLBACK_FAILED",
        ];
        Ok(finished.contains(&status.as_str()).then_some(status))
    }

    /// Waits until nothing is deploying, the alarm is OK and blue serves
    /// all of production: the state each run starts from.
    pub async fn wait_steady(&self, cloud: &Cloud) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let why_not = self.not_steady(cloud).await?;
            let Some(why_not) = why_not else {
                return Ok(());
            };
            anyhow::ensure!(
                Instant::now() < deadline,
                "{}: not steady after 60 s: {why_not}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn not_steady(&self, cloud: &Cloud) -> anyhow::Result<Option<String>> {
        let active = self.active_deployments(cloud).await?;
        if active.as_array().is_some_and(|a| !a.is_empty()) {
            return Ok(Some(format!("deployments in progress: {active}")));
        }
        let state = self.alarm_state(cloud).await?;
        if state != "OK" {
            return Ok(Some(format!("the alarm is {state}")));
        }
        let lb = cloud.load_balancer(&self.name).await?;
        if !all_on(&lb, &self.blue_group) {
            return Ok(Some(format!("production is not all blue: {lb}")));
        }
        let (status, body) = switchyard_loadgen::http_get(self.production, "/", &[]).await?;
        if status != 200 || body.as_ref() != b"blue" {
            return Ok(Some(format!("production answers {status} {body:?}")));
        }
        Ok(None)
    }

    async fn active_deployments(&self, cloud: &Cloud) -> anyhow::Result<Value> {
        let name = &self.name;
        Ok(match self.controller {
            Controller::Ecs => {
                let body = json!({"cluster": "bench", "service": name, "status": ["PENDING", "IN_PROGRESS", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"]});
                cloud.ecs("ListServiceDeployments", body).await?["serviceDeployments"].clone()
            }
            Controller::CodeDeploy => {
                let body = json!({"applicationName": name, "deploymentGroupName": name,
                    "includeOnlyStatuses": ["Created", "Queued", "InProgress", "Baking", "Ready"]});
                cloud.codedeploy("ListDeployments", body).await?["deployments"].clone()
            }
        })
    }

    async fn alarm_state(&self, cloud: &Cloud) -> anyhow::Result<String> {
        let body = json!({"AlarmNames": [self.alarm]});
        let described = cloud.cloudwatch("DescribeAlarms", body).await?;
        let state = &described["MetricAlarms"][0]["StateValue"];
        Ok(state.as_str().unwrap_or("missing").to_owned())
    }

    /// When (epoch ms) the alarm went into ALARM, each time since `since`,
    /// from its history.
    pub async fn alarm_transitions(&self, cloud: &Cloud, since: i64) -> anyhow::Result<Vec<i64>> {
        let body = json!({"AlarmName": self.alarm, "HistoryItemType": "StateUpdate",
            "StartDate": since as f64 / 1000.0, "ScanBy": "TimestampAscending"});
        let history = cloud.cloudwatch("DescribeAlarmHistory", body).await?;
        let items = history["AlarmHistoryItems"].as_array().cloned();
        Ok(items
            .into_iter()
            .flatten()
            .filter(|item| {
                let data = item["HistoryData"].as_str().unwrap_or("{}");
                let data: Value = serde_json::from_str(data).unwrap_or_default();
                data["newState"]["stateValue"] == "ALARM"
            })
            .filter_map(|item| item["Timestamp"].as_f64())
            .map(|seconds| (seconds * 1000.0).round() as i64)
            .filter(|at| *at >= since)
            .collect())
    }
}

/// Whether the listener's production weights are all on `group`.
pub fn all_on(lb: &Value, group: &str) -> bool {
    let weights = lb["production_weights"].as_array().cloned();
    let weights: Vec<(String, u64)> = weights
        .into_iter()
        .flatten()
        .map(|w| {
            let arn = w["target_group_arn"].as_str().unwrap_or_default();
            (arn.to_owned(), w["weight"].as_u64().unwrap_or(0))
        })
        .collect();
    weights
        .iter()
        .any(|(arn, weight)| arn == group && *weight > 0)
        && weights
            .iter()
            .all(|(arn, weight)| arn == group || *weight == 0)
}

/// `aws_cloudwatch_metric_alarm.target_5xx` of infra/modules/app_infra:
/// the load balancer's 5xx answers from its targets, summed per minute.
async fn put_alarm(cloud: &Cloud, name: &str, lb: &Value) -> anyhow::Result<()> {
    let arn = lb["arn"].as_str().unwrap_or_default();
    let resource = arn.rsplit(':').next().unwrap_or_default();
    let suffix = resource.strip_prefix("loadbalancer/").unwrap_or(resource);
    cloud
        .cloudwatch(
            "PutMetricAlarm",
            json!({
                "AlarmName": name,
                "AlarmDescription": "The app answers 5xx; rolls a deployment back",
                "Namespace": "AWS/ApplicationELB",
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Statistic": "Sum",
                "Period": PERIOD_SECONDS,
                "EvaluationPeriods": EVALUATION_PERIODS,
                "Threshold": THRESHOLD,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "Dimensions": [{"Name": "LoadBalancer", "Value": suffix}],
            }),
        )
        .await?;
    Ok(())
}

/// A service with the ECS controller: LINEAR, 10 % every minute, rolled
/// back by the alarm.
async fn native_service(cloud: &Cloud, name: &str, lb: &Value, alarm: &str) -> anyhow::Result<()> {
    let configuration = json!({
        "strategy": "LINEAR",
        "linearConfiguration": {"stepPercent": 10.0, "stepBakeTimeInMinutes": 1},
        "alarms": {"alarmNames": [alarm], "enable": true, "rollback": true},
    });
    cloud
        .ecs(
            "CreateService",
            crate::native::ecs_service(name, lb, configuration),
        )
        .await?;
    Ok(())
}

/// A CODE_DEPLOY service and its group: ECSLinear10PercentEvery1Minutes,
/// stopped and rolled back by the alarm.
async fn codedeploy_service(
    cloud: &Cloud,
    name: &str,
    lb: &Value,
    alarm: &str,
) -> anyhow::Result<()> {
    cloud
        .ecs("CreateService", crate::native::codedeploy_service(name, lb))
        .await?;
    let application = json!({"applicationName": name, "computePlatform": "ECS"});
    cloud.codedeploy("CreateApplication", application).await?;
    let mut group = crate::native::linear_group(name, lb);
    group["alarmConfiguration"] = json!({"enabled": true, "alarms": [{"name": alarm}]});
    group["autoRollbackConfiguration"] =
        json!({"enabled": true, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]});
    cloud.codedeploy("CreateDeploymentGroup", group).await?;
    Ok(())
}
