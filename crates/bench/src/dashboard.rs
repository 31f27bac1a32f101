//! `switchyard-bench dashboard`: how long the server takes to render the
//! deployment page of a deployment with 10,000 traffic samples, the
//! release history of an environment with 100,000 releases, a pipeline run
//! page and the approvals inbox, and how many bytes a first load of the
//! deployment page costs.

use super::ChildServer;
use clap::Args;
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use switchyard_core::store;

#[derive(Debug, Args)]
pub struct DashboardBench {
    /// Releases to seed in the environment.
    #[arg(long, default_value_t = 100_000)]
    releases: u32,
    /// Traffic samples of the charted deployment.
    #[arg(long, default_value_t = 10_000)]
    samples: u32,
    /// Requests per measured page (one keep-alive connection, one at a time).
    #[arg(long, default_value_t = 1_000)]
    requests: usize,
    /// Seed into (and keep) this data dir instead of a temporary one.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

const ENVIRONMENT: &str = "bench";

struct Seeded {
    session_cookie: String,
    charted_deployment: i64,
    pipeline_run: i64,
    /// What reducing the charted deployment's samples to chart columns
    /// costs when it is not cached (a deployment still running).
    reduction_p50: Duration,
    reduction_p99: Duration,
}

pub async fn run(args: DashboardBench) -> anyhow::Result<()> {
    if let Some(dir) = &args.data_dir {
        return measure(&args, dir).await;
    }
    let dir =
        std::env::temp_dir().join(format!("switchyard-bench-dashboard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = measure(&args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(args: &DashboardBench, dir: &Path) -> anyhow::Result<()> {
    let seeded = seed(dir, args).await?;
    let mut server = ChildServer::start_switchyard(dir)?;
    let address = server.address().await?;
    let cookie = seeded.session_cookie.as_str();
    let deployment_page = format!("/deployments/{}", seeded.charted_deployment);
    let releases_page = format!("/environments/{ENVIRONMENT}/releases");
    let run_page = format!("/pipeline-runs/{}", seeded.pipeline_run);

    let mut client = KeepAlive::connect(address, cookie).await?;
    let started = Instant::now();
    let (status, html) = client.get(&deployment_page).await?;
    let first_render = started.elapsed();
    anyhow::ensure!(status == 200, "GET {deployment_page} answered {status}");
    let html = String::from_utf8(html.to_vec())?;
    let mut first_load = html.len();
    for marker in ["href=\"/static/", "src=\"/static/"] {
        let start = html
            .find(marker)
            .ok_or_else(|| anyhow::anyhow!("the page links no {marker}"))?
            + marker.len()
            - "/static/".len();
        let url = html[start..].split('"').next().unwrap_or_default();
        let (status, body) = client.get(url).await?;
        anyhow::ensure!(status == 200, "GET {url} answered {status}");
        first_load += body.len();
    }
    let chart_path = html
        .split("<path class=\"actual\" d=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map_or(0, str::len);

    // Deep pages walk the history with a different cursor each time.
    let deep: Vec<String> = (0..args.requests)
        .map(|i| {
            let before =
                1_000 + (i as u64 * 7_919) % u64::from(args.releases.saturating_sub(1_000).max(1));
            format!("{releases_page}?before={before}")
        })
        .collect();
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "deployment page (10,000 samples)",
            vec![deployment_page.clone()],
        ),
        (
            "deployment live fragment",
            vec![format!("{deployment_page}/live")],
        ),
        (
            "releases, first page + DORA 30 d",
            vec![releases_page.clone()],
        ),
        (
            "releases, DORA over 365 d",
            vec![format!("{releases_page}?window=365")],
        ),
        ("releases, deep pages", deep),
        (
            "releases, by author",
            vec![format!("{releases_page}?author=dev3")],
        ),
        (
            "releases, rolled back only",
            vec![format!("{releases_page}?status=rolled_back")],
        ),
        (
            "releases, one month",
            vec![format!(
                "{releases_page}?from={}&to={}",
                day(-200),
                day(-170)
            )],
        ),
        ("overview", vec!["/".to_owned()]),
        ("pipeline run page", vec![run_page.clone()]),
        (
            "pipeline run live fragment",
            vec![format!("{run_page}/live")],
        ),
        ("approvals inbox", vec!["/approvals".to_owned()]),
    ];
    println!(
        "switchyard-bench dashboard: {} releases, {} traffic samples, {} sequential requests per page on one keep-alive connection",
        args.releases, args.samples, args.requests
    );
    println!(
        "{:<36} {:>9} {:>9} {:>9} {:>9}",
        "", "p50 ms", "p99 ms", "max ms", "bytes"
    );
    let mut worst_p99 = Duration::ZERO;
    for (name, paths) in &cases {
        for path in paths.iter().take(50) {
            client.get(path).await?;
        }
        let mut times = Vec::with_capacity(args.requests);
        let mut bytes = 0;
        for i in 0..args.requests {
            let path = &paths[i % paths.len()];
            let started = Instant::now();
            let (status, body) = client.get(path).await?;
            times.push(started.elapsed());
            anyhow::ensure!(status == 200, "GET {path} answered {status}");
            bytes = body.len();
        }
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{name:<36} {:>9.2} {:>9.2} {:>9.2} {:>9}",
            ms(at(0.5)),
            ms(at(0.99)),
            ms(*times.last().expect("requests > 0")),
            bytes
        );
        if name.starts_with("deployment page") || name.starts_with("releases, first") {
            worst_p99 = worst_p99.max(at(0.99));
        }
    }
    println!(
        "p99 of the deployment page and the releases page: at most {:.2} ms (goal < 20 ms)",
        worst_p99.as_secs_f64() * 1e3
    );
    println!(
        "the deployment page's first render (its {} samples reduced in SQL, then kept: the deployment has finished): {:.2} ms; \
         the reduction alone, uncached, p50 {:.2} ms, p99 {:.2} ms",
        args.samples,
        first_render.as_secs_f64() * 1e3,
        seeded.reduction_p50.as_secs_f64() * 1e3,
        seeded.reduction_p99.as_secs_f64() * 1e3,
    );
    println!(
        "first load of the deployment page, HTML + CSS + JS uncompressed: {first_load} bytes (goal < 100,000); its observed path is {chart_path} bytes"
    );
    server.stop().await?;
    Ok(())
}

/// `YYYY-MM-DD`, `offset` days from today.
fn day(offset: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(offset))
        .format("%Y-%m-%d")
        .to_string()
}

