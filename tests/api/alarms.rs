//! CloudWatch alarms guard a local environment's deployments: the stack
//! gets the AWS stack's alarms with the environment's thresholds, a PATCH
//! changes them in CloudWatch at once, and an alarm in ALARM during a
//! linear shift stops and rolls back the deployment (both controllers),
//! which then says which alarm did it. Checked through aws-sdk-cloudwatch
//! and aws-sdk-codedeploy against the server's own local cloud.

use crate::cli::cli;
use crate::dashboard::Session;
use crate::deployments::provision;
use crate::helpers::{TestServer, with_fields};
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

struct Guarded {
    s: TestServer,
    cloudwatch: aws_sdk_cloudwatch::Client,
    codedeploy: aws_sdk_codedeploy::Client,
}

/// A server at time scale 60 with a provisioned local environment `guarded`
/// created from `body` (merged over the defaults).
async fn guarded(body: Value) -> Guarded {
    let s = TestServer::spawn_with(&["--time-scale", "60"]).await;
    let create = with_fields(json!({"name": "guarded", "platform": "local"}), &body);
    let created = s.post("/api/environments", &s.admin_token, create).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    provision(&s, "guarded").await;
    let cloud_url = s.local_cloud_url();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&cloud_url)
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    Guarded {
        s,
        cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
        codedeploy: aws_sdk_codedeploy::Client::new(&config),
    }
}

const ALARMS: [&str; 3] = [
    "guarded-blue-unhealthy-hosts",
    "guarded-green-unhealthy-hosts",
    "guarded-target-5xx",
];

impl Guarded {
    async fn alarms(&self) -> Vec<MetricAlarm> {
        let mut alarms = self
            .cloudwatch
            .describe_alarms()
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .to_vec();
        alarms.sort_by(|a, b| a.alarm_name().cmp(&b.alarm_name()));
        alarms
    }

    async fn patch(&self, body: Value) -> crate::helpers::Answer {
        self.s
            .request(
                reqwest::Method::PATCH,
                "/api/environments/guarded",
                Some(&self.s.admin_token),
                Some(body),
            )
            .await
    }

    async fn threshold_5xx(&self) -> f64 {
        let alarms = self.alarms().await;
        let alarm = alarms
            .iter()
            .find(|a| a.alarm_name() == Some("guarded-target-5xx"))
            .expect("the 5xx alarm exists");
        alarm.threshold().unwrap()
    }

    async fn deployment_group(&self) -> aws_sdk_codedeploy::types::DeploymentGroupInfo {
        self.codedeploy
            .get_deployment_group()
            .application_name("guarded")
            .deployment_group_name("guarded-dg")
            .send()
            .await
            .unwrap()
            .deployment_group_info
            .unwrap()
    }

    async fn environment(&self) -> Value {
        self.s
            .get("/api/environments/guarded", &self.s.admin_token)
            .await
            .body
    }

    async fn deployment(&self, id: i64) -> Value {
        self.s
            .get(&format!("/api/deployments/{id}"), &self.s.admin_token)
            .await
            .body
    }

