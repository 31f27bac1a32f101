//! CloudWatch through the AWS CLI (which speaks rpc-v2-cbor): the load
//! balancer's own metrics, recorded from real requests through the
//! production listener, and an alarm on them that those requests move.
//! Every answer, asked again over JSON 1.0, is walked through botocore's
//! CloudWatch model.

use crate::support::model_problems;
use crate::{Cli, Stack};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A 4XX alarm: 10 or more 404s in five minutes, quiet periods are fine.
/// Five minutes (five seconds at time scale 60) rather than one: each state
/// then lasts far longer than an AWS CLI call takes on a busy machine, so a
/// check between requests cannot miss a state, nor the traffic between
/// checks make a second ALARM episode.
const ALARM: &str = "shop-4xx";

/// The dimension value of a load balancer or target group ARN.
fn dimension(arn: &Value, after: &str) -> String {
    let resource = arn.as_str().unwrap().rsplit(':').next().unwrap();
    resource.strip_prefix(after).unwrap_or(resource).to_owned()
}

/// `Name=...,Value=...` arguments of the blue target group's metrics.
fn blue_dimensions(lb: &Value) -> Vec<String> {
    vec![
        format!(
            "Name=LoadBalancer,Value={}",
            dimension(&lb["arn"], "loadbalancer/")
        ),
        format!(
            "Name=TargetGroup,Value={}",
            dimension(&lb["target_groups"][0]["arn"], "")
        ),
    ]
}

async fn put_alarm(cli: &Cli, lb: &Value) {
    let dimensions = blue_dimensions(lb);
    let mut args = vec![
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        ALARM,
        "--namespace",
        "AWS/ApplicationELB",
        "--metric-name",
        "HTTPCode_Target_4XX_Count",
        "--statistic",
        "Sum",
        "--period",
        "300",
        "--evaluation-periods",
        "1",
        "--threshold",
        "10",
        "--comparison-operator",
        "GreaterThanOrEqualToThreshold",
        "--treat-missing-data",
        "notBreaching",
        "--dimensions",
    ];
    args.extend(dimensions.iter().map(String::as_str));
    let answer = cli.ok(&args).await;
    assert_eq!(answer, Value::Null, "PutMetricAlarm answers nothing");
}

