//! The release policy of an environment from the command line: the flags
//! `env create` and `env update` share, `env update` itself, and `env
//! migrate`.

use super::client::{ApiClient, CliError, segment};
use super::output::Output;
use clap::Args;
use std::path::{Path, PathBuf};
use switchyard_api::environments::{
    AlarmsSpec, CanarySpec, EcsDeploymentSpec, Environment, FreezeWindowSpec, GateSpec, LinearSpec,
    MetricGateSpec, MigrateEnvironment,
};
use switchyard_api::release_policies::{ApprovalPolicyBody, ChangeEnvironment, Source};

/// What an environment follows and who must approve its releases.
#[derive(Debug, Args)]
pub(super) struct PolicyArgs {
    /// The git repository to follow: a URL git can fetch, or a path on the
    /// server's host (with --branch).
    #[arg(long, requires = "branch")]
    source_repo: Option<String>,
    /// The branch of --source-repo whose pushes start the pipeline.
    #[arg(long, requires = "source_repo")]
    branch: Option<String>,
    /// Read the webhook secret from this file (an argument would show in
    /// `ps` and the shell history).
    #[arg(long)]
    webhook_secret_file: Option<PathBuf>,
    /// Approvals a release needs before it is deployed (0 to 20; 0 lets
    /// releases through without a vote).
    #[arg(long)]
    approvals: Option<i64>,
    /// Let a release's author approve it too (with --approvals).
    #[arg(long, requires = "approvals")]
    allow_self_approval: bool,
}

/// The policy settings given, in the API's shape; `None` where not given.
pub(super) struct Policy {
    pub source: Option<Source>,
    pub webhook_secret: Option<String>,
    pub approval_policy: Option<ApprovalPolicyBody>,
}

impl PolicyArgs {
    pub(super) fn policy(&self) -> Result<Policy, CliError> {
        Ok(Policy {
            source: match (&self.source_repo, &self.branch) {
                (Some(repo), Some(branch)) => Some(Source {
                    repo: repo.clone(),
                    branch: branch.clone(),
                }),
                _ => None,
            },
            webhook_secret: self
                .webhook_secret_file
                .as_deref()
                .map(read_secret)
                .transpose()?,
            approval_policy: self.approvals.map(|required| ApprovalPolicyBody {
                required,
                allow_self_approval: self.allow_self_approval,
            }),
        })
    }
}

/// Which controller deploys an environment, and how ECS's own controller
/// shifts its traffic.
#[derive(Debug, Args)]
pub(super) struct DeploymentArgs {
    /// codedeploy (the default) or ecs: which controller shifts traffic.
    #[arg(long)]
    controller: Option<String>,
    #[command(flatten)]
    ecs: EcsArgs,
    #[command(flatten)]
    alarms: AlarmArgs,
    #[command(flatten)]
    metric_gate: MetricGateArgs,
    /// The freeze windows, replacing all: a JSON list, or @FILE holding
    /// one, e.g. '[{"kind":"weekly","time_zone":"Europe/Berlin",
    /// "from":"Fri 16:00","to":"Mon 08:00","reason":"weekend"}]'
    /// ('[]' removes them).
    #[arg(long, value_name = "JSON|@FILE")]
    freeze_json: Option<String>,
}

impl DeploymentArgs {
    pub(super) fn controller(&self) -> Option<String> {
        self.controller.clone()
    }

    /// The alarm settings given, if any.
    pub(super) fn alarms(&self) -> Result<Option<AlarmsSpec>, CliError> {
        self.alarms.spec()
    }

    /// The metric gate settings given, if any.
    pub(super) fn metric_gate(&self) -> Result<Option<MetricGateSpec>, CliError> {
        self.metric_gate.spec()
    }

    pub(super) fn sets_ecs_deployment(&self) -> bool {
        self.ecs.sets_ecs_deployment()
    }

