//! The CodePipeline operations: pipelines, their executions, action
//! executions, approvals, stops and stage retries. The work itself is the
//! engine's.

use super::super::state::{
    ActionRun, CloudState, Pipeline, PipelineAction, PipelineExecution, PipelineStage, REGION,
    StageRun, StopRequest, arn,
};
use super::super::wire::{AwsError, Input, OpResult, epoch, paginate};
use super::super::{LocalCloud, now_millis, random_uuid};
use super::declaration::{self, Declaration, check_pipeline_name};
use super::engine;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const INVALID: &str = "ValidationException";

pub fn call(cloud: &Arc<LocalCloud>, operation: &str, body: &Map<String, Value>) -> OpResult {
    let input = Input::new(body, INVALID);
    match operation {
        "CreatePipeline" => cloud.mutate(|s| create_pipeline(s, &input)),
        "GetPipeline" => cloud.read(|s| get_pipeline(s, &input)),
        "UpdatePipeline" => cloud.mutate(|s| update_pipeline(s, &input)),
        "DeletePipeline" => cloud.mutate(|s| delete_pipeline(s, &input)),
        "ListPipelines" => cloud.read(|s| list_pipelines(s, &input)),
        "StartPipelineExecution" => {
            let id = cloud.mutate(|s| start_execution(s, &input))?;
            engine::spawn(cloud, &id);
            Ok(json!({"pipelineExecutionId": id}))
        }
        "GetPipelineState" => cloud.read(|s| pipeline_state(s, &input)),
        "GetPipelineExecution" => cloud.read(|s| get_execution(s, &input)),
        "ListPipelineExecutions" => cloud.read(|s| list_executions(s, &input)),
        "ListActionExecutions" => cloud.read(|s| list_action_executions(s, &input)),
        "PutApprovalResult" => cloud.mutate(|s| put_approval_result(s, &input)),
        "StopPipelineExecution" => cloud.mutate(|s| stop_execution(s, &input)),
        "RetryStageExecution" => {
            let id = cloud.mutate(|s| retry_stage(s, &input))?;
            engine::spawn(cloud, &id);
            Ok(json!({"pipelineExecutionId": id}))
        }
        other => Err(AwsError::new(
            "UnknownOperationException",
            format!("the local cloud's CodePipeline does not implement {other}"),
        )),
    }
}

fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new(INVALID, message)
}

fn find_pipeline<'a>(s: &'a CloudState, name: &str) -> Result<&'a Pipeline, AwsError> {
    check_pipeline_name(name)?;
    s.pipelines.get(name).ok_or_else(|| {
        AwsError::new(
            "PipelineNotFoundException",
            format!(
                "Account '{}' does not have a pipeline with name '{name}'",
                super::super::state::ACCOUNT
            ),
        )
    })
}

fn find_execution<'a>(
    s: &'a CloudState,
    pipeline: &str,
    id: &str,
) -> Result<&'a PipelineExecution, AwsError> {
    s.pipeline_executions
        .get(id)
        .filter(|e| e.pipeline == pipeline)
        .ok_or_else(|| {
            AwsError::new(
                "PipelineExecutionNotFoundException",
                format!("Pipeline execution ID {id} does not exist for pipeline {pipeline}"),
            )
        })
}

/// The checked declaration of a stored pipeline version.
fn declaration_of(stored: &Value) -> Result<Declaration, AwsError> {
    let map = stored
        .as_object()
        .ok_or_else(|| AwsError::new("ServerException", "a stored pipeline is not an object"))?;
    declaration::parse(map)
}

fn tags(input: &Input) -> Result<Value, AwsError> {
    let mut tags = Vec::new();
    for tag in input.list("tags")? {
        let key = tag["key"].as_str().filter(|k| (1..=128).contains(&k.len()));
        let value = tag["value"].as_str().filter(|v| v.len() <= 256);
        match (key, value) {
            (Some(key), Some(value)) => tags.push(json!({"key": key, "value": value})),
            _ => {
                return Err(AwsError::new(
                    "InvalidTagsException",
                    "each tag needs a key (1-128 characters) and a value (up to 256)",
                ));
            }
        }
    }
    if tags.len() > 50 {
        return Err(AwsError::new(
            "TooManyTagsException",
            "a pipeline takes at most 50 tags",
        ));
    }
    Ok(Value::Array(tags))
}

