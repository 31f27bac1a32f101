//! `switchyard-bench restart`: what a kill -9 and restart of the local
//! cloud costs production in the middle of a traffic shift. Production is
//! sampled every few milliseconds, each time on a new connection, across
//! every kill and restart, and each sample is classified: served, refused,
//! reset, or answered with another status. The baseline is the time no
//! process listens: the restart delay plus the new process's start to
//! listening, which the report gives too.

use super::api::Api;
use super::{ChildServer, ScratchDir, quantile};
use clap::{Args, ValueEnum};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use switchyard_loadgen::sampler::{Outcome, Sample, Sampler};

#[derive(Debug, Args)]
pub struct RestartBench {
    /// Kills and restarts per phase.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// How long after the kill the process is started again.
    #[arg(long, default_value_t = 300)]
    restart_after_ms: u64,
    /// Time between two production samples, each on a new connection.
    #[arg(long, default_value_t = 5)]
    sample_every_ms: u64,
    /// How long production is sampled before each kill, and again after it
    /// serves again.
    #[arg(long, default_value_t = 1000)]
    margin_ms: u64,
    /// Which process is killed: `standalone` kills `switchyard localcloud`
    /// (the `switchyard serve --localcloud-url` on it runs on), `embedded`
    /// kills `switchyard serve` with its embedded local cloud; `both` runs
    /// the two phases one after the other, each on data of its own.
    #[arg(long, value_enum, default_value_t = Phases::Both)]
    phase: Phases,
    /// Keep the data dirs here instead of in a scratch dir that is removed.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phases {
    Standalone,
    Embedded,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Standalone,
    Embedded,
}

impl Phases {
    fn each(self) -> &'static [Phase] {
        match self {
            Phases::Standalone => &[Phase::Standalone],
            Phases::Embedded => &[Phase::Embedded],
            Phases::Both => &[Phase::Standalone, Phase::Embedded],
        }
    }
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Standalone => "standalone",
            Phase::Embedded => "embedded",
        }
    }

    fn killed(self) -> &'static str {
        match self {
            Phase::Standalone => "switchyard localcloud",
            Phase::Embedded => "switchyard serve (embedded)",
        }
    }
}

const ENVIRONMENT: &str = "restart";
/// 10 % more on green every 3 minutes at time scale 1: both target groups
/// stay weighted for the whole run.
const DEPLOYMENT_CONFIG: &str = "ECSLinear10PercentEvery3Minutes";
/// Bounds on what should take seconds: a process's start, a deployment.
const START_LIMIT: Duration = Duration::from_secs(30);
const SETUP_LIMIT: Duration = Duration::from_secs(120);
/// Losses listed per phase as evidence.
const LOSSES_SHOWN: usize = 10;

pub async fn run(args: RestartBench) -> anyhow::Result<()> {
    let scratch = ScratchDir::new(args.data_dir.clone())?;
    let mut reports = Vec::new();
    for &phase in args.phase.each() {
        let dir = scratch.path().join(phase.name());
        let mut processes = Processes::default();
        let measured = tokio::select! {
            measured = measure(phase, &dir, &args, &mut processes) => measured,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        };
        let stopped = processes.stop_all(&dir).await;
        let report = measured?;
        stopped?;
        reports.push(report);
    }
    print(&args, &reports);
    Ok(())
}

/// A phase's processes, held here so that they are stopped whatever happens.
#[derive(Default)]
struct Processes {
    /// The process each round kills and starts again.
    crashing: Option<ChildServer>,
    /// The control plane of the standalone phase, which runs throughout.
    steady: Option<ChildServer>,
}

impl Processes {
    /// SIGTERM to each (the control plane first: it is the local cloud's
    /// client), so that the local cloud stops its tasks; then ends what
    /// still runs of this phase's (a task of a local cloud that could not
    /// be stopped, say), and says so.
    async fn stop_all(&mut self, dir: &Path) -> anyhow::Result<()> {
        let mut stopped = Ok(());
        for process in [self.steady.take(), self.crashing.take()]
            .into_iter()
            .flatten()
        {
            let result = process.stop().await;
            stopped = stopped.and(result);
        }
        let strays = processes_mentioning(dir);
        if !strays.is_empty() {
            eprintln!(
                "{} processes of the bench outlived the stop (pids {strays:?}); ending them",
                strays.len()
            );
            end(&strays).await;
        }
        stopped
    }
}

