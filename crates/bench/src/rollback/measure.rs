//! One run: the load on production, the listener's weights read back every
//! 5 ms, the flaky green deployed; then, from what was recorded, the times
//! from the first 500 to the alarm and to all traffic on blue, and every
//! answer to a request sent after that instant checked to be blue's 200.

use super::setup::{Cloud, Stack, all_on};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchyard_loadgen::{Answer, LoadSpec, Options};

/// How often the listener's weights are read.
const WEIGHTS_EVERY: Duration = Duration::from_millis(5);
/// Requests per second each connection sends at most.
const PER_CONNECTION: f64 = 50.0;
/// How long the load goes on once all is blue, for the cross-check.
const AFTER: Duration = Duration::from_millis(500);
/// How long a deployment may take to be rolled back.
const TIMEOUT: Duration = Duration::from_secs(90);

/// What one run measured.
pub struct Run {
    /// First 500 received → the alarm's ALARM transition.
    pub detection: Duration,
    /// ALARM → the first weights read back all on blue.
    pub reaction: Duration,
    /// First 500 received → all on blue.
    pub total: Duration,
    /// Answers to requests sent once all was blue, and how many of them
    /// were not blue's 200.
    pub checked_after: usize,
    pub wrong_after: usize,
    pub requests_per_second: f64,
    /// 500s the load generator received in the run.
    pub failed: usize,
}

/// A wall-clock anchor, to place the alarm history's timestamps among the
/// monotonic instants of the run.
#[derive(Clone, Copy)]
struct Anchor {
    instant: Instant,
    epoch_ms: i64,
}

impl Anchor {
    fn now() -> Anchor {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Anchor {
            instant: Instant::now(),
            epoch_ms: epoch.as_millis() as i64,
        }
    }

    fn epoch_ms_of(&self, at: Instant) -> i64 {
        self.epoch_ms + at.duration_since(self.instant).as_millis() as i64
    }
}

/// One run, its deployment started `phase` into an alarm period of
/// `period` (both real time): each run starts right after the alarm went
/// back to OK at a period's end, so without a phase of their own all runs
/// would see their first 500 at the same point of a period.
pub async fn one_run(
    cloud: &Cloud,
    stack: &Stack,
    rate: f64,
    (phase, period): (Duration, Duration),
) -> anyhow::Result<Run> {
    stack.wait_steady(cloud).await?;
    tokio::time::sleep(until_phase(phase, period, Anchor::now().epoch_ms)).await;
    let anchor = Anchor::now();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(load(stack.production, rate, stop.clone()));
    let watcher = tokio::spawn(watch_weights(
        Cloud {
            http: cloud.http.clone(),
            endpoint: cloud.endpoint.clone(),
        },
        stack.name.clone(),
        stack.blue_group.clone(),
        stop.clone(),
    ));
    let rolled_back = deploy_and_wait(cloud, stack).await;
    stop.store(true, Ordering::Relaxed);
    let result = load.await??;
    let weights = watcher.await??;
    let outcome = rolled_back?;
    let transitions = stack
        .alarm_transitions(cloud, anchor.epoch_ms - 1_000)
        .await?;
    let figures = figures(&result.answers, &weights, &transitions, anchor)
        .map_err(|e| anyhow::anyhow!("{}: {e} (the deployment ended {outcome})", stack.name))?;
    Ok(Run {
        requests_per_second: result.answers.len() as f64 / result.elapsed.as_secs_f64(),
        ..figures
    })
}

/// How long from `now_ms` (epoch) to the next moment `phase` into a
/// period (periods start at multiples of `period` since the epoch, as the
/// local cloud's alarm periods do).
fn until_phase(phase: Duration, period: Duration, now_ms: i64) -> Duration {
    let period_ms = (period.as_millis() as i64).max(1);
    let into = now_ms.rem_euclid(period_ms);
    let wait = (phase.as_millis() as i64 - into).rem_euclid(period_ms);
    Duration::from_millis(wait as u64)
}

