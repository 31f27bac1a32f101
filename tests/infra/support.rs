//! What tests/infra and tests/aws share (the latter includes this file with
//! `#[path]`): Terraform with a CLI config of the tests' own that installs
//! providers from the machine's plugin mirror, and moto on a loopback port.
//! Both need `crate::venv_support` (tests/awscli/support.rs).

// Each of the two test targets uses a part of this module.
#![allow(dead_code)]

use crate::venv_support::venv;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// Credentials moto accepts (it checks none); Terraform and the SDK need some.
pub const MOTO_CREDENTIALS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "AKIASWITCHYARDTEST"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "switchyard-test-secret-key-never-logged",
    ),
    ("AWS_REGION", "us-east-1"),
];

pub fn infra_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("infra")
}

/// The filesystem mirror with the hashicorp/aws provider:
/// `SWITCHYARD_TEST_TF_PLUGIN_MIRROR`, else the one `scripts/setup-test-deps`
/// found and recorded in the test virtualenv.
pub fn plugin_mirror() -> PathBuf {
    let mirror = match std::env::var_os("SWITCHYARD_TEST_TF_PLUGIN_MIRROR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let record = venv().join("terraform-plugin-mirror");
            let text = std::fs::read_to_string(&record).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}: run scripts/setup-test-deps, which finds the Terraform plugin mirror \
                     (or set SWITCHYARD_TEST_TF_PLUGIN_MIRROR)",
                    record.display()
                )
            });
            PathBuf::from(text.trim())
        }
    };
    assert!(
        mirror.join("registry.terraform.io/hashicorp/aws").is_dir(),
        "{} holds no registry.terraform.io/hashicorp/aws: run scripts/setup-test-deps",
        mirror.display()
    );
    mirror
}

/// Writes a Terraform CLI config of the tests' own into `dir`: providers
/// from the plugin mirror only, a plugin cache in `dir` (Terraform's cache
/// is not safe for concurrent inits; from an unpacked mirror it holds only
/// links). The user's CLI config (TF_CLI_CONFIG_FILE) is never read.
pub fn cli_config(dir: &Path) -> PathBuf {
    let mirror = plugin_mirror();
    let cache = dir.join("plugin-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let path = dir.join("terraformrc");
    std::fs::write(
        &path,
        format!(
            "plugin_cache_dir = {cache:?}\ndisable_checkpoint = true\n\
             provider_installation {{\n  filesystem_mirror {{\n    path    = {mirror:?}\n    include = [\"registry.terraform.io/hashicorp/aws\"]\n  }}\n  \
             direct {{\n    exclude = [\"registry.terraform.io/hashicorp/aws\"]\n  }}\n}}\n",
            cache = cache.display().to_string(),
            mirror = mirror.display().to_string(),
        ),
    )
    .unwrap();
    path
}

/// Copies infra/ into `dir`, so Terraform's working files stay out of the
/// repository.
pub fn copy_infra(dir: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &to.join(&name));
            } else if name.to_string_lossy().ends_with(".tf") {
                std::fs::copy(entry.path(), to.join(&name)).unwrap();
            }
        }
    }
    copy(&infra_dir(), dir);
}

