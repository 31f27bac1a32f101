//! Drives a pipeline execution stage by stage. Each tick reads the stored
//! execution and decides what is true now (which stage it may enter, which
//! actions to start, whether the stage is done), so a restarted local cloud
//! picks an execution up from its stored state. The work of an action runs
//! in a task of its own that reports back through the state.
//!
//! Execution modes, kept simple and consistent:
//! - SUPERSEDED (the default): a stage holds one execution at a time. An
//!   execution that has finished a stage waits before the next one while
//!   another execution is in it; of several waiting for a stage only the
//!   newest waits, the older ones are Superseded. And a newer execution
//!   that reaches a stage where an older one only waits for a manual
//!   approval supersedes it: its approval is Abandoned and its token stops
//!   working, so approvers are never asked about a stale revision.
//! - QUEUED: a stage holds one execution at a time; the others wait in
//!   the order they started, nothing is superseded.
//! - PARALLEL: executions do not wait for each other.
//!
//! Within a stage, actions run by runOrder: those with the same runOrder
//! together, the next runOrder once they all succeeded. A failed action
//! fails the stage (after its siblings still running finish) and the
//! execution. StopPipelineExecution: "stop and wait" lets running Source,
//! Build and Deploy actions finish, "stop and abandon" abandons them (a
//! build or git process is killed; a CodeDeploy deployment goes on, as in
//! AWS); pending approvals are abandoned either way.

use super::super::state::{
    ActionRun, ArtifactRecord, CloudState, PipelineAction, PipelineExecution,
};
use super::super::{Clock, LocalCloud, now_millis, random_uuid};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const TICK: Duration = Duration::from_millis(100);
/// A manual approval nobody answers fails after seven days (cloud time).
const APPROVAL_TIMEOUT_MINUTES: f64 = 7.0 * 24.0 * 60.0;
/// ErrorDetails.code of a failed action.
pub const JOB_FAILED: &str = "JobFailed";

/// The work of one action execution, handed to its task.
#[derive(Debug, Clone)]
pub struct Launch {
    pub execution: String,
    pub run: String,
    pub provider: String,
}

impl Launch {
    /// Its execution, action execution and action declaration, while the
    /// execution is still kept.
    pub fn find<'a>(
        &self,
        s: &'a CloudState,
    ) -> Option<(&'a PipelineExecution, &'a ActionRun, &'a PipelineAction)> {
        let execution = s.pipeline_executions.get(&self.execution)?;
        let run = execution.actions.iter().find(|r| r.id == self.run)?;
        Some((execution, run, execution.declaration_of(run)?))
    }
}

pub struct ActionSuccess {
    pub summary: Option<String>,
    pub artifacts: Vec<ArtifactRecord>,
    pub output_variables: BTreeMap<String, String>,
}

pub struct ActionFailure {
    pub message: String,
    pub summary: Option<String>,
}

impl ActionFailure {
    pub fn new(message: impl Into<String>) -> ActionFailure {
        ActionFailure {
            message: message.into(),
            summary: None,
        }
    }
}

/// Starts the driver of an execution unless one runs already.
pub fn spawn(cloud: &Arc<LocalCloud>, id: &str) {
    let start = {
        let mut state = cloud.lock();
        match state.pipeline_executions.get_mut(id) {
            Some(e) if !e.driven && !e.is_finished() => {
                e.driven = true;
                true
            }
            _ => false,
        }
    };
    if start {
        tokio::spawn(drive(cloud.clone(), id.to_owned()));
    }
}

