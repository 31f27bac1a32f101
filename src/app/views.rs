//! What the dashboard shows, read with the same authorization as the API:
//! the environments overview, one deployment with its planned and observed
//! traffic, pipeline runs, approvals with who may still vote, release
//! history with filters, and the DORA figures.

use super::approvals::ApprovalView;
use super::{Actor, App, Error, Result};
use crate::cloud::deployments::{LifecycleEventState, TaskSetState};
use crate::cloud::pipelines::StageState;
use crate::domain::deployment::DeploymentStatus;
use crate::domain::deployment_config::DeploymentConfig;
use crate::domain::pipeline::{RunStatus, VoteRefused};
use crate::domain::user::Role;
use crate::store::pipeline_runs::PipelineRunRow;
use crate::store::views::{
    DoraRow, ReleaseDeploymentRow, ReleaseFilter, ReleaseHistoryRow, TrafficColumn,
};
use crate::store::{
    self, Page, PageRequest, deployments::DeploymentRow, environments::EnvironmentRow,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The deployment actions an actor may take. The use cases in
/// `deployments.rs` refuse anyone else whatever a page shows; this only
/// decides which buttons to draw (`allowed_actions_match_the_use_cases`
/// checks the two agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedActions {
    /// Reroute traffic held in Ready; end the termination wait.
    pub continue_deployment: bool,
    pub roll_back_deployment: bool,
}

impl AllowedActions {
    pub fn of(actor: &Actor) -> AllowedActions {
        AllowedActions {
            continue_deployment: actor.role.allows(Role::Deployer),
            roll_back_deployment: actor.role.allows(Role::Deployer),
        }
    }
}

/// The pipeline actions an actor may take (buttons only; the use cases in
/// `pipelines.rs` refuse anyone else, `allowed_actions_match_the_use_cases`
/// checks the two agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineActions {
    pub start: bool,
    pub stop: bool,
    pub retry: bool,
}

impl PipelineActions {
    pub fn of(actor: &Actor) -> PipelineActions {
        let deployer = actor.role.allows(Role::Deployer);
        PipelineActions {
            start: deployer,
            stop: deployer,
            retry: deployer,
        }
    }
}

/// One environment on the overview.
#[derive(Debug, Clone)]
pub struct EnvironmentSummary {
    pub environment: EnvironmentRow,
    /// The latest deployment that succeeded: what production serves.
    pub live: Option<DeploymentRow>,
    /// The latest deployment, whatever its state.
    pub latest: Option<DeploymentRow>,
    /// The latest pipeline run.
    pub latest_run: Option<PipelineRunRow>,
    /// Approvals of this environment waiting for votes.
    pub pending_approvals: i64,
}

impl EnvironmentSummary {
    /// The task sets as last observed (of the latest deployment).
    pub fn task_sets(&self) -> Vec<TaskSetState> {
        self.latest
            .as_ref()
            .map(|d| serde_json::from_str(&d.task_sets).unwrap_or_default())
            .unwrap_or_default()
    }
}

/// The planned production traffic shift of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedShift {
    /// When traffic starts (or is expected to start) moving, epoch ms.
    pub starts_at: i64,
    /// Whether `starts_at` is a projection (AllowTraffic has not begun).
    pub projected: bool,
    /// (ms after `starts_at` on the wall clock, green weight).
    pub steps: Vec<(i64, u8)>,
    /// Wall-clock time per unit of schedule time: 1 on AWS; a local cloud
    /// run with `--time-scale 60` shows 1/60.
    pub clock_ratio: f64,
}

impl PlannedShift {
    /// When the last step is due.
    pub fn end(&self) -> Option<i64> {
        self.steps.last().map(|(offset, _)| self.starts_at + offset)
    }
}

/// The time axis of a deployment's traffic chart: from its start to the
/// latest of its end (or now), the plan's last step and the last sample,
/// with a little room after the last step so it is seen as a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChartWindow {
    pub start: i64,
    /// Milliseconds, at least one second's worth.
    pub span: i64,
}

impl ChartWindow {
    pub fn new(start: i64, end: i64, planned_end: Option<i64>, last_sample: Option<i64>) -> Self {
        let end = [Some(end), planned_end, last_sample]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(start);
        ChartWindow {
            start,
            span: (end - start).max(1000) * 104 / 100,
        }
    }
}

