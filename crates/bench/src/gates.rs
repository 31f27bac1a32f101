//! `switchyard-bench gates`: the control plane (`switchyard serve`) driving
//! ECS-native deployments held at a PAUSE gate, on a standalone local cloud
//! at time scale 60 that it reaches through a counting forwarder in this
//! process (every call it makes to the cloud is recorded with its time and
//! `X-Amz-Target`).
//!
//! 1. Gate to traffic: the deciding approval vote → ContinueServiceDeployment
//!    → the first `deployment.traffic` event with green > 0 on the
//!    deployment's SSE stream, a fresh deployment each round (LINEAR 10 % a
//!    minute behind a PRE_PRODUCTION_TRAFFIC_SHIFT gate, one approver). The
//!    baseline is CodeDeploy measured the same way in the same run: a
//!    deployment held in Ready (STOP_DEPLOYMENT, one approver), whose vote
//!    continues it into ECSLinear10PercentEvery1Minutes. Each round is
//!    rolled back once measured, so the next starts from the same state.
//! 2. Tracking cost: DescribeServiceDeployments calls per poll round and the
//!    control plane's CPU with a native deployment held at the gate in each
//!    of `--environments` environments, against the same environments at
//!    rest. The tracker polls every followed service deployment in one
//!    round (batches of up to 20 ARNs, one after another), then sleeps
//!    100 ms on the local platform; so calls closer than 50 ms belong to one
//!    round, and a gap of 50 ms or more starts the next.

use super::ChildServer;
use crate::api::Api;
use crate::deployments::TrafficEvents;
use crate::native::cpu_share;
use clap::Args;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct GatesBench {
    /// Deployments voted through their gate per controller (each fresh).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Environments with a native deployment held at once for the cost.
    #[arg(long, default_value_t = 50)]
    environments: usize,
    /// How long calls and CPU are measured in each state, seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// A gap this long between two DescribeServiceDeployments calls starts a
/// new poll round: half the tracker's 100 ms sleep between rounds.
const ROUND_GAP: Duration = Duration::from_millis(50);
/// Bounds on what should take seconds.
const LIMIT: Duration = Duration::from_secs(180);
const ECS_ENV: &str = "gates-ecs";
const CODEDEPLOY_ENV: &str = "gates-codedeploy";

pub async fn run(args: GatesBench) -> anyhow::Result<()> {
    let scratch = super::ScratchDir::new(None)?;
    std::fs::create_dir_all(scratch.path())?;
    measure(&args, scratch.path()).await
}

async fn measure(args: &GatesBench, dir: &Path) -> anyhow::Result<()> {
    let mut cloud = ChildServer::start(
        &[
            "localcloud",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            "60",
            "--data-dir",
        ],
        Some(&dir.join("cloud")),
    )?;
    let forwarder = Forwarder::start(format!("http://{}", cloud.address().await?)).await?;
    let sites = dir.join("sites");
    let site = sites.join("green");
    std::fs::create_dir_all(&site)?;
    std::fs::write(site.join("index.html"), "<h1>green</h1>")?;
    let data = dir.join("server");
    let mut server = ChildServer::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--localcloud-url",
            &forwarder.url,
            "--time-scale",
            "60",
            "--static-root",
            &sites.to_string_lossy(),
            "--data-dir",
        ],
        Some(&data),
    )?;
    let base = format!("http://{}", server.address().await?);
    let admin = Api::as_admin(&base, &data)?;
    let created = admin
        .post(
            "/api/users",
            json!({"name": "approver", "role": "approver"}),
        )
        .await?;
    let approver = Api::with_token(&base, created["token"].as_str().unwrap_or_default())?;
    let image = format!("static:{}", site.display());

    let fleet: Vec<String> = (0..args.environments)
        .map(|i| format!("fleet-{i}"))
        .collect();
    let started = Instant::now();
    provision(&admin, &fleet).await?;
    let provisioned = started.elapsed();

    let pid = server.pid()?;
    eprintln!(
        "{} environments at rest for {} s",
        args.environments, args.seconds
    );
    let at_rest = Window::measure(pid, &forwarder, args.seconds).await?;
    eprintln!("{} gate rounds per controller", args.rounds);
    let mut gated = Vec::new();
    for controller in [Controller::Ecs, Controller::CodeDeploy] {
        let from = forwarder.recorded();
        let rounds = gate_rounds(&admin, &approver, controller, &image, args.rounds).await?;
        gated.push(Gated {
            rounds,
            calls: forwarder.since(from),
        });
    }
    if let [native, codedeploy] = &gated[..] {
        print(args, provisioned, native, codedeploy);
    }
    eprintln!(
        "holding a native deployment at the gate in each of {} environments",
        args.environments
    );
    hold_all(&admin, &fleet, &image).await?;
    let held = Window::measure(pid, &forwarder, args.seconds).await?;
    let memory = server.memory()?;
    server.stop().await?;
    cloud.stop().await?;
    print_tracking(args, &at_rest, &held, memory);
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Controller {
    Ecs,
    CodeDeploy,
}

