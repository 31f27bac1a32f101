//! `switchyard-bench containers`: the sample app on real containers, at
//! time scale 60. Reports push → 100 % green split into build (docker build,
//! docker push), task start and shift; the start time of 20 containers of
//! the sample image; and the listener against nginx in front of two of them.

use super::api::{Api, POLL};
use super::proxy::{self, Nginx};
use super::{ChildServer, quantile};
use clap::Args;
use localcloud::tasks::{
    ContainerEngine, ContainerTaskSpec, DockerHost, HealthCheckSettings, HostTaskLife, TaskProgram,
    TaskSetRunner, TaskSetSpec,
};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchyard::sample_app;
use switchyard_loadgen::{self, LoadSpec};

#[derive(Debug, Args)]
pub struct ContainersBench {
    /// The container engine's API socket (Docker or Podman).
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    docker_host: String,
    /// Measured pushes (after one warm-up push), and alternating rounds of
    /// the proxy measurement; the report takes medians.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of load per proxy measurement.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Containers started for the task start figure.
    #[arg(long, default_value_t = 20)]
    tasks: usize,
    /// Concurrent keep-alive connections for the proxy measurement.
    #[arg(long, default_value_t = 64)]
    connections: usize,
}

const ENVIRONMENT: &str = "bench";
const WEBHOOK_SECRET: &str = "the bench's webhook secret";
/// 10 % a minute: the shift takes 10 s at time scale 60.
const DEPLOYMENT_CONFIG: &str = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes";
const HOOK: &str = include_str!("../../../examples/git-hooks/post-receive");

pub async fn run(args: ContainersBench) -> anyhow::Result<()> {
    for tool in ["aws", "jq", "git"] {
        anyhow::ensure!(
            on_path(tool),
            "`{tool}` is not on PATH, and the sample's buildspec.yml (run by the local CodeBuild) \
             needs it; install it (the AWS CLI: `pip install awscli`; jq: `apt-get install -y jq`)"
        );
    }
    let nginx_binary = proxy::require_nginx()?;
    let host = DockerHost::parse(&args.docker_host)
        .map_err(|e| anyhow::anyhow!("--docker-host {}: {e}", args.docker_host))?;
    let owner = format!("switchyard-bench-{}", std::process::id());
    let engine = Arc::new(ContainerEngine::connect(&host, &owner).await.map_err(|why| {
        anyhow::anyhow!(
            "no container engine at {host} ({why}); this benchmark runs containers: start one, \
             or name its socket with --docker-host or DOCKER_HOST"
        )
    })?);
    let scratch = super::ScratchDir::new(None)?;
    std::fs::create_dir_all(scratch.path())?;

    let (rounds, image) = push_to_green(&args, scratch.path()).await?;
    let starts = task_starts(&engine, &image, args.tasks, scratch.path()).await;
    let proxied = match &starts {
        Ok(_) => proxied(&args, &engine, &image, &nginx_binary, scratch.path()).await,
        Err(_) => Err(anyhow::anyhow!(
            "skipped: the task start measurement failed"
        )),
    };
    // Whatever failed, leave no container of ours behind.
    if let Err(why) = engine.remove_own_containers().await {
        eprintln!("could not remove the bench's containers: {why}");
    }
    let (together, one_by_one) = starts?;
    let proxied = proxied?;

    println!(
        "switchyard-bench containers: {host}, time scale 60, {DEPLOYMENT_CONFIG}, image {image}"
    );
    println!(
        "push → 100 % green, {} rounds (medians; build log stamps are whole seconds)",
        rounds.len()
    );
    let median_of = |pick: fn(&Round) -> Duration| {
        let mut values: Vec<Duration> = rounds.iter().map(pick).collect();
        values.sort();
        values[values.len() / 2]
    };
    for (name, pick) in [
        (
            "push → 100 % green",
            (|r| r.total) as fn(&Round) -> Duration,
        ),
        ("  build (the Build action)", |r| r.build),
        ("    docker build", |r| r.docker_build),
        ("    docker push (2 tags)", |r| r.docker_push),
        ("  task start (Install: task set → healthy)", |r| {
            r.task_start
        }),
        ("  shift (AllowTraffic → 100 %)", |r| r.shift),
        ("  the rest (source, deploy setup, polling)", |r| {
            r.total.saturating_sub(r.build + r.task_start + r.shift)
        }),
    ] {
        let each: Vec<String> = rounds.iter().map(|r| seconds(pick(r))).collect();
        println!(
            "  {name:<44} {:>7} s   (rounds: {})",
            seconds(median_of(pick)),
            each.join(" ")
        );
    }
    println!(
        "task start, request → first healthy check (probed every 50 ms), {} containers:",
        args.tasks
    );
    for (name, times) in [
        ("one task set scaled 0 → all at once", &together),
        ("one at a time (scaled up by one)", &one_by_one),
    ] {
        println!(
            "  {name:<44} p50 {:>7.3} s   p99 {:>7.3} s",
            quantile(times, 0.5).as_secs_f64(),
            quantile(times, 0.99).as_secs_f64()
        );
    }
    let names = [
        "container hit directly".to_owned(),
        "switchyard listener".to_owned(),
        proxy::nginx_version(&nginx_binary).await?,
    ];
    proxy::print_table(
        &format!(
            "proxy, 2 container upstreams 90/10, {} conns, {} s x {} rounds",
            args.connections,
            args.seconds,
            args.rounds.max(1)
        ),
        &names,
        &proxied.results,
    );
    let [direct, ours, nginx] = &proxied.results;
    println!(
        "  ratio switchyard / nginx: {:.2} req/s (each round's pair, in both orders), p99 {:.2}; \
         switchyard / direct {:.2} req/s",
        proxied.ratio(1, 2),
        proxy::ms(ours.latency(0.99)) / proxy::ms(nginx.latency(0.99)),
        ours.requests_per_second() / direct.requests_per_second()
    );
    anyhow::ensure!(
        proxied.results.iter().all(|r| r.errors == 0),
        "some proxied requests failed, so the figures above are not comparable"
    );
    Ok(())
}