fn with_version(mut normalized: Value, version: u32) -> Value {
    normalized["version"] = json!(version);
    normalized
}

fn create_pipeline(s: &mut CloudState, input: &Input) -> OpResult {
    let pipeline = input
        .opt_object("pipeline")?
        .ok_or_else(|| validation("pipeline is required"))?;
    let declaration = declaration::parse(pipeline)?;
    if s.pipelines.contains_key(&declaration.name) {
        return Err(AwsError::new(
            "PipelineNameInUseException",
            format!(
                "A pipeline with the name '{}' already exists in account '{}'",
                declaration.name,
                super::super::state::ACCOUNT
            ),
        ));
    }
    let tags = tags(input)?;
    let now = now_millis();
    let stored = with_version(declaration.normalized, 1);
    s.pipelines.insert(
        declaration.name.clone(),
        Pipeline {
            arn: arn("codepipeline", &declaration.name),
            name: declaration.name,
            versions: vec![stored.clone()],
            tags: tags.clone(),
            created_at: now,
            updated_at: now,
            request_tokens: BTreeMap::new(),
        },
    );
    Ok(json!({"pipeline": stored, "tags": tags}))
}

fn get_pipeline(s: &CloudState, input: &Input) -> OpResult {
    let p = find_pipeline(s, input.str("name")?)?;
    let stored = match input.opt_i64("version")? {
        None => p.declaration(),
        Some(v) => usize::try_from(v)
            .ok()
            .and_then(|v| v.checked_sub(1))
            .and_then(|i| p.versions.get(i))
            .ok_or_else(|| {
                AwsError::new(
                    "PipelineVersionNotFoundException",
                    format!("Pipeline {} has no version {v}", p.name),
                )
            })?,
    };
    Ok(json!({
        "pipeline": stored,
        "metadata": {"pipelineArn": p.arn, "created": epoch(p.created_at), "updated": epoch(p.updated_at)},
    }))
}

fn update_pipeline(s: &mut CloudState, input: &Input) -> OpResult {
    let pipeline = input
        .opt_object("pipeline")?
        .ok_or_else(|| validation("pipeline is required"))?;
    let declaration = declaration::parse(pipeline)?;
    find_pipeline(s, &declaration.name)?;
    let p = s.pipelines.get_mut(&declaration.name).expect("found above");
    let stored = with_version(declaration.normalized, p.version() + 1);
    p.versions.push(stored.clone());
    p.updated_at = now_millis();
    Ok(json!({"pipeline": stored}))
}

/// Deleting what is not there succeeds, as in AWS. Running executions go
/// with the pipeline (their builds are killed); deployments they started
/// go on, and artifact directories stay, since a task set may serve one.
fn delete_pipeline(s: &mut CloudState, input: &Input) -> OpResult {
    let name = input.str("name")?;
    check_pipeline_name(name)?;
    if s.pipelines.remove(name).is_some() {
        s.pipeline_executions.retain(|_, e| e.pipeline != name);
    }
    Ok(json!({}))
}

fn list_pipelines(s: &CloudState, input: &Input) -> OpResult {
    let max = input.max_results(1000, 1000)?;
    let summaries: Vec<Value> = s
        .pipelines
        .values()
        .map(|p| {
            let d = p.declaration();
            json!({
                "name": p.name,
                "version": p.version(),
                "pipelineType": d["pipelineType"],
                "executionMode": d["executionMode"],
                "created": epoch(p.created_at),
                "updated": epoch(p.updated_at),
            })
        })
        .collect();
    let (page, next) = paginate(&summaries, input.opt_str("nextToken")?, max)?;
    Ok(json!({"pipelines": page, "nextToken": next}))
}

