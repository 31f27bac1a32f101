//! Drives ECS-native service deployments (BLUE_GREEN, LINEAR, CANARY)
//! through their lifecycle stages. One driver serves every deployment: each
//! pass recomputes, from the stored deployment and its timestamps, what
//! should be true now, then sleeps until the earliest moment one of them has
//! something to do (a traffic step, the end of a bake, a hook's timeout) or
//! until an operation wakes it. A deployment waiting in bake time costs
//! nothing until its bake ends; a restarted local cloud resumes mid-stage.

use super::config::{DeploymentLifecycleHookAction, DeploymentLifecycleHookTargetType};
use super::model::{
    AlarmsStatus, DeploymentLifecycleHookStatus, LifecycleHookExecution, Rollback,
    ServiceDeployment, ServiceDeploymentRollbackMonitorsStatus, ServiceDeploymentStatus,
    new_hook_id,
};
use super::schedule::{LifecycleStage, TrafficShift, bake_time, lifecycle_stages};
use crate::cloudwatch::model::StateValue;
use crate::ecs::{computed_desired_count, new_task_set};
use crate::state::{CloudState, Service, TaskSetStatus};
use crate::traffic::{LocalLoadBalancers, TrafficRouter, Weights, split_tenths};
use crate::{LocalCloud, functions, now_millis};
use std::sync::Arc;
use std::time::Duration;

/// How soon to look again while waiting on something without a known time
/// (tasks becoming healthy, a listener taking its weights, a hook's report).
const POLL_MS: i64 = 50;
/// How long the driver sleeps with nothing to do before it looks anyway.
const IDLE_MS: i64 = 60_000;
/// How long the target revision's tasks may take to become healthy...
const SCALE_UP_TIMEOUT_MINUTES: f64 = 10.0;
/// ... but never less than this in real time: processes need to start.
const SCALE_UP_TIMEOUT_FLOOR_MS: i64 = 20_000;

pub async fn run(cloud: Arc<LocalCloud>) {
    loop {
        let (launches, next) = pass(&cloud);
        for launch in launches {
            tokio::spawn(invoke_hook(cloud.clone(), launch));
        }
        let wait = next
            .map_or(IDLE_MS, |at| at - now_millis())
            .clamp(0, IDLE_MS);
        tokio::select! {
            () = cloud.native_wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
        }
    }
}

/// One pass over every unfinished deployment: the Lambda hooks to invoke
/// and when to look next.
fn pass(cloud: &LocalCloud) -> (Vec<HookLaunch>, Option<i64>) {
    let mut state = cloud.lock();
    let mut step = Step {
        cloud,
        now: now_millis(),
        touched: false,
        launches: Vec::new(),
        next: None,
    };
    let unfinished: Vec<String> = state
        .service_deployments
        .values()
        .filter(|d| !d.is_finished())
        .map(|d| d.arn.clone())
        .collect();
    for arn in unfinished {
        let before = state.service_deployments[&arn].clone();
        let mut d = before.clone();
        advance(&mut step, &mut state, &mut d);
        if d != before {
            d.updated_at = step.now;
            step.touched = true;
        }
        state.service_deployments.insert(arn, d);
    }
    if step.touched {
        // Listeners first, so a step lands on time; the state file follows
        // (after a crash in between, the engine recomputes the same step).
        cloud.runtime.sync(&state);
        if let Err(e) = cloud.file.save(&state) {
            tracing::error!(error = %e, "cannot save the local cloud's state");
        }
    }
    (step.launches, step.next)
}

struct HookLaunch {
    deployment: String,
    hook_id: String,
    function: String,
    stage: LifecycleStage,
}

/// What one pass works with besides the deployment and the cloud's state.
struct Step<'a> {
    cloud: &'a LocalCloud,
    now: i64,
    touched: bool,
    launches: Vec<HookLaunch>,
    /// The earliest moment (epoch millis) a deployment wants a pass.
    next: Option<i64>,
}

