//! AWS stacks with Terraform. Each stack has its own working directory under
//! the data dir (`terraform/stacks/<id>-<name>/`) holding its state, the
//! root module of `infra/` as this binary was built with it, the variables
//! generated from the environment and the stack's own extra variables.
//! Terraform's output is streamed to the stack's log line by line, with
//! secrets scrubbed; the outputs are read back with `terraform output`.
//!
//! Terraform runs with a CLI config of switchyard's own (`TF_CLI_CONFIG_FILE`
//! is always set for the child, so the user's config is neither read nor
//! written): a plugin cache under the data dir, and the plugin mirror when one
//! is configured.

use super::{Log, StackOutputs, resource_name};
use crate::domain::FieldError;
use crate::store::environments::EnvironmentRow;
use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, BufReader};

/// (path of a module file, its text) for `MODULE`.
macro_rules! module_file {
    ($module:literal, $file:literal) => {
        (
            concat!("modules/", $module, "/", $file),
            include_str!(concat!("../../infra/modules/", $module, "/", $file)),
        )
    };
}

/// `infra/` as this binary was built with it: (path in the module, text).
/// A unit test checks that this lists every `.tf` file of `infra/`.
pub const MODULE: &[(&str, &str)] = &[
    ("main.tf", include_str!("../../infra/main.tf")),
    ("outputs.tf", include_str!("../../infra/outputs.tf")),
    ("variables.tf", include_str!("../../infra/variables.tf")),
    ("versions.tf", include_str!("../../infra/versions.tf")),
    module_file!("app_infra", "main.tf"),
    module_file!("app_infra", "outputs.tf"),
    module_file!("app_infra", "variables.tf"),
    module_file!("app_infra", "versions.tf"),
    module_file!("ecs", "main.tf"),
    module_file!("ecs", "outputs.tf"),
    module_file!("ecs", "variables.tf"),
    module_file!("ecs", "versions.tf"),
    module_file!("networking", "main.tf"),
    module_file!("networking", "outputs.tf"),
    module_file!("networking", "variables.tf"),
    module_file!("networking", "versions.tf"),
    module_file!("pipeline", "main.tf"),
    module_file!("pipeline", "outputs.tf"),
    module_file!("pipeline", "variables.tf"),
    module_file!("pipeline", "versions.tf"),
    module_file!("security", "main.tf"),
    module_file!("security", "outputs.tf"),
    module_file!("security", "variables.tf"),
    module_file!("security", "versions.tf"),
];

/// How switchyard runs Terraform (the server's flags).
#[derive(Debug, Clone)]
pub struct TerraformConfig {
    /// The terraform binary; a bare name is looked up on PATH.
    pub binary: PathBuf,
    /// A filesystem mirror to install providers from instead of the registry
    /// (the folder holding `registry.terraform.io/...`).
    pub plugin_mirror: Option<PathBuf>,
    /// A JSON tfvars file every stack gets (its own variables override it).
    pub var_file: Option<PathBuf>,
}

impl Default for TerraformConfig {
    fn default() -> Self {
        TerraformConfig {
            binary: PathBuf::from("terraform"),
            plugin_mirror: None,
            var_file: None,
        }
    }
}

impl TerraformConfig {
    /// Checks the configuration once, at start: the mirror exists and holds
    /// providers, the variable file is a JSON object of declared variables.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(mirror) = &self.plugin_mirror {
            let providers = mirror_providers(mirror)?;
            if providers.is_empty() {
                bail!(
                    "the plugin mirror {} holds no providers (expected HOST/NAMESPACE/TYPE/... folders, e.g. registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64)",
                    mirror.display()
                );
            }
        }
        if let Some(file) = &self.var_file {
            let variables = read_var_file(file)?;
            check_variables(&variables, false)
                .map_err(|e| anyhow!("{}: {}: {}", file.display(), e.field, e.message))?;
        }
        Ok(())
    }
}

fn read_var_file(file: &Path) -> anyhow::Result<Map<String, Value>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the Terraform variable file {}", file.display()))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => bail!(
            "{} is not a JSON object of Terraform variables (a .tfvars.json file)",
            file.display()
        ),
    }
}

