//! `switchyard-bench rollback`: issue 22's goal, "from the first bad answer
//! to all traffic back on blue: ≤ 2 evaluation periods + 1 s (scaled
//! clock), p99 over 10 runs".
//!
//! A standalone local cloud at time scale 60 (a cloud minute is a real
//! second). For each controller, CodeDeploy (ECSLinear10PercentEvery1Minutes)
//! and ECS native (LINEAR, 10 % every minute), a service whose blue always
//! answers 200 and whose green, a host process of this binary
//! (`serve-flaky`), answers 500 to 30 % of its requests; the 5xx alarm of
//! infra/modules/app_infra wired to roll the deployment back. Each run
//! deploys green under ~300 requests a second on production and measures
//! from the first 500 the load generator receives to the listener's
//! production weights all on blue (read back every 5 ms), checking that
//! every request sent after that instant got blue's 200. The runs start
//! their deployments at phases spread evenly over an alarm period, since
//! where in a period the first 500 lands decides the detection time. The
//! baseline, in
//! the same run, is the alarm's own ALARM transition (its history): the
//! report splits detection (first 500 → ALARM) from reaction (ALARM → all
//! blue).
//!
//! `flaky` is the app, `setup` the cloud on the wire and the stacks,
//! `measure` one run.

mod flaky;
mod measure;
mod setup;

pub use flaky::serve as serve_flaky;

use super::ChildServer;
use clap::Args;
use measure::Run;
use std::time::Duration;

/// A cloud second in real time at the bench's time scale.
const TIME_SCALE: f64 = 60.0;

#[derive(Debug, Args)]
pub struct RollbackBench {
    /// Runs per controller.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Requests a second on production during each run.
    #[arg(long, default_value_t = 300.0)]
    rate: f64,
    /// Share of green's answers that are 500s, in percent.
    #[arg(long, default_value_t = 30)]
    fail_percent: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Controller {
    CodeDeploy,
    Ecs,
}

impl Controller {
    fn label(self) -> &'static str {
        match self {
            Controller::CodeDeploy => "CodeDeploy",
            Controller::Ecs => "ECS native",
        }
    }
}

pub async fn run(args: RollbackBench) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    let scratch = super::ScratchDir::new(None)?;
    let no_engine = format!("unix://{}/no-engine.sock", scratch.path().display());
    // No container engine: the tasks are host processes of this binary.
    let mut child = ChildServer::start(
        &[
            "localcloud",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            &TIME_SCALE.to_string(),
            "--docker-host",
            &no_engine,
            "--data-dir",
        ],
        Some(&scratch.path().join("cloud")),
    )?;
    let cloud = setup::Cloud {
        http: reqwest::Client::new(),
        endpoint: format!("http://{}", child.address().await?),
    };
    cloud.set_up(args.fail_percent).await?;
    let mut results = Vec::new();
    for controller in [Controller::CodeDeploy, Controller::Ecs] {
        let stack = setup::Stack::create(&cloud, controller).await?;
        let mut runs = Vec::new();
        let period = Duration::from_secs_f64(setup::PERIOD_SECONDS as f64 / TIME_SCALE);
        for round in 0..args.runs {
            // The runs' deployments start spread evenly over a period.
            let phase = period.mul_f64(round as f64 / args.runs as f64);
            let run = measure::one_run(&cloud, &stack, args.rate, (phase, period)).await?;
            eprintln!(
                "{} run {}: first 500 → ALARM {} ms, → all blue {} ms",
                controller.label(),
                round + 1,
                run.detection.as_millis(),
                run.total.as_millis()
            );
            runs.push(run);
        }
        results.push((controller, runs));
    }
    print(&args, &results);
    child.stop().await
}

/// 2 evaluation periods + 1 s of the cloud clock, in real time.
fn goal() -> Duration {
    let cloud_seconds = (2 * setup::PERIOD_SECONDS + 1) as f64;
    Duration::from_secs_f64(cloud_seconds / TIME_SCALE)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print(args: &RollbackBench, results: &[(Controller, Vec<Run>)]) {
    let goal = goal();
    println!(
        "rollback on alarm: first 500 received to production all on blue, {} runs per controller, \
         time scale {TIME_SCALE}",
        args.runs
    );
    println!(
        "  green answers 500 to {} % of requests; alarm HTTPCode_Target_5XX_Count Sum >= 5 per 60 s \
         (LoadBalancer), rollback on ALARM",
        args.fail_percent
    );
    for (controller, runs) in results {
        let quantiles = |f: fn(&Run) -> Duration| {
            let times: Vec<Duration> = runs.iter().map(f).collect();
            (
                ms(super::quantile(&times, 0.5)),
                ms(super::quantile(&times, 0.99)),
            )
        };
        let (detect50, detect99) = quantiles(|r| r.detection);
        let (react50, react99) = quantiles(|r| r.reaction);
        let (total50, total99) = quantiles(|r| r.total);
        let rate = runs.iter().map(|r| r.requests_per_second).sum::<f64>() / runs.len() as f64;
        let checked: usize = runs.iter().map(|r| r.checked_after).sum();
        let wrong: usize = runs.iter().map(|r| r.wrong_after).sum();
        let failed: usize = runs.iter().map(|r| r.failed).sum();
        println!(
            "{} ({rate:.0} req/s, {failed} 500s received in all):",
            controller.label()
        );
        println!(
            "  detection (first 500 → ALARM, baseline)  p50 {detect50:>7.1} ms  p99 {detect99:>7.1} ms"
        );
        println!(
            "  reaction  (ALARM → all blue)             p50 {react50:>7.1} ms  p99 {react99:>7.1} ms"
        );
        println!(
            "  first 500 → all blue                     p50 {total50:>7.1} ms  p99 {total99:>7.1} ms"
        );
        println!(
            "  goal: p99 ≤ 2 evaluation periods + 1 s = {:.0} ms: {}",
            ms(goal),
            if total99 <= ms(goal) {
                "met"
            } else {
                "NOT met"
            }
        );
        println!(
            "  answers to requests sent once all blue: {checked}, not blue's 200: {wrong}{}",
            if wrong == 0 { "" } else { "  (FAILED)" }
        );
    }
}