impl Step<'_> {
    fn wake_at(&mut self, at: i64) {
        self.next = Some(self.next.map_or(at, |next| next.min(at)));
    }

    fn poll(&mut self) {
        self.wake_at(self.now + POLL_MS);
    }

    /// The real moment `cloud` (cloud time) after `since`.
    fn after(&self, since: i64, cloud: Duration) -> i64 {
        since
            + self
                .cloud
                .clock
                .minutes_to_real_millis(cloud.as_secs_f64() / 60.0)
    }

    fn traffic<'s>(&'s self, s: &'s mut CloudState) -> LocalLoadBalancers<'s> {
        LocalLoadBalancers {
            records: &mut s.load_balancers,
            runtime: &self.cloud.runtime,
        }
    }
}

/// The listeners and target groups a service's deployments shift between.
struct Routes {
    production: String,
    test: Option<String>,
    /// The target group the source revision serves.
    source: String,
    /// The one the target revision starts on.
    target: String,
}

fn routes(s: &CloudState, svc: &Service) -> Option<Routes> {
    let lb = svc.load_balancers.first()?;
    let advanced = lb.advanced_configuration.as_ref()?;
    let balancer = s.load_balancers.values().find(|b| {
        b.listener_of_rule(&advanced.production_listener_rule)
            .is_some()
    })?;
    let listener = |rule: &str| balancer.listener_of_rule(rule).map(|l| l.arn.clone());
    Some(Routes {
        production: listener(&advanced.production_listener_rule)?,
        test: advanced.test_listener_rule.as_deref().and_then(listener),
        source: lb.target_group_arn.clone(),
        target: advanced.alternate_target_group_arn.clone(),
    })
}

fn service_key(d: &ServiceDeployment) -> String {
    format!("{}/{}", d.cluster_name(), d.service_name())
}

fn advance(step: &mut Step, s: &mut CloudState, d: &mut ServiceDeployment) {
    let outcome = match d.status {
        ServiceDeploymentStatus::Pending | ServiceDeploymentStatus::InProgress => {
            watch_alarms(s, d).and_then(|()| deploy(step, s, d))
        }
        ServiceDeploymentStatus::RollbackRequested
        | ServiceDeploymentStatus::RollbackInProgress => Ok(()),
        _ => return,
    };
    if let Err(reason) = outcome {
        tracing::warn!(deployment = %d.arn, %reason, "rolling back the service deployment");
        request_rollback(step, d, reason);
    }
    if matches!(
        d.status,
        ServiceDeploymentStatus::RollbackRequested | ServiceDeploymentStatus::RollbackInProgress
    ) {
        roll_back(step, s, d);
    }
}

/// `deploymentConfiguration.alarms`: while enabled, an alarm in ALARM
/// fails the deployment, which rolls back. (A blue/green deployment of the
/// local cloud stops only by rolling back, so `rollback: false` does too;
/// the reason says so.) The deployment's `alarms` shows what is watched.
fn watch_alarms(s: &CloudState, d: &mut ServiceDeployment) -> Result<(), String> {
    let Some(config) = d.deployment_configuration.alarms.clone() else {
        return Ok(());
    };
    let watched = d.alarms.get_or_insert_with(|| AlarmsStatus {
        status: if config.enable {
            ServiceDeploymentRollbackMonitorsStatus::Monitoring
        } else {
            ServiceDeploymentRollbackMonitorsStatus::Disabled
        },
        alarm_names: config.alarm_names.clone(),
        triggered_alarm_names: Vec::new(),
    });
    if !config.enable {
        return Ok(());
    }
    let names = config.alarm_names.iter().map(String::as_str);
    let triggered: Vec<String> = crate::cloudwatch::alarm_states(s, names)
        .into_iter()
        .filter(|(_, state)| *state == Some(StateValue::Alarm))
        .map(|(name, _)| name.to_owned())
        .collect();
    if triggered.is_empty() {
        return Ok(());
    }
    watched.status = ServiceDeploymentRollbackMonitorsStatus::Triggered;
    watched.triggered_alarm_names = triggered.clone();
    let mut reason = format!(
        "CloudWatch alarms in ALARM: {}; the deployment failed",
        triggered.join(", ")
    );
    if !config.rollback {
        reason.push_str(
            " (alarms.rollback is false, but a blue/green deployment stops only by rolling back)",
        );
    }
    Err(reason)
}

