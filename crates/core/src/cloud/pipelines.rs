//! CodePipeline: starting, observing, approving, stopping and retrying
//! executions, and declaring an environment's pipeline.

use super::Cloud;
use super::deployments::{CloudError, cloud_error};
use aws_sdk_codepipeline::types as cp;
pub use switchyard_domain::pipeline::{
    ActionState, ActionStatus, RunStatus, StageState, StageStatus,
};

fn missing(what: &str) -> CloudError {
    CloudError {
        code: None,
        message: format!("{what} answered nothing"),
    }
}

fn millis(t: Option<&aws_sdk_codepipeline::primitives::DateTime>) -> Option<i64> {
    t.and_then(|t| t.to_millis().ok())
}

/// The name of the pipeline's source action (for `sourceRevisions`).
async fn source_action(cloud: &Cloud, pipeline: &str) -> Result<String, CloudError> {
    let declaration = cloud
        .codepipeline
        .get_pipeline()
        .name(pipeline)
        .send()
        .await
        .map_err(cloud_error)?
        .pipeline
        .ok_or_else(|| missing("GetPipeline"))?;
    declaration
        .stages()
        .iter()
        .flat_map(|s| s.actions())
        .find(|a| {
            a.action_type_id()
                .is_some_and(|t| t.category() == &cp::ActionCategory::Source)
        })
        .map(|a| a.name().to_owned())
        .ok_or_else(|| CloudError {
            code: None,
            message: format!("pipeline {pipeline} has no Source action"),
        })
}

/// Starts an execution, at `commit` when given (else the branch head).
/// `request_token` makes a repeated start return the first execution.
pub async fn start(
    cloud: &Cloud,
    pipeline: &str,
    commit: Option<&str>,
    request_token: &str,
) -> Result<String, CloudError> {
    let mut call = cloud
        .codepipeline
        .start_pipeline_execution()
        .name(pipeline)
        .client_request_token(request_token);
    if let Some(commit) = commit {
        call = call.source_revisions(
            cp::SourceRevisionOverride::builder()
                .action_name(source_action(cloud, pipeline).await?)
                .revision_type(cp::SourceRevisionType::CommitId)
                .revision_value(commit)
                .build()
                .map_err(|e| CloudError {
                    code: None,
                    message: e.to_string(),
                })?,
        );
    }
    call.send()
        .await
        .map_err(cloud_error)?
        .pipeline_execution_id
        .ok_or_else(|| missing("StartPipelineExecution"))
}

/// A manual approval action waiting for its result.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingApproval {
    pub stage: String,
    pub action: String,
    pub token: String,
}

/// A run as the cloud reports it now.
#[derive(Debug, Clone, PartialEq)]
pub struct RunObservation {
    pub status: RunStatus,
    pub summary: Option<String>,
    pub commit: Option<String>,
    pub commit_message: Option<String>,
    pub stages: Vec<StageState>,
    pub pending_approvals: Vec<PendingApproval>,
    /// The deployment the Deploy action started.
    pub deployment: Option<PipelineDeployment>,
}

/// The deployment a run's Deploy action started, by its controller's id.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineDeployment {
    /// A CodeDeployToECS action's CodeDeploy deployment id.
    CodeDeploy(String),
    /// An ECS action's service deployment ARN.
    Ecs(String),
}

impl RunObservation {
    /// The failure to show: the first failed action's error, else the
    /// execution's summary.
    pub fn error(&self) -> Option<String> {
        if !matches!(
            self.status,
            RunStatus::Failed | RunStatus::Stopped | RunStatus::Cancelled
        ) {
            return None;
        }
        self.stages
            .iter()
            .flat_map(|s| &s.actions)
            .find(|a| a.status == ActionStatus::Failed)
            .map(|a| {
                format!(
                    "{}: {}",
                    a.name,
                    a.error
                        .as_deref()
                        .or(a.summary.as_deref())
                        .unwrap_or("failed")
                )
            })
            .or_else(|| self.summary.clone())
    }
}

