use super::*;
use crate::cloud::service_deployments::{TrafficRouting, routed_load_balancers};
use crate::provision::StackOutputs;
use crate::store::environments::EnvironmentRow;
use aws_sdk_ecs::types as ecs;
use serde_json::{Value, json};
use sqlx::types::Json;
use std::path::Path;
use switchyard_domain::environment::{Platform, ReadyAction};
use switchyard_domain::service_deployment::DeploymentController;

#[test]
fn the_built_in_module_is_all_of_infra() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra");
    let mut on_disk = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.file_name().unwrap().to_string_lossy().starts_with('.') {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "tf") {
                on_disk.push(path.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    on_disk.sort();
    let mut built_in: Vec<String> = MODULE.iter().map(|(p, _)| (*p).to_owned()).collect();
    built_in.sort();
    assert_eq!(built_in, on_disk);
}

#[test]
fn declared_variables_come_from_variables_tf() {
    let declared = declared_variables();
    let find = |name: &str| declared.iter().find(|d| d.name == name);
    assert!(find("name").is_some_and(|d| !d.sensitive));
    assert!(find("container_environment").is_some_and(|d| d.sensitive));
    assert!(find("enable_pipeline").is_some());
    // Every variable switchyard derives is one the module declares.
    for (name, _) in FROM_ENVIRONMENT {
        assert!(find(name).is_some(), "{name} is not declared");
    }
    let parsed = parse_declared(
        "variable \"a\" {\n  type = string\n}\n\nvariable \"b\" {\n  sensitive = true\n\n  validation {\n    condition = true\n  }\n}\n",
    );
    assert_eq!(
        parsed,
        [
            Declared {
                name: "a".into(),
                sensitive: false
            },
            Declared {
                name: "b".into(),
                sensitive: true
            }
        ]
    );
}

#[test]
fn extra_variables_must_be_declared_and_not_from_the_environment() {
    let vars = |v: Value| v.as_object().unwrap().clone();
    check_variables(
        &vars(json!({"enable_nat_gateway": false, "cpu": 512})),
        true,
    )
    .unwrap();
    let e = check_variables(&vars(json!({"nope": 1})), true).unwrap_err();
    assert_eq!(e.field, "variables.nope");
    let e = check_variables(&vars(json!({"desired_count": 3})), true).unwrap_err();
    assert_eq!(e.field, "variables.desired_count");
    assert!(e.message.contains("container.desired_count"), "{e:?}");
    // The server's own file may set anything the module declares.
    check_variables(&vars(json!({"desired_count": 3})), false).unwrap();
}

#[test]
fn secrets_are_scrubbed() {
    let mut s = Scrubber::default();
    s.add_sensitive_variables(
        json!({"container_environment": {"DB_PASSWORD": "hunter2-xyz", "SHORT": "ab"}, "cpu": 512})
            .as_object()
            .unwrap(),
    );
    s.add("AKIAEXAMPLE");
    assert_eq!(
        s.scrub("password hunter2-xyz and key AKIAEXAMPLE, cpu 512, ab"),
        "password [redacted] and key [redacted], cpu 512, ab"
    );
    let map = json!({"container_environment": {"K": "v"}, "cpu": 512});
    assert_eq!(
        Value::Object(redacted(map.as_object().unwrap())),
        json!({"container_environment": "(sensitive)", "cpu": 512})
    );
}

#[test]
fn stack_names_fit_the_module() {
    assert_eq!(stack_name("shop"), "shop");
    for env in [
        "a-",
        "ab-",
        &format!("a{}", "b".repeat(39)),
        "x-very-long-name-with-dashes-at-the-end-",
    ] {
        let name = stack_name(env);
        assert!((2..=26).contains(&name.len()), "{env} -> {name}");
        assert!(
            !name.ends_with('-') && name.starts_with(|c: char| c.is_ascii_lowercase()),
            "{name}"
        );
    }
    assert_ne!(
        stack_name(&format!("a{}1", "b".repeat(30))),
        stack_name(&format!("a{}2", "b".repeat(30)))
    );
}

#[test]
fn ui_messages_become_log_lines() {
    let mut summary = None;
    assert_eq!(
        ui_lines(
            r#"{"@level":"info","@message":"Plan: 1 to add, 0 to change, 0 to destroy.","type":"change_summary","changes":{"add":1,"change":0,"import":0,"remove":0,"operation":"plan"}}"#,
            &mut summary
        ),
        ["Plan: 1 to add, 0 to change, 0 to destroy."]
    );
    assert_eq!(summary.unwrap()["add"], 1);
    let lines = ui_lines(
        r#"{"@level":"error","@message":"Error: Invalid value for variable","type":"diagnostic","diagnostic":{"severity":"error","summary":"Invalid value for variable","detail":"cpu must be a Fargate size.\n\nThis was checked by the validation rule.","range":{"filename":"variables.tf","start":{"line":118}}}}"#,
        &mut None,
    );
    assert_eq!(
        lines,
        [
            "Error: Invalid value for variable",
            "  on variables.tf line 118",
            "  cpu must be a Fargate size.",
            "  This was checked by the validation rule."
        ]
    );
    assert_eq!(
        ui_lines("Initializing the backend...", &mut None),
        ["Initializing the backend..."]
    );
}

#[test]
fn plans_report_changed_attributes() {
    let plan = json!({"resource_changes": [
        {"address": "a.x", "change": {"actions": ["no-op"], "before": {}, "after": {}}},
        {"address": "a.y", "change": {"actions": ["update"], "before": {"k": 1, "same": 2}, "after": {"k": 2, "same": 2}, "after_unknown": {}}},
        {"address": "a.z", "change": {"actions": ["create"], "before": null, "after": {"k": 1}}},
        {"address": "a.w", "change": {"actions": ["delete", "create"], "before": {"id": "1"}, "after": {"id": null}, "after_unknown": {"id": true}}},
    ]});
    assert_eq!(
        resource_changes(&plan),
        [
            ResourceChange {
                address: "a.y".into(),
                action: "update".into(),
                attributes: vec!["k".into()]
            },
            ResourceChange {
                address: "a.z".into(),
                action: "create".into(),
                attributes: vec![]
            },
            ResourceChange {
                address: "a.w".into(),
                action: "replace".into(),
                attributes: vec!["id".into()]
            },
        ]
    );
}

#[test]
fn terraform_times_are_read_back_from_the_log() {
    let log = "09:00:00.000 $ terraform init\n09:00:01.000 terraform init finished in 0.512 s\n09:00:09.000 terraform apply failed (exit status: 1) after 7.250 s\n";
    assert_eq!(
        terraform_seconds(log),
        [("init".to_owned(), 0.512), ("apply".to_owned(), 7.25)]
    );
}

#[test]
fn outputs_fill_the_references() {
    let all = json!({
        "cluster_name": {"sensitive": false, "value": "shop"},
        "service_name": {"sensitive": false, "value": "shop"},
        "codedeploy_application_name": {"sensitive": false, "value": null},
        "pipeline_name": {"sensitive": false, "value": null},
        "target_group_names": {"sensitive": false, "value": ["shop-blue", "shop-green"]},
        "prod_url": {"sensitive": false, "value": "http://x"},
        "secret": {"sensitive": true, "value": "s3cr3t"},
    });
    let p = map_outputs(all.as_object().unwrap());
    assert_eq!(p.outputs.cluster, "shop");
    assert_eq!(p.outputs.codedeploy_application, "");
    assert_eq!(p.outputs.target_groups, ["shop-blue", "shop-green"]);
    assert_eq!(p.outputs.pipeline, "");
    assert_eq!(p.terraform_outputs["secret"], "(sensitive)");
    assert_eq!(p.terraform_outputs["prod_url"], "http://x");
}

fn aws_environment(controller: DeploymentController) -> EnvironmentRow {
    EnvironmentRow {
        id: 1,
        name: "shop".into(),
        platform: Platform::Aws,
        region: Some("eu-west-1".into()),
        cluster: None,
        service: None,
        codedeploy_application: None,
        deployment_group: None,
        pipeline: None,
        prod_listener_arn: None,
        test_listener_arn: None,
        created_by: "admin".into(),
        created_at: 0,
        container_name: "web".into(),
        container_port: 80,
        health_check_path: "/".into(),
        desired_count: 2,
        deployment_config: "CodeDeployDefault.ECSAllAtOnce".into(),
        ready_wait_minutes: None,
        ready_action: ReadyAction::Continue,
        termination_wait_minutes: 5,
        auto_rollback: true,
        prod_url: None,
        test_url: None,
        hooks: Json(Default::default()),
        aws_profile: None,
        deployment_controller: controller,
        ecs_deployment: None,
        alarms: None,
        metric_gate: None,
        freeze_windows: sqlx::types::Json(Vec::new()),
    }
}

#[test]
fn the_deployment_controller_comes_from_the_environment() {
    for (controller, variable) in [
        (DeploymentController::CodeDeploy, "CODE_DEPLOY"),
        (DeploymentController::Ecs, "ECS"),
    ] {
        let vars = environment_variables(&aws_environment(controller), None);
        assert_eq!(vars["deployment_controller"], variable);
    }
    let e = check_variables(
        json!({"deployment_controller": "ECS"}).as_object().unwrap(),
        true,
    )
    .unwrap_err();
    assert_eq!(e.field, "variables.deployment_controller");
    assert!(e.message.contains("the environment's controller"), "{e:?}");
}

#[test]
fn ecs_outputs_give_the_services_traffic_routing() {
    let ecs = json!({
        "cluster_name": {"sensitive": false, "value": "shop"},
        "prod_listener_rule_arn": {"sensitive": false, "value": "arn:rule/prod"},
        "test_listener_rule_arn": {"sensitive": false, "value": "arn:rule/test"},
        "alternate_target_group_arn": {"sensitive": false, "value": "arn:tg/green"},
        "ecs_infrastructure_role_arn": {"sensitive": false, "value": "arn:role/infra"},
    });
    let outputs = map_outputs(ecs.as_object().unwrap()).outputs;
    assert_eq!(outputs.prod_listener_rule_arn, "arn:rule/prod");
    assert_eq!(outputs.test_listener_rule_arn, "arn:rule/test");
    assert_eq!(outputs.alternate_target_group_arn, "arn:tg/green");
    assert_eq!(outputs.ecs_infrastructure_role_arn, "arn:role/infra");
    let routing = TrafficRouting::from_outputs(&outputs).unwrap();
    assert_eq!(
        routing,
        TrafficRouting {
            alternate_target_group_arn: "arn:tg/green".into(),
            production_listener_rule: "arn:rule/prod".into(),
            test_listener_rule: "arn:rule/test".into(),
            role_arn: "arn:role/infra".into(),
        }
    );

    // Stored before these outputs existed, or a CODE_DEPLOY stack: no routing.
    let stored: StackOutputs = serde_json::from_value(json!({"cluster": "shop"})).unwrap();
    assert_eq!(stored.prod_listener_rule_arn, "");
    assert_eq!(TrafficRouting::from_outputs(&stored), None);
    let code_deploy = json!({
        "prod_listener_rule_arn": {"sensitive": false, "value": ""},
        "test_listener_rule_arn": {"sensitive": false, "value": ""},
        "alternate_target_group_arn": {"sensitive": false, "value": ""},
        "ecs_infrastructure_role_arn": {"sensitive": false, "value": ""},
    });
    let outputs = map_outputs(code_deploy.as_object().unwrap()).outputs;
    assert_eq!(TrafficRouting::from_outputs(&outputs), None);
}

#[test]
fn a_service_is_routed_once() {
    let routing = TrafficRouting {
        alternate_target_group_arn: "arn:tg/green".into(),
        production_listener_rule: "arn:rule/prod".into(),
        test_listener_rule: "arn:rule/test".into(),
        role_arn: "arn:role/infra".into(),
    };
    let made_by_terraform = ecs::LoadBalancer::builder()
        .target_group_arn("arn:tg/blue")
        .container_name("web")
        .container_port(80)
        .build();
    let routed = routed_load_balancers(std::slice::from_ref(&made_by_terraform), &routing)
        .expect("an unrouted service gets its routing");
    let [lb] = &routed[..] else {
        panic!("{routed:?}")
    };
    assert_eq!(
        (
            lb.target_group_arn(),
            lb.container_name(),
            lb.container_port()
        ),
        (Some("arn:tg/blue"), Some("web"), Some(80))
    );
    let advanced = lb.advanced_configuration().unwrap();
    assert_eq!(advanced.alternate_target_group_arn(), Some("arn:tg/green"));
    assert_eq!(advanced.production_listener_rule(), Some("arn:rule/prod"));
    assert_eq!(advanced.test_listener_rule(), Some("arn:rule/test"));
    assert_eq!(advanced.role_arn(), Some("arn:role/infra"));
    // Routed already (ECS may have swapped the target groups since): left alone.
    assert_eq!(routed_load_balancers(&routed, &routing), None);
    assert_eq!(routed_load_balancers(&[], &routing), None);
}

#[test]
fn the_cli_config_uses_the_mirror_and_a_cache_of_our_own() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(mirror.join("registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64"))
        .unwrap();
    let config = TerraformConfig {
        plugin_mirror: Some(mirror.clone()),
        ..Default::default()
    };
    config.check().unwrap();
    let path = write_cli_config(&dir.path().join("data"), &config).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains(&format!("path    = \"{}\"", mirror.display())),
        "{text}"
    );
    assert!(
        text.contains("include = [\"registry.terraform.io/hashicorp/aws\"]"),
        "{text}"
    );
    assert!(
        text.contains("exclude = [\"registry.terraform.io/hashicorp/aws\"]"),
        "{text}"
    );
    assert!(text.contains("plugin-cache"), "{text}");
    let empty = TerraformConfig {
        plugin_mirror: Some(dir.path().join("data")),
        ..Default::default()
    };
    assert!(
        empty
            .check()
            .unwrap_err()
            .to_string()
            .contains("holds no providers")
    );
    assert_eq!(hcl_string(Path::new("/a/${b}")), "\"/a/$${b}\"");
}