/// A terraform run's exit status and output.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs terraform in `dir` with the tests' CLI config and `env`.
pub async fn terraform(dir: &Path, cli_config: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", cli_config)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("terraform runs (scripts/setup-test-deps checks that it is installed)");
    Run {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub use crate::venv_support::Moto;

impl Moto {
    /// moto with AWS's managed IAM policies loaded (the CodeDeploy role
    /// attaches AWSCodeDeployRoleForECS).
    pub async fn start() -> Moto {
        Moto::start_with(&[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")]).await
    }

    /// What moto still holds of the stack named `name`, by kind (empty when
    /// everything is gone), asked through boto3.
    pub async fn leftovers(&self, name: &str) -> Value {
        let script = r#"
import json, sys, boto3
endpoint, name = sys.argv[1], sys.argv[2]
c = lambda service: boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")
ec2 = c("ec2")
tagged = [{"Name": "tag:switchyard:stack", "Values": [name]}]
left = {
    "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tagged)["Vpcs"]],
    "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=tagged)["Subnets"]],
    "security_groups": [g["GroupId"] for g in ec2.describe_security_groups(Filters=tagged)["SecurityGroups"]],
    "nat_gateways": [n["NatGatewayId"] for n in ec2.describe_nat_gateways(Filter=tagged)["NatGateways"] if n["State"] not in ("deleted", "deleting")],
    "elastic_ips": [a["AllocationId"] for a in ec2.describe_addresses(Filters=tagged)["Addresses"]],
    "internet_gateways": [i["InternetGatewayId"] for i in ec2.describe_internet_gateways(Filters=tagged)["InternetGateways"]],
    "load_balancers": [l["LoadBalancerName"] for l in c("elbv2").describe_load_balancers()["LoadBalancers"] if l["LoadBalancerName"].startswith(name)],
    "target_groups": [t["TargetGroupName"] for t in c("elbv2").describe_target_groups()["TargetGroups"] if t["TargetGroupName"].startswith(name)],
    # A deleted cluster stays INACTIVE for a while, as on AWS.
    "ecs_clusters": [k["clusterName"] for k in c("ecs").describe_clusters(clusters=[name])["clusters"] if k["status"] == "ACTIVE"],
    "task_definitions": c("ecs").list_task_definitions(familyPrefix=name, status="ACTIVE")["taskDefinitionArns"],
    "ecr_repositories": [r["repositoryName"] for r in c("ecr").describe_repositories()["repositories"] if r["repositoryName"] == name],
    "log_groups": [g["logGroupName"] for g in c("logs").describe_log_groups(logGroupNamePrefix="/ecs/" + name)["logGroups"]],
    "alarms": [a["AlarmName"] for a in c("cloudwatch").describe_alarms(AlarmNamePrefix=name)["MetricAlarms"]],
    "iam_roles": [r["RoleName"] for r in c("iam").list_roles()["Roles"] if r["RoleName"].startswith(name + "-")],
    "s3_buckets": [b["Name"] for b in c("s3").list_buckets()["Buckets"] if b["Name"].startswith(name + "-")],
}
print(json.dumps({k: v for k, v in left.items() if v}))
"#;
        let output = Command::new(venv().join("bin").join("python"))
            .args(["-c", script, &self.endpoint, name])
            .envs(MOTO_CREDENTIALS.iter().copied())
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "the leftover check failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// What moto holds of the wiring ECS's own controller needs, asked
    /// through boto3: the service's controller and load balancers, each
    /// listener's rules by port, the infrastructure role's trust and
    /// policies, and the CodePipeline role's policy.
    pub async fn ecs_controller_wiring(&self, name: &str) -> Value {
        let script = r#"
import json, sys, boto3
endpoint, name = sys.argv[1], sys.argv[2]
c = lambda service: boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")
service = c("ecs").describe_services(cluster=name, services=[name])["services"][0]
elb = c("elbv2")
lb = elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]["LoadBalancerArn"]
rules = {
    str(listener["Port"]): elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    for listener in elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]
}
iam = c("iam")
infrastructure = name + "-ecs-infrastructure"
print(json.dumps({
    "deployment_controller": service["deploymentController"]["type"],
    "load_balancers": service["loadBalancers"],
    "rules": rules,
    "target_groups": {t["TargetGroupName"]: t["TargetGroupArn"] for t in elb.describe_target_groups()["TargetGroups"]},
    "infrastructure_trust": iam.get_role(RoleName=infrastructure)["Role"]["AssumeRolePolicyDocument"],
    "infrastructure_policies": [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=infrastructure)["AttachedPolicies"]],
    "codepipeline_policy": iam.get_role_policy(RoleName=name + "-codepipeline", PolicyName="run-stages")["PolicyDocument"],
}, default=str))
"#;
        let output = Command::new(venv().join("bin").join("python"))
            .args(["-c", script, &self.endpoint, name])
            .envs(MOTO_CREDENTIALS.iter().copied())
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "reading the ECS controller's wiring failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// How many of a kind of resource moto holds for the stack (to prove
    /// `leftovers` sees them while they exist).
    pub async fn count(&self, name: &str) -> usize {
        self.leftovers(name).await.as_object().map_or(0, |kinds| {
            kinds
                .values()
                .map(|v| v.as_array().map_or(0, Vec::len))
                .sum()
        })
    }
}