    /// The freeze windows given, if any (the server checks each window).
    pub(super) fn freeze_windows(&self) -> Result<Option<Vec<FreezeWindowSpec>>, CliError> {
        let Some(given) = &self.freeze_json else {
            return Ok(None);
        };
        let text = match given.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!("cannot read the --freeze-json file {path}: {e}"))
            })?,
            None => given.clone(),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            CliError::Usage(format!(
                "--freeze-json is not a list of freeze windows (kind, mode, time_zone, from, \
                 to, reason): {e}"
            ))
        })
    }

    pub(super) fn ecs_deployment(
        &self,
        spec: EcsDeploymentSpec,
    ) -> Result<EcsDeploymentSpec, CliError> {
        self.ecs.ecs_deployment(spec)
    }
}

/// The CloudWatch alarms that stop and roll back a deployment.
#[derive(Debug, Args)]
pub(super) struct AlarmArgs {
    /// on or off: whether the stack has the alarms and deployments stop on them.
    #[arg(long, value_name = "on|off")]
    alarms: Option<String>,
    /// Target 5xx answers in one minute that fire ENV-target-5xx.
    #[arg(long)]
    alarm_5xx_threshold: Option<i64>,
    /// Unhealthy targets, two minutes running, that fire TG-unhealthy-hosts.
    #[arg(long)]
    alarm_unhealthy_hosts_threshold: Option<i64>,
}

impl AlarmArgs {
    fn spec(&self) -> Result<Option<AlarmsSpec>, CliError> {
        let spec = AlarmsSpec {
            enabled: on_off("--alarms", self.alarms.as_deref())?,
            target_5xx_threshold: self.alarm_5xx_threshold,
            unhealthy_hosts_threshold: self.alarm_unhealthy_hosts_threshold,
        };
        Ok((spec != AlarmsSpec::default()).then_some(spec))
    }
}

/// The metric gate that judges green against blue while a deployment is held.
#[derive(Debug, Args)]
pub(super) struct MetricGateArgs {
    /// on or off: whether green is judged against blue at the deployments'
    /// holds (a ready wait with STOP_DEPLOYMENT, or an ECS --gate at
    /// POST_TEST_TRAFFIC_SHIFT or PRE_PRODUCTION_TRAFFIC_SHIFT).
    #[arg(long, value_name = "on|off")]
    metric_gate: Option<String>,
    /// Percentage points green's 5xx rate may exceed blue's by.
    #[arg(long, value_name = "PP")]
    metric_gate_max_5xx_increase: Option<f64>,
    /// Times blue's p99 latency green's may reach.
    #[arg(long, value_name = "RATIO")]
    metric_gate_max_p99_ratio: Option<f64>,
    /// Minutes of the hold judged, in whole periods from its start.
    #[arg(long, value_name = "MINUTES")]
    metric_gate_window: Option<i64>,
    /// Requests each side must serve in the window to be judged.
    #[arg(long, value_name = "N")]
    metric_gate_min_requests: Option<i64>,
}

impl MetricGateArgs {
    fn spec(&self) -> Result<Option<MetricGateSpec>, CliError> {
        let spec = MetricGateSpec {
            enabled: on_off("--metric-gate", self.metric_gate.as_deref())?,
            max_5xx_increase_pp: self.metric_gate_max_5xx_increase,
            max_p99_ratio: self.metric_gate_max_p99_ratio,
            window_minutes: self.metric_gate_window,
            min_requests: self.metric_gate_min_requests,
        };
        Ok((spec != MetricGateSpec::default()).then_some(spec))
    }
}

/// An `on|off` flag's value.
fn on_off(flag: &str, value: Option<&str>) -> Result<Option<bool>, CliError> {
    match value {
        None => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(other) => Err(CliError::Usage(format!(
            "{flag} takes on or off, not {other:?}"
        ))),
    }
}