/// Stage status from its actions, for stages the pipeline state no longer
/// reports for this execution.
fn stage_status(actions: &[ActionState]) -> StageStatus {
    let any = |status: ActionStatus| actions.iter().any(|a| a.status == status);
    if any(ActionStatus::InProgress) {
        StageStatus::InProgress
    } else if any(ActionStatus::Failed) {
        StageStatus::Failed
    } else if any(ActionStatus::Abandoned) {
        StageStatus::Stopped
    } else if !actions.is_empty() && actions.iter().all(|a| a.status == ActionStatus::Succeeded) {
        StageStatus::Succeeded
    } else if any(ActionStatus::Succeeded) {
        StageStatus::InProgress
    } else {
        StageStatus::NotStarted
    }
}

pub async fn observe(
    cloud: &Cloud,
    pipeline: &str,
    execution_id: &str,
) -> Result<RunObservation, CloudError> {
    let execution = cloud
        .codepipeline
        .get_pipeline_execution()
        .pipeline_name(pipeline)
        .pipeline_execution_id(execution_id)
        .send()
        .await
        .map_err(cloud_error)?
        .pipeline_execution
        .ok_or_else(|| missing("GetPipelineExecution"))?;
    let mut details = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = cloud
            .codepipeline
            .list_action_executions()
            .pipeline_name(pipeline)
            .filter(
                cp::ActionExecutionFilter::builder()
                    .pipeline_execution_id(execution_id)
                    .build(),
            )
            .set_next_token(next.take())
            .send()
            .await
            .map_err(cloud_error)?;
        details.extend(page.action_execution_details().iter().cloned());
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => break,
        }
    }
    // Read after the action executions, never before: an approval they
    // show in progress then always has its token in the state.
    let state = cloud
        .codepipeline
        .get_pipeline_state()
        .name(pipeline)
        .send()
        .await
        .map_err(cloud_error)?;
    let mut stages = Vec::new();
    let mut pending_approvals = Vec::new();
    let mut deployment = None;
    for stage in state.stage_states() {
        let stage_name = stage.stage_name().unwrap_or_default();
        let ours = stage
            .latest_execution()
            .is_some_and(|e| e.pipeline_execution_id() == execution_id);
        let mut actions = Vec::new();
        for action in stage.action_states() {
            let action_name = action.action_name().unwrap_or_default();
            // The latest attempt of this action in this execution (a retry adds one).
            let detail = details
                .iter()
                .filter(|d| {
                    d.stage_name() == Some(stage_name) && d.action_name() == Some(action_name)
                })
                .max_by_key(|d| millis(d.start_time()));
            let type_id = detail
                .and_then(|d| d.input())
                .and_then(|i| i.action_type_id());
            let result = detail
                .and_then(|d| d.output())
                .and_then(|o| o.execution_result());
            let latest = action.latest_execution().filter(|_| ours);
            let status = match detail.and_then(|d| d.status()) {
                Some(s) => ActionStatus::parse(s.as_str())?,
                None => ActionStatus::NotStarted,
            };
            let category = type_id.map_or("", |t| t.category().as_str()).to_owned();
            if let Some(token) = latest.and_then(|l| l.token())
                && status == ActionStatus::InProgress
            {
                pending_approvals.push(PendingApproval {
                    stage: stage_name.to_owned(),
                    action: action_name.to_owned(),
                    token: token.to_owned(),
                });
            }
            let external_id = result
                .and_then(|r| r.external_execution_id())
                .or_else(|| latest.and_then(|l| l.external_execution_id()))
                .map(str::to_owned);
            if category == "Deploy"
                && let Some(id) = &external_id
            {
                deployment = Some(match type_id.map(|t| t.provider()) {
                    Some("ECS") => PipelineDeployment::Ecs(id.clone()),
                    _ => PipelineDeployment::CodeDeploy(id.clone()),
                });
            }
            actions.push(ActionState {
                name: action_name.to_owned(),
                category,
                provider: type_id.map_or("", |t| t.provider()).to_owned(),
                status,
                summary: result
                    .and_then(|r| r.external_execution_summary())
                    .or_else(|| latest.and_then(|l| l.summary()))
                    .map(str::to_owned),
                external_id,
                external_url: result
                    .and_then(|r| r.external_execution_url())
                    .or_else(|| latest.and_then(|l| l.external_execution_url()))
                    .map(str::to_owned),
                error: result
                    .and_then(|r| r.error_details())
                    .or_else(|| latest.and_then(|l| l.error_details()))
                    .and_then(|e| e.message())
                    .map(str::to_owned),
                started_at: detail.and_then(|d| millis(d.start_time())),
                updated_at: detail.and_then(|d| millis(d.last_update_time())),
                output_variables: detail
                    .and_then(|d| d.output())
                    .and_then(|o| o.output_variables())
                    .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            });
        }
        let status = match stage.latest_execution().filter(|_| ours) {
            Some(e) => StageStatus::parse(e.status().as_str())?,
            None => stage_status(&actions),
        };
        let started_at = actions.iter().filter_map(|a| a.started_at).min();
        let finished = matches!(
            status,
            StageStatus::Succeeded | StageStatus::Failed | StageStatus::Stopped
        );
        let ended_at = finished
            .then(|| actions.iter().filter_map(|a| a.updated_at).max())
            .flatten();
        stages.push(StageState {
            name: stage_name.to_owned(),
            status,
            started_at,
            ended_at,
            actions,
        });
    }
    let revision = execution.artifact_revisions().first();
    Ok(RunObservation {
        status: match execution.status() {
            Some(s) => RunStatus::parse(s.as_str())?,
            None => RunStatus::InProgress,
        },
        summary: execution.status_summary().map(str::to_owned),
        commit: revision.and_then(|r| r.revision_id()).map(str::to_owned),
        commit_message: revision
            .and_then(|r| r.revision_summary())
            .map(str::to_owned),
        stages,
        pending_approvals,
        deployment,
    })
}

