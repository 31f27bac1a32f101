//! Samples a production URL every 20 ms, each time on a new connection, and
//! keeps what each sample got and when: for tests that a restart costs
//! production nothing but the connections refused while no process listens.
//! Not tied to one suite's modules, so any test crate can `#[path]`-include it.

use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const EVERY: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// 200, with the body.
    Served(String),
    /// No connection could be made: nobody listened.
    Refused,
    /// Any other answer, with its status and body.
    Answered(u16, String),
    /// Connected, then failed (reset, timeout, ...).
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Sample {
    /// When it was sent, and when its outcome was known.
    pub at: Instant,
    pub done: Instant,
    pub outcome: Outcome,
}

pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    pub fn start(url: &str) -> Sampler {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let url = url.to_owned();
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => return samples,
                    _ = tick.tick() => {}
                }
                let at = Instant::now();
                let outcome = sample(&client, &url).await;
                let done = Instant::now();
                samples.push(Sample { at, done, outcome });
            }
        });
        Sampler { stop, task }
    }

    pub async fn stop(self) -> Samples {
        let _ = self.stop.send(());
        Samples(self.task.await.unwrap())
    }
}

async fn sample(client: &reqwest::Client, url: &str) -> Outcome {
    match client.get(url).send().await {
        Err(e) if e.is_connect() => Outcome::Refused,
        Err(e) => Outcome::Failed(error_chain(&e)),
        Ok(response) => {
            let status = response.status().as_u16();
            match response.text().await {
                Ok(body) if status == 200 => Outcome::Served(body),
                Ok(body) => Outcome::Answered(status, body),
                Err(e) => Outcome::Failed(error_chain(&e)),
            }
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
