//! `switchyard-bench releases`: the release history endpoint under load.

use super::{ChildServer, ScratchDir};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use switchyard_core::store;
use switchyard_domain::environment::{CloudResources, EnvironmentName, NewEnvironment, Platform};
use switchyard_loadgen::http_get;
use switchyard_loadgen::{LoadResult, LoadSpec};

#[derive(Debug, Args)]
pub struct ReleasesBench {
    /// Releases to seed in the environment.
    #[arg(long, default_value_t = 100_000)]
    releases: u32,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of load per measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Alternating rounds of baseline and switchyard; the report takes the
    /// median of each.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Start-ups to time.
    #[arg(long, default_value_t = 10)]
    startups: usize,
    /// Keep the seeded data dir here instead of a temporary one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

const ENVIRONMENT: &str = "bench";

pub async fn run(args: ReleasesBench) -> anyhow::Result<()> {
    let scratch = ScratchDir::new(args.data_dir.clone())?;
    let data_dir = scratch.path().to_path_buf();
    let token = seed(&data_dir, args.releases).await?;

    let mut startups: Vec<Duration> = Vec::new();
    for _ in 0..args.startups {
        let started = Instant::now();
        let mut server = ChildServer::start_switchyard(&data_dir)?;
        let address = server.address().await?;
        loop {
            if let Ok((200, _)) = http_get(address, "/readyz", &[]).await {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "the server never became ready"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        startups.push(started.elapsed());
        server.stop().await?;
    }
    startups.sort();

    let mut server = ChildServer::start_switchyard(&data_dir)?;
    let address = server.address().await?;
    let path = format!("/api/environments/{ENVIRONMENT}/releases?limit=50");
    let auth = format!("Bearer {token}");
    let (status, body) = http_get(address, &path, &[("authorization", &auth)]).await?;
    anyhow::ensure!(status == 200, "GET {path} answered {status}");
    let page: serde_json::Value = serde_json::from_slice(&body)?;
    anyhow::ensure!(
        page["releases"].as_array().map(Vec::len) == Some(50),
        "expected a page of 50 releases"
    );

    let body_file = data_dir.join("baseline-body.json");
    std::fs::write(&body_file, &body)?;
    let mut baseline = ChildServer::start_baseline(
        &["serve-bytes", "--listen", "127.0.0.1:0", "--file"],
        Some(&body_file),
    )?;
    let baseline_address = baseline.address().await?;

    // Deep pages: every request a different cursor, so each one is answered
    // from the database rather than from the page cache.
    let deep_paths: Vec<String> = (0..10_000u32)
        .map(|i| {
            format!(
                "{path}&before={}",
                1000 + (u64::from(i) * 7_919)
                    % u64::from(args.releases.saturating_sub(1000).max(1))
            )
        })
        .collect();
    let spec = |address, paths: &Vec<String>| LoadSpec {
        address,
        method: hyper::Method::GET,
        paths: paths.clone(),
        headers: vec![(
            hyper::header::AUTHORIZATION,
            auth.parse().expect("a header value"),
        )],
        body: bytes::Bytes::new(),
        connections: args.connections,
        duration: Duration::from_secs(args.seconds),
        vary: None,
    };
    // Warm both up (connections, caches, allocator) before measuring.
    let first_page = vec![path.clone()];
    let warmup = |address| LoadSpec {
        duration: Duration::from_secs(1),
        ..spec(address, &first_page)
    };
    switchyard_loadgen::run(&warmup(baseline_address)).await?;
    switchyard_loadgen::run(&warmup(address)).await?;

    // Rounds interleave the three, so that a slow spell of this noisy
    // machine falls on all of them alike; the ratios are of medians.
    let mut ours: Vec<LoadResult> = Vec::new();
    let mut deep: Vec<LoadResult> = Vec::new();
    let mut theirs: Vec<LoadResult> = Vec::new();
    let mut rss = None;
    for _ in 0..args.rounds {
        theirs.push(switchyard_loadgen::run(&spec(baseline_address, &first_page)).await?);
        ours.push(switchyard_loadgen::run(&spec(address, &first_page)).await?);
        // Before any deep page has mapped more of the database.
        if rss.is_none() {
            rss = Some(server.memory()?);
        }
        deep.push(switchyard_loadgen::run(&spec(address, &deep_paths)).await?);
    }
    let rss = rss.ok_or_else(|| anyhow::anyhow!("--rounds must be at least 1"))?;
    let rss_after_deep = server.memory()?;
    baseline.stop().await?;
    server.stop().await?;
    let drivers = compare_drivers(&data_dir, &args).await?;

    let median = |results: &mut Vec<LoadResult>| {
        results.sort_by(|a, b| a.requests_per_second().total_cmp(&b.requests_per_second()));
        results[results.len() / 2].clone()
    };
    let (ours, deep, theirs) = (median(&mut ours), median(&mut deep), median(&mut theirs));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "switchyard-bench releases: {} releases, {} connections, {} s x {} rounds (medians)",
        args.releases, args.connections, args.seconds, args.rounds
    );
    println!("response body: {} bytes (a page of 50)", body.len());
    println!(
        "{:<28} {:>10} {:>9} {:>9} {:>7}",
        "", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for (name, r) in [
        ("bare axum (same bytes)", &theirs),
        ("switchyard, first page", &ours),
        ("switchyard, deep pages", &deep),
    ] {
        println!(
            "{:<28} {:>10.0} {:>9.3} {:>9.3} {:>7}",
            name,
            r.requests_per_second(),
            ms(r.latency(0.5)),
            ms(r.latency(0.99)),
            r.errors
        );
    }
    println!(
        "ratio switchyard / bare: first page {:.2}, deep pages (database every request) {:.2} (goal >= 0.3)",
        ours.requests_per_second() / theirs.requests_per_second(),
        deep.requests_per_second() / theirs.requests_per_second()
    );
    println!(
        "switchyard p99: first page {:.3} ms, deep pages {:.3} ms (goal < 10 ms)",
        ms(ours.latency(0.99)),
        ms(deep.latency(0.99))
    );
    println!(
        "switchyard peak RSS: {:.1} MB after the first first-page run (goal < 60 MB), {:.1} MB after all runs \
         (now {:.1} MB, {:.1} MB of it mapped files)",
        rss.peak_bytes as f64 / 1e6,
        rss_after_deep.peak_bytes as f64 / 1e6,
        rss_after_deep.current_bytes as f64 / 1e6,
        rss_after_deep.file_bytes as f64 / 1e6
    );
    println!(
        "start-up to /readyz 200 over {} starts: median {:.1} ms, max {:.1} ms (goal < 200 ms)",
        startups.len(),
        ms(startups[startups.len() / 2]),
        ms(*startups.last().expect("at least one start"))
    );
    println!(
        "the deep-page query alone, {} tasks for {} s each (no HTTP):",
        args.connections, args.seconds
    );
    for (name, result) in &drivers {
        println!(
            "  {name:<34} {:>8.0} pages/s, p99 {:.3} ms, slowest {:.3} ms",
            result.per_second(),
            ms(result.quantile(0.99)),
            ms(result.quantile(1.0))
        );
    }
    anyhow::ensure!(
        [&theirs, &ours, &deep].iter().all(|r| r.errors == 0),
        "some requests failed, so the figures above are not comparable"
    );
    Ok(())
}

/// Pages read and how long each took.
struct DriverResult {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl DriverResult {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn quantile(&self, q: f64) -> Duration {
        super::quantile(&self.latencies, q)
    }
}

/// The deep-page query through the store's inline reader (what the server
/// uses) and through sqlx's read pool (what it used before), side by side
/// on the same data, from as many concurrent tasks as the HTTP runs had
/// connections.
async fn compare_drivers(
    data_dir: &Path,
    args: &ReleasesBench,
) -> anyhow::Result<Vec<(&'static str, DriverResult)>> {
    let store = store::Store::open(data_dir).await?;
    let span = u64::from(args.releases.saturating_sub(1000).max(1));
    let mut results = Vec::new();
    for inline in [true, false] {
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..args.connections {
            let store = store.clone();
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                let mut i = task as u64;
                while Instant::now() < deadline {
                    let request = store::PageRequest {
                        before: Some(1000 + (i * 7_919 % span) as i64),
                        limit: 50,
                    };
                    // Tasks start at their own index: no two read in step.
                    i += 64;
                    let began = Instant::now();
                    let page = if inline {
                        store::releases::page_by_environment_name(
                            store.inline_reader(),
                            ENVIRONMENT,
                            request,
                        )?
                    } else {
                        store::releases::page_by_environment_name_sqlx(
                            store.reader(),
                            ENVIRONMENT,
                            request,
                        )
                        .await?
                    };
                    anyhow::ensure!(page.items.len() == 50, "a deep page of 50");
                    latencies.push(began.elapsed());
                    // The inline read never yields: let the other tasks in.
                    tokio::task::yield_now().await;
                }
                Ok::<_, anyhow::Error>(latencies)
            });
        }
        let mut latencies = Vec::new();
        while let Some(done) = tasks.join_next().await {
            latencies.extend(done??);
        }
        let name = if inline {
            "inline rusqlite (the server's path)"
        } else {
            "sqlx read pool (the old path)"
        };
        results.push((
            name,
            DriverResult {
                elapsed: started.elapsed(),
                latencies,
            },
        ));
    }
    store.close().await;
    Ok(results)
}

/// Creates the data dir with an admin, one environment and `count`
/// releases; returns the admin's token.
async fn seed(data_dir: &Path, count: u32) -> anyhow::Result<String> {
    let started = Instant::now();
    let (app, admin, token) = super::fresh_app(data_dir).await?;
    let environment = NewEnvironment::new(
        EnvironmentName::parse(ENVIRONMENT)?,
        Platform::Local,
        None,
        CloudResources::default(),
    )?;
    let env = app.create_environment(&admin, &environment).await?;
    let mut tx = app.store().begin().await?;
    let start = store::now_millis() - i64::from(count) * 60_000;
    for i in 0..count {
        let commit = format!("{:040x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15);
        store::releases::insert(
            &mut *tx,
            &store::releases::NewReleaseRow {
                environment_id: env.id,
                version: &format!("v{i}"),
                image: &format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:build-{i}"),
                git_commit: Some(&commit),
                author: &format!("Developer {} <dev{}@example.com>", i % 17, i % 17),
                message: &format!("Change number {i}: adjust the landing page copy"),
                recorded_by: "ci",
                created_at: start + i64::from(i) * 60_000,
            },
        )
        .await?;
    }
    tx.commit().await?;
    app.store().close().await;
    eprintln!(
        "seeded {count} releases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(token)
}
