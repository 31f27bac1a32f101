//! Drives a CodeDeploy ECS deployment through its lifecycle. Each tick reads
//! the stored deployment and recomputes what should be true now (which
//! event runs, which weight the schedule prescribes at this moment) rather
//! than remembering steps, so a restarted local cloud resumes a deployment
//! from its stored timestamps.

use super::{appspec, routing_of};
use crate::ecs::{computed_desired_count, new_task_set};
use crate::state::{CloudState, Deployment, RollbackInfo};
use crate::{Clock, LocalCloud, now_millis, random_id};
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
    loop {
        let (finished, launches) = {
            let mut state = cloud.lock();
            let mut tick = Tick::default();
            advance(&cloud, &mut state, &id, now_millis(), &mut tick);
            if tick.changed {
                if let Err(e) = cloud.file.save(&state) {
                    tracing::error!(error = %e, "cannot save the local cloud's state");
                }
                cloud.runtime.sync(&state);
            }
            (tick.finished, tick.launch)
        };
        for launch in launches {
            tokio::spawn(run_hook(cloud.clone(), id.clone(), launch));
        }
        if finished {
            return;
        }
        tokio::time::sleep(TICK).await;
    }
}

#[derive(Default)]
struct Tick {
    changed: bool,
    finished: bool,
    launch: Vec<HookLaunch>,
}

struct HookLaunch {
    event: String,
    function: String,
    execution_id: String,
}

fn advance(cloud: &LocalCloud, s: &mut CloudState, id: &str, now: i64, tick: &mut Tick) {
    let clock = cloud.clock;
    let Some(d) = s.deployments.get(id) else {
        tick.finished = true;
        return;
    };
    if d.is_finished() {
        tick.finished = true;
        return;
    }
    tick.changed = true; // reset below when nothing moved
    let before = serde_json::to_string(d).unwrap_or_default();

    if let Some(rollback) = d.stop_requested {
        stop(s, id, rollback, now);
        tick.finished = true;
        return;
    }
    let group_key = format!("{}/{}", d.application, d.group);
    let Some(group) = s.deployment_groups.get(&group_key).cloned() else {
        fail(
            s,
            id,
            "DEPLOYMENT_GROUP_MISSING",
            "the deployment group was deleted",
            now,
        );
        tick.finished = true;
        return;
    };
    let d = s.deployments.get_mut(id).expect("checked above");
    if d.status == "Created" || d.status == "Queued" {
        d.status = "InProgress".into();
        d.started_at = Some(now);
    }

    match d
        .lifecycle
        .iter()
        .position(|e| !matches!(e.status.as_str(), "Succeeded" | "Skipped"))
    {
        Some(index) => {
            if let Some((code, message)) = run_event(cloud, s, id, index, &group, now, clock, tick)
            {
                fail(s, id, code, &message, now);
                tick.finished = true;
            }
        }
        None => {
            if finish_termination_wait(s, id, &group, now, clock) {
                tick.finished = true;
            }
        }
    }
    let after = s
        .deployments
        .get(id)
        .map(|d| serde_json::to_string(d).unwrap_or_default())
        .unwrap_or_default();
    tick.changed = before != after || !tick.launch.is_empty();
}

