//! `switchyard deploy`, `status`, `continue` and `rollback`: start or act on
//! a deployment and follow it to the point the caller asked for.

use super::client::{ApiClient, CliError, segment};
use super::output::Output;
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// How far `deploy` follows a deployment before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WaitUntil {
    /// All production traffic is on the new version (before the termination wait).
    TrafficShifted,
    /// The deployment finished, original task set removed.
    Completed,
    /// Return as soon as it started.
    None,
}

/// The exit status of a deployment that failed, stopped or rolled back.
pub const DEPLOYMENT_FAILED: u8 = 5;

pub struct DeployArgs<'a> {
    pub environment: &'a str,
    pub image: &'a str,
    pub version: Option<String>,
    pub commit: Option<&'a str>,
    pub config: Option<&'a str>,
    pub wait_until: WaitUntil,
}

pub async fn deploy(client: &ApiClient, out: Output, args: DeployArgs<'_>) -> Result<(), CliError> {
    let version = args
        .version
        .unwrap_or_else(|| chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string());
    let mut body = json!({"image": args.image, "version": version});
    if let Some(commit) = args.commit {
        body["commit"] = json!(commit);
    }
    if let Some(config) = args.config {
        body["deployment_config"] = json!(config);
    }
    let started = client
        .post(
            &format!(
                "/api/environments/{}/deployments",
                segment(args.environment)
            ),
            &body,
        )
        .await?;
    let id = started["id"].as_i64().unwrap_or_default();
    if out == Output::Table {
        eprintln!(
            "deployment {id} ({}) of {} {} to {} with {}",
            started["codedeploy_id"].as_str().unwrap_or("-"),
            started["release"]["version"].as_str().unwrap_or("-"),
            args.image,
            args.environment,
            started["deployment_config"].as_str().unwrap_or("-")
        );
    }
    if args.wait_until == WaitUntil::None {
        return print(out, &started);
    }
    follow(client, out, id, args.wait_until).await
}