pub async fn put_approval_result(
    cloud: &Cloud,
    pipeline: &str,
    approval: &PendingApproval,
    approved: bool,
    summary: &str,
) -> Result<(), CloudError> {
    let status = if approved {
        cp::ApprovalStatus::Approved
    } else {
        cp::ApprovalStatus::Rejected
    };
    let summary: String = summary.chars().take(512).collect();
    cloud
        .codepipeline
        .put_approval_result()
        .pipeline_name(pipeline)
        .stage_name(&approval.stage)
        .action_name(&approval.action)
        .token(&approval.token)
        .result(
            cp::ApprovalResult::builder()
                .summary(summary)
                .status(status)
                .build()
                .map_err(|e| CloudError {
                    code: None,
                    message: e.to_string(),
                })?,
        )
        .send()
        .await
        .map_err(cloud_error)?;
    Ok(())
}

pub async fn stop(
    cloud: &Cloud,
    pipeline: &str,
    execution_id: &str,
    abandon: bool,
    reason: &str,
) -> Result<(), CloudError> {
    cloud
        .codepipeline
        .stop_pipeline_execution()
        .pipeline_name(pipeline)
        .pipeline_execution_id(execution_id)
        .abandon(abandon)
        .reason(reason.chars().take(200).collect::<String>())
        .send()
        .await
        .map_err(cloud_error)?;
    Ok(())
}

pub async fn retry_stage(
    cloud: &Cloud,
    pipeline: &str,
    execution_id: &str,
    stage: &str,
    all_actions: bool,
) -> Result<(), CloudError> {
    let mode = if all_actions {
        cp::StageRetryMode::AllActions
    } else {
        cp::StageRetryMode::FailedActions
    };
    cloud
        .codepipeline
        .retry_stage_execution()
        .pipeline_name(pipeline)
        .pipeline_execution_id(execution_id)
        .stage_name(stage)
        .retry_mode(mode)
        .send()
        .await
        .map_err(cloud_error)?;
    Ok(())
}

/// What a CodeDeploy deployment rolls out.
#[derive(Debug, Clone)]
pub struct DeploymentRevision {
    pub task_definition: String,
    pub image: String,
    pub config: String,
}