/// The providers a filesystem mirror holds, as `HOST/NAMESPACE/TYPE`.
fn mirror_providers(mirror: &Path) -> anyhow::Result<Vec<String>> {
    fn dirs(path: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                found.push((
                    entry.file_name().to_string_lossy().into_owned(),
                    entry.path(),
                ));
            }
        }
        found.sort();
        Ok(found)
    }
    let mut providers = Vec::new();
    for (host, host_dir) in dirs(mirror)
        .with_context(|| format!("cannot read the plugin mirror {}", mirror.display()))?
    {
        for (namespace, namespace_dir) in dirs(&host_dir)? {
            for (kind, _) in dirs(&namespace_dir)? {
                providers.push(format!("{host}/{namespace}/{kind}"));
            }
        }
    }
    Ok(providers)
}

/// A variable `infra/variables.tf` declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub name: String,
    pub sensitive: bool,
}

/// The root module's variables, read from its `variables.tf` (formatted by
/// `terraform fmt`, which the infra tests enforce).
pub fn declared_variables() -> &'static [Declared] {
    static DECLARED: LazyLock<Vec<Declared>> = LazyLock::new(|| {
        let text = MODULE
            .iter()
            .find(|(path, _)| *path == "variables.tf")
            .map_or("", |(_, text)| text);
        parse_declared(text)
    });
    &DECLARED
}

fn parse_declared(text: &str) -> Vec<Declared> {
    let mut declared = Vec::new();
    let mut current: Option<Declared> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("variable \"") {
            if let Some((name, _)) = rest.split_once('"') {
                current = Some(Declared {
                    name: name.to_owned(),
                    sensitive: false,
                });
            }
        } else if line == "}" {
            declared.extend(current.take());
        } else if let Some(variable) = current.as_mut() {
            let setting: Vec<&str> = line.split('=').map(str::trim).collect();
            if setting == ["sensitive", "true"] {
                variable.sensitive = true;
            }
        }
    }
    declared
}

/// Variables switchyard sets from the environment: (variable, where to set
/// it instead). A request's variables may not override them.
pub const FROM_ENVIRONMENT: &[(&str, &str)] = &[
    ("region", "the environment's region"),
    ("container_name", "the environment's container.name"),
    ("container_port", "the environment's container.port"),
    (
        "health_check_path",
        "the environment's container.health_check_path",
    ),
    ("desired_count", "the environment's container.desired_count"),
    (
        "deployment_config_name",
        "the environment's deployment_config",
    ),
    ("ready_wait_minutes", "the environment's ready_wait_minutes"),
    (
        "termination_wait_minutes",
        "the environment's termination_wait_minutes",
    ),
    ("auto_rollback", "the environment's auto_rollback"),
    ("aws_endpoint_url", "the server's --aws-endpoint-url"),
];

/// Checks extra variables: each must be declared by the module, and (for a
/// stack's own variables) not one that comes from the environment.
pub fn check_variables(
    variables: &Map<String, Value>,
    stack_variables: bool,
) -> Result<(), FieldError> {
    let prefix = if stack_variables { "variables." } else { "" };
    for name in variables.keys() {
        let field = |message: String| FieldError {
            field: format!("{prefix}{name}"),
            message,
        };
        if !declared_variables().iter().any(|d| &d.name == name) {
            return Err(field(format!(
                "infra/ declares no variable {name:?} (see infra/README.md for the variables)"
            )));
        }
        if stack_variables {
            if let Some((_, instead)) = FROM_ENVIRONMENT.iter().find(|(v, _)| v == name) {
                return Err(field(format!("{name} comes from {instead}; set it there")));
            }
        }
    }
    Ok(())
}

/// The stack's variables as a client may see them: sensitive values hidden.
pub fn redacted(variables: &Map<String, Value>) -> Map<String, Value> {
    variables
        .iter()
        .map(|(name, value)| {
            let sensitive = declared_variables()
                .iter()
                .any(|d| &d.name == name && d.sensitive);
            let shown = if sensitive {
                json!("(sensitive)")
            } else {
                value.clone()
            };
            (name.clone(), shown)
        })
        .collect()
}

/// The name every AWS resource of the stack starts with: the environment's
/// name, shortened with a hash to the module's 26 characters.
pub fn stack_name(environment: &str) -> String {
    let name = resource_name(environment, "", 26);
    let trimmed = name.trim_end_matches('-');
    if trimmed.len() >= 2 {
        trimmed.to_owned()
    } else {
        // e.g. "a-": too short once the trailing '-' goes; the hash keeps it unique.
        resource_name(&format!("{trimmed}-{}", "x".repeat(27)), "", 26)
    }
}