/// Tenths of a second; the log's whole-second stamps make a shorter span 0,
/// which is shown as under a second.
fn seconds(d: Duration) -> String {
    if d.is_zero() {
        "<1".to_owned()
    } else {
        format!("{:.1}", d.as_secs_f64())
    }
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(tool).is_file())
}

/// One push's times.
struct Round {
    total: Duration,
    build: Duration,
    docker_build: Duration,
    docker_push: Duration,
    task_start: Duration,
    shift: Duration,
}

/// A switchyard with its local cloud on the engine, an environment that
/// follows a bare repository of the whole sample app, a warm-up push, then
/// `rounds` measured pushes alternating the green and the blue page. Also
/// returns the last image built.
async fn push_to_green(args: &ContainersBench, dir: &Path) -> anyhow::Result<(Vec<Round>, String)> {
    let data = dir.join("server");
    let mut server = ChildServer::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            "60",
            "--docker-host",
            &args.docker_host,
            "--data-dir",
        ],
        Some(&data),
    )?;
    let base = format!("http://{}", server.address().await?);
    let api = Api::as_admin(&base, &data)?;
    let result = async {
        let repo = SampleRepo::create(&dir.join("repo"), &format!("{base}/hooks/github"))?;
        api.post(
            "/api/environments",
            json!({"name": ENVIRONMENT, "platform": "local", "termination_wait_minutes": 0,
                   "deployment_config": DEPLOYMENT_CONFIG,
                   "source": {"repo": repo.bare, "branch": "main"},
                   "webhook_secret": WEBHOOK_SECRET, "approval_policy": {"required": 0}}),
        )
        .await?;
        api.post(&format!("/api/environments/{ENVIRONMENT}/stack"), json!({}))
            .await?;
        let stack = api
            .until(
                &format!("/api/environments/{ENVIRONMENT}/stack"),
                Duration::from_secs(120),
                |s| matches!(s["status"].as_str(), Some("ready" | "failed")),
            )
            .await?;
        anyhow::ensure!(
            stack["status"] == "ready",
            "provisioning failed: {}",
            stack["log"]
        );
        let repository = stack["outputs"]["repository_uri"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the stack has no repository_uri output: {stack}"))?
            .to_owned();
        eprintln!("warm-up push (the first release)");
        measured_push(&api, &repo, sample_app::BLUE_PAGE).await?;
        let mut rounds = Vec::new();
        for round in 0..args.rounds.max(1) {
            eprintln!("push {} of {}", round + 1, args.rounds.max(1));
            let page = if round % 2 == 0 {
                sample_app::GREEN_PAGE
            } else {
                sample_app::BLUE_PAGE
            };
            rounds.push(measured_push(&api, &repo, page).await?);
        }
        // buildspec.yml tags the image with the commit's first 12 digits.
        let image = format!("{repository}:{}", &repo.head()?[..12]);
        Ok((rounds, image))
    }
    .await;
    server.stop().await?;
    result
}

