//! `switchyard diff ENV VERSION` (or `--image IMAGE`, or `--run ID`): what
//! deploying a release (or a pipeline run's build) would change against
//! what is live, as a unified diff followed by the pushed commits between
//! them.

use super::client::{ApiClient, CliError, segment};
use super::output::Output;
use switchyard_api::diffs::EnvironmentDiff;

pub(super) struct DiffArgs<'a> {
    pub environment: &'a str,
    pub version: Option<&'a str>,
    pub image: Option<&'a str>,
    pub run: Option<i64>,
}

pub(super) async fn run(
    client: &ApiClient,
    out: Output,
    args: DiffArgs<'_>,
) -> Result<(), CliError> {
    // The server checks that exactly one is given, so its message names the field.
    let query: Vec<String> = [
        args.version.map(|v| format!("version={}", segment(v))),
        args.image.map(|i| format!("image={}", segment(i))),
        args.run.map(|r| format!("run={r}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let path = format!(
        "/api/environments/{}/diff?{}",
        segment(args.environment),
        query.join("&")
    );
    let diff: EnvironmentDiff = client.get(&path).await?;
    if out == Output::Json {
        return Output::json(&diff);
    }
    print!("{}", text(&diff));
    Ok(())
}

/// The unified diff, then the commits (newest first) with their messages.
fn text(diff: &EnvironmentDiff) -> String {
    let mut out = diff.unified.clone();
    if diff.commits.is_empty() {
        return out;
    }
    out.push_str("\ncommits:\n");
    for commit in &diff.commits {
        let sha = commit.sha.get(..12).unwrap_or(&commit.sha);
        let message = commit
            .message
            .as_deref()
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("");
        match &commit.author {
            Some(author) => out.push_str(&format!("  {sha} {message} ({author})\n")),
            None => out.push_str(&format!("  {sha} {message}\n")),
        }
    }
    if !diff.commits_complete {
        out.push_str("  … (older pushes were not recorded)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_api::diffs::{Commit, DiffSide};

    #[test]
    fn the_commits_follow_the_unified_diff_with_short_ids() {
        let side = |v: &str| DiffSide {
            version: Some(v.into()),
            image: "shop".into(),
            task_definition_arn: None,
            commit: None,
        };
        let diff = EnvironmentDiff {
            environment: "shop".into(),
            live: side("v1"),
            candidate: side("v2"),
            changes: Default::default(),
            unified: "--- a\n+++ b\n".into(),
            commits: vec![Commit {
                sha: "0123456789abcdef0123".into(),
                author: Some("Ann".into()),
                message: Some("Add NEW\n\nbody".into()),
            }],
            commits_complete: false,
        };
        assert_eq!(
            text(&diff),
            "--- a\n+++ b\n\ncommits:\n  0123456789ab Add NEW (Ann)\n  … (older pushes were not recorded)\n"
        );
    }
}
