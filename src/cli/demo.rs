//! `switchyard demo`: the whole job on this machine. Starts the server with
//! its local cloud, creates and provisions an environment, deploys the blue
//! sample page, then the green one with ECSLinear10PercentEvery1Minutes,
//! printing the split it observes on the production URL, and keeps serving.
//! With `--controller ecs` the environment deploys through ECS's own
//! controller instead (LINEAR 10 % a minute), each release held at a pause
//! gate until a second user, which the demo makes, approves it.
//! With a container engine the releases are images of the sample app built
//! and pushed to the environment's local ECR; without one (or `--static`),
//! the sample pages as static sites.
//! With `--bad-release` (containers only) the green release is the sample
//! image with FAIL_PERCENT=30 baked in, deployed under steady traffic until
//! the environment's `demo-target-5xx` alarm stops it and CodeDeploy rolls
//! production back to blue (see `demo_bad_release`).

use super::client::CliError;
use super::demo_bad_release::{self, BAD_FAIL_PERCENT};
use super::demo_image::{self, RegistryLogin};
use crate::sample_app::{BLUE_PAGE, GREEN_PAGE};
use localcloud::tasks::{ContainerEngine, TaskRunner};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_api::approvals::{ApprovalList, DecisionBody};
use switchyard_api::deployments::{Deployment, StartDeploymentBody};
use switchyard_api::environments::{Container, CreateEnvironment, Environment};
use switchyard_api::release_policies::ApprovalPolicyBody;
use switchyard_api::stacks::{Operation, Stack, StackRequest};
use switchyard_api::users::{CreateUser, CreatedUser};
use switchyard_domain::service_deployment::{
    DeploymentController, EcsDeploymentSpec, GateSpec, LinearSpec,
};
use switchyard_server::serve::{self, CloudOptions, ServeOptions};

/// The demo's environment for each controller (a service is made for one
/// controller, so each has its own).
fn environment_name(controller: DeploymentController) -> &'static str {
    match controller {
        DeploymentController::CodeDeploy => "demo",
        DeploymentController::Ecs => "demo-ecs",
    }
}

/// The demo's environment: two tasks; with ECS's controller, LINEAR 10 %
/// a minute behind a gate one approver must open.
fn new_environment(controller: DeploymentController) -> CreateEnvironment {
    let container = Some(Container {
        desired_count: Some(2),
        ..Container::default()
    });
    match controller {
        DeploymentController::CodeDeploy => CreateEnvironment {
            name: environment_name(controller).into(),
            platform: "local".into(),
            termination_wait_minutes: Some(1),
            container,
            ..CreateEnvironment::default()
        },
        DeploymentController::Ecs => CreateEnvironment {
            name: environment_name(controller).into(),
            platform: "local".into(),
            container,
            controller: Some("ecs".into()),
            ecs_deployment: Some(EcsDeploymentSpec {
                strategy: Some("LINEAR".into()),
                linear: Some(LinearSpec {
                    step_percent: Some(10.0),
                    step_bake_minutes: Some(1),
                }),
                bake_time_minutes: Some(1),
                gates: Some(vec![GateSpec {
                    stage: Some("PRE_PRODUCTION_TRAFFIC_SHIFT".into()),
                    timeout_minutes: Some(60),
                    timeout_action: Some("ROLLBACK".into()),
                }]),
                ..EcsDeploymentSpec::default()
            }),
            approval_policy: Some(ApprovalPolicyBody {
                required: 1,
                allow_self_approval: false,
            }),
            ..CreateEnvironment::default()
        },
    }
}

/// What the demo deploys.
enum Releases {
    /// The sample pages, as `static:<dir>` images.
    StaticSites,
    /// Images of the sample app, built on this engine.
    Containers(Arc<ContainerEngine>),
}

