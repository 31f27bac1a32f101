//! The alarm evaluator: once each period of an alarm has ended, it reads
//! the period's datapoints from the listeners' recorders and moves the
//! alarm's state as `evaluate` says. Only changes are written (and saved);
//! deployments that watch an alarm read its state on their own ticks.

use super::evaluate::{self, Period, Rule};
use super::metrics::{Window, series};
use super::model::MetricAlarm;
use crate::LocalCloud;
use crate::runtime::BalancerTraffic;
use crate::state::CloudState;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A period counts as ended this long (as a share of it) after its end, so
/// that requests answered right at the boundary are in.
const SETTLE_SHARE: f64 = 0.05;

/// What the evaluator decided for one alarm.
struct Change {
    name: String,
    state: super::model::StateValue,
    reason: String,
    reason_data: String,
}

pub async fn run(cloud: Arc<LocalCloud>) {
    // The newest period end each alarm was evaluated for, by alarm and
    // configuration: an updated alarm is looked at again at once.
    let mut evaluated: HashMap<(String, i64), i64> = HashMap::new();
    let minute_ms = cloud.clock().minutes_to_real_millis(1.0).max(1);
    let tick = Duration::from_millis((minute_ms / 8).clamp(20, 5_000) as u64);
    loop {
        tokio::time::sleep(tick).await;
        evaluate_due(&cloud, &mut evaluated, crate::now_millis());
    }
}

fn evaluate_due(cloud: &LocalCloud, evaluated: &mut HashMap<(String, i64), i64>, now: i64) {
    if cloud.read(|s| s.metric_alarms.is_empty()) {
        evaluated.clear();
        return;
    }
    let traffic = cloud.runtime.traffic();
    let changes: Vec<Change> = cloud.read(|s| {
        evaluated.retain(|(name, _), _| s.metric_alarms.contains_key(name));
        s.metric_alarms
            .values()
            .filter_map(|alarm| {
                let window = due_window(cloud, alarm, now)?;
                let key = (alarm.name.clone(), alarm.configuration_updated_at);
                if evaluated.get(&key) == Some(&window.to_ms) {
                    return None;
                }
                evaluated.insert(key, window.to_ms);
                judge(s, &traffic, alarm, window, now)
            })
            .collect()
    });
    if changes.is_empty() {
        return;
    }
    let saved = cloud.mutate(|s| {
        for change in &changes {
            tracing::info!(alarm = %change.name, state = %change.state, reason = %change.reason, "alarm state changed");
            super::alarms::record_state(
                s,
                &change.name,
                change.state,
                &change.reason,
                Some(change.reason_data.clone()),
                now,
            );
        }
        Ok(())
    });
    match saved {
        Ok(()) => super::alarm_changed(cloud),
        Err(e) => tracing::error!(error = %e.message, "cannot record alarm states"),
    }
}

/// The evaluation range of `alarm` that ends with its newest ended period.
fn due_window(cloud: &LocalCloud, alarm: &MetricAlarm, now: i64) -> Option<Window> {
    let period_ms = Window::new(cloud.clock(), 0, 1, alarm.period_seconds).period_ms;
    let settle = (period_ms as f64 * SETTLE_SHARE) as i64;
    let to_ms = (now - settle).div_euclid(period_ms) * period_ms;
    let range = i64::from(rule(alarm).range());
    Some(Window {
        from_ms: to_ms.checked_sub(range * period_ms)?,
        to_ms,
        period_ms,
    })
}

fn rule(alarm: &MetricAlarm) -> Rule {
    Rule {
        comparison: alarm.comparison,
        threshold: alarm.threshold,
        evaluation_periods: alarm.evaluation_periods,
        datapoints_to_alarm: alarm.datapoints_to_alarm(),
        treat_missing: alarm.treat_missing(),
    }
}

/// The change `alarm` should make given the datapoints in `window`; `None`
/// when it stays as it is.
fn judge(
    s: &CloudState,
    traffic: &[BalancerTraffic],
    alarm: &MetricAlarm,
    window: Window,
    now: i64,
) -> Option<Change> {
    let rule = rule(alarm);
    let points = series(s, traffic, &alarm.metric)
        .filter(|series| alarm.unit.as_deref().is_none_or(|u| u == series.unit()))
        .map(|series| series.datapoints(window, alarm.aggregate))
        .unwrap_or_default();
    let periods: Vec<Period> = (0..)
        .map(|i| window.from_ms + i * window.period_ms)
        .take_while(|start| *start < window.to_ms)
        .map(|start_ms| Period {
            start_ms,
            value: points.iter().find(|(t, _)| *t == start_ms).map(|(_, v)| *v),
        })
        .collect();
    let evaluation = evaluate::evaluate(&rule, &periods);
    let state = evaluation.state.filter(|state| *state != alarm.state)?;
    Some(Change {
        name: alarm.name.clone(),
        state,
        reason: evaluate::reason(&rule, &evaluation, alarm.state, state),
        reason_data: evaluate::reason_data(
            &rule,
            &evaluation,
            &alarm.statistic_name,
            alarm.period_seconds,
            now,
        ),
    })
}
