//! CloudWatch alarms on the load balancer's metrics stop CodeDeploy
//! deployments: a green that answers 500 to part of its requests is rolled
//! back by its group's alarm during a linear shift, production back on
//! blue; a healthy green goes through under the same alarm.

use crate::cloudwatch::cloudwatch_client;
use crate::helpers::{Cloud, Stack, StackOptions, register_containers, revision, wait_finished};
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StandardUnit, Statistic};
use aws_sdk_codedeploy::types::{AlarmConfiguration, AutoRollbackConfiguration, AutoRollbackEvent};
use serde_json::Value;
use std::time::Duration;

/// A green app on $PORT that answers 500 to FAIL_PERCENT of its requests,
/// spread out, and always 200 to the load balancer's health checks, as an
/// app that breaks only under real traffic.
const FLAKY_GREEN: &str = r#"
import http.server, itertools, os
count = itertools.count()
fail = int(os.environ.get("FAIL_PERCENT", "0"))
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        checked = self.headers.get("User-Agent", "").startswith("ELB-HealthChecker")
        status = 500 if not checked and (next(count) * 37) % 100 < fail else 200
        body = b"<h1>green</h1>"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

const ALARM: &str = "green-5xx";

async fn green(cloud: &Cloud, family: &str, fail_percent: u32) -> String {
    use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, PortMapping};
    let web = ContainerDefinition::builder()
        .name("web")
        .image("python:local")
        .entry_point("python3")
        .command("-c")
        .command(FLAKY_GREEN)
        .environment(
            KeyValuePair::builder()
                .name("FAIL_PERCENT")
                .value(fail_percent.to_string())
                .build(),
        )
        .port_mappings(PortMapping::builder().container_port(80).build())
        .build();
    register_containers(cloud, family, vec![web]).await
}

/// The dimension value of an ARN: the resource after its type.
fn dimension(arn: &Value, after: &str) -> String {
    let resource = arn.as_str().unwrap().rsplit(':').next().unwrap();
    resource.strip_prefix(after).unwrap_or(resource).to_owned()
}