/// Moves the lifecycle event at `index` forward; returns a failure to act on.
#[allow(clippy::too_many_arguments)]
fn run_event(
    cloud: &LocalCloud,
    s: &mut CloudState,
    id: &str,
    index: usize,
    group: &crate::state::DeploymentGroup,
    now: i64,
    clock: Clock,
    tick: &mut Tick,
) -> Option<(&'static str, String)> {
    let d = s.deployments.get_mut(id).expect("checked by the caller");
    let event = &d.lifecycle[index];
    let name = event.name.clone();
    let hookable = appspec::LIFECYCLE.iter().any(|(n, h)| *n == name && *h);

    if event.status == "Pending" {
        // The ready wait sits between test traffic and production traffic.
        if name == "BeforeAllowTraffic"
            && group.ready_action == "STOP_DEPLOYMENT"
            && !d.continue_ready
        {
            if d.status != "Ready" {
                d.status = "Ready".into();
                d.ready_since = Some(now);
            } else if clock
                .cloud_elapsed(d.ready_since.unwrap_or(now), now)
                .as_secs_f64()
                >= group.ready_wait_minutes as f64 * 60.0
            {
                return Some((
                    "TIMEOUT",
                    format!(
                        "traffic was not rerouted within the {}-minute ready wait",
                        group.ready_wait_minutes
                    ),
                ));
            }
            return None;
        }
        if d.status == "Ready" {
            d.status = "InProgress".into();
        }
        let event = &mut d.lifecycle[index];
        event.status = "InProgress".into();
        event.started_at = Some(now);
        if let Some(hook) = &mut event.hook {
            hook.status = "InProgress".into();
        }
        return None;
    }

    // InProgress
    if hookable {
        let event = &mut d.lifecycle[index];
        let started = event.started_at.unwrap_or(now);
        let Some(hook) = &mut event.hook else {
            complete(event, now);
            return None;
        };
        match hook.status.as_str() {
            "Succeeded" => complete(event, now),
            "Failed" => {
                let why = format!(
                    "the {} hook {} failed{}",
                    name,
                    hook.function,
                    event
                        .diagnostics
                        .as_ref()
                        .map_or(String::new(), |d| format!(": {d}"))
                );
                event.status = "Failed".into();
                event.ended_at = Some(now);
                return Some(("HOOK_EXECUTION_FAILURE", why));
            }
            _ => {
                if !hook.launched {
                    hook.launched = true;
                    tick.launch.push(HookLaunch {
                        event: name.clone(),
                        function: hook.function.clone(),
                        execution_id: hook.execution_id.clone(),
                    });
                } else if clock.cloud_elapsed(started, now).as_secs_f64()
                    >= HOOK_TIMEOUT_MINUTES * 60.0
                {
                    event.status = "Failed".into();
                    event.ended_at = Some(now);
                    return Some((
                        "HOOK_EXECUTION_FAILURE",
                        format!("the {name} hook did not report within an hour"),
                    ));
                }
            }
        }
        return None;
    }

    match name.as_str() {
        "Install" => install(cloud, s, id, index, group, now, clock),
        "AllowTestTraffic" => {
            let green_tg = green_target_group(s, id);
            set_forward(s, &group.test_listener_arns, green_tg.as_deref(), None, 100);
            let d = s.deployments.get_mut(id).expect("exists");
            complete(&mut d.lifecycle[index], now);
            None
        }
        "AllowTraffic" => {
            let d = s.deployments.get(id).expect("exists");
            let Some(routing) = routing_of(s, &d.config_name) else {
                return Some((
                    "INVALID_REVISION",
                    format!("the deployment config {} no longer exists", d.config_name),
                ));
            };
            let elapsed = clock.cloud_elapsed(d.lifecycle[index].started_at.unwrap_or(now), now);
            let weight = routing.green_percent_at(elapsed);
            let (blue_tg, green_tg) = (blue_target_group(s, id), green_target_group(s, id));
            if f64::from(weight) != d.green_weight {
                set_forward(
                    s,
                    &group.prod_listener_arns,
                    green_tg.as_deref(),
                    blue_tg.as_deref(),
                    weight,
                );
                s.deployments.get_mut(id).expect("exists").green_weight = f64::from(weight);
            }
            if weight >= 100 {
                let d = s.deployments.get_mut(id).expect("exists");
                complete(&mut d.lifecycle[index], now);
            }
            None
        }
        other => Some((
            "INVALID_REVISION",
            format!("unknown lifecycle event {other}"),
        )),
    }
}

fn complete(event: &mut crate::state::LifecycleEvent, now: i64) {
    event.status = "Succeeded".into();
    event.ended_at = Some(now);
}

