//! The release policy of an environment from the command line: the flags
//! `env create` and `env update` share, and `env update` itself.

use super::client::{ApiClient, CliError, segment};
use super::output::Output;
use clap::Args;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// What an environment follows and who must approve its releases.
#[derive(Debug, Args)]
pub(super) struct PolicyArgs {
    /// The git repository to follow: a URL git can fetch, or a path on the
    /// server's host (with --branch).
    #[arg(long, requires = "branch")]
    source_repo: Option<String>,
    /// The branch of --source-repo whose pushes start the pipeline.
    #[arg(long, requires = "source_repo")]
    branch: Option<String>,
    /// Read the webhook secret from this file (an argument would show in
    /// `ps` and the shell history).
    #[arg(long)]
    webhook_secret_file: Option<PathBuf>,
    /// Approvals a release needs before it is deployed (0 to 20; 0 lets
    /// releases through without a vote).
    #[arg(long)]
    approvals: Option<i64>,
    /// Let a release's author approve it too (with --approvals).
    #[arg(long, requires = "approvals")]
    allow_self_approval: bool,
}

impl PolicyArgs {
    /// Adds the settings given to a request body, in the API's shape.
    pub(super) fn add_to(&self, body: &mut Map<String, Value>) -> Result<(), CliError> {
        if let (Some(repo), Some(branch)) = (&self.source_repo, &self.branch) {
            body.insert("source".into(), json!({"repo": repo, "branch": branch}));
        }
        if let Some(path) = &self.webhook_secret_file {
            body.insert("webhook_secret".into(), json!(read_secret(path)?));
        }
        if let Some(required) = self.approvals {
            body.insert(
                "approval_policy".into(),
                json!({"required": required, "allow_self_approval": self.allow_self_approval}),
            );
        }
        Ok(())
    }
}

/// The file's text without the line break an editor or `echo` leaves at
/// its end.
fn read_secret(path: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Usage(format!(
            "cannot read the webhook secret file {}: {e}",
            path.display()
        ))
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

#[derive(Debug, Args)]
pub(super) struct UpdateEnvArgs {
    name: String,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Stop following a repository (pushes no longer start anything).
    #[arg(long, conflicts_with_all = ["source_repo", "branch"])]
    no_source: bool,
    /// Remove the webhook secret (webhooks are then refused).
    #[arg(long, conflicts_with = "webhook_secret_file")]
    no_webhook_secret: bool,
}

/// `switchyard env update NAME ...`: changes only what is given.
pub(super) async fn update(
    client: &ApiClient,
    out: Output,
    args: &UpdateEnvArgs,
) -> Result<(), CliError> {
    let mut body = Map::new();
    args.policy.add_to(&mut body)?;
    if args.no_source {
        body.insert("source".into(), Value::Null);
    }
    if args.no_webhook_secret {
        body.insert("webhook_secret".into(), Value::Null);
    }
    if body.is_empty() {
        return Err(CliError::Usage(
            "nothing to change: give --source-repo and --branch, --webhook-secret-file, \
             --approvals, --no-source or --no-webhook-secret"
                .into(),
        ));
    }
    let changed = client
        .patch(
            &format!("/api/environments/{}", segment(&args.name)),
            &Value::Object(body),
        )
        .await?;
    out.print_environment(&changed)
}
