//! Benchmarks anyone can run: `cargo run --release -p switchyard-bench --
//! <name>`. Each measures the
//! `switchyard` binary next to this one against a baseline in the same run,
//! because machines are noisy and only ratios travel.

mod api;
mod containers;
mod dashboard;
mod deploy_form;
mod deployments;
mod diff;
mod gates;
mod native;
mod proxy;
mod releases;
mod restart;
mod rollback;
mod stack;
mod webhooks;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard-bench",
    about = "Benchmarks that measure this build of switchyard on this machine"
)]
struct BenchArgs {
    #[command(subcommand)]
    which: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Release history: GET /releases?limit=50 on 100,000 releases against a
    /// bare axum handler serving the same bytes; RSS and start-up time.
    Releases(releases::ReleasesBench),
    /// The local cloud's load balancer splitting 90/10 between two
    /// upstreams, against nginx doing the same and an upstream hit directly.
    Proxy(proxy::ProxyBench),
    /// The dashboard: render time of the deployment page (10,000 traffic
    /// samples) and the releases page (100,000 releases), first-load bytes.
    Dashboard(dashboard::DashboardBench),
    /// The dashboard's deploy button: confirmation POST -> 303 ->
    /// deployment page -> first SSE event, against the API's POST -> first
    /// SSE event in the same run.
    DeployForm(deploy_form::DeployFormBench),
    /// Deployments tracked at once: weight change to SSE event, and the
    /// control plane's CPU and memory meanwhile.
    Deployments(deployments::DeploymentsBench),
    /// Signed git push webhooks from concurrent senders: pushes recorded per
    /// second against a bare handler, and proof each was recorded once.
    Webhooks(webhooks::WebhooksBench),
    /// An AWS stack (infra/) provisioned, planned and destroyed through the
    /// API against moto: Terraform's time and switchyard's overhead.
    Stack(stack::StackBench),
    /// The sample app on real containers at time scale 60: push to 100 %
    /// green (build, push, task start, shift), task start p50/p99 of 20
    /// containers, and the listener against nginx with container upstreams.
    Containers(containers::ContainersBench),
    /// kill -9 of the local cloud mid-shift, started again after 300 ms:
    /// production's outage per round against the time no process listens,
    /// and every answer that was not a 200 (goal: no 503). Two phases: a
    /// standalone `switchyard localcloud`, then `switchyard serve` with its
    /// embedded local cloud (`--phase` runs one).
    Restart(restart::RestartBench),
    /// ECS-native deployments in the local cloud: how late LINEAR weight
    /// changes reach the listener against the schedule (baseline: CodeDeploy
    /// measured the same way), and the cloud's CPU while 20 deployments
    /// wait in bake time (baseline: the same services at rest).
    Native(native::NativeBench),
    /// The control plane driving ECS-native deployments: approval vote to
    /// the first weight change on SSE through a PAUSE gate (baseline:
    /// CodeDeploy held in Ready), and DescribeServiceDeployments calls per
    /// poll round and CPU with 50 deployments held (baseline: at rest).
    Gates(gates::GatesBench),
    /// A green answering 500s rolled back by its 5xx alarm during a linear
    /// shift, CodeDeploy and ECS native at time scale 60: first 500 to all
    /// traffic on blue, p50/p99 over the runs against the goal (2
    /// evaluation periods + 1 s), split at the alarm's own ALARM transition
    /// (baseline) into detection and reaction.
    Rollback(rollback::RollbackBench),
    /// The diff of two task definitions of 20 containers (7 changes) and
    /// its unified text, p50/p99 over 20,000 iterations against serde_json
    /// parsing the two (goal: < 5 ms).
    Diff(diff::DiffBench),
    /// The baseline server: a bare axum handler answering every GET with
    /// the bytes of a file (used by the benchmarks).
    #[command(hide = true)]
    ServeBytes {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        file: PathBuf,
    },
    /// An app answering 500 to a share of its requests and always 200 to
    /// health checks (the green and blue tasks of `bench rollback`); on
    /// $HOST:$PORT without --listen, as a local cloud task.
    #[command(hide = true)]
    ServeFlaky {
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[arg(long)]
        fail_percent: u32,
        /// The body of every answer.
        #[arg(long, default_value = "ok")]
        answer: String,
    },
    /// One load balancer listener forwarding to two target groups of one
    /// target each (used by `bench proxy`).
    #[command(hide = true)]
    ServeProxy {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        upstream_a: SocketAddr,
        #[arg(long)]
        upstream_b: SocketAddr,
        /// Percent of requests for upstream B.
        #[arg(long)]
        weight_b: u32,
        /// Records no traffic metrics: the baseline of their cost.
        #[arg(long)]
        no_metrics: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let args = BenchArgs::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        BenchCommand::Releases(bench) => releases::run(bench).await,
        BenchCommand::Stack(bench) => stack::run(bench).await,
        BenchCommand::Deployments(bench) => deployments::run(bench).await,
        BenchCommand::DeployForm(bench) => deploy_form::run(bench).await,
        BenchCommand::Webhooks(bench) => webhooks::run(bench).await,
        BenchCommand::Dashboard(bench) => dashboard::run(bench).await,
        BenchCommand::Containers(bench) => containers::run(bench).await,
        BenchCommand::Restart(bench) => restart::run(bench).await,
        BenchCommand::Native(bench) => native::run(bench).await,
        BenchCommand::Gates(bench) => gates::run(bench).await,
        BenchCommand::Rollback(bench) => rollback::run(bench).await,
        BenchCommand::Diff(bench) => diff::run(bench).await,
        BenchCommand::ServeFlaky {
            listen,
            fail_percent,
            answer,
        } => rollback::serve_flaky(listen, fail_percent, answer).await,
        BenchCommand::ServeBytes { listen, file } => serve_bytes(listen, file).await,
        BenchCommand::Proxy(bench) => proxy::run(bench).await,
        BenchCommand::ServeProxy {
            listen,
            upstream_a,
            upstream_b,
            weight_b,
            no_metrics,
        } => proxy::serve(listen, upstream_a, upstream_b, weight_b, !no_metrics).await,
    }
}