fn request_rollback(step: &Step, d: &mut ServiceDeployment, reason: String) {
    d.status = ServiceDeploymentStatus::RollbackRequested;
    d.status_reason = Some(reason);
    d.stop_request.get_or_insert(super::model::StopRequest {
        stop_type: super::model::StopServiceDeploymentStopType::Rollback,
        reason: None,
        requested_at: step.now,
    });
}

/// Moves the deployment through as many stages as can finish now; `Err`
/// is why it must roll back.
fn deploy(step: &mut Step, s: &mut CloudState, d: &mut ServiceDeployment) -> Result<(), String> {
    let stages = lifecycle_stages(&d.deployment_configuration, false);
    if d.status == ServiceDeploymentStatus::Pending {
        d.status = ServiceDeploymentStatus::InProgress;
        d.started_at = Some(step.now);
        set_production_weights(d, 0.0);
        set_test_weights(d, 0.0);
        enter_stage(step, d, &stages, 0);
    }
    loop {
        let Some(&stage) = stages.get(d.stage_index) else {
            return Ok(());
        };
        if !run_stage(step, s, d, stage, &stages)? || !hooks_done(step, d, stage)? {
            return Ok(());
        }
        if d.stage_index + 1 == stages.len() {
            d.status = ServiceDeploymentStatus::Successful;
            d.finished_at = Some(step.now);
            if let Some(watched) = d
                .alarms
                .as_mut()
                .filter(|a| a.status == ServiceDeploymentRollbackMonitorsStatus::Monitoring)
            {
                watched.status = ServiceDeploymentRollbackMonitorsStatus::MonitoringComplete;
            }
            return Ok(());
        }
        enter_stage(step, d, &stages, d.stage_index + 1);
    }
}

fn enter_stage(step: &Step, d: &mut ServiceDeployment, stages: &[LifecycleStage], index: usize) {
    d.stage_index = index;
    d.lifecycle_stage = stages.get(index).copied();
    d.stage_started_at = Some(step.now);
}

/// Does the stage's own work; whether it is done.
fn run_stage(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut ServiceDeployment,
    stage: LifecycleStage,
    stages: &[LifecycleStage],
) -> Result<bool, String> {
    let key = service_key(d);
    let svc = s
        .services
        .get(&key)
        .cloned()
        .ok_or_else(|| format!("the service {} no longer exists", d.service_name()))?;
    let routes = routes(s, &svc)
        .ok_or("the service's load balancer has no advancedConfiguration with listener rules")?;
    refresh_counts(step, &svc, d);
    match stage {
        LifecycleStage::ScaleUp => scale_up(step, s, d, &svc, &routes),
        LifecycleStage::TestTrafficShift => Ok(shift_test_traffic(step, s, d, &routes)),
        LifecycleStage::ProductionTrafficShift => {
            let index = stages[..d.stage_index]
                .iter()
                .filter(|st| **st == LifecycleStage::ProductionTrafficShift)
                .count();
            Ok(shift_production_traffic(step, s, d, &routes, index))
        }
        LifecycleStage::BakeTime => {
            let ends = step.after(started(d, step), bake_time(&d.deployment_configuration));
            step.wake_at(ends);
            Ok(step.now >= ends)
        }
        LifecycleStage::CleanUp => {
            clean_up(step, s, d, &key, &routes);
            Ok(true)
        }
        _ => Ok(true),
    }
}

fn started(d: &ServiceDeployment, step: &Step) -> i64 {
    d.stage_started_at.unwrap_or(step.now)
}

/// SCALE_UP: the target revision's tasks start on the alternate target
/// group; the stage ends once all of them are healthy.
fn scale_up(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut ServiceDeployment,
    svc: &Service,
    routes: &Routes,
) -> Result<bool, String> {
    let Some(green_id) = d.target_task_set.clone() else {
        start_target_task_set(step, s, d, svc, routes)?;
        step.poll();
        return Ok(false);
    };
    let green = svc
        .task_sets
        .iter()
        .find(|t| t.id == green_id)
        .ok_or("the target revision's tasks disappeared")?;
    let runtime = &step.cloud.runtime;
    if let Some(why) = runtime.unrunnable(&green.arn) {
        return Err(format!("the target revision's tasks cannot start: {why}"));
    }
    let desired = computed_desired_count(svc, green);
    let healthy = runtime.healthy_count(&green.arn);
    if healthy >= desired {
        return Ok(true);
    }
    let timeout = step
        .cloud
        .clock
        .minutes_to_real_millis(SCALE_UP_TIMEOUT_MINUTES)
        .max(SCALE_UP_TIMEOUT_FLOOR_MS);
    if step.now - started(d, step) > timeout {
        return Err(format!(
            "the target revision's tasks did not become healthy ({healthy} of {desired} healthy tasks)"
        ));
    }
    step.poll();
    Ok(false)
}