async fn alarm(cli: &Cli) -> Value {
    let described = cli
        .ok(&["cloudwatch", "describe-alarms", "--alarm-names", ALARM])
        .await;
    let alarms = described["MetricAlarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 1, "{described}");
    alarms[0].clone()
}

/// Waits (bounded) for the alarm to be in `state`; the alarm.
async fn wait_state(cli: &Cli, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let alarm = alarm(cli).await;
        if alarm["StateValue"] == state {
            return alarm;
        }
        assert!(
            Instant::now() < deadline,
            "the alarm is still not {state}: {alarm}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// GETs `path` through the production listener, one after another, until
/// `until` gives a value or 40 s passed; how many were answered with
/// `status`, and that value.
async fn drive<T>(
    stack: &Stack,
    path: &str,
    status: u16,
    until: impl AsyncFn() -> Option<T>,
) -> (u64, T) {
    let url = format!(
        "{}{path}",
        stack.lb["production_url"]
            .as_str()
            .unwrap()
            .trim_end_matches('/')
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut answered = 0;
    loop {
        for _ in 0..20 {
            let response = stack.cloud.http.get(&url).send().await.unwrap();
            assert_eq!(response.status().as_u16(), status, "GET {url}");
            answered += 1;
        }
        if let Some(value) = until().await {
            return (answered, value);
        }
        assert!(
            Instant::now() < deadline,
            "GET {path}: the condition never held"
        );
    }
}

/// The sum of a metric's datapoints of the last ten minutes.
async fn sum(cli: &Cli, metric: &str, dimensions: &[String]) -> f64 {
    let end = chrono::Utc::now() + chrono::Duration::seconds(5);
    let start = end - chrono::Duration::minutes(10);
    let (start, end) = (start.to_rfc3339(), end.to_rfc3339());
    let mut args = vec![
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/ApplicationELB",
        "--metric-name",
        metric,
        "--start-time",
        &start,
        "--end-time",
        &end,
        "--period",
        "60",
        "--statistics",
        "Sum",
        "SampleCount",
        "--dimensions",
    ];
    args.extend(dimensions.iter().map(String::as_str));
    let answer = cli.ok(&args).await;
    assert_eq!(answer["Label"], metric, "{answer}");
    answer["Datapoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["Sum"], p["SampleCount"], "one sample per request: {p}");
            assert_eq!(p["Unit"], "Count", "{p}");
            p["Sum"].as_f64().unwrap()
        })
        .sum()
}

#[tokio::test]
async fn an_alarm_on_the_listeners_metrics_goes_ok_alarm_ok_with_real_traffic() {
    let stack = Stack::create().await;
    let cli = &stack.cli;
    put_alarm(cli, &stack.lb).await;
    // A new alarm starts in INSUFFICIENT_DATA; the evaluator looks within a
    // period, so the history below proves it rather than a racing read.
    let created = alarm(cli).await;
    assert!(
        created["AlarmArn"]
            .as_str()
            .unwrap()
            .ends_with(":alarm:shop-4xx")
    );
    assert_eq!(created["Dimensions"].as_array().map(Vec::len), Some(2));
    wait_state(cli, "OK").await;

    let (good, ()) = drive(&stack, "/", 200, async || Some(())).await;
    // The alarm as the first read that saw it in ALARM, not a later read.
    let (bad, alarmed) = drive(&stack, "/missing.html", 404, async || {
        Some(alarm(cli).await).filter(|a| a["StateValue"] == "ALARM")
    })
    .await;
    let reason = alarmed["StateReason"].as_str().unwrap();
    assert!(
        reason.starts_with("Threshold Crossed: 1 out of the last 1 datapoint [")
            && reason.contains("was greater than or equal to the threshold (10.0)"),
        "{reason}"
    );
    let data: Value = serde_json::from_str(alarmed["StateReasonData"].as_str().unwrap()).unwrap();
    assert_eq!(data["statistic"], "Sum", "{data}");
    assert!(
        data["recentDatapoints"][0].as_f64().unwrap() >= 10.0,
        "{data}"
    );
    let recovered = wait_state(cli, "OK").await;
    assert!(
        recovered["StateTransitionedTimestamp"].as_f64().unwrap()
            > alarmed["StateTransitionedTimestamp"].as_f64().unwrap(),
        "{recovered} after {alarmed}"
    );

    // Every request the listener answered is counted once, on its group
    // (the stack's own checks that blue serves went through it too).
    let dimensions = blue_dimensions(&stack.lb);
    let requests = sum(cli, "RequestCount", &dimensions).await;
    let ok = sum(cli, "HTTPCode_Target_2XX_Count", &dimensions).await;
    let not_found = sum(cli, "HTTPCode_Target_4XX_Count", &dimensions).await;
    assert_eq!(not_found, bad as f64);
    assert!(ok >= good as f64, "{ok} 2XX for {good} sent");
    // The stack's first checks may have found no healthy target yet: 503s
    // the listener answered itself.
    let unavailable = sum(cli, "HTTPCode_ELB_5XX_Count", &dimensions).await;
    assert_eq!(requests, ok + not_found + unavailable);
    let history = cli
        .ok(&[
            "cloudwatch",
            "describe-alarm-history",
            "--alarm-name",
            ALARM,
            "--history-item-type",
            "StateUpdate",
            "--scan-by",
            "TimestampAscending",
        ])
        .await;
    let summaries: Vec<&str> = history["AlarmHistoryItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["HistorySummary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        [
            "Alarm updated from INSUFFICIENT_DATA to OK",
            "Alarm updated from OK to ALARM",
            "Alarm updated from ALARM to OK"
        ]
    );
    metric_queries(&stack).await;
    every_answer_fits_botocores_model(&stack).await;
}

/// GetMetricData percentiles and ListMetrics over what the listener saw.
async fn metric_queries(stack: &Stack) {
    let lb = dimension(&stack.lb["arn"], "loadbalancer/");
    let end = chrono::Utc::now().timestamp() + 5;
    let queries = json!([{
        "Id": "latency",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/ApplicationELB",
                "MetricName": "TargetResponseTime",
                "Dimensions": [{"Name": "LoadBalancer", "Value": lb}],
            },
            "Period": 60,
            "Stat": "p99",
        },
    }]);
    let data = stack
        .cli
        .ok(&[
            "cloudwatch",
            "get-metric-data",
            "--metric-data-queries",
            &queries.to_string(),
            "--start-time",
            &(end - 600).to_string(),
            "--end-time",
            &end.to_string(),
        ])
        .await;
    let result = &data["MetricDataResults"][0];
    assert_eq!(result["Id"], "latency", "{data}");
    assert_eq!(result["StatusCode"], "Complete", "{data}");
    let values = result["Values"].as_array().unwrap();
    assert!(!values.is_empty(), "{data}");
    assert!(
        values
            .iter()
            .all(|v| (0.0..1.0).contains(&v.as_f64().unwrap()) && v.as_f64().unwrap() > 0.0),
        "p99 response times in seconds: {data}"
    );
    assert_eq!(
        result["Timestamps"].as_array().map(Vec::len),
        Some(values.len())
    );

    let listed = stack
        .cli
        .ok(&[
            "cloudwatch",
            "list-metrics",
            "--namespace",
            "AWS/ApplicationELB",
        ])
        .await;
    let metrics: Vec<(String, usize)> = listed["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["MetricName"].as_str().unwrap().to_owned(),
                m["Dimensions"].as_array().unwrap().len(),
            )
        })
        .collect();
    for expected in [
        ("RequestCount", 1),
        ("RequestCount", 2),
        ("HTTPCode_Target_4XX_Count", 2),
        ("TargetResponseTime", 2),
        ("HealthyHostCount", 2),
    ] {
        assert!(
            metrics.contains(&(expected.0.to_owned(), expected.1)),
            "{expected:?} missing from {metrics:?}"
        );
    }
    assert!(
        !metrics.contains(&("HealthyHostCount".to_owned(), 1)),
        "host counts are per target group only: {metrics:?}"
    );
}

