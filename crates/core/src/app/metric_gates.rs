//! Metric gates at work: each guard round of a held deployment, the gate of
//! its environment watches the hold, and once the figures of its whole
//! window are read it judges green against blue and continues the
//! deployment, rolls it back, or leaves it to people; the decision, with the
//! figures that made it, is recorded, announced and notified.

use super::deployments::{
    append_deployment_events, release_hold, roll_back_in_cloud, stage_in_progress,
};
use super::{App, Result};
use crate::store::{self, deployments::DeploymentRow, environments::EnvironmentRow};
use serde_json::json;
use switchyard_domain::deployment::DeploymentStatus;
use switchyard_domain::environment::{
    GateAction, GateDecision, GateHold, GateOutcome, PeriodFigures, Platform, Side,
};
use switchyard_domain::service_deployment::PausableStage;
use switchyard_domain::service_deployment::progress::HookTargetType;

/// Who the audit trail says acted.
const ACTOR: &str = "metric-gate";

impl App {
    /// Watches the hold `d` is in, if its environment `env` gates it, and
    /// judges it once the figures read at `read_at` cover the gate's window.
    pub(crate) async fn judge_hold(
        &self,
        env: &EnvironmentRow,
        d: &DeploymentRow,
        read_at: i64,
    ) -> Result<()> {
        let Some(hold) = hold_of(d) else {
            return Ok(());
        };
        let settings = env.metric_gate_settings()?;
        if !settings.enabled {
            return Ok(());
        }
        let mut decisions = store::guards::gate_decisions(self.store.reader(), d.id).await?;
        let (period_ms, lag_ms) = self.gate_clock(env.platform);
        let Some(index) = decisions.iter().position(|g| g.hold == hold) else {
            let periods = settings.window_minutes;
            decisions.push(GateDecision::seen(hold, read_at, period_ms, periods));
            let seen = decisions.len() - 1;
            return self.store_decisions(d, decisions, seen, None).await;
        };
        if !decisions[index].window_read(read_at, lag_ms) {
            return Ok(());
        }
        let judged = decisions[index].judged(&settings, &self.gate_figures(d.id).await?, read_at);
        let (action, acted) = self.act_on(env, d, &judged).await?;
        decisions[index] = GateDecision {
            action: Some(action),
            ..judged
        };
        self.store_decisions(d, decisions, index, acted).await
    }

    /// How long a period of the environment's cloud lasts, and how late its
    /// figures are whole: a local period is a minute of the local cloud's
    /// clock, counted as answers start; CloudWatch's load balancer metrics
    /// arrive a minute or two late.
    fn gate_clock(&self, platform: Platform) -> (i64, i64) {
        match platform {
            Platform::Local => {
                let scale = self.local_time_scale().unwrap_or(1.0);
                ((60_000.0 / scale).round().max(1.0) as i64, 100)
            }
            Platform::Aws => (60_000, 150_000),
        }
    }

    async fn gate_figures(&self, deployment_id: i64) -> Result<Vec<PeriodFigures>> {
        let rows = store::guards::metrics(self.store.reader(), deployment_id).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(PeriodFigures {
                    side: Side::parse(&row.side).ok()?,
                    period_start: row.period_start,
                    requests: row.requests,
                    target_5xx: row.target_5xx,
                    p99_seconds: row.p99_seconds,
                })
            })
            .collect())
    }

    /// Acts on a verdict: a good green goes on unless approvers still have
    /// to agree, a bad one is rolled back, no verdict is left to people.
    /// The action, and the event kind of what the cloud was asked to do.
    async fn act_on(
        &self,
        env: &EnvironmentRow,
        d: &DeploymentRow,
        judged: &GateDecision,
    ) -> Result<(GateAction, Option<&'static str>)> {
        match judged.outcome {
            Some(GateOutcome::Passed) => {
                let approvals = store::approvals::for_deployment(self.store.reader(), d.id).await?;
                if approvals.is_some_and(|a| a.state == "pending") {
                    return Ok((GateAction::LeftToApprovers, None));
                }
                let kind = release_hold(&self.cloud_for(env).await?, d).await?;
                Ok((GateAction::Continued, Some(kind)))
            }
            Some(GateOutcome::Failed) => {
                roll_back_in_cloud(&self.cloud_for(env).await?, d).await?;
                Ok((
                    GateAction::RolledBack,
                    Some("deployment.rollback_requested"),
                ))
            }
            Some(GateOutcome::InsufficientData) | None => Ok((GateAction::LeftToPeople, None)),
        }
    }

    /// Stores the gate's decisions with the event of the one at `changed`
    /// (and of what it asked the cloud), notifies what people should know,
    /// and announces the events.
    async fn store_decisions(
        &self,
        d: &DeploymentRow,
        decisions: Vec<GateDecision>,
        changed: usize,
        acted: Option<&'static str>,
    ) -> Result<()> {
        let latest = &decisions[changed];
        let now = store::now_millis();
        let summary = summary(d, latest);
        let mut detail = serde_json::to_value(latest).map_err(anyhow::Error::from)?;
        detail["summary"] = json!(summary);
        let mut events = vec![("deployment.metric_gate", detail, now)];
        if let Some(kind) = acted {
            events.push((kind, json!({"by": "metric gate"}), now));
        }
        let mut tx = self.store.begin().await?;
        store::guards::set_gate_decisions(&mut *tx, d.id, &decisions).await?;
        let ids = append_deployment_events(&mut tx, d, ACTOR, events).await?;
        if matches!(
            latest.action,
            Some(GateAction::RolledBack | GateAction::LeftToPeople)
        ) {
            let link = format!("/deployments/{}", d.id);
            let extra = json!({"deployment_id": d.id, "version": d.version, "outcome": latest.outcome, "action": latest.action});
            self.notify(
                &mut tx,
                d.environment_id,
                "deployment.metric_gate",
                &summary,
                &link,
                extra,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        self.notifications_committed();
        self.announce(d.id, ids);
        Ok(())
    }
}

/// The hold a deployment is in, if a gate judges there: CodeDeploy's ready
/// wait, or a PAUSE hook after the test traffic shift.
fn hold_of(d: &DeploymentRow) -> Option<GateHold> {
    if d.status != DeploymentStatus::Ready {
        return None;
    }
    if d.service_deployment_arn.is_none() {
        return Some(GateHold::ReadyWait);
    }
    d.hooks
        .iter()
        .find(|h| h.is_awaiting() && h.target_type == HookTargetType::Pause)?;
    let stage = stage_in_progress(d, &d.lifecycle, d.green_weight)?;
    GateHold::at_stage(PausableStage::parse(stage).ok()?)
}

/// `prod v2: the metric gate at the ready wait found green worse than blue
/// and rolled it back (…)`.
fn summary(d: &DeploymentRow, gate: &GateDecision) -> String {
    let what = format!(
        "{} {}: the metric gate at {}",
        d.environment,
        d.version,
        gate.hold.describe()
    );
    let (Some(outcome), Some(action)) = (gate.outcome, gate.action) else {
        return format!(
            "{what} watches green from {} to {}",
            switchyard_domain::time::rfc3339_millis(gate.window_start),
            switchyard_domain::time::rfc3339_millis(gate.window_end)
        );
    };
    let found = match outcome {
        GateOutcome::Passed => "as good as blue",
        GateOutcome::Failed => "worse than blue",
        GateOutcome::InsufficientData => "without enough traffic to judge",
    };
    format!(
        "{what} found green {found} and {} ({})",
        action.describe(),
        gate.reasons.join("; ")
    )
}
