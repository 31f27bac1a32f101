//! Drives a CodeDeploy ECS deployment through its lifecycle. Each tick
//! takes the stored deployment, recomputes what should be true now (which
//! event runs, which weight the schedule prescribes at this moment) rather
//! than remembering steps, and stores it back when it changed; so a
//! restarted local cloud resumes a deployment from its stored timestamps.

use super::routing_of;
use crate::cloudwatch::model::StateValue;
use crate::ecs::{computed_desired_count, new_task_set};
use crate::state::{
    CloudState, Deployment, DeploymentErrorCode, DeploymentGroup, DeploymentReadyAction,
    DeploymentStatus, LifecycleEvent, LifecycleEventName, LifecycleEventStatus, RollbackInfo,
    TaskSetStatus,
};
use crate::traffic::{LocalLoadBalancers, TrafficRouter, split};
use crate::{LocalCloud, functions, now_millis, random_id};
use std::sync::Arc;
use std::time::Duration;

const TICK: Duration = Duration::from_millis(50);
/// A hook that never reports fails after an hour, as in AWS.
const HOOK_TIMEOUT_MINUTES: f64 = 60.0;
/// How long the replacement task set may take to become healthy.
const INSTALL_TIMEOUT_MINUTES: f64 = 10.0;
/// ... but never less than this in real time: processes need to start.
const INSTALL_TIMEOUT_FLOOR_MS: i64 = 20_000;

pub async fn drive(cloud: Arc<LocalCloud>, id: String) {
    let mut alarms = crate::cloudwatch::alarm_changes(&cloud);
    loop {
        let tick = {
            let mut state = cloud.lock();
            let tick = tick(&cloud, &mut state, &id, now_millis());
            if tick.changed {
                if let Err(e) = cloud.file.save(&state) {
                    tracing::error!(error = %e, "cannot save the local cloud's state");
                }
                cloud.runtime.sync(&state);
            }
            tick
        };
        for launch in tick.launches {
            tokio::spawn(run_hook(cloud.clone(), id.clone(), launch));
        }
        if tick.finished {
            return;
        }
        next_tick(&mut alarms, TICK).await;
    }
}

/// Waits `tick`, or less when an alarm changes state: the group's alarms
/// stop the deployment without a tick's delay.
async fn next_tick(alarms: &mut tokio::sync::watch::Receiver<u64>, tick: Duration) {
    tokio::select! {
        changed = alarms.changed() => {
            if changed.is_err() {
                // The cloud is going away; tick on as before.
                tokio::time::sleep(tick).await;
            }
        }
        () = tokio::time::sleep(tick) => {}
    }
}

struct Tick {
    changed: bool,
    finished: bool,
    launches: Vec<HookLaunch>,
}

struct HookLaunch {
    event: LifecycleEventName,
    function: String,
    execution_id: String,
}

/// What one tick works with besides the deployment and the cloud's state.
struct Step<'a> {
    cloud: &'a LocalCloud,
    now: i64,
    /// Set when the tick changed state other than the deployment's own.
    touched: bool,
    launches: Vec<HookLaunch>,
}

impl Step<'_> {
    fn cloud_elapsed_since(&self, since: Option<i64>) -> Duration {
        self.cloud
            .clock
            .cloud_elapsed(since.unwrap_or(self.now), self.now)
    }

    fn traffic<'s>(&'s self, s: &'s mut CloudState) -> LocalLoadBalancers<'s> {
        LocalLoadBalancers {
            records: &mut s.load_balancers,
            runtime: &self.cloud.runtime,
        }
    }
}

/// Why a deployment fails, as CodeDeploy reports it.
struct Failure {
    code: DeploymentErrorCode,
    message: String,
}