/// A deployment's revision: its AppSpec's task definition, that
/// definition's container image, and the deployment config.
pub async fn deployment_revision(
    cloud: &Cloud,
    codedeploy_id: &str,
    container_name: &str,
) -> Result<DeploymentRevision, CloudError> {
    let info = cloud
        .codedeploy
        .get_deployment()
        .deployment_id(codedeploy_id)
        .send()
        .await
        .map_err(cloud_error)?
        .deployment_info
        .ok_or_else(|| missing("GetDeployment"))?;
    let content = info
        .revision()
        .and_then(|r| r.app_spec_content())
        .and_then(|c| c.content())
        .unwrap_or_default();
    let spec: serde_yaml_ng::Value = serde_yaml_ng::from_str(content).map_err(|e| CloudError {
        code: None,
        message: format!("the deployment's AppSpec is not YAML: {e}"),
    })?;
    let task_definition = spec["Resources"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find_map(|r| {
            r.as_mapping()?
                .values()
                .find_map(|v| v["Properties"]["TaskDefinition"].as_str())
        })
        .ok_or_else(|| CloudError {
            code: None,
            message: "the deployment's AppSpec names no TaskDefinition".into(),
        })?
        .to_owned();
    let image = container_image(cloud, &task_definition, container_name).await?;
    Ok(DeploymentRevision {
        task_definition,
        image,
        config: info
            .deployment_config_name()
            .unwrap_or("CodeDeployDefault.ECSAllAtOnce")
            .to_owned(),
    })
}

/// How a pipeline's Deploy stage rolls the build out.
#[derive(Debug, Clone)]
pub enum DeployAction<'a> {
    /// CodeDeployToECS: a CodeDeploy blue/green deployment of the build's
    /// taskdef.json, appspec.yaml and imageDetail.json.
    CodeDeploy {
        application: &'a str,
        deployment_group: &'a str,
    },
    /// ECS: the service's task definition with the images of the build's
    /// imagedefinitions.json, rolled out by the service's own controller.
    Ecs { cluster: &'a str, service: &'a str },
}

impl DeployAction<'_> {
    /// The action's provider, as CodePipeline names it.
    pub fn provider(&self) -> &'static str {
        match self {
            DeployAction::CodeDeploy { .. } => "CodeDeployToECS",
            DeployAction::Ecs { .. } => "ECS",
        }
    }

    fn configuration(&self) -> Vec<(&str, &str)> {
        match self {
            DeployAction::CodeDeploy {
                application,
                deployment_group,
            } => vec![
                ("ApplicationName", application),
                ("DeploymentGroupName", deployment_group),
                ("TaskDefinitionTemplateArtifact", "BuildArtifact"),
                ("TaskDefinitionTemplatePath", "taskdef.json"),
                ("AppSpecTemplateArtifact", "BuildArtifact"),
                ("AppSpecTemplatePath", "appspec.yaml"),
                ("Image1ArtifactName", "BuildArtifact"),
                ("Image1ContainerName", "IMAGE1_NAME"),
            ],
            DeployAction::Ecs { cluster, service } => vec![
                ("ClusterName", cluster),
                ("ServiceName", service),
                ("FileName", "imagedefinitions.json"),
            ],
        }
    }
}

/// The image of the task definition's container `container_name` (of its
/// first container if none has that name).
pub async fn container_image(
    cloud: &Cloud,
    task_definition: &str,
    container_name: &str,
) -> Result<String, CloudError> {
    let definition = super::task_definitions::describe(cloud, task_definition).await?;
    let containers = definition.container_definitions();
    Ok(containers
        .iter()
        .find(|c| c.name() == Some(container_name))
        .or(containers.first())
        .and_then(|c| c.image())
        .unwrap_or_default()
        .to_owned())
}

/// What a local environment's pipeline is made of.
#[derive(Debug, Clone)]
pub struct PipelineDeclaration<'a> {
    pub name: &'a str,
    pub repo: &'a str,
    pub branch: &'a str,
    pub build_project: &'a str,
    pub deploy: DeployAction<'a>,
    pub role_arn: &'a str,
    pub artifact_bucket: &'a str,
    /// Plain-text environment variables of the build (the stack's container
    /// name, port, family and health check path, for the buildspec).
    pub build_variables: Vec<(&'a str, String)>,
}