/// One HTTP/1.1 connection reused for every request, as a browser would.
struct KeepAlive {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    address: SocketAddr,
    cookie: String,
}

impl KeepAlive {
    async fn connect(address: SocketAddr, cookie: &str) -> anyhow::Result<KeepAlive> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(KeepAlive {
            sender,
            address,
            cookie: cookie.to_owned(),
        })
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<(u16, bytes::Bytes)> {
        self.sender.ready().await?;
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, self.address.to_string())
            .header(hyper::header::COOKIE, &self.cookie)
            .body(http_body_util::Empty::new())?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }
}

/// An admin with a dashboard session; one environment with `releases`
/// releases, one deployment per ten of them (some failed or rolled back,
/// spread over the last year), and one deployment whose shift was sampled
/// `samples` times.
async fn seed(data_dir: &Path, args: &DashboardBench) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let (app, _, token) = super::fresh_app(data_dir).await?;
    let (session, _) = app.sign_in(&token).await?;
    let now = store::now_millis();
    let span = 365 * 86_400_000_i64;
    let mut tx = app.store().begin().await?;
    let environment_id: i64 = sqlx::query_scalar(
        "INSERT INTO environments (name, platform, created_by, created_at) VALUES (?, 'local', 'bench', ?)
         RETURNING id",
    )
    .bind(ENVIRONMENT)
    .bind(now - span)
    .fetch_one(&mut *tx)
    .await?;
    let count = i64::from(args.releases);
    let mut last_deployment = 0;
    for i in 0..count {
        // Ending an hour ago, so every deployment has finished by now.
        let created = now - span - 3_600_000 + i * span / count;
        let release_id = store::releases::insert(
            &mut *tx,
            &store::releases::NewReleaseRow {
                environment_id,
                version: &format!("v{i}"),
                image: &format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:build-{i}"),
                git_commit: Some(&format!("{:040x}", (i as u128) * 0x9e37_79b9_7f4a_7c15)),
                author: &format!("dev{}", i % 17),
                message: &format!("Change number {i}: adjust the landing page copy"),
                recorded_by: "ci",
                created_at: created,
            },
        )
        .await?
        .id;
        if i % 10 != 9 {
            continue;
        }
        let (status, rolled_back) = match i % 100 {
            19 | 59 => ("Stopped", true),
            79 => ("Failed", false),
            _ => ("Succeeded", false),
        };
        let deployed = created + 60_000;
        let completed = deployed + 12 * 60_000;
        last_deployment = sqlx::query_scalar(
            "INSERT INTO deployments (environment_id, release_id, codedeploy_id, deployment_config, status,
                 created_by, created_at, updated_at)
             VALUES (?, ?, ?, 'CodeDeployDefault.ECSLinear10PercentEvery1Minutes', 'Created', 'ci', ?, ?)
             RETURNING id",
        )
        .bind(environment_id)
        .bind(release_id)
        .bind(format!("d-BENCH{i:08}"))
        .bind(deployed)
        .bind(deployed)
        .fetch_one(&mut *tx)
        .await?;
        let shifted = if status == "Succeeded" { 100.0 } else { 0.0 };
        sqlx::query(
            "INSERT INTO traffic_samples (deployment_id, at, green_weight) VALUES (?, ?, 10), (?, ?, ?)",
        )
        .bind(last_deployment)
        .bind(deployed + 60_000)
        .bind(last_deployment)
        .bind(deployed + 10 * 60_000)
        .bind(shifted)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE deployments SET status = ?, rolled_back = ?, green_weight = ?, completed_at = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(status)
        .bind(rolled_back)
        .bind(shifted)
        .bind(completed)
        .bind(completed)
        .bind(last_deployment)
        .execute(&mut *tx)
        .await?;
    }
    // The charted deployment: the newest, its shift observed every 60 ms
    // with the weight wobbling around each step.
    let charted = last_deployment;
    let (start, _): (i64, i64) =
        sqlx::query_as("SELECT created_at, id FROM deployments WHERE id = ?")
            .bind(charted)
            .fetch_one(&mut *tx)
            .await?;
    let allow_traffic = start + 60_000;
    let lifecycle = serde_json::json!([
        {"name": "BeforeInstall", "status": "Succeeded", "started_at": start, "ended_at": start + 2_000},
        {"name": "Install", "status": "Succeeded", "started_at": start + 2_000, "ended_at": start + 40_000},
        {"name": "AfterInstall", "status": "Succeeded", "started_at": start + 40_000, "ended_at": start + 41_000},
        {"name": "AllowTestTraffic", "status": "Succeeded", "started_at": start + 41_000, "ended_at": start + 42_000},
        {"name": "AfterAllowTestTraffic", "status": "Succeeded", "started_at": start + 42_000, "ended_at": start + 55_000},
        {"name": "BeforeAllowTraffic", "status": "Succeeded", "started_at": start + 55_000, "ended_at": allow_traffic},
        {"name": "AllowTraffic", "status": "Succeeded", "started_at": allow_traffic, "ended_at": allow_traffic + 600_000},
        {"name": "AfterAllowTraffic", "status": "Succeeded", "started_at": allow_traffic + 600_000, "ended_at": allow_traffic + 610_000},
    ]);
    let task_sets = serde_json::json!([
        {"label": "Blue", "id": "ecs-svc/1111", "status": "DRAINING", "desired": 0, "pending": 0, "running": 0, "traffic_weight": 0.0, "target_group": "bench-blue"},
        {"label": "Green", "id": "ecs-svc/2222", "status": "PRIMARY", "desired": 4, "pending": 0, "running": 4, "traffic_weight": 100.0, "target_group": "bench-green"},
    ]);
    sqlx::query("DELETE FROM traffic_samples WHERE deployment_id = ?")
        .bind(charted)
        .execute(&mut *tx)
        .await?;
    for i in 0..i64::from(args.samples) {
        let at = allow_traffic + i * 60;
        let step = (((at - allow_traffic) / 60_000 + 1) * 10).min(100) as f64;
        let wobble = ((i * 7_919) % 11 - 5) as f64 / 10.0;
        sqlx::query(
            "INSERT INTO traffic_samples (deployment_id, at, green_weight) VALUES (?, ?, ?)",
        )
        .bind(charted)
        .bind(at)
        .bind((step + wobble).clamp(0.0, 100.0))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE deployments SET status = 'Succeeded', rolled_back = 0, lifecycle = ?, task_sets = ?,
             green_weight = 100, completed_at = ?, updated_at = ? WHERE id = ?",
    )
    .bind(lifecycle.to_string())
    .bind(task_sets.to_string())
    .bind(allow_traffic + 610_000)
    .bind(allow_traffic + 610_000)
    .bind(charted)
    .execute(&mut *tx)
    .await?;
    let pipeline_run = seed_pipeline_run(&mut tx, environment_id, charted, allow_traffic).await?;
    tx.commit().await?;
    let mut reductions = Vec::with_capacity(200);
    for _ in 0..200 {
        let started = Instant::now();
        let columns = store::views::traffic_columns(
            app.store().reader(),
            charted,
            start,
            allow_traffic + 610_000 - start,
            i64::from(switchyard_server::pages::chart::COLUMNS),
        )
        .await?;
        reductions.push(started.elapsed());
        anyhow::ensure!(!columns.is_empty(), "the charted deployment has no samples");
    }
    reductions.sort();
    app.store().close().await;
    eprintln!(
        "seeded {} releases, {} deployments and {} samples in {:.1} s",
        args.releases,
        args.releases / 10,
        args.samples,
        started.elapsed().as_secs_f64()
    );
    Ok(Seeded {
        session_cookie: format!(
            "{}={}",
            switchyard_server::pages::sessions::SESSION_COOKIE,
            session.expose()
        ),
        charted_deployment: charted,
        pipeline_run,
        reduction_p50: reductions[reductions.len() / 2],
        reduction_p99: reductions[reductions.len() * 99 / 100],
    })
}