/// The variables switchyard derives from the environment.
pub fn environment_variables(env: &EnvironmentRow, endpoint: Option<&str>) -> Map<String, Value> {
    let mut vars = Map::new();
    vars.insert("name".into(), json!(stack_name(&env.name)));
    vars.insert(
        "region".into(),
        json!(env.region.as_deref().unwrap_or("us-east-1")),
    );
    vars.insert("tags".into(), json!({"switchyard:environment": env.name}));
    vars.insert("container_name".into(), json!(env.container_name));
    vars.insert("container_port".into(), json!(env.container_port));
    vars.insert("health_check_path".into(), json!(env.health_check_path));
    vars.insert("desired_count".into(), json!(env.desired_count));
    vars.insert(
        "deployment_config_name".into(),
        json!(env.deployment_config),
    );
    let ready_wait = if env.ready_action == "STOP_DEPLOYMENT" {
        env.ready_wait_minutes.unwrap_or(0)
    } else {
        0
    };
    vars.insert("ready_wait_minutes".into(), json!(ready_wait));
    vars.insert(
        "termination_wait_minutes".into(),
        json!(env.termination_wait_minutes),
    );
    vars.insert("auto_rollback".into(), json!(env.auto_rollback));
    if let Some(endpoint) = endpoint {
        vars.insert("aws_endpoint_url".into(), json!(endpoint));
    }
    vars
}

/// One stack's working directory.
#[derive(Debug, Clone)]
pub struct StackDir {
    dir: PathBuf,
}

/// Held while a Terraform operation (apply, destroy or plan) runs on a
/// stack: an exclusive `flock` on a file in its directory, released when
/// dropped (or when the process ends).
#[derive(Debug)]
pub struct StackLock {
    _locked: std::fs::File,
}

const STACK_VARIABLES: &str = "variables.tfvars.json";
const ENVIRONMENT_VARIABLES: &str = "switchyard.tfvars.json";
const PLAN_VARIABLES: &str = "plan-variables.tfvars.json";
const PLAN_FILE: &str = "switchyard.tfplan";

impl StackDir {
    pub fn new(data_dir: &Path, env: &EnvironmentRow) -> StackDir {
        StackDir {
            dir: data_dir
                .join("terraform")
                .join("stacks")
                .join(format!("{}-{}", env.id, env.name)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Takes the stack's lock, or None when another operation holds it.
    pub fn try_lock(&self) -> anyhow::Result<Option<StackLock>> {
        use std::os::unix::io::AsRawFd;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".switchyard.lock"))?;
        // SAFETY: flock on a descriptor this function owns.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked == 0 {
            return Ok(Some(StackLock { _locked: file }));
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(error.into())
        }
    }

    /// The stack's own variables (the last provisioning request's).
    pub fn variables(&self) -> Map<String, Value> {
        std::fs::read_to_string(self.dir.join(STACK_VARIABLES))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    fn write_json(&self, file: &str, value: &Map<String, Value>) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(file);
        write_private(&path, serde_json::to_string_pretty(value)?.as_bytes())?;
        Ok(path)
    }

    /// Rewrites the module, so the stack always runs this build's `infra/`;
    /// what Terraform keeps (state, `.terraform/`, the lock file) stays.
    fn write_module(&self) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tf") || name.ends_with(".tf.json") {
                std::fs::remove_file(entry.path())?;
            }
        }
        let modules = self.dir.join("modules");
        if modules.exists() {
            std::fs::remove_dir_all(&modules)?;
        }
        for (path, text) in MODULE {
            let file = self.dir.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(file, text)?;
        }
        Ok(())
    }
}

