//! Samples a production URL every 20 ms, each time on a new connection
//! (switchyard-loadgen's sampler), and checks that a restart cost production
//! nothing but the connections refused while no process listens.
//! Not tied to one suite's modules, so any test crate can `#[path]`-include it.

use std::time::{Duration, Instant};
use switchyard_loadgen::sampler::{self, Outcome, Sample};

const EVERY: Duration = Duration::from_millis(20);

pub struct Sampler(sampler::Sampler);

impl Sampler {
    pub fn start(url: &str) -> Sampler {
        let url = reqwest::Url::parse(url).unwrap();
        let address = url.socket_addrs(|| None).unwrap()[0];
        Sampler(sampler::Sampler::start(address, url.path(), EVERY))
    }

    pub async fn stop(self) -> Samples {
        Samples(self.0.stop().await.unwrap())
    }
}

pub struct Samples(pub Vec<Sample>);

impl Samples {
    /// Production lost nothing but what a kill -9 at `killed` costs: a
    /// request in flight while the process died (by `dead`) may have failed,
    /// and connections were refused until the new process
    /// listened (before `restarted`). No answer was ever an error (a 503,
    /// say). Says what it saw otherwise.
    pub fn assert_only_lost_while_down(&self, killed: Instant, dead: Instant, restarted: Instant) {
        let since = |s: &Sample| s.at.saturating_duration_since(killed);
        let (mut served, mut refused, mut reset) = (0, 0, 0);
        let mut lost = Vec::new();
        for s in &self.0 {
            match &s.outcome {
                Outcome::Served(_) => served += 1,
                Outcome::Refused if s.at <= restarted && s.done >= killed => refused += 1,
                Outcome::Failed(_) if s.at <= dead && s.done >= killed => reset += 1,
                other => lost.push((since(s), other)),
            }
        }
        let summary = format!(
            "{} samples: {served} served, {refused} refused while down, {reset} reset by the kill, {} otherwise lost: {:?}",
            self.0.len(),
            lost.len(),
            lost.iter().take(5).collect::<Vec<_>>()
        );
        eprintln!("production across the restart: {summary}");
        assert!(lost.is_empty(), "{summary}");
        assert!(served > 0, "{summary}");
    }
}
