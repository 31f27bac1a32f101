//! What a deployment would change, before anyone decides: the candidate's
//! task definition against the live one, and the commits between them.

use super::deployments::service_target_of;
use super::environments::find_environment;
use super::{Actor, App, Error, Result};
use crate::cloud::task_definitions;
use crate::store::webhooks::PushedCommit;
use crate::store::{self, deployments::DeploymentRow, environments::EnvironmentRow};
use switchyard_domain::ForField;
use switchyard_domain::pipeline;
use switchyard_domain::release::ImageRef;
use switchyard_domain::service_deployment::DeploymentController;
use switchyard_domain::task_definition::TaskDefinition;
use switchyard_domain::task_definition_diff::TaskDefinitionDiff;
use switchyard_domain::user::Role;

/// What to compare with what is live.
#[derive(Debug, Clone)]
pub enum Candidate {
    /// A recorded release, by version.
    Version(String),
    /// An image no release names yet.
    Image(String),
    /// A pipeline run's build, waiting before its Deploy stage.
    PipelineRun(i64),
}

/// Where the candidate's task definition comes from.
enum Proposed {
    /// A revision registered already.
    Registered(String),
    /// The family's latest revision with the candidate's image, as a
    /// deployment (or a pipeline's ECS action) registers it.
    WithImage,
    /// A build's task definition template, filled in as CodeDeployToECS does.
    Template(TaskDefinition),
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
        let (candidate_side, proposed) = self.candidate_side(&env, candidate).await?;
        let cloud = self.cloud_for(&env).await?;
        let live_arn = live_deployment
            .task_definition_arn
            .clone()
            .unwrap_or_default();
        let live_definition = task_definitions::describe(&cloud, &live_arn).await?;
        let candidate_definition = match proposed {
            Proposed::Registered(arn) => {
                task_definitions::to_model(&task_definitions::describe(&cloud, &arn).await?)
            }
            Proposed::WithImage => {
                let target = service_target_of(&env)?;
                let latest =
                    task_definitions::describe(&cloud, target.task_definition_family).await?;
                task_definitions::to_model(&task_definitions::revision_with_image(
                    &latest,
                    target.container_name,
                    &candidate_side.image,
                )?)
            }
            Proposed::Template(definition) => definition,
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
                &candidate_definition,
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
    ) -> Result<(DiffSide, Proposed)> {
        match candidate {
            Candidate::Image(image) => Ok((
                DiffSide {
                    version: None,
                    image: ImageRef::parse(image).for_field("image")?.as_string(),
                    task_definition_arn: None,
                    commit: None,
                },
                Proposed::WithImage,
            )),
            Candidate::Version(version) => self.release_side(env, version).await,
            Candidate::PipelineRun(id) => self.pipeline_run_side(env, *id).await,
        }
    }

    /// A recorded release: the revision it registered, or else its image
    /// as a deployment would register it.
    async fn release_side(
        &self,
        env: &EnvironmentRow,
        version: &str,
    ) -> Result<(DiffSide, Proposed)> {
        let release = store::releases::find_by_version(self.store.reader(), env.id, version)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("environment {} has no release {version}", env.name))
            })?;
        let registered =
            store::deployments::latest_with_task_definition(self.store.reader(), release.id)
                .await?
                .and_then(|d| d.task_definition_arn);
        let proposed = match &registered {
            Some(arn) => Proposed::Registered(arn.clone()),
            None => Proposed::WithImage,
        };
        Ok((
            DiffSide {
                version: Some(release.version),
                image: release.image,
                task_definition_arn: registered,
                commit: release.git_commit,
            },
            proposed,
        ))
    }

    /// A pipeline run's build, before its Deploy stage: the image and task
    /// definition the build exported, at the run's commit. CodeDeployToECS
    /// registers the build's task definition template; ECS's action (and a
    /// build that exported no template) puts the image into the service's.
    async fn pipeline_run_side(
        &self,
        env: &EnvironmentRow,
        id: i64,
    ) -> Result<(DiffSide, Proposed)> {
        let run = self.find_run(id).await?;
        if run.environment_id != env.id {
            return Err(Error::NotFound(format!(
                "environment {} has no pipeline run {id}",
                env.name
            )));
        }
        let variables = pipeline::build_variables(&run.stages).ok_or_else(|| {
            Error::Conflict(format!(
                "pipeline run {id} has no succeeded build yet: its image is not known"
            ))
        })?;
        let image = variables
            .get(pipeline::IMAGE_URI_VARIABLE)
            .filter(|image| !image.is_empty())
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "the build of pipeline run {id} exported no {0}: list {0} under \
                     env.exported-variables in the buildspec to see what the run would deploy",
                    pipeline::IMAGE_URI_VARIABLE
                ))
            })?;
        let template = variables.get(pipeline::TASK_DEFINITION_VARIABLE);
        let proposed = match (env.deployment_controller, template) {
            (DeploymentController::CodeDeploy, Some(template)) => {
                Proposed::Template(TaskDefinition::from_template(template, image).map_err(|e| {
                    Error::Conflict(format!(
                        "the {} the build of pipeline run {id} exported is {e}",
                        pipeline::TASK_DEFINITION_VARIABLE
                    ))
                })?)
            }
            _ => Proposed::WithImage,
        };
        Ok((
            DiffSide {
                version: None,
                image: image.clone(),
                task_definition_arn: None,
                commit: run.commit_sha,
            },
            proposed,
        ))
    }

    /// The commits from `candidate` back to `live`, walking recorded pushes
    /// and the commits each one listed, newest first; and whether the walk
    /// reached `live` with every commit listed.
    async fn commits_between(
        &self,
        live: Option<&str>,
        candidate: Option<&str>,
    ) -> Result<(Vec<CommitEntry>, bool)> {
        let (Some(live), Some(mut at)) = (live, candidate.map(str::to_owned)) else {
            return Ok((Vec::new(), false));
        };
        let mut commits = Vec::new();
        let mut every_one_listed = true;
        while at != live && commits.len() < MAX_COMMITS {
            let Some(push) = store::webhooks::push_to(self.store.reader(), &at).await? else {
                return Ok((commits, false));
            };
            let listed = push.listed();
            // Providers cap their lists (GitLab 20, Gitea 5).
            every_one_listed &= push
                .commit_count
                .is_none_or(|brought| brought <= listed.len() as i64);
            for commit in listed {
                if commit.sha == live {
                    return Ok((commits, every_one_listed));
                }
                commits.push(CommitEntry::from(commit));
            }
            match push.before_sha {
                Some(before) => at = before,
                None => return Ok((commits, false)),
            }
        }
        commits.truncate(MAX_COMMITS);
        Ok((commits, every_one_listed && at == live))
    }
}

impl From<PushedCommit> for CommitEntry {
    fn from(c: PushedCommit) -> CommitEntry {
        CommitEntry {
            sha: c.sha,
            author: Some(c.author),
            message: Some(c.message),
        }
    }
}
