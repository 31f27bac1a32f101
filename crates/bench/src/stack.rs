//! `switchyard-bench stack`: an AWS stack (infra/) provisioned, planned
//! again and destroyed through switchyard's API against moto. Reports how
//! long Terraform's init, plan, apply and destroy took, and switchyard's own
//! overhead around them: the API operation's wall time (request to the
//! status that ends it) minus the time the terraform processes ran.

use super::{ChildServer, ScratchDir};
use clap::Args;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use switchyard::cli::client::ApiClient;
use switchyard_api::environments::Environment;
use switchyard_api::stacks::{Operation, Plan, Stack};
use switchyard_core::provision::terraform::terraform_seconds;

#[derive(Debug, Args)]
pub struct StackBench {
    /// moto's server (`pip install "moto[server]"`; scripts/setup-test-deps
    /// puts one in .venv-test/bin).
    #[arg(long, default_value = "moto_server")]
    moto_server: PathBuf,
    /// The terraform binary.
    #[arg(long, default_value = "terraform")]
    terraform: PathBuf,
    /// A filesystem mirror with the hashicorp/aws provider, to run offline.
    #[arg(long)]
    terraform_plugin_mirror: Option<PathBuf>,
    /// Keep the data dir (the stack's Terraform files) here.
    #[arg(long)]
    keep_data_dir: Option<PathBuf>,
}

/// Variables for what moto can make (infra/README.md).
fn moto_variables() -> Value {
    json!({"enable_pipeline": false, "enable_codedeploy": false, "health_check_grace_period_seconds": 0})
}

/// moto, killed when dropped.
struct Moto {
    _child: tokio::process::Child,
    endpoint: String,
}

impl Moto {
    async fn start(binary: &PathBuf) -> anyhow::Result<Moto> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = tokio::process::Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot start {}: {e} (install moto with pip install \"moto[server]\", or pass --moto-server)",
                    binary.display()
                )
            })?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        while !http
            .get(format!("{endpoint}/moto-api/data.json"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not answer within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Moto {
            _child: child,
            endpoint,
        })
    }
}

/// One API operation: its wall time and what Terraform took within it.
struct Measured {
    wall: f64,
    terraform: Vec<(String, f64)>,
}

impl Measured {
    fn terraform_total(&self) -> f64 {
        self.terraform.iter().map(|(_, s)| s).sum()
    }

    fn of(&self, what: &str) -> f64 {
        self.terraform
            .iter()
            .filter(|(w, _)| w == what)
            .map(|(_, s)| s)
            .sum()
    }

    fn overhead(&self) -> f64 {
        self.wall - self.terraform_total()
    }
}

/// Starts a stack operation and polls (every 10 ms) until it settles.
async fn operation(
    api: &ApiClient,
    start: impl std::future::Future<Output = Result<Operation, switchyard::cli::client::CliError>>,
    until: &str,
) -> anyhow::Result<Measured> {
    let started = Instant::now();
    start.await.map_err(|e| anyhow::anyhow!("{e}"))?;
    loop {
        let stack: Stack = api
            .get("/api/environments/bench/stack")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let status = stack.status.as_str();
        if status == until {
            let wall = started.elapsed().as_secs_f64();
            return Ok(Measured {
                wall,
                terraform: terraform_seconds(&stack.log),
            });
        }
        anyhow::ensure!(
            matches!(status, "provisioning" | "destroying"),
            "the stack became {status}:\n{}",
            stack.log
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn run(args: StackBench) -> anyhow::Result<()> {
    let scratch = ScratchDir::new(args.keep_data_dir.clone())?;
    let moto = Moto::start(&args.moto_server).await?;
    let terraform = args.terraform.display().to_string();
    let mirror = args
        .terraform_plugin_mirror
        .as_ref()
        .map(|m| m.display().to_string());
    let mut serve = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--aws-endpoint-url",
        &moto.endpoint,
        "--terraform",
        &terraform,
    ];
    if let Some(mirror) = &mirror {
        serve.extend(["--terraform-plugin-mirror", mirror]);
    }
    serve.push("--data-dir");
    // moto checks no signatures; the provider and SDK need some credentials.
    let mut server = ChildServer::start_with_env(
        &serve,
        Some(scratch.path()),
        &[
            ("AWS_ACCESS_KEY_ID", "AKIABENCH"),
            ("AWS_SECRET_ACCESS_KEY", "bench-secret"),
        ],
    )?;
    let base = format!("http://{}", server.address().await?);
    let token = std::fs::read_to_string(scratch.path().join("admin-token"))?
        .trim()
        .to_owned();
    let api = ApiClient::with_token(&base, token).map_err(|e| anyhow::anyhow!("{e}"))?;
    api.post::<Environment>(
        "/api/environments",
        &json!({"name": "bench", "platform": "aws", "region": "us-east-1"}),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    eprintln!("provisioning infra/ against moto (the load balancer alone takes about a minute)");
    let body = json!({"variables": moto_variables()});
    let apply = operation(
        &api,
        api.post("/api/environments/bench/stack", &body),
        "ready",
    )
    .await?;

    eprintln!("planning again");
    let started = Instant::now();
    let plan: Plan = api
        .post("/api/environments/bench/stack/plan", &json!({}))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan_log = plan.log.join("\n");
    let replan = Measured {
        wall: started.elapsed().as_secs_f64(),
        terraform: terraform_seconds(&plan_log),
    };

    eprintln!("destroying");
    let destroy = operation(
        &api,
        api.delete("/api/environments/bench/stack"),
        "destroyed",
    )
    .await?;
    server.stop().await?;

    println!("switchyard-bench stack: infra/ against moto through switchyard's API");
    println!(
        "provision: {:.1} s wall = terraform init {:.2} s + plan {:.2} s + apply {:.2} s + output {:.2} s + switchyard {:.3} s",
        apply.wall,
        apply.of("init"),
        apply.of("plan"),
        apply.of("apply"),
        apply.of("output"),
        apply.overhead()
    );
    println!(
        "plan again: {:.1} s wall = terraform init {:.2} s + plan {:.2} s + show {:.2} s + switchyard {:.3} s ({} resource changes)",
        replan.wall,
        replan.of("init"),
        replan.of("plan"),
        replan.of("show"),
        replan.overhead(),
        plan.resource_changes.len()
    );
    println!(
        "destroy: {:.1} s wall = terraform init {:.2} s + destroy {:.2} s + state list {:.2} s + switchyard {:.3} s",
        destroy.wall,
        destroy.of("init"),
        destroy.of("destroy"),
        destroy.of("state"),
        destroy.overhead()
    );
    let worst = [apply.overhead(), replan.overhead(), destroy.overhead()]
        .into_iter()
        .fold(0.0_f64, f64::max);
    println!(
        "switchyard's overhead around Terraform: at most {worst:.3} s per operation (goal < 1 s; includes up to 10 ms of polling)"
    );
    Ok(())
}