async fn serve_bytes(listen: SocketAddr, file: PathBuf) -> anyhow::Result<()> {
    let body = bytes::Bytes::from(std::fs::read(&file)?);
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
        }
    });
    let shutdown = switchyard_runtime::shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("baseline listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// The `switchyard` binary measured: `SWITCHYARD_BIN`, or the one next to
/// this benchmark binary. Under `cargo run` that one is built first (with
/// this build's profile), so a benchmark never measures a stale server.
fn switchyard_binary() -> anyhow::Result<PathBuf> {
    static BINARY: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| find_switchyard_binary().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn find_switchyard_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("SWITCHYARD_BIN") {
        return Ok(PathBuf::from(path));
    }
    let binary = std::env::current_exe()?.with_file_name("switchyard");
    if let Some(cargo) = std::env::var_os("CARGO") {
        let release = binary
            .parent()
            .and_then(|dir| dir.file_name())
            .is_some_and(|name| name == "release");
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
        eprintln!("building the switchyard binary first (cargo build --bin switchyard)");
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--bin",
                "switchyard",
                "--manifest-path",
                manifest,
            ])
            .args(release.then_some("--release"))
            .status()?;
        anyhow::ensure!(status.success(), "building the switchyard binary failed");
    }
    anyhow::ensure!(
        binary.is_file(),
        "{} does not exist: build it with `cargo build --release --workspace`, or set SWITCHYARD_BIN",
        binary.display()
    );
    Ok(binary)
}

/// A server run as a child process, so its memory and start-up are its own.
pub struct ChildServer {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    /// For children that take commands, a line each (`switchyard-bench serve-proxy`).
    commands: tokio::process::ChildStdin,
}

impl ChildServer {
    pub fn start_switchyard(data_dir: &std::path::Path) -> anyhow::Result<ChildServer> {
        Self::start(
            &["serve", "--listen", "127.0.0.1:0", "--data-dir"],
            Some(data_dir),
        )
    }

    /// `switchyard ARGS LAST`.
    pub fn start(args: &[&str], last: Option<&std::path::Path>) -> anyhow::Result<ChildServer> {
        Self::start_with_env(args, last, &[])
    }