#[test]
fn alarm_outputs_give_the_alarms_and_the_metric_dimensions() {
    let all = json!({
        "alarm_names": {"sensitive": false, "value": ["shop-target-5xx", "shop-blue-unhealthy-hosts"]},
        "load_balancer_arn": {"sensitive": false, "value":
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shop/50dc6c495c0c9188"},
        "target_group_names": {"sensitive": false, "value": ["shop-blue", "shop-green"]},
        "target_group_arns": {"sensitive": false, "value": [
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-blue/1",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-green/2",
        ]},
    });
    let outputs = map_outputs(all.as_object().unwrap()).outputs;
    assert_eq!(
        outputs.alarm_names,
        ["shop-target-5xx", "shop-blue-unhealthy-hosts"]
    );
    assert_eq!(outputs.load_balancer_dimension, "app/shop/50dc6c495c0c9188");
    assert_eq!(
        outputs.target_group_dimensions,
        ["targetgroup/shop-blue/1", "targetgroup/shop-green/2"]
    );
    assert_eq!(outputs.target_groups, ["shop-blue", "shop-green"]);
    // A stack from before these outputs: no alarms to read.
    let none = map_outputs(json!({}).as_object().unwrap()).outputs;
    assert!(none.alarm_names.is_empty() && none.load_balancer_dimension.is_empty());
}
