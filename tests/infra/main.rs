//! infra/, the Terraform switchyard provisions AWS stacks with: formatted,
//! initialized and valid offline (providers from the machine's plugin mirror
//! through a CLI config of the tests' own); every shape of the stack plans
//! against moto, under either deployment controller; the pipeline resources
//! moto can make (the artifact bucket and the CodeBuild, CodePipeline and
//! CodeDeploy roles) apply and destroy against moto; and so do the service
//! under ECS's own controller with what it shifts traffic on. The whole root
//! module is applied through switchyard's API in tests/aws.

#[path = "../awscli/support.rs"]
mod venv_support;

mod support;

use serde_json::{Value, json};
use support::{MOTO_CREDENTIALS, Moto, cli_config, copy_infra, infra_dir, terraform};

/// infra/ copied into a temp dir and initialized offline.
async fn initialized() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("infra");
    copy_infra(&work);
    let config = cli_config(dir.path());
    let init = terraform(
        &work,
        &config,
        &["init", "-backend=false", "-input=false", "-no-color"],
        &[],
    )
    .await;
    assert!(init.ok, "init failed:\n{}\n{}", init.stdout, init.stderr);
    (dir, work, config)
}

#[tokio::test]
async fn infra_is_formatted() {
    let dir = tempfile::tempdir().unwrap();
    let config = cli_config(dir.path());
    let fmt = terraform(
        &infra_dir(),
        &config,
        &["fmt", "-check", "-recursive", "-diff", "-no-color"],
        &[],
    )
    .await;
    assert!(
        fmt.ok,
        "terraform fmt -check found unformatted files:\n{}{}",
        fmt.stdout, fmt.stderr
    );
}

#[tokio::test]
async fn infra_initializes_offline_and_validates() {
    let (_dir, work, config) = initialized().await;
    assert!(
        work.join(".terraform/providers/registry.terraform.io/hashicorp/aws")
            .is_dir(),
        "the aws provider was installed from the mirror"
    );
    let lock = std::fs::read_to_string(work.join(".terraform.lock.hcl")).unwrap();
    assert!(lock.contains("version     = \"5."), "{lock}");
    let validate = terraform(&work, &config, &["validate", "-json", "-no-color"], &[]).await;
    let report: Value = serde_json::from_str(&validate.stdout)
        .unwrap_or_else(|_| panic!("{}\n{}", validate.stdout, validate.stderr));
    assert_eq!(report["valid"], true, "{report:#}");
    assert_eq!(report["warning_count"], 0, "{report:#}");
    assert!(validate.ok);
}