/// Commits `page` as index.html, pushes, and follows the run and its
/// deployment until production is all on it and the deployment is done.
async fn measured_push(api: &Api, repo: &SampleRepo, page: &str) -> anyhow::Result<Round> {
    std::fs::write(repo.work.join("index.html"), page)?;
    // A change every round, even when the page is the one already live.
    std::fs::write(
        repo.work.join("README.md"),
        format!(
            "{}\nPushed at {}.\n",
            sample_app::README,
            chrono::Utc::now()
        ),
    )?;
    let pushed = Instant::now();
    git(&repo.work, &["commit", "-qam", "A release for the bench"])?;
    git(&repo.work, &["push", "-q", "origin", "main"])?;
    let commit = repo.head()?;

    // The run's deployment id appears once its Deploy action has started.
    let (run_id, deployment_id) = loop {
        let runs = api
            .get(&format!("/api/environments/{ENVIRONMENT}/pipeline/runs"))
            .await?;
        let run = runs["runs"]
            .as_array()
            .and_then(|runs| runs.iter().find(|r| r["commit"]["sha"] == commit.as_str()))
            .cloned();
        if let Some(run) = run {
            anyhow::ensure!(
                !matches!(run["status"].as_str(), Some("Failed" | "Stopped")),
                "the pipeline run of {commit} failed: {}",
                run["error"]
            );
            if let Some(id) = run["deployment_id"].as_i64() {
                break (run["id"].as_i64().unwrap_or_default(), id);
            }
        }
        anyhow::ensure!(
            pushed.elapsed() < Duration::from_secs(300),
            "the push of {commit} never reached a deployment"
        );
        tokio::time::sleep(POLL).await;
    };
    let path = format!("/api/deployments/{deployment_id}");
    let all_green = api
        .until(&path, Duration::from_secs(180), |d| {
            d["green_weight"].as_f64().is_some_and(|w| w >= 100.0)
                || matches!(d["status"].as_str(), Some("Failed" | "Stopped"))
        })
        .await?;
    let total = pushed.elapsed();
    anyhow::ensure!(
        all_green["green_weight"].as_f64() == Some(100.0),
        "deployment {deployment_id} ended {}: {}",
        all_green["status"],
        all_green["error"]
    );
    let deployment = api
        .until(&path, Duration::from_secs(120), |d| {
            matches!(
                d["status"].as_str(),
                Some("Succeeded" | "Failed" | "Stopped")
            )
        })
        .await?;
    anyhow::ensure!(
        deployment["status"] == "Succeeded",
        "deployment {deployment_id} ended {}: {}",
        deployment["status"],
        deployment["error"]
    );

    let run = api.get(&format!("/api/pipeline-runs/{run_id}")).await?;
    let build_stage = run["stages"]
        .as_array()
        .and_then(|stages| {
            stages.iter().find(|s| {
                s["actions"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a["category"] == "Build"))
            })
        })
        .ok_or_else(|| anyhow::anyhow!("run {run_id} has no Build action: {run}"))?;
    let build = Duration::from_secs_f64(build_stage["duration_seconds"].as_f64().unwrap_or(0.0));
    let action = build_stage["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["category"] == "Build"))
        .and_then(|a| a["name"].as_str())
        .unwrap_or_default()
        .to_owned();
    let log = api
        .text(&format!("/api/pipeline-runs/{run_id}/actions/{action}/log"))
        .await?;
    let (docker_build, docker_push) = docker_times(&log)?;
    let lifecycle = |name: &str| -> anyhow::Result<Duration> {
        let event = deployment["lifecycle_events"]
            .as_array()
            .and_then(|events| events.iter().find(|e| e["name"] == name))
            .ok_or_else(|| anyhow::anyhow!("deployment {deployment_id} has no {name} event"))?;
        let at = |key: &str| {
            event[key]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .ok_or_else(|| anyhow::anyhow!("the {name} event has no {key}: {event}"))
        };
        Ok((at("ended_at")? - at("started_at")?)
            .to_std()
            .unwrap_or_default())
    };
    Ok(Round {
        total,
        build,
        docker_build,
        docker_push,
        task_start: lifecycle("Install")?,
        shift: lifecycle("AllowTraffic")?,
    })
}