/// Install: start the replacement (green) task set on the other target group
/// and wait until all its tasks are healthy.
fn install(
    cloud: &LocalCloud,
    s: &mut CloudState,
    id: &str,
    index: usize,
    group: &crate::state::DeploymentGroup,
    now: i64,
    clock: Clock,
) -> Option<(&'static str, String)> {
    let d = s.deployments.get(id).expect("exists").clone();
    let key = format!("{}/{}", d.cluster, d.service);
    let Some(service) = s.services.get(&key) else {
        return Some((
            "ECS_UPDATE_ERROR",
            format!("the ECS service {} no longer exists", d.service),
        ));
    };
    if d.green_task_set.is_none() {
        let Some(primary) = service.primary().cloned() else {
            return Some((
                "ECS_UPDATE_ERROR",
                "the service has no primary task set".into(),
            ));
        };
        let green_tg_name = group
            .target_groups
            .iter()
            .find(|name| {
                tg_arn_by_name(s, name)
                    .is_some_and(|arn| arn != primary.load_balancer.target_group_arn)
            })
            .cloned();
        let Some(green_tg) = green_tg_name.and_then(|n| tg_arn_by_name(s, &n)) else {
            return Some((
                "ECS_UPDATE_ERROR",
                "no free target group for the replacement task set".into(),
            ));
        };
        let seq = s.next_sequence();
        let mut lb = primary.load_balancer.clone();
        lb.target_group_arn = green_tg;
        lb.container_name = d.container_name.clone();
        lb.container_port = d.container_port;
        let mut green = new_task_set(
            &d.cluster,
            &d.service,
            seq,
            &d.task_definition,
            "ACTIVE",
            Some(&d.id),
            Some(lb),
        );
        green.scale_percent = 100.0;
        let green_id = green.id.clone();
        let service = s.services.get_mut(&key).expect("exists");
        service.task_sets.retain(|t| t.status == "PRIMARY");
        service.task_sets.push(green);
        let d = s.deployments.get_mut(id).expect("exists");
        d.blue_task_set = Some(primary.id);
        d.green_task_set = Some(green_id);
        return None;
    }
    let service = s.services.get(&key).expect("exists");
    let Some(green) = service
        .task_sets
        .iter()
        .find(|t| Some(&t.id) == d.green_task_set.as_ref())
    else {
        return Some((
            "ECS_UPDATE_ERROR",
            "the replacement task set disappeared".into(),
        ));
    };
    if let Some(why) = cloud.runtime.unrunnable(&green.arn) {
        return Some((
            "ECS_UPDATE_ERROR",
            format!("the replacement tasks cannot start: {why}"),
        ));
    }
    let desired = computed_desired_count(service, green);
    if cloud.runtime.healthy_count(&green.arn) >= desired {
        let d = s.deployments.get_mut(id).expect("exists");
        complete(&mut d.lifecycle[index], now);
        return None;
    }
    let started = d.lifecycle[index].started_at.unwrap_or(now);
    let timeout = clock
        .minutes_to_real_millis(INSTALL_TIMEOUT_MINUTES)
        .max(INSTALL_TIMEOUT_FLOOR_MS);
    if now - started > timeout {
        return Some((
            "ECS_UPDATE_ERROR",
            format!(
                "the replacement task set did not become healthy ({} of {desired} healthy tasks)",
                cloud.runtime.healthy_count(&green.arn)
            ),
        ));
    }
    None
}

/// After all events: the termination wait (status Baking), then the
/// original task set goes and the replacement becomes primary. Returns
/// whether the deployment finished.
fn finish_termination_wait(
    s: &mut CloudState,
    id: &str,
    group: &crate::state::DeploymentGroup,
    now: i64,
    clock: Clock,
) -> bool {
    let d = s.deployments.get_mut(id).expect("exists");
    let Some(since) = d.baking_since else {
        d.status = "Baking".into();
        d.baking_since = Some(now);
        return false;
    };
    let waited = clock.cloud_elapsed(since, now).as_secs_f64()
        >= group.termination_wait_minutes as f64 * 60.0;
    if !(waited || d.continue_termination) {
        return false;
    }
    promote_green(s, id);
    let d = s.deployments.get_mut(id).expect("exists");
    d.status = "Succeeded".into();
    d.completed_at = Some(now);
    true
}

/// The replacement task set becomes the service's primary; the original goes.
fn promote_green(s: &mut CloudState, id: &str) {
    let d = s.deployments.get(id).expect("exists").clone();
    let Some(service) = s.services.get_mut(&format!("{}/{}", d.cluster, d.service)) else {
        return;
    };
    service
        .task_sets
        .retain(|t| Some(&t.id) != d.blue_task_set.as_ref());
    if let Some(green) = service
        .task_sets
        .iter_mut()
        .find(|t| Some(&t.id) == d.green_task_set.as_ref())
    {
        green.status = "PRIMARY".into();
        green.updated_at = now_millis();
        service.task_definition = green.task_definition.clone();
        if let Some(lb) = service.load_balancers.first_mut() {
            lb.target_group_arn = green.load_balancer.target_group_arn.clone();
        }
    }
}