/// Plans one shape of the stack against moto: `terraform show -json` of the plan.
async fn plan_json(
    work: &std::path::Path,
    config: &std::path::Path,
    moto: &Moto,
    vars: &Value,
) -> Value {
    let mut all =
        json!({"name": "shape", "region": "us-east-1", "aws_endpoint_url": moto.endpoint});
    for (k, v) in vars.as_object().unwrap() {
        all[k] = v.clone();
    }
    let file = work.join("shape.tfvars.json");
    std::fs::write(&file, all.to_string()).unwrap();
    let out = terraform(
        work,
        config,
        &[
            "plan",
            "-input=false",
            "-no-color",
            "-var-file=shape.tfvars.json",
            "-out=shape.tfplan",
        ],
        MOTO_CREDENTIALS,
    )
    .await;
    assert!(
        out.ok,
        "plan of {vars} failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    let shown = terraform(work, config, &["show", "-json", "shape.tfplan"], &[]).await;
    serde_json::from_str(&shown.stdout).unwrap()
}

/// Plans one shape of the stack against moto and answers what it would make.
async fn plan(
    work: &std::path::Path,
    config: &std::path::Path,
    moto: &Moto,
    vars: Value,
) -> Vec<String> {
    plan_json(work, config, moto, &vars).await["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rc| rc["change"]["actions"] == json!(["create"]))
        .map(|rc| rc["address"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_shape_of_the_stack_plans() {
    let (_dir, work, config) = initialized().await;
    let moto = Moto::start().await;

    // The default: CodeCommit source, approval stage, CodeDeploy, NAT.
    let full = plan(&work, &config, &moto, json!({})).await;
    for address in [
        "module.networking.aws_nat_gateway.this[0]",
        "module.security.aws_iam_role.codedeploy[0]",
        "module.security.aws_iam_role_policy_attachment.codedeploy[0]",
        "module.app_infra.aws_ecs_service.app",
        "module.app_infra.aws_lb_listener.test",
        "module.pipeline.aws_codecommit_repository.app[0]",
        "module.pipeline.aws_codebuild_project.app[0]",
        "module.pipeline.aws_codedeploy_deployment_group.app[0]",
        "module.pipeline.aws_s3_bucket_public_access_block.artifacts[0]",
        "module.pipeline.aws_codepipeline.app[0]",
    ] {
        assert!(
            full.contains(&address.to_owned()),
            "{address} missing from {full:#?}"
        );
    }
    assert!(
        !full
            .iter()
            .any(|a| a.contains("codestarconnections") || a.contains("event_rule"))
    );

    // GitHub through a CodeStar connection, started on push, no approval, no NAT.
    let github = plan(
        &work,
        &config,
        &moto,
        json!({"source_provider": "GitHub", "source_repository": "acme/shop",
               "start_pipeline_on_push": true, "enable_approval_stage": false,
               "enable_nat_gateway": false}),
    )
    .await;
    assert!(
        github.contains(&"module.pipeline.aws_codestarconnections_connection.app[0]".to_owned())
    );
    assert!(
        !github
            .iter()
            .any(|a| a.contains("codecommit") || a.contains("nat_gateway"))
    );

    // CodeCommit started on push: the EventBridge rule and its role.
    let pushed = plan(
        &work,
        &config,
        &moto,
        json!({"start_pipeline_on_push": true}),
    )
    .await;
    for address in [
        "module.pipeline.aws_cloudwatch_event_rule.push[0]",
        "module.pipeline.aws_cloudwatch_event_target.push[0]",
        "module.security.aws_iam_role.source_events[0]",
    ] {
        assert!(pushed.contains(&address.to_owned()), "{address} missing");
    }

    // What moto can apply (tests/aws): no pipeline, no CodeDeploy.
    let bare = plan(
        &work,
        &config,
        &moto,
        json!({"enable_pipeline": false, "enable_codedeploy": false}),
    )
    .await;
    assert!(
        !bare.iter().any(|a| a.starts_with("module.pipeline.")),
        "{bare:#?}"
    );
    assert!(
        !bare.iter().any(|a| a.contains("codedeploy")
            || a.contains("codebuild")
            || a.contains("codepipeline")),
        "{bare:#?}"
    );
    assert!(bare.contains(&"module.app_infra.aws_ecs_service.app".to_owned()));

    // A pipeline needs CodeDeploy for its Deploy stage.
    std::fs::write(
        work.join("shape.tfvars.json"),
        json!({"name": "shape", "region": "us-east-1", "aws_endpoint_url": moto.endpoint, "enable_codedeploy": false})
            .to_string(),
    )
    .unwrap();
    let refused = terraform(
        &work,
        &config,
        &[
            "plan",
            "-input=false",
            "-no-color",
            "-var-file=shape.tfvars.json",
        ],
        MOTO_CREDENTIALS,
    )
    .await;
    assert!(!refused.ok);
    assert!(
        refused
            .stderr
            .contains("enable_pipeline needs enable_codedeploy"),
        "{}",
        refused.stderr
    );
}

/// What a plan would make of the resource at `address`.
fn planned<'a>(plan: &'a Value, address: &str) -> &'a Value {
    plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rc| rc["address"] == address)
        .map(|rc| &rc["change"]["after"])
        .unwrap_or_else(|| panic!("the plan makes no {address}"))
}

fn deploy_action(plan: &Value) -> &Value {
    let stages = planned(plan, "module.pipeline.aws_codepipeline.app[0]")["stage"]
        .as_array()
        .unwrap();
    let deploy = stages.iter().find(|s| s["name"] == "Deploy").unwrap();
    &deploy["action"][0]
}

const ECS_ROUTING_OUTPUTS: [&str; 4] = [
    "prod_listener_rule_arn",
    "test_listener_rule_arn",
    "alternate_target_group_arn",
    "ecs_infrastructure_role_arn",
];

#[tokio::test]
async fn the_ecs_controller_shape_plans() {
    let (_dir, work, config) = initialized().await;
    let moto = Moto::start().await;

    // The default stays CodeDeploy's, without the ECS controller's wiring.
    let code_deploy = plan_json(&work, &config, &moto, &json!({})).await;
    assert_eq!(
        planned(&code_deploy, "module.app_infra.aws_ecs_service.app")["deployment_controller"],
        json!([{"type": "CODE_DEPLOY"}])
    );
    assert_eq!(deploy_action(&code_deploy)["provider"], "CodeDeployToECS");
    for output in ECS_ROUTING_OUTPUTS {
        assert_eq!(
            code_deploy["planned_values"]["outputs"][output]["value"], "",
            "{output}"
        );
    }

    let ecs = plan_json(
        &work,
        &config,
        &moto,
        &json!({"deployment_controller": "ECS"}),
    )
    .await;
    let made: Vec<&str> = ecs["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rc| rc["change"]["actions"] == json!(["create"]))
        .map(|rc| rc["address"].as_str().unwrap())
        .collect();
    assert!(
        !made.iter().any(|a| a.contains("codedeploy")),
        "no CodeDeploy under ECS: {made:#?}"
    );
    assert_eq!(
        planned(&ecs, "module.app_infra.aws_ecs_service.app")["deployment_controller"],
        json!([{"type": "ECS"}])
    );
    // One rule per listener, catching every request, on blue to start with.
    for listener in ["prod", "test"] {
        let rule = planned(
            &ecs,
            &format!("module.app_infra.aws_lb_listener_rule.{listener}[0]"),
        );
        assert_eq!(rule["action"][0]["type"], "forward", "{rule:#}");
        assert_eq!(
            rule["condition"][0]["path_pattern"][0]["values"],
            json!(["/*"])
        );
    }
    let role = planned(&ecs, "module.security.aws_iam_role.ecs_infrastructure[0]");
    let trust: Value = serde_json::from_str(role["assume_role_policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "ecs.amazonaws.com"
    );
    assert!(
        planned(
            &ecs,
            "module.security.aws_iam_role_policy_attachment.ecs_infrastructure[0]"
        )["policy_arn"]
            .as_str()
            .unwrap()
            .ends_with(":policy/AmazonECSInfrastructureRolePolicyForLoadBalancers")
    );
    let deploy = deploy_action(&ecs);
    assert_eq!(
        (
            &deploy["category"],
            &deploy["owner"],
            &deploy["provider"],
            &deploy["version"]
        ),
        (&json!("Deploy"), &json!("AWS"), &json!("ECS"), &json!("1"))
    );
    assert_eq!(
        deploy["configuration"],
        json!({"ClusterName": "shape", "ServiceName": "shape", "FileName": "imagedefinitions.json"})
    );
    // The routing outputs are known only once the resources exist.
    for output in ECS_ROUTING_OUTPUTS {
        assert_eq!(
            ecs["output_changes"][output]["after_unknown"], true,
            "{output}"
        );
    }
}

#[tokio::test]
async fn invalid_variables_are_refused_with_their_rule() {
    let (_dir, work, config) = initialized().await;
    let moto = Moto::start().await;
    for (vars, message) in [
        (json!({"name": "Bad_Name"}), "name must be 2 to 26"),
        (
            json!({"name": "a-name-far-too-long-for-elbv2"}),
            "name must be 2 to 26",
        ),
        (json!({"cpu": 300}), "cpu must be a Fargate size"),
        (
            json!({"source_provider": "Subversion"}),
            "source_provider must be",
        ),
        (
            json!({"termination_wait_minutes": 3000}),
            "termination_wait_minutes must be between",
        ),
        (
            json!({"availability_zones": ["us-east-1a"]}),
            "two availability zones",
        ),
        (
            json!({"deployment_controller": "ROLLING"}),
            "deployment_controller must be CODE_DEPLOY or ECS",
        ),
    ] {
        let mut all =
            json!({"name": "ok", "region": "us-east-1", "aws_endpoint_url": moto.endpoint});
        for (k, v) in vars.as_object().unwrap() {
            all[k] = v.clone();
        }
        std::fs::write(work.join("bad.tfvars.json"), all.to_string()).unwrap();
        let out = terraform(
            &work,
            &config,
            &[
                "plan",
                "-input=false",
                "-no-color",
                "-var-file=bad.tfvars.json",
            ],
            MOTO_CREDENTIALS,
        )
        .await;
        assert!(!out.ok, "{vars} was accepted");
        assert!(out.stderr.contains(message), "{vars}: {}", out.stderr);
    }
}

/// moto cannot make the CodeCommit repository, the CodeBuild project or the
/// pipeline (see infra/README.md), so `enable_pipeline` is off when
/// switchyard applies against moto. The rest of the pipeline's resources are
/// applied and destroyed here, picked with -target.
#[tokio::test]
async fn the_artifact_bucket_and_delivery_roles_apply_and_destroy_against_moto() {
    let (_dir, work, config) = initialized().await;
    let moto = Moto::start().await;
    std::fs::write(
        work.join("moto.tfvars.json"),
        json!({"name": "pipe", "region": "us-east-1", "aws_endpoint_url": moto.endpoint})
            .to_string(),
    )
    .unwrap();
    let targets = [
        "-target=module.pipeline.aws_s3_bucket_versioning.artifacts",
        "-target=module.pipeline.aws_s3_bucket_server_side_encryption_configuration.artifacts",
        "-target=module.pipeline.aws_s3_bucket_public_access_block.artifacts",
        "-target=module.pipeline.aws_s3_bucket_ownership_controls.artifacts",
        "-target=module.pipeline.aws_s3_bucket_policy.artifacts",
        "-target=module.security.aws_iam_role_policy.codebuild",
        "-target=module.security.aws_iam_role_policy.codepipeline",
        "-target=module.security.aws_iam_role_policy_attachment.codedeploy",
    ];
    let mut apply = vec![
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-var-file=moto.tfvars.json",
    ];
    apply.extend(targets);
    let applied = terraform(&work, &config, &apply, MOTO_CREDENTIALS).await;
    assert!(
        applied.ok,
        "apply failed:\n{}\n{}",
        applied.stdout, applied.stderr
    );
    let left = moto.leftovers("pipe").await;
    assert_eq!(
        left["s3_buckets"],
        json!(["pipe-artifacts-123456789012"]),
        "{left}"
    );
    let mut roles: Vec<&str> = left["iam_roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    roles.sort();
    // The task roles come along: the CodePipeline role may pass them to ECS.
    assert_eq!(
        roles,
        [
            "pipe-codebuild",
            "pipe-codedeploy",
            "pipe-codepipeline",
            "pipe-task",
            "pipe-task-execution"
        ]
    );

    let mut again = vec![
        "plan",
        "-detailed-exitcode",
        "-input=false",
        "-no-color",
        "-var-file=moto.tfvars.json",
    ];
    again.extend(targets);
    let replanned = terraform(&work, &config, &again, MOTO_CREDENTIALS).await;
    assert!(
        replanned.ok,
        "a second plan shows changes:\n{}\n{}",
        replanned.stdout, replanned.stderr
    );

    // Everything in the state, the targets' dependencies included.
    let destroy = [
        "destroy",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-var-file=moto.tfvars.json",
    ];
    let destroyed = terraform(&work, &config, &destroy, MOTO_CREDENTIALS).await;
    assert!(
        destroyed.ok,
        "destroy failed:\n{}\n{}",
        destroyed.stdout, destroyed.stderr
    );
    assert_eq!(moto.leftovers("pipe").await, json!({}));
}

/// Under ECS's own controller: the service, both target groups, the listener
/// rules, the infrastructure role and the CodePipeline role's policy for the
/// ECS deploy action, applied with -target (moto cannot make the pipeline or
/// its build project, see infra/README.md) and read back from moto. What
/// moto cannot show: a deployment through those rules (it starts no service
/// deployments and never rewrites a rule).
#[tokio::test]
async fn the_ecs_controllers_wiring_applies_and_destroys_against_moto() {
    let (_dir, work, config) = initialized().await;
    let moto = Moto::start().await;
    std::fs::write(
        work.join("moto.tfvars.json"),
        json!({"name": "native", "region": "us-east-1", "aws_endpoint_url": moto.endpoint,
               "deployment_controller": "ECS", "health_check_grace_period_seconds": 0,
               "enable_nat_gateway": false})
        .to_string(),
    )
    .unwrap();
    let targets = [
        "-target=module.app_infra.aws_ecs_service.app",
        "-target=module.app_infra.aws_lb_target_group.app",
        "-target=module.security.aws_iam_role_policy_attachment.ecs_infrastructure",
        "-target=module.security.aws_iam_role_policy.codepipeline",
    ];
    let with_targets = |command: &[&'static str]| {
        let mut args = command.to_vec();
        args.extend(["-input=false", "-no-color", "-var-file=moto.tfvars.json"]);
        args.extend(targets);
        args
    };
    let applied = terraform(
        &work,
        &config,
        &with_targets(&["apply", "-auto-approve"]),
        MOTO_CREDENTIALS,
    )
    .await;
    assert!(
        applied.ok,
        "apply failed:\n{}\n{}",
        applied.stdout, applied.stderr
    );

    let wiring = moto.ecs_controller_wiring("native").await;
    assert_eq!(wiring["deployment_controller"], "ECS", "{wiring:#}");
    let blue = &wiring["target_groups"]["native-blue"];
    let green = &wiring["target_groups"]["native-green"];
    assert!(green.is_string(), "{wiring:#}");
    assert_eq!(wiring["load_balancers"][0]["targetGroupArn"], *blue);
    for port in ["80", "8080"] {
        let rule = wiring["rules"][port]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["IsDefault"] == false)
            .unwrap_or_else(|| panic!("no rule on listener {port}: {wiring:#}"));
        assert_eq!(rule["Actions"][0]["TargetGroupArn"], *blue, "{rule:#}");
    }
    assert_eq!(
        wiring["infrastructure_trust"]["Statement"][0]["Principal"]["Service"],
        "ecs.amazonaws.com"
    );
    assert_eq!(
        wiring["infrastructure_policies"],
        json!(["AmazonECSInfrastructureRolePolicyForLoadBalancers"])
    );
    let statements = wiring["codepipeline_policy"]["Statement"]
        .as_array()
        .unwrap();
    let actions: Vec<&str> = statements
        .iter()
        .flat_map(|s| match &s["Action"] {
            Value::Array(actions) => actions.iter().filter_map(Value::as_str).collect(),
            action => action.as_str().into_iter().collect::<Vec<_>>(),
        })
        .collect();
    for needed in [
        "ecs:DescribeServices",
        "ecs:UpdateService",
        "ecs:RegisterTaskDefinition",
        "ecs:DescribeTaskDefinition",
        "iam:PassRole",
    ] {
        assert!(actions.contains(&needed), "{needed} missing: {actions:?}");
    }
    assert!(
        !actions.iter().any(|a| a.starts_with("codedeploy:")),
        "{actions:?}"
    );
    let deploy_service = statements
        .iter()
        .find(|s| s["Sid"] == "DeployService")
        .unwrap();
    assert_eq!(
        deploy_service["Resource"],
        "arn:aws:ecs:us-east-1:123456789012:service/native/native"
    );

    // What switchyard reads to route the service.
    let outputs = terraform(&work, &config, &["output", "-json"], &[]).await;
    let outputs: Value = serde_json::from_str(&outputs.stdout).unwrap();
    assert_eq!(outputs["alternate_target_group_arn"]["value"], *green);
    assert!(
        outputs["ecs_infrastructure_role_arn"]["value"]
            .as_str()
            .unwrap()
            .ends_with(":role/native-ecs-infrastructure")
    );
    for rule in ["prod_listener_rule_arn", "test_listener_rule_arn"] {
        assert!(
            outputs[rule]["value"]
                .as_str()
                .unwrap()
                .contains(":listener-rule/app/native/"),
            "{rule}: {outputs:#}"
        );
    }

    // The one change moto leaves (infra/README.md): it keeps no
    // availability_zone_rebalancing.
    let replanned = terraform(
        &work,
        &config,
        &with_targets(&["plan", "-out=again.tfplan"]),
        MOTO_CREDENTIALS,
    )
    .await;
    assert!(replanned.ok, "{}\n{}", replanned.stdout, replanned.stderr);
    let shown = terraform(&work, &config, &["show", "-json", "again.tfplan"], &[]).await;
    let again: Value = serde_json::from_str(&shown.stdout).unwrap();
    let changes: Vec<(&Value, &Value)> = again["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rc| rc["change"]["actions"] != json!(["no-op"]))
        .map(|rc| (&rc["address"], &rc["change"]["actions"]))
        .collect();
    assert_eq!(
        changes,
        [(
            &json!("module.app_infra.aws_ecs_service.app"),
            &json!(["update"])
        )],
        "{}",
        replanned.stdout
    );
    let service = &again["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rc| rc["address"] == "module.app_infra.aws_ecs_service.app")
        .unwrap()["change"];
    let mut before = service["before"].clone();
    before["availability_zone_rebalancing"] =
        service["after"]["availability_zone_rebalancing"].clone();
    assert_eq!(before, service["after"], "{}", replanned.stdout);

    let destroyed = terraform(
        &work,
        &config,
        &[
            "destroy",
            "-auto-approve",
            "-input=false",
            "-no-color",
            "-var-file=moto.tfvars.json",
        ],
        MOTO_CREDENTIALS,
    )
    .await;
    assert!(
        destroyed.ok,
        "destroy failed:\n{}\n{}",
        destroyed.stdout, destroyed.stderr
    );
    assert_eq!(moto.leftovers("native").await, json!({}));
}