fn start_execution(s: &mut CloudState, input: &Input) -> Result<String, AwsError> {
    let name = input.str("name")?;
    let p = find_pipeline(s, name)?;
    let token = input.opt_str("clientRequestToken")?;
    if let Some(token) = token {
        let ok = (1..=128).contains(&token.len())
            && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(validation(
                "clientRequestToken must be 1 to 128 letters, digits and '-'",
            ));
        }
        if let Some(id) = p.request_tokens.get(token) {
            return Ok(id.clone());
        }
    }
    let declaration = declaration_of(p.declaration())?;
    let variables = resolve_variables(&declaration, input)?;
    let source_revisions = source_overrides(&declaration.stages, input)?;
    let version = p.version();
    let id = loop {
        let id = random_uuid();
        if !s.pipeline_executions.contains_key(&id) {
            break id;
        }
    };
    let now = now_millis();
    let sequence = s.next_sequence();
    let stage_runs = declaration
        .stages
        .iter()
        .map(|stage| StageRun {
            name: stage.name.clone(),
            status: None,
            entered_at: None,
        })
        .collect();
    s.pipeline_executions.insert(
        id.clone(),
        PipelineExecution {
            id: id.clone(),
            sequence,
            pipeline: name.to_owned(),
            pipeline_version: version,
            execution_mode: declaration.execution_mode.clone(),
            status: "InProgress".into(),
            status_summary: None,
            trigger_type: "StartPipelineExecution".into(),
            trigger_detail: None,
            variables,
            source_revisions,
            stages: declaration.stages,
            stage_runs,
            actions: Vec::new(),
            artifacts: BTreeMap::new(),
            stop: None,
            started_at: now,
            updated_at: now,
            driven: false,
        },
    );
    if let Some(token) = token {
        let p = s.pipelines.get_mut(name).expect("found above");
        p.request_tokens.insert(token.to_owned(), id.clone());
    }
    Ok(id)
}

/// The pipeline's variables: the values given, else the defaults.
fn resolve_variables(
    declaration: &Declaration,
    input: &Input,
) -> Result<Vec<(String, String)>, AwsError> {
    let given = input.list("variables")?;
    if given.len() > 50 {
        return Err(validation("at most 50 variables per execution"));
    }
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for item in given {
        let item = Input::new(
            item.as_object().ok_or_else(|| {
                AwsError::new("SerializationException", "variables must be objects")
            })?,
            INVALID,
        );
        let name = item.str("name")?;
        let value = item.str("value")?;
        if value.len() > 1000 {
            return Err(validation(format!(
                "The value of variable {name} is longer than 1000 characters"
            )));
        }
        if !declaration.variables.iter().any(|(n, _)| n == name) {
            return Err(validation(format!(
                "Variable {name} is not declared in pipeline {}",
                declaration.name
            )));
        }
        if values.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(validation(format!("Variable {name} is given twice")));
        }
    }
    declaration
        .variables
        .iter()
        .map(|(name, default)| {
            values
                .get(name)
                .or(default.as_ref())
                .map(|v| (name.clone(), v.clone()))
                .ok_or_else(|| {
                    validation(format!(
                        "Variable {name} has no default value: give it a value to start the pipeline"
                    ))
                })
        })
        .collect()
}

fn source_overrides(
    stages: &[PipelineStage],
    input: &Input,
) -> Result<BTreeMap<String, String>, AwsError> {
    let mut overrides = BTreeMap::new();
    let given = input.list("sourceRevisions")?;
    if given.len() > 50 {
        return Err(validation("at most 50 sourceRevisions"));
    }
    for item in given {
        let item = Input::new(
            item.as_object().ok_or_else(|| {
                AwsError::new("SerializationException", "sourceRevisions must be objects")
            })?,
            INVALID,
        );
        let action = item.str("actionName")?;
        let kind = item.str("revisionType")?;
        let value = item.str("revisionValue")?;
        if !stages[0].actions.iter().any(|a| a.name == action) {
            return Err(validation(format!(
                "sourceRevisions: {action} is not a source action of the pipeline"
            )));
        }
        if kind != "COMMIT_ID" {
            return Err(validation(format!(
                "sourceRevisions: the git sources of the local cloud take revisionType COMMIT_ID, not {kind}"
            )));
        }
        let is_commit =
            (4..=40).contains(&value.len()) && value.chars().all(|c| c.is_ascii_hexdigit());
        if !is_commit {
            return Err(validation(format!(
                "sourceRevisions: {value:?} is not a commit id"
            )));
        }
        if overrides
            .insert(action.to_owned(), value.to_owned())
            .is_some()
        {
            return Err(validation(format!("sourceRevisions names {action} twice")));
        }
    }
    Ok(overrides)
}

fn action_execution_json(run: &ActionRun) -> Value {
    json!({
        "actionExecutionId": run.id,
        "status": run.status,
        "summary": run.summary,
        "lastStatusChange": epoch(run.updated_at),
        "token": run.token.as_ref().filter(|_| run.status == "InProgress"),
        "lastUpdatedBy": run.updated_by,
        "externalExecutionId": run.external_execution_id,
        "externalExecutionUrl": run.external_execution_url,
        "errorDetails": run.error.as_ref().map(|(code, message)| json!({"code": code, "message": message})),
    })
}