    /// Polls the deployment until `ready` holds (bounded).
    async fn until(&self, id: i64, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let d = self.deployment(id).await;
            if ready(&d) {
                return d;
            }
            assert!(Instant::now() < deadline, "not {what}: {d}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_local_stack_has_the_aws_stacks_alarms_with_the_environments_thresholds() {
    let g = guarded(json!({"alarms": {"target_5xx_threshold": 3}})).await;
    let env = g.environment().await;
    assert_eq!(
        env["alarms"],
        json!({"enabled": true, "target_5xx_threshold": 3, "unhealthy_hosts_threshold": 1})
    );
    let alarms = g.alarms().await;
    let names: Vec<&str> = alarms.iter().filter_map(|a| a.alarm_name()).collect();
    assert_eq!(names, ALARMS);
    let five_xx = &alarms[2];
    assert_eq!(five_xx.namespace(), Some("AWS/ApplicationELB"));
    assert_eq!(five_xx.metric_name(), Some("HTTPCode_Target_5XX_Count"));
    assert_eq!(five_xx.statistic().map(|s| s.as_str()), Some("Sum"));
    assert_eq!(five_xx.period(), Some(60));
    assert_eq!(five_xx.evaluation_periods(), Some(1));
    assert_eq!(five_xx.threshold(), Some(3.0));
    assert_eq!(five_xx.treat_missing_data(), Some("notBreaching"));
    let dimensions: Vec<&str> = five_xx
        .dimensions()
        .iter()
        .filter_map(|d| d.name())
        .collect();
    assert_eq!(dimensions, ["LoadBalancer"]);
    let unhealthy = &alarms[0];
    assert_eq!(unhealthy.metric_name(), Some("UnHealthyHostCount"));
    assert_eq!(unhealthy.statistic().map(|s| s.as_str()), Some("Maximum"));
    assert_eq!(unhealthy.evaluation_periods(), Some(2));
    assert_eq!(unhealthy.threshold(), Some(1.0));
    let group_dimension = unhealthy
        .dimensions()
        .iter()
        .find(|d| d.name() == Some("TargetGroup"))
        .and_then(|d| d.value())
        .unwrap();
    assert!(
        group_dimension.starts_with("targetgroup/guarded-blue/"),
        "{group_dimension}"
    );

    // The deployment group stops and rolls back on them.
    let group = g.deployment_group().await;
    let wired = group.alarm_configuration().unwrap();
    assert!(wired.enabled());
    let mut wired_names: Vec<&str> = wired.alarms().iter().filter_map(|a| a.name()).collect();
    wired_names.sort();
    assert_eq!(wired_names, ALARMS);
    let events: Vec<&str> = group
        .auto_rollback_configuration()
        .unwrap()
        .events()
        .iter()
        .map(|e| e.as_str())
        .collect();
    assert!(events.contains(&"DEPLOYMENT_STOP_ON_ALARM"), "{events:?}");

    // A change (here from the CLI) reaches CloudWatch at once; a refused
    // one changes nothing.
    let token = Some(g.s.admin_token.as_str());
    let changed = cli(
        &g.s,
        token,
        &["env", "update", "guarded", "--alarm-5xx-threshold", "9"],
    )
    .await;
    assert_eq!(changed.code, Some(0), "{changed:?}");
    assert!(
        changed
            .stdout
            .contains("on: 9 target 5xx a minute, 1 unhealthy hosts"),
        "{}",
        changed.stdout
    );
    assert_eq!(g.threshold_5xx().await, 9.0);
    let usage = cli(
        &g.s,
        token,
        &["env", "update", "guarded", "--alarms", "maybe"],
    )
    .await;
    assert_eq!(usage.code, Some(2), "{usage:?}");
    assert!(
        usage.stderr.contains("--alarms takes on or off"),
        "{usage:?}"
    );
    for (body, field) in [
        (
            json!({"alarms": {"target_5xx_threshold": 0}}),
            "alarms.target_5xx_threshold",
        ),
        (
            json!({"alarms": {"unhealthy_hosts_threshold": 1_000_001}}),
            "alarms.unhealthy_hosts_threshold",
        ),
    ] {
        let refused = g.patch(body).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            refused.body
        );
        assert_eq!(refused.field(), field);
    }
    for body in [
        json!({"alarms": [null, null]}),
        json!({"alarms": {"enabled": "yes"}}),
    ] {
        let refused = g.patch(body.clone()).await;
        assert!(
            refused.status.is_client_error(),
            "{body}: {:?}",
            refused.body
        );
    }
    assert_eq!(g.threshold_5xx().await, 9.0, "nothing refused was applied");
    assert_eq!(g.environment().await["alarms"]["target_5xx_threshold"], 9);

    // The settings card says what guards the environment.
    let session = Session::sign_in(&g.s, &g.s.admin_token).await;
    let (status, page) = session.page(&g.s, "/environments/guarded").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<dt>Alarms</dt><dd>on: 9 target 5xx a minute, 1 unhealthy hosts two minutes running</dd>"),
        "{page}"
    );

    // Off: the alarms go and the group stops watching.
    let off = g.patch(json!({"alarms": {"enabled": false}})).await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);
    assert_eq!(off.body["alarms"]["enabled"], false);
    assert!(g.alarms().await.is_empty());
    let group = g.deployment_group().await;
    assert!(!group.alarm_configuration().unwrap().enabled());
    let kinds = g.s.event_kinds("guarded").await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "environment.alarms_changed")
            .count(),
        2,
        "{kinds:?}"
    );
}