/// The processes whose command line names something under `dir` (the
/// servers' data dirs, the tasks' leases and sites), but this one.
fn processes_mentioning(dir: &Path) -> Vec<u32> {
    processes_with(&[format!("{}/", dir.display()).as_bytes()])
}

/// The local cloud's host task processes (`switchyard localcloud task`)
/// under `dir`, sorted.
fn task_processes(dir: &Path) -> Vec<u32> {
    let mut tasks = processes_with(&[
        format!("{}/", dir.display()).as_bytes(),
        b"\0localcloud\0task\0",
    ]);
    tasks.sort_unstable();
    tasks
}

/// The running processes, but this one, whose command line (its arguments
/// NUL-separated) contains each of `needles`.
fn processes_with(needles: &[&[u8]]) -> Vec<u32> {
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let contains =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own && is_running(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| needles.iter().all(|needle| contains(&cmdline, needle)))
        })
        .collect()
}

/// SIGTERM, and SIGKILL to those still running after 5 s.
async fn end(pids: &[u32]) {
    let signal = |signal| {
        for &pid in pids {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid as libc::pid_t, signal) };
        }
    };
    signal(libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&pid| is_running(pid)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(libc::SIGKILL);
}

/// Alive and not a zombie.
fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}

/// What the rounds of one phase need.
struct Setup {
    /// The phase's data, under which its processes are found.
    dir: PathBuf,
    /// The crashing process's command line, to start it again the same way.
    args: Vec<String>,
    production: SocketAddr,
    api: Api,
    deployment: String,
}

struct PhaseReport {
    phase: Phase,
    rounds: Vec<Round>,
    /// The deployment before the first kill and after the last restart.
    shift_before: String,
    shift_after: String,
}

async fn measure(
    phase: Phase,
    dir: &Path,
    args: &RestartBench,
    processes: &mut Processes,
) -> anyhow::Result<PhaseReport> {
    eprintln!(
        "{}: setting up (v1 deployed, v2 shifting with {DEPLOYMENT_CONFIG} at time scale 1)",
        phase.name()
    );
    let setup = set_up(phase, dir, processes).await?;
    let shift_before = shift(&setup).await?;
    let mut rounds = Vec::new();
    for number in 1..=args.rounds {
        let round = measure_round(&setup, args, processes).await?;
        eprintln!(
            "{} round {number}/{}: outage {}, start to listening {}, to serving {}; {}; {} task processes replaced",
            phase.name(),
            args.rounds,
            ms(round.outage),
            ms(round.start_to_listening),
            ms(round.start_to_serving),
            round.counts.summary(),
            round.tasks_replaced
        );
        rounds.push(round);
    }
    let shift_after = shift(&setup).await?;
    Ok(PhaseReport {
        phase,
        rounds,
        shift_before,
        shift_after,
    })
}