/// The latest run of an action in an execution (retired by a retry or not).
fn latest_run<'a>(e: &'a PipelineExecution, stage: &str, action: &str) -> Option<&'a ActionRun> {
    e.actions
        .iter()
        .rev()
        .find(|r| r.stage == stage && r.action == action)
}

fn stage_run<'a>(e: &'a PipelineExecution, stage: &str) -> Option<&'a StageRun> {
    e.stage_runs.iter().find(|r| r.name == stage)
}

fn source_revision(e: &PipelineExecution, action: &PipelineAction) -> Option<Value> {
    let artifact = e.artifacts.get(action.output_artifacts.first()?)?;
    let revision = artifact.revision_id.as_ref()?;
    Some(json!({
        "revisionId": revision,
        "revisionChangeId": revision,
        "created": epoch(artifact.revision_created.unwrap_or(artifact.created_at)),
    }))
}

/// For each stage of the current version: the execution that was last in
/// it and what its actions did; an execution waiting to enter it.
fn pipeline_state(s: &CloudState, input: &Input) -> OpResult {
    let p = find_pipeline(s, input.str("name")?)?;
    let declaration = declaration_of(p.declaration())?;
    let executions: Vec<&PipelineExecution> = s
        .pipeline_executions
        .values()
        .filter(|e| e.pipeline == p.name)
        .collect();
    let mut stage_states = Vec::new();
    for (index, stage) in declaration.stages.iter().enumerate() {
        let latest = executions
            .iter()
            .filter_map(|e| Some((stage_run(e, &stage.name)?.entered_at?, e.sequence, *e)))
            .max_by_key(|(entered, sequence, _)| (*entered, *sequence))
            .map(|(_, _, e)| e);
        let inbound = executions
            .iter()
            .filter(|e| {
                !e.is_finished()
                    && e.stage_runs
                        .iter()
                        .find(|r| r.status.as_deref() != Some("Succeeded"))
                        .is_some_and(|r| r.name == stage.name && r.status.is_none())
            })
            .max_by_key(|e| e.sequence);
        let action_states: Vec<Value> = stage
            .actions
            .iter()
            .map(|action| {
                let run = latest.and_then(|e| latest_run(e, &stage.name, &action.name));
                let revision = latest
                    .filter(|_| action.category == "Source")
                    .and_then(|e| source_revision(e, action));
                json!({
                    "actionName": action.name,
                    "currentRevision": revision,
                    "latestExecution": run.map(action_execution_json),
                })
            })
            .collect();
        let mut state = json!({
            "stageName": stage.name,
            "actionStates": action_states,
            "latestExecution": latest.map(|e| json!({
                "pipelineExecutionId": e.id,
                "status": stage_run(e, &stage.name).and_then(|r| r.status.clone()),
            })),
        });
        if index > 0 {
            state["inboundTransitionState"] = json!({"enabled": true});
        }
        if let Some(e) = inbound {
            let waiting = json!({"pipelineExecutionId": e.id, "status": "InProgress"});
            state["inboundExecution"] = waiting.clone();
            state["inboundExecutions"] = json!([waiting]);
        }
        stage_states.push(state);
    }
    Ok(json!({
        "pipelineName": p.name,
        "pipelineVersion": p.version(),
        "stageStates": stage_states,
        "created": epoch(p.created_at),
        "updated": epoch(p.updated_at),
    }))
}

fn get_execution(s: &CloudState, input: &Input) -> OpResult {
    let p = find_pipeline(s, input.str("pipelineName")?)?;
    let e = find_execution(s, &p.name, input.str("pipelineExecutionId")?)?;
    let artifact_revisions: Vec<Value> = e.stages[0]
        .actions
        .iter()
        .filter_map(|action| {
            let artifact = e.artifacts.get(action.output_artifacts.first()?)?;
            let revision = artifact.revision_id.as_ref()?;
            Some(json!({
                "name": artifact.name,
                "revisionId": revision,
                "revisionChangeIdentifier": revision,
                "revisionSummary": artifact.revision_summary,
                "created": epoch(artifact.revision_created.unwrap_or(artifact.created_at)),
            }))
        })
        .collect();
    Ok(json!({"pipelineExecution": {
        "pipelineName": e.pipeline,
        "pipelineVersion": e.pipeline_version,
        "pipelineExecutionId": e.id,
        "status": e.status,
        "statusSummary": e.status_summary,
        "artifactRevisions": artifact_revisions,
        "variables": e.variables.iter().map(|(name, value)| json!({"name": name, "resolvedValue": value})).collect::<Vec<_>>(),
        "trigger": trigger(e),
        "executionMode": e.execution_mode,
        "executionType": "STANDARD",
    }}))
}