/// A deployment with what its page draws.
#[derive(Debug, Clone)]
pub struct DeploymentView {
    pub row: DeploymentRow,
    pub lifecycle: Vec<LifecycleEventState>,
    pub task_sets: Vec<TaskSetState>,
    /// The chart's time axis; `end` is the deployment's end, or now.
    pub window: ChartWindow,
    pub end: i64,
    /// The observed green weight reduced to the chart's pixel columns, oldest first.
    pub traffic: Arc<Vec<TrafficColumn>>,
    pub planned: Option<PlannedShift>,
    /// The approval it waits for (or waited for) in Ready, with its votes.
    pub approval: Option<ApprovalStanding>,
    pub prod_url: Option<String>,
    pub finished: bool,
    /// The newest event this state includes (read before the state), so a
    /// live page can skip the events it replays.
    pub last_event_id: i64,
}

impl DeploymentView {
    /// The lifecycle event in progress (or next due).
    pub fn current_event(&self) -> Option<&LifecycleEventState> {
        self.lifecycle
            .iter()
            .find(|e| e.status == "InProgress")
            .or_else(|| {
                (!self.finished)
                    .then(|| self.lifecycle.iter().find(|e| e.status == "Pending"))
                    .flatten()
            })
    }

    pub fn task_set(&self, label: &str) -> Option<&TaskSetState> {
        self.task_sets.iter().find(|t| t.label == label)
    }
}

/// Release history with each release's deployments.
#[derive(Debug, Clone)]
pub struct ReleaseHistory {
    pub environment: EnvironmentRow,
    pub page: Page<ReleaseHistoryRow>,
    /// Per release id, newest first.
    pub deployments: HashMap<i64, Vec<ReleaseDeploymentRow>>,
    pub authors: Vec<String>,
}

/// DORA figures over a window. Lead time runs from when a release was
/// recorded (the releases table keeps no commit time) to when production
/// traffic was fully on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dora {
    pub from: i64,
    pub to: i64,
    pub counts: DoraRow,
    pub deployments_per_day: f64,
    pub lead_time_median_ms: Option<i64>,
    pub lead_time_avg_ms: Option<i64>,
    /// Failed or rolled back, of the finished deployments; None when none finished.
    pub change_failure_rate: Option<f64>,
    pub time_to_restore_avg_ms: Option<i64>,
}

/// The local cloud runs at one time scale per process: remembered from the
/// last deployment whose steps showed it, so the next one is drawn to
/// scale before its own second step arrives.
static LOCAL_CLOCK_RATIO: AtomicU64 = AtomicU64::new(0);

fn remembered_local_ratio() -> Option<f64> {
    let bits = LOCAL_CLOCK_RATIO.load(Ordering::Relaxed);
    (bits != 0).then(|| f64::from_bits(bits))
}

/// How fast schedule time passed on the wall clock, from when the first
/// two steps' weights were first observed (`reached`). Ratios near 1 are
/// polling jitter, not scaling.
pub fn measured_clock_ratio(steps: &[(i64, u8)], reached: [Option<i64>; 2]) -> Option<f64> {
    let [(first_offset, _), (second_offset, _), ..] = steps else {
        return None;
    };
    let observed = reached[1]? - reached[0]?;
    let planned = second_offset - first_offset;
    if planned <= 0 || observed <= 0 {
        return None;
    }
    let ratio = observed as f64 / planned as f64;
    Some(if (0.5..=2.0).contains(&ratio) {
        1.0
    } else {
        ratio
    })
}

/// Read models worth keeping between requests.
#[derive(Debug, Default)]
pub struct ViewCache {
    dora: DoraCache,
    traffic: TrafficCache,
}

type TrafficKey = (i64, ChartWindow, u32);

/// The chart columns of finished deployments: their samples never change
/// again, and a long shift's take a few milliseconds to reduce.
#[derive(Debug, Default)]
struct TrafficCache {
    entries: Mutex<HashMap<TrafficKey, Arc<Vec<TrafficColumn>>>>,
}

impl TrafficCache {
    const MAX_ENTRIES: usize = 64;

    fn get(&self, key: &TrafficKey) -> Option<Arc<Vec<TrafficColumn>>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).cloned()
    }

    fn put(&self, key: TrafficKey, columns: Arc<Vec<TrafficColumn>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, columns);
    }
}

/// DORA figures computed lately, per environment and window length. An
/// entry holds while nothing was written since (`App::generation`) and its
/// window has slid by less than `SLACK_MS`.
#[derive(Debug, Default)]
struct DoraCache {
    entries: Mutex<HashMap<(i64, i64), (u64, Dora)>>,
}