fn failure(code: DeploymentErrorCode, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

fn minutes(m: f64) -> Duration {
    Duration::from_secs_f64(m * 60.0)
}

fn tick(cloud: &LocalCloud, s: &mut CloudState, id: &str, now: i64) -> Tick {
    let Some(before) = s.deployments.get(id).filter(|d| !d.is_finished()).cloned() else {
        return Tick {
            changed: false,
            finished: true,
            launches: Vec::new(),
        };
    };
    let mut d = before.clone();
    let mut step = Step {
        cloud,
        now,
        touched: false,
        launches: Vec::new(),
    };
    let finished = advance(&mut step, s, &mut d);
    let changed = step.touched || !step.launches.is_empty() || d != before;
    s.deployments.insert(id.to_owned(), d);
    Tick {
        changed,
        finished,
        launches: step.launches,
    }
}

/// Moves the deployment on; returns whether it finished.
fn advance(step: &mut Step, s: &mut CloudState, d: &mut Deployment) -> bool {
    if let Some(rollback) = d.stop_requested {
        stop(step, s, d, rollback);
        return true;
    }
    let Some(group) = s.deployment_groups.get(&d.group_key()).cloned() else {
        let missing = failure(
            DeploymentErrorCode::DeploymentGroupMissing,
            "the deployment group was deleted",
        );
        fail(step, s, d, missing);
        return true;
    };
    if matches!(
        d.status,
        DeploymentStatus::Created | DeploymentStatus::Queued
    ) {
        d.status = DeploymentStatus::InProgress;
        d.started_at = Some(step.now);
    }
    if let Some(why) = alarm_stop(s, &group) {
        stop_on_alarm(step, s, d, &group, why);
        return true;
    }
    let moved = match d.lifecycle.iter().position(|e| !e.status.is_done()) {
        Some(index) => run_event(step, s, d, index, &group).map(|()| false),
        None => Ok(finish_termination_wait(step, s, d, &group)),
    };
    moved.unwrap_or_else(|why| {
        fail(step, s, d, why);
        true
    })
}

/// Moves the lifecycle event at `index` forward.
fn run_event(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut Deployment,
    index: usize,
    group: &DeploymentGroup,
) -> Result<(), Failure> {
    let name = d.lifecycle[index].name;
    if d.lifecycle[index].status == LifecycleEventStatus::Pending {
        return start_event(step, d, index, group);
    }
    if name.is_hookable() {
        return watch_hook(step, d, index);
    }
    match name {
        LifecycleEventName::Install => install(step, s, d, index, group),
        LifecycleEventName::AllowTestTraffic => allow_test_traffic(step, s, d, index, group),
        LifecycleEventName::AllowTraffic => allow_traffic(step, s, d, index, group),
        hookable => Err(failure(
            DeploymentErrorCode::InvalidRevision,
            format!("{hookable} has no work of its own"),
        )),
    }
}

/// Starts a pending event, unless the ready wait holds it.
fn start_event(
    step: &Step,
    d: &mut Deployment,
    index: usize,
    group: &DeploymentGroup,
) -> Result<(), Failure> {
    // The ready wait sits between test traffic and production traffic.
    if d.lifecycle[index].name == LifecycleEventName::BeforeAllowTraffic
        && group.ready_action == DeploymentReadyAction::StopDeployment
        && !d.continue_ready
    {
        return hold_ready(step, d, group);
    }
    if d.status == DeploymentStatus::Ready {
        d.status = DeploymentStatus::InProgress;
    }
    let event = &mut d.lifecycle[index];
    event.status = LifecycleEventStatus::InProgress;
    event.started_at = Some(step.now);
    if let Some(hook) = &mut event.hook {
        hook.status = LifecycleEventStatus::InProgress;
    }
    Ok(())
}

fn hold_ready(step: &Step, d: &mut Deployment, group: &DeploymentGroup) -> Result<(), Failure> {
    if d.status != DeploymentStatus::Ready {
        d.status = DeploymentStatus::Ready;
        d.ready_since = Some(step.now);
        return Ok(());
    }
    if step.cloud_elapsed_since(d.ready_since) >= minutes(group.ready_wait_minutes as f64) {
        return Err(failure(
            DeploymentErrorCode::Timeout,
            format!(
                "traffic was not rerouted within the {}-minute ready wait",
                group.ready_wait_minutes
            ),
        ));
    }
    Ok(())
}

/// A hookable event: launches its hook once, then waits for its report.
fn watch_hook(step: &mut Step, d: &mut Deployment, index: usize) -> Result<(), Failure> {
    let elapsed = step.cloud_elapsed_since(d.lifecycle[index].started_at);
    let now = step.now;
    let event = &mut d.lifecycle[index];
    let Some(hook) = &mut event.hook else {
        end_event(event, LifecycleEventStatus::Succeeded, now);
        return Ok(());
    };
    match hook.status {
        LifecycleEventStatus::Succeeded => end_event(event, LifecycleEventStatus::Succeeded, now),
        LifecycleEventStatus::Failed => {
            let why = format!(
                "the {} hook {} failed{}",
                event.name,
                hook.function,
                event
                    .diagnostics
                    .as_ref()
                    .map_or(String::new(), |d| format!(": {d}"))
            );
            end_event(event, LifecycleEventStatus::Failed, now);
            return Err(failure(DeploymentErrorCode::HookExecutionFailure, why));
        }
        _ if !hook.launched => {
            hook.launched = true;
            step.launches.push(HookLaunch {
                event: event.name,
                function: hook.function.clone(),
                execution_id: hook.execution_id.clone(),
            });
        }
        _ if elapsed >= minutes(HOOK_TIMEOUT_MINUTES) => {
            let why = format!("the {} hook did not report within an hour", event.name);
            end_event(event, LifecycleEventStatus::Failed, now);
            return Err(failure(DeploymentErrorCode::HookExecutionFailure, why));
        }
        _ => {}
    }
    Ok(())
}

fn end_event(event: &mut LifecycleEvent, status: LifecycleEventStatus, now: i64) {
    event.status = status;
    event.ended_at = Some(now);
}

/// Install: start the replacement (green) task set on the other target group
/// and wait until all its tasks are healthy.
fn install(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut Deployment,
    index: usize,
    group: &DeploymentGroup,
) -> Result<(), Failure> {
    let Some(green_id) = d.green_task_set.clone() else {
        return start_green(step, s, d, group);
    };
    let update_error = |why: String| failure(DeploymentErrorCode::EcsUpdateError, why);
    let service = s
        .services
        .get(&d.service_key())
        .ok_or_else(|| update_error(format!("the ECS service {} no longer exists", d.service)))?;
    let green = service
        .task_sets
        .iter()
        .find(|t| t.id == green_id)
        .ok_or_else(green_gone)?;
    let runtime = &step.cloud.runtime;
    if let Some(why) = runtime.unrunnable(&green.arn) {
        return Err(update_error(format!(
            "the replacement tasks cannot start: {why}"
        )));
    }
    let desired = computed_desired_count(service, green);
    let healthy = runtime.healthy_count(&green.arn);
    if healthy >= desired {
        end_event(
            &mut d.lifecycle[index],
            LifecycleEventStatus::Succeeded,
            step.now,
        );
        return Ok(());
    }
    let started = d.lifecycle[index].started_at.unwrap_or(step.now);
    let timeout = step
        .cloud
        .clock
        .minutes_to_real_millis(INSTALL_TIMEOUT_MINUTES)
        .max(INSTALL_TIMEOUT_FLOOR_MS);
    if step.now - started > timeout {
        return Err(update_error(format!(
            "the replacement task set did not become healthy ({healthy} of {desired} healthy tasks)"
        )));
    }
    Ok(())
}

/// Creates the replacement task set on the target group the primary does not use.
fn start_green(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut Deployment,
    group: &DeploymentGroup,
) -> Result<(), Failure> {
    let update_error = |why: &str| failure(DeploymentErrorCode::EcsUpdateError, why);
    let primary = s
        .services
        .get(&d.service_key())
        .ok_or_else(|| update_error("the ECS service no longer exists"))?
        .primary()
        .cloned()
        .ok_or_else(|| update_error("the service has no primary task set"))?;
    let green_tg = group
        .target_groups
        .iter()
        .filter_map(|name| target_group_arn(s, name))
        .find(|arn| *arn != primary.load_balancer.target_group_arn)
        .ok_or_else(|| update_error("no free target group for the replacement task set"))?;
    let sequence = s.next_sequence();
    let mut lb = primary.load_balancer.clone();
    lb.target_group_arn = green_tg;
    lb.container_name = d.container_name.clone();
    lb.container_port = d.container_port;
    let mut green = new_task_set(
        &d.cluster,
        &d.service,
        sequence,
        &d.task_definition,
        TaskSetStatus::Active,
        Some(&d.id),
        Some(lb),
    );
    green.scale_percent = 100.0;
    d.blue_task_set = Some(primary.id);
    d.green_task_set = Some(green.id.clone());
    let service = s.services.get_mut(&d.service_key()).expect("found above");
    service.start_replacement(green);
    step.touched = true;
    Ok(())
}

/// AllowTestTraffic: the test listeners send everything to green.
fn allow_test_traffic(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut Deployment,
    index: usize,
    group: &DeploymentGroup,
) -> Result<(), Failure> {
    let green = green_target_group(s, d).ok_or_else(green_gone)?;
    let all_green = split(&green, None, 100);
    let test = step
        .traffic(s)
        .converge(&group.test_listener_arns, &all_green);
    step.touched |= test.changed;
    if test.applied {
        end_event(
            &mut d.lifecycle[index],
            LifecycleEventStatus::Succeeded,
            step.now,
        );
    }
    Ok(())
}

fn green_gone() -> Failure {
    failure(
        DeploymentErrorCode::EcsUpdateError,
        "the replacement task set disappeared",
    )
}

/// AllowTraffic: production weights follow the deployment config's
/// schedule; the event ends once the listeners really send all to green.
fn allow_traffic(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut Deployment,
    index: usize,
    group: &DeploymentGroup,
) -> Result<(), Failure> {
    let routing = routing_of(s, &d.config_name).ok_or_else(|| {
        failure(
            DeploymentErrorCode::InvalidRevision,
            format!("the deployment config {} no longer exists", d.config_name),
        )
    })?;
    let percent = routing.green_percent_at(step.cloud_elapsed_since(d.lifecycle[index].started_at));
    let green = green_target_group(s, d).ok_or_else(green_gone)?;
    let weights = split(&green, blue_target_group(s, d).as_deref(), percent);
    let production = step
        .traffic(s)
        .converge(&group.prod_listener_arns, &weights);
    step.touched |= production.changed;
    d.green_weight = f64::from(percent);
    if percent >= 100 && production.applied {
        end_event(
            &mut d.lifecycle[index],
            LifecycleEventStatus::Succeeded,
            step.now,
        );
    }
    Ok(())
}

/// After all events: the termination wait (status Baking), then the
/// original task set goes and the replacement becomes primary. Returns
/// whether the deployment finished.
fn finish_termination_wait(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut Deployment,
    group: &DeploymentGroup,
) -> bool {
    if d.baking_since.is_none() {
        d.status = DeploymentStatus::Baking;
        d.baking_since = Some(step.now);
        return false;
    }
    let waited =
        step.cloud_elapsed_since(d.baking_since) >= minutes(group.termination_wait_minutes as f64);
    if !(waited || d.continue_termination) {
        return false;
    }
    promote_green(step, s, d);
    d.status = DeploymentStatus::Succeeded;
    d.completed_at = Some(step.now);
    true
}

/// The replacement task set becomes the service's primary; the original goes.
fn promote_green(step: &mut Step, s: &mut CloudState, d: &Deployment) {
    let (Some(service), Some(green)) = (s.services.get_mut(&d.service_key()), &d.green_task_set)
    else {
        return;
    };
    service.promote(green, d.blue_task_set.as_deref(), step.now);
    step.touched = true;
}

/// Puts every listener of the group back on the original task set and
/// removes the replacement.
fn restore_blue(step: &mut Step, s: &mut CloudState, d: &mut Deployment) {
    let group = s.deployment_groups.get(&d.group_key()).cloned();
    if let (Some(group), Some(blue)) = (group, blue_target_group(s, d)) {
        let all_blue = split(&blue, None, 100);
        let mut traffic = step.traffic(s);
        traffic.set_all(&group.prod_listener_arns, &all_blue);
        traffic.set_all(&group.test_listener_arns, &all_blue);
    }
    if let Some(service) = s.services.get_mut(&d.service_key()) {
        service
            .task_sets
            .retain(|t| Some(&t.id) != d.green_task_set.as_ref());
    }
    d.green_weight = 0.0;
    step.touched = true;
}

/// Ends the events still open: the running one failed, the rest skipped.
fn end_open_events(d: &mut Deployment, now: i64) {
    for event in &mut d.lifecycle {
        match event.status {
            LifecycleEventStatus::InProgress => {
                end_event(event, LifecycleEventStatus::Failed, now);
            }
            LifecycleEventStatus::Pending => event.status = LifecycleEventStatus::Skipped,
            _ => {}
        }
    }
}

fn fail(step: &mut Step, s: &mut CloudState, d: &mut Deployment, why: Failure) {
    let auto_rollback = s.deployment_groups.get(&d.group_key()).is_some_and(|g| {
        g.auto_rollback_enabled
            && g.auto_rollback_events
                .contains(&crate::state::AutoRollbackEvent::DeploymentFailure)
    });
    // Without automatic rollback AWS leaves the replacement in place; a local
    // service with two half-serving task sets helps nobody, so the original
    // keeps (or gets back) the traffic either way, and only a rollback is
    // reported as one.
    restore_blue(step, s, d);
    tracing::warn!(deployment = %d.id, code = %why.code, message = %why.message, "deployment failed");
    d.status = DeploymentStatus::Failed;
    d.error = Some((why.code, why.message));
    d.completed_at = Some(step.now);
    end_open_events(d, step.now);
    if auto_rollback {
        record_rollback(s, d, "Automatic rollback: the deployment failed", step.now);
    }
}

fn stop(step: &mut Step, s: &mut CloudState, d: &mut Deployment, rollback: bool) {
    let shifted = d.baking_since.is_some();
    if !rollback && shifted {
        // All traffic is on the replacement already: stopping keeps it.
        promote_green(step, s, d);
    } else {
        restore_blue(step, s, d);
    }
    d.status = DeploymentStatus::Stopped;
    d.error = Some((
        DeploymentErrorCode::ManualStop,
        "The deployment was stopped by a user".into(),
    ));
    d.completed_at = Some(step.now);
    end_open_events(d, step.now);
    if rollback {
        let why = "The deployment was stopped and rolled back by a user";
        record_rollback(s, d, why, step.now);
    }
}

/// Why the group's alarms stop the deployment now, if they do: one is in
/// ALARM, or one cannot be read and the group does not ignore that.
fn alarm_stop(s: &CloudState, group: &DeploymentGroup) -> Option<String> {
    let config = &group.alarm_configuration;
    if !config.enabled {
        return None;
    }
    let states = crate::cloudwatch::alarm_states(s, config.alarms.iter().map(String::as_str));
    let named = |wanted: fn(Option<StateValue>) -> bool| -> Vec<&str> {
        states
            .iter()
            .filter(|(_, state)| wanted(*state))
            .map(|(name, _)| *name)
            .collect()
    };
    let active = named(|state| state == Some(StateValue::Alarm));
    if !active.is_empty() {
        return Some(format!(
            "One or more alarms have been activated according to the Amazon CloudWatch metrics \
             you selected, and the affected deployments have been stopped. Activated alarms: \
             <{}>",
            active.join(", ")
        ));
    }
    let unreadable = named(|state| state.is_none());
    (!unreadable.is_empty() && !config.ignore_poll_alarm_failure).then(|| {
        format!(
            "The deployment was stopped because the state of these alarms could not be \
             retrieved (they do not exist): <{}>",
            unreadable.join(", ")
        )
    })
}

/// An alarm stopped the deployment: the original keeps (or gets back) the
/// traffic, as `fail` does, and it is reported as a rollback when the group
/// asks for one on DEPLOYMENT_STOP_ON_ALARM.
fn stop_on_alarm(
    step: &mut Step,
    s: &mut CloudState,
    d: &mut Deployment,
    group: &DeploymentGroup,
    why: String,
) {
    let rollback = group.auto_rollback_enabled
        && group
            .auto_rollback_events
            .contains(&crate::state::AutoRollbackEvent::DeploymentStopOnAlarm);
    restore_blue(step, s, d);
    tracing::warn!(deployment = %d.id, reason = %why, "an alarm stopped the deployment");
    d.status = DeploymentStatus::Stopped;
    d.error = Some((DeploymentErrorCode::AlarmActive, why));
    d.completed_at = Some(step.now);
    end_open_events(d, step.now);
    if rollback {
        let message = "Automatic rollback: an alarm in ALARM stopped the deployment";
        record_rollback(s, d, message, step.now);
    }
}

/// AWS reports a rollback as a deployment of its own that points back at
/// the one that triggered it.
fn record_rollback(s: &mut CloudState, d: &mut Deployment, message: &str, now: i64) {
    let rollback_id = loop {
        let candidate = format!(
            "d-{}",
            random_id(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 9)
        );
        if !s.deployments.contains_key(&candidate) {
            break candidate;
        }
    };
    let mut rollback = d.clone();
    rollback.id = rollback_id.clone();
    rollback.status = DeploymentStatus::Succeeded;
    rollback.creator = "codeDeployRollback".into();
    rollback.description = Some(format!("Rollback of {}", d.id));
    rollback.error = None;
    rollback.created_at = now;
    rollback.started_at = Some(now);
    rollback.completed_at = Some(now);
    rollback.green_task_set = None;
    rollback.green_weight = 0.0;
    rollback.stop_requested = None;
    for event in &mut rollback.lifecycle {
        event.status = LifecycleEventStatus::Succeeded;
        event.started_at = Some(now);
        event.ended_at = Some(now);
        event.hook = None;
        event.diagnostics = None;
    }
    rollback.rollback = Some(RollbackInfo {
        rollback_deployment_id: None,
        rollback_triggering_deployment_id: Some(d.id.clone()),
        message: message.to_owned(),
    });
    s.deployments.insert(rollback_id.clone(), rollback);
    d.rollback = Some(RollbackInfo {
        rollback_deployment_id: Some(rollback_id),
        rollback_triggering_deployment_id: None,
        message: message.to_owned(),
    });
}

fn target_group_arn(s: &CloudState, name: &str) -> Option<String> {
    s.load_balancers
        .values()
        .flat_map(|lb| lb.target_groups.iter())
        .find(|tg| tg.name == name)
        .map(|tg| tg.arn.clone())
}

/// The target group of the deployment's original (blue) task set; before
/// the deployment made one, the service's.
fn blue_target_group(s: &CloudState, d: &Deployment) -> Option<String> {
    let service = s.services.get(&d.service_key())?;
    d.blue_task_set
        .as_ref()
        .and_then(|id| service.task_sets.iter().find(|t| &t.id == id))
        .map(|t| t.load_balancer.target_group_arn.clone())
        .or_else(|| {
            service
                .load_balancers
                .first()
                .map(|lb| lb.target_group_arn.clone())
        })
}

fn green_target_group(s: &CloudState, d: &Deployment) -> Option<String> {
    let id = d.green_task_set.as_ref()?;
    s.services
        .get(&d.service_key())?
        .task_sets
        .iter()
        .find(|t| &t.id == id)
        .map(|t| t.load_balancer.target_group_arn.clone())
}

/// Runs a hook's function with the deployment id and the hook execution
/// id; its exit status is its report unless it called
/// PutLifecycleEventHookExecutionStatus itself.
async fn run_hook(cloud: Arc<LocalCloud>, deployment: String, launch: HookLaunch) {
    let env = [
        ("DEPLOYMENT_ID", deployment.as_str()),
        (
            "LIFECYCLE_EVENT_HOOK_EXECUTION_ID",
            launch.execution_id.as_str(),
        ),
        ("LIFECYCLE_EVENT", launch.event.as_str()),
    ];
    let result = functions::invoke(&cloud, &launch.function, &launch.execution_id, &env).await;
    let _ = cloud.mutate(|s| {
        let Some(event) = s.deployments.get_mut(&deployment).and_then(|d| {
            d.lifecycle.iter_mut().find(|e| {
                e.hook
                    .as_ref()
                    .is_some_and(|h| h.execution_id == launch.execution_id)
            })
        }) else {
            return Ok(());
        };
        if let Err(diagnostics) = &result {
            event.diagnostics = Some(diagnostics.clone());
        }
        let hook = event.hook.as_mut().expect("matched above");
        if !hook.status.is_reported() {
            hook.status = match result {
                Ok(()) => LifecycleEventStatus::Succeeded,
                Err(_) => LifecycleEventStatus::Failed,
            };
        }
        Ok(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn an_alarm_change_ends_the_wait_for_the_next_tick_at_once() {
        let (changes, mut alarms) = tokio::sync::watch::channel(0u64);
        let started = Instant::now();
        let waiting = tokio::spawn(async move {
            next_tick(&mut alarms, Duration::from_secs(30)).await;
            started.elapsed()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        changes.send_modify(|n| *n += 1);
        let waited = waiting.await.unwrap();
        assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    }

    #[tokio::test]
    async fn without_an_alarm_change_the_wait_is_a_tick() {
        let (_changes, mut alarms) = tokio::sync::watch::channel(0u64);
        let started = Instant::now();
        next_tick(&mut alarms, Duration::from_millis(30)).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