/// After a restart: Source and Build actions that were running are lost
/// (their processes died with the local cloud) and fail as interrupted;
/// pending approvals keep waiting; Deploy actions follow their deployment
/// again. Then every unfinished execution gets its driver back.
pub fn resume(cloud: &Arc<LocalCloud>) {
    let now = now_millis();
    let active = cloud.mutate(|s| {
        let mut active = Vec::new();
        for e in s.pipeline_executions.values_mut() {
            if e.is_finished() {
                continue;
            }
            active.push(e.id.clone());
            let providers: BTreeMap<(String, String), String> = e
                .stages
                .iter()
                .flat_map(|st| {
                    st.actions
                        .iter()
                        .map(|a| ((st.name.clone(), a.name.clone()), a.category.clone()))
                })
                .collect();
            for run in e.actions.iter_mut().filter(|r| r.status == "InProgress") {
                let category = providers
                    .get(&(run.stage.clone(), run.action.clone()))
                    .map_or("", String::as_str);
                if matches!(category, "Source" | "Build") {
                    let message = format!(
                        "The {category} action was interrupted: the local cloud restarted while it ran"
                    );
                    run.status = "Failed".into();
                    run.summary = Some(message.clone());
                    run.error = Some((JOB_FAILED.into(), message));
                    run.updated_at = now;
                    e.updated_at = now;
                }
            }
        }
        Ok(active)
    });
    match active {
        Ok(ids) => {
            for id in ids {
                tracing::info!(execution = %id, "resuming pipeline execution");
                spawn(cloud, &id);
            }
        }
        Err(e) => tracing::error!(error = %e.message, "cannot resume pipeline executions"),
    }
}

async fn drive(cloud: Arc<LocalCloud>, id: String) {
    loop {
        let (finished, launches) = {
            let mut state = cloud.lock();
            let mut tick = Tick::default();
            advance(&cloud, &mut state, &id, now_millis(), &mut tick);
            if tick.finished
                && let Some(e) = state.pipeline_executions.get_mut(&id)
            {
                e.driven = false;
            }
            if tick.changed
                && let Err(e) = cloud.file.save(&state)
            {
                tracing::error!(error = %e, "cannot save the local cloud's state");
            }
            (tick.finished, tick.launch)
        };
        for launch in launches {
            let cloud = cloud.clone();
            tokio::spawn(async move {
                match launch.provider.as_str() {
                    "CodeCommit" | "CodeStarSourceConnection" => {
                        super::source::run(cloud, launch).await
                    }
                    "CodeBuild" => super::build::run(cloud, launch).await,
                    "CodeDeployToECS" => super::deploy_codedeploy::run(cloud, launch).await,
                    "ECS" => super::deploy_ecs::run(cloud, launch).await,
                    other => report(
                        &cloud,
                        &launch,
                        Err(ActionFailure::new(format!(
                            "the local cloud cannot run {other} actions"
                        ))),
                    ),
                }
            });
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
    launch: Vec<Launch>,
}

fn advance(cloud: &LocalCloud, s: &mut CloudState, id: &str, now: i64, tick: &mut Tick) {
    let Some(e) = s.pipeline_executions.get(id) else {
        tick.finished = true;
        return;
    };
    if e.is_finished() {
        tick.finished = true;
        return;
    }
    expire_approvals(s, id, now, cloud.clock, tick);
    relaunch(s, id, tick);
    let e = &s.pipeline_executions[id];
    if e.stop.is_some() {
        stop(s, id, now, tick);
        return;
    }
    let Some(index) = e
        .stage_runs
        .iter()
        .position(|r| r.status.as_deref() != Some("Succeeded"))
    else {
        finish(s, id, "Succeeded", None, now, tick);
        return;
    };
    match e.stage_runs[index].status.as_deref() {
        None => {
            if may_enter(s, id, index, now, tick) {
                let e = execution(s, id);
                e.stage_runs[index].status = Some("InProgress".into());
                e.stage_runs[index].entered_at = Some(now);
                e.updated_at = now;
                tick.changed = true;
                run_stage(cloud, s, id, index, now, tick);
            }
        }
        Some("InProgress") => run_stage(cloud, s, id, index, now, tick),
        Some(other) => {
            let message = format!("stage {} is {other}", e.stage_runs[index].name);
            finish(s, id, "Failed", Some(message), now, tick);
        }
    }
}

fn execution<'a>(s: &'a mut CloudState, id: &str) -> &'a mut PipelineExecution {
    s.pipeline_executions
        .get_mut(id)
        .expect("the driver checked that the execution exists")
}

fn finish(
    s: &mut CloudState,
    id: &str,
    status: &str,
    summary: Option<String>,
    now: i64,
    tick: &mut Tick,
) {
    let e = execution(s, id);
    e.status = status.into();
    e.status_summary = summary;
    e.updated_at = now;
    tick.finished = true;
    tick.changed = true;
}