/// The docker build and docker push parts of a build log, from the
/// `[Container] <stamp> Running command ...` lines: each command runs until
/// the next stamped line.
fn docker_times(log: &str) -> anyhow::Result<(Duration, Duration)> {
    let stamped: Vec<(chrono::NaiveDateTime, &str)> = log
        .lines()
        .filter_map(|line| {
            // "<date> <time> <text>"; the time may carry a fraction.
            let mut parts = line.strip_prefix("[Container] ")?.splitn(3, ' ');
            let stamp = format!("{} {}", parts.next()?, parts.next()?);
            let at = chrono::NaiveDateTime::parse_from_str(&stamp, "%Y/%m/%d %H:%M:%S%.f").ok()?;
            Some((at, parts.next()?))
        })
        .collect();
    // From the first line whose text starts with `command` to the first
    // stamped line after it that does not.
    let span = |command: &str| -> anyhow::Result<Duration> {
        let running = format!("Running command {command}");
        let first = stamped
            .iter()
            .position(|(_, text)| text.starts_with(&running))
            .ok_or_else(|| anyhow::anyhow!("the build log has no `{command}` command:\n{log}"))?;
        let end = stamped[first..]
            .iter()
            .find(|(_, text)| !text.starts_with(&running))
            .ok_or_else(|| anyhow::anyhow!("the build log ends during `{command}`"))?;
        Ok((end.0 - stamped[first].0).to_std().unwrap_or_default())
    };
    Ok((span("docker build")?, span("docker push")?))
}

/// Request → first healthy check for `count` containers of `image`: once
/// for a task set scaled from 0 to `count` at once, once scaled up by one
/// task at a time.
async fn task_starts(
    engine: &Arc<ContainerEngine>,
    image: &str,
    count: usize,
    dir: &Path,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let together = {
        let (runner, healthy_at) = sample_tasks(engine, image, dir, "together")?;
        let requested = Instant::now();
        runner.set_desired_count(count);
        let times = wait_healthy(&healthy_at, count, requested).await;
        runner.stop().await;
        times?
    };
    let (runner, healthy_at) = sample_tasks(engine, image, dir, "one-by-one")?;
    let mut one_by_one = Vec::new();
    for n in 1..=count {
        let requested = Instant::now();
        runner.set_desired_count(n);
        match wait_healthy(&healthy_at, n, requested).await {
            Ok(times) => one_by_one.push(times.into_iter().max().unwrap_or_default()),
            Err(e) => {
                runner.stop().await;
                return Err(e);
            }
        }
    }
    runner.stop().await;
    Ok((together, one_by_one))
}

type HealthyAt = Arc<Mutex<HashMap<SocketAddr, Instant>>>;

/// A task set of the sample image with no tasks yet, probed every 50 ms,
/// and when each of its tasks was first healthy.
fn sample_tasks(
    engine: &Arc<ContainerEngine>,
    image: &str,
    dir: &Path,
    name: &str,
) -> anyhow::Result<(TaskSetRunner, HealthyAt)> {
    // Read the way the local cloud reads the sample's taskdef.json.
    let containers = ContainerTaskSpec::from_definitions(
        &[json!({"name": "web", "image": image, "essential": true,
                 "portMappings": [{"containerPort": 80, "protocol": "tcp"}]})],
        "web",
        80,
    )
    .map_err(anyhow::Error::msg)?;
    let log_dir = dir.join("tasks").join(name);
    std::fs::create_dir_all(&log_dir)?;
    let spec = TaskSetSpec {
        program: TaskProgram::Containers(containers),
        health_check_path: "/".to_owned(),
        desired_count: 0,
        log_dir,
        engine: Some(engine.clone()),
        registry_credential: None,
        host_life: HostTaskLife::TiedToParent,
        adopt: Vec::new(),
        recorder: None,
    };
    let settings = HealthCheckSettings {
        interval: Duration::from_millis(50),
        ..HealthCheckSettings::default()
    };
    let healthy_at: HealthyAt = Arc::default();
    let record = healthy_at.clone();
    let runner = TaskSetRunner::start_with_settings(
        &format!("bench-{name}"),
        spec,
        settings,
        Arc::new(move |healthy: Vec<SocketAddr>| {
            let now = Instant::now();
            let mut seen = record.lock().unwrap_or_else(|e| e.into_inner());
            for address in healthy {
                seen.entry(address).or_insert(now);
            }
        }),
    );
    Ok((runner, healthy_at))
}

