//! The alarm evaluator: once each period of an alarm has ended, it reads
//! the period's datapoints from the listeners' recorders and moves the
//! alarm's state as `evaluate` says. Only changes are written (and saved),
//! and they wake the deployments that watch alarms. Between evaluations it
//! sleeps until the next period of any alarm counts as ended (its end plus
//! the settle time), or until an alarm is put or deleted.

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

/// How long the evaluator sleeps with no alarm to evaluate before it
/// looks anyway (an alarm put wakes it sooner).
const IDLE_MS: i64 = 60_000;

pub async fn run(cloud: Arc<LocalCloud>) {
    // The newest period end each alarm was evaluated for, by alarm and
    // configuration: an updated alarm is looked at again at once.
    let mut evaluated: HashMap<(String, i64), i64> = HashMap::new();
    loop {
        evaluate_due(&cloud, &mut evaluated, crate::now_millis());
        let now = crate::now_millis();
        let wait = cloud
            .read(|s| {
                s.metric_alarms
                    .values()
                    .map(|alarm| next_evaluation(period_ms(&cloud, alarm), now))
                    .min()
            })
            .map_or(IDLE_MS, |due| due - now)
            .clamp(1, IDLE_MS);
        tokio::select! {
            () = cloud.alarms_put.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
        }
    }
}

/// An alarm was put or deleted: the evaluator looks at once, and then
/// sleeps until the periods of the alarms as they are now end.
pub fn alarms_put(cloud: &LocalCloud) {
    cloud.alarms_put.notify_one();
}

/// A period of `period_ms` counts as ended this long after its end.
fn settle_ms(period_ms: i64) -> i64 {
    (period_ms as f64 * SETTLE_SHARE) as i64
}

fn period_ms(cloud: &LocalCloud, alarm: &MetricAlarm) -> i64 {
    Window::new(cloud.clock(), 0, 1, alarm.period_seconds).period_ms
}

/// When, after `now`, the next period of `period_ms` counts as ended: the
/// moment its evaluation is due.
fn next_evaluation(period_ms: i64, now: i64) -> i64 {
    let period_ms = period_ms.max(1);
    let settle = settle_ms(period_ms);
    let ended = (now - settle).div_euclid(period_ms) * period_ms;
    ended + period_ms + settle
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
    let period_ms = period_ms(cloud, alarm);
    let settle = settle_ms(period_ms);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_evaluation_is_the_next_period_end_plus_the_settle_time() {
        // Periods of a second (a minute at time scale 60): settle 50 ms.
        assert_eq!(next_evaluation(1_000, 10_000), 10_050);
        assert_eq!(next_evaluation(1_000, 10_049), 10_050);
        // Evaluated at 10_050: the next one is a period later.
        assert_eq!(next_evaluation(1_000, 10_050), 11_050);
        assert_eq!(next_evaluation(1_000, 10_999), 11_050);
        assert_eq!(next_evaluation(60_000, 120_001), 123_000);
    }

    #[test]
    fn the_next_evaluation_is_always_ahead() {
        for now in 0..3_000 {
            let due = next_evaluation(1_000, now);
            assert!(due > now && due - now <= 1_000, "{now}: {due}");
        }
    }
}