/// How ECS's own controller shifts an environment's traffic.
#[derive(Debug, Args)]
pub(super) struct EcsArgs {
    /// ECS controller: BLUE_GREEN, LINEAR or CANARY.
    #[arg(long)]
    strategy: Option<String>,
    /// LINEAR: the share of production traffic each step adds (3 to 100).
    #[arg(long)]
    step_percent: Option<f64>,
    /// LINEAR: minutes between steps.
    #[arg(long)]
    step_bake_minutes: Option<i64>,
    /// CANARY: the share of production traffic the canary takes first.
    #[arg(long)]
    canary_percent: Option<f64>,
    /// CANARY: minutes before the rest follows.
    #[arg(long)]
    canary_bake_minutes: Option<i64>,
    /// ECS controller: minutes both revisions keep running after the shift.
    #[arg(long)]
    bake_minutes: Option<i64>,
    /// ECS controller: hold each deployment at STAGE until the release is
    /// approved (PRE_PRODUCTION_TRAFFIC_SHIFT, ...), deciding ACTION
    /// (ROLLBACK or CONTINUE) after MINUTES; repeat for more stages.
    #[arg(long, value_name = "STAGE[:MINUTES[:ACTION]]")]
    gate: Vec<String>,
    /// ECS controller: hold deployments nowhere.
    #[arg(long, conflicts_with = "gate")]
    no_gates: bool,
}

impl EcsArgs {
    /// Whether any of the ECS controller's settings is given.
    pub(super) fn sets_ecs_deployment(&self) -> bool {
        self.strategy.is_some()
            || self.step_percent.is_some()
            || self.step_bake_minutes.is_some()
            || self.canary_percent.is_some()
            || self.canary_bake_minutes.is_some()
            || self.bake_minutes.is_some()
            || !self.gate.is_empty()
            || self.no_gates
    }

    /// The settings given, on top of `spec` (an environment's current ones
    /// when it is updated, so a flag changes only what it names).
    pub(super) fn ecs_deployment(
        &self,
        mut spec: EcsDeploymentSpec,
    ) -> Result<EcsDeploymentSpec, CliError> {
        if let Some(strategy) = &self.strategy {
            // The parts of another strategy would be refused with it.
            if spec.strategy.as_ref() != Some(strategy) {
                spec.linear = None;
                spec.canary = None;
            }
            spec.strategy = Some(strategy.clone());
        }
        if self.step_percent.is_some() || self.step_bake_minutes.is_some() {
            let linear = spec.linear.get_or_insert_with(LinearSpec::default);
            linear.step_percent = self.step_percent.or(linear.step_percent);
            linear.step_bake_minutes = self.step_bake_minutes.or(linear.step_bake_minutes);
        }
        if self.canary_percent.is_some() || self.canary_bake_minutes.is_some() {
            let canary = spec.canary.get_or_insert_with(CanarySpec::default);
            canary.percent = self.canary_percent.or(canary.percent);
            canary.bake_minutes = self.canary_bake_minutes.or(canary.bake_minutes);
        }
        if let Some(minutes) = self.bake_minutes {
            spec.bake_time_minutes = Some(minutes);
        }
        if self.no_gates {
            spec.gates = Some(Vec::new());
        } else if !self.gate.is_empty() {
            spec.gates = Some(
                self.gate
                    .iter()
                    .map(|g| parse_gate(g))
                    .collect::<Result<_, _>>()?,
            );
        }
        Ok(spec)
    }
}

/// `STAGE[:MINUTES[:ACTION]]`; the server checks the names and limits.
fn parse_gate(text: &str) -> Result<GateSpec, CliError> {
    let mut parts = text.split(':');
    let stage = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
    let timeout_minutes = parts
        .next()
        .map(|m| {
            m.parse::<i64>().map_err(|_| {
                CliError::Usage(format!(
                    "--gate {text}: {m:?} is not a number of minutes (STAGE[:MINUTES[:ACTION]])"
                ))
            })
        })
        .transpose()?;
    let timeout_action = parts.next().map(str::to_owned);
    if parts.next().is_some() {
        return Err(CliError::Usage(format!(
            "--gate {text}: expected STAGE[:MINUTES[:ACTION]]"
        )));
    }
    Ok(GateSpec {
        stage,
        timeout_minutes,
        timeout_action,
    })
}

