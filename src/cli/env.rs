//! The release policy of an environment from the command line: the flags
//! `env create` and `env update` share, and `env update` itself.

use super::client::{ApiClient, CliError, segment};
use super::output::Output;
use clap::Args;
use std::path::{Path, PathBuf};
use switchyard_api::environments::Environment;
use switchyard_api::release_policies::{ApprovalPolicyBody, ChangeEnvironment, Source};

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

/// The policy settings given, in the API's shape; `None` where not given.
pub(super) struct Policy {
    pub source: Option<Source>,
    pub webhook_secret: Option<String>,
    pub approval_policy: Option<ApprovalPolicyBody>,
}

impl PolicyArgs {
    pub(super) fn policy(&self) -> Result<Policy, CliError> {
        Ok(Policy {
            source: match (&self.source_repo, &self.branch) {
                (Some(repo), Some(branch)) => Some(Source {
                    repo: repo.clone(),
                    branch: branch.clone(),
                }),
                _ => None,
            },
            webhook_secret: self
                .webhook_secret_file
                .as_deref()
                .map(read_secret)
                .transpose()?,
            approval_policy: self.approvals.map(|required| ApprovalPolicyBody {
                required,
                allow_self_approval: self.allow_self_approval,
            }),
        })
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
    let policy = args.policy.policy()?;
    // `Some(None)` clears; `None` leaves as is.
    let body = ChangeEnvironment {
        source: if args.no_source {
            Some(None)
        } else {
            policy.source.map(Some)
        },
        webhook_secret: if args.no_webhook_secret {
            Some(None)
        } else {
            policy.webhook_secret.map(Some)
        },
        approval_policy: policy.approval_policy,
        notifications: None,
    };
    if body.source.is_none() && body.webhook_secret.is_none() && body.approval_policy.is_none() {
        return Err(CliError::Usage(
            "nothing to change: give --source-repo and --branch, --webhook-secret-file, \
             --approvals, --no-source or --no-webhook-secret"
                .into(),
        ));
    }
    let changed: Environment = client
        .patch(&format!("/api/environments/{}", segment(&args.name)), &body)
        .await?;
    out.print_environment(&changed)
}