/// Writes a file only its owner can read: variable files may hold secrets.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // A name of its own, so concurrent writers never share the temp file.
    let tmp = path.with_extension(format!("tmp-{}", crate::domain::ids::random_hex(8)));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Replaces secrets in text with `[redacted]`.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    /// Values shorter than this are not treated as secrets: scrubbing them
    /// would blank out ordinary words and numbers all over the log.
    const MIN_SECRET_LEN: usize = 4;

    pub fn add(&mut self, secret: &str) {
        if secret.len() >= Self::MIN_SECRET_LEN && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_owned());
            // Longest first, so a secret containing another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Every string (and number) inside a variable's value.
    pub fn add_value(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.add(s),
            Value::Number(n) => self.add(&n.to_string()),
            Value::Array(items) => items.iter().for_each(|v| self.add_value(v)),
            Value::Object(map) => map.values().for_each(|v| self.add_value(v)),
            Value::Bool(_) | Value::Null => {}
        }
    }

    /// The AWS credentials in this process's environment.
    pub fn add_aws_environment(&mut self) {
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
        ] {
            if let Ok(value) = std::env::var(name) {
                self.add(&value);
            }
        }
    }

    /// The values of the sensitive variables among these.
    pub fn add_sensitive_variables(&mut self, variables: &Map<String, Value>) {
        for (name, value) in variables {
            if declared_variables()
                .iter()
                .any(|d| &d.name == name && d.sensitive)
            {
                self.add_value(value);
            }
        }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[redacted]");
            }
        }
        text
    }
}

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
fn error_diagnostics(lines: &[String]) -> Vec<String> {
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

async fn plan_in(
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
fn resource_changes(plan: &Value) -> Vec<ResourceChange> {
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

/// Collects log lines in memory (a plan answers them instead of storing).
#[derive(Debug, Default)]
struct Collect(Vec<String>);

impl Log for Collect {
    async fn line(&mut self, line: String) {
        self.0.push(line);
    }
}

/// Terraform's plugin cache is not safe for concurrent installs, so the
/// inits of different stacks take turns (they are short once it is warm).
static INIT_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs terraform commands in one stack's directory.
struct Runner<'a> {
    target: &'a Target<'a>,
    stack: &'a StackDir,
    cli_config: PathBuf,
    var_files: Vec<PathBuf>,
    scrubber: Scrubber,
}

impl<'a> Runner<'a> {
    /// Writes the module, the environment's variables and the CLI config.
    fn prepare(
        target: &'a Target<'a>,
        stack: &'a StackDir,
        variables_file: &str,
    ) -> anyhow::Result<Runner<'a>> {
        std::fs::create_dir_all(stack.path())?;
        stack.write_module()?;
        let mut scrubber = Scrubber::default();
        scrubber.add_aws_environment();
        let mut var_files = Vec::new();
        if let Some(file) = &target.config.var_file {
            scrubber.add_sensitive_variables(&read_var_file(file)?);
            var_files.push(file.clone());
        }
        var_files.push(stack.write_json(
            ENVIRONMENT_VARIABLES,
            &environment_variables(target.env, target.endpoint_url),
        )?);
        let own = stack.path().join(variables_file);
        if own.exists() {
            let text = std::fs::read_to_string(&own)?;
            let variables: Map<String, Value> = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a JSON object", own.display()))?;
            scrubber.add_sensitive_variables(&variables);
            var_files.push(own);
        }
        let cli_config = write_cli_config(target.data_dir, target.config)?;
        Ok(Runner {
            target,
            stack,
            cli_config,
            var_files,
            scrubber,
        })
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.target.config.binary);
        command
            .args(args)
            .current_dir(self.stack.path())
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        // Debug logging would print requests into the stack's log; extra
        // CLI arguments would change what the commands do.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("TF_LOG") || name.starts_with("TF_CLI_ARGS") {
                command.env_remove(name.as_ref());
            }
        }
        command.env_remove("TF_DATA_DIR").env_remove("TF_WORKSPACE");
        let env = self.target.env;
        if let Some(region) = &env.region {
            command
                .env("AWS_REGION", region)
                .env("AWS_DEFAULT_REGION", region);
        }
        if let Some(profile) = &env.aws_profile {
            // The environment's profile wins over keys in the server's environment.
            command
                .env("AWS_PROFILE", profile)
                .env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY")
                .env_remove("AWS_SESSION_TOKEN");
        }
        command
    }

    /// The arguments, then a `-var-file` for each variable file in order:
    /// the server's, the environment's, the stack's own (later ones win).
    fn with_var_files(&self, args: &[&str]) -> Vec<String> {
        args.iter()
            .map(|a| (*a).to_owned())
            .chain(
                self.var_files
                    .iter()
                    .map(|f| format!("-var-file={}", f.display())),
            )
            .collect()
    }

    /// Runs one command, streaming its output to `log`; answers the plan's
    /// change summary when there was one.
    async fn terraform(
        &mut self,
        what: &str,
        args: &[&str],
        log: &mut impl Log,
    ) -> anyhow::Result<Option<Value>> {
        // A saved plan carries its variables; init takes none.
        let args: Vec<String> = if matches!(what, "plan" | "destroy") {
            self.with_var_files(args)
        } else {
            args.iter().map(|a| (*a).to_owned()).collect()
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _turn = if what == "init" {
            Some(INIT_TURN.lock().await)
        } else {
            None
        };
        log.line(format!("$ terraform {}", args.join(" "))).await;
        let started = Instant::now();
        let mut child = self
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(&self.target.config.binary, e))?;
        let (sender, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stdout = child.stdout.take().context("stdout is piped")?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let forward = |stream: Box<dyn tokio::io::AsyncRead + Send + Unpin>| {
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            })
        };
        let out_task = forward(Box::new(stdout));
        let err_task = forward(Box::new(stderr));
        drop(sender);
        let mut summary = None;
        // Whatever arrived meanwhile goes to the log in one write.
        while let Some(first) = lines.recv().await {
            let mut batch = Vec::new();
            let mut next = Some(first);
            while let Some(raw) = next {
                for line in ui_lines(&raw, &mut summary) {
                    batch.push(self.scrubber.scrub(&line));
                }
                next = lines.try_recv().ok();
            }
            if !batch.is_empty() {
                log.lines(batch).await;
            }
        }
        let _ = tokio::join!(out_task, err_task);
        let status = child.wait().await?;
        let took = started.elapsed();
        if !status.success() {
            log.line(format!(
                "terraform {what} failed ({status}) after {:.3} s",
                took.as_secs_f64()
            ))
            .await;
            bail!("terraform {what} failed; its errors are in the stack's log");
        }
        log.line(format!(
            "terraform {what} finished in {:.3} s",
            took.as_secs_f64()
        ))
        .await;
        Ok(summary)
    }

    /// Runs one command and answers its stdout (machine-readable output,
    /// not for the log); the log gets how long it took.
    async fn capture(&self, args: &[&str], log: &mut impl Log) -> anyhow::Result<String> {
        let started = Instant::now();
        let output = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|e| spawn_error(&self.target.config.binary, e))?;
        if !output.status.success() {
            bail!(
                "terraform {} failed: {}",
                args.first().copied().unwrap_or_default(),
                self.scrubber
                    .scrub(String::from_utf8_lossy(&output.stderr).trim())
            );
        }
        log.line(format!(
            "terraform {} finished in {:.3} s",
            args.first().copied().unwrap_or_default(),
            started.elapsed().as_secs_f64()
        ))
        .await;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    async fn state_list(&self, log: &mut impl Log) -> anyhow::Result<Vec<String>> {
        if !self.stack.path().join("terraform.tfstate").exists() {
            return Ok(Vec::new());
        }
        let listed = self.capture(&["state", "list"], log).await?;
        Ok(listed.lines().map(str::to_owned).collect())
    }

    /// Reads the outputs and maps them onto what the environment drives.
    async fn outputs(&self, log: &mut impl Log) -> anyhow::Result<Provisioned> {
        let text = self.capture(&["output", "-json", "-no-color"], log).await?;
        let all: Map<String, Value> = serde_json::from_str(&text)
            .context("terraform output -json answered no JSON object")?;
        let provisioned = map_outputs(&all);
        log.line(format!(
            "ready: production {} test {}",
            provisioned.outputs.prod_url, provisioned.outputs.test_url
        ))
        .await;
        Ok(provisioned)
    }
}

