//! Local functions: the stand-ins for Lambda functions that deployment
//! hooks invoke (CodeDeploy lifecycle hooks, ECS lifecycle hooks of type
//! AWS_LAMBDA). A function is a command line registered with the local
//! cloud; it runs with the local cloud as its AWS endpoint and reports by
//! its exit status, or by calling the controller's API itself.

use crate::LocalCloud;
use crate::state::REGION;
use std::path::Path;

/// Runs the registered function `name` with `env`, its output going to a
/// log named after `invocation_id`. `Err` carries what to tell the user:
/// the log's tail, or why it could not run.
pub async fn invoke(
    cloud: &LocalCloud,
    name: &str,
    invocation_id: &str,
    env: &[(&str, &str)],
) -> Result<(), String> {
    let Some(argv) = cloud.read(|s| s.functions.get(name).cloned()) else {
        return Err(format!(
            "function {name} is not registered with the local cloud"
        ));
    };
    let log_dir = cloud.data_dir.join("hooks");
    let _ = std::fs::create_dir_all(&log_dir);
    let log = log_dir.join(format!("{invocation_id}.log"));
    match execute(cloud, &argv, env, &log).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(log_tail(&log)),
        Err(e) => Err(format!("cannot run {}: {e}", argv.join(" "))),
    }
}

async fn execute(
    cloud: &LocalCloud,
    argv: &[String],
    env: &[(&str, &str)],
    log: &Path,
) -> std::io::Result<bool> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let out = std::fs::File::create(log)?;
    let status = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .env("AWS_ENDPOINT_URL", cloud.endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true)
        .status()
        .await?;
    Ok(status.success())
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(10).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    if tail.is_empty() {
        "the function exited with a failure status".into()
    } else {
        tail.join("\n")
    }
}