impl DoraCache {
    pub const SLACK_MS: i64 = 60_000;
    const MAX_ENTRIES: usize = 256;

    fn get(&self, environment_id: i64, from: i64, to: i64, generation: u64) -> Option<Dora> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(&(environment_id, to - from)) {
            Some((g, dora)) if *g == generation && (to - dora.to).abs() < Self::SLACK_MS => {
                Some(dora.clone())
            }
            _ => None,
        }
    }

    fn put(&self, environment_id: i64, generation: u64, dora: Dora) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, (g, _)| *g == generation);
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert((environment_id, dora.to - dora.from), (generation, dora));
    }
}

/// Whether the viewer may vote on an approval, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteRight {
    May,
    /// Decided or closed: no more votes.
    Closed,
    /// Voting needs the approver role.
    NeedsRole(Role),
    AlreadyVoted,
    /// The policy refuses this voter (the release's author).
    Refused(String),
}

/// An approval as one viewer sees it: its votes, who may still vote and
/// whether the viewer may. The rules are the ones `decide_approval`
/// enforces (`vote_rights_match_decide_approval` checks they agree).
#[derive(Debug, Clone)]
pub struct ApprovalStanding {
    pub view: ApprovalView,
    /// Approvals still needed (0 once decided).
    pub remaining: u8,
    /// Approvers who may still vote, by name.
    pub may_still_vote: Vec<String>,
    pub viewer: VoteRight,
}

impl ApprovalStanding {
    fn new(actor: &Actor, view: ApprovalView, approvers: &[String]) -> ApprovalStanding {
        let pending = view.approval.state == "pending";
        let may_still_vote = if pending {
            approvers
                .iter()
                .filter(|name| view.may_vote(name))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let voters: Vec<&str> = view.votes.iter().map(|v| v.voter.as_str()).collect();
        let viewer = if !pending {
            VoteRight::Closed
        } else if !actor.role.allows(Role::Approver) {
            VoteRight::NeedsRole(actor.role)
        } else {
            match view
                .policy()
                .may_vote(&view.approval.author, &actor.name, &voters)
            {
                Ok(()) => VoteRight::May,
                Err(VoteRefused::AlreadyVoted) => VoteRight::AlreadyVoted,
                Err(refused @ VoteRefused::SelfApproval { .. }) => {
                    VoteRight::Refused(refused.to_string())
                }
            }
        };
        ApprovalStanding {
            remaining: view.remaining(),
            may_still_vote,
            viewer,
            view,
        }
    }
}

/// A pipeline run with what its page shows.
#[derive(Debug, Clone)]
pub struct PipelineRunView {
    pub run: PipelineRunRow,
    pub stages: Vec<StageState>,
    pub finished: bool,
    /// Its approvals, oldest first.
    pub approvals: Vec<ApprovalStanding>,
    /// The deployment its Deploy action started.
    pub deployment: Option<DeploymentRow>,
    /// The newest event this state includes (read before the state).
    pub last_event_id: i64,
}

/// The stage a run is at: the one in progress, else the last one that
/// started (the one it failed or stopped in, or the last that succeeded).
pub fn current_stage(stages: &[StageState]) -> Option<&StageState> {
    stages
        .iter()
        .find(|s| matches!(s.status.as_str(), "InProgress" | "Stopping"))
        .or_else(|| stages.iter().rev().find(|s| s.status != "NotStarted"))
}

/// One approval in the inbox, with what it holds up.
#[derive(Debug, Clone)]
pub struct InboxItem {
    pub standing: ApprovalStanding,
    pub run: Option<PipelineRunRow>,
    pub deployment: Option<DeploymentRow>,
}

/// The approvals inbox of one viewer.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    /// Pending, and the viewer may vote.
    pub yours: Vec<InboxItem>,
    /// Pending, but not the viewer's to decide (and why).
    pub others: Vec<InboxItem>,
    /// The latest decided or closed ones.
    pub decided: Vec<InboxItem>,
}

