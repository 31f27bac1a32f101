//! The stack operations: provision, destroy and plan, and reading their
//! results (outputs, resource changes, error diagnostics).

use super::*;
use crate::provision::{Log, StackOutputs};
use crate::store::environments::EnvironmentRow;
use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::path::Path;
use switchyard_domain::environment::Dimension;

/// What an operation needs: where the stack lives and how to reach AWS.
pub struct Target<'a> {
    pub data_dir: &'a Path,
    pub config: &'a TerraformConfig,
    /// Every AWS call goes here instead of AWS (tests: moto).
    pub endpoint_url: Option<&'a str>,
    pub env: &'a EnvironmentRow,
}

/// A provisioned stack.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub outputs: StackOutputs,
    /// Every Terraform output by name; sensitive ones as "(sensitive)".
    pub terraform_outputs: Map<String, Value>,
}

/// What a plan would change.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanReport {
    /// Whether applying would change any resource.
    pub changes: bool,
    pub add: u64,
    pub change: u64,
    pub destroy: u64,
    pub resource_changes: Vec<ResourceChange>,
    /// Terraform's output, one line each.
    pub log: Vec<String>,
}

/// One resource a plan would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    pub address: String,
    /// create, update, delete or replace.
    pub action: String,
    /// The attributes an update or replacement changes (names only).
    pub attributes: Vec<String>,
}

/// Runs init, plan and apply, then reads the outputs. `variables` replace
/// the stack's own variables when given (else the stored ones are used),
/// so a retry resumes from Terraform's state with the same inputs.
pub async fn provision(
    target: &Target<'_>,
    variables: Option<&Map<String, Value>>,
    log: &mut impl Log,
) -> anyhow::Result<Provisioned> {
    let stack = StackDir::new(target.data_dir, target.env);
    if let Some(variables) = variables {
        stack.write_json(STACK_VARIABLES, variables)?;
    }
    let mut run = Runner::prepare(target, &stack, STACK_VARIABLES)?;
    run.terraform("init", &["init", "-input=false", "-no-color"], log)
        .await?;
    run.terraform(
        "plan",
        &[
            "plan",
            "-input=false",
            "-no-color",
            "-json",
            &format!("-out={PLAN_FILE}"),
        ],
        log,
    )
    .await?;
    let applied = run
        .terraform(
            "apply",
            &["apply", "-input=false", "-no-color", "-json", PLAN_FILE],
            log,
        )
        .await;
    let _ = std::fs::remove_file(stack.path().join(PLAN_FILE));
    applied?;
    let outputs = run.outputs(log).await?;
    Ok(outputs)
}

/// Runs init and destroy; the stack's state is empty afterwards.
pub async fn destroy(target: &Target<'_>, log: &mut impl Log) -> anyhow::Result<()> {
    let stack = StackDir::new(target.data_dir, target.env);
    let mut run = Runner::prepare(target, &stack, STACK_VARIABLES)?;
    run.terraform("init", &["init", "-input=false", "-no-color"], log)
        .await?;
    run.terraform(
        "destroy",
        &[
            "destroy",
            "-auto-approve",
            "-input=false",
            "-no-color",
            "-json",
        ],
        log,
    )
    .await?;
    let left = run.state_list(log).await?;
    if !left.is_empty() {
        bail!(
            "terraform destroy left {} resources in the state: {}",
            left.len(),
            left.join(", ")
        );
    }
    log.line("destroyed: the stack's state holds no resources".into())
        .await;
    Ok(())
}

/// Plans without applying. `variables` stand in for the stack's own
/// variables for this plan only.
pub async fn plan(
    target: &Target<'_>,
    variables: Option<&Map<String, Value>>,
) -> anyhow::Result<PlanReport> {
    let stack = StackDir::new(target.data_dir, target.env);
    let variables_file = match variables {
        Some(variables) => {
            stack.write_json(PLAN_VARIABLES, variables)?;
            PLAN_VARIABLES
        }
        None => STACK_VARIABLES,
    };
    let mut log = Collect::default();
    let result = plan_in(target, &stack, variables_file, &mut log).await;
    let _ = std::fs::remove_file(stack.path().join(PLAN_VARIABLES));
    let _ = std::fs::remove_file(stack.path().join(PLAN_FILE));
    match result {
        Ok(mut report) => {
            report.log = log.0;
            Ok(report)
        }
        Err(e) => {
            let errors = error_diagnostics(&log.0);
            if errors.is_empty() {
                Err(e)
            } else {
                Err(anyhow!("terraform plan failed: {}", errors.join(" ")))
            }
        }
    }
}

/// The error diagnostics in a log: each "Error: ..." line with its
/// indented details.
pub(super) fn error_diagnostics(lines: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut in_error = false;
    for line in lines {
        if line.starts_with("Error: ") {
            in_error = true;
            errors.push(line.clone());
        } else if in_error && line.starts_with("  ") {
            errors.push(line.trim().to_owned());
        } else {
            in_error = false;
        }
    }
    errors
}

