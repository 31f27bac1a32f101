//! Runs terraform commands in a stack's directory, streaming their
//! machine-readable output to the stack log.

use super::*;
use crate::provision::Log;
use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Collects log lines in memory (a plan answers them instead of storing).
#[derive(Debug, Default)]
pub(super) struct Collect(pub(super) Vec<String>);

impl Log for Collect {
    async fn line(&mut self, line: String) {
        self.0.push(line);
    }
}

/// Terraform's plugin cache is not safe for concurrent installs, so the
/// inits of different stacks take turns (they are short once it is warm).
pub(super) static INIT_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs terraform commands in one stack's directory.
pub(super) struct Runner<'a> {
    target: &'a Target<'a>,
    stack: &'a StackDir,
    cli_config: PathBuf,
    var_files: Vec<PathBuf>,
    scrubber: Scrubber,
}

impl<'a> Runner<'a> {
    /// Writes the module, the environment's variables and the CLI config.
    pub(super) fn prepare(
        target: &'a Target<'a>,
        stack: &'a StackDir,
        variables_file: &str,
    ) -> anyhow::Result<Runner<'a>> {
        std::fs::create_dir_all(stack.path())?;
        stack.write_module()?;
        let mut scrubber = Scrubber::default();
        scrubber.add_aws_environment();
        let mut var_files = Vec::new();
        if let Some(file) = &target.config.var_file {
            scrubber.add_sensitive_variables(&read_var_file(file)?);
            var_files.push(file.clone());
        }
        var_files.push(stack.write_json(
            ENVIRONMENT_VARIABLES,
            &environment_variables(target.env, target.endpoint_url),
        )?);
        let own = stack.path().join(variables_file);
        if own.exists() {
            let text = std::fs::read_to_string(&own)?;
            let variables: Map<String, Value> = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a JSON object", own.display()))?;
            scrubber.add_sensitive_variables(&variables);
            var_files.push(own);
        }
        let cli_config = write_cli_config(target.data_dir, target.config)?;
        Ok(Runner {
            target,
            stack,
            cli_config,
            var_files,
            scrubber,
        })
    }

    pub(super) fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.target.config.binary);
        command
            .args(args)
            .current_dir(self.stack.path())
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        // Debug logging would print requests into the stack's log; extra
        // CLI arguments would change what the commands do.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("TF_LOG") || name.starts_with("TF_CLI_ARGS") {
                command.env_remove(name.as_ref());
            }
        }
        command.env_remove("TF_DATA_DIR").env_remove("TF_WORKSPACE");
        let env = self.target.env;
        if let Some(region) = &env.region {
            command
                .env("AWS_REGION", region)
                .env("AWS_DEFAULT_REGION", region);
        }
        if let Some(profile) = &env.aws_profile {
            // The environment's profile wins over keys in the server's environment.
            command
                .env("AWS_PROFILE", profile)
                .env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY")
                .env_remove("AWS_SESSION_TOKEN");
        }
        command
    }

    /// The arguments, then a `-var-file` for each variable file in order:
    /// the server's, the environment's, the stack's own (later ones win).
    pub(super) fn with_var_files(&self, args: &[&str]) -> Vec<String> {
        args.iter()
            .map(|a| (*a).to_owned())
            .chain(
                self.var_files
                    .iter()
                    .map(|f| format!("-var-file={}", f.display())),
            )
            .collect()
    }

    /// Runs one command, streaming its output to `log`; answers the plan's
    /// change summary when there was one.
    pub(super) async fn terraform(
        &mut self,
        what: &str,
        args: &[&str],
        log: &mut impl Log,
    ) -> anyhow::Result<Option<Value>> {
        // A saved plan carries its variables; init takes none.
        let args: Vec<String> = if matches!(what, "plan" | "destroy") {
            self.with_var_files(args)
        } else {
            args.iter().map(|a| (*a).to_owned()).collect()
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _turn = if what == "init" {
            Some(INIT_TURN.lock().await)
        } else {
            None
        };
        log.line(format!("$ terraform {}", args.join(" "))).await;
        let started = Instant::now();
        let mut child = self
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(&self.target.config.binary, e))?;
        let (sender, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stdout = child.stdout.take().context("stdout is piped")?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let forward = |stream: Box<dyn tokio::io::AsyncRead + Send + Unpin>| {
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            })
        };
        let out_task = forward(Box::new(stdout));
        let err_task = forward(Box::new(stderr));
        drop(sender);
        let mut summary = None;
        // Whatever arrived meanwhile goes to the log in one write.
        while let Some(first) = lines.recv().await {
            let mut batch = Vec::new();
            let mut next = Some(first);
            while let Some(raw) = next {
                for line in ui_lines(&raw, &mut summary) {
                    batch.push(self.scrubber.scrub(&line));
                }
                next = lines.try_recv().ok();
            }
            if !batch.is_empty() {
                log.lines(batch).await;
            }
        }
        let _ = tokio::join!(out_task, err_task);
        let status = child.wait().await?;
        let took = started.elapsed();
        if !status.success() {
            log.line(format!(
                "terraform {what} failed ({status}) after {:.3} s",
                took.as_secs_f64()
            ))
            .await;
            bail!("terraform {what} failed; its errors are in the stack's log");
        }
        log.line(format!(
            "terraform {what} finished in {:.3} s",
            took.as_secs_f64()
        ))
        .await;
        Ok(summary)
    }

    /// Runs one command and answers its stdout (machine-readable output,
    /// not for the log); the log gets how long it took.
    pub(super) async fn capture(
        &self,
        args: &[&str],
        log: &mut impl Log,
    ) -> anyhow::Result<String> {
        let started = Instant::now();
        let output = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|e| spawn_error(&self.target.config.binary, e))?;
        if !output.status.success() {
            bail!(
                "terraform {} failed: {}",
                args.first().copied().unwrap_or_default(),
                self.scrubber
                    .scrub(String::from_utf8_lossy(&output.stderr).trim())
            );
        }
        log.line(format!(
            "terraform {} finished in {:.3} s",
            args.first().copied().unwrap_or_default(),
            started.elapsed().as_secs_f64()
        ))
        .await;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    pub(super) async fn state_list(&self, log: &mut impl Log) -> anyhow::Result<Vec<String>> {
        if !self.stack.path().join("terraform.tfstate").exists() {
            return Ok(Vec::new());
        }
        let listed = self.capture(&["state", "list"], log).await?;
        Ok(listed.lines().map(str::to_owned).collect())
    }

    /// Reads the outputs and maps them onto what the environment drives.
    pub(super) async fn outputs(&self, log: &mut impl Log) -> anyhow::Result<Provisioned> {
        let text = self.capture(&["output", "-json", "-no-color"], log).await?;
        let all: Map<String, Value> = serde_json::from_str(&text)
            .context("terraform output -json answered no JSON object")?;
        let provisioned = map_outputs(&all);
        log.line(format!(
            "ready: production {} test {}",
            provisioned.outputs.prod_url, provisioned.outputs.test_url
        ))
        .await;
        Ok(provisioned)
    }
}