impl Controller {
    fn environment(self) -> &'static str {
        match self {
            Controller::Ecs => ECS_ENV,
            Controller::CodeDeploy => CODEDEPLOY_ENV,
        }
    }

    /// One task each; the gate or the Ready hold waits for one approver.
    fn body(self, name: &str) -> Value {
        let mut body = json!({
            "name": name, "platform": "local", "container": {"desired_count": 1},
            "approval_policy": {"required": 1},
        });
        match self {
            Controller::Ecs => {
                body["controller"] = json!("ecs");
                body["ecs_deployment"] = json!({
                    "strategy": "LINEAR",
                    "linear": {"step_percent": 10, "step_bake_minutes": 1},
                    "bake_time_minutes": 0,
                    "gates": [{"stage": "PRE_PRODUCTION_TRAFFIC_SHIFT", "timeout_minutes": 600, "timeout_action": "ROLLBACK"}],
                });
            }
            Controller::CodeDeploy => {
                body["ready_wait_minutes"] = json!(60);
                body["ready_action_on_timeout"] = json!("STOP_DEPLOYMENT");
                body["termination_wait_minutes"] = json!(0);
            }
        }
        body
    }

    /// CodeDeploy's config of the same shape as the native LINEAR.
    fn deployment_config(self) -> Option<&'static str> {
        match self {
            Controller::Ecs => None,
            Controller::CodeDeploy => Some("CodeDeployDefault.ECSLinear10PercentEvery1Minutes"),
        }
    }
}

/// Creates and provisions the two gate environments and the fleet, all
/// stacks at once.
async fn provision(admin: &Api, fleet: &[String]) -> anyhow::Result<()> {
    let mut names = vec![
        (Controller::Ecs, ECS_ENV.to_owned()),
        (Controller::CodeDeploy, CODEDEPLOY_ENV.to_owned()),
    ];
    names.extend(fleet.iter().map(|n| (Controller::Ecs, n.clone())));
    eprintln!("provisioning {} environments", names.len());
    for (controller, name) in &names {
        admin
            .post("/api/environments", controller.body(name))
            .await?;
        admin
            .post(&format!("/api/environments/{name}/stack"), json!({}))
            .await?;
    }
    for (_, name) in &names {
        let stack = admin
            .until(&format!("/api/environments/{name}/stack"), LIMIT, |s| {
                matches!(s["status"].as_str(), Some("ready" | "failed"))
            })
            .await?;
        anyhow::ensure!(
            stack["status"] == "ready",
            "{name}: provisioning failed: {}",
            stack["log"]
        );
    }
    Ok(())
}

async fn start(
    admin: &Api,
    env: &str,
    image: &str,
    version: &str,
    config: Option<&str>,
) -> anyhow::Result<i64> {
    let mut body = json!({"image": image, "version": version});
    if let Some(config) = config {
        body["deployment_config"] = json!(config);
    }
    let started = admin
        .post(&format!("/api/environments/{env}/deployments"), body)
        .await?;
    started["id"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("{env}: no deployment id in {started}"))
}