/// Waits until `count` tasks have been healthy; the time from `requested`
/// to each first healthy check since then.
async fn wait_healthy(
    healthy_at: &HealthyAt,
    count: usize,
    requested: Instant,
) -> anyhow::Result<Vec<Duration>> {
    let deadline = requested + Duration::from_secs(180);
    loop {
        {
            let seen = healthy_at.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() >= count {
                return Ok(seen
                    .values()
                    .filter(|at| **at >= requested)
                    .map(|at| *at - requested)
                    .collect());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "only {} of {count} containers were healthy after 180 s",
                seen.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The listener (a `bench serve-proxy` child) and nginx, both splitting
/// 90/10 between two containers of the sample image, and one of those
/// containers hit directly, in alternating rounds.
async fn proxied(
    args: &ContainersBench,
    engine: &Arc<ContainerEngine>,
    image: &str,
    nginx_binary: &Path,
    dir: &Path,
) -> anyhow::Result<proxy::Medians<3>> {
    let (runner, healthy_at) = sample_tasks(engine, image, dir, "upstreams")?;
    runner.set_desired_count(2);
    let started = wait_healthy(&healthy_at, 2, Instant::now()).await;
    let upstreams: Vec<SocketAddr> = runner.healthy();
    let measured = async {
        started?;
        let [a, b] = upstreams[..] else {
            anyhow::bail!("expected 2 healthy upstream containers, saw {upstreams:?}");
        };
        let mut ours = proxy::start_listener(a, b)?;
        let ours_address = ours.address().await?;
        let nginx = Nginx::start(nginx_binary, &dir.join("nginx"), (a, b)).await?;
        let spec = |address| proxy::get_load(address, args.connections, args.seconds);
        let contenders = [a, ours_address, nginx.address];
        for address in contenders {
            switchyard_loadgen::run(&LoadSpec {
                duration: Duration::from_secs(1),
                ..spec(address)
            })
            .await?;
        }
        let mut served = [0u64; 3];
        let medians = proxy::medians(contenders, args.rounds, &mut served, spec).await;
        nginx.stop().await?;
        ours.stop().await?;
        medians
    }
    .await;
    runner.stop().await;
    measured
}

/// A bare repository of the whole sample app with the post-receive hook
/// that posts signed pushes to the server, and a working clone.
struct SampleRepo {
    bare: PathBuf,
    work: PathBuf,
}

impl SampleRepo {
    fn create(dir: &Path, hook_url: &str) -> anyhow::Result<SampleRepo> {
        let bare = dir.join("app.git");
        let work = dir.join("work");
        std::fs::create_dir_all(&work)?;
        git(dir, &["init", "-q", "--bare", "app.git"])?;
        git(&work, &["init", "-q"])?;
        sample_app::write_files(&work)?;
        git(&work, &["add", "."])?;
        git(&work, &["commit", "-qm", "The sample app"])?;
        git(&work, &["remote", "add", "origin", &bare.to_string_lossy()])?;
        git(&work, &["push", "-q", "origin", "main"])?;
        // The hook goes in after the first push: the environment is not there yet.
        let hook = bare.join("hooks/post-receive");
        std::fs::write(&hook, HOOK)?;
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        git(&bare, &["config", "switchyard.url", hook_url])?;
        git(&bare, &["config", "switchyard.secret", WEBHOOK_SECRET])?;
        git(&bare, &["config", "switchyard.pusher", "bench"])?;
        Ok(SampleRepo { bare, work })
    }

    fn head(&self) -> anyhow::Result<String> {
        Ok(git(&self.work, &["rev-parse", "HEAD"])?.trim().to_owned())
    }
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=switchyard-bench",
            "-c",
            "user.email=bench@localhost",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_build_and_push_run_until_the_next_stamped_line() {
        let log = "\
[Container] 2026/12/02 18:14:03 Entering phase BUILD
[Container] 2026/12/02 18:14:03 Running command docker build --tag \"$IMAGE\" .
Step 1/4 : FROM nginx
[Container] 2026/12/02 18:14:05 Phase complete: BUILD State: SUCCEEDED
[Container] 2026/12/02 18:14:05 Entering phase POST_BUILD
[Container] 2026/12/02 18:14:05.250 Running command docker push \"$IMAGE\"
[Container] 2026/12/02 18:14:06 Running command docker push \"$REPOSITORY_URI:latest\"
[Container] 2026/12/02 18:14:07.500 Running command printf '{}' > imageDetail.json
";
        let (build, push) = docker_times(log).unwrap();
        assert_eq!(build, Duration::from_secs(2));
        assert_eq!(push, Duration::from_millis(2250));
    }

    #[test]
    fn a_log_without_docker_commands_says_which_is_missing() {
        let log = "[Container] 2026/12/02 18:14:03 Running command make\n";
        let error = docker_times(log).unwrap_err().to_string();
        assert!(error.contains("no `docker build` command"), "{error}");
    }
}