fn trigger(e: &PipelineExecution) -> Value {
    json!({"triggerType": e.trigger_type, "triggerDetail": e.trigger_detail})
}

fn list_executions(s: &CloudState, input: &Input) -> OpResult {
    // Input is checked before resources are looked up, as AWS does.
    let max = input.max_results(100, 100)?;
    let p = find_pipeline(s, input.str("pipelineName")?)?;
    let succeeded_in = match input.nested("filter")? {
        Some(filter) => match filter.nested("succeededInStage")? {
            Some(stage) => Some(stage.str("stageName")?.to_owned()),
            None => None,
        },
        None => None,
    };
    let mut executions: Vec<&PipelineExecution> = s
        .pipeline_executions
        .values()
        .filter(|e| e.pipeline == p.name)
        .filter(|e| {
            succeeded_in.as_ref().is_none_or(|stage| {
                stage_run(e, stage).is_some_and(|r| r.status.as_deref() == Some("Succeeded"))
            })
        })
        .collect();
    executions.sort_by_key(|e| std::cmp::Reverse(e.sequence));
    let summaries: Vec<Value> = executions
        .into_iter()
        .map(|e| {
            let source_revisions: Vec<Value> = e.stages[0]
                .actions
                .iter()
                .filter_map(|action| {
                    let artifact = e.artifacts.get(action.output_artifacts.first()?)?;
                    Some(json!({
                        "actionName": action.name,
                        "revisionId": artifact.revision_id,
                        "revisionSummary": artifact.revision_summary,
                    }))
                })
                .collect();
            json!({
                "pipelineExecutionId": e.id,
                "status": e.status,
                "statusSummary": e.status_summary,
                "startTime": epoch(e.started_at),
                "lastUpdateTime": epoch(e.updated_at),
                "sourceRevisions": source_revisions,
                "trigger": trigger(e),
                "stopTrigger": e.stop.as_ref().map(|stop| json!({"reason": stop.reason})),
                "executionMode": e.execution_mode,
                "executionType": "STANDARD",
            })
        })
        .collect();
    let (page, next) = paginate(&summaries, input.opt_str("nextToken")?, max)?;
    Ok(json!({"pipelineExecutionSummaries": page, "nextToken": next}))
}

fn list_action_executions(s: &CloudState, input: &Input) -> OpResult {
    // Input is checked before resources are looked up, as AWS does.
    let max = input.max_results(100, 100)?;
    let p = find_pipeline(s, input.str("pipelineName")?)?;
    let only = match input.nested("filter")? {
        Some(filter) => match filter.opt_str("pipelineExecutionId")? {
            Some(id) => Some(find_execution(s, &p.name, id)?.id.clone()),
            None => None,
        },
        None => None,
    };
    let mut runs: Vec<(&PipelineExecution, usize, &ActionRun)> = s
        .pipeline_executions
        .values()
        .filter(|e| e.pipeline == p.name && only.as_ref().is_none_or(|id| *id == e.id))
        .flat_map(|e| e.actions.iter().enumerate().map(move |(i, r)| (e, i, r)))
        .collect();
    // Newest first.
    runs.sort_by_key(|(e, i, run)| std::cmp::Reverse((run.started_at, e.sequence, *i)));
    let details: Vec<Value> = runs
        .into_iter()
        .map(|(e, _, run)| action_execution_detail(e, run))
        .collect();
    let (page, next) = paginate(&details, input.opt_str("nextToken")?, max)?;
    Ok(json!({"actionExecutionDetails": page, "nextToken": next}))
}