/// The run that led to the charted deployment: four stages, two approvers'
/// votes, finished (so the server's tracker leaves it alone).
async fn seed_pipeline_run(
    tx: &mut sqlx::SqliteConnection,
    environment_id: i64,
    deployment_id: i64,
    allow_traffic: i64,
) -> anyhow::Result<i64> {
    let start = allow_traffic - 5 * 60_000;
    let action = |name: &str, category: &str, provider: &str, from: i64, to: i64, summary: &str| {
        serde_json::json!({"name": name, "category": category, "provider": provider,
            "status": "Succeeded", "summary": summary, "external_id": null, "external_url": null,
            "error": null, "started_at": from, "updated_at": to})
    };
    let stage = |name: &str, from: i64, to: i64, action: serde_json::Value| {
        serde_json::json!({"name": name, "status": "Succeeded", "started_at": from, "ended_at": to,
            "actions": [action]})
    };
    let stages = serde_json::json!([
        stage(
            "Source",
            start,
            start + 2_000,
            action(
                "Source",
                "Source",
                "CodeStarSourceConnection",
                start,
                start + 2_000,
                "Adjust the landing page copy"
            )
        ),
        stage(
            "Build",
            start + 2_000,
            start + 90_000,
            action(
                "Build",
                "Build",
                "CodeBuild",
                start + 2_000,
                start + 90_000,
                "Build bench:1 succeeded"
            )
        ),
        stage(
            "Approval",
            start + 90_000,
            start + 240_000,
            action(
                "Approval",
                "Approval",
                "Manual",
                start + 90_000,
                start + 240_000,
                "Approved in switchyard"
            )
        ),
        stage(
            "Deploy",
            start + 240_000,
            allow_traffic + 610_000,
            action(
                "Deploy",
                "Deploy",
                "CodeDeployToECS",
                start + 240_000,
                allow_traffic + 610_000,
                "Deployment d-BENCH succeeded"
            )
        ),
    ]);
    let run_id: i64 = sqlx::query_scalar(
        "INSERT INTO pipeline_runs (environment_id, pipeline, execution_id, status, trigger, commit_sha,
             commit_message, author, started_by, stages, deployment_id, created_at, updated_at, completed_at)
         VALUES (?, 'bench', 'bench-execution', 'Succeeded', 'push', ?, 'Adjust the landing page copy',
             'dev3', 'dev3', ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(environment_id)
    .bind(format!("{:040x}", 0xbe_u128 << 100))
    .bind(stages.to_string())
    .bind(deployment_id)
    .bind(start)
    .bind(allow_traffic + 610_000)
    .bind(allow_traffic + 610_000)
    .fetch_one(&mut *tx)
    .await?;
    let approval_id: i64 = sqlx::query_scalar(
        "INSERT INTO approvals (environment_id, pipeline_run_id, stage_name, action_name, token, author,
             required, allow_self_approval, state, created_at, decided_at, applied_at)
         VALUES (?, ?, 'Approval', 'Approval', 'bench-token', 'dev3', 2, 0, 'approved', ?, ?, ?) RETURNING id",
    )
    .bind(environment_id)
    .bind(run_id)
    .bind(start + 90_000)
    .bind(start + 240_000)
    .bind(start + 240_000)
    .fetch_one(&mut *tx)
    .await?;
    for (voter, at) in [("dev5", start + 120_000), ("dev7", start + 240_000)] {
        sqlx::query(
            "INSERT INTO approval_votes (approval_id, voter, decision, comment, created_at)
             VALUES (?, ?, 'approve', 'checked the test listener', ?)",
        )
        .bind(approval_id)
        .bind(voter)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    Ok(run_id)
}
