//! One deployment as its page draws it: the planned shift, the traffic
//! chart's window and columns, and the clock of a local deployment.

use super::*;
use crate::app::{Actor, App, Result};
use crate::cloud::deployments::{LifecycleEventState, TaskSetState};
use crate::store::views::TrafficColumn;
use crate::store::{self, deployments::DeploymentRow};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use switchyard_domain::deployment_config::DeploymentConfig;
use switchyard_domain::environment::Platform;
use switchyard_domain::user::Role;

/// The planned production traffic shift of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedShift {
    /// When traffic starts (or is expected to start) moving, epoch ms.
    pub starts_at: i64,
    /// Whether `starts_at` is a projection (AllowTraffic has not begun).
    pub projected: bool,
    /// (ms after `starts_at` on the wall clock, green weight).
    pub steps: Vec<(i64, f64)>,
    /// Wall-clock time per unit of schedule time: 1 on AWS; a local cloud
    /// run with `--time-scale 60` shows 1/60.
    pub clock_ratio: f64,
}

/// A deployment's plan in schedule time: the steps of its production
/// shift, (ms after the shift starts, green weight), and the lifecycle row
/// whose start is the shift's (CodeDeploy's AllowTraffic, ECS's
/// PRODUCTION_TRAFFIC_SHIFT stage). Custom CodeDeploy configs live in the
/// cloud only: no plan.
pub fn planned_steps(d: &DeploymentRow) -> Option<(Vec<(i64, f64)>, &'static str)> {
    if d.ecs_deployment.is_some() {
        let settings = d.ecs_settings()?;
        let steps = settings
            .strategy
            .planned_shift()
            .into_iter()
            .map(|(offset, weight)| (offset.as_millis() as i64, weight))
            .collect();
        return Some((steps, "PRODUCTION_TRAFFIC_SHIFT"));
    }
    let config = DeploymentConfig::find_predefined(&d.deployment_config)?;
    let steps = config
        .schedule()
        .steps()
        .iter()
        .map(|s| (s.offset.as_millis() as i64, f64::from(s.green_weight)))
        .collect();
    Some((steps, "AllowTraffic"))
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
    /// The deployment, with its lifecycle events and task sets as last observed.
    pub row: DeploymentRow,
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
        switchyard_domain::deployment::current_lifecycle_event(&self.row.lifecycle, self.finished)
    }

    pub fn task_set(&self, label: &str) -> Option<&TaskSetState> {
        self.row.task_sets.iter().find(|t| t.label == label)
    }
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
pub fn measured_clock_ratio(steps: &[(i64, f64)], reached: [Option<i64>; 2]) -> Option<f64> {
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

impl App {
    /// The embedded local cloud's time scale, when this process knows it.
    pub(in crate::app) fn local_time_scale(&self) -> Option<f64> {
        self.cloud
            .get()
            .and_then(|c| c.time_scale)
            .filter(|s| s.is_finite() && *s > 0.0)
    }

    /// Wall-clock time per unit of schedule time for a local deployment:
    /// from the known time scale, else measured from its first two steps
    /// (or remembered from the last deployment that showed them).
    pub(in crate::app) async fn local_clock_ratio(
        &self,
        deployment_id: i64,
        steps: &[(i64, f64)],
    ) -> Result<f64> {
        if let Some(scale) = self.local_time_scale() {
            return Ok(1.0 / scale);
        }
        let mut reached = [None, None];
        for (slot, (_, weight)) in reached.iter_mut().zip(steps) {
            *slot =
                store::views::first_reached(self.store.reader(), deployment_id, *weight).await?;
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
        let finished = row.status.is_terminal();
        let is_local = context
            .as_ref()
            .is_some_and(|c| c.platform == Platform::Local);
        let now = store::now_millis();
        let mut planned = None;
        if let Some((steps, shift_starts)) = planned_steps(&row) {
            let started = row
                .lifecycle
                .iter()
                .find(|e| e.name == shift_starts)
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
}