/// The latest run of an action in the stage's current attempt.
pub fn current_run<'a>(
    e: &'a PipelineExecution,
    stage: &str,
    action: &str,
) -> Option<&'a ActionRun> {
    e.actions
        .iter()
        .rev()
        .find(|r| r.current && r.stage == stage && r.action == action)
}

/// The stage an execution waits to enter: its first stage not yet
/// succeeded, if it has not entered it.
fn waiting_for(e: &PipelineExecution) -> Option<&str> {
    let run = e
        .stage_runs
        .iter()
        .find(|r| r.status.as_deref() != Some("Succeeded"))?;
    run.status.is_none().then_some(run.name.as_str())
}

fn occupies(e: &PipelineExecution, stage: &str) -> bool {
    e.stage_runs
        .iter()
        .any(|r| r.name == stage && matches!(r.status.as_deref(), Some("InProgress" | "Stopping")))
}

/// Whether `id` may enter stage `index` now, by its execution mode;
/// supersedes what the mode says it replaces.
fn may_enter(s: &mut CloudState, id: &str, index: usize, now: i64, tick: &mut Tick) -> bool {
    let e = &s.pipeline_executions[id];
    if e.execution_mode == "PARALLEL" {
        return true;
    }
    let stage = e.stage_runs[index].name.clone();
    let (pipeline, sequence, mode) = (e.pipeline.clone(), e.sequence, e.execution_mode.clone());
    let others: Vec<&PipelineExecution> = s
        .pipeline_executions
        .values()
        .filter(|o| o.id != id && o.pipeline == pipeline && !o.is_finished())
        .collect();
    let occupant = others
        .iter()
        .find(|o| occupies(o, &stage))
        .map(|o| (o.id.clone(), o.sequence, only_awaiting_approval(o, &stage)));
    let waiters: Vec<(String, u64)> = others
        .iter()
        .filter(|o| waiting_for(o) == Some(stage.as_str()))
        .map(|o| (o.id.clone(), o.sequence))
        .collect();

    if mode == "QUEUED" {
        return occupant.is_none() && waiters.iter().all(|(_, seq)| *seq > sequence);
    }
    // SUPERSEDED: the newest execution wins the stage.
    let newer = waiters
        .iter()
        .map(|(id, seq)| (id.clone(), *seq))
        .chain(occupant.iter().map(|(id, seq, _)| (id.clone(), *seq)))
        .filter(|(_, seq)| *seq > sequence)
        .max_by_key(|(_, seq)| *seq);
    if let Some((newest, _)) = newer {
        supersede(s, id, &newest, now);
        tick.changed = true;
        return false;
    }
    for (older, _) in &waiters {
        supersede(s, older, id, now);
        tick.changed = true;
    }
    match occupant {
        None => true,
        Some((older, _, true)) => {
            supersede(s, &older, id, now);
            tick.changed = true;
            true
        }
        Some(_) => false,
    }
}

/// Whether all that runs of `e` in `stage` are manual approvals waiting.
fn only_awaiting_approval(e: &PipelineExecution, stage: &str) -> bool {
    let running: Vec<&ActionRun> = e
        .actions
        .iter()
        .filter(|r| r.current && r.stage == stage && r.status == "InProgress")
        .collect();
    !running.is_empty() && running.iter().all(|r| r.token.is_some())
}

fn supersede(s: &mut CloudState, victim: &str, by: &str, now: i64) {
    let Some(e) = s.pipeline_executions.get_mut(victim) else {
        return;
    };
    tracing::info!(execution = %victim, by = %by, "pipeline execution superseded");
    e.status = "Superseded".into();
    e.status_summary = Some(format!("Superseded by pipeline execution {by}"));
    e.updated_at = now;
    for run in e.actions.iter_mut().filter(|r| r.status == "InProgress") {
        run.status = "Abandoned".into();
        run.summary = Some(format!("Abandoned: superseded by pipeline execution {by}"));
        run.updated_at = now;
    }
    for stage in e.stage_runs.iter_mut() {
        if matches!(stage.status.as_deref(), Some("InProgress" | "Stopping")) {
            stage.status = Some("Cancelled".into());
        }
    }
}