/// The file's text without the line break an editor or `echo` leaves at
/// its end.
fn read_secret(path: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Usage(format!(
            "cannot read the webhook secret file {}: {e}",
            path.display()
        ))
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

#[derive(Debug, Args)]
pub(super) struct MigrateEnvArgs {
    name: String,
    /// The controller to move to: ecs.
    #[arg(long)]
    to: String,
    #[command(flatten)]
    ecs: EcsArgs,
}

/// `switchyard env migrate NAME --to ecs ...`: moves a local environment to
/// ECS's own controller with the settings given (ECS's defaults otherwise).
pub(super) async fn migrate(
    client: &ApiClient,
    out: Output,
    args: &MigrateEnvArgs,
) -> Result<(), CliError> {
    let body = MigrateEnvironment {
        to: args.to.clone(),
        ecs_deployment: args
            .ecs
            .sets_ecs_deployment()
            .then(|| args.ecs.ecs_deployment(EcsDeploymentSpec::default()))
            .transpose()?,
    };
    let path = format!("/api/environments/{}/migrate", segment(&args.name));
    let moved: Environment = client.post(&path, &body).await?;
    out.print_environment(&moved)
}

#[derive(Debug, Args)]
pub(super) struct UpdateEnvArgs {
    name: String,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    deployment: DeploymentArgs,
    /// Stop following a repository (pushes no longer start anything).
    #[arg(long, conflicts_with_all = ["source_repo", "branch"])]
    no_source: bool,
    /// Remove the webhook secret (webhooks are then refused).
    #[arg(long, conflicts_with = "webhook_secret_file")]
    no_webhook_secret: bool,
}

/// `switchyard env update NAME ...`: changes only what is given.
pub(super) async fn update(
    client: &ApiClient,
    out: Output,
    args: &UpdateEnvArgs,
) -> Result<(), CliError> {
    let policy = args.policy.policy()?;
    // `Some(None)` clears; `None` leaves as is.
    let mut body = ChangeEnvironment {
        source: if args.no_source {
            Some(None)
        } else {
            policy.source.map(Some)
        },
        webhook_secret: if args.no_webhook_secret {
            Some(None)
        } else {
            policy.webhook_secret.map(Some)
        },
        approval_policy: policy.approval_policy,
        notifications: None,
        controller: args.deployment.controller(),
        ecs_deployment: None,
        alarms: args.deployment.alarms()?,
        metric_gate: args.deployment.metric_gate()?,
        freeze_windows: args.deployment.freeze_windows()?,
    };
    let path = format!("/api/environments/{}", segment(&args.name));
    if args.deployment.sets_ecs_deployment() {
        let current: Environment = client.get(&path).await?;
        let spec = current.ecs_deployment.unwrap_or_default();
        body.ecs_deployment = Some(args.deployment.ecs_deployment(spec)?);
    }
    if body.source.is_none()
        && body.webhook_secret.is_none()
        && body.approval_policy.is_none()
        && body.controller.is_none()
        && body.ecs_deployment.is_none()
        && body.alarms.is_none()
        && body.metric_gate.is_none()
        && body.freeze_windows.is_none()
    {
        return Err(CliError::Usage(
            "nothing to change: give --source-repo and --branch, --webhook-secret-file, \
             --approvals, --no-source, --no-webhook-secret, --controller, an ECS \
             deployment setting (--strategy, --step-percent, --gate, ...), an alarm \
             setting (--alarms, --alarm-5xx-threshold, ...), a metric gate setting \
             (--metric-gate, --metric-gate-max-p99-ratio, ...) or --freeze-json"
                .into(),
        ));
    }
    let changed: Environment = client.patch(&path, &body).await?;
    out.print_environment(&changed)
}