/// Puts every listener of the group back on the original task set and
/// removes the replacement.
fn restore_blue(s: &mut CloudState, id: &str) {
    let d = s.deployments.get(id).expect("exists").clone();
    let blue = blue_target_group(s, id);
    let group_key = format!("{}/{}", d.application, d.group);
    if let (Some(group), Some(blue)) = (s.deployment_groups.get(&group_key).cloned(), blue) {
        set_forward(s, &group.prod_listener_arns, Some(&blue), None, 100);
        set_forward(s, &group.test_listener_arns, Some(&blue), None, 100);
    }
    if let Some(service) = s.services.get_mut(&format!("{}/{}", d.cluster, d.service)) {
        service
            .task_sets
            .retain(|t| Some(&t.id) != d.green_task_set.as_ref());
    }
    s.deployments.get_mut(id).expect("exists").green_weight = 0.0;
}

fn end_events(d: &mut Deployment, now: i64) {
    for event in &mut d.lifecycle {
        match event.status.as_str() {
            "InProgress" => {
                event.status = "Failed".into();
                event.ended_at = Some(now);
            }
            "Pending" => event.status = "Skipped".into(),
            _ => {}
        }
    }
}

fn fail(s: &mut CloudState, id: &str, code: &str, message: &str, now: i64) {
    let d = s.deployments.get(id).expect("exists").clone();
    let group = s
        .deployment_groups
        .get(&format!("{}/{}", d.application, d.group));
    let auto_rollback = group.is_some_and(|g| {
        g.auto_rollback_enabled
            && g.auto_rollback_events
                .iter()
                .any(|e| e == "DEPLOYMENT_FAILURE")
    });
    // Without automatic rollback AWS leaves the replacement in place; a local
    // service with two half-serving task sets helps nobody, so the original
    // keeps (or gets back) the traffic either way, and only a rollback is
    // reported as one.
    restore_blue(s, id);
    let d = s.deployments.get_mut(id).expect("exists");
    tracing::warn!(deployment = %id, code, message, "deployment failed");
    d.status = "Failed".into();
    d.error = Some((code.to_owned(), message.to_owned()));
    d.completed_at = Some(now);
    end_events(d, now);
    if auto_rollback {
        record_rollback(s, id, "Automatic rollback: the deployment failed", now);
    }
}

fn stop(s: &mut CloudState, id: &str, rollback: bool, now: i64) {
    let d = s.deployments.get(id).expect("exists").clone();
    let shifted = d.baking_since.is_some();
    if !rollback && shifted {
        // All traffic is on the replacement already: stopping keeps it.
        promote_green(s, id);
    } else {
        restore_blue(s, id);
    }
    let d = s.deployments.get_mut(id).expect("exists");
    d.status = "Stopped".into();
    d.error = Some((
        "MANUAL_STOP".into(),
        "The deployment was stopped by a user".into(),
    ));
    d.completed_at = Some(now);
    end_events(d, now);
    if rollback {
        record_rollback(
            s,
            id,
            "The deployment was stopped and rolled back by a user",
            now,
        );
    }
}

/// AWS reports a rollback as a deployment of its own that points back at
/// the one that triggered it.
fn record_rollback(s: &mut CloudState, id: &str, message: &str, now: i64) {
    let original = s.deployments.get(id).expect("exists").clone();
    let rollback_id = loop {
        let candidate = format!(
            "d-{}",
            random_id(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 9)
        );
        if !s.deployments.contains_key(&candidate) {
            break candidate;
        }
    };
    let mut rollback = original.clone();
    rollback.id = rollback_id.clone();
    rollback.status = "Succeeded".into();
    rollback.creator = "codeDeployRollback".into();
    rollback.description = Some(format!("Rollback of {id}"));
    rollback.error = None;
    rollback.created_at = now;
    rollback.started_at = Some(now);
    rollback.completed_at = Some(now);
    rollback.green_task_set = None;
    rollback.green_weight = 0.0;
    rollback.stop_requested = None;
    for event in &mut rollback.lifecycle {
        event.status = "Succeeded".into();
        event.started_at = Some(now);
        event.ended_at = Some(now);
        event.hook = None;
        event.diagnostics = None;
    }
    rollback.rollback = Some(RollbackInfo {
        rollback_deployment_id: None,
        rollback_triggering_deployment_id: Some(id.to_owned()),
        message: message.to_owned(),
    });
    s.deployments.insert(rollback_id.clone(), rollback);
    s.deployments.get_mut(id).expect("exists").rollback = Some(RollbackInfo {
        rollback_deployment_id: Some(rollback_id),
        rollback_triggering_deployment_id: None,
        message: message.to_owned(),
    });
}