fn terminal(d: &Value) -> bool {
    matches!(
        d["status"].as_str(),
        Some("Succeeded" | "Failed" | "Stopped")
    )
}

/// Waits until deployment `id` is held (Ready), failing if it ended.
async fn until_held(admin: &Api, id: i64) -> anyhow::Result<()> {
    let d = admin
        .until(&format!("/api/deployments/{id}"), LIMIT, |d| {
            d["status"] == "Ready" || terminal(d)
        })
        .await?;
    anyhow::ensure!(
        d["status"] == "Ready",
        "deployment {id} ended {}",
        d["status"]
    );
    Ok(())
}

/// Times of one round: the vote's own answer (the Continue call is made
/// before it returns) and the first weight change on the SSE stream, both
/// from the moment the vote is sent.
struct GateRound {
    answered: Duration,
    shifted: Duration,
}

async fn gate_rounds(
    admin: &Api,
    approver: &Api,
    controller: Controller,
    image: &str,
    rounds: usize,
) -> anyhow::Result<Vec<GateRound>> {
    let env = controller.environment();
    let mut measured = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let id = start(
            admin,
            env,
            image,
            &format!("r{round}"),
            controller.deployment_config(),
        )
        .await?;
        until_held(admin, id).await?;
        let approval = pending_approval(admin, id).await?;
        // The bench sees Ready just after the tracker's round that recorded
        // it; without a random pause every vote would land at the same
        // phase of the 100 ms poll.
        tokio::time::sleep(jitter(round)).await;
        let mut events = TrafficEvents::subscribe(admin.client(), id).await?;
        let voted = Instant::now();
        let decided = approver
            .post(
                &format!("/api/approvals/{approval}/decisions"),
                json!({"decision": "approve", "comment": "bench"}),
            )
            .await?;
        let answered = voted.elapsed();
        anyhow::ensure!(
            decided["state"] == "approved",
            "{env}: the vote did not decide: {decided}"
        );
        let shifted = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match events.next().await? {
                    Some(weight) if weight > 0.0 => return Ok(voted.elapsed()),
                    Some(_) => continue,
                    None => anyhow::bail!("{env}: deployment {id} ended before any weight change"),
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("{env}: no weight change on SSE 30 s after the vote"))??;
        drop(events);
        measured.push(GateRound { answered, shifted });
        admin
            .post(&format!("/api/deployments/{id}/rollback"), json!({}))
            .await?;
        admin
            .until(&format!("/api/deployments/{id}"), LIMIT, terminal)
            .await?;
    }
    Ok(measured)
}

/// 0 to 199 ms, spread over the rounds (no need for a random source).
fn jitter(round: usize) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    Duration::from_millis(((nanos / 1000 + round * 37) % 200) as u64)
}

/// The id of the pending approval deployment `id` waits for.
async fn pending_approval(admin: &Api, id: i64) -> anyhow::Result<i64> {
    let list = admin
        .until("/api/approvals?state=pending", LIMIT, |list| {
            list["approvals"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["deployment_id"] == id))
        })
        .await?;
    list["approvals"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["deployment_id"] == id)
        .and_then(|a| a["id"].as_i64())
        .ok_or_else(|| anyhow::anyhow!("no approval for deployment {id}"))
}

/// Starts a deployment in every environment of the fleet and waits until
/// each is held at its gate.
async fn hold_all(admin: &Api, fleet: &[String], image: &str) -> anyhow::Result<()> {
    let mut ids = Vec::with_capacity(fleet.len());
    for env in fleet {
        ids.push(start(admin, env, image, "held", None).await?);
    }
    for id in ids {
        until_held(admin, id).await?;
    }
    Ok(())
}

/// One call the control plane made to the cloud.
#[derive(Debug, Clone)]
struct Call {
    at: Instant,
    /// The operation of `X-Amz-Target`, else the method and path.
    operation: String,
    /// ARNs named, for DescribeServiceDeployments.
    arns: usize,
}

