//! `switchyard demo`: the whole job on this machine. Starts the server with
//! its local cloud, creates and provisions an environment, deploys the blue
//! sample page, then the green one with ECSLinear10PercentEvery1Minutes,
//! printing the split it observes on the production URL, and keeps serving.

use super::client::CliError;
use crate::server::{self, ServeOptions};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BLUE_PAGE: &str = include_str!("../../examples/app-sample/index.html");
const GREEN_PAGE: &str = include_str!("../../examples/app-sample/index_green.html");
const ENVIRONMENT: &str = "demo";

pub async fn run(options: ServeOptions) -> Result<(), CliError> {
    let data_dir = options.data_dir.clone();
    let listen = options.listen;
    let server = tokio::spawn(server::serve(options));
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base, &server).await?;
    let token_file = data_dir.join(crate::app::users::ADMIN_TOKEN_FILE);
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

    let sites = write_sites(&data_dir).map_err(CliError::Local)?;
    step(&format!("environment {ENVIRONMENT}"));
    let created = api
        .call(
            reqwest::Method::POST,
            "/api/environments",
            Some(json!({
                "name": ENVIRONMENT, "platform": "local", "termination_wait_minutes": 1,
                "container": {"desired_count": 2},
            })),
        )
        .await;
    match created {
        Ok(_) => {}
        Err(CliError::Api { status: 409, .. }) => println!("  exists; reusing it"),
        Err(e) => return Err(e),
    }
    let stack = api
        .call(
            reqwest::Method::GET,
            &format!("/api/environments/{ENVIRONMENT}/stack"),
            None,
        )
        .await;
    if !matches!(&stack, Ok(s) if s["status"] == "ready") {
        step("provisioning its stack in the local cloud");
        api.call(
            reqwest::Method::POST,
            &format!("/api/environments/{ENVIRONMENT}/stack"),
            Some(json!({})),
        )
        .await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let s = api
                .call(
                    reqwest::Method::GET,
                    &format!("/api/environments/{ENVIRONMENT}/stack"),
                    None,
                )
                .await?;
            match s["status"].as_str() {
                Some("ready") => break,
                Some("failed") => {
                    return Err(CliError::Deployment(format!(
                        "provisioning failed:\n{}",
                        s["log"].as_str().unwrap_or("")
                    )));
                }
                _ if Instant::now() > deadline => {
                    return Err(CliError::Deployment("provisioning took too long".into()));
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    let env = api
        .call(
            reqwest::Method::GET,
            &format!("/api/environments/{ENVIRONMENT}"),
            None,
        )
        .await?;
    let prod_url = env["prod_url"].as_str().unwrap_or_default().to_owned();
    println!(
        "  production {prod_url}   test {}",
        env["test_url"].as_str().unwrap_or("-")
    );

    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    step("deploying blue (CodeDeployDefault.ECSAllAtOnce)");
    let blue = api
        .deploy(
            &format!("blue-{stamp}"),
            &sites.0,
            "CodeDeployDefault.ECSAllAtOnce",
        )
        .await?;
    api.wait(blue, &http, &prod_url, false).await?;
    step("deploying green (CodeDeployDefault.ECSLinear10PercentEvery1Minutes)");
    let green = api
        .deploy(
            &format!("green-{stamp}"),
            &sites.1,
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
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
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
    let root = data_dir.join(crate::app::static_sites::DEMO_SITES);
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
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        match (method, body) {
            (reqwest::Method::GET, _) => self.client.get(path).await,
            (_, body) => {
                self.client
                    .post(path, &body.unwrap_or_else(|| json!({})))
                    .await
            }
        }
    }

    async fn deploy(&self, version: &str, site: &Path, config: &str) -> Result<i64, CliError> {
        let d = self
            .call(
                reqwest::Method::POST,
                &format!("/api/environments/{ENVIRONMENT}/deployments"),
                Some(json!({"image": format!("static:{}", site.display()), "version": version, "deployment_config": config})),
            )
            .await?;
        Ok(d["id"].as_i64().unwrap_or_default())
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
            let d = self
                .call(
                    reqwest::Method::GET,
                    &format!("/api/deployments/{id}"),
                    None,
                )
                .await?;
            let status = d["status"].as_str().unwrap_or("").to_owned();
            let mut line = super::deploy::progress_line(&d);
            if sample && d["current_lifecycle_event"] == "AllowTraffic" {
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
            match status.as_str() {
                "Succeeded" => return Ok(()),
                "Failed" | "Stopped" => {
                    return Err(CliError::Deployment(format!(
                        "deployment {id} {status}: {}",
                        d["error"]["message"].as_str().unwrap_or("")
                    )));
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(if sample { 100 } else { 200 })).await
                }
            }
        }
    }
}