fn spawn_error(binary: &Path, error: std::io::Error) -> anyhow::Error {
    if error.kind() == std::io::ErrorKind::NotFound {
        anyhow!(
            "cannot run {}: not found; install Terraform 1.5 or newer or point --terraform at it",
            binary.display()
        )
    } else {
        anyhow!("cannot run {}: {error}", binary.display())
    }
}

/// `terraform output -json` → the stack's outputs. Outputs a variable
/// turned off are null and leave their reference empty.
fn map_outputs(all: &Map<String, Value>) -> Provisioned {
    let text = |name: &str| -> String {
        all.get(name)
            .filter(|o| o["sensitive"] != json!(true))
            .and_then(|o| o["value"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let target_groups = all
        .get("target_group_names")
        .and_then(|o| o["value"].as_array())
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let outputs = StackOutputs {
        prod_url: text("prod_url"),
        test_url: text("test_url"),
        cluster: text("cluster_name"),
        service: text("service_name"),
        codedeploy_application: text("codedeploy_application_name"),
        deployment_group: text("codedeploy_deployment_group_name"),
        prod_listener_arn: text("prod_listener_arn"),
        test_listener_arn: text("test_listener_arn"),
        target_groups,
        task_definition_family: text("task_definition_family"),
        repository_uri: text("ecr_repository_url"),
        pipeline: text("pipeline_name"),
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

/// One line of Terraform's machine-readable UI (`-json`) as log lines;
/// anything else passes as it is. Remembers the plan's change summary.
fn ui_lines(raw: &str, summary: &mut Option<Value>) -> Vec<String> {
    let Ok(message) = serde_json::from_str::<Value>(raw) else {
        return vec![raw.to_owned()];
    };
    let Some(kind) = message["type"].as_str() else {
        return vec![raw.to_owned()];
    };
    let text = message["@message"].as_str().unwrap_or_default();
    match kind {
        "diagnostic" => {
            let d = &message["diagnostic"];
            let severity = match d["severity"].as_str() {
                Some("error") => "Error",
                _ => "Warning",
            };
            let mut lines = vec![format!(
                "{severity}: {}",
                d["summary"].as_str().unwrap_or(text)
            )];
            if let Some(file) = d["range"]["filename"].as_str() {
                lines.push(format!(
                    "  on {file} line {}",
                    d["range"]["start"]["line"].as_u64().unwrap_or(0)
                ));
            }
            if let Some(address) = d["address"].as_str() {
                lines.push(format!("  with {address}"));
            }
            for detail in d["detail"].as_str().unwrap_or_default().lines() {
                if !detail.trim().is_empty() {
                    lines.push(format!("  {detail}"));
                }
            }
            lines
        }
        "change_summary" => {
            *summary = Some(message["changes"].clone());
            vec![text.to_owned()]
        }
        _ if text.is_empty() => Vec::new(),
        _ => vec![text.to_owned()],
    }
}

/// Writes switchyard's Terraform CLI config (data dir/terraform/terraformrc)
/// and answers its path. The user's own CLI config is never touched.
pub fn write_cli_config(data_dir: &Path, config: &TerraformConfig) -> anyhow::Result<PathBuf> {
    let dir = data_dir.join("terraform");
    let cache = dir.join("plugin-cache");
    std::fs::create_dir_all(&cache)?;
    let mut text = String::from(
        "# Written by switchyard for its own Terraform runs (TF_CLI_CONFIG_FILE); rewritten every run.\n",
    );
    text.push_str(&format!("plugin_cache_dir   = {}\n", hcl_string(&cache)));
    text.push_str("disable_checkpoint = true\n");
    if let Some(mirror) = &config.plugin_mirror {
        let providers = mirror_providers(mirror)?;
        let list = providers
            .iter()
            .map(|p| hcl_string(Path::new(p)))
            .collect::<Vec<_>>()
            .join(", ");
        text.push_str(&format!(
            "\nprovider_installation {{\n  filesystem_mirror {{\n    path    = {}\n    include = [{list}]\n  }}\n  direct {{\n    exclude = [{list}]\n  }}\n}}\n",
            hcl_string(mirror)
        ));
    }
    let path = dir.join("terraformrc");
    write_private(&path, text.as_bytes())?;
    Ok(path)
}

/// A quoted HCL string: JSON escapes, and no template sequences.
fn hcl_string(path: &Path) -> String {
    let quoted = serde_json::to_string(&path.to_string_lossy()).unwrap_or_default();
    quoted.replace("${", "$${").replace("%{", "%%{")
}

/// How long Terraform itself took, summed from a stack log's
/// "terraform ... finished in N s" lines (the benchmark reads these).
pub fn terraform_seconds(log: &str) -> Vec<(String, f64)> {
    log.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("terraform ")?;
            let (what, rest) = rest.split_once(' ')?;
            let seconds = rest
                .strip_prefix("finished in ")
                .or_else(|| rest.split_once(" after ").map(|(_, s)| s))?
                .strip_suffix(" s")?;
            Some((what.to_owned(), seconds.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_module_is_all_of_infra() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra");
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

    #[test]
    fn the_cli_config_uses_the_mirror_and_a_cache_of_our_own() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = dir.path().join("mirror");
        std::fs::create_dir_all(
            mirror.join("registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64"),
        )
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
}