/// A linear stack whose group stops (and rolls back) on ALARM, and the
/// alarm: three or more 5XX answers from green in a minute.
async fn guarded_stack(cloud: &Cloud, name: &str) -> Stack {
    let stack = Stack::create(
        cloud,
        name,
        StackOptions {
            config: "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
            ..Default::default()
        },
    )
    .await;
    let (_, lb) = cloud
        .internal(
            reqwest::Method::GET,
            &format!("/_localcloud/load-balancers/{name}"),
            Value::Null,
        )
        .await;
    let green_group = lb["target_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tg| tg["name"] == format!("{name}-green"))
        .unwrap();
    let dimensions = [
        ("LoadBalancer", dimension(&lb["arn"], "loadbalancer/")),
        ("TargetGroup", dimension(&green_group["arn"], "")),
    ];
    cloudwatch_client(&cloud.endpoint)
        .put_metric_alarm()
        .alarm_name(ALARM)
        .namespace("AWS/ApplicationELB")
        .metric_name("HTTPCode_Target_5XX_Count")
        .set_dimensions(Some(
            dimensions
                .iter()
                .map(|(n, v)| Dimension::builder().name(*n).value(v).build())
                .collect(),
        ))
        .statistic(Statistic::Sum)
        .unit(StandardUnit::Count)
        .period(60)
        .evaluation_periods(1)
        .threshold(3.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("notBreaching")
        .send()
        .await
        .unwrap();
    cloud
        .cd
        .update_deployment_group()
        .application_name(name)
        .current_deployment_group_name(format!("{name}-dg"))
        .alarm_configuration(
            AlarmConfiguration::builder()
                .enabled(true)
                .alarms(
                    aws_sdk_codedeploy::types::Alarm::builder()
                        .name(ALARM)
                        .build(),
                )
                .build(),
        )
        .auto_rollback_configuration(
            AutoRollbackConfiguration::builder()
                .enabled(true)
                .events(AutoRollbackEvent::DeploymentFailure)
                .events(AutoRollbackEvent::DeploymentStopOnAlarm)
                .build(),
        )
        .send()
        .await
        .unwrap();
    stack
}

/// Deploys `td` while production requests go out one after another (the
/// traffic the alarm watches) until the deployment ends.
async fn deploy_under_load(
    cloud: &Cloud,
    stack: &Stack,
    td: &str,
) -> aws_sdk_codedeploy::types::DeploymentInfo {
    let id = cloud
        .cd
        .create_deployment()
        .application_name(&stack.name)
        .deployment_group_name(format!("{}-dg", stack.name))
        .revision(revision(&Stack::appspec(td, &[])))
        .send()
        .await
        .unwrap()
        .deployment_id
        .unwrap();
    let (http, url) = (cloud.http.clone(), stack.production_url.clone());
    let load = tokio::spawn(async move {
        loop {
            let _ = http.get(&url).send().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let info = wait_finished(cloud, &id, Duration::from_secs(60)).await;
    load.abort();
    info
}

#[tokio::test]
async fn a_green_answering_500s_is_stopped_by_its_alarm_and_rolled_back_to_blue() {
    let cloud = Cloud::start().await;
    let stack = guarded_stack(&cloud, "flaky").await;
    let td = green(&cloud, "flaky", 30).await;
    let info = deploy_under_load(&cloud, &stack, &td).await;
    assert_eq!(
        info.status.as_ref().map(|s| s.as_str()),
        Some("Stopped"),
        "{info:?}"
    );
    let error = info.error_information.clone().unwrap();
    assert_eq!(
        error.code.as_ref().map(|c| c.as_str()),
        Some("ALARM_ACTIVE")
    );
    assert!(
        error.message.as_deref().unwrap_or_default().contains(ALARM),
        "{error:?}"
    );
    assert!(
        info.rollback_info
            .as_ref()
            .and_then(|r| r.rollback_deployment_id.as_ref())
            .is_some(),
        "DEPLOYMENT_STOP_ON_ALARM rolls back: {info:?}"
    );
    let alarm = cloudwatch_client(&cloud.endpoint)
        .describe_alarms()
        .alarm_names(ALARM)
        .send()
        .await
        .unwrap();
    let alarm = &alarm.metric_alarms()[0];
    assert_eq!(alarm.state_value().map(|s| s.as_str()), Some("ALARM"));
    for _ in 0..20 {
        let response = cloud.http.get(&stack.production_url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.text().await.unwrap().contains("<h1>blue</h1>"));
    }
}

#[tokio::test]
async fn a_healthy_green_goes_through_under_the_same_alarm() {
    let cloud = Cloud::start().await;
    let stack = guarded_stack(&cloud, "steady").await;
    let td = green(&cloud, "steady", 0).await;
    let info = deploy_under_load(&cloud, &stack, &td).await;
    assert_eq!(
        info.status.as_ref().map(|s| s.as_str()),
        Some("Succeeded"),
        "{info:?}"
    );
    stack.wait_until_serving(&cloud, "green").await;
}

/// The evaluator looks as soon as a period counts as ended (its end plus
/// the settle time, 5 % of it), not on a tick of its own: with periods of a
/// minute, a second at time scale 60, each evaluation lands 50 ms after a
/// whole second.
#[tokio::test]
async fn an_alarm_is_evaluated_right_after_its_period_ends() {
    use aws_sdk_cloudwatch::types::StateValue;
    let cloud = Cloud::start().await;
    let client = cloudwatch_client(&cloud.endpoint);
    // No traffic, and missing data breaches: every evaluation says ALARM.
    client
        .put_metric_alarm()
        .alarm_name("silent")
        .namespace("AWS/ApplicationELB")
        .metric_name("HTTPCode_Target_5XX_Count")
        .dimensions(
            Dimension::builder()
                .name("LoadBalancer")
                .value("app/none/0")
                .build(),
        )
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("breaching")
        .send()
        .await
        .unwrap();
    let state = || async {
        let described = client
            .describe_alarms()
            .alarm_names("silent")
            .send()
            .await
            .unwrap();
        let alarm = described.metric_alarms()[0].clone();
        let updated = alarm.state_updated_timestamp().unwrap();
        // Epoch seconds with a fraction on the wire: 0.05 may come back as
        // 0.0499999, so to the nearest ms.
        let millis = (updated.as_secs_f64() * 1000.0).round() as i64;
        (alarm.state_value().cloned(), millis)
    };
    // The evaluation PutMetricAlarm wakes comes at any time: past it first,
    // so that it cannot land after the first SetAlarmState below.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while state().await.0 != Some(StateValue::Alarm) {
        assert!(std::time::Instant::now() < deadline, "never evaluated");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut offsets = Vec::new();
    for _ in 0..3 {
        client
            .set_alarm_state()
            .alarm_name("silent")
            .state_value(StateValue::Ok)
            .state_reason("the test sets it back")
            .send()
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let at = loop {
            match state().await {
                (Some(StateValue::Alarm), at) => break at,
                _ => assert!(std::time::Instant::now() < deadline, "never evaluated"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        offsets.push(at.rem_euclid(1_000));
    }
    // Right after the 50 ms of settle (give or take the clock's rounding)
    // at least once: a busy machine may delay a round, which the rollback
    // bench measures; a tick of a minute/8 (125 ms) would land anywhere
    // from 50 to 175.
    assert!(
        offsets.iter().any(|offset| (40..110).contains(offset)),
        "evaluated at these ms after a period's end: {offsets:?}"
    );
}
