//! `switchyard-bench deployments`: many deployments tracked at once against
//! a standalone local cloud. Reports how long a traffic weight change in the
//! cloud takes to reach an SSE subscriber, and what the control plane costs
//! in CPU and memory meanwhile.

use super::ChildServer;
use clap::Args;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Args)]
pub struct DeploymentsBench {
    /// Environments deploying at the same time.
    #[arg(long, default_value_t = 20)]
    deployments: usize,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// CPU time (user + system) of a process, from /proc, in seconds.
pub(crate) fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .unwrap_or(&stat)
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / hz)
}

pub(crate) type Api = switchyard::cli::client::ApiClient;

pub(crate) async fn call(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let answer = match (method, body) {
        (reqwest::Method::GET, _) => api.get(path).await,
        (_, body) => api.post(path, &body.unwrap_or_else(|| json!({}))).await,
    };
    answer.map_err(|e| anyhow::anyhow!("{path}: {e}"))
}

pub async fn run(args: DeploymentsBench) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-bench-deployments-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = measure(&args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(args: &DeploymentsBench, dir: &std::path::Path) -> anyhow::Result<()> {
    let cloud_dir = dir.join("cloud");
    let mut cloud = ChildServer::start(
        &[
            "localcloud",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            "60",
            "--data-dir",
        ],
        Some(&cloud_dir),
    )?;
    let cloud_url = format!("http://{}", cloud.address().await?);
    let data = dir.join("server");
    let sites = dir.join("sites");
    let static_root = sites.to_string_lossy();
    let mut server = ChildServer::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--localcloud-url",
            &cloud_url,
            "--static-root",
            &static_root,
            "--data-dir",
        ],
        Some(&data),
    )?;
    let base = format!("http://{}", server.address().await?);
    let token = std::fs::read_to_string(data.join("admin-token"))?
        .trim()
        .to_owned();
    let api =
        std::sync::Arc::new(Api::with_token(&base, token).map_err(|e| anyhow::anyhow!("{e}"))?);
    write_sites(&sites)?;
    let names: Vec<String> = (0..args.deployments)
        .map(|i| format!("bench-{i}"))
        .collect();
    eprintln!(
        "provisioning {} environments and deploying v1 to each",
        names.len()
    );
    for name in &names {
        call(&api, reqwest::Method::POST, "/api/environments", Some(json!({"name": name, "platform": "local", "termination_wait_minutes": 0, "container": {"desired_count": 1}}))).await?;
        call(
            &api,
            reqwest::Method::POST,
            &format!("/api/environments/{name}/stack"),
            Some(json!({})),
        )
        .await?;
    }
    for name in &names {
        wait_for(&api, &format!("/api/environments/{name}/stack"), "ready").await?;
    }
    let image = |v: &str| format!("static:{}", sites.join(v).display());
    let mut first = Vec::new();
    for name in &names {
        let d = call(
            &api,
            reqwest::Method::POST,
            &format!("/api/environments/{name}/deployments"),
            Some(json!({"image": image("v1"), "version": "v1"})),
        )
        .await?;
        first.push(d["id"].as_i64().unwrap_or_default());
    }
    for id in &first {
        wait_for(&api, &format!("/api/deployments/{id}"), "Succeeded").await?;
    }

    eprintln!("starting {} linear deployments at once", names.len());
    let cpu_before = cpu_seconds(server.pid()?)?;
    let started = Instant::now();
    let mut followers = Vec::new();
    for name in &names {
        let d = call(&api,
                reqwest::Method::POST,
                &format!("/api/environments/{name}/deployments"),
                Some(json!({"image": image("v2"), "version": "v2", "deployment_config": "ECSLinear10PercentEvery1Minutes"})),
            )
            .await?;
        let id = d["id"].as_i64().unwrap_or_default();
        let api = api.clone();
        followers.push(tokio::spawn(async move {
            follow(&api, id).await.map(|arrivals| (id, arrivals))
        }));
    }
    let mut reactions: Vec<i64> = Vec::new();
    for follower in followers {
        let (id, arrivals) = follower.await??;
        let d = call(
            &api,
            reqwest::Method::GET,
            &format!("/api/deployments/{id}"),
            None,
        )
        .await?;
        anyhow::ensure!(
            d["status"] == "Succeeded",
            "deployment {id} ended {}",
            d["status"]
        );
        let allow_start = d["lifecycle_events"]
            .as_array()
            .and_then(|events| events.iter().find(|e| e["name"] == "AllowTraffic"))
            .and_then(|e| e["started_at"].as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
            .ok_or_else(|| anyhow::anyhow!("deployment {id} has no AllowTraffic start"))?;
        // At time scale 60, step k (weight 10(k+1)) is due k seconds after AllowTraffic starts.
        for (weight, at) in arrivals {
            let step = (weight / 10.0).round() as i64 - 1;
            reactions.push(at - (allow_start + step * 1000));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server.pid()?)? - cpu_before;
    let memory = server.memory()?;
    let cloud_memory = cloud.memory()?;
    server.stop().await?;
    cloud.stop().await?;
    reactions.sort_unstable();
    anyhow::ensure!(!reactions.is_empty(), "no traffic events arrived");
    let at = |q: f64| reactions[((reactions.len() - 1) as f64 * q).round() as usize];
    println!(
        "switchyard-bench deployments: {} linear deployments tracked at once (time scale 60)",
        names.len()
    );
    println!(
        "weight change in the local cloud to SSE event at a subscriber, over {} changes: p50 {} ms, p99 {} ms, max {} ms (goal p99 < 500 ms)",
        reactions.len(),
        at(0.5),
        at(0.99),
        reactions.last().unwrap_or(&0)
    );
    println!(
        "control plane while tracking: {:.1} % of one core over {:.1} s, RSS {:.1} MB (peak {:.1} MB); local cloud RSS {:.1} MB",
        cpu / elapsed * 100.0,
        elapsed,
        memory.current_bytes as f64 / 1e6,
        memory.peak_bytes as f64 / 1e6,
        cloud_memory.current_bytes as f64 / 1e6,
    );
    Ok(())
}

/// The one-page sites `v1` and `v2` below `sites`, for `static:` images.
pub(crate) fn write_sites(sites: &std::path::Path) -> anyhow::Result<()> {
    for v in ["v1", "v2"] {
        std::fs::create_dir_all(sites.join(v))?;
        std::fs::write(sites.join(v).join("index.html"), format!("<h1>{v}</h1>"))?;
    }
    Ok(())
}

pub(crate) async fn wait_for(api: &Api, path: &str, status: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = call(api, reqwest::Method::GET, path, None).await?;
        if v["status"] == status {
            return Ok(());
        }
        anyhow::ensure!(
            !matches!(v["status"].as_str(), Some("failed" | "Failed" | "Stopped")),
            "{path} is {}",
            v["status"]
        );
        anyhow::ensure!(Instant::now() < deadline, "{path} never became {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads the deployment's SSE stream to its end: (green weight, arrival
/// time in epoch ms) of each traffic event.
async fn follow(api: &Api, id: i64) -> anyhow::Result<Vec<(f64, i64)>> {
    let mut events = TrafficEvents::subscribe(api, id).await?;
    let mut arrivals = Vec::new();
    while let Some(weight) = events.next().await? {
        arrivals.push((weight, now_ms()));
    }
    Ok(arrivals)
}

/// A deployment's SSE stream, read one traffic event at a time.
pub(crate) struct TrafficEvents {
    response: reqwest::Response,
    buffer: String,
}

impl TrafficEvents {
    /// Subscribed once the server has answered with the stream's headers.
    pub(crate) async fn subscribe(api: &Api, id: i64) -> anyhow::Result<TrafficEvents> {
        let response = api
            .http()
            .get(format!("{}/api/deployments/{id}/events", api.base()))
            .bearer_auth(api.token())
            .header("accept", "text/event-stream")
            .send()
            .await?
            .error_for_status()?;
        Ok(TrafficEvents {
            response,
            buffer: String::new(),
        })
    }

    /// The green weight of the next `deployment.traffic` event; None once
    /// the stream ends.
    pub(crate) async fn next(&mut self) -> anyhow::Result<Option<f64>> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if block.lines().any(|l| l == "event: deployment.traffic")
                    && let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: "))
                {
                    let event: Value = serde_json::from_str(data)?;
                    if let Some(weight) = event["detail"]["green_weight"].as_f64() {
                        return Ok(Some(weight));
                    }
                }
            }
            match self.response.chunk().await? {
                Some(chunk) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                None => return Ok(None),
            }
        }
    }
}