/// Containers when the local cloud's engine answers (the same probe the
/// local cloud makes at start) and `--static` is not given; the line that
/// says which.
async fn choose_releases(cloud: &CloudOptions, force_static: bool) -> (Releases, String) {
    if force_static {
        return (
            Releases::StaticSites,
            "runner: static sites (--static): the sample pages from the local cloud's file server"
                .to_owned(),
        );
    }
    match cloud {
        CloudOptions::Embedded { docker_host, .. } => {
            match TaskRunner::find(docker_host, "switchyard-demo").await {
                TaskRunner::Containers(engine) => {
                    let line = format!(
                        "runner: {}; deploying the sample app's image",
                        TaskRunner::Containers(engine.clone())
                    );
                    (Releases::Containers(engine), line)
                }
                fallback => (
                    Releases::StaticSites,
                    format!("runner: {fallback}; deploying the sample pages as static sites"),
                ),
            }
        }
        CloudOptions::External { url, .. } => (
            Releases::StaticSites,
            format!(
                "runner: the local cloud at {url} runs the tasks; deploying the sample pages as \
                 static sites"
            ),
        ),
    }
}

/// Where the demo's server logs, in its data dir.
pub const LOG_FILE: &str = "demo.log";

pub async fn run(
    options: ServeOptions,
    force_static: bool,
    controller: DeploymentController,
    bad_release: bool,
) -> Result<(), CliError> {
    if bad_release {
        demo_bad_release::refuse_unless_possible(&options.cloud, controller).await?;
    }
    let environment = environment_name(controller);
    let data_dir = options.data_dir.clone();
    let cloud = options.cloud.clone();
    let (bound, address) = tokio::sync::oneshot::channel();
    let mut server = tokio::spawn(serve::serve_announcing(options, Some(bound)));
    // The address it got, not the one asked for: `--listen 127.0.0.1:0` picks a port.
    let Ok(address) = address.await else {
        return Err(stopped_at_start(&mut server).await);
    };
    let base = format!("http://{address}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base, &server).await?;
    let token_file = data_dir.join(switchyard_core::app::users::ADMIN_TOKEN_FILE);
    let token = std::fs::read_to_string(&token_file)
        .map_err(|e| {
            CliError::Usage(format!(
                "cannot read {}: {e} (is this data dir from another setup?)",
                token_file.display()
            ))
        })?
        .trim()
        .to_owned();
    let mut api = Api {
        client: super::client::ApiClient::with_token(&base, token)?,
        environment,
        approver: None,
    };

    step(&format!(
        "environment {environment} ({controller} controller)"
    ));
    let new = new_environment(controller);
    let created = api
        .client
        .post::<Environment>("/api/environments", &new)
        .await;
    match created {
        Ok(_) => {}
        Err(CliError::Api { status: 409, .. }) => println!("  exists; reusing it"),
        Err(e) => return Err(e),
    }
    if controller == DeploymentController::Ecs {
        api.approver = Some(api.second_user(&base).await?);
    }
    if bad_release {
        demo_bad_release::sensitive_alarm(&api.client, environment).await?;
    }
    let stack_path = format!("/api/environments/{environment}/stack");
    let stack = api.client.get::<Stack>(&stack_path).await;
    if !matches!(&stack, Ok(s) if s.status == "ready") {
        step("provisioning its stack in the local cloud");
        api.client
            .post::<Operation>(&stack_path, &StackRequest::default())
            .await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let s: Stack = api.client.get(&stack_path).await?;
            match s.status.as_str() {
                "ready" => break,
                "failed" => {
                    return Err(CliError::Deployment(format!(
                        "provisioning failed:\n{}",
                        s.log
                    )));
                }
                _ if Instant::now() > deadline => {
                    return Err(CliError::Deployment("provisioning took too long".into()));
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    let env: Environment = api
        .client
        .get(&format!("/api/environments/{environment}"))
        .await?;
    let prod_url = env.prod_url.unwrap_or_default();
    println!(
        "  production {prod_url}   test {}",
        env.test_url.as_deref().unwrap_or("-")
    );

    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let blue_version = format!("blue-{stamp}");
    let green_version = if bad_release {
        format!("green-bad-{stamp}")
    } else {
        format!("green-{stamp}")
    };
    let green_fails = bad_release.then_some(BAD_FAIL_PERCENT);
    let (releases, runner_line) = choose_releases(&cloud, force_static).await;
    println!("{runner_line}");
    let (blue_image, green_image) = match releases {
        Releases::StaticSites => {
            let (blue, green) = write_sites(&data_dir).map_err(CliError::Local)?;
            (
                format!("static:{}", blue.display()),
                format!("static:{}", green.display()),
            )
        }
        Releases::Containers(engine) => {
            let stack: Stack = api.client.get(&stack_path).await?;
            // The outputs are whatever the stack made: a local one makes an ECR repository.
            let repository_uri = stack.outputs["repository_uri"]
                .as_str()
                .filter(|uri| !uri.is_empty())
                .ok_or_else(|| {
                    CliError::Deployment(format!(
                        "the stack of {environment} has no ECR repository (outputs.repository_uri); \
                         provision it again, or run `switchyard demo --static`"
                    ))
                })?
                .to_owned();
            let login = RegistryLogin::for_repository(&http, &repository_uri).await?;
            let mut images = Vec::new();
            for (version, page, fail_percent) in [
                (&blue_version, BLUE_PAGE, None),
                (&green_version, GREEN_PAGE, green_fails),
            ] {
                let baked = fail_percent
                    .map(|p| format!(" (FAIL_PERCENT={p} baked in)"))
                    .unwrap_or_default();
                step(&format!(
                    "building {repository_uri}:{version}{baked} and pushing it to the local ECR"
                ));
                images.push(
                    demo_image::build_and_push(
                        &engine,
                        &login,
                        &repository_uri,
                        version,
                        page,
                        fail_percent,
                    )
                    .await?,
                );
            }
            let green = images.pop().unwrap_or_default();
            (images.pop().unwrap_or_default(), green)
        }
    };
    let (blue_config, green_config) = match controller {
        DeploymentController::CodeDeploy => (
            Some("CodeDeployDefault.ECSAllAtOnce"),
            Some("CodeDeployDefault.ECSLinear10PercentEvery1Minutes"),
        ),
        // The environment's strategy: LINEAR, behind its gate.
        DeploymentController::Ecs => (None, None),
    };
    let plan = |config: Option<&str>| {
        config.map_or_else(
            || "LINEAR 10% every minute, paused until approved".to_owned(),
            str::to_owned,
        )
    };
    step(&format!("deploying blue ({})", plan(blue_config)));
    let blue = api.deploy(&blue_version, &blue_image, blue_config).await?;
    api.wait(blue, &http, &prod_url, false).await?;
    if bad_release {
        let config = green_config.unwrap_or_default();
        step(&format!(
            "deploying {green_version} ({config}) under steady production traffic, {} requests a second",
            demo_bad_release::REQUESTS_PER_SECOND
        ));
        let traffic = demo_bad_release::Traffic::start(http.clone(), prod_url.clone());
        let green = api
            .deploy(&green_version, &green_image, green_config)
            .await?;
        demo_bad_release::watch(&api.client, environment, green, &traffic).await?;
    } else {
        step(&format!("deploying green ({})", plan(green_config)));
        let green = api
            .deploy(&green_version, &green_image, green_config)
            .await?;
        api.wait(green, &http, &prod_url, true).await?;
    }

    println!();
    println!("switchyard is serving on {base} (API; see the README for the CLI)");
    println!("production URL {prod_url}");
    println!("the admin token is in {}", token_file.display());
    println!("Ctrl-C stops it.");
    match server.await {
        Ok(result) => result.map_err(CliError::Local),
        Err(e) => Err(CliError::Local(e.into())),
    }
}

fn step(text: &str) {
    println!("==> {text}");
}

/// Why the server ended before it listened: its own error.
async fn stopped_at_start(server: &mut tokio::task::JoinHandle<anyhow::Result<()>>) -> CliError {
    match server.await {
        Ok(Err(e)) => CliError::Local(e),
        Ok(Ok(())) => CliError::Local(anyhow::anyhow!("the server stopped before it listened")),
        Err(e) => CliError::Local(e.into()),
    }
}

async fn wait_ready(
    http: &reqwest::Client,
    base: &str,
    server: &tokio::task::JoinHandle<anyhow::Result<()>>,
) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if server.is_finished() {
            return Err(CliError::Local(anyhow::anyhow!(
                "the server stopped at start; see the log above"
            )));
        }
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(CliError::Unreachable(format!(
                "the server at {base} did not become ready"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The two sample pages as release directories (image static:<dir>).
fn write_sites(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let root = data_dir.join(switchyard_core::app::static_sites::DEMO_SITES);
    let blue = root.join("blue");
    let green = root.join("green");
    for (dir, page) in [(&blue, BLUE_PAGE), (&green, GREEN_PAGE)] {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("index.html"), page)?;
    }
    Ok((blue, green))
}

struct Api {
    client: super::client::ApiClient,
    environment: &'static str,
    /// The second user who approves releases held at a gate.
    approver: Option<(String, super::client::ApiClient)>,
}

impl Api {
    /// A new approver (tokens are shown once, so each run makes its own).
    async fn second_user(
        &self,
        base: &str,
    ) -> Result<(String, super::client::ApiClient), CliError> {
        let name = format!("approver-{}", chrono::Utc::now().format("%H%M%S"));
        let created: CreatedUser = self
            .client
            .post(
                "/api/users",
                &CreateUser {
                    name: name.clone(),
                    role: "approver".into(),
                },
            )
            .await?;
        println!("  second user {name} (approver) will approve the releases");
        Ok((
            name,
            super::client::ApiClient::with_token(base, created.token)?,
        ))
    }

    async fn deploy(
        &self,
        version: &str,
        image: &str,
        config: Option<&str>,
    ) -> Result<i64, CliError> {
        let body = StartDeploymentBody {
            image: image.to_owned(),
            version: version.to_owned(),
            commit: None,
            author: None,
            message: None,
            deployment_config: config.map(str::to_owned),
            break_glass: None,
        };
        let d: Deployment = self
            .client
            .post(
                &format!("/api/environments/{}/deployments", self.environment),
                &body,
            )
            .await?;
        Ok(d.id)
    }

    /// Approves, as the second user, the pending approval a held
    /// deployment waits for; whether there was one.
    async fn approve(&self, id: i64) -> Result<bool, CliError> {
        let Some((name, approver)) = &self.approver else {
            return Ok(false);
        };
        let pending: ApprovalList = approver.get("/api/approvals?votable=true").await?;
        let Some(approval) = pending
            .approvals
            .iter()
            .find(|a| a.deployment_id == Some(id))
        else {
            return Ok(false);
        };
        println!(
            "  paused at {}; {name} approves (ECS would take {} at {} otherwise)",
            approval.stage.as_deref().unwrap_or("a gate"),
            approval
                .timeout_action
                .as_deref()
                .unwrap_or("its timeout action"),
            approval.expires_at.as_deref().unwrap_or("its timeout"),
        );
        let _: switchyard_api::approvals::Approval = approver
            .post(
                &format!("/api/approvals/{}/decisions", approval.id),
                &DecisionBody {
                    decision: "approve".into(),
                    comment: Some("the demo's second user approves".into()),
                },
            )
            .await?;
        Ok(true)
    }

    /// Follows a deployment; with `sample`, prints the planned green weight
    /// next to the share of green pages the production URL really served.
    async fn wait(
        &self,
        id: i64,
        http: &reqwest::Client,
        prod_url: &str,
        sample: bool,
    ) -> Result<(), CliError> {
        let started = Instant::now();
        let mut last = String::new();
        loop {
            let d: Deployment = self.client.get(&format!("/api/deployments/{id}")).await?;
            let mut line = super::deploy::progress_line(&d);
            let shifting = matches!(
                d.current_lifecycle_event.as_deref(),
                Some("AllowTraffic" | "PRODUCTION_TRAFFIC_SHIFT")
            );
            if d.status == "Ready" {
                self.approve(id).await?;
            }
            if sample && shifting && d.green_weight > 0.0 {
                let (mut green, mut total) = (0, 0);
                for _ in 0..40 {
                    if let Ok(r) = http.get(prod_url).send().await {
                        total += 1;
                        if r.text()
                            .await
                            .unwrap_or_default()
                            .contains("<h1>green</h1>")
                        {
                            green += 1;
                        }
                    }
                }
                line = format!(
                    "{line}   observed on production: {:>3}% green of {total} requests",
                    green * 100 / total.max(1)
                );
            }
            if line != last {
                println!("  {:>5.1}s {line}", started.elapsed().as_secs_f64());
                last = line;
            }
            match d.status.as_str() {
                "Succeeded" => return Ok(()),
                "Failed" | "Stopped" => {
                    return Err(CliError::Deployment(format!(
                        "deployment {id} {}: {}",
                        d.status,
                        d.error.as_ref().map_or("", |e| e.message.as_str())
                    )));
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(if sample { 100 } else { 200 })).await
                }
            }
        }
    }
}