fn tg_arn_by_name(s: &CloudState, name: &str) -> Option<String> {
    s.load_balancers
        .values()
        .flat_map(|lb| lb.target_groups.iter())
        .find(|tg| tg.name == name)
        .map(|tg| tg.arn.clone())
}

fn task_set_target_group(s: &CloudState, id: &str, green: bool) -> Option<String> {
    let d = s.deployments.get(id)?;
    let wanted = if green {
        d.green_task_set.as_ref()?
    } else {
        d.blue_task_set.as_ref()?
    };
    let service = s.services.get(&format!("{}/{}", d.cluster, d.service))?;
    service
        .task_sets
        .iter()
        .find(|t| &t.id == wanted)
        .map(|t| t.load_balancer.target_group_arn.clone())
        .or_else(|| {
            if green {
                None
            } else {
                service
                    .load_balancers
                    .first()
                    .map(|lb| lb.target_group_arn.clone())
            }
        })
}

fn blue_target_group(s: &CloudState, id: &str) -> Option<String> {
    task_set_target_group(s, id, false)
}

fn green_target_group(s: &CloudState, id: &str) -> Option<String> {
    task_set_target_group(s, id, true)
}

/// Points each listener at `to` with `weight`, the rest at `rest`.
fn set_forward(
    s: &mut CloudState,
    listeners: &[String],
    to: Option<&str>,
    rest: Option<&str>,
    weight: u32,
) {
    let Some(to) = to else { return };
    for arn in listeners {
        for lb in s.load_balancers.values_mut() {
            if let Some(listener) = lb.listener_mut(arn) {
                let mut forward = vec![(to.to_owned(), weight.min(100))];
                if let Some(rest) = rest {
                    forward.push((rest.to_owned(), 100 - weight.min(100)));
                }
                listener.forward = forward;
            }
        }
    }
}

/// Runs a hook function: a registered local command that gets the
/// deployment id and the hook execution id, and reports by its exit status
/// or by calling PutLifecycleEventHookExecutionStatus itself.
async fn run_hook(cloud: Arc<LocalCloud>, deployment: String, launch: HookLaunch) {
    let command = cloud.read(|s| s.functions.get(&launch.function).cloned());
    let (status, diagnostics) = match command {
        None => (
            "Failed",
            format!(
                "function {} is not registered with the local cloud",
                launch.function
            ),
        ),
        Some(argv) => {
            let log_dir = cloud.data_dir.join("hooks");
            let _ = std::fs::create_dir_all(&log_dir);
            let log_path = log_dir.join(format!("{}.log", launch.execution_id));
            match execute(&cloud, &deployment, &launch, &argv, &log_path).await {
                Ok(true) => ("Succeeded", String::new()),
                Ok(false) => ("Failed", log_tail(&log_path)),
                Err(e) => ("Failed", format!("cannot run {}: {e}", argv.join(" "))),
            }
        }
    };
    let _ = cloud.mutate(|s| {
        let Some(d) = s.deployments.get_mut(&deployment) else {
            return Ok(());
        };
        if let Some(event) = d.lifecycle.iter_mut().find(|e| {
            e.hook
                .as_ref()
                .is_some_and(|h| h.execution_id == launch.execution_id)
        }) {
            if !diagnostics.is_empty() {
                event.diagnostics = Some(diagnostics.clone());
            }
            let hook = event.hook.as_mut().expect("matched above");
            // A status the function reported itself wins over its exit status.
            if !matches!(hook.status.as_str(), "Succeeded" | "Failed") {
                hook.status = status.to_owned();
            }
        }
        Ok(())
    });
}

async fn execute(
    cloud: &LocalCloud,
    deployment: &str,
    launch: &HookLaunch,
    argv: &[String],
    log: &std::path::Path,
) -> std::io::Result<bool> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let out = std::fs::File::create(log)?;
    let status = tokio::process::Command::new(program)
        .args(args)
        .env("DEPLOYMENT_ID", deployment)
        .env("LIFECYCLE_EVENT_HOOK_EXECUTION_ID", &launch.execution_id)
        .env("LIFECYCLE_EVENT", &launch.event)
        .env("AWS_ENDPOINT_URL", cloud.endpoint())
        .env("AWS_REGION", crate::state::REGION)
        .env("AWS_DEFAULT_REGION", crate::state::REGION)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true)
        .status()
        .await?;
    Ok(status.success())
}

fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(10).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    if tail.is_empty() {
        "the hook exited with a failure status".into()
    } else {
        tail.join("\n")
    }
}
