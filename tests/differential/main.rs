//! Differential tests: the same raw awsJson1_1 requests to moto and to the
//! local cloud. For every call both implement, the local cloud must answer at
//! least every field moto answers (moto builds its answers with botocore's
//! member names), with the same JSON types. A field moto has and the local
//! cloud lacks is fixed in the local cloud, or listed in `MOTO_NOISE` with the
//! reason it does not belong. Every answer of the local cloud is then walked
//! through botocore's own models: no member the model lacks, no value of the
//! wrong type or outside an enum.

#[path = "../awscli/support.rs"]
mod support;

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use support::{LocalCloud, Moto, appspec};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";
const CODEDEPLOY: &str = "CodeDeploy_20141006";

/// Fields moto answers that the local cloud rightly leaves out:
/// (operation, field path, why).
const MOTO_NOISE: &[(&str, &str, &str)] = &[
    (
        "RegisterTaskDefinition",
        "taskDefinition.networkMode",
        "AWS leaves networkMode out when the request gave none (awscli's register-task-definition example); moto fills in bridge",
    ),
    (
        "DescribeTaskDefinition",
        "taskDefinition.networkMode",
        "AWS leaves networkMode out when the request gave none (awscli's register-task-definition example); moto fills in bridge",
    ),
    (
        "DescribeTasks",
        "tasks[].containers[].exitCode",
        "AWS reports an exit code once a container has stopped; moto says 0 for running ones, and these tasks run",
    ),
];

/// Both clouds, and what the comparison found.
struct Differ {
    http: reqwest::Client,
    /// None where a call has no moto counterpart.
    moto: Option<Moto>,
    cloud: LocalCloud,
    findings: BTreeSet<String>,
    compared: Vec<String>,
    /// The local cloud's answers, to check against botocore's models.
    answers: Vec<Value>,
}

impl Differ {
    /// Sends one request to one endpoint. The signature is a dummy: neither
    /// side checks it, but moto reads the service name from its scope.
    fn moto_endpoint(&self) -> &str {
        &self
            .moto
            .as_ref()
            .expect("this test compares with moto")
            .endpoint
    }

    async fn send(&self, endpoint: &str, target: &str, body: &Value) -> (u16, Value) {
        let service = if target.starts_with(ECS) {
            "ecs"
        } else {
            "codedeploy"
        };
        let response = self
            .http
            .post(endpoint)
            .header("x-amz-target", target)
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential=local/20250101/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-target, Signature=0"),
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{target} {body} answered {status} without JSON: {text}"));
        (status, value)
    }

    /// One request to both sides, each with its own body (they differ only in
    /// ids each side made up); both must succeed. Returns (moto, local).
    async fn call_each(
        &mut self,
        operation: &str,
        moto_body: Value,
        local_body: Value,
    ) -> (Value, Value) {
        let prefix = if is_ecs(operation) { ECS } else { CODEDEPLOY };
        let target = format!("{prefix}.{operation}");
        let (moto_status, moto) = self.send(self.moto_endpoint(), &target, &moto_body).await;
        assert_eq!(
            moto_status, 200,
            "moto refused {operation} {moto_body}: {moto}"
        );
        let (status, local) = self.send(&self.cloud.endpoint, &target, &local_body).await;
        assert_eq!(
            status, 200,
            "the local cloud refused {operation} {local_body}: {local}"
        );
        self.compare(operation, &moto, &local);
        self.answers.push(json!([operation, local]));
        (moto, local)
    }

    /// The same request to both sides.
    async fn call(&mut self, operation: &str, body: Value) -> (Value, Value) {
        self.call_each(operation, body.clone(), body).await
    }

    /// A request to moto alone: what AWS would have done by itself (CodeDeploy
    /// creating the green task set) and moto does not.
    async fn moto_only(&self, operation: &str, body: Value) -> Value {
        let prefix = if is_ecs(operation) { ECS } else { CODEDEPLOY };
        let (status, answer) = self
            .send(
                self.moto_endpoint(),
                &format!("{prefix}.{operation}"),
                &body,
            )
            .await;
        assert_eq!(status, 200, "moto refused {operation} {body}: {answer}");
        answer
    }

    /// A request to the local cloud alone, for a call moto lacks: its answer
    /// is still checked against botocore's model.
    async fn local_only(&mut self, operation: &str, body: Value) -> Value {
        let answer = self.local(operation, body).await;
        self.answers.push(json!([operation, answer]));
        answer
    }