fn expire_approvals(s: &mut CloudState, id: &str, now: i64, clock: Clock, tick: &mut Tick) {
    let e = execution(s, id);
    for run in e
        .actions
        .iter_mut()
        .filter(|r| r.status == "InProgress" && r.token.is_some())
    {
        if clock.cloud_elapsed(run.started_at, now).as_secs_f64() >= APPROVAL_TIMEOUT_MINUTES * 60.0
        {
            let message =
                "The approval request expired: nobody approved or rejected it within 7 days"
                    .to_owned();
            run.status = "Failed".into();
            run.summary = Some(message.clone());
            run.error = Some((JOB_FAILED.into(), message));
            run.updated_at = now;
            tick.changed = true;
        }
    }
}

fn stop(s: &mut CloudState, id: &str, now: i64, tick: &mut Tick) {
    let e = execution(s, id);
    let request = e.stop.clone().expect("checked by the caller");
    for run in e.actions.iter_mut().filter(|r| r.status == "InProgress") {
        if request.abandon || run.token.is_some() {
            run.status = "Abandoned".into();
            run.summary = Some(match &request.reason {
                Some(reason) => format!("Abandoned: the execution was stopped ({reason})"),
                None => "Abandoned: the execution was stopped".into(),
            });
            run.updated_at = now;
            tick.changed = true;
        }
    }
    if e.actions.iter().any(|r| r.status == "InProgress") {
        return; // stop and wait: running actions finish first
    }
    for stage in e.stage_runs.iter_mut() {
        if matches!(stage.status.as_deref(), Some("InProgress" | "Stopping")) {
            stage.status = Some("Stopped".into());
        }
    }
    let summary = request.reason.clone();
    finish(s, id, "Stopped", summary, now, tick);
}

fn run_stage(
    cloud: &LocalCloud,
    s: &mut CloudState,
    id: &str,
    index: usize,
    now: i64,
    tick: &mut Tick,
) {
    let e = &s.pipeline_executions[id];
    let stage = e.stages[index].clone();
    let mut orders: Vec<u32> = stage.actions.iter().map(|a| a.run_order).collect();
    orders.sort_unstable();
    orders.dedup();
    for order in orders {
        let e = &s.pipeline_executions[id];
        let group: Vec<&PipelineAction> = stage
            .actions
            .iter()
            .filter(|a| a.run_order == order)
            .collect();
        let runs: Vec<Option<&ActionRun>> = group
            .iter()
            .map(|a| current_run(e, &stage.name, &a.name))
            .collect();
        if runs
            .iter()
            .all(|r| r.is_some_and(|r| r.status == "Succeeded"))
        {
            continue;
        }
        let failed = runs
            .iter()
            .flatten()
            .find(|r| matches!(r.status.as_str(), "Failed" | "Abandoned"))
            .map(|r| {
                r.error
                    .as_ref()
                    .map(|(_, m)| m.clone())
                    .or_else(|| r.summary.clone())
                    .unwrap_or_else(|| format!("action {} {}", r.action, r.status))
            });
        let missing: Vec<PipelineAction> = group
            .iter()
            .zip(&runs)
            .filter(|(_, run)| run.is_none())
            .map(|(a, _)| (*a).clone())
            .collect();
        let running = runs.iter().flatten().any(|r| r.status == "InProgress");
        if failed.is_none() && !missing.is_empty() {
            for action in missing {
                start_action(cloud, s, id, &stage.name, &action, now, tick);
            }
            return;
        }
        if running {
            if failed.is_some() {
                let e = execution(s, id);
                for run in e.actions.iter_mut().filter(|r| {
                    r.current
                        && r.stage == stage.name
                        && r.status == "InProgress"
                        && r.token.is_some()
                }) {
                    // A sibling failed: the stage will fail, nobody need approve.
                    run.status = "Abandoned".into();
                    run.summary = Some("Abandoned: another action of the stage failed".into());
                    run.updated_at = now;
                    tick.changed = true;
                }
            }
            return;
        }
        let message = failed.unwrap_or_else(|| "an action did not run".into());
        let e = execution(s, id);
        e.stage_runs[index].status = Some("Failed".into());
        finish(s, id, "Failed", Some(message), now, tick);
        return;
    }
    let e = execution(s, id);
    e.stage_runs[index].status = Some("Succeeded".into());
    e.updated_at = now;
    tick.changed = true;
    if index + 1 == e.stage_runs.len() {
        finish(s, id, "Succeeded", None, now, tick);
    }
}