/// The same questions over JSON 1.0, every answer walked through botocore's
/// CloudWatch model.
async fn every_answer_fits_botocores_model(stack: &Stack) {
    let lb = dimension(&stack.lb["arn"], "loadbalancer/");
    let now = chrono::Utc::now().timestamp() as f64;
    let metric = json!({
        "Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount",
        "Dimensions": [{"Name": "LoadBalancer", "Value": lb}],
    });
    let calls = [
        ("DescribeAlarms", json!({"AlarmNames": [ALARM]})),
        ("DescribeAlarmHistory", json!({"AlarmName": ALARM})),
        (
            "GetMetricStatistics",
            json!({"Namespace": "AWS/ApplicationELB", "MetricName": "TargetResponseTime",
                   "Dimensions": metric["Dimensions"], "StartTime": now - 600.0, "EndTime": now,
                   "Period": 60, "ExtendedStatistics": ["p50", "p99.9"]}),
        ),
        (
            "GetMetricData",
            json!({"StartTime": now - 600.0, "EndTime": now, "MetricDataQueries": [
                {"Id": "requests", "Label": "requests", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}}]}),
        ),
        ("ListMetrics", json!({"Namespace": "AWS/ApplicationELB"})),
        (
            "PutMetricAlarm",
            json!({
            "AlarmName": "second", "Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount",
            "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1,
            "ComparisonOperator": "GreaterThanThreshold"}),
        ),
        (
            "SetAlarmState",
            json!({"AlarmName": "second", "StateValue": "ALARM", "StateReason": "by hand"}),
        ),
        ("DeleteAlarms", json!({"AlarmNames": ["second"]})),
    ];
    let mut answers = Vec::new();
    for (operation, input) in calls {
        let response = stack
            .cloud
            .http
            .post(&stack.cloud.endpoint)
            .header(
                "X-Amz-Target",
                format!("GraniteServiceVersion20100801.{operation}"),
            )
            .header("Content-Type", "application/x-amz-json-1.0")
            .body(input.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{operation}");
        let answer: Value = response.json().await.unwrap();
        answers.push((operation, answer));
    }
    let walked: Vec<(&str, &str, &Value)> = answers
        .iter()
        .map(|(operation, answer)| ("cloudwatch", *operation, answer))
        .collect();
    assert_eq!(model_problems(&walked).await, Vec::<String>::new());
}