fn action_execution_detail(e: &PipelineExecution, run: &ActionRun) -> Value {
    let action = e.declaration_of(run);
    let input = action.map(|a| {
        json!({
            "actionTypeId": {"category": a.category, "owner": a.owner, "provider": a.provider, "version": a.version},
            "configuration": a.configuration,
            "resolvedConfiguration": run.resolved_configuration,
            "roleArn": a.role_arn,
            "region": a.region.as_deref().unwrap_or(REGION),
            "inputArtifacts": a.input_artifacts.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
            "namespace": a.namespace,
        })
    });
    let produced: Vec<Value> = e
        .artifacts
        .values()
        .filter(|artifact| artifact.action_execution_id == run.id)
        .map(|artifact| json!({"name": artifact.name}))
        .collect();
    json!({
        "pipelineExecutionId": e.id,
        "actionExecutionId": run.id,
        "pipelineVersion": e.pipeline_version,
        "stageName": run.stage,
        "actionName": run.action,
        "startTime": epoch(run.started_at),
        "lastUpdateTime": epoch(run.updated_at),
        "updatedBy": run.updated_by,
        "status": run.status,
        "input": input,
        "output": {
            "outputArtifacts": produced,
            "executionResult": {
                "externalExecutionId": run.external_execution_id,
                "externalExecutionSummary": run.summary,
                "externalExecutionUrl": run.external_execution_url,
                "errorDetails": run.error.as_ref().map(|(code, message)| json!({"code": code, "message": message})),
            },
            "outputVariables": run.output_variables,
        },
    })
}

fn put_approval_result(s: &mut CloudState, input: &Input) -> OpResult {
    let p = find_pipeline(s, input.str("pipelineName")?)?;
    let stage_name = input.str("stageName")?;
    let action_name = input.str("actionName")?;
    let declaration = declaration_of(p.declaration())?;
    let stage = declaration
        .stages
        .iter()
        .find(|st| st.name == stage_name)
        .ok_or_else(|| {
            AwsError::new(
                "StageNotFoundException",
                format!("Stage {stage_name} does not exist in pipeline {}", p.name),
            )
        })?;
    let action = stage
        .actions
        .iter()
        .find(|a| a.name == action_name)
        .ok_or_else(|| {
            AwsError::new(
                "ActionNotFoundException",
                format!("Action {action_name} does not exist in stage {stage_name}"),
            )
        })?;
    if action.category != "Approval" {
        return Err(validation(format!(
            "Action {action_name} is not an approval action"
        )));
    }
    let result = input
        .nested("result")?
        .ok_or_else(|| validation("result is required"))?;
    let status = result.str("status")?;
    if !matches!(status, "Approved" | "Rejected") {
        return Err(validation(format!(
            "result.status must be Approved or Rejected, not {status}"
        )));
    }
    let summary = result
        .opt_str("summary")?
        .ok_or_else(|| validation("result.summary is required"))?;
    if summary.chars().count() > 512 {
        return Err(validation(
            "1 validation error detected: Value at 'result.summary' failed to satisfy constraint: \
             Member must have length less than or equal to 512",
        ));
    }
    let token = input.str("token")?;
    let pipeline = p.name.clone();
    let invalid = || {
        AwsError::new(
            "InvalidApprovalTokenException",
            format!(
                "The approval token {token} is not valid for action {action_name} of stage {stage_name}"
            ),
        )
    };
    let run = s
        .pipeline_executions
        .values_mut()
        .filter(|e| e.pipeline == pipeline)
        .flat_map(|e| e.actions.iter_mut())
        .find(|r| {
            r.stage == stage_name && r.action == action_name && r.token.as_deref() == Some(token)
        })
        .ok_or_else(invalid)?;
    match run.status.as_str() {
        "InProgress" => {}
        "Succeeded" | "Failed" => {
            return Err(AwsError::new(
                "ApprovalAlreadyCompletedException",
                format!(
                    "The approval request was already {}",
                    if run.status == "Succeeded" {
                        "approved"
                    } else {
                        "rejected or expired"
                    }
                ),
            ));
        }
        // Abandoned: superseded or stopped; the token is dead.
        _ => return Err(invalid()),
    }
    let now = now_millis();
    run.updated_at = now;
    if status == "Approved" {
        run.status = "Succeeded".into();
        run.summary = Some(summary.to_owned())
            .filter(|s| !s.is_empty())
            .or(Some("Approved".into()));
    } else {
        let message = if summary.is_empty() {
            "Rejected".to_owned()
        } else {
            format!("Rejected: {summary}")
        };
        run.status = "Failed".into();
        run.summary = Some(summary.to_owned())
            .filter(|s| !s.is_empty())
            .or(Some("Rejected".into()));
        run.error = Some((engine::JOB_FAILED.into(), message));
    }
    Ok(json!({"approvedAt": epoch(now)}))
}

