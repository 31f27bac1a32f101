//! `switchyard deploy`, `status`, `continue` and `rollback`: start or act on
//! a deployment and follow it to the point the caller asked for.

use super::client::{ApiClient, CliError, segment};
use super::output::Output;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::time::Duration;
use switchyard_api::deployments::{
    BreakGlass, ContinueBody, Deployment, DeploymentList, EnvironmentRollbackBody,
    StartDeploymentBody, Wait,
};
use switchyard_api::environments::Environment;

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
    /// Why an admin deploys through a freeze.
    pub break_glass: Option<&'a str>,
}

/// The body part that breaks a freeze's glass, when a reason is given.
pub fn break_glass(reason: Option<&str>) -> Option<BreakGlass> {
    reason.map(|reason| BreakGlass {
        reason: reason.to_owned(),
    })
}

pub async fn deploy(client: &ApiClient, out: Output, args: DeployArgs<'_>) -> Result<(), CliError> {
    let version = args
        .version
        .unwrap_or_else(|| chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string());
    let body = StartDeploymentBody {
        image: args.image.to_owned(),
        version,
        commit: args.commit.map(str::to_owned),
        author: None,
        message: None,
        deployment_config: args.config.map(str::to_owned),
        break_glass: break_glass(args.break_glass),
    };
    let started: Deployment = client
        .post(
            &format!(
                "/api/environments/{}/deployments",
                segment(args.environment)
            ),
            &body,
        )
        .await?;
    let id = started.id;
    if out == Output::Table {
        eprintln!(
            "deployment {id} ({}) of {} {} to {} with {}",
            started
                .service_deployment_arn
                .as_deref()
                .or(started.codedeploy_id.as_deref())
                .unwrap_or("-"),
            started.release.version,
            args.image,
            args.environment,
            started.deployment_config
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
        let d: Deployment = client.get(&format!("/api/deployments/{id}")).await?;
        let status = d.status.as_str();
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
        let shifted = d.green_weight == 100.0 && matches!(status, "Baking" | "Succeeded");
        let done = match status {
            "Succeeded" => true,
            "Failed" | "Stopped" => {
                if live {
                    eprintln!();
                }
                if out == Output::Json {
                    print(out, &d)?;
                }
                let why = d.error.as_ref().map_or("", |e| e.message.as_str());
                let rolled = if d.rolled_back {
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
pub fn progress_line(d: &Deployment) -> String {
    let weight = d.green_weight;
    let filled = ((weight / 10.0).round() as usize).min(10);
    format!(
        "[{}{}] {:>3.0}% green  {}  {}",
        "#".repeat(filled),
        "-".repeat(10 - filled),
        weight,
        d.current_lifecycle_event.as_deref().unwrap_or("-"),
        match &d.ecs_status {
            Some(ecs) => format!("{} ({ecs})", d.status),
            None => d.status.clone(),
        }
    )
}

fn print(out: Output, d: &Deployment) -> Result<(), CliError> {
    match out {
        Output::Json => Output::json(d)?,
        Output::Table => println!(
            "{} {} {} {}",
            d.id,
            d.release.version,
            d.status,
            if d.rolled_back { "(rolled back)" } else { "" }
        ),
    }
    Ok(())
}

pub async fn status(client: &ApiClient, out: Output, environment: &str) -> Result<(), CliError> {
    let env: Environment = client
        .get(&format!("/api/environments/{}", segment(environment)))
        .await?;
    let list: DeploymentList = client
        .get(&format!(
            "/api/environments/{}/deployments?limit=5",
            segment(environment)
        ))
        .await?;
    if out == Output::Json {
        /// What `status --output json` prints: both answers in one object.
        #[derive(Serialize)]
        struct Status<'a> {
            environment: &'a Environment,
            deployments: &'a [Deployment],
        }
        return Output::json(&Status {
            environment: &env,
            deployments: &list.deployments,
        });
    }
    println!(
        "{}  {}  prod {}  test {}",
        environment,
        env.platform,
        env.prod_url.as_deref().unwrap_or("-"),
        env.test_url.as_deref().unwrap_or("-")
    );
    if list.deployments.is_empty() {
        println!("no deployments yet");
    }
    for d in &list.deployments {
        // The id unpadded, as it has always printed.
        println!(
            "{}  {:<12} {:<10} {}  {}  by {} at {}",
            d.id,
            d.release.version,
            d.status,
            if d.rolled_back { "rolled back" } else { "" },
            progress_line(d),
            d.created_by,
            d.created_at,
        );
    }
    Ok(())
}

pub async fn continue_deployment(
    client: &ApiClient,
    out: Output,
    id: i64,
    wait: Wait,
    break_glass: Option<BreakGlass>,
) -> Result<(), CliError> {
    let body = ContinueBody { wait, break_glass };
    let d: Deployment = client
        .post(&format!("/api/deployments/{id}/continue"), &body)
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
    let d: Deployment = match target.parse::<i64>() {
        // This endpoint takes no body; an empty object is what it always got.
        Ok(id) => {
            client
                .post(
                    &format!("/api/deployments/{id}/rollback"),
                    &serde_json::Map::new(),
                )
                .await?
        }
        Err(_) => {
            client
                .post(
                    &format!("/api/environments/{}/rollback", segment(target)),
                    &EnvironmentRollbackBody::default(),
                )
                .await?
        }
    };
    let id = d.id;
    match (target.parse::<i64>().is_ok(), wait_until) {
        (_, WaitUntil::None) => print(out, &d),
        // Stopping with rollback ends as Stopped: that is the success here.
        (true, _) => loop {
            let now: Deployment = client.get(&format!("/api/deployments/{id}")).await?;
            if matches!(now.status.as_str(), "Stopped" | "Failed" | "Succeeded") {
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

    fn deployment(green_weight: f64, lifecycle_event: Option<&str>, status: &str) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "id": 1, "environment": "demo",
            "release": {"id": 1, "version": "v1", "image": "static:/srv/v1", "commit": null},
            "controller": "codedeploy", "codedeploy_id": null, "service_deployment_arn": null,
            "deployment_config": "CodeDeployDefault.ECSAllAtOnce",
            "status": status, "ecs_status": null, "rolled_back": false, "hooks": [],
            "current_lifecycle_event": lifecycle_event, "lifecycle_events": [],
            "task_sets": {"blue": null, "green": null}, "green_weight": green_weight,
            "traffic_samples": [], "planned_schedule": [], "error": null, "alarms": [], "metric_gate": [],
            "created_by": "admin", "created_at": "2025-11-27T08:00:00.000Z",
            "updated_at": "2025-11-27T08:00:00.000Z", "completed_at": null,
        }))
        .unwrap()
    }

    #[test]
    fn progress_lines() {
        assert_eq!(
            progress_line(&deployment(30.0, Some("AllowTraffic"), "InProgress")),
            "[###-------]  30% green  AllowTraffic  InProgress"
        );
        assert_eq!(
            progress_line(&deployment(0.0, None, "Created")),
            "[----------]   0% green  -  Created"
        );
    }
}