impl App {
    /// Every live environment with what production serves, the latest
    /// deployment and pipeline run, and its pending approvals.
    pub async fn overview(&self, actor: &Actor) -> Result<Vec<EnvironmentSummary>> {
        let environments = self.list_environments(actor).await?;
        let db = self.store.reader();
        let mut runs: HashMap<i64, PipelineRunRow> =
            store::pipeline_runs::latest_per_environment(db)
                .await?
                .into_iter()
                .map(|r| (r.environment_id, r))
                .collect();
        let pending: HashMap<i64, i64> = store::views::pending_approvals_by_environment(db)
            .await?
            .into_iter()
            .collect();
        let mut summaries = Vec::with_capacity(environments.len());
        for environment in environments {
            let id = environment.id;
            summaries.push(
                self.summarize(
                    environment,
                    runs.remove(&id),
                    pending.get(&id).copied().unwrap_or(0),
                )
                .await?,
            );
        }
        Ok(summaries)
    }

    pub async fn environment_summary(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<EnvironmentSummary> {
        let environment = self.environment(actor, name).await?;
        let db = self.store.reader();
        let latest_run = store::pipeline_runs::page_for_environment(
            db,
            environment.id,
            PageRequest {
                before: None,
                limit: 1,
            },
        )
        .await?
        .items
        .into_iter()
        .next();
        let pending = store::views::pending_approvals_by_environment(db)
            .await?
            .into_iter()
            .find(|(id, _)| *id == environment.id)
            .map_or(0, |(_, count)| count);
        self.summarize(environment, latest_run, pending).await
    }

    async fn summarize(
        &self,
        environment: EnvironmentRow,
        latest_run: Option<PipelineRunRow>,
        pending_approvals: i64,
    ) -> Result<EnvironmentSummary> {
        let db = self.store.reader();
        let live = store::deployments::succeeded(db, environment.id, 5)
            .await?
            .into_iter()
            .find(|d| !d.rolled_back);
        let latest = store::deployments::for_environment(db, environment.id, 1)
            .await?
            .into_iter()
            .next();
        Ok(EnvironmentSummary {
            environment,
            live,
            latest,
            latest_run,
            pending_approvals,
        })
    }

    /// The embedded local cloud's time scale, when this process knows it.
    fn local_time_scale(&self) -> Option<f64> {
        self.cloud
            .get()
            .and_then(|c| c.time_scale)
            .filter(|s| s.is_finite() && *s > 0.0)
    }

    /// Wall-clock time per unit of schedule time for a local deployment:
    /// from the known time scale, else measured from its first two steps
    /// (or remembered from the last deployment that showed them).
    pub(super) async fn local_clock_ratio(
        &self,
        deployment_id: i64,
        steps: &[(i64, u8)],
    ) -> Result<f64> {
        if let Some(scale) = self.local_time_scale() {
            return Ok(1.0 / scale);
        }
        let mut reached = [None, None];
        for (slot, (_, weight)) in reached.iter_mut().zip(steps) {
            *slot =
                store::views::first_reached(self.store.reader(), deployment_id, f64::from(*weight))
                    .await?;
        }
        Ok(match measured_clock_ratio(steps, reached) {
            Some(ratio) => {
                LOCAL_CLOCK_RATIO.store(ratio.to_bits(), Ordering::Relaxed);
                ratio
            }
            None => remembered_local_ratio().unwrap_or(1.0),
        })
    }

    /// A deployment with its planned shift and its traffic samples reduced
    /// to `columns` chart columns.
    pub async fn deployment_view(
        &self,
        actor: &Actor,
        id: i64,
        columns: u32,
    ) -> Result<DeploymentView> {
        actor.require(Role::Viewer, "reading deployments")?;
        let db = self.store.reader();
        let last_event_id = store::views::last_event_id(db, id).await?;
        let row = self.deployment(actor, id).await?;
        let context = store::views::deployment_context(db, id).await?;
        let lifecycle: Vec<LifecycleEventState> =
            serde_json::from_str(&row.lifecycle).unwrap_or_default();
        let task_sets: Vec<TaskSetState> = serde_json::from_str(&row.task_sets).unwrap_or_default();
        let finished = DeploymentStatus::parse(&row.status).is_ok_and(|s| s.is_terminal());
        let is_local = context.as_ref().is_some_and(|c| c.platform == "local");
        let now = store::now_millis();
        let mut planned = None;
        if let Some(config) = DeploymentConfig::find_predefined(&row.deployment_config) {
            let steps: Vec<(i64, u8)> = config
                .schedule()
                .steps()
                .iter()
                .map(|s| (s.offset.as_millis() as i64, s.green_weight))
                .collect();
            let started = lifecycle
                .iter()
                .find(|e| e.name == "AllowTraffic")
                .and_then(|e| e.started_at);
            let start = match started {
                Some(at) => Some((at, false)),
                None if !finished => Some((now, true)),
                None => None,
            };
            if let Some((starts_at, projected)) = start {
                let clock_ratio = if is_local {
                    self.local_clock_ratio(id, &steps).await?
                } else {
                    1.0
                };
                planned = Some(PlannedShift {
                    starts_at,
                    projected,
                    steps: steps
                        .into_iter()
                        .map(|(offset, w)| ((offset as f64 * clock_ratio) as i64, w))
                        .collect(),
                    clock_ratio,
                });
            }
        }
        let end = row.completed_at.unwrap_or(now);
        let window = ChartWindow::new(
            row.created_at,
            end,
            planned.as_ref().and_then(PlannedShift::end),
            store::views::last_sample_at(db, id).await?,
        );
        let key = (id, window, columns);
        let traffic = match self.view_cache.traffic.get(&key).filter(|_| finished) {
            Some(cached) => cached,
            None => {
                let reduced = Arc::new(
                    store::views::traffic_columns(
                        db,
                        id,
                        window.start,
                        window.span,
                        i64::from(columns),
                    )
                    .await?,
                );
                if finished {
                    self.view_cache.traffic.put(key, reduced.clone());
                }
                reduced
            }
        };
        let approval = match self.deployment_approval(id).await? {
            Some(view) => Some(ApprovalStanding::new(
                actor,
                view,
                &store::views::approvers(db).await?,
            )),
            None => None,
        };
        Ok(DeploymentView {
            row,
            lifecycle,
            task_sets,
            window,
            end,
            traffic,
            planned,
            approval,
            prod_url: context.and_then(|c| c.prod_url),
            finished,
            last_event_id,
        })
    }

    /// A pipeline run with its stages, approvals and deployment.
    pub async fn pipeline_run_view(&self, actor: &Actor, id: i64) -> Result<PipelineRunView> {
        actor.require(Role::Viewer, "reading pipeline runs")?;
        let db = self.store.reader();
        let last_event_id = store::views::last_run_event_id(db, id).await?;
        let run = self.pipeline_run(actor, id).await?;
        let stages: Vec<StageState> = serde_json::from_str(&run.stages).unwrap_or_default();
        let finished = RunStatus::parse(&run.status).is_ok_and(|s| s.is_terminal());
        let views = self.pipeline_run_approvals(id).await?;
        let approvers = if views.is_empty() {
            Vec::new()
        } else {
            store::views::approvers(db).await?
        };
        let approvals = views
            .into_iter()
            .map(|v| ApprovalStanding::new(actor, v, &approvers))
            .collect();
        let deployment = match run.deployment_id {
            Some(d) => store::deployments::find(db, d).await?,
            None => None,
        };
        Ok(PipelineRunView {
            run,
            stages,
            finished,
            approvals,
            deployment,
            last_event_id,
        })
    }

    /// Pending approvals split by whether `actor` may vote on them, and the
    /// latest decided ones.
    pub async fn approvals_inbox(&self, actor: &Actor) -> Result<Inbox> {
        const DECIDED: usize = 15;
        let pending = self.approvals(actor, Some("pending"), false).await?;
        let db = self.store.reader();
        let mut decided = Vec::new();
        for approval in store::approvals::list(db, None, 60).await? {
            if approval.state == "pending" {
                continue;
            }
            if decided.len() == DECIDED {
                break;
            }
            let votes = store::approvals::votes(db, approval.id).await?;
            decided.push(ApprovalView { approval, votes });
        }
        let approvers = store::views::approvers(db).await?;
        let mut inbox = Inbox::default();
        for (view, closed) in pending
            .into_iter()
            .map(|v| (v, false))
            .chain(decided.into_iter().map(|v| (v, true)))
        {
            let run = match view.approval.pipeline_run_id {
                Some(id) => store::pipeline_runs::find(db, id).await?,
                None => None,
            };
            let deployment = match view.approval.deployment_id {
                Some(id) => store::deployments::find(db, id).await?,
                None => None,
            };
            let item = InboxItem {
                standing: ApprovalStanding::new(actor, view, &approvers),
                run,
                deployment,
            };
            if closed {
                inbox.decided.push(item);
            } else if item.standing.viewer == VoteRight::May {
                inbox.yours.push(item);
            } else {
                inbox.others.push(item);
            }
        }
        Ok(inbox)
    }

    /// Where an approval is decided: its run's page or its deployment's.
    pub async fn approval_target(&self, actor: &Actor, id: i64) -> Result<String> {
        let view = self.approval(actor, id).await?;
        let a = &view.approval;
        Ok(match (a.pipeline_run_id, a.deployment_id) {
            (Some(run), _) => format!("/pipeline-runs/{run}#approval-{id}"),
            (None, Some(deployment)) => format!("/deployments/{deployment}#approval-{id}"),
            (None, None) => "/approvals".to_owned(),
        })
    }

    /// A page of an environment's releases matching `filter`, with their deployments.
    pub async fn release_history(
        &self,
        actor: &Actor,
        environment: &str,
        filter: &ReleaseFilter,
        page: PageRequest,
    ) -> Result<ReleaseHistory> {
        actor.require(Role::Viewer, "reading releases")?;
        let environment = self.environment(actor, environment).await?;
        let db = self.store.reader();
        let page = store::views::release_page(db, environment.id, filter, page).await?;
        let ids: Vec<i64> = page.items.iter().map(|r| r.id).collect();
        let mut deployments: HashMap<i64, Vec<ReleaseDeploymentRow>> = HashMap::new();
        for d in store::views::deployments_of_releases(db, &ids).await? {
            deployments.entry(d.release_id).or_default().push(d);
        }
        let authors = store::views::recent_authors(db, environment.id, 50).await?;
        Ok(ReleaseHistory {
            environment,
            page,
            deployments,
            authors,
        })
    }

    /// The DORA figures of an environment for deployments finished in
    /// `[from, to)`. Answered from the cache while nothing changed and
    /// the window moved by less than a minute: a year of deployments takes
    /// tens of milliseconds to aggregate.
    pub async fn dora(&self, actor: &Actor, environment: &str, from: i64, to: i64) -> Result<Dora> {
        actor.require(Role::Viewer, "reading releases")?;
        if to <= from {
            return Err(Error::Invalid(crate::domain::FieldError {
                field: "to".into(),
                message: "the window must end after it starts".into(),
            }));
        }
        let environment = self.environment(actor, environment).await?;
        // Read before the rows: a write meanwhile makes the entry stale at once.
        let generation = self.generation();
        if let Some(dora) = self
            .view_cache
            .dora
            .get(environment.id, from, to, generation)
        {
            return Ok(dora);
        }
        let counts = store::views::dora(self.store.reader(), environment.id, from, to).await?;
        let days = (to - from) as f64 / 86_400_000.0;
        let dora = Dora {
            from,
            to,
            deployments_per_day: counts.succeeded as f64 / days,
            lead_time_median_ms: counts.lead_time_median,
            lead_time_avg_ms: counts.lead_time_avg.map(|v| v as i64),
            change_failure_rate: (counts.finished > 0)
                .then(|| counts.failed as f64 / counts.finished as f64),
            time_to_restore_avg_ms: counts.restore_avg.map(|v| v as i64),
            counts,
        };
        self.view_cache
            .dora
            .put(environment.id, generation, dora.clone());
        Ok(dora)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pipeline::Decision;

    #[test]
    fn clock_ratio_from_the_first_two_steps() {
        let steps = [(0, 10), (60_000, 20), (120_000, 30)];
        // One schedule minute passed in one second: time scale 60.
        let ratio = measured_clock_ratio(&steps, [Some(5_000), Some(6_000)]).unwrap();
        assert!((ratio - 1.0 / 60.0).abs() < 1e-9, "{ratio}");
        // Polling a minute-long step 10 s late is still the real clock.
        assert_eq!(
            measured_clock_ratio(&steps, [Some(0), Some(70_000)]),
            Some(1.0)
        );
        // Not enough observed, or a one-step schedule.
        assert_eq!(measured_clock_ratio(&steps, [Some(5_000), None]), None);
        assert_eq!(measured_clock_ratio(&[(0, 100)], [Some(1), Some(2)]), None);
    }

    #[test]
    fn the_chart_window_covers_the_plan_and_the_samples() {
        let w = ChartWindow::new(1_000, 11_000, Some(21_000), Some(15_000));
        assert_eq!((w.start, w.span), (1_000, 20_800));
        let w = ChartWindow::new(1_000, 1_200, None, None);
        assert_eq!(w.span, 1_040);
    }

    fn stage(name: &str, status: &str) -> StageState {
        StageState {
            name: name.into(),
            status: status.into(),
            started_at: None,
            ended_at: None,
            actions: Vec::new(),
        }
    }

    #[test]
    fn the_current_stage_is_the_running_or_the_last_started_one() {
        let at = |stages: &[StageState]| current_stage(stages).map(|s| s.name.clone());
        let mut stages = vec![
            stage("Source", "Succeeded"),
            stage("Build", "InProgress"),
            stage("Deploy", "NotStarted"),
        ];
        assert_eq!(at(&stages).as_deref(), Some("Build"));
        stages[1].status = "Failed".into();
        assert_eq!(at(&stages).as_deref(), Some("Build"));
        stages[1].status = "Succeeded".into();
        stages[2].status = "Succeeded".into();
        assert_eq!(at(&stages).as_deref(), Some("Deploy"));
        assert_eq!(at(&[stage("Source", "NotStarted")]), None);
    }

    fn actor(name: &str, role: Role) -> Actor {
        Actor {
            user_id: 1,
            name: name.into(),
            role,
        }
    }

    #[tokio::test]
    async fn allowed_actions_match_the_use_cases() {
        let dir = tempfile::tempdir().unwrap();
        let app = App::new(crate::store::Store::open(dir.path()).await.unwrap());
        for role in Role::ALL {
            let actor = actor("someone", role);
            let allowed = AllowedActions::of(&actor);
            let pipeline = PipelineActions::of(&actor);
            // Nothing of that name or id: a permitted actor gets "not
            // found", anyone else is refused before the lookup.
            let forbidden = |r: Result<()>| matches!(r, Err(Error::Forbidden { .. }));
            fn unit<T>(r: Result<T>) -> Result<()> {
                r.map(|_| ())
            }
            assert_eq!(
                allowed.continue_deployment,
                !forbidden(unit(app.continue_deployment(&actor, 999, true).await)),
                "{role:?}"
            );
            assert_eq!(
                allowed.roll_back_deployment,
                !forbidden(unit(app.roll_back_deployment(&actor, 999).await)),
                "{role:?}"
            );
            assert_eq!(
                pipeline.start,
                !forbidden(unit(app.start_pipeline_run(&actor, "nope", None).await)),
                "{role:?}"
            );
            assert_eq!(
                pipeline.stop,
                !forbidden(unit(app.stop_pipeline_run(&actor, 999, false, "").await)),
                "{role:?}"
            );
            assert_eq!(
                pipeline.retry,
                !forbidden(unit(
                    app.retry_pipeline_stage(&actor, 999, "Build", false).await
                )),
                "{role:?}"
            );
        }
    }

    async fn exec(app: &App, sql: &str) {
        let mut tx = app.store.begin().await.unwrap();
        sqlx::raw_sql(sql).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// An environment whose deployment 1 (by carol) waits for two approvals.
    async fn seeded() -> (tempfile::TempDir, App) {
        let dir = tempfile::tempdir().unwrap();
        let app = App::new(crate::store::Store::open(dir.path()).await.unwrap());
        exec(
            &app,
            "INSERT INTO users (name, role, created_at) VALUES ('alice', 'approver', 0),
                 ('bob', 'admin', 0), ('carol', 'approver', 0), ('dave', 'deployer', 0);
             INSERT INTO environments (id, name, platform, created_by, created_at) VALUES (1, 'web', 'local', 'a', 0);
             INSERT INTO releases (id, environment_id, version, image, author, message, recorded_by, created_at)
                 VALUES (1, 1, 'v1', 'i', 'carol', '', 'carol', 0);
             INSERT INTO deployments (id, environment_id, release_id, deployment_config, status, created_by, created_at, updated_at)
                 VALUES (1, 1, 1, 'c', 'Ready', 'carol', 0, 0);
             INSERT INTO approvals (id, environment_id, deployment_id, author, required, allow_self_approval, state, created_at)
                 VALUES (1, 1, 1, 'carol', 2, 0, 'pending', 0);",
        )
        .await;
        (dir, app)
    }

    #[tokio::test]
    async fn vote_rights_match_decide_approval() {
        let (_dir, app) = seeded().await;
        let standing = |who: Actor| {
            let app = &app;
            async move {
                let view = app.deployment_approval(1).await.unwrap().unwrap();
                let approvers = store::views::approvers(app.store.reader()).await.unwrap();
                ApprovalStanding::new(&who, view, &approvers)
            }
        };
        let alice = actor("alice", Role::Approver);
        let carol = actor("Carol", Role::Approver);
        let dave = actor("dave", Role::Deployer);
        let first = standing(alice.clone()).await;
        assert_eq!(first.viewer, VoteRight::May);
        assert_eq!(first.remaining, 2);
        // The author may not vote; deployers are not approvers.
        assert_eq!(first.may_still_vote, ["alice", "bob"]);
        let refused = standing(carol.clone()).await.viewer;
        assert!(
            matches!(&refused, VoteRight::Refused(why) if why.contains("author")),
            "{refused:?}"
        );
        assert!(matches!(
            app.decide_approval(&carol, 1, Decision::Approve, "").await,
            Err(Error::Refused(_))
        ));
        assert_eq!(
            standing(dave.clone()).await.viewer,
            VoteRight::NeedsRole(Role::Deployer)
        );
        assert!(matches!(
            app.decide_approval(&dave, 1, Decision::Approve, "").await,
            Err(Error::Forbidden { .. })
        ));

        app.decide_approval(&alice, 1, Decision::Approve, "looks right")
            .await
            .unwrap();
        let after = standing(alice.clone()).await;
        assert_eq!(after.viewer, VoteRight::AlreadyVoted);
        assert_eq!(
            (after.remaining, after.may_still_vote.clone()),
            (1, vec!["bob".to_owned()])
        );
        assert!(matches!(
            app.decide_approval(&alice, 1, Decision::Approve, "").await,
            Err(Error::Conflict(_))
        ));
        exec(&app, "UPDATE approvals SET state = 'closed' WHERE id = 1").await;
        let closed = standing(actor("bob", Role::Admin)).await;
        assert_eq!(closed.viewer, VoteRight::Closed);
        assert!(closed.may_still_vote.is_empty());
    }

    #[tokio::test]
    async fn dora_figures_are_cached_until_something_changes() {
        let (_dir, app) = seeded().await;
        let admin = actor("bob", Role::Admin);
        exec(
            &app,
            "UPDATE deployments SET status = 'Succeeded', completed_at = 5000 WHERE id = 1",
        )
        .await;
        let first = app.dora(&admin, "web", 0, 86_400_000).await.unwrap();
        assert_eq!(first.counts.succeeded, 1);
        // Written behind the application's back: the cached figures stand.
        exec(
            &app,
            "INSERT INTO deployments (id, environment_id, release_id, deployment_config, status, created_by,
                 created_at, updated_at, completed_at) VALUES (2, 1, 1, 'c', 'Failed', 'a', 6000, 6000, 7000)",
        )
        .await;
        let cached = app.dora(&admin, "web", 1_000, 86_401_000).await.unwrap();
        assert_eq!(cached, first);
        // Another window length is computed on its own.
        let week = app.dora(&admin, "web", 0, 7 * 86_400_000).await.unwrap();
        assert_eq!(week.counts.finished, 2);
        // A change the application made invalidates it.
        app.changed();
        let fresh = app.dora(&admin, "web", 0, 86_400_000).await.unwrap();
        assert_eq!((fresh.counts.finished, fresh.counts.failed), (2, 1));
        // So does a window that slid by a minute or more.
        let slid = app.dora(&admin, "web", 120_000, 86_520_000).await.unwrap();
        assert_eq!(slid.from, 120_000);
    }

    #[tokio::test]
    async fn a_finished_deployment_s_traffic_is_reduced_once() {
        let (_dir, app) = seeded().await;
        exec(
            &app,
            "INSERT INTO traffic_samples (deployment_id, at, green_weight) VALUES (1, 1000, 10), (1, 2000, 100);",
        )
        .await;
        let admin = actor("bob", Role::Admin);
        let running = app.deployment_view(&admin, 1, 100).await.unwrap();
        // Running since 1970: both samples share the first column of a long axis.
        assert_eq!(running.traffic.iter().map(|c| c.samples).sum::<i64>(), 2);
        assert!(running.approval.is_some());
        exec(
            &app,
            "UPDATE deployments SET status = 'Succeeded', completed_at = 3000 WHERE id = 1",
        )
        .await;
        let finished = app.deployment_view(&admin, 1, 100).await.unwrap();
        assert_eq!(finished.window, ChartWindow::new(0, 3000, None, Some(2000)));
        assert!(!Arc::ptr_eq(&running.traffic, &finished.traffic));
        let again = app.deployment_view(&admin, 1, 100).await.unwrap();
        assert!(Arc::ptr_eq(&finished.traffic, &again.traffic));
        assert_eq!(again.traffic[1].last_weight, 100.0);
    }
}