fn start_target_task_set(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut ServiceDeployment,
    svc: &Service,
    routes: &Routes,
) -> Result<(), String> {
    let primary = svc.primary().ok_or("the service has no running revision")?;
    let task_definition = s
        .service_revisions
        .get(&d.target_service_revision.arn)
        .ok_or("the target service revision is gone")?
        .task_definition
        .clone();
    let mut lb = primary.load_balancer.clone();
    lb.target_group_arn = routes.target.clone();
    let sequence = s.next_sequence();
    let green = new_task_set(
        &svc.cluster,
        &svc.name,
        sequence,
        &task_definition,
        TaskSetStatus::Active,
        None,
        Some(lb),
    );
    d.source_task_set = Some(primary.id.clone());
    d.target_task_set = Some(green.id.clone());
    let service = s.services.get_mut(&service_key(d)).expect("found above");
    service.start_replacement(green);
    step.touched = true;
    Ok(())
}

/// TEST_TRAFFIC_SHIFT: the test listener sends everything to the target
/// revision; done once the listener really does.
fn shift_test_traffic(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut ServiceDeployment,
    routes: &Routes,
) -> bool {
    set_test_weights(d, 100.0);
    let Some(test) = &routes.test else {
        return true;
    };
    route(
        step,
        s,
        std::slice::from_ref(test),
        &split_tenths(&routes.target, None, 100.0),
    )
}

/// PRODUCTION_TRAFFIC_SHIFT number `index`: production moves to that
/// step's weight, which holds for the step's bake before the next stage.
fn shift_production_traffic(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut ServiceDeployment,
    routes: &Routes,
    index: usize,
) -> bool {
    let steps = TrafficShift::of(&d.deployment_configuration).steps();
    let Some(this) = steps.get(index).or(steps.last()).copied() else {
        return true;
    };
    d.production_step = index;
    if index == 0 {
        d.production_shift_started_at.get_or_insert(step.now);
    }
    set_production_weights(d, this.weight);
    let weights = split_tenths(&routes.target, Some(&routes.source), this.weight);
    let applied = route(step, s, std::slice::from_ref(&routes.production), &weights);
    let holds_until = step.after(started(d, step), this.wait_after);
    step.wake_at(holds_until);
    applied && step.now >= holds_until
}

/// Sets `weights` on the listeners; whether they really forward so.
fn route(step: &mut Step, s: &mut CloudState, listeners: &[String], weights: &Weights) -> bool {
    let converged = step.traffic(s).converge(listeners, weights);
    step.touched |= converged.changed;
    if !converged.applied {
        step.poll();
    }
    converged.applied
}

/// CLEAN_UP: the source revision's tasks go, the target's become the
/// service's; the target groups swap roles for the next deployment.
fn clean_up(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut ServiceDeployment,
    key: &str,
    routes: &Routes,
) {
    let (Some(service), Some(green)) = (s.services.get_mut(key), &d.target_task_set) else {
        return;
    };
    service.promote(green, d.source_task_set.as_deref(), step.now);
    if let Some(advanced) = service
        .load_balancers
        .first_mut()
        .and_then(|lb| lb.advanced_configuration.as_mut())
    {
        advanced.alternate_target_group_arn = routes.source.clone();
    }
    service.current_revision = Some(d.target_service_revision.arn.clone());
    for source in &mut d.source_service_revisions {
        source.requested_task_count = 0;
        source.running_task_count = 0;
        source.pending_task_count = 0;
    }
    step.touched = true;
}