/// The processes started and the environment provisioned, v1 deployed, v2
/// in its shift, and production answering both.
async fn set_up(phase: Phase, dir: &Path, processes: &mut Processes) -> anyhow::Result<Setup> {
    anyhow::ensure!(
        !dir.exists(),
        "{} exists already; give --data-dir a new or empty directory",
        dir.display()
    );
    let sites = dir.join("sites");
    for version in ["v1", "v2"] {
        std::fs::create_dir_all(sites.join(version))?;
        std::fs::write(sites.join(version).join("index.html"), page(version))?;
    }
    // No engine answers there: tasks run as host processes, and the
    // machine's own container engine stays out of it.
    let no_engine = format!("unix://{}/no-engine.sock", dir.display());
    let server_data = dir.join("server");
    let serve_args = |cloud: &[&str]| -> Vec<String> {
        let (sites, data) = (
            sites.display().to_string(),
            server_data.display().to_string(),
        );
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(cloud);
        args.extend(["--static-root", &sites, "--data-dir", &data]);
        args.into_iter().map(str::to_owned).collect()
    };
    let (args, base) = match phase {
        Phase::Standalone => {
            let cloud_data = dir.join("cloud").display().to_string();
            let mut cloud_args = [
                "localcloud",
                "--listen",
                "127.0.0.1:0",
                "--time-scale",
                "1",
                "--docker-host",
                &no_engine,
                "--data-dir",
                &cloud_data,
            ]
            .map(str::to_owned)
            .to_vec();
            let cloud = start(&mut processes.crashing, &cloud_args).await?;
            // Started again on the address it got.
            cloud_args[2] = cloud.to_string();
            let url = format!("http://{cloud}");
            let server_args = serve_args(&["--localcloud-url", &url]);
            let server = start(&mut processes.steady, &server_args).await?;
            (cloud_args, server)
        }
        Phase::Embedded => {
            let args = serve_args(&["--time-scale", "1", "--docker-host", &no_engine]);
            let server = start(&mut processes.crashing, &args).await?;
            (args, server)
        }
    };
    let api = Api::as_admin(&format!("http://{base}"), &server_data)?;
    let (production, deployment) = deploy_mid_shift(&api, &sites).await?;
    wait_for_both_versions(production).await?;
    Ok(Setup {
        dir: dir.to_path_buf(),
        args,
        production,
        api,
        deployment,
    })
}

fn page(version: &str) -> String {
    format!("<h1>{version}</h1>")
}

/// Starts `switchyard ARGS` into `slot` and waits until it listens; its
/// address.
async fn start(slot: &mut Option<ChildServer>, args: &[String]) -> anyhow::Result<SocketAddr> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let process = slot.insert(ChildServer::start(&args, None)?);
    tokio::time::timeout(START_LIMIT, process.address())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "`switchyard {}` did not listen within {START_LIMIT:?}",
                args.join(" ")
            )
        })?
}

/// Provisions the environment, deploys v1 and starts v2's shift; the
/// production address and v2's deployment path.
async fn deploy_mid_shift(api: &Api, sites: &Path) -> anyhow::Result<(SocketAddr, String)> {
    let environment = format!("/api/environments/{ENVIRONMENT}");
    api.post(
        "/api/environments",
        json!({"name": ENVIRONMENT, "platform": "local", "termination_wait_minutes": 0}),
    )
    .await?;
    api.post(&format!("{environment}/stack"), json!({})).await?;
    let stack = api
        .until(&format!("{environment}/stack"), SETUP_LIMIT, |s| {
            matches!(s["status"].as_str(), Some("ready" | "failed"))
        })
        .await?;
    anyhow::ensure!(
        stack["status"] == "ready",
        "provisioning failed: {}",
        stack["log"]
    );
    let production = stack["outputs"]["prod_url"]
        .as_str()
        .and_then(|url| url.strip_prefix("http://"))
        .and_then(|address| address.trim_end_matches('/').parse().ok())
        .ok_or_else(|| {
            anyhow::anyhow!("the stack has no prod_url output like http://127.0.0.1:PORT: {stack}")
        })?;
    let deployments = format!("{environment}/deployments");
    let deploy = |version: &str, config: Option<&str>| {
        let image = format!("static:{}", sites.join(version).display());
        let body = json!({"image": image, "version": version, "deployment_config": config});
        api.post(&deployments, body)
    };
    let first = deploy("v1", None).await?;
    api.until(&deployment_path(&first)?, SETUP_LIMIT, |d| {
        matches!(
            d["status"].as_str(),
            Some("Succeeded" | "Failed" | "Stopped")
        )
    })
    .await
    .and_then(|d| {
        anyhow::ensure!(
            d["status"] == "Succeeded",
            "v1's deployment ended {}",
            d["status"]
        );
        Ok(())
    })?;
    let second = deployment_path(&deploy("v2", Some(DEPLOYMENT_CONFIG)).await?)?;
    api.until(&second, SETUP_LIMIT, |d| {
        d["green_weight"].as_f64().unwrap_or(0.0) > 0.0
            || matches!(
                d["status"].as_str(),
                Some("Succeeded" | "Failed" | "Stopped")
            )
    })
    .await
    .and_then(|d| {
        anyhow::ensure!(
            d["status"] == "InProgress",
            "v2's deployment is {}, not shifting",
            d["status"]
        );
        Ok(())
    })?;
    Ok((production, second))
}