    /// Like `start`, with variables added to the child's environment.
    pub fn start_with_env(
        args: &[&str],
        last: Option<&std::path::Path>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<ChildServer> {
        Self::spawn(&switchyard_binary()?, args, last, env)
    }

    /// One of this binary's own baseline servers (`serve-bytes`, `serve-proxy`).
    pub fn start_baseline(
        args: &[&str],
        last: Option<&std::path::Path>,
    ) -> anyhow::Result<ChildServer> {
        Self::spawn(&std::env::current_exe()?, args, last, &[])
    }

    fn spawn(
        program: &std::path::Path,
        args: &[&str],
        last: Option<&std::path::Path>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<ChildServer> {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .args(last)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let commands = child.stdin.take().expect("stdin is piped");
        Ok(ChildServer {
            child,
            lines: tokio::io::BufReader::new(stdout).lines(),
            commands,
        })
    }

    /// Sends the child one command line.
    pub async fn command(&mut self, line: &str) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.commands
            .write_all(format!("{line}\n").as_bytes())
            .await?;
        self.commands.flush().await?;
        Ok(())
    }

    /// Waits for the line that announces the listening address.
    pub async fn address(&mut self) -> anyhow::Result<SocketAddr> {
        while let Some(line) = self.lines.next_line().await? {
            if let Some((_, address)) = line.split_once("listening on http://") {
                return Ok(address.trim().parse()?);
            }
        }
        anyhow::bail!("the server exited before listening")
    }

    /// The next line the child prints.
    pub async fn next_line(&mut self) -> anyhow::Result<String> {
        self.lines
            .next_line()
            .await?
            .ok_or_else(|| anyhow::anyhow!("the server exited"))
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .id()
            .ok_or_else(|| anyhow::anyhow!("the server has exited"))
    }

    /// Current and peak resident memory, from /proc.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| anyhow::anyhow!("the server has exited"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb = |key: &str| -> anyhow::Result<u64> {
            let line = status
                .lines()
                .find(|l| l.starts_with(key))
                .ok_or_else(|| anyhow::anyhow!("no {key} in /proc/{pid}/status"))?;
            Ok(line
                .split_whitespace()
                .nth(1)
                .unwrap_or("0")
                .parse::<u64>()?
                * 1024)
        };
        Ok(Memory {
            current_bytes: kb("VmRSS:")?,
            peak_bytes: kb("VmHWM:")?,
            file_bytes: kb("RssFile:")?,
        })
    }

    /// kill -9, and waits until it is gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// Closes its stdin (a read of it would hold up the child's exit), sends
    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.commands);
        if let Some(pid) = self.child.id() {
            // SAFETY: signalling a child we spawned and still own.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        let status =
            tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait()).await??;
        anyhow::ensure!(status.success(), "the server exited with {status}");
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub current_bytes: u64,
    pub peak_bytes: u64,
    /// Of the current: pages of mapped files (the binary, the database),
    /// which the kernel can drop and read again, unlike the heap.
    pub file_bytes: u64,
}

/// A data dir that is removed afterwards unless the user named it.
pub(crate) struct ScratchDir {
    path: PathBuf,
    remove: bool,
}

impl ScratchDir {
    pub(crate) fn new(keep: Option<PathBuf>) -> anyhow::Result<ScratchDir> {
        match keep {
            Some(path) => Ok(ScratchDir {
                path,
                remove: false,
            }),
            None => {
                let path =
                    std::env::temp_dir().join(format!("switchyard-bench-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&path);
                Ok(ScratchDir { path, remove: true })
            }
        }
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A new data dir's application with its first admin: the app, the admin
/// and the admin's token (for seeding before a server starts on it).
pub(crate) async fn fresh_app(
    data_dir: &std::path::Path,
) -> anyhow::Result<(
    switchyard_core::app::App,
    switchyard_core::app::Actor,
    String,
)> {
    let app = switchyard_server::serve::open_app(data_dir).await?;
    let token_file = app.bootstrap_admin(data_dir).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "{} already has users; give an empty data dir",
            data_dir.display()
        )
    })?;
    let token = std::fs::read_to_string(token_file)?.trim().to_owned();
    let admin = app.authenticate(&token).await?;
    Ok((app, admin, token))
}

/// The value at quantile `q` (0.0 to 1.0) of `times`, nearest rank; zero
/// for none.
pub(crate) fn quantile(times: &[std::time::Duration], q: f64) -> std::time::Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * q).round() as usize)
        .copied()
        .unwrap_or_default()
}