/// Starts a linear deployment, waits for its first shifted step, puts the
/// 5xx alarm in ALARM and expects the controller to stop it and roll back;
/// the deployment's answer once it says which alarm did it.
async fn stopped_by_alarm(g: &Guarded, strategy: Value) -> Value {
    let image = g.s.write_site("v1");
    let body = with_fields(json!({"image": image, "version": "v1"}), &strategy);
    let started =
        g.s.post(
            "/api/environments/guarded/deployments",
            &g.s.admin_token,
            body,
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    let id = started.body["id"].as_i64().unwrap();
    // Production traffic through the shift, for the sides' metrics.
    let prod_url = g.environment().await["prod_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let traffic = tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let _ = http.get(&prod_url).send().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    g.until(id, "shifting", |d| d["green_weight"].as_f64() > Some(0.0))
        .await;
    // Green has answered production before the alarm fires.
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(g.environment().await["prod_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("v1")
    {
        assert!(Instant::now() < deadline, "green never answered production");
    }
    // Held in ALARM as a lasting breach holds it: the evaluator puts a
    // hand-set state back at the next period's end, which at time scale 60
    // may be a few milliseconds away.
    let cloudwatch = g.cloudwatch.clone();
    let breach = tokio::spawn(async move {
        loop {
            cloudwatch
                .set_alarm_state()
                .alarm_name("guarded-target-5xx")
                .state_value(StateValue::Alarm)
                .state_reason("a test breaks the release")
                .send()
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let stopped = g
        .until(id, "stopped by its alarm", |d| {
            d["rolled_back"] == true
                && d["alarms"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a["stopped_deployment"] == true))
        })
        .await;
    breach.abort();
    traffic.abort();
    assert_eq!(stopped["green_weight"], 0.0, "{stopped}");
    let alarm = stopped["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "guarded-target-5xx")
        .unwrap()
        .clone();
    assert_eq!(alarm["stopped_deployment"], true);
    let history = alarm["history"].as_array().unwrap();
    assert!(
        history
            .iter()
            .any(|c| c["state"] == "ALARM" && c["reason"] == "a test breaks the release"),
        "{alarm}"
    );
    let kinds = g.s.event_kinds("guarded").await;
    for kind in ["deployment.alarm", "deployment.stopped_by_alarm"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    page_shows_the_guards(g, id).await;
    stopped
}

/// The deployment's page marks the alarm that stopped it and draws blue's
/// and green's series from the metrics the tracker read.
async fn page_shows_the_guards(g: &Guarded, id: i64) {
    let session = Session::sign_in(&g.s, &g.s.admin_token).await;
    let (status, page) = session.page(&g.s, &format!("/deployments/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    for text in [
        "CloudWatch alarms",
        "guarded-target-5xx",
        "stopped this deployment",
        "a test breaks the release",
        "Blue and green",
    ] {
        assert!(page.contains(text), "{text:?} on the page");
    }
    let charts = page.matches("<figure class=\"chart metric\"").count();
    assert_eq!(charts, 3, "request rate, 5xx rate and p99");
    for side in ["blue", "green"] {
        let drawn = page.matches(&format!("data-side=\"{side}\"><path")).count()
            + page
                .matches(&format!("data-side=\"{side}\"><circle"))
                .count();
        assert_eq!(drawn, 3, "{side}'s series drawn in each chart");
    }
}

#[tokio::test]
async fn an_alarm_stops_a_codedeploy_linear_shift_and_the_deployment_names_it() {
    let g = guarded(json!({})).await;
    let stopped = stopped_by_alarm(
        &g,
        json!({"deployment_config": "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"}),
    )
    .await;
    assert_eq!(stopped["status"], "Stopped", "{stopped}");
    let message = stopped["error"]["message"].as_str().unwrap();
    assert!(message.contains("guarded-target-5xx"), "{message}");
}

#[tokio::test]
async fn an_alarm_stops_an_ecs_linear_shift_and_the_deployment_names_it() {
    let g = guarded(json!({
        "controller": "ecs",
        "ecs_deployment": {"strategy": "LINEAR", "linear": {"step_percent": 10, "step_bake_minutes": 1}},
    }))
    .await;
    let stopped = stopped_by_alarm(&g, json!({})).await;
    assert_eq!(stopped["ecs_status"], "ROLLBACK_SUCCESSFUL", "{stopped}");
}
