//! infra/, the Terraform switchyard provisions AWS stacks with: formatted,
//! initialized and valid offline (providers from the machine's plugin mirror
//! through a CLI config of the tests' own); every shape of the stack plans
//! against moto; and the pipeline resources moto can make (the artifact
//! bucket and the CodeBuild, CodePipeline and CodeDeploy roles) apply and
//! destroy against moto. The whole root module is applied through
//! switchyard's API in tests/aws.

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

/// Plans one shape of the stack against moto and answers what it would make.
async fn plan(
    work: &std::path::Path,
    config: &std::path::Path,
    moto: &Moto,
    vars: Value,
) -> Vec<String> {
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
    let plan: Value = serde_json::from_str(&shown.stdout).unwrap();
    plan["resource_changes"]
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