/// A reverse proxy to the local cloud that records every call.
struct Forwarder {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    server: tokio::task::JoinHandle<()>,
}

struct Forwarding {
    cloud: String,
    http: reqwest::Client,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Forwarder {
    async fn start(cloud: String) -> anyhow::Result<Forwarder> {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(Forwarding {
            cloud,
            http: reqwest::Client::builder().no_proxy().build()?,
            calls: calls.clone(),
        });
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("the forwarder stopped: {e}");
            }
        });
        Ok(Forwarder { url, calls, server })
    }

    fn recorded(&self) -> usize {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn since(&self, from: usize) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())[from..].to_vec()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(
    axum::extract::State(f): axum::extract::State<Arc<Forwarding>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match pass(&f, request).await {
        Ok(response) => response,
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, format!("{e:#}")).into_response(),
    }
}

/// Hop-by-hop headers and those the client library sets itself.
fn passed(name: &axum::http::HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host" | "content-length" | "connection" | "transfer-encoding" | "keep-alive"
    )
}

async fn pass(
    f: &Forwarding,
    request: axum::extract::Request,
) -> anyhow::Result<axum::response::Response> {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await?;
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
        .unwrap_or_else(|| format!("{} {}", parts.method, parts.uri.path()));
    let arns = if operation == "DescribeServiceDeployments" {
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|b| b["serviceDeploymentArns"].as_array().map(Vec::len))
            .unwrap_or(0)
    } else {
        0
    };
    f.calls
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Call {
            at,
            operation,
            arns,
        });
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut onward = f
        .http
        .request(parts.method.clone(), format!("{}{path}", f.cloud))
        .body(body);
    for (name, value) in &parts.headers {
        if passed(name) {
            onward = onward.header(name, value);
        }
    }
    let answer = onward.send().await?;
    let mut response = axum::response::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if passed(name) {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await?;
    Ok(response.body(axum::body::Body::from(bytes))?)
}

/// What the control plane did over one measured window.
struct Window {
    seconds: u64,
    /// Share of one core.
    cpu: f64,
    calls: Vec<Call>,
}

impl Window {
    async fn measure(pid: u32, forwarder: &Forwarder, seconds: u64) -> anyhow::Result<Window> {
        let from = forwarder.recorded();
        let cpu = cpu_share(pid, seconds).await?;
        Ok(Window {
            seconds,
            cpu,
            calls: forwarder.since(from),
        })
    }

    /// DescribeServiceDeployments calls grouped into poll rounds by gaps of
    /// `ROUND_GAP`.
    fn rounds(&self) -> Vec<Vec<&Call>> {
        let mut rounds: Vec<Vec<&Call>> = Vec::new();
        for call in self
            .calls
            .iter()
            .filter(|c| c.operation == "DescribeServiceDeployments")
        {
            match rounds.last_mut() {
                Some(round)
                    if round
                        .last()
                        .is_some_and(|last| call.at.duration_since(last.at) < ROUND_GAP) =>
                {
                    round.push(call)
                }
                _ => rounds.push(vec![call]),
            }
        }
        rounds
    }
}

fn percentile(times: &[Duration], q: f64) -> f64 {
    super::quantile(times, q).as_secs_f64() * 1000.0
}

/// One controller's gate rounds and the calls made to the cloud meanwhile.
struct Gated {
    rounds: Vec<GateRound>,
    calls: Vec<Call>,
}

impl Gated {
    fn shifted(&self, q: f64) -> f64 {
        let times: Vec<Duration> = self.rounds.iter().map(|r| r.shifted).collect();
        percentile(&times, q)
    }

    fn answered(&self, q: f64) -> f64 {
        let times: Vec<Duration> = self.rounds.iter().map(|r| r.answered).collect();
        percentile(&times, q)
    }
}