/// After a restart, the work of a running action has no task: a Deploy
/// action follows its deployment again (Source and Build actions were
/// failed as interrupted by `resume`). Approvals have no task.
fn relaunch(s: &mut CloudState, id: &str, tick: &mut Tick) {
    let e = execution(s, id);
    let providers: BTreeMap<(&str, &str), &str> = e
        .stages
        .iter()
        .flat_map(|st| {
            st.actions
                .iter()
                .map(|a| ((st.name.as_str(), a.name.as_str()), a.provider.as_str()))
        })
        .collect();
    let mut launches = Vec::new();
    for (index, run) in e.actions.iter().enumerate() {
        if run.status == "InProgress" && !run.launched && run.token.is_none() {
            let provider = providers
                .get(&(run.stage.as_str(), run.action.as_str()))
                .map_or_else(String::new, |p| (*p).to_owned());
            launches.push((index, provider));
        }
    }
    for (index, provider) in launches {
        let run = &mut e.actions[index];
        run.launched = true;
        tick.launch.push(Launch {
            execution: id.to_owned(),
            run: run.id.clone(),
            provider,
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn start_action(
    cloud: &LocalCloud,
    s: &mut CloudState,
    id: &str,
    stage: &str,
    action: &PipelineAction,
    now: i64,
    tick: &mut Tick,
) {
    let e = &s.pipeline_executions[id];
    let resolved = super::variables::resolve(&action.configuration, e);
    let mut run = ActionRun {
        id: random_uuid(),
        stage: stage.to_owned(),
        action: action.name.clone(),
        status: "InProgress".into(),
        current: true,
        summary: None,
        token: None,
        external_execution_id: None,
        external_execution_url: None,
        error: None,
        updated_by: None,
        resolved_configuration: BTreeMap::new(),
        output_variables: BTreeMap::new(),
        started_at: now,
        updated_at: now,
        launched: false,
    };
    match resolved {
        Err(message) => {
            run.status = "Failed".into();
            run.summary = Some(message.clone());
            run.error = Some((JOB_FAILED.into(), message));
        }
        Ok(configuration) => {
            run.resolved_configuration = configuration;
            if action.category == "Approval" {
                run.token = Some(random_uuid());
            } else {
                if action.provider == "CodeBuild" {
                    let project = run
                        .resolved_configuration
                        .get("ProjectName")
                        .cloned()
                        .unwrap_or_default();
                    run.external_execution_id = Some(format!("{project}:{}", random_uuid()));
                    run.external_execution_url = Some(format!(
                        "{}{}",
                        cloud.endpoint(),
                        super::build_log_route(&run.id)
                    ));
                }
                run.launched = true;
                tick.launch.push(Launch {
                    execution: id.to_owned(),
                    run: run.id.clone(),
                    provider: action.provider.clone(),
                });
            }
        }
    }
    let e = execution(s, id);
    e.actions.push(run);
    e.updated_at = now;
    tick.changed = true;
}

/// Whether an action's work should go on: its run is still InProgress (not
/// abandoned, the execution not deleted).
pub fn still_running(cloud: &LocalCloud, launch: &Launch) -> bool {
    cloud.read(|s| {
        s.pipeline_executions
            .get(&launch.execution)
            .and_then(|e| e.actions.iter().find(|r| r.id == launch.run))
            .is_some_and(|r| r.status == "InProgress")
    })
}

/// Changes a running action execution (progress it reports); nothing
/// happens once it is no longer InProgress.
pub fn update_run(cloud: &LocalCloud, launch: &Launch, change: impl FnOnce(&mut ActionRun)) {
    let result = cloud.mutate(|s| {
        if let Some(run) = s
            .pipeline_executions
            .get_mut(&launch.execution)
            .and_then(|e| e.actions.iter_mut().find(|r| r.id == launch.run))
            .filter(|r| r.status == "InProgress")
        {
            change(run);
            run.updated_at = now_millis();
        }
        Ok(())
    });
    if let Err(e) = result {
        tracing::error!(error = %e.message, "cannot record an action's progress");
    }
}

/// Records how an action's work ended, with the artifacts it produced.
/// An action abandoned meanwhile stays abandoned.
pub fn report(cloud: &LocalCloud, launch: &Launch, outcome: Result<ActionSuccess, ActionFailure>) {
    let now = now_millis();
    let result = cloud.mutate(|s| {
        let Some(e) = s.pipeline_executions.get_mut(&launch.execution) else {
            return Ok(());
        };
        let Some(run) = e
            .actions
            .iter_mut()
            .find(|r| r.id == launch.run)
            .filter(|r| r.status == "InProgress")
        else {
            return Ok(());
        };
        run.updated_at = now;
        match outcome {
            Ok(success) => {
                run.status = "Succeeded".into();
                run.summary = success.summary;
                run.output_variables = success.output_variables;
                for artifact in success.artifacts {
                    e.artifacts.insert(artifact.name.clone(), artifact);
                }
            }
            Err(failure) => {
                // The first line only: the rest is the build's own output.
                let headline = failure.message.lines().next().unwrap_or_default();
                tracing::warn!(execution = %launch.execution, action = %run.action, "pipeline action failed: {headline}");
                run.status = "Failed".into();
                run.summary = failure.summary.or_else(|| Some(truncate(&failure.message, 2048)));
                run.error = Some((JOB_FAILED.into(), truncate(&failure.message, 5000)));
            }
        }
        e.updated_at = now;
        Ok(())
    });
    if let Err(e) = result {
        tracing::error!(error = %e.message, "cannot record how a pipeline action ended");
    }
}

/// At most `max` bytes, cut at a character boundary, keeping the end
/// (where a log's news is) when it must cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let marker = "…\n";
    let mut start = text.len() - (max - marker.len());
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("{marker}{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_the_end() {
        assert_eq!(truncate("short", 10), "short");
        let long = "a".repeat(100) + "end";
        let cut = truncate(&long, 20);
        assert!(cut.len() <= 20 && cut.ends_with("end"), "{cut}");
        let unicode = "é".repeat(50);
        assert!(truncate(&unicode, 21).len() <= 21);
    }

    use super::super::super::state::{PipelineStage, StageRun};

    const STAGES: [&str; 3] = ["Source", "Build", "Approval"];

    /// An execution of pipeline "p" whose stages have the given statuses;
    /// `running` is an action InProgress in the stage it is in (an approval
    /// when `approval`).
    fn execution_at(
        id: &str,
        sequence: u64,
        mode: &str,
        statuses: [Option<&str>; 3],
        approval: bool,
    ) -> PipelineExecution {
        let stage_runs: Vec<StageRun> = STAGES
            .iter()
            .zip(statuses)
            .map(|(name, status)| StageRun {
                name: (*name).to_owned(),
                status: status.map(str::to_owned),
                entered_at: status.map(|_| 1),
            })
            .collect();
        let mut actions = Vec::new();
        if let Some(run) = stage_runs
            .iter()
            .find(|r| r.status.as_deref() == Some("InProgress"))
        {
            actions.push(ActionRun {
                id: format!("{id}-run"),
                stage: run.name.clone(),
                action: run.name.clone(),
                status: "InProgress".into(),
                current: true,
                summary: None,
                token: approval.then(|| "token".to_owned()),
                external_execution_id: None,
                external_execution_url: None,
                error: None,
                updated_by: None,
                resolved_configuration: BTreeMap::new(),
                output_variables: BTreeMap::new(),
                started_at: 1,
                updated_at: 1,
                launched: true,
            });
        }
        PipelineExecution {
            id: id.to_owned(),
            sequence,
            pipeline: "p".into(),
            pipeline_version: 1,
            execution_mode: mode.into(),
            status: "InProgress".into(),
            status_summary: None,
            trigger_type: "StartPipelineExecution".into(),
            trigger_detail: None,
            variables: Vec::new(),
            source_revisions: BTreeMap::new(),
            stages: STAGES
                .iter()
                .map(|name| PipelineStage {
                    name: (*name).to_owned(),
                    actions: Vec::new(),
                })
                .collect(),
            stage_runs,
            actions,
            artifacts: BTreeMap::new(),
            stop: None,
            started_at: sequence as i64,
            updated_at: sequence as i64,
            driven: false,
        }
    }

    fn state(executions: Vec<PipelineExecution>) -> CloudState {
        let mut s = CloudState::default();
        for e in executions {
            s.pipeline_executions.insert(e.id.clone(), e);
        }
        s
    }

    const DONE: Option<&str> = Some("Succeeded");
    const IN: Option<&str> = Some("InProgress");

    fn status(s: &CloudState, id: &str) -> String {
        s.pipeline_executions[id].status.clone()
    }

    #[test]
    fn a_newer_execution_supersedes_one_that_only_waits_for_approval() {
        let mut s = state(vec![
            execution_at("a", 1, "SUPERSEDED", [DONE, DONE, IN], true),
            execution_at("b", 2, "SUPERSEDED", [DONE, DONE, None], false),
        ]);
        assert!(may_enter(&mut s, "b", 2, 5, &mut Tick::default()));
        assert_eq!(status(&s, "a"), "Superseded");
        let a = &s.pipeline_executions["a"];
        assert_eq!(a.actions[0].status, "Abandoned");
        assert_eq!(a.stage_runs[2].status.as_deref(), Some("Cancelled"));
        assert!(a.status_summary.as_ref().unwrap().contains('b'));
    }

    #[test]
    fn running_work_is_not_superseded_and_only_the_newest_waits() {
        let mut s = state(vec![
            execution_at("a", 1, "SUPERSEDED", [DONE, IN, None], false),
            execution_at("b", 2, "SUPERSEDED", [DONE, None, None], false),
            execution_at("c", 3, "SUPERSEDED", [DONE, None, None], false),
        ]);
        // The older waiter gives way to the newer one.
        assert!(!may_enter(&mut s, "b", 1, 5, &mut Tick::default()));
        assert_eq!(status(&s, "b"), "Superseded");
        assert_eq!(status(&s, "c"), "InProgress");
        // The newest waits while the build runs.
        assert!(!may_enter(&mut s, "c", 1, 5, &mut Tick::default()));
        assert_eq!(status(&s, "a"), "InProgress");
        assert_eq!(status(&s, "c"), "InProgress");
        // And enters once the stage is free.
        s.pipeline_executions.get_mut("a").unwrap().stage_runs[1].status = DONE.map(str::to_owned);
        assert!(may_enter(&mut s, "c", 1, 5, &mut Tick::default()));
    }

    #[test]
    fn queued_executions_take_turns_in_order() {
        let mut s = state(vec![
            execution_at("a", 1, "QUEUED", [DONE, DONE, IN], true),
            execution_at("b", 2, "QUEUED", [DONE, DONE, None], false),
            execution_at("c", 3, "QUEUED", [DONE, DONE, None], false),
        ]);
        assert!(!may_enter(&mut s, "b", 2, 5, &mut Tick::default()));
        assert_eq!(status(&s, "a"), "InProgress", "nothing is superseded");
        s.pipeline_executions.get_mut("a").unwrap().status = "Succeeded".into();
        assert!(
            !may_enter(&mut s, "c", 2, 5, &mut Tick::default()),
            "b is first in line"
        );
        assert!(may_enter(&mut s, "b", 2, 5, &mut Tick::default()));
        assert_eq!(status(&s, "c"), "InProgress");
    }

    #[test]
    fn parallel_executions_do_not_wait() {
        let mut s = state(vec![
            execution_at("a", 1, "PARALLEL", [DONE, IN, None], false),
            execution_at("b", 2, "PARALLEL", [DONE, None, None], false),
        ]);
        assert!(may_enter(&mut s, "b", 1, 5, &mut Tick::default()));
        assert_eq!(status(&s, "a"), "InProgress");
    }
}