    async fn local(&self, operation: &str, body: Value) -> Value {
        let prefix = if is_ecs(operation) { ECS } else { CODEDEPLOY };
        let (status, answer) = self
            .send(
                &self.cloud.endpoint,
                &format!("{prefix}.{operation}"),
                &body,
            )
            .await;
        assert_eq!(
            status, 200,
            "the local cloud refused {operation} {body}: {answer}"
        );
        answer
    }

    fn compare(&mut self, operation: &str, moto: &Value, local: &Value) {
        let (moto_paths, local_paths) = (paths(moto), paths(local));
        assert!(
            !local_paths.is_empty(),
            "{operation}: the local cloud answered nothing"
        );
        for (path, moto_kind) in &moto_paths {
            if MOTO_NOISE
                .iter()
                .any(|(op, p, _)| *op == operation && p == path)
            {
                continue;
            }
            let finding = match local_paths.get(path) {
                None => format!("{operation}: missing {path} (moto: {moto_kind})"),
                Some(kind) if kind != moto_kind => {
                    format!("{operation}: {path} is {kind}, moto answers {moto_kind}")
                }
                Some(_) => continue,
            };
            self.findings.insert(finding);
        }
        self.compared.push(format!(
            "{operation} ({} paths from moto)",
            moto_paths.len()
        ));
    }
}

/// The answers, as `[operation, answer]`, walked through botocore's ECS
/// and CodeDeploy models.
async fn model_problems(answers: &[Value]) -> Vec<String> {
    let input: Vec<(&str, &str, &Value)> = answers
        .iter()
        .map(|a| {
            let operation = a[0].as_str().unwrap();
            let service = if is_ecs(operation) {
                "ecs"
            } else {
                "codedeploy"
            };
            (service, operation, &a[1])
        })
        .collect();
    support::model_problems(&input).await
}

fn is_ecs(operation: &str) -> bool {
    matches!(
        operation,
        "CreateCluster"
            | "DescribeClusters"
            | "RegisterTaskDefinition"
            | "DescribeTaskDefinition"
            | "CreateService"
            | "DescribeServices"
            | "CreateTaskSet"
            | "DescribeTaskSets"
            | "RunTask"
            | "ListTasks"
            | "DescribeTasks"
            | "UpdateService"
            | "ListServiceDeployments"
            | "DescribeServiceDeployments"
            | "DescribeServiceRevisions"
            | "StopServiceDeployment"
            | "ContinueServiceDeployment"
    )
}

/// Null, "", [] and {} (and containers of nothing else) say nothing.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.iter().all(is_empty),
        Value::Object(map) => map.values().all(is_empty),
        _ => false,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "structure",
    }
}

