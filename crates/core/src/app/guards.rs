//! The CloudWatch alarms that guard an environment's deployments: their
//! settings applied to the stack, and what the tracker read of them (and
//! of the metrics they watch) recorded with the deployment.

use super::{App, Error, Result};
use crate::cloud::metrics::{PeriodFigures, TargetHealth};
use crate::provision::{self, StackOutputs};
use crate::store::{self, deployments::DeploymentRow, environments::EnvironmentRow};
use serde_json::json;
use switchyard_domain::deployment::DeploymentStatus;
use switchyard_domain::environment::{
    AlarmReading, AlarmSettings, AlarmState, DeploymentAlarm, GateDecision, Platform,
    alarm_named_in, observe_alarms,
};
use switchyard_domain::service_deployment::DeploymentController;

/// What the tracker read of a deployment's guards in one round.
#[derive(Debug, Clone, Default)]
pub struct GuardReading {
    pub alarms: Vec<AlarmReading>,
    pub metrics: Vec<PeriodFigures>,
    /// Each side's hosts, as last counted.
    pub health: Vec<TargetHealth>,
    /// When the metrics were asked for (Unix ms): the periods before it
    /// are whole in them.
    pub read_at: i64,
}

/// What guarded a deployment, as recorded.
#[derive(Debug, Clone, Default)]
pub struct DeploymentGuards {
    pub alarms: Vec<DeploymentAlarm>,
    pub metrics: Vec<store::guards::MetricRow>,
    pub gate_decisions: Vec<GateDecision>,
    /// Each side's hosts, as last counted.
    pub target_health: Vec<TargetHealth>,
}

/// A provisioning log nobody reads: alarm changes log nothing of their own.
struct Quiet;

impl provision::Log for Quiet {
    async fn line(&mut self, _line: String) {}
}

impl App {
    /// The outputs of the environment's stack, once it is ready.
    pub(crate) async fn stack_outputs(&self, env: &EnvironmentRow) -> Result<Option<StackOutputs>> {
        let stack = store::stacks::find(self.store.reader(), env.id).await?;
        Ok(stack
            .filter(|s| s.status == "ready")
            .and_then(|s| serde_json::from_value(serde_json::Value::Object(s.outputs.0)).ok()))
    }

    /// The alarms a deployment of the environment stops on (none when its
    /// settings turn them off or its stack has none).
    pub(crate) async fn guard_alarms(&self, env: &EnvironmentRow) -> Result<Vec<String>> {
        if !env.alarm_settings()?.enabled {
            return Ok(Vec::new());
        }
        Ok(self
            .stack_outputs(env)
            .await?
            .map(|o| o.alarm_names)
            .unwrap_or_default())
    }

