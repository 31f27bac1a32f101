//! What a deployment would change, before anyone decides: the candidate's
//! task definition against the live one, and the commits between them.

use super::deployments::service_target_of;
use super::environments::find_environment;
use super::{Actor, App, Error, Result};
use crate::cloud::task_definitions;
use crate::store::{self, deployments::DeploymentRow, environments::EnvironmentRow};
use switchyard_domain::ForField;
use switchyard_domain::release::ImageRef;
use switchyard_domain::task_definition_diff::TaskDefinitionDiff;
use switchyard_domain::user::Role;

/// What to compare with what is live.
#[derive(Debug, Clone)]
pub enum Candidate {
    /// A recorded release, by version.
    Version(String),
    /// An image no release names yet.
    Image(String),
}

/// One side of a diff.
#[derive(Debug, Clone)]
pub struct DiffSide {
    pub version: Option<String>,
    pub image: String,
    /// The registered revision, when there is one (a candidate not yet
    /// deployed has none: it is what a deployment would register).
    pub task_definition_arn: Option<String>,
    pub commit: Option<String>,
}

/// A commit between the live release and the candidate, from a recorded push.
#[derive(Debug, Clone)]
pub struct CommitEntry {
    pub sha: String,
    pub author: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EnvironmentDiff {
    pub environment: String,
    pub live: DiffSide,
    pub candidate: DiffSide,
    pub diff: TaskDefinitionDiff,
    /// Newest first.
    pub commits: Vec<CommitEntry>,
    /// Whether the pushes reach back to the live commit (else the list
    /// stops where the recorded pushes do).
    pub commits_complete: bool,
}

impl EnvironmentDiff {
    /// The unified text, labelled with both sides.
    pub fn unified(&self) -> String {
        self.diff
            .unified(&self.live.label("live"), &self.candidate.label("candidate"))
    }
}

impl DiffSide {
    fn label(&self, role: &str) -> String {
        match &self.version {
            Some(version) => format!("{role} {version} ({})", self.image),
            None => format!("{role} {}", self.image),
        }
    }
}

/// How far back the commit list walks pushes.
const MAX_COMMITS: usize = 200;

impl App {
    pub async fn environment_diff(
        &self,
        actor: &Actor,
        env_name: &str,
        candidate: &Candidate,
    ) -> Result<EnvironmentDiff> {
        actor.require(Role::Viewer, "reading diffs")?;
        let env = find_environment(self.store.reader(), env_name).await?;
        let live_deployment = self.live_deployment(&env).await?;
        let candidate_side = self.candidate_side(&env, candidate).await?;
        let cloud = self.cloud_for(&env).await?;
        let live_arn = live_deployment
            .task_definition_arn
            .clone()
            .unwrap_or_default();
        let live_definition = task_definitions::describe(&cloud, &live_arn).await?;
        let candidate_definition = match &candidate_side.task_definition_arn {
            Some(arn) => task_definitions::describe(&cloud, arn).await?,
            None => {
                let target = service_target_of(&env)?;
                let latest =
                    task_definitions::describe(&cloud, target.task_definition_family).await?;
                task_definitions::revision_with_image(
                    &latest,
                    target.container_name,
                    &candidate_side.image,
                )?
            }
        };
        let (commits, commits_complete) = self
            .commits_between(
                live_deployment.git_commit.as_deref(),
                candidate_side.commit.as_deref(),
            )
            .await?;
        Ok(EnvironmentDiff {
            environment: env.name.clone(),
            diff: TaskDefinitionDiff::between(
                &task_definitions::to_model(&live_definition),
                &task_definitions::to_model(&candidate_definition),
            ),
            live: DiffSide {
                version: Some(live_deployment.version),
                image: live_deployment.image,
                task_definition_arn: Some(live_arn),
                commit: live_deployment.git_commit,
            },
            candidate: candidate_side,
            commits,
            commits_complete,
        })
    }

    /// The environment's last successful deployment that registered a revision.
    async fn live_deployment(&self, env: &EnvironmentRow) -> Result<DeploymentRow> {
        store::deployments::succeeded(self.store.reader(), env.id, 1)
            .await?
            .into_iter()
            .next()
            .filter(|d| d.task_definition_arn.is_some())
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "nothing is live in environment {} yet: no deployment has succeeded there",
                    env.name
                ))
            })
    }

    async fn candidate_side(
        &self,
        env: &EnvironmentRow,
        candidate: &Candidate,
    ) -> Result<DiffSide> {
        match candidate {
            Candidate::Image(image) => Ok(DiffSide {
                version: None,
                image: ImageRef::parse(image).for_field("image")?.as_string(),
                task_definition_arn: None,
                commit: None,
            }),
            Candidate::Version(version) => {
                let release =
                    store::releases::find_by_version(self.store.reader(), env.id, version)
                        .await?
                        .ok_or_else(|| {
                            Error::NotFound(format!(
                                "environment {} has no release {version}",
                                env.name
                            ))
                        })?;
                let registered = store::deployments::latest_with_task_definition(
                    self.store.reader(),
                    release.id,
                )
                .await?;
                Ok(DiffSide {
                    version: Some(release.version),
                    image: release.image,
                    task_definition_arn: registered.and_then(|d| d.task_definition_arn),
                    commit: release.git_commit,
                })
            }
        }
    }

    /// The commits from `candidate` back to `live`, walking recorded pushes
    /// (each push's head commit), newest first; and whether the walk
    /// reached `live`.
    async fn commits_between(
        &self,
        live: Option<&str>,
        candidate: Option<&str>,
    ) -> Result<(Vec<CommitEntry>, bool)> {
        let (Some(live), Some(mut at)) = (live, candidate.map(str::to_owned)) else {
            return Ok((Vec::new(), false));
        };
        let mut commits = Vec::new();
        while at != live && commits.len() < MAX_COMMITS {
            let Some(push) = store::webhooks::push_to(self.store.reader(), &at).await? else {
                return Ok((commits, false));
            };
            commits.push(CommitEntry {
                sha: push.after_sha,
                author: push.author,
                message: push.message,
            });
            match push.before_sha {
                Some(before) => at = before,
                None => return Ok((commits, false)),
            }
        }
        Ok((commits, at == live))
    }
}
