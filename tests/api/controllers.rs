//! An environment's deployment controller (CodeDeploy or ECS's own) and the
//! ECS controller's settings, through the API and the CLI, on one server.

use crate::cli::cli;
use crate::helpers::{Answer, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn patch(s: &TestServer, name: &str, body: Value) -> Answer {
    s.request(
        Method::PATCH,
        &format!("/api/environments/{name}"),
        Some(&s.admin_token),
        Some(body),
    )
    .await
}

async fn create(s: &TestServer, body: Value) -> Answer {
    s.post("/api/environments", &s.admin_token, body).await
}

#[tokio::test]
async fn environments_choose_their_controller_and_keep_the_ecs_settings() {
    let s = TestServer::spawn().await;

    // Existing clients are unchanged: no controller means CodeDeploy.
    let classic = create(&s, json!({"name": "classic", "platform": "local"})).await;
    assert_eq!(classic.status, StatusCode::CREATED);
    assert_eq!(classic.body["controller"], "codedeploy");
    assert!(classic.body["ecs_deployment"].is_null());

    let created = create(
        &s,
        json!({
            "name": "native",
            "platform": "local",
            "controller": "ecs",
            "ecs_deployment": {
                "strategy": "LINEAR",
                "linear": {"step_percent": 25},
                "gates": [{"timeout_minutes": 60}]
            }
        }),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["controller"], "ecs");
    // Every default written out, as the next UpdateService will send it.
    assert_eq!(
        created.body["ecs_deployment"],
        json!({
            "strategy": "LINEAR",
            "linear": {"step_percent": 25.0, "step_bake_minutes": 6},
            "canary": null,
            "bake_time_minutes": 5,
            "gates": [{
                "stage": "PRE_PRODUCTION_TRAFFIC_SHIFT",
                "timeout_minutes": 60,
                "timeout_action": "ROLLBACK"
            }]
        })
    );
    let shown = s.get("/api/environments/native", &s.admin_token).await;
    assert_eq!(shown.body, created.body);

    // A canary replaces the whole setting; the policy changes in the same request.
    let changed = patch(
        &s,
        "native",
        json!({
            "ecs_deployment": {"strategy": "CANARY", "canary": {"percent": 0.5, "bake_minutes": 3}},
            "approval_policy": {"required": 2}
        }),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(changed.body["ecs_deployment"]["strategy"], "CANARY");
    assert_eq!(
        changed.body["ecs_deployment"]["canary"],
        json!({"percent": 0.5, "bake_minutes": 3})
    );
    assert_eq!(changed.body["ecs_deployment"]["gates"], json!([]));
    assert_eq!(changed.body["approval_policy"]["required"], 2);
    let kinds = s.event_kinds("native").await;
    assert_eq!(
        kinds[..2],
        [
            "environment.deployment_settings_changed",
            "environment.policy_changed"
        ]
    );

    // Before a stack exists, the controller may change both ways.
    let to_ecs = patch(&s, "classic", json!({"controller": "ecs"})).await;
    assert_eq!(to_ecs.status, StatusCode::OK, "{:?}", to_ecs.body);
    assert_eq!(to_ecs.body["ecs_deployment"]["strategy"], "BLUE_GREEN");
    let back = patch(&s, "classic", json!({"controller": "codedeploy"})).await;
    assert_eq!(back.body["controller"], "codedeploy");
    assert!(back.body["ecs_deployment"].is_null());

    // Deploying needs the stack first, whatever the controller.
    let deploy = s
        .post(
            "/api/environments/native/deployments",
            &s.admin_token,
            json!({"version": "v1", "image": "nginx:1.27"}),
        )
        .await;
    assert_eq!(deploy.status, StatusCode::CONFLICT, "{:?}", deploy.body);
    let message = deploy.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("no provisioned stack"), "{message}");
}

#[tokio::test]
async fn invalid_controller_settings_name_the_field_and_change_nothing() {
    let s = TestServer::spawn().await;
    let ecs = |settings: Value| json!({"name": "bad", "platform": "local", "controller": "ecs", "ecs_deployment": settings});
    for (body, field) in [
        (
            json!({"name": "bad", "platform": "local", "controller": "ECS"}),
            "controller",
        ),
        (
            json!({"name": "bad", "platform": "local", "ecs_deployment": {}}),
            "ecs_deployment",
        ),
        (
            json!({"name": "bad", "platform": "local", "controller": "ecs",
                   "deployment_config": "CodeDeployDefault.ECSAllAtOnce"}),
            "deployment_config",
        ),
        (
            json!({"name": "bad", "platform": "local", "controller": "ecs",
                   "hooks": {"AfterInstall": "check"}}),
            "hooks",
        ),
        (
            ecs(json!({"strategy": "ROLLING"})),
            "ecs_deployment.strategy",
        ),
        (
            ecs(json!({"strategy": "LINEAR", "linear": {"step_percent": 2.5}})),
            "ecs_deployment.linear.step_percent",
        ),
        (
            ecs(json!({"strategy": "CANARY", "canary": {"bake_minutes": 1441}})),
            "ecs_deployment.canary.bake_minutes",
        ),
        (
            ecs(json!({"strategy": "BLUE_GREEN", "linear": {}})),
            "ecs_deployment.linear",
        ),
        (
            ecs(json!({"gates": [{"stage": "TEST_TRAFFIC_SHIFT"}]})),
            "ecs_deployment.gates[0].stage",
        ),
        (
            ecs(json!({"gates": [{"timeout_minutes": 20161}]})),
            "ecs_deployment.gates[0].timeout_minutes",
        ),
    ] {
        let refused = create(&s, body.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(refused.field(), field, "{body}: {:?}", refused.body);
    }
    assert_eq!(
        s.get("/api/environments/bad", &s.admin_token).await.status,
        StatusCode::NOT_FOUND
    );

    // A change that cannot be made leaves the policy part unwritten too.
    let listener = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
    let prod = create(
        &s,
        json!({"name": "prod", "platform": "aws", "region": "eu-west-1",
               "resources": {"cluster": "c", "service": "web", "prod_listener_arn": listener}}),
    )
    .await;
    assert_eq!(prod.status, StatusCode::CREATED, "{:?}", prod.body);
    let switch = patch(
        &s,
        "prod",
        json!({"controller": "ecs", "approval_policy": {"required": 3}}),
    )
    .await;
    assert_eq!(switch.status, StatusCode::CONFLICT, "{:?}", switch.body);
    assert!(
        switch.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("service web"),
        "{:?}",
        switch.body
    );
    let misplaced = patch(
        &s,
        "prod",
        json!({"ecs_deployment": {}, "approval_policy": {"required": 3}}),
    )
    .await;
    assert_eq!(misplaced.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(misplaced.field(), "ecs_deployment");
    let prod = s.get("/api/environments/prod", &s.admin_token).await.body;
    assert_eq!(prod["controller"], "codedeploy");
    assert_eq!(prod["approval_policy"]["required"], 0);
    assert_eq!(s.event_kinds("prod").await, ["environment.created"]);
}

#[tokio::test]
async fn the_cli_sets_the_controller_and_changes_only_the_settings_it_names() {
    let s = TestServer::spawn().await;
    let token = Some(s.admin_token.as_str());
    let created = cli(
        &s,
        token,
        &[
            "env",
            "create",
            "native",
            "--controller",
            "ecs",
            "--strategy",
            "LINEAR",
            "--step-percent",
            "20",
            "--gate",
            "PRE_PRODUCTION_TRAFFIC_SHIFT:30",
            "--gate",
            "POST_TEST_TRAFFIC_SHIFT:10:CONTINUE",
        ],
    )
    .await;
    assert_eq!(created.code, Some(0), "{}", created.stderr);
    for line in [
        "controller",
        "LINEAR: 20% every 6 min",
        "POST_TEST_TRAFFIC_SHIFT until approved, CONTINUE after 10 min; \
         PRE_PRODUCTION_TRAFFIC_SHIFT until approved, ROLLBACK after 30 min",
    ] {
        assert!(created.stdout.contains(line), "{line}: {}", created.stdout);
    }

    let updated = cli(
        &s,
        token,
        &[
            "env",
            "update",
            "native",
            "--step-bake-minutes",
            "2",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(updated.code, Some(0), "{}", updated.stderr);
    let env: Value = serde_json::from_str(&updated.stdout).unwrap();
    let ecs = &env["ecs_deployment"];
    assert_eq!(
        ecs["linear"],
        json!({"step_percent": 20.0, "step_bake_minutes": 2})
    );
    assert_eq!(ecs["gates"].as_array().unwrap().len(), 2, "{ecs}");

    let canary = cli(
        &s,
        token,
        &[
            "env",
            "update",
            "native",
            "--strategy",
            "CANARY",
            "--no-gates",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(canary.code, Some(0), "{}", canary.stderr);
    let env: Value = serde_json::from_str(&canary.stdout).unwrap();
    assert_eq!(
        env["ecs_deployment"]["canary"],
        json!({"percent": 5.0, "bake_minutes": 10})
    );
    assert_eq!(env["ecs_deployment"]["gates"], json!([]));

    let bad = cli(
        &s,
        token,
        &["env", "update", "native", "--gate", "POST_SCALE_UP:soon"],
    )
    .await;
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("\"soon\" is not a number"),
        "{}",
        bad.stderr
    );
    let refused = cli(
        &s,
        token,
        &["env", "update", "native", "--step-percent", "1"],
    )
    .await;
    assert_ne!(refused.code, Some(0));
    assert!(
        refused.stderr.contains("ecs_deployment.linear"),
        "{}",
        refused.stderr
    );
}