pub(super) fn spawn_error(binary: &Path, error: std::io::Error) -> anyhow::Error {
    if error.kind() == std::io::ErrorKind::NotFound {
        anyhow!(
            "cannot run {}: not found; install Terraform 1.5 or newer or point --terraform at it",
            binary.display()
        )
    } else {
        anyhow!("cannot run {}: {error}", binary.display())
    }
}

/// One line of Terraform's machine-readable UI (`-json`) as log lines;
/// anything else passes as it is. Remembers the plan's change summary.
pub(super) fn ui_lines(raw: &str, summary: &mut Option<Value>) -> Vec<String> {
    let Ok(message) = serde_json::from_str::<Value>(raw) else {
        return vec![raw.to_owned()];
    };
    let Some(kind) = message["type"].as_str() else {
        return vec![raw.to_owned()];
    };
    let text = message["@message"].as_str().unwrap_or_default();
    match kind {
        "diagnostic" => {
            let d = &message["diagnostic"];
            let severity = match d["severity"].as_str() {
                Some("error") => "Error",
                _ => "Warning",
            };
            let mut lines = vec![format!(
                "{severity}: {}",
                d["summary"].as_str().unwrap_or(text)
            )];
            if let Some(file) = d["range"]["filename"].as_str() {
                lines.push(format!(
                    "  on {file} line {}",
                    d["range"]["start"]["line"].as_u64().unwrap_or(0)
                ));
            }
            if let Some(address) = d["address"].as_str() {
                lines.push(format!("  with {address}"));
            }
            for detail in d["detail"].as_str().unwrap_or_default().lines() {
                if !detail.trim().is_empty() {
                    lines.push(format!("  {detail}"));
                }
            }
            lines
        }
        "change_summary" => {
            *summary = Some(message["changes"].clone());
            vec![text.to_owned()]
        }
        _ if text.is_empty() => Vec::new(),
        _ => vec![text.to_owned()],
    }
}

/// How long Terraform itself took, summed from a stack log's
/// "terraform ... finished in N s" lines (the benchmark reads these).
pub fn terraform_seconds(log: &str) -> Vec<(String, f64)> {
    log.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("terraform ")?;
            let (what, rest) = rest.split_once(' ')?;
            let seconds = rest
                .strip_prefix("finished in ")
                .or_else(|| rest.split_once(" after ").map(|(_, s)| s))?
                .strip_suffix(" s")?;
            Some((what.to_owned(), seconds.parse().ok()?))
        })
        .collect()
}