pub(super) async fn plan_in(
    target: &Target<'_>,
    stack: &StackDir,
    variables_file: &str,
    log: &mut Collect,
) -> anyhow::Result<PlanReport> {
    let mut run = Runner::prepare(target, stack, variables_file)?;
    run.terraform("init", &["init", "-input=false", "-no-color"], log)
        .await?;
    let summary = run
        .terraform(
            "plan",
            &[
                "plan",
                "-input=false",
                "-no-color",
                "-json",
                &format!("-out={PLAN_FILE}"),
            ],
            log,
        )
        .await?
        .unwrap_or_default();
    let shown = run
        .capture(&["show", "-json", "-no-color", PLAN_FILE], log)
        .await?;
    let plan: Value =
        serde_json::from_str(&shown).context("terraform show -json answered no JSON")?;
    let resource_changes = resource_changes(&plan);
    Ok(PlanReport {
        changes: !resource_changes.is_empty(),
        add: summary["add"].as_u64().unwrap_or(0),
        change: summary["change"].as_u64().unwrap_or(0),
        destroy: summary["remove"].as_u64().unwrap_or(0),
        resource_changes,
        log: Vec::new(),
    })
}

/// The resource changes of `terraform show -json PLAN`.
pub(super) fn resource_changes(plan: &Value) -> Vec<ResourceChange> {
    let mut changes = Vec::new();
    for rc in plan["resource_changes"].as_array().into_iter().flatten() {
        let actions: Vec<&str> = rc["change"]["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let action = match actions.as_slice() {
            ["create"] => "create",
            ["update"] => "update",
            ["delete"] => "delete",
            [_, _] => "replace",
            _ => continue, // no-op, read
        };
        let before = &rc["change"]["before"];
        let after = &rc["change"]["after"];
        let unknown = &rc["change"]["after_unknown"];
        let mut attributes: Vec<String> = Vec::new();
        if matches!(action, "update" | "replace") {
            let keys = before
                .as_object()
                .into_iter()
                .chain(after.as_object())
                .flat_map(|m| m.keys());
            for key in keys {
                let changed = before.get(key) != after.get(key)
                    || unknown.get(key).is_some_and(|u| u != &json!(false));
                if changed && !attributes.contains(key) {
                    attributes.push(key.clone());
                }
            }
            attributes.sort();
        }
        changes.push(ResourceChange {
            address: rc["address"].as_str().unwrap_or_default().to_owned(),
            action: action.to_owned(),
            attributes,
        });
    }
    changes
}

/// `terraform output -json` → the stack's outputs. Outputs a variable
/// turned off are null and leave their reference empty.
pub(super) fn map_outputs(all: &Map<String, Value>) -> Provisioned {
    let text = |name: &str| -> String {
        all.get(name)
            .filter(|o| o["sensitive"] != json!(true))
            .and_then(|o| o["value"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let list = |name: &str| -> Vec<String> {
        all.get(name)
            .and_then(|o| o["value"].as_array())
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let load_balancer = text("load_balancer_arn");
    let outputs = StackOutputs {
        prod_url: text("prod_url"),
        test_url: text("test_url"),
        cluster: text("cluster_name"),
        service: text("service_name"),
        codedeploy_application: text("codedeploy_application_name"),
        deployment_group: text("codedeploy_deployment_group_name"),
        prod_listener_arn: text("prod_listener_arn"),
        test_listener_arn: text("test_listener_arn"),
        target_groups: list("target_group_names"),
        task_definition_family: text("task_definition_family"),
        repository_uri: text("ecr_repository_url"),
        pipeline: text("pipeline_name"),
        prod_listener_rule_arn: text("prod_listener_rule_arn"),
        test_listener_rule_arn: text("test_listener_rule_arn"),
        alternate_target_group_arn: text("alternate_target_group_arn"),
        ecs_infrastructure_role_arn: text("ecs_infrastructure_role_arn"),
        alarm_names: list("alarm_names"),
        load_balancer_dimension: if load_balancer.is_empty() {
            String::new()
        } else {
            Dimension::of_arn("LoadBalancer", &load_balancer).value
        },
        target_group_dimensions: list("target_group_arns")
            .iter()
            .map(|arn| Dimension::of_arn("TargetGroup", arn).value)
            .collect(),
    };
    let terraform_outputs = all
        .iter()
        .map(|(name, output)| {
            let value = if output["sensitive"] == json!(true) {
                json!("(sensitive)")
            } else {
                output["value"].clone()
            };
            (name.clone(), value)
        })
        .collect();
    Provisioned {
        outputs,
        terraform_outputs,
    }
}