fn print(args: &GatesBench, provisioned: Duration, native: &Gated, codedeploy: &Gated) {
    println!(
        "switchyard-bench gates: switchyard serve on a standalone local cloud (time scale 60), reached through a counting forwarder"
    );
    println!(
        "provisioned {} environments ({} + the two gate environments) in {:.1} s",
        args.environments + 2,
        args.environments,
        provisioned.as_secs_f64()
    );
    println!(
        "deciding vote sent → first deployment.traffic event with green > 0 on the deployment's SSE stream, {} fresh deployments each:",
        args.rounds
    );
    for (name, gated) in [
        ("ECS native, PAUSE gate (goal p99 < 500)", native),
        ("CodeDeploy, Ready hold (baseline)", codedeploy),
    ] {
        println!(
            "  {name:<40} p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms   (vote answered: p50 {:>5.1} ms, p99 {:>5.1} ms)",
            gated.shifted(0.5),
            gated.shifted(0.99),
            gated.shifted(1.0),
            gated.answered(0.5),
            gated.answered(0.99),
        );
        println!(
            "    calls to the cloud per deployment (start to rolled back): {}",
            by_operation(&gated.calls, gated.rounds.len())
        );
    }
    println!(
        "  p99 ratio native / CodeDeploy: {:.2}",
        native.shifted(0.99) / codedeploy.shifted(0.99)
    );
}

fn print_tracking(args: &GatesBench, at_rest: &Window, held: &Window, memory: super::Memory) {
    println!(
        "{} environments, {} s in each state (control plane's CPU from /proc; its calls to the cloud as the forwarder saw them):",
        args.environments, args.seconds
    );
    for (name, window) in [
        ("at rest (no deployment)", at_rest),
        ("native deployments held at the gate", held),
    ] {
        println!(
            "  {name:<36} {:>5.2} % of a core (goal < 10 %); calls: {}",
            window.cpu * 100.0,
            by_operation(&window.calls, 1)
        );
    }
    let rounds = held.rounds();
    // The first and last round may be cut by the window's edges.
    let whole = match rounds.len() {
        0..=2 => &rounds[..],
        n => &rounds[1..n - 1],
    };
    let calls: Vec<usize> = whole.iter().map(Vec::len).collect();
    let arns: Vec<usize> = whole
        .iter()
        .map(|r| r.iter().map(|c| c.arns).sum())
        .collect();
    let describes: usize = rounds.iter().map(Vec::len).sum();
    let period = match whole {
        [first, .., last] => {
            last[0].at.duration_since(first[0].at).as_secs_f64() * 1000.0 / (whole.len() - 1) as f64
        }
        _ => f64::NAN,
    };
    println!(
        "  DescribeServiceDeployments while held: {describes} calls in {} poll rounds (calls < {} ms apart are one round; the tracker sleeps 100 ms after each)",
        rounds.len(),
        ROUND_GAP.as_millis()
    );
    println!(
        "    per whole round ({} of them): max {} calls, mean {:.2} (goal ≤ 3); ARNs per call max {}; ARNs per round min {} max {}; a round every {:.0} ms",
        whole.len(),
        calls.iter().max().unwrap_or(&0),
        calls.iter().sum::<usize>() as f64 / calls.len().max(1) as f64,
        held.calls.iter().map(|c| c.arns).max().unwrap_or(0),
        arns.iter().min().unwrap_or(&0),
        arns.iter().max().unwrap_or(&0),
        period,
    );
    println!(
        "    check by the interval: {describes} calls / at most {} rounds ({} s / 100 ms) = at least {:.2} per round",
        held.seconds * 10,
        held.seconds,
        describes as f64 / (held.seconds * 10) as f64
    );
    println!(
        "  control plane's CPU, held minus at rest: {:.2} points of a core; its RSS at the end {:.1} MB",
        (held.cpu - at_rest.cpu) * 100.0,
        memory.current_bytes as f64 / 1e6
    );
}

/// Calls by operation, each count divided by `per`.
fn by_operation(calls: &[Call], per: usize) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for call in calls {
        *counts.entry(call.operation.as_str()).or_default() += 1;
    }
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts
        .iter()
        .map(|(op, n)| match per {
            1 => format!("{op} {n}"),
            _ => format!("{op} {:.1}", *n as f64 / per as f64),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
