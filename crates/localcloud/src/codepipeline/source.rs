//! Source actions (CodeCommit, CodeStarSourceConnection): a fresh `git
//! clone` of the repository for every execution, checked out at the branch
//! head or at the commit StartPipelineExecution asked for. The output
//! artifact's revision is the commit; its summary, the commit message.

use super::super::LocalCloud;
use super::super::state::ArtifactRecord;
use super::engine::{self, ActionFailure, ActionSuccess, Launch};
use super::process::{self, Finished};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// A clone that takes longer than this fails.
const GIT_TIME_LIMIT: Duration = Duration::from_secs(10 * 60);

struct Job {
    provider: String,
    repository: String,
    branch: String,
    commit: Option<String>,
    keep_git: bool,
    output: String,
    dir: PathBuf,
    configuration: BTreeMap<String, String>,
}

pub async fn run(cloud: Arc<LocalCloud>, launch: Launch) {
    let Some(job) = cloud.read(|s| job(s, &cloud, &launch)) else {
        return;
    };
    let outcome = fetch(&cloud, &launch, &job).await;
    if outcome.is_err() {
        let _ = std::fs::remove_dir_all(&job.dir);
    }
    engine::report(&cloud, &launch, outcome);
}

fn job(s: &super::super::state::CloudState, cloud: &LocalCloud, launch: &Launch) -> Option<Job> {
    let (e, run, action) = launch.find(s)?;
    let config = &run.resolved_configuration;
    let repository = config
        .get("RepositoryName")
        .or_else(|| config.get("FullRepositoryId"))
        .cloned()
        .unwrap_or_default();
    let output = action.output_artifacts.first()?.clone();
    Some(Job {
        provider: action.provider.clone(),
        repository,
        branch: config.get("BranchName").cloned().unwrap_or_default(),
        commit: e.source_revisions.get(&action.name).cloned(),
        keep_git: config
            .get("OutputArtifactFormat")
            .is_some_and(|f| f == "CODEBUILD_CLONE_REF"),
        dir: super::execution_dir(cloud.data_dir(), &e.id)
            .join("artifacts")
            .join(&run.id)
            .join(&output),
        output,
        configuration: config.clone(),
    })
}

/// What git can fetch: a URL or an absolute path.
fn fetchable(repository: &str) -> bool {
    !repository.starts_with('-')
        && (repository.starts_with('/')
            || repository.contains("://")
            || repository.starts_with("git@"))
}

async fn fetch(
    cloud: &LocalCloud,
    launch: &Launch,
    job: &Job,
) -> Result<ActionSuccess, ActionFailure> {
    let field = if job.provider == "CodeCommit" {
        "RepositoryName"
    } else {
        "FullRepositoryId"
    };
    if !fetchable(&job.repository) {
        return Err(ActionFailure::new(format!(
            "{field} {:?} is not a repository the local cloud can fetch: give a git URL or an absolute path",
            job.repository
        )));
    }
    if job.branch.starts_with('-') {
        return Err(ActionFailure::new(format!(
            "BranchName {:?} is not a branch name",
            job.branch
        )));
    }
    if let Some(commit) = &job.commit
        && (!(4..=64).contains(&commit.len()) || !commit.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(ActionFailure::new(format!("{commit:?} is not a commit id")));
    }
    if let Some(parent) = job.dir.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| ActionFailure::new(format!("cannot create {}: {e}", parent.display())))?;
    }
    let _ = std::fs::remove_dir_all(&job.dir);
    let cancelled = || !engine::still_running(cloud, launch);

    let mut clone = git(cloud.data_dir());
    clone
        .args(["clone", "--quiet", "--branch", &job.branch, "--"])
        .arg(&job.repository)
        .arg(&job.dir);
    git_run(clone, &cancelled).await.map_err(|why| {
        ActionFailure::new(format!(
            "Could not fetch branch {} of {}: {why}",
            job.branch, job.repository
        ))
    })?;
    if let Some(commit) = &job.commit {
        let mut checkout = git(&job.dir);
        checkout.args(["checkout", "--quiet", "--detach", commit]);
        git_run(checkout, &cancelled).await.map_err(|why| {
            ActionFailure::new(format!(
                "Commit {commit} is not in {}: {why}",
                job.repository
            ))
        })?;
    }
    let mut log = git(&job.dir);
    log.args(["log", "-1", "--format=%H%x00%ct%x00%aI%x00%B"]);
    let described = git_run(log, &cancelled)
        .await
        .map_err(|why| ActionFailure::new(format!("cannot read the commit: {why}")))?;
    let mut parts = described.splitn(4, '\0');
    let (sha, committed, authored, message) = (
        parts.next().unwrap_or_default().trim().to_owned(),
        parts
            .next()
            .unwrap_or_default()
            .trim()
            .parse::<i64>()
            .unwrap_or(0),
        parts.next().unwrap_or_default().trim().to_owned(),
        parts.next().unwrap_or_default().trim().to_owned(),
    );
    if !job.keep_git {
        // CODE_ZIP, the default, is the files without the repository.
        std::fs::remove_dir_all(job.dir.join(".git"))
            .map_err(|e| ActionFailure::new(format!("cannot strip .git from the source: {e}")))?;
    }

    let mut variables = BTreeMap::from([
        ("CommitId".to_owned(), sha.clone()),
        ("CommitMessage".to_owned(), message.clone()),
        ("BranchName".to_owned(), job.branch.clone()),
        ("AuthorDate".to_owned(), authored),
    ]);
    if job.provider == "CodeCommit" {
        variables.insert("RepositoryName".into(), job.repository.clone());
    } else {
        variables.insert("FullRepositoryId".into(), job.repository.clone());
        if let Some(arn) = job.configuration.get("ConnectionArn") {
            variables.insert("ConnectionArn".into(), arn.clone());
        }
    }
    Ok(ActionSuccess {
        summary: Some(engine::truncate(&message, 2048)),
        artifacts: vec![ArtifactRecord {
            name: job.output.clone(),
            dir: job.dir.clone(),
            action_execution_id: launch.run.clone(),
            revision_id: Some(sha),
            revision_summary: Some(engine::truncate(&message, 2048)),
            revision_created: Some(committed * 1000),
            created_at: super::super::now_millis(),
        }],
        output_variables: variables,
    })
}

/// git with nothing of the surroundings that would change what it does:
/// no prompts, no repository inherited from the environment.
fn git(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs git; its stdout, or why it failed (git's own last words).
async fn git_run(command: Command, cancelled: &impl Fn() -> bool) -> Result<String, String> {
    match process::run(command, GIT_TIME_LIMIT, cancelled).await {
        Ok(Finished::Exited(output)) if output.status.success() => {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        Ok(Finished::Exited(output)) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let said: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let said = said[said.len().saturating_sub(3)..].join(" ");
            Err(if said.is_empty() {
                format!("git {}", process::describe(&output.status))
            } else {
                said
            })
        }
        Ok(Finished::TimedOut) => Err(format!(
            "git did not finish within {} minutes",
            GIT_TIME_LIMIT.as_secs() / 60
        )),
        Ok(Finished::Cancelled) => Err("the action was abandoned".into()),
        Err(e) => Err(format!("cannot run git: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetchable_repositories() {
        assert!(fetchable("/srv/git/app.git"));
        assert!(fetchable("https://example.com/app.git"));
        assert!(fetchable("file:///srv/app"));
        assert!(fetchable("git@example.com:app.git"));
        assert!(!fetchable("my-repo"));
        assert!(!fetchable("--upload-pack=evil"));
    }
}