/// Deploys green and waits until the deployment has ended, production has
/// been all blue for `AFTER` after it left blue; how it ended.
async fn deploy_and_wait(cloud: &Cloud, stack: &Stack) -> anyhow::Result<String> {
    let id = stack.deploy_green(cloud).await?;
    let deadline = Instant::now() + TIMEOUT;
    let mut left_blue = false;
    loop {
        let blue = all_on(&cloud.load_balancer(&stack.name).await?, &stack.blue_group);
        left_blue |= !blue;
        if left_blue
            && blue
            && let Some(outcome) = stack.outcome(cloud, &id).await?
        {
            anyhow::ensure!(
                outcome == "Stopped" || outcome == "ROLLBACK_SUCCESSFUL",
                "{}: the deployment ended {outcome}, not rolled back by its alarm",
                stack.name
            );
            tokio::time::sleep(AFTER).await;
            return Ok(outcome);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{}: not rolled back in {TIMEOUT:?}",
            stack.name
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// ~`rate` requests a second on production from a closed loop: as many
/// keep-alive connections as `PER_CONNECTION` needs, each paced.
async fn load(
    production: std::net::SocketAddr,
    rate: f64,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<switchyard_loadgen::LoadResult> {
    let connections = (rate / PER_CONNECTION).ceil().max(1.0) as usize;
    let spec = LoadSpec {
        address: production,
        method: hyper::Method::GET,
        paths: vec!["/".to_owned()],
        headers: Vec::new(),
        body: bytes::Bytes::new(),
        connections,
        duration: TIMEOUT + Duration::from_secs(30),
        vary: None,
    };
    let options = Options {
        pace: Some(Duration::from_secs_f64(connections as f64 / rate)),
        record: true,
        stop: Some(stop),
    };
    switchyard_loadgen::run_with(&spec, &options).await
}

/// The production weights read back every 5 ms until `stop`: when each
/// reading came, and whether it was all on blue.
async fn watch_weights(
    cloud: Cloud,
    name: String,
    blue_group: String,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<(Instant, bool)>> {
    let mut readings = Vec::new();
    let mut every = tokio::time::interval(WEIGHTS_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        every.tick().await;
        let lb = cloud.load_balancer(&name).await?;
        readings.push((Instant::now(), all_on(&lb, &blue_group)));
    }
    Ok(readings)
}

/// The run's times from what was recorded.
fn figures(
    answers: &[Answer],
    weights: &[(Instant, bool)],
    alarms: &[i64],
    anchor: Anchor,
) -> anyhow::Result<Run> {
    let first_500 = answers
        .iter()
        .find(|a| a.status == 500)
        .map(|a| a.answered)
        .ok_or_else(|| anyhow::anyhow!("the load generator never received a 500"))?;
    let all_blue = weights
        .iter()
        .find(|(at, blue)| *at > first_500 && *blue)
        .map(|(at, _)| *at)
        .ok_or_else(|| anyhow::anyhow!("production never went back to blue"))?;
    let first_500_ms = anchor.epoch_ms_of(first_500);
    let alarm_ms = alarms
        .iter()
        .copied()
        .find(|at| *at >= first_500_ms - 1)
        .ok_or_else(|| anyhow::anyhow!("no ALARM in the alarm's history after the first 500"))?;
    let alarm = anchor.instant + Duration::from_millis((alarm_ms - anchor.epoch_ms).max(0) as u64);
    let after: Vec<&Answer> = answers.iter().filter(|a| a.sent >= all_blue).collect();
    let wrong_after = after
        .iter()
        .filter(|a| a.status != 200 || a.body.as_ref() != b"blue")
        .count();
    Ok(Run {
        detection: alarm.saturating_duration_since(first_500),
        reaction: all_blue.saturating_duration_since(alarm),
        total: all_blue - first_500,
        checked_after: after.len(),
        wrong_after,
        requests_per_second: 0.0,
        failed: answers.iter().filter(|a| a.status == 500).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_phase_waits_for_the_next_such_moment() {
        let (second, phase) = (Duration::from_secs(1), Duration::from_millis(300));
        assert_eq!(
            until_phase(phase, second, 10_100),
            Duration::from_millis(200)
        );
        assert_eq!(until_phase(phase, second, 10_300), Duration::ZERO);
        assert_eq!(
            until_phase(phase, second, 10_900),
            Duration::from_millis(400)
        );
    }
}