/// Every dotted field path with a non-empty value, `[]` standing for list
/// elements, and its JSON type.
fn paths(value: &Value) -> BTreeMap<String, &'static str> {
    fn walk(value: &Value, prefix: &str, out: &mut BTreeMap<String, &'static str>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if is_empty(child) {
                        continue;
                    }
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    out.insert(path.clone(), kind(child));
                    walk(child, &path, out);
                }
            }
            Value::Array(items) => {
                let path = format!("{prefix}[]");
                for item in items.iter().filter(|i| !is_empty(i)) {
                    out.insert(path.clone(), kind(item));
                    walk(item, &path, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(value, "", &mut out);
    out
}

#[test]
fn paths_walk_objects_and_lists_and_skip_empty_values() {
    let value = json!({
        "a": {"b": 1, "c": null, "d": "", "e": [], "f": {}, "g": {"h": []}},
        "list": [{"x": true}, {"y": "s"}, {}],
        "names": ["n"],
    });
    let found: BTreeSet<(String, &str)> = paths(&value).into_iter().collect();
    let expected: BTreeSet<(String, &str)> = [
        ("a", "structure"),
        ("a.b", "number"),
        ("list", "list"),
        ("list[]", "structure"),
        ("list[].x", "boolean"),
        ("list[].y", "string"),
        ("names", "list"),
        ("names[]", "string"),
    ]
    .into_iter()
    .map(|(p, k)| (p.to_owned(), k))
    .collect();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn the_local_cloud_answers_every_field_moto_answers() {
    let (moto, cloud) = tokio::join!(Moto::start_with(&[]), LocalCloud::start("60"));
    let mut d = Differ {
        http: reqwest::Client::new(),
        moto: Some(moto),
        cloud,
        findings: BTreeSet::new(),
        answers: Vec::new(),
        compared: Vec::new(),
    };
    // moto accepts any target group ARN in CreateService and any target group
    // names and listener ARNs in CreateDeploymentGroup, so both sides get the
    // local cloud's load balancer: moto needs no ELBv2 setup.
    let lb = d.cloud.load_balancer("diff").await;
    let (blue_tg, green_tg) = (
        lb["target_groups"][0]["arn"].clone(),
        lb["target_groups"][1]["arn"].clone(),
    );
    let (blue_site, green_site) = (d.cloud.site("blue"), d.cloud.site("green"));

    // ECS
    d.call("CreateCluster", json!({"clusterName": "diff"}))
        .await;
    d.call("DescribeClusters", json!({"clusters": ["diff"]}))
        .await;
    // moto insists on memory (as AWS does for EC2-compatible definitions).
    let container = |site: &std::path::Path| json!([{"name": "web", "image": format!("static:{}", site.display()), "memory": 128, "portMappings": [{"containerPort": 80}]}]);
    d.call(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": container(&blue_site)}),
    )
    .await;
    d.call("DescribeTaskDefinition", json!({"taskDefinition": "web:1"}))
        .await;
    d.call(
        "CreateService",
        json!({
            "cluster": "diff",
            "serviceName": "web",
            "taskDefinition": "web:1",
            "desiredCount": 1,
            "launchType": "FARGATE",
            "deploymentController": {"type": "CODE_DEPLOY"},
            "loadBalancers": [{"targetGroupArn": blue_tg, "containerName": "web", "containerPort": 80}],
        }),
    )
    .await;

    // CodeDeploy
    d.call(
        "CreateApplication",
        json!({"applicationName": "diff", "computePlatform": "ECS"}),
    )
    .await;
    d.call("GetApplication", json!({"applicationName": "diff"}))
        .await;
    let group = json!({
        "applicationName": "diff",
        "deploymentGroupName": "diff-dg",
        "serviceRoleArn": "arn:aws:iam::123456789012:role/codedeploy",
        "deploymentConfigName": "CodeDeployDefault.ECSAllAtOnce",
        "ecsServices": [{"serviceName": "web", "clusterName": "diff"}],
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "loadBalancerInfo": {"targetGroupPairInfoList": [{
            "targetGroups": [{"name": "blue"}, {"name": "green"}],
            "prodTrafficRoute": {"listenerArns": [lb["production_listener_arn"]]},
            "testTrafficRoute": {"listenerArns": [lb["test_listener_arn"]]},
        }]},
        "blueGreenDeploymentConfiguration": {
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT", "waitTimeInMinutes": 0},
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 0},
        },
        "autoRollbackConfiguration": {"enabled": true, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"]},
    });
    d.call("CreateDeploymentGroup", group).await;
    d.call(
        "GetDeploymentGroup",
        json!({"applicationName": "diff", "deploymentGroupName": "diff-dg"}),
    )
    .await;
    d.call("ListDeploymentGroups", json!({"applicationName": "diff"}))
        .await;

    d.call(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": container(&green_site)}),
    )
    .await;
    let revision =
        json!({"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec("web:2")}});
    let (moto_created, local_created) = d
        .call(
            "CreateDeployment",
            json!({"applicationName": "diff", "deploymentGroupName": "diff-dg", "revision": revision, "description": "green"}),
        )
        .await;
    let (moto_id, local_id) = (
        moto_created["deploymentId"].clone(),
        local_created["deploymentId"].clone(),
    );

    // What CodeDeploy does on AWS and moto does not: a green task set for
    // the deployment, and tasks for ListTasks and DescribeTasks.
    d.moto_only(
        "CreateTaskSet",
        json!({
            "cluster": "diff",
            "service": "web",
            "taskDefinition": "web:2",
            "externalId": moto_id,
            "launchType": "FARGATE",
            "loadBalancers": [{"targetGroupArn": green_tg, "containerName": "web", "containerPort": 80}],
            "scale": {"value": 100.0, "unit": "PERCENT"},
        }),
    )
    .await;
    d.moto_only(
        "RunTask",
        json!({"cluster": "diff", "taskDefinition": "web:2", "launchType": "FARGATE", "count": 1}),
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = d
            .local("GetDeployment", json!({"deploymentId": local_id}))
            .await;
        if info["deploymentInfo"]["status"] == "Succeeded" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the local deployment never succeeded: {info}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.call_each(
        "GetDeployment",
        json!({"deploymentId": moto_id}),
        json!({"deploymentId": local_id}),
    )
    .await;
    d.call_each(
        "BatchGetDeployments",
        json!({"deploymentIds": [moto_id]}),
        json!({"deploymentIds": [local_id]}),
    )
    .await;
    d.call(
        "ListDeployments",
        json!({"applicationName": "diff", "deploymentGroupName": "diff-dg"}),
    )
    .await;
    d.call(
        "GetDeploymentGroup",
        json!({"applicationName": "diff", "deploymentGroupName": "diff-dg"}),
    )
    .await;

    d.call(
        "DescribeServices",
        json!({"cluster": "diff", "services": ["web"]}),
    )
    .await;
    d.call(
        "DescribeTaskSets",
        json!({"cluster": "diff", "service": "web"}),
    )
    .await;
    d.call("DescribeClusters", json!({"clusters": ["diff"]}))
        .await;
    let (moto_tasks, local_tasks) = d.call("ListTasks", json!({"cluster": "diff"})).await;
    assert!(
        moto_tasks["taskArns"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{moto_tasks}"
    );
    assert!(
        local_tasks["taskArns"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{local_tasks}"
    );
    d.call_each(
        "DescribeTasks",
        json!({"cluster": "diff", "tasks": moto_tasks["taskArns"]}),
        json!({"cluster": "diff", "tasks": local_tasks["taskArns"]}),
    )
    .await;

    // The same errors for the same mistakes, except where moto is wrong:
    // there, the error AWS answers (as botocore's model lists it).
    for (operation, body, where_moto_is_wrong) in [
        ("GetApplication", json!({"applicationName": "nope"}), None),
        (
            "GetDeploymentGroup",
            json!({"applicationName": "diff", "deploymentGroupName": "nope"}),
            None,
        ),
        // moto answers 200 with no groups.
        (
            "ListDeploymentGroups",
            json!({"applicationName": "nope"}),
            Some("ApplicationDoesNotExistException"),
        ),
        (
            "DescribeServices",
            json!({"cluster": "nope", "services": ["web"]}),
            None,
        ),
        (
            "DescribeTaskDefinition",
            json!({"taskDefinition": "nope:1"}),
            None,
        ),
    ] {
        let prefix = if is_ecs(operation) { ECS } else { CODEDEPLOY };
        let target = format!("{prefix}.{operation}");
        let (moto_status, moto) = d.send(d.moto_endpoint(), &target, &body).await;
        let (moto_status, moto_error) = match where_moto_is_wrong {
            Some(error) => (400, json!(error)),
            None => (moto_status, moto["__type"].clone()),
        };
        let (status, local) = d.send(&d.cloud.endpoint, &target, &body).await;
        if (moto_status, &moto_error) != (status, &local["__type"]) {
            d.findings.insert(format!("{operation} {body}: moto answers {moto_status} {moto_error}, the local cloud {status} {}", local["__type"]));
        }
    }

    // Calls moto lacks: the model check alone.
    d.local_only(
        "GetDeploymentTarget",
        json!({"deploymentId": local_id, "targetId": "diff:web"}),
    )
    .await;
    d.local_only("ListDeploymentTargets", json!({"deploymentId": local_id}))
        .await;
    d.local_only("ListDeploymentConfigs", json!({})).await;
    for name in [
        "CodeDeployDefault.ECSAllAtOnce",
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
    ] {
        d.local_only("GetDeploymentConfig", json!({"deploymentConfigName": name}))
            .await;
    }
    for problem in model_problems(&d.answers).await {
        d.findings.insert(problem);
    }

    eprintln!("compared: {}", d.compared.join(", "));
    assert!(
        d.findings.is_empty(),
        "the local cloud lacks what moto answers:\n  {}",
        d.findings.iter().cloned().collect::<Vec<_>>().join("\n  ")
    );
}

/// ECS-native deployments (moto has none): every answer of a LINEAR
/// deployment held at a PAUSE hook, continued, and of one stopped with a
/// rollback, walked through botocore's ECS model.
#[tokio::test]
async fn ecs_native_deployment_answers_fit_botocore_models() {
    let mut d = Differ {
        http: reqwest::Client::new(),
        moto: None,
        cloud: LocalCloud::start("60").await,
        findings: BTreeSet::new(),
        answers: Vec::new(),
        compared: Vec::new(),
    };
    let lb = d.cloud.load_balancer("native").await;
    let (blue_site, green_site) = (d.cloud.site("blue"), d.cloud.site("green"));
    let container = |site: &std::path::Path| json!([{"name": "web", "image": format!("static:{}", site.display()), "portMappings": [{"containerPort": 80}]}]);
    d.local_only("CreateCluster", json!({"clusterName": "native"}))
        .await;
    for site in [&blue_site, &green_site] {
        d.local_only(
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": container(site)}),
        )
        .await;
    }
    let created = d
        .local_only(
            "CreateService",
            json!({
                "cluster": "native",
                "serviceName": "web",
                "taskDefinition": "web:1",
                "desiredCount": 1,
                "deploymentController": {"type": "ECS"},
                "deploymentConfiguration": {
                    "strategy": "LINEAR",
                    "linearConfiguration": {"stepPercent": 50.0, "stepBakeTimeInMinutes": 1},
                    "bakeTimeInMinutes": 1,
                    "lifecycleHooks": [{
                        "targetType": "PAUSE",
                        "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
                        "timeoutConfiguration": {"timeoutInMinutes": 60, "action": "ROLLBACK"},
                    }],
                    "alarms": {"alarmNames": ["green-5xx"], "enable": false, "rollback": true},
                },
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
            }),
        )
        .await;
    let first = created["service"]["currentServiceDeployment"].clone();
    let updated = d
        .local_only(
            "UpdateService",
            json!({"cluster": "native", "service": "web", "taskDefinition": "web:2"}),
        )
        .await;
    let arn = updated["service"]["currentServiceDeployment"].clone();
    assert_ne!(arn, first, "{updated}");
    let paused = wait_native(&mut d, &arn, |sd| {
        sd["lifecycleHookDetails"][0]["status"] == "AWAITING_ACTION"
    })
    .await;
    d.local_only(
        "ListServiceDeployments",
        json!({"cluster": "native", "service": "web"}),
    )
    .await;
    d.local_only(
        "DescribeServices",
        json!({"cluster": "native", "services": ["web"]}),
    )
    .await;
    let hook = paused["lifecycleHookDetails"][0]["hookId"].clone();
    d.local_only(
        "ContinueServiceDeployment",
        json!({"serviceDeploymentArn": arn, "hookId": hook, "action": "CONTINUE"}),
    )
    .await;
    let shifting = wait_native(&mut d, &arn, |sd| {
        sd["targetServiceRevision"]["requestedProductionTrafficWeight"] == 50.0
    })
    .await;
    let done = wait_native(&mut d, &arn, |sd| sd["status"] == "SUCCESSFUL").await;
    d.local_only(
        "DescribeServiceRevisions",
        json!({"serviceRevisionArns": [done["targetServiceRevision"]["arn"], shifting["sourceServiceRevisions"][0]["arn"], "arn:aws:ecs:us-east-1:000000000000:service-revision/native/web/1"]}),
    )
    .await;

    // A second deployment, stopped at its pause: a rollback.
    let again = d
        .local_only(
            "UpdateService",
            json!({"cluster": "native", "service": "web", "taskDefinition": "web:1"}),
        )
        .await;
    let second = again["service"]["currentServiceDeployment"].clone();
    wait_native(&mut d, &second, |sd| {
        sd["lifecycleHookDetails"][0]["status"] == "AWAITING_ACTION"
    })
    .await;
    d.local_only(
        "StopServiceDeployment",
        json!({"serviceDeploymentArn": second, "stopType": "ROLLBACK"}),
    )
    .await;
    let rolled_back =
        wait_native(&mut d, &second, |sd| sd["status"] == "ROLLBACK_SUCCESSFUL").await;
    assert!(
        rolled_back["rollback"]["reason"].is_string(),
        "{rolled_back}"
    );
    d.local_only(
        "DescribeServices",
        json!({"cluster": "native", "services": ["web"]}),
    )
    .await;

    let problems = model_problems(&d.answers).await;
    assert!(
        problems.is_empty(),
        "answers outside botocore's model:\n  {}",
        problems.join("\n  ")
    );
}

/// DescribeServiceDeployments of `arn` until `check` holds (within 30 s).
async fn wait_native(d: &mut Differ, arn: &Value, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = d
            .local_only(
                "DescribeServiceDeployments",
                json!({"serviceDeploymentArns": [arn, "arn:aws:ecs:us-east-1:000000000000:service-deployment/native/web/nope"]}),
            )
            .await;
        let deployment = answer["serviceDeployments"][0].clone();
        if check(&deployment) {
            return deployment;
        }
        assert!(Instant::now() < deadline, "never reached: {deployment}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