fn action(
    name: &str,
    category: cp::ActionCategory,
    provider: &str,
    configuration: &[(&str, &str)],
    inputs: &[&str],
    outputs: &[&str],
) -> Result<cp::ActionDeclaration, CloudError> {
    let built = |e: aws_sdk_codepipeline::error::BuildError| CloudError {
        code: None,
        message: e.to_string(),
    };
    let mut b = cp::ActionDeclaration::builder()
        .name(name)
        .action_type_id(
            cp::ActionTypeId::builder()
                .category(category)
                .owner(cp::ActionOwner::Aws)
                .provider(provider)
                .version("1")
                .build()
                .map_err(built)?,
        )
        .run_order(1);
    for (k, v) in configuration {
        b = b.configuration(*k, *v);
    }
    for i in inputs {
        b = b.input_artifacts(
            cp::InputArtifact::builder()
                .name(*i)
                .build()
                .map_err(built)?,
        );
    }
    for o in outputs {
        b = b.output_artifacts(
            cp::OutputArtifact::builder()
                .name(*o)
                .build()
                .map_err(built)?,
        );
    }
    b.build().map_err(built)
}

/// The namespace of the Build action's output variables (the image and
/// task definition the build exported), as later actions may reference them.
pub const BUILD_NAMESPACE: &str = "BuildVariables";

fn with_namespace(mut action: cp::ActionDeclaration, namespace: &str) -> cp::ActionDeclaration {
    action.namespace = Some(namespace.to_owned());
    action
}

/// Creates (or updates) the pipeline Source → Build → Approval → Deploy.
pub async fn declare(cloud: &Cloud, d: &PipelineDeclaration<'_>) -> Result<(), CloudError> {
    let built = |e: aws_sdk_codepipeline::error::BuildError| CloudError {
        code: None,
        message: e.to_string(),
    };
    let stage = |name: &str, action: cp::ActionDeclaration| {
        cp::StageDeclaration::builder()
            .name(name)
            .actions(action)
            .build()
            .map_err(built)
    };
    let variables = serde_json::Value::Array(
        d.build_variables
            .iter()
            .map(|(name, value)| serde_json::json!({"name": name, "value": value, "type": "PLAINTEXT"}))
            .collect(),
    )
    .to_string();
    let stages = vec![
        stage(
            "Source",
            action(
                "Source",
                cp::ActionCategory::Source,
                "CodeStarSourceConnection",
                &[
                    ("FullRepositoryId", d.repo),
                    ("BranchName", d.branch),
                    (
                        "ConnectionArn",
                        "arn:aws:codestar-connections:us-east-1:000000000000:connection/local",
                    ),
                ],
                &[],
                &["SourceArtifact"],
            )?,
        )?,
        stage(
            "Build",
            action(
                "Build",
                cp::ActionCategory::Build,
                "CodeBuild",
                &[
                    ("ProjectName", d.build_project),
                    ("EnvironmentVariables", &variables),
                ],
                &["SourceArtifact"],
                &["BuildArtifact"],
            )
            .map(|build| with_namespace(build, BUILD_NAMESPACE))?,
        )?,
        stage(
            "Approval",
            action(
                "Approval",
                cp::ActionCategory::Approval,
                "Manual",
                &[("CustomData", "Approve this release in switchyard")],
                &[],
                &[],
            )?,
        )?,
        stage(
            "Deploy",
            action(
                "Deploy",
                cp::ActionCategory::Deploy,
                d.deploy.provider(),
                &d.deploy.configuration(),
                &["BuildArtifact"],
                &[],
            )?,
        )?,
    ];
    let declaration = cp::PipelineDeclaration::builder()
        .name(d.name)
        .role_arn(d.role_arn)
        .artifact_store(
            cp::ArtifactStore::builder()
                .r#type(cp::ArtifactStoreType::S3)
                .location(d.artifact_bucket)
                .build()
                .map_err(built)?,
        )
        .set_stages(Some(stages))
        .build()
        .map_err(built)?;
    let exists = cloud
        .codepipeline
        .get_pipeline()
        .name(d.name)
        .send()
        .await
        .is_ok();
    if exists {
        cloud
            .codepipeline
            .update_pipeline()
            .pipeline(declaration)
            .send()
            .await
            .map_err(cloud_error)?;
    } else {
        cloud
            .codepipeline
            .create_pipeline()
            .pipeline(declaration)
            .send()
            .await
            .map_err(cloud_error)?;
    }
    Ok(())
}

pub async fn delete(cloud: &Cloud, name: &str) -> Result<(), CloudError> {
    cloud
        .codepipeline
        .delete_pipeline()
        .name(name)
        .send()
        .await
        .map_err(cloud_error)?;
    Ok(())
}
