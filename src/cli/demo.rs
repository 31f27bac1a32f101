//! `switchyard demo`: the whole job on this machine. Starts the server with
//! its local cloud, creates and provisions an environment, deploys the blue
//! sample page, then the green one with ECSLinear10PercentEvery1Minutes,
//! printing the split it observes on the production URL, and keeps serving.
//! With a container engine the releases are images of the sample app built
//! and pushed to the environment's local ECR; without one (or `--static`),
//! the sample pages as static sites.

use super::client::CliError;
use super::demo_image::{self, RegistryLogin};
use crate::sample_app::{BLUE_PAGE, GREEN_PAGE};
use localcloud::tasks::{ContainerEngine, TaskRunner};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_api::deployments::{Deployment, StartDeploymentBody};
use switchyard_api::environments::{Container, CreateEnvironment, Environment};
use switchyard_api::stacks::{Operation, Stack, StackRequest};
use switchyard_server::serve::{self, CloudOptions, ServeOptions};

const ENVIRONMENT: &str = "demo";

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

pub async fn run(options: ServeOptions, force_static: bool) -> Result<(), CliError> {
    let data_dir = options.data_dir.clone();
    let listen = options.listen;
    let cloud = options.cloud.clone();
    let server = tokio::spawn(serve::serve(options));
    let base = format!("http://{listen}");
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
    let api = Api {
        client: super::client::ApiClient::with_token(&base, token)?,
    };

    step(&format!("environment {ENVIRONMENT}"));
    let new = CreateEnvironment {
        name: ENVIRONMENT.into(),
        platform: "local".into(),
        termination_wait_minutes: Some(1),
        container: Some(Container {
            desired_count: Some(2),
            ..Container::default()
        }),
        ..CreateEnvironment::default()
    };
    let created = api
        .client
        .post::<Environment>("/api/environments", &new)
        .await;
    match created {
        Ok(_) => {}
        Err(CliError::Api { status: 409, .. }) => println!("  exists; reusing it"),
        Err(e) => return Err(e),
    }
    let stack_path = format!("/api/environments/{ENVIRONMENT}/stack");
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
        .get(&format!("/api/environments/{ENVIRONMENT}"))
        .await?;
    let prod_url = env.prod_url.unwrap_or_default();
    println!(
        "  production {prod_url}   test {}",
        env.test_url.as_deref().unwrap_or("-")
    );

    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let (blue_version, green_version) = (format!("blue-{stamp}"), format!("green-{stamp}"));
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
                        "the stack of {ENVIRONMENT} has no ECR repository (outputs.repository_uri); \
                         provision it again, or run `switchyard demo --static`"
                    ))
                })?
                .to_owned();
            let login = RegistryLogin::for_repository(&http, &repository_uri).await?;
            let mut images = Vec::new();
            for (version, page) in [(&blue_version, BLUE_PAGE), (&green_version, GREEN_PAGE)] {
                step(&format!(
                    "building {repository_uri}:{version} and pushing it to the local ECR"
                ));
                images.push(
                    demo_image::build_and_push(&engine, &login, &repository_uri, version, page)
                        .await?,
                );
            }
            let green = images.pop().unwrap_or_default();
            (images.pop().unwrap_or_default(), green)
        }
    };
    step("deploying blue (CodeDeployDefault.ECSAllAtOnce)");
    let blue = api
        .deploy(&blue_version, &blue_image, "CodeDeployDefault.ECSAllAtOnce")
        .await?;
    api.wait(blue, &http, &prod_url, false).await?;
    step("deploying green (CodeDeployDefault.ECSLinear10PercentEvery1Minutes)");
    let green = api
        .deploy(
            &green_version,
            &green_image,
            "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        )
        .await?;
    api.wait(green, &http, &prod_url, true).await?;

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
}

impl Api {
    async fn deploy(&self, version: &str, image: &str, config: &str) -> Result<i64, CliError> {
        let body = StartDeploymentBody {
            image: image.to_owned(),
            version: version.to_owned(),
            commit: None,
            author: None,
            message: None,
            deployment_config: Some(config.to_owned()),
        };
        let d: Deployment = self
            .client
            .post(
                &format!("/api/environments/{ENVIRONMENT}/deployments"),
                &body,
            )
            .await?;
        Ok(d.id)
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
            if sample && d.current_lifecycle_event.as_deref() == Some("AllowTraffic") {
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