fn deployment_path(deployment: &serde_json::Value) -> anyhow::Result<String> {
    let id = deployment["id"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("a deployment without an id: {deployment}"))?;
    Ok(format!("/api/deployments/{id}"))
}

/// Waits until production has answered with both versions' pages.
async fn wait_for_both_versions(production: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + SETUP_LIMIT;
    let mut seen = [false, false];
    while seen != [true, true] {
        anyhow::ensure!(
            Instant::now() < deadline,
            "production at {production} did not answer both v1 and v2 within {SETUP_LIMIT:?}"
        );
        if let Ok((200, body)) = switchyard_loadgen::http_get(production, "/", &[]).await {
            for (seen, version) in seen.iter_mut().zip(["v1", "v2"]) {
                *seen |= body == page(version).as_bytes();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// The deployment's status and green weight, as the control plane reports it.
async fn shift(setup: &Setup) -> anyhow::Result<String> {
    let d = setup.api.get(&setup.deployment).await?;
    Ok(format!(
        "{} at {} % green",
        d["status"].as_str().unwrap_or("?"),
        d["green_weight"]
    ))
}

/// One kill and restart, as production saw it.
struct Round {
    /// From the kill to the first request served after it.
    outage: Duration,
    /// From the new process's spawn to its "listening" line.
    start_to_listening: Duration,
    /// From the new process's spawn to the first request served.
    start_to_serving: Duration,
    counts: Counts,
    /// Task processes running before the kill that no longer ran after the
    /// round (goal 0: the restarted local cloud adopts them all).
    tasks_replaced: usize,
    /// What production lost otherwise than to the kill: when (ms since
    /// the kill) and what.
    losses: Vec<(f64, Outcome)>,
}

/// The moments of a round.
struct Moments {
    killed: Instant,
    /// The killed process has been reaped.
    dead: Instant,
    spawned: Instant,
    listening: Instant,
}

#[derive(Debug, Default, Clone)]
struct Counts {
    samples: usize,
    served_v1: usize,
    served_v2: usize,
    /// Served with a page that is neither version's.
    served_other: usize,
    /// Refused between the kill and the first request served after it.
    refused_while_down: usize,
    refused_otherwise: usize,
    /// In flight when the process died.
    reset_by_kill: usize,
    reset_otherwise: usize,
    /// Answers other than 200, by status.
    statuses: BTreeMap<u16, usize>,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.samples += other.samples;
        self.served_v1 += other.served_v1;
        self.served_v2 += other.served_v2;
        self.served_other += other.served_other;
        self.refused_while_down += other.refused_while_down;
        self.refused_otherwise += other.refused_otherwise;
        self.reset_by_kill += other.reset_by_kill;
        self.reset_otherwise += other.reset_otherwise;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
    }

    fn status(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    fn other_statuses(&self) -> String {
        let others: Vec<String> = self
            .statuses
            .iter()
            .filter(|(status, _)| **status != 503)
            .map(|(status, n)| format!("{n}×{status}"))
            .collect();
        if others.is_empty() {
            "0".to_owned()
        } else {
            others.join(", ")
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} samples: {} served (v1 {}, v2 {}), {} refused while down, {} reset by the kill, {} × 503, other statuses {}, {} reset and {} refused otherwise",
            self.samples,
            self.served_v1 + self.served_v2 + self.served_other,
            self.served_v1,
            self.served_v2,
            self.refused_while_down,
            self.reset_by_kill,
            self.status(503),
            self.other_statuses(),
            self.reset_otherwise,
            self.refused_otherwise,
        )
    }
}

/// Samples production from `margin` before a kill -9 of the crashing
/// process to `margin` after the restarted one serves again.
async fn measure_round(
    setup: &Setup,
    args: &RestartBench,
    processes: &mut Processes,
) -> anyhow::Result<Round> {
    let margin = Duration::from_millis(args.margin_ms);
    let mut sampler = Sampler::start(
        setup.production,
        "/",
        Duration::from_millis(args.sample_every_ms.max(1)),
    );
    tokio::time::sleep(margin).await;
    let tasks = task_processes(&setup.dir);
    anyhow::ensure!(!tasks.is_empty(), "no task processes run before the kill");
    let crashing = processes
        .crashing
        .take()
        .ok_or_else(|| anyhow::anyhow!("the process to kill is not running"))?;
    let killed = Instant::now();
    crashing.kill().await?;
    let dead = Instant::now();
    tokio::time::sleep(Duration::from_millis(args.restart_after_ms)).await;
    let spawned = Instant::now();
    start(&mut processes.crashing, &setup.args).await?;
    let listening = Instant::now();
    sampler.served_since(dead, START_LIMIT).await?;
    tokio::time::sleep(margin).await;
    let samples = sampler.stop().await?;
    let running = task_processes(&setup.dir);
    let mut round = classify(
        &samples,
        &Moments {
            killed,
            dead,
            spawned,
            listening,
        },
    )?;
    round.tasks_replaced = tasks.iter().filter(|pid| !running.contains(pid)).count();
    Ok(round)
}

/// Counts the samples and measures the round from them.
fn classify(samples: &[Sample], at: &Moments) -> anyhow::Result<Round> {
    // Sent after the old process was gone: served by the new one.
    let back = samples
        .iter()
        .find(|s| s.at >= at.dead && matches!(s.outcome, Outcome::Served(_)))
        .map(|s| s.at)
        .ok_or_else(|| anyhow::anyhow!("production was not served again after the restart"))?;
    let mut counts = Counts {
        samples: samples.len(),
        ..Counts::default()
    };
    let mut losses = Vec::new();
    for s in samples {
        let in_flight_at_death = s.at <= at.dead && s.done >= at.killed;
        match &s.outcome {
            Outcome::Served(body) if *body == page("v1") => counts.served_v1 += 1,
            Outcome::Served(body) if *body == page("v2") => counts.served_v2 += 1,
            Outcome::Served(_) => counts.served_other += 1,
            Outcome::Refused if s.done >= at.killed && s.at <= back => {
                counts.refused_while_down += 1
            }
            Outcome::Failed(_) if in_flight_at_death => counts.reset_by_kill += 1,
            lost => {
                match lost {
                    Outcome::Refused => counts.refused_otherwise += 1,
                    Outcome::Failed(_) => counts.reset_otherwise += 1,
                    Outcome::Answered(status, _) => {
                        *counts.statuses.entry(*status).or_default() += 1
                    }
                    Outcome::Served(_) => unreachable!("served is matched above"),
                }
                losses.push((signed_ms(s.at, at.killed), lost.clone()));
            }
        }
    }
    Ok(Round {
        outage: back - at.killed,
        start_to_listening: at.listening - at.spawned,
        start_to_serving: back.saturating_duration_since(at.spawned),
        counts,
        tasks_replaced: 0,
        losses,
    })
}

/// Milliseconds from `origin` to `t`, negative before it.
fn signed_ms(t: Instant, origin: Instant) -> f64 {
    match t.checked_duration_since(origin) {
        Some(after) => after.as_secs_f64() * 1000.0,
        None => -(origin - t).as_secs_f64() * 1000.0,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn print(args: &RestartBench, reports: &[PhaseReport]) {
    let delay = Duration::from_millis(args.restart_after_ms);
    println!(
        "switchyard-bench restart: kill -9 mid-shift, started again {} later, {} rounds per phase; \
         production sampled every {} ms, each sample on a new connection",
        ms(delay),
        args.rounds,
        args.sample_every_ms
    );
    println!(
        "baseline: no process listens for the restart delay plus the new process's start to listening; \
         goal: outage ≈ that, 0 × 503, no resets but the requests in flight at the kill"
    );
    let totals: Vec<Counts> = reports
        .iter()
        .map(|r| {
            let mut total = Counts::default();
            for round in &r.rounds {
                total.add(&round.counts);
            }
            total
        })
        .collect();
    let durations = |r: &PhaseReport, f: fn(&Round) -> Duration| -> Vec<Duration> {
        r.rounds.iter().map(f).collect()
    };
    let p50_max = |times: &[Duration]| {
        format!(
            "{} / {}",
            ms(quantile(times, 0.5)),
            ms(quantile(times, 1.0))
        )
    };
    type Row<'a> = (&'a str, Box<dyn Fn(usize, &PhaseReport) -> String + 'a>);
    let rows: Vec<Row> = vec![
        (
            "process killed",
            Box::new(|_, r| r.phase.killed().to_owned()),
        ),
        ("rounds", Box::new(|_, r| r.rounds.len().to_string())),
        (
            "outage (kill to first 200) p50",
            Box::new(|_, r| ms(quantile(&durations(r, |x| x.outage), 0.5))),
        ),
        (
            "                           p99",
            Box::new(|_, r| ms(quantile(&durations(r, |x| x.outage), 0.99))),
        ),
        (
            "                           max",
            Box::new(|_, r| ms(quantile(&durations(r, |x| x.outage), 1.0))),
        ),
        (
            "outage / restart delay p50, max",
            Box::new(|_, r| {
                let outages = durations(r, |x| x.outage);
                let ratio = |q| quantile(&outages, q).as_secs_f64() / delay.as_secs_f64().max(1e-9);
                format!("{:.2} ×, {:.2} ×", ratio(0.5), ratio(1.0))
            }),
        ),
        (
            "new process: start to listening p50 / max",
            Box::new(|_, r| p50_max(&durations(r, |x| x.start_to_listening))),
        ),
        (
            "new process: start to serving p50 / max",
            Box::new(|_, r| p50_max(&durations(r, |x| x.start_to_serving))),
        ),
        ("samples", Box::new(|i, _| totals[i].samples.to_string())),
        (
            "served v1 / v2",
            Box::new(|i, _| {
                let t = &totals[i];
                match t.served_other {
                    0 => format!("{} / {}", t.served_v1, t.served_v2),
                    other => format!("{} / {} (+{other} other pages)", t.served_v1, t.served_v2),
                }
            }),
        ),
        (
            "503 (goal 0)",
            Box::new(|i, _| totals[i].status(503).to_string()),
        ),
        (
            "other statuses",
            Box::new(|i, _| totals[i].other_statuses()),
        ),
        (
            "reset by the kill (in flight)",
            Box::new(|i, _| totals[i].reset_by_kill.to_string()),
        ),
        (
            "reset otherwise (goal 0)",
            Box::new(|i, _| totals[i].reset_otherwise.to_string()),
        ),
        (
            "refused while down",
            Box::new(|i, _| totals[i].refused_while_down.to_string()),
        ),
        (
            "refused otherwise (goal 0)",
            Box::new(|i, _| totals[i].refused_otherwise.to_string()),
        ),
        (
            "task processes replaced (goal 0)",
            Box::new(|_, r| {
                r.rounds
                    .iter()
                    .map(|x| x.tasks_replaced)
                    .sum::<usize>()
                    .to_string()
            }),
        ),
        ("the shift before", Box::new(|_, r| r.shift_before.clone())),
        ("the shift after", Box::new(|_, r| r.shift_after.clone())),
    ];
    let label_width = rows
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    print!("{:label_width$}", "");
    for r in reports {
        print!("  {:<30}", r.phase.name());
    }
    println!();
    for (label, cell) in &rows {
        print!("{label:label_width$}");
        for (i, r) in reports.iter().enumerate() {
            print!("  {:<30}", cell(i, r));
        }
        println!();
    }
    for r in reports {
        let losses: Vec<(usize, &(f64, Outcome))> = (r.rounds.iter().enumerate())
            .flat_map(|(i, round)| round.losses.iter().map(move |loss| (i + 1, loss)))
            .collect();
        if losses.is_empty() {
            continue;
        }
        println!(
            "{}: {} samples lost otherwise than to the kill; the first (round, ms since its kill, outcome):",
            r.phase.name(),
            losses.len()
        );
        for (round, (since, outcome)) in losses.iter().take(LOSSES_SHOWN) {
            println!("  {round:>3}  {since:+9.1} ms  {outcome:?}");
        }
    }
}