/// Starts the hooks configured for this stage (once per stage visit) and
/// reports whether all of them are through; `Err` when one fails or times
/// out with ROLLBACK.
fn hooks_done(
    step: &mut Step,
    d: &mut ServiceDeployment,
    stage: LifecycleStage,
) -> Result<bool, String> {
    start_hooks(step, d, stage);
    let mut done = true;
    let now = step.now;
    for hook in d
        .lifecycle_hook_details
        .iter_mut()
        .filter(|h| h.stage_index == d.stage_index)
    {
        if !hook.status.is_finished() && hook.expires_at.is_some_and(|at| now >= at) {
            hook.status = DeploymentLifecycleHookStatus::TimedOut;
            hook.finished_at = Some(now);
        }
        match hook.status {
            DeploymentLifecycleHookStatus::Succeeded => {}
            DeploymentLifecycleHookStatus::TimedOut
                if hook.timeout_action == DeploymentLifecycleHookAction::Continue => {}
            DeploymentLifecycleHookStatus::TimedOut => {
                return Err(format!(
                    "the lifecycle hook {} timed out at {stage}",
                    hook.hook_id
                ));
            }
            DeploymentLifecycleHookStatus::Failed => {
                return Err(format!(
                    "the lifecycle hook {} failed at {stage}",
                    hook.hook_id
                ));
            }
            DeploymentLifecycleHookStatus::AwaitingAction
            | DeploymentLifecycleHookStatus::InProgress => {
                done = false;
                if let Some(at) = hook.expires_at {
                    step.wake_at(at);
                }
            }
        }
    }
    Ok(done)
}

fn start_hooks(step: &mut Step, d: &mut ServiceDeployment, stage: LifecycleStage) {
    let started: Vec<usize> = d
        .lifecycle_hook_details
        .iter()
        .filter(|h| h.stage_index == d.stage_index)
        .map(|h| h.hook_index)
        .collect();
    let configured = d.deployment_configuration.hooks().to_vec();
    for (index, hook) in configured.iter().enumerate() {
        if !hook.lifecycle_stages.contains(&stage) || started.contains(&index) {
            continue;
        }
        let target_type = hook.target_type();
        let timeout = hook.timeout();
        let execution = LifecycleHookExecution {
            hook_id: new_hook_id(target_type),
            hook_index: index,
            stage_index: d.stage_index,
            target_type,
            target_arn: hook.hook_target_arn.clone(),
            stage,
            status: match target_type {
                DeploymentLifecycleHookTargetType::Pause => {
                    DeploymentLifecycleHookStatus::AwaitingAction
                }
                DeploymentLifecycleHookTargetType::AwsLambda => {
                    DeploymentLifecycleHookStatus::InProgress
                }
            },
            started_at: step.now,
            expires_at: Some(step.after(
                step.now,
                Duration::from_secs(timeout.timeout_in_minutes() as u64 * 60),
            )),
            timeout_action: timeout.action(),
            finished_at: None,
            next_invocation_at: None,
        };
        if target_type == DeploymentLifecycleHookTargetType::AwsLambda {
            step.launches.push(HookLaunch {
                deployment: d.arn.clone(),
                hook_id: execution.hook_id.clone(),
                function: function_name(execution.target_arn.as_deref().unwrap_or_default()),
                stage,
            });
        }
        d.lifecycle_hook_details.push(execution);
    }
}

