//! `switchyard stack provision|status|destroy ENV [--wait]`.

use super::client::{ApiClient, CliError, segment};
use super::output::{Output, table, text};
use clap::Subcommand;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub(super) enum StackCommand {
    /// Provision the environment's stack (admin): load balancer, service,
    /// CodeDeploy group and, when it follows a repository, the pipeline.
    /// Provisioning again after a failure resumes.
    Provision {
        environment: String,
        /// Wait until the stack is ready, printing its log as it grows.
        #[arg(long)]
        wait: bool,
    },
    /// The stack's status, URLs and latest log lines.
    Status { environment: String },
    /// Destroy the stack (admin); the environment and its history stay.
    Destroy {
        environment: String,
        /// Wait until the stack is destroyed, printing its log as it grows.
        #[arg(long)]
        wait: bool,
    },
}

/// Log lines `status` shows.
const LOG_TAIL: usize = 10;

pub(super) async fn run(
    client: &ApiClient,
    out: Output,
    command: StackCommand,
) -> Result<(), CliError> {
    match command {
        StackCommand::Provision { environment, wait } => {
            let path = stack_path(&environment);
            let started = client.post(&path, &json!({})).await?;
            if wait {
                return finish(client, out, &environment, "ready").await;
            }
            if out == Output::Json {
                return Output::json(&started);
            }
            println!(
                "provisioning the stack of {environment} ({}); follow it with `switchyard stack \
                 status {environment}`",
                text(&started["operation_id"])
            );
            Ok(())
        }
        StackCommand::Status { environment } => {
            let stack = client.get(&stack_path(&environment)).await?;
            print_stack(out, &stack)
        }
        StackCommand::Destroy { environment, wait } => {
            let started = client.delete(&stack_path(&environment)).await?;
            if wait {
                return finish(client, out, &environment, "destroyed").await;
            }
            if out == Output::Json {
                return Output::json(&started);
            }
            println!(
                "destroying the stack of {environment} ({}); follow it with `switchyard stack \
                 status {environment}`",
                text(&started["operation_id"])
            );
            Ok(())
        }
    }
}

fn stack_path(environment: &str) -> String {
    format!("/api/environments/{}/stack", segment(environment))
}

/// Polls the stack until its operation ends, printing new log lines on
/// stderr; a stack that ends anywhere but `goal` is a failure (exit 5).
async fn finish(
    client: &ApiClient,
    out: Output,
    environment: &str,
    goal: &str,
) -> Result<(), CliError> {
    let mut shown_lines = 0;
    loop {
        let stack = client.get(&stack_path(environment)).await?;
        let lines: Vec<&str> = stack["log"].as_str().unwrap_or_default().lines().collect();
        for line in lines.iter().skip(shown_lines) {
            eprintln!("{line}");
        }
        shown_lines = shown_lines.max(lines.len());
        match stack["status"].as_str().unwrap_or_default() {
            "provisioning" | "destroying" => tokio::time::sleep(Duration::from_millis(500)).await,
            status if status == goal => return print_stack(out, &stack),
            status => {
                if out == Output::Json {
                    Output::json(&stack)?;
                }
                let last = lines.last().copied().unwrap_or("the log is empty");
                return Err(CliError::Deployment(format!(
                    "the stack of {environment} is {status}, not {goal}: {last}"
                )));
            }
        }
    }
}

fn print_stack(out: Output, stack: &Value) -> Result<(), CliError> {
    if out == Output::Json {
        return Output::json(stack);
    }
    let outputs = &stack["outputs"];
    let rows: Vec<Vec<String>> = [
        ("status", &stack["status"]),
        ("operation", &stack["operation_id"]),
        ("started by", &stack["started_by"]),
        ("started", &stack["started_at"]),
        ("finished", &stack["finished_at"]),
        ("prod url", &outputs["prod_url"]),
        ("test url", &outputs["test_url"]),
    ]
    .into_iter()
    .map(|(field, value)| vec![field.to_owned(), text(value)])
    .collect();
    print!("{}", table(&["FIELD", "VALUE"], &rows));
    let log: Vec<&str> = stack["log"].as_str().unwrap_or_default().lines().collect();
    if !log.is_empty() {
        println!("log (last {} lines):", log.len().min(LOG_TAIL));
        for line in &log[log.len().saturating_sub(LOG_TAIL)..] {
            println!("  {line}");
        }
    }
    Ok(())
}