fn stop_execution(s: &mut CloudState, input: &Input) -> OpResult {
    let p = find_pipeline(s, input.str("pipelineName")?)?;
    let id = input.str("pipelineExecutionId")?;
    let pipeline = p.name.clone();
    find_execution(s, &pipeline, id)?;
    let abandon = input.opt_bool("abandon")?.unwrap_or(false);
    let reason = input.opt_str("reason")?;
    if reason.is_some_and(|r| r.chars().count() > 200) {
        return Err(validation("reason must have at most 200 characters"));
    }
    let e = s.pipeline_executions.get_mut(id).expect("found above");
    match (e.status.as_str(), &e.stop) {
        ("InProgress", _) => {}
        ("Stopping", Some(stop)) if !stop.abandon && abandon => {}
        ("Stopping", _) => {
            return Err(AwsError::new(
                "DuplicatedStopRequestException",
                if abandon {
                    "The pipeline execution is already being stopped and abandoned".to_owned()
                } else {
                    "The pipeline execution is already in a Stopping state. To stop it at once, stop and abandon it"
                        .to_owned()
                },
            ));
        }
        (status, _) => {
            return Err(AwsError::new(
                "PipelineExecutionNotStoppableException",
                format!(
                    "Pipeline execution {id} is {status}: only an execution in progress can be stopped"
                ),
            ));
        }
    }
    let reason = reason
        .map(str::to_owned)
        .or_else(|| e.stop.as_ref().and_then(|stop| stop.reason.clone()));
    e.stop = Some(StopRequest { abandon, reason });
    e.status = "Stopping".into();
    e.updated_at = now_millis();
    for stage in e.stage_runs.iter_mut() {
        if stage.status.as_deref() == Some("InProgress") {
            stage.status = Some("Stopping".into());
        }
    }
    Ok(json!({"pipelineExecutionId": id}))
}

fn retry_stage(s: &mut CloudState, input: &Input) -> Result<String, AwsError> {
    let p = find_pipeline(s, input.str("pipelineName")?)?;
    let pipeline = p.name.clone();
    let stage = input.str("stageName")?;
    let id = input.str("pipelineExecutionId")?;
    let mode = input.str("retryMode")?;
    if !matches!(mode, "FAILED_ACTIONS" | "ALL_ACTIONS") {
        return Err(validation(format!(
            "retryMode must be FAILED_ACTIONS or ALL_ACTIONS, not {mode}"
        )));
    }
    let e = find_execution(s, &pipeline, id)?;
    let index = e
        .stage_runs
        .iter()
        .position(|r| r.name == stage)
        .ok_or_else(|| {
            AwsError::new(
                "StageNotFoundException",
                format!("Stage {stage} is not in the pipeline version execution {id} runs"),
            )
        })?;
    let latest = s
        .pipeline_executions
        .values()
        .filter(|o| o.pipeline == pipeline)
        .map(|o| o.sequence)
        .max()
        .unwrap_or(e.sequence);
    if e.sequence != latest {
        return Err(AwsError::new(
            "NotLatestPipelineExecutionException",
            format!("Pipeline execution {id} is not the latest execution of pipeline {pipeline}"),
        ));
    }
    let stage_status = e.stage_runs[index].status.clone();
    if !matches!(e.status.as_str(), "Failed" | "Stopped")
        || !matches!(stage_status.as_deref(), Some("Failed" | "Stopped"))
    {
        return Err(AwsError::new(
            "StageNotRetryableException",
            format!(
                "Stage {stage} of execution {id} is {}, and the execution {}: only a failed or stopped stage of a failed or stopped execution can be retried",
                stage_status.as_deref().unwrap_or("not started"),
                e.status
            ),
        ));
    }
    let now = now_millis();
    let e = s.pipeline_executions.get_mut(id).expect("found above");
    for run in e
        .actions
        .iter_mut()
        .filter(|r| r.stage == stage && r.current)
    {
        if mode == "ALL_ACTIONS" || run.status != "Succeeded" {
            run.current = false;
        }
    }
    e.stage_runs[index].status = Some("InProgress".into());
    e.stage_runs[index].entered_at = Some(now);
    e.status = "InProgress".into();
    e.status_summary = None;
    e.stop = None;
    e.updated_at = now;
    Ok(e.id.clone())
}