/// The local function a Lambda ARN names (`...:function:NAME[:QUALIFIER]`).
fn function_name(arn: &str) -> String {
    arn.split_once(":function:")
        .map_or(arn, |(_, rest)| rest)
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Returns all traffic to the source revision, then removes the target's
/// tasks; ROLLBACK_SUCCESSFUL once the listeners really serve the source.
fn roll_back(step: &mut Step, s: &mut CloudState, d: &mut ServiceDeployment) {
    if d.status == ServiceDeploymentStatus::RollbackRequested {
        begin_rollback(step, d);
    }
    let key = service_key(d);
    let Some(routes) = s.services.get(&key).and_then(|svc| routes(s, svc)) else {
        d.status = ServiceDeploymentStatus::RollbackFailed;
        d.finished_at = Some(step.now);
        return;
    };
    let all_source = split_tenths(&routes.source, None, 100.0);
    let listeners: Vec<String> = std::iter::once(routes.production.clone())
        .chain(routes.test.clone())
        .collect();
    set_production_weights(d, 0.0);
    set_test_weights(d, 0.0);
    if !route(step, s, &listeners, &all_source) {
        return;
    }
    if let Some(service) = s.services.get_mut(&key) {
        service
            .task_sets
            .retain(|t| Some(&t.id) != d.target_task_set.as_ref());
    }
    d.target_service_revision.requested_task_count = 0;
    d.status = ServiceDeploymentStatus::RollbackSuccessful;
    d.finished_at = Some(step.now);
    step.touched = true;
}

fn begin_rollback(step: &Step, d: &mut ServiceDeployment) {
    let reason = d
        .stop_request
        .as_ref()
        .and_then(|r| r.reason.clone())
        .or_else(|| d.status_reason.clone())
        .unwrap_or_else(|| "the deployment was rolled back".into());
    d.status = ServiceDeploymentStatus::RollbackInProgress;
    d.status_reason = Some(reason.clone());
    d.rollback = Some(Rollback {
        reason,
        started_at: step.now,
        service_revision_arn: d
            .source_service_revisions
            .first()
            .map(|r| r.arn.clone())
            .unwrap_or_default(),
    });
    for hook in &mut d.lifecycle_hook_details {
        if !hook.status.is_finished() {
            hook.status = DeploymentLifecycleHookStatus::Failed;
            hook.finished_at = Some(step.now);
        }
    }
}

fn set_production_weights(d: &mut ServiceDeployment, target: f64) {
    d.target_service_revision
        .requested_production_traffic_weight = Some(target);
    for source in &mut d.source_service_revisions {
        source.requested_production_traffic_weight = Some(100.0 - target);
    }
}

fn set_test_weights(d: &mut ServiceDeployment, target: f64) {
    d.target_service_revision.requested_test_traffic_weight = Some(target);
    for source in &mut d.source_service_revisions {
        source.requested_test_traffic_weight = Some(100.0 - target);
    }
}

/// The revisions' task counts as the runtime sees them now.
fn refresh_counts(step: &Step, svc: &Service, d: &mut ServiceDeployment) {
    let runtime = &step.cloud.runtime;
    let counts = |id: &Option<String>| {
        let ts = svc.task_sets.iter().find(|t| Some(&t.id) == id.as_ref())?;
        let (pending, running) = runtime.counts(&ts.arn);
        Some((computed_desired_count(svc, ts), pending, running))
    };
    if let Some((requested, pending, running)) = counts(&d.target_task_set) {
        let target = &mut d.target_service_revision;
        target.requested_task_count = requested as i64;
        target.pending_task_count = pending as i64;
        target.running_task_count = running as i64;
    }
    let source =
        counts(&d.source_task_set).or_else(|| counts(&svc.primary().map(|p| p.id.clone())));
    if let (Some((requested, pending, running)), Some(summary)) =
        (source, d.source_service_revisions.first_mut())
    {
        summary.requested_task_count = requested as i64;
        summary.pending_task_count = pending as i64;
        summary.running_task_count = running as i64;
    }
}

/// Invokes a Lambda hook's local function; its exit status is the hook's
/// result (SUCCEEDED or FAILED).
async fn invoke_hook(cloud: Arc<LocalCloud>, launch: HookLaunch) {
    let env = [
        ("SERVICE_DEPLOYMENT_ARN", launch.deployment.as_str()),
        ("HOOK_ID", launch.hook_id.as_str()),
        ("LIFECYCLE_STAGE", launch.stage.as_str()),
    ];
    let result = functions::invoke(&cloud, &launch.function, &launch.hook_id, &env).await;
    if let Err(why) = &result {
        tracing::warn!(hook = %launch.hook_id, function = %launch.function, "lifecycle hook failed: {why}");
    }
    let _ = cloud.mutate(|s| {
        let hook = s
            .service_deployments
            .get_mut(&launch.deployment)
            .and_then(|d| {
                d.lifecycle_hook_details
                    .iter_mut()
                    .find(|h| h.hook_id == launch.hook_id)
            });
        if let Some(hook) = hook.filter(|h| !h.status.is_finished()) {
            hook.status = match result {
                Ok(()) => DeploymentLifecycleHookStatus::Succeeded,
                Err(_) => DeploymentLifecycleHookStatus::Failed,
            };
            hook.finished_at = Some(now_millis());
        }
        Ok(())
    });
    cloud.native_wake.notify_one();
}