/// Polls the deployment, drawing its progress, until `until` is reached or
/// it ends; a failed or rolled-back deployment is an error.
pub async fn follow(
    client: &ApiClient,
    out: Output,
    id: i64,
    until: WaitUntil,
) -> Result<(), CliError> {
    let live = out == Output::Table && std::io::stderr().is_terminal();
    let mut last_line = String::new();
    loop {
        let d = client.get(&format!("/api/deployments/{id}")).await?;
        let status = d["status"].as_str().unwrap_or("");
        let line = progress_line(&d);
        if line != last_line && out == Output::Table {
            if live {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            let _ = std::io::stderr().flush();
            last_line = line;
        }
        let shifted =
            d["green_weight"].as_f64() == Some(100.0) && matches!(status, "Baking" | "Succeeded");
        let done = match status {
            "Succeeded" => true,
            "Failed" | "Stopped" => {
                if live {
                    eprintln!();
                }
                if out == Output::Json {
                    print(out, &d)?;
                }
                let why = d["error"]["message"].as_str().unwrap_or("");
                let rolled = if d["rolled_back"].as_bool() == Some(true) {
                    "; traffic rolled back to the original"
                } else {
                    ""
                };
                return Err(CliError::Deployment(format!(
                    "deployment {id} {}: {why}{rolled}",
                    status.to_lowercase()
                )));
            }
            _ => until == WaitUntil::TrafficShifted && shifted,
        };
        if done {
            if live {
                eprintln!();
            }
            return print(out, &d);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `[######----]  60% green  AllowTraffic  InProgress`
pub fn progress_line(d: &Value) -> String {
    let weight = d["green_weight"].as_f64().unwrap_or(0.0);
    let filled = ((weight / 10.0).round() as usize).min(10);
    format!(
        "[{}{}] {:>3.0}% green  {}  {}",
        "#".repeat(filled),
        "-".repeat(10 - filled),
        weight,
        d["current_lifecycle_event"].as_str().unwrap_or("-"),
        d["status"].as_str().unwrap_or("-")
    )
}

fn print(out: Output, d: &Value) -> Result<(), CliError> {
    match out {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(d).map_err(|e| CliError::Local(e.into()))?
        ),
        Output::Table => println!(
            "{} {} {} {}",
            d["id"],
            d["release"]["version"].as_str().unwrap_or("-"),
            d["status"].as_str().unwrap_or("-"),
            if d["rolled_back"].as_bool() == Some(true) {
                "(rolled back)"
            } else {
                ""
            }
        ),
    }
    Ok(())
}

pub async fn status(client: &ApiClient, out: Output, environment: &str) -> Result<(), CliError> {
    let env = client
        .get(&format!("/api/environments/{}", segment(environment)))
        .await?;
    let list = client
        .get(&format!(
            "/api/environments/{}/deployments?limit=5",
            segment(environment)
        ))
        .await?;
    if out == Output::Json {
        let both = json!({"environment": env, "deployments": list["deployments"]});
        println!(
            "{}",
            serde_json::to_string_pretty(&both).map_err(|e| CliError::Local(e.into()))?
        );
        return Ok(());
    }
    println!(
        "{}  {}  prod {}  test {}",
        environment,
        env["platform"].as_str().unwrap_or("-"),
        env["prod_url"].as_str().unwrap_or("-"),
        env["test_url"].as_str().unwrap_or("-")
    );
    let deployments = list["deployments"].as_array().cloned().unwrap_or_default();
    if deployments.is_empty() {
        println!("no deployments yet");
    }
    for d in deployments {
        println!(
            "{:>5}  {:<12} {:<10} {}  {}  by {} at {}",
            d["id"],
            d["release"]["version"].as_str().unwrap_or("-"),
            d["status"].as_str().unwrap_or("-"),
            if d["rolled_back"].as_bool() == Some(true) {
                "rolled back"
            } else {
                ""
            },
            progress_line(&d),
            d["created_by"].as_str().unwrap_or("-"),
            d["created_at"].as_str().unwrap_or("-"),
        );
    }
    Ok(())
}

pub async fn continue_deployment(
    client: &ApiClient,
    out: Output,
    id: i64,
    wait: &str,
) -> Result<(), CliError> {
    let d = client
        .post(
            &format!("/api/deployments/{id}/continue"),
            &json!({"wait": wait}),
        )
        .await?;
    print(out, &d)
}

/// `rollback 42` stops deployment 42 and rolls it back; `rollback ENV`
/// redeploys the environment's previous release.
pub async fn rollback(
    client: &ApiClient,
    out: Output,
    target: &str,
    wait_until: WaitUntil,
) -> Result<(), CliError> {
    let d = match target.parse::<i64>() {
        Ok(id) => {
            client
                .post(&format!("/api/deployments/{id}/rollback"), &json!({}))
                .await?
        }
        Err(_) => {
            client
                .post(
                    &format!("/api/environments/{}/rollback", segment(target)),
                    &json!({}),
                )
                .await?
        }
    };
    let id = d["id"].as_i64().unwrap_or_default();
    match (target.parse::<i64>().is_ok(), wait_until) {
        (_, WaitUntil::None) => print(out, &d),
        // Stopping with rollback ends as Stopped: that is the success here.
        (true, _) => loop {
            let now = client.get(&format!("/api/deployments/{id}")).await?;
            if matches!(
                now["status"].as_str(),
                Some("Stopped" | "Failed" | "Succeeded")
            ) {
                return print(out, &now);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        },
        (false, until) => follow(client, out, id, until).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines() {
        let d = json!({"green_weight": 30.0, "current_lifecycle_event": "AllowTraffic", "status": "InProgress"});
        assert_eq!(
            progress_line(&d),
            "[###-------]  30% green  AllowTraffic  InProgress"
        );
        assert_eq!(progress_line(&json!({})), "[----------]   0% green  -  -");
    }
}