    /// Applies new alarm settings to the environment's ready local stack:
    /// the alarms are put (or deleted) and the deployment group pointed at
    /// them, before the settings are stored. An AWS stack takes them at its
    /// next provision (they are Terraform variables).
    pub(super) async fn apply_alarm_settings(
        &self,
        env: &EnvironmentRow,
        settings: AlarmSettings,
    ) -> Result<()> {
        if env.platform != Platform::Local {
            return Ok(());
        }
        let Some(mut outputs) = self.stack_outputs(env).await? else {
            return Ok(());
        };
        let changed = EnvironmentRow {
            alarms: Some(sqlx::types::Json(settings.spec())),
            ..env.clone()
        };
        let cloud = self.cloud_for(env).await?;
        let cloud_failed = |e: anyhow::Error| Error::Upstream(format!("{e:#}"));
        provision::local::guard_alarms(&cloud, &changed, &mut outputs, &mut Quiet)
            .await
            .map_err(cloud_failed)?;
        if env.deployment_controller == DeploymentController::CodeDeploy {
            provision::local::rollback_on_alarms(&cloud, &changed, &outputs)
                .await
                .map_err(cloud_failed)?;
        }
        let serde_json::Value::Object(map) =
            serde_json::to_value(&outputs).map_err(anyhow::Error::from)?
        else {
            unreachable!("StackOutputs serializes as an object")
        };
        let mut tx = self.store.begin().await?;
        store::stacks::set_outputs(&mut *tx, env.id, &map).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records one reading of a deployment's guards: alarm changes it had
    /// not seen (each an event), the alarm that stopped it, and its
    /// metrics. Announces the events.
    pub(crate) async fn record_guard_reading(
        &self,
        d: &DeploymentRow,
        reading: &GuardReading,
    ) -> Result<()> {
        let mut alarms = store::guards::alarms(self.store.reader(), d.id).await?;
        let before = alarms.clone();
        let changes = observe_alarms(&mut alarms, &reading.alarms);
        let mut events: Vec<(&str, serde_json::Value, i64)> = changes
            .iter()
            .map(|(name, c)| {
                let detail = json!({"alarm": name, "state": c.state, "reason": c.reason});
                ("deployment.alarm", detail, c.at)
            })
            .collect();
        if let Some(stopped) = stopped_by_alarm(d, &mut alarms) {
            events.push(stopped);
        }
        let stored = store::guards::metrics(self.store.reader(), d.id).await?;
        let metrics: Vec<store::guards::MetricRow> = reading
            .metrics
            .iter()
            .map(|p| store::guards::MetricRow {
                side: p.side.as_str().to_owned(),
                period_start: p.period_start,
                requests: p.requests,
                target_5xx: p.target_5xx,
                p99_seconds: p.p99_seconds,
            })
            .filter(|row| !stored.contains(row))
            .collect();
        let health = store::guards::target_health(self.store.reader(), d.id).await?;
        let health_changed = !reading.health.is_empty() && reading.health != health;
        if alarms == before && metrics.is_empty() && !health_changed {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        store::guards::set_alarms(&mut *tx, d.id, &alarms).await?;
        if health_changed {
            store::guards::set_target_health(&mut *tx, d.id, &reading.health).await?;
        }
        for row in &metrics {
            store::guards::put_metric(&mut *tx, d.id, row).await?;
        }
        let ids =
            super::deployments::append_deployment_events(&mut tx, d, "cloudwatch", events).await?;
        tx.commit().await?;
        self.announce(d.id, ids);
        Ok(())
    }

    /// The alarms, metrics and gate decisions a deployment's page shows.
    pub async fn deployment_guards(&self, id: i64) -> Result<DeploymentGuards> {
        let reader = self.store.reader();
        Ok(DeploymentGuards {
            alarms: store::guards::alarms(reader, id).await?,
            metrics: store::guards::metrics(reader, id).await?,
            gate_decisions: store::guards::gate_decisions(reader, id).await?,
            target_health: store::guards::target_health(reader, id).await?,
        })
    }
}

/// When the controller stopped the deployment and its reason names an
/// alarm that was in ALARM, that alarm is marked and the event says when
/// it fired; once.
fn stopped_by_alarm(
    d: &DeploymentRow,
    alarms: &mut [DeploymentAlarm],
) -> Option<(&'static str, serde_json::Value, i64)> {
    if !matches!(
        d.status,
        DeploymentStatus::Stopped | DeploymentStatus::Failed
    ) || alarms.iter().any(|a| a.stopped_deployment)
    {
        return None;
    }
    let message = d.error_message.as_deref()?;
    let name = alarm_named_in(message, alarms)?.to_owned();
    let alarm = alarms.iter_mut().find(|a| a.name == name)?;
    alarm.stopped_deployment = true;
    let fired = alarm
        .history
        .iter()
        .rev()
        .find(|c| c.state == AlarmState::Alarm)
        .map(|c| c.at);
    let at = d.completed_at.unwrap_or(d.updated_at);
    let detail = json!({
        "alarm": name,
        "fired_at": fired,
        "rolled_back": d.rolled_back,
        "message": message,
    });
    Some(("deployment.stopped_by_alarm", detail, at))
}
