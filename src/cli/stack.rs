//! `switchyard stack provision|status|destroy ENV [--wait]`.

use super::client::{ApiClient, CliError, segment};
use super::output::{Output, or_dash, table};
use clap::Subcommand;
use std::time::Duration;
use switchyard_api::stacks::{Operation, Stack, StackRequest};

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
            let started: Operation = client.post(&path, &StackRequest::default()).await?;
            if wait {
                return finish(client, out, &environment, "ready").await;
            }
            if out == Output::Json {
                return Output::json(&started);
            }
            println!(
                "provisioning the stack of {environment} ({}); follow it with `switchyard stack \
                 status {environment}`",
                started.operation_id
            );
            Ok(())
        }
        StackCommand::Status { environment } => {
            let stack: Stack = client.get(&stack_path(&environment)).await?;
            print_stack(out, &stack)
        }
        StackCommand::Destroy { environment, wait } => {
            let started: Operation = client.delete(&stack_path(&environment)).await?;
            if wait {
                return finish(client, out, &environment, "destroyed").await;
            }
            if out == Output::Json {
                return Output::json(&started);
            }
            println!(
                "destroying the stack of {environment} ({}); follow it with `switchyard stack \
                 status {environment}`",
                started.operation_id
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
        let stack: Stack = client.get(&stack_path(environment)).await?;
        let lines: Vec<&str> = stack.log.lines().collect();
        for line in lines.iter().skip(shown_lines) {
            eprintln!("{line}");
        }
        shown_lines = shown_lines.max(lines.len());
        match stack.status.as_str() {
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

fn print_stack(out: Output, stack: &Stack) -> Result<(), CliError> {
    if out == Output::Json {
        return Output::json(stack);
    }
    // The outputs are whatever the stack made; the URLs are among them once it is ready.
    let output = |name: &str| or_dash(stack.outputs[name].as_str());
    let rows: Vec<Vec<String>> = [
        ("status", stack.status.clone()),
        ("operation", or_dash(stack.operation_id.as_ref())),
        ("started by", or_dash(stack.started_by.as_ref())),
        ("started", or_dash(stack.started_at.as_ref())),
        ("finished", or_dash(stack.finished_at.as_ref())),
        ("prod url", output("prod_url")),
        ("test url", output("test_url")),
    ]
    .into_iter()
    .map(|(field, value)| vec![field.to_owned(), value])
    .collect();
    print!("{}", table(&["FIELD", "VALUE"], &rows));
    let log: Vec<&str> = stack.log.lines().collect();
    if !log.is_empty() {
        println!("log (last {} lines):", log.len().min(LOG_TAIL));
        for line in &log[log.len().saturating_sub(LOG_TAIL)..] {
            println!("  {line}");
        }
    }
    Ok(())
}