#[tokio::test]
async fn alarms_are_checked_as_cloudwatch_checks_them_and_survive_a_restart() {
    let mut stack = Stack::create().await;
    put_alarm(&stack.cli, &stack.lb).await;
    let base = [
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        "bad",
        "--namespace",
        "AWS/ApplicationELB",
        "--metric-name",
        "RequestCount",
        "--evaluation-periods",
        "1",
        "--threshold",
        "1",
        "--comparison-operator",
        "GreaterThanThreshold",
    ];
    let refusals: [(&[&str], &str); 4] = [
        (
            &[
                "--statistic",
                "Sum",
                "--extended-statistic",
                "p99",
                "--period",
                "60",
            ],
            "InvalidParameterCombination",
        ),
        (
            &["--statistic", "Sum", "--period", "90"],
            "InvalidParameterValue",
        ),
        (
            &[
                "--statistic",
                "Sum",
                "--period",
                "60",
                "--datapoints-to-alarm",
                "2",
            ],
            "InvalidParameterValue",
        ),
        (
            &["--extended-statistic", "tm99", "--period", "60"],
            "InvalidParameterValue",
        ),
    ];
    for (extra, exception) in refusals {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        stack.cli.fails(&args, exception, "PutMetricAlarm").await;
    }
    stack
        .cli
        .fails(
            &[
                "cloudwatch",
                "delete-alarms",
                "--alarm-names",
                ALARM,
                "nope",
            ],
            "ResourceNotFound",
            "DeleteAlarms",
        )
        .await;
    stack
        .cli
        .fails(
            &[
                "cloudwatch",
                "set-alarm-state",
                "--alarm-name",
                ALARM,
                "--state-value",
                "ALARM",
                "--state-reason",
                "x",
                "--state-reason-data",
                "{not json",
            ],
            "InvalidFormat",
            "SetAlarmState",
        )
        .await;
    let described = stack.cli.ok(&["cloudwatch", "describe-alarms"]).await;
    assert_eq!(
        described["MetricAlarms"].as_array().map(Vec::len),
        Some(1),
        "nothing refused was stored, nothing was deleted: {described}"
    );

    // An alarm set by hand on a metric with no data, which its evaluation
    // ignores: the state and reason come back after a kill -9.
    let ignore = json!({
        "AlarmName": "by-hand", "Namespace": "Custom/None", "MetricName": "Nothing",
        "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "ignore",
    });
    stack
        .cli
        .ok(&[
            "cloudwatch",
            "put-metric-alarm",
            "--cli-input-json",
            &ignore.to_string(),
        ])
        .await;
    stack
        .cli
        .ok(&[
            "cloudwatch",
            "set-alarm-state",
            "--alarm-name",
            "by-hand",
            "--state-value",
            "ALARM",
            "--state-reason",
            "paged by hand",
        ])
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = stack
        .cli
        .ok(&[
            "cloudwatch",
            "describe-alarms",
            "--alarm-names",
            "by-hand",
            ALARM,
        ])
        .await;
    stack.cloud.restart().await;
    let after = stack
        .cli
        .ok(&[
            "cloudwatch",
            "describe-alarms",
            "--alarm-names",
            "by-hand",
            ALARM,
        ])
        .await;
    let by_hand = |answer: &Value| {
        answer["MetricAlarms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["AlarmName"] == "by-hand")
            .cloned()
            .unwrap()
    };
    assert_eq!(by_hand(&before)["StateValue"], "ALARM", "{before}");
    assert_eq!(by_hand(&after), by_hand(&before));
    assert_eq!(
        after["MetricAlarms"].as_array().map(Vec::len),
        Some(2),
        "{after}"
    );
}
