//! One guard watcher per running deployment: each round it reads the
//! states of the alarms that guard it (and, for an alarm that changed since
//! the last round, its history, so a short ALARM between rounds is not
//! missed) and the metrics of its blue and green target groups, and hands
//! them to the application. A last round after the deployment ended
//! catches the alarm that stopped it.

use super::Tracker;
use crate::app::guards::GuardReading;
use crate::cloud::metrics::{self, Side, SideDimensions};
use crate::cloud::{Cloud, alarms, service_deployments};
use crate::provision::StackOutputs;
use crate::store::deployments::DeploymentRow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchyard_domain::environment::{AlarmReading, Dimension, Platform};

/// Local rounds are cheap; AWS's alarms are evaluated once a minute and its
/// metrics are a minute late, so twice a minute is enough there.
fn guard_interval(platform: Platform) -> Duration {
    match platform {
        Platform::Local => Duration::from_millis(250),
        Platform::Aws => Duration::from_millis(30_000 + rand::random::<u64>() % 10_000),
    }
}

/// What a watcher carries from round to round.
#[derive(Default)]
struct Seen {
    /// Blue's and green's target groups, once known.
    sides: Option<Vec<SideDimensions>>,
    /// When each alarm last changed, as of the last round.
    alarm_updates: HashMap<String, i64>,
}

/// A minute before the deployment began: the period it began in.
const METRICS_BEFORE_MS: i64 = 60_000;

impl Tracker {
    /// Starts watching a deployment's guards unless they are watched.
    pub(super) fn guard(self: &Arc<Self>, deployment_id: i64) {
        let mut guarding = self.guarding.lock().unwrap_or_else(|p| p.into_inner());
        if !guarding.insert(deployment_id) {
            return;
        }
        let tracker = self.clone();
        tokio::spawn(async move {
            let mut seen = Seen::default();
            loop {
                let (done, platform) = match tracker.guard_round(deployment_id, &mut seen).await {
                    Ok(round) => round,
                    Err((e, platform)) => {
                        tracing::warn!(deployment = deployment_id, error = %e, "cannot read the deployment's alarms; retrying");
                        (false, platform)
                    }
                };
                if done {
                    break;
                }
                tokio::time::sleep(guard_interval(platform)).await;
            }
            tracker
                .guarding
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&deployment_id);
        });
    }

    /// One round; whether the watcher is done (the deployment ended before
    /// this round read it, or nothing guards it).
    async fn guard_round(
        &self,
        id: i64,
        seen: &mut Seen,
    ) -> Result<(bool, Platform), (String, Platform)> {
        let fail = |e: String| (e, Platform::Local);
        let d = crate::store::deployments::find(self.app.store().reader(), id)
            .await
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail(format!("deployment {id} vanished")))?;
        let Ok(env) = self.app.environment_named(&d.environment).await else {
            return Ok((true, Platform::Local));
        };
        let platform = env.platform;
        let err = |e: String| (e, platform);
        let outputs = self
            .app
            .stack_outputs(&env)
            .await
            .map_err(|e| err(e.to_string()))?;
        let Some(outputs) = outputs.filter(|o| !o.load_balancer_dimension.is_empty()) else {
            return Ok((true, platform));
        };
        let cloud = self
            .app
            .cloud_for(&env)
            .await
            .map_err(|e| err(e.to_string()))?;
        let reading = read_guards(&cloud, &d, &outputs, seen)
            .await
            .map_err(|e| err(e.message))?;
        self.app
            .record_guard_reading(&d, &reading)
            .await
            .map_err(|e| err(e.to_string()))?;
        if !d.status.is_terminal() && reading.read_at > 0 {
            self.app
                .judge_hold(&env, &d, reading.read_at)
                .await
                .map_err(|e| err(format!("the metric gate could not act: {e}")))?;
        }
        Ok((d.status.is_terminal(), platform))
    }
}

async fn read_guards(
    cloud: &Cloud,
    d: &DeploymentRow,
    outputs: &StackOutputs,
    seen: &mut Seen,
) -> Result<GuardReading, crate::cloud::deployments::CloudError> {
    let mut reading = GuardReading::default();
    for now in alarms::states(cloud, &outputs.alarm_names).await? {
        let changed = seen.alarm_updates.get(&now.name) != Some(&now.updated_at);
        let changes = if changed {
            alarms::history(cloud, &now.name, d.created_at).await?
        } else {
            Vec::new()
        };
        seen.alarm_updates.insert(now.name.clone(), now.updated_at);
        reading.alarms.push(AlarmReading {
            name: now.name,
            state: now.state,
            changes,
        });
    }
    if seen.sides.is_none() {
        seen.sides = sides(cloud, d, outputs).await?;
    }
    if let Some(sides) = &seen.sides {
        reading.read_at = crate::store::now_millis();
        let to = reading.read_at + METRICS_BEFORE_MS;
        let read = metrics::periods(cloud, sides, d.created_at - METRICS_BEFORE_MS, to).await?;
        reading.metrics = read.periods;
        reading.health = read.health;
    }
    Ok(reading)
}

/// Blue's and green's target groups: from CodeDeploy's task sets, or from
/// the resolved configuration of ECS's target revision. None until the
/// deployment has them.
async fn sides(
    cloud: &Cloud,
    d: &DeploymentRow,
    outputs: &StackOutputs,
) -> Result<Option<Vec<SideDimensions>>, crate::cloud::deployments::CloudError> {
    let groups: Vec<(&String, &String)> = outputs
        .target_groups
        .iter()
        .zip(&outputs.target_group_dimensions)
        .collect();
    let green = d.task_sets.iter().find(|t| t.label == "Green");
    let green_dimension = match (green, &d.service_deployment_arn) {
        (Some(green), None) => green
            .target_group
            .as_ref()
            .and_then(|name| groups.iter().find(|(n, _)| *n == name))
            .map(|(_, dimension)| (*dimension).clone()),
        (Some(green), Some(_)) => service_deployments::revision_target_group(cloud, &green.id)
            .await?
            .map(|arn| Dimension::of_arn("TargetGroup", &arn).value),
        (None, _) => None,
    };
    let Some(green) = green_dimension else {
        return Ok(None);
    };
    let Some((_, blue)) = groups.iter().find(|(_, dimension)| **dimension != green) else {
        return Ok(None);
    };
    let side = |side, target_group: &str| SideDimensions {
        side,
        load_balancer: outputs.load_balancer_dimension.clone(),
        target_group: target_group.to_owned(),
    };
    Ok(Some(vec![
        side(Side::Blue, blue),
        side(Side::Green, &green),
    ]))
}
