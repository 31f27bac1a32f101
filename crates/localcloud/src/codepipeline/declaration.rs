//! Pipeline declarations: parsed and checked the way CodePipeline checks
//! them on CreatePipeline and UpdatePipeline, limited to the action types
//! the local cloud can really run.

use super::super::state::{PipelineAction, PipelineStage};
use super::super::wire::AwsError;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// What the local cloud runs: (category, provider, required configuration,
/// optional configuration, input artifacts (min, max), output artifacts (min, max)).
struct ActionType {
    category: &'static str,
    provider: &'static str,
    required: &'static [&'static str],
    optional: &'static [&'static str],
    inputs: (usize, usize),
    outputs: (usize, usize),
}

const ACTION_TYPES: &[ActionType] = &[
    ActionType {
        category: "Source",
        provider: "CodeCommit",
        required: &["RepositoryName", "BranchName"],
        optional: &["PollForSourceChanges", "OutputArtifactFormat"],
        inputs: (0, 0),
        outputs: (1, 1),
    },
    ActionType {
        category: "Source",
        provider: "CodeStarSourceConnection",
        required: &["ConnectionArn", "FullRepositoryId", "BranchName"],
        optional: &["OutputArtifactFormat", "DetectChanges"],
        inputs: (0, 0),
        outputs: (1, 1),
    },
    ActionType {
        category: "Build",
        provider: "CodeBuild",
        required: &["ProjectName"],
        optional: &[
            "EnvironmentVariables",
            "PrimarySource",
            "BatchEnabled",
            "CombineArtifacts",
        ],
        inputs: (1, 5),
        outputs: (0, 5),
    },
    ActionType {
        category: "Approval",
        provider: "Manual",
        required: &[],
        optional: &["CustomData", "ExternalEntityLink", "NotificationArn"],
        inputs: (0, 0),
        outputs: (0, 0),
    },
    ActionType {
        category: "Deploy",
        provider: "CodeDeployToECS",
        required: &[
            "ApplicationName",
            "DeploymentGroupName",
            "TaskDefinitionTemplateArtifact",
            "AppSpecTemplateArtifact",
        ],
        optional: &[
            "TaskDefinitionTemplatePath",
            "AppSpecTemplatePath",
            "Image1ArtifactName",
            "Image1ContainerName",
            "Image2ArtifactName",
            "Image2ContainerName",
            "Image3ArtifactName",
            "Image3ContainerName",
            "Image4ArtifactName",
            "Image4ContainerName",
        ],
        inputs: (1, 3),
        outputs: (0, 0),
    },
    ActionType {
        category: "Deploy",
        provider: "ECS",
        required: &["ClusterName", "ServiceName"],
        optional: &["FileName", "DeploymentTimeout"],
        inputs: (1, 1),
        outputs: (0, 0),
    },
];

/// A checked declaration.
#[derive(Debug, Clone)]
pub struct Declaration {
    pub name: String,
    pub execution_mode: String,
    pub stages: Vec<PipelineStage>,
    /// (name, default value)
    pub variables: Vec<(String, Option<String>)>,
    /// The declaration as GetPipeline echoes it (defaults filled in, version unset).
    pub normalized: Value,
}

fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new("ValidationException", message)
}

fn structure(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidStructureException", message)
}

fn action_error(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidActionDeclarationException", message)
}

fn stage_error(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidStageDeclarationException", message)
}

fn serialization(message: impl Into<String>) -> AwsError {
    AwsError::new("SerializationException", message)
}

/// `[A-Za-z0-9.@\-_]+`, 1 to 100 characters: pipeline, stage and action names.
pub fn valid_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'))
}

/// Checks a pipeline name given to an operation.
pub fn check_pipeline_name(name: &str) -> Result<(), AwsError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [A-Za-z0-9.@\\-_]+ and have 1 to 100 characters"
        )))
    }
}

fn valid_artifact_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

fn valid_variable_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '-' | '_'))
}

fn valid_role_arn(arn: &str) -> bool {
    // arn:aws(-[\w]+)*:iam::[0-9]{12}:role/.*
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition_tail, rest)) = rest.split_once(":iam::") else {
        return false;
    };
    let partition_ok = partition_tail.is_empty()
        || (partition_tail.starts_with('-')
            && partition_tail
                .chars()
                .all(|c| c == '-' || c.is_alphanumeric() || c == '_'));
    let Some((account, role)) = rest.split_once(':') else {
        return false;
    };
    partition_ok
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && role.starts_with("role/")
        && arn.len() <= 1024
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, AwsError> {
    value
        .as_object()
        .ok_or_else(|| serialization(format!("{what} must be an object")))
}

fn list<'a>(map: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a [Value], AwsError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(serialization(format!("{what}.{key} must be a list"))),
    }
}

fn opt_str<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'a str>, AwsError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(serialization(format!("{what}.{key} must be a string"))),
    }
}

fn req_str<'a>(map: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a str, AwsError> {
    opt_str(map, key, what)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| validation(format!("{what}.{key} is required")))
}

/// Parses and checks `pipeline` of a CreatePipeline or UpdatePipeline request.
pub fn parse(pipeline: &Map<String, Value>) -> Result<Declaration, AwsError> {
    let name = req_str(pipeline, "name", "pipeline")?.to_owned();
    check_pipeline_name(&name)?;
    let role = req_str(pipeline, "roleArn", "pipeline")?;
    if !valid_role_arn(role) {
        return Err(validation(format!(
            "1 validation error detected: Value '{role}' at 'pipeline.roleArn' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: arn:aws(-[\\w]+)*:iam::[0-9]{{12}}:role/.*"
        )));
    }
    check_artifact_store(pipeline)?;

    let pipeline_type = opt_str(pipeline, "pipelineType", "pipeline")?.unwrap_or("V1");
    if !matches!(pipeline_type, "V1" | "V2") {
        return Err(validation(format!(
            "pipelineType must be V1 or V2, not {pipeline_type}"
        )));
    }
    let execution_mode = opt_str(pipeline, "executionMode", "pipeline")?.unwrap_or("SUPERSEDED");
    if !matches!(execution_mode, "SUPERSEDED" | "QUEUED" | "PARALLEL") {
        return Err(validation(format!(
            "executionMode must be SUPERSEDED, QUEUED or PARALLEL, not {execution_mode}"
        )));
    }
    if execution_mode != "SUPERSEDED" && pipeline_type != "V2" {
        return Err(validation(format!(
            "Execution mode {execution_mode} is only supported for pipelines of type V2"
        )));
    }

    let variables = parse_variables(pipeline, pipeline_type)?;

    let stage_values = list(pipeline, "stages", "pipeline")?;
    if stage_values.len() < 2 {
        return Err(structure(format!(
            "Pipeline has only {} stage(s). There should be a minimum of 2 stages in a pipeline",
            stage_values.len()
        )));
    }
    let mut normalized_stages = Vec::new();
    let mut stages: Vec<PipelineStage> = Vec::new();
    for (index, stage_value) in stage_values.iter().enumerate() {
        let (stage, normalized) = parse_stage(stage_value, index)?;
        if stages.iter().any(|s| s.name == stage.name) {
            return Err(structure(format!(
                "Stage name '{}' is used more than once: stage names must be unique within a pipeline",
                stage.name
            )));
        }
        stages.push(stage);
        normalized_stages.push(normalized);
    }
    check_artifacts(&stages)?;
    check_triggers(pipeline, pipeline_type, &stages)?;

    let mut normalized = pipeline.clone();
    normalized.remove("version");
    normalized.insert("stages".into(), Value::Array(normalized_stages));
    normalized.insert("executionMode".into(), json!(execution_mode));
    normalized.insert("pipelineType".into(), json!(pipeline_type));
    Ok(Declaration {
        name,
        execution_mode: execution_mode.to_owned(),
        stages,
        variables,
        normalized: Value::Object(normalized),
    })
}

fn check_artifact_store(pipeline: &Map<String, Value>) -> Result<(), AwsError> {
    let single = pipeline.get("artifactStore").filter(|v| !v.is_null());
    let per_region = pipeline.get("artifactStores").filter(|v| !v.is_null());
    let stores: Vec<&Value> = match (single, per_region) {
        (Some(store), None) => vec![store],
        (None, Some(Value::Object(map))) if !map.is_empty() => map.values().collect(),
        (None, Some(Value::Object(_))) | (None, None) => {
            return Err(structure(
                "Pipeline must contain exactly one of artifactStore or artifactStores",
            ));
        }
        (None, Some(_)) => return Err(serialization("pipeline.artifactStores must be a map")),
        (Some(_), Some(_)) => {
            return Err(structure(
                "Pipeline cannot contain both artifactStore and artifactStores",
            ));
        }
    };
    for store in stores {
        let store = object(store, "artifactStore")?;
        let kind = req_str(store, "type", "artifactStore")?;
        if kind != "S3" {
            return Err(validation(format!(
                "artifactStore.type must be S3, not {kind}"
            )));
        }
        let location = req_str(store, "location", "artifactStore")?;
        let valid = (3..=63).contains(&location.len())
            && location
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !valid {
            return Err(validation(format!(
                "artifactStore.location {location:?} is not an S3 bucket name"
            )));
        }
    }
    Ok(())
}

fn parse_variables(
    pipeline: &Map<String, Value>,
    pipeline_type: &str,
) -> Result<Vec<(String, Option<String>)>, AwsError> {
    let values = list(pipeline, "variables", "pipeline")?;
    if values.is_empty() {
        return Ok(Vec::new());
    }
    if pipeline_type != "V2" {
        return Err(validation(
            "Pipeline variables are only supported for pipelines of type V2",
        ));
    }
    if values.len() > 50 {
        return Err(validation("A pipeline declares at most 50 variables"));
    }
    let mut variables: Vec<(String, Option<String>)> = Vec::new();
    for value in values {
        let v = object(value, "pipeline.variables[]")?;
        let name = req_str(v, "name", "variables[]")?;
        if !valid_variable_name(name) {
            return Err(validation(format!(
                "Variable name {name:?} must be 1 to 128 letters, digits, '@', '-' or '_'"
            )));
        }
        if variables.iter().any(|(n, _)| n == name) {
            return Err(validation(format!(
                "Variable {name} is declared more than once"
            )));
        }
        let default = opt_str(v, "defaultValue", "variables[]")?;
        if default.is_some_and(|d| d.is_empty() || d.len() > 1000) {
            return Err(validation(format!(
                "The default value of variable {name} must have 1 to 1000 characters"
            )));
        }
        variables.push((name.to_owned(), default.map(str::to_owned)));
    }
    Ok(variables)
}

fn parse_stage(value: &Value, index: usize) -> Result<(PipelineStage, Value), AwsError> {
    let stage = object(value, "pipeline.stages[]")?;
    let name = req_str(stage, "name", "stages[]")?.to_owned();
    if !valid_name(&name) {
        return Err(validation(format!(
            "Stage name {name:?} must be 1 to 100 letters, digits, '.', '@', '-' or '_'"
        )));
    }
    if !list(stage, "blockers", "stage")?.is_empty() {
        return Err(stage_error(format!(
            "Stage {name}: blockers are reserved and not supported"
        )));
    }
    for key in ["onFailure", "onSuccess", "beforeEntry"] {
        if stage.get(key).is_some_and(|v| !v.is_null()) {
            return Err(stage_error(format!(
                "Stage {name}: the local cloud does not run stage conditions ({key})"
            )));
        }
    }
    let action_values = list(stage, "actions", "stage")?;
    if action_values.is_empty() {
        return Err(structure(format!(
            "Stage {name} has no actions: every stage needs at least one action"
        )));
    }
    let mut actions: Vec<PipelineAction> = Vec::new();
    let mut normalized_actions = Vec::new();
    for action_value in action_values {
        let (action, normalized) = parse_action(action_value, &name)?;
        if actions.iter().any(|a| a.name == action.name) {
            return Err(structure(format!(
                "Action name '{}' is used more than once in stage {name}: action names must be unique within a stage",
                action.name
            )));
        }
        let is_source = action.category == "Source";
        if index == 0 && !is_source {
            return Err(structure(format!(
                "Stage {name} is the first stage and contains the {} action {}: the first stage may only contain Source actions",
                action.category, action.name
            )));
        }
        if index > 0 && is_source {
            return Err(structure(format!(
                "Stage {name} contains the Source action {}: Source actions may only be in the first stage",
                action.name
            )));
        }
        actions.push(action);
        normalized_actions.push(normalized);
    }
    let mut normalized = stage.clone();
    normalized.insert("actions".into(), Value::Array(normalized_actions));
    Ok((PipelineStage { name, actions }, Value::Object(normalized)))
}

fn parse_action(value: &Value, stage: &str) -> Result<(PipelineAction, Value), AwsError> {
    let action = object(value, "stages[].actions[]")?;
    let name = req_str(action, "name", "actions[]")?.to_owned();
    if !valid_name(&name) {
        return Err(validation(format!(
            "Action name {name:?} must be 1 to 100 letters, digits, '.', '@', '-' or '_'"
        )));
    }
    let type_id = object(
        action
            .get("actionTypeId")
            .ok_or_else(|| validation(format!("Action {name}: actionTypeId is required")))?,
        "actionTypeId",
    )?;
    let category = req_str(type_id, "category", "actionTypeId")?;
    let owner = req_str(type_id, "owner", "actionTypeId")?;
    let provider = req_str(type_id, "provider", "actionTypeId")?;
    let version = req_str(type_id, "version", "actionTypeId")?;
    if !matches!(
        category,
        "Source" | "Build" | "Deploy" | "Test" | "Invoke" | "Approval" | "Compute"
    ) {
        return Err(validation(format!(
            "Action {name}: unknown action category {category}"
        )));
    }
    let known = ACTION_TYPES
        .iter()
        .find(|t| t.category == category && t.provider == provider)
        .filter(|_| owner == "AWS" && version == "1")
        .ok_or_else(|| {
            action_error(format!(
                "ActionType (Category: '{category}', Provider: '{provider}', Owner: '{owner}', Version: '{version}') \
                 in action '{name}' is not available in the local cloud; it runs Source CodeCommit and \
                 CodeStarSourceConnection, Build CodeBuild, Approval Manual and Deploy CodeDeployToECS and ECS (owner AWS, version 1)"
            ))
        })?;

    let run_order = match action.get("runOrder") {
        None | Some(Value::Null) => 1,
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|n| (1..=999).contains(n))
            .ok_or_else(|| validation(format!("Action {name}: runOrder must be 1 to 999")))?
            as u32,
        Some(_) => return Err(serialization("runOrder must be an integer")),
    };

    let mut configuration = BTreeMap::new();
    match action.get("configuration") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let value = value.as_str().ok_or_else(|| {
                    serialization(format!(
                        "Action {name}: configuration values must be strings ({key})"
                    ))
                })?;
                if value.len() > 1000 {
                    return Err(validation(format!(
                        "Action {name}: the configuration value of {key} is longer than 1000 characters"
                    )));
                }
                configuration.insert(key.clone(), value.to_owned());
            }
        }
        Some(_) => return Err(serialization("configuration must be a map")),
    }
    for key in configuration.keys() {
        if !known.required.contains(&key.as_str()) && !known.optional.contains(&key.as_str()) {
            return Err(action_error(format!(
                "Action configuration for action '{name}' contains unknown configuration '{key}'"
            )));
        }
    }
    for key in known.required {
        if configuration.get(*key).is_none_or(|v| v.is_empty()) {
            return Err(action_error(format!(
                "Action configuration for action '{name}' is missing required configuration '{key}'"
            )));
        }
    }

    let artifact_names = |key: &str| -> Result<Vec<String>, AwsError> {
        let mut names: Vec<String> = Vec::new();
        for item in list(action, key, "action")? {
            let n = req_str(object(item, key)?, "name", key)?;
            if !valid_artifact_name(n) {
                return Err(validation(format!(
                    "Artifact name {n:?} must be 1 to 100 letters, digits, '_' or '-'"
                )));
            }
            if names.iter().any(|existing| existing == n) {
                return Err(structure(format!(
                    "Action {name} names artifact {n} twice in {key}"
                )));
            }
            names.push(n.to_owned());
        }
        Ok(names)
    };
    let inputs = artifact_names("inputArtifacts")?;
    let outputs = artifact_names("outputArtifacts")?;
    let count_error = |what: &str, got: usize, (min, max): (usize, usize)| {
        structure(format!(
            "Action '{name}' in stage '{stage}' has {got} {what} artifact(s); the {category} action type {provider} takes {}",
            if min == max {
                format!("exactly {min}")
            } else {
                format!("{min} to {max}")
            }
        ))
    };
    if !(known.inputs.0..=known.inputs.1).contains(&inputs.len()) {
        return Err(count_error("input", inputs.len(), known.inputs));
    }
    if !(known.outputs.0..=known.outputs.1).contains(&outputs.len()) {
        return Err(count_error("output", outputs.len(), known.outputs));
    }
    check_configuration(&name, provider, &configuration, &inputs)?;

    let namespace = opt_str(action, "namespace", "action")?.map(str::to_owned);
    if let Some(ns) = &namespace {
        let ok = (1..=100).contains(&ns.len())
            && ns
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '-' | '_'));
        if !ok || ns == "variables" || ns == "codepipeline" {
            return Err(validation(format!(
                "Action {name}: {ns:?} is not a valid namespace"
            )));
        }
    }
    let parsed = PipelineAction {
        name,
        category: category.to_owned(),
        owner: owner.to_owned(),
        provider: provider.to_owned(),
        version: version.to_owned(),
        run_order,
        configuration,
        input_artifacts: inputs,
        output_artifacts: outputs,
        namespace,
        region: opt_str(action, "region", "action")?.map(str::to_owned),
        role_arn: opt_str(action, "roleArn", "action")?.map(str::to_owned),
    };
    let mut normalized = action.clone();
    normalized.insert("runOrder".into(), json!(run_order));
    for key in ["inputArtifacts", "outputArtifacts"] {
        normalized.entry(key).or_insert(json!([]));
    }
    normalized.entry("configuration").or_insert(json!({}));
    Ok((parsed, Value::Object(normalized)))
}

/// Checks of configuration values beyond presence.
fn check_configuration(
    name: &str,
    provider: &str,
    configuration: &BTreeMap<String, String>,
    inputs: &[String],
) -> Result<(), AwsError> {
    match provider {
        "CodeBuild" => {
            if let Some(raw) = configuration.get("EnvironmentVariables") {
                parse_environment_variables(raw)
                    .map_err(|why| action_error(format!("Action {name}: {why}")))?;
            }
            if let Some(primary) = configuration.get("PrimarySource")
                && !inputs.contains(primary)
            {
                return Err(action_error(format!(
                    "Action {name}: PrimarySource {primary} is not one of its input artifacts"
                )));
            }
        }
        "CodeDeployToECS" => {
            let mut keys = vec![
                "TaskDefinitionTemplateArtifact".to_owned(),
                "AppSpecTemplateArtifact".to_owned(),
            ];
            for n in 1..=4 {
                let artifact = format!("Image{n}ArtifactName");
                let container = format!("Image{n}ContainerName");
                match (
                    configuration.contains_key(&artifact),
                    configuration.contains_key(&container),
                ) {
                    (true, true) => keys.push(artifact),
                    (false, false) => {}
                    _ => {
                        return Err(action_error(format!(
                            "Action configuration for action '{name}': {artifact} and {container} go together"
                        )));
                    }
                }
            }
            for key in keys {
                let artifact = &configuration[&key];
                if !inputs.contains(artifact) {
                    return Err(action_error(format!(
                        "Action configuration for action '{name}': {key} {artifact} is not one of its input artifacts"
                    )));
                }
            }
        }
        "ECS" => {
            if let Some(minutes) = configuration.get("DeploymentTimeout")
                && !minutes.parse::<u32>().is_ok_and(|m| (1..=60).contains(&m))
            {
                return Err(action_error(format!(
                    "Action configuration for action '{name}': DeploymentTimeout must be a whole \
                     number of minutes from 1 to 60 (got {minutes:?})"
                )));
            }
        }
        "CodeCommit" | "CodeStarSourceConnection" => {
            if let Some(format) = configuration.get("OutputArtifactFormat")
                && !matches!(format.as_str(), "CODE_ZIP" | "CODEBUILD_CLONE_REF")
            {
                return Err(action_error(format!(
                    "Action {name}: OutputArtifactFormat must be CODE_ZIP or CODEBUILD_CLONE_REF"
                )));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The CodeBuild action's EnvironmentVariables: a JSON list of
/// `{"name", "value", "type"}`; only PLAINTEXT runs locally.
pub fn parse_environment_variables(raw: &str) -> Result<Vec<(String, String)>, String> {
    let items: Vec<Value> = serde_json::from_str(raw).map_err(|e| {
        format!("EnvironmentVariables must be a JSON list of {{name, value, type}}: {e}")
    })?;
    let mut variables = Vec::new();
    for item in items {
        let name = item["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or("each of EnvironmentVariables needs a name")?;
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || name.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(format!(
                "environment variable name {name:?} must be letters, digits and '_'"
            ));
        }
        if name.starts_with("CODEBUILD_") {
            return Err(format!(
                "environment variable {name}: names starting with CODEBUILD_ are reserved"
            ));
        }
        let value = item["value"]
            .as_str()
            .ok_or_else(|| format!("environment variable {name} needs a string value"))?;
        match item["type"].as_str().unwrap_or("PLAINTEXT") {
            "PLAINTEXT" => {}
            "PARAMETER_STORE" | "SECRETS_MANAGER" => {
                return Err(format!(
                    "environment variable {name}: the local cloud has no Parameter Store or Secrets Manager; use PLAINTEXT"
                ));
            }
            other => return Err(format!("environment variable {name}: unknown type {other}")),
        }
        variables.push((name.to_owned(), value.to_owned()));
    }
    Ok(variables)
}

/// Every input artifact comes out of an earlier action (an earlier stage,
/// or a lower runOrder in the same stage), and output names are unique.
fn check_artifacts(stages: &[PipelineStage]) -> Result<(), AwsError> {
    let mut produced: BTreeSet<&str> = BTreeSet::new();
    for stage in stages {
        let mut orders: Vec<u32> = stage.actions.iter().map(|a| a.run_order).collect();
        orders.sort_unstable();
        orders.dedup();
        for order in orders {
            let group: Vec<&PipelineAction> = stage
                .actions
                .iter()
                .filter(|a| a.run_order == order)
                .collect();
            for action in &group {
                for input in &action.input_artifacts {
                    if !produced.contains(input.as_str()) {
                        return Err(structure(format!(
                            "Input Artifact Bundle {input} in action '{}' is not declared as an output artifact in any preceding action",
                            action.name
                        )));
                    }
                }
            }
            for action in &group {
                for output in &action.output_artifacts {
                    if !produced.insert(output) {
                        return Err(structure(format!(
                            "Output Artifact Bundle name {output} is not unique: action '{}' declares it again",
                            action.name
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_triggers(
    pipeline: &Map<String, Value>,
    pipeline_type: &str,
    stages: &[PipelineStage],
) -> Result<(), AwsError> {
    let triggers = list(pipeline, "triggers", "pipeline")?;
    if triggers.is_empty() {
        return Ok(());
    }
    if pipeline_type != "V2" {
        return Err(validation(
            "Triggers are only supported for pipelines of type V2",
        ));
    }
    for trigger in triggers {
        let trigger = object(trigger, "triggers[]")?;
        let git = object(
            trigger
                .get("gitConfiguration")
                .ok_or_else(|| validation("triggers[].gitConfiguration is required"))?,
            "gitConfiguration",
        )?;
        let source = req_str(git, "sourceActionName", "gitConfiguration")?;
        let ok = stages[0]
            .actions
            .iter()
            .any(|a| a.name == source && a.provider == "CodeStarSourceConnection");
        if !ok {
            return Err(validation(format!(
                "The trigger's sourceActionName {source} is not a CodeStarSourceConnection source action of this pipeline"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> Value {
        json!({
            "name": "shop",
            "roleArn": "arn:aws:iam::000000000000:role/pipeline",
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [
                {"name": "Source", "actions": [{
                    "name": "Source",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                    "configuration": {"RepositoryName": "/srv/repo.git", "BranchName": "main"},
                    "outputArtifacts": [{"name": "SourceArtifact"}],
                }]},
                {"name": "Build", "actions": [{
                    "name": "Build",
                    "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                    "configuration": {"ProjectName": "app"},
                    "inputArtifacts": [{"name": "SourceArtifact"}],
                    "outputArtifacts": [{"name": "BuildArtifact"}],
                }]},
                {"name": "Deploy", "actions": [{
                    "name": "Deploy",
                    "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeployToECS", "version": "1"},
                    "configuration": {
                        "ApplicationName": "app", "DeploymentGroupName": "app-dg",
                        "TaskDefinitionTemplateArtifact": "BuildArtifact", "AppSpecTemplateArtifact": "BuildArtifact",
                        "Image1ArtifactName": "BuildArtifact", "Image1ContainerName": "IMAGE1_NAME",
                    },
                    "inputArtifacts": [{"name": "BuildArtifact"}],
                }]},
            ],
        })
    }

    /// A change that spoils the valid pipeline.
    type Change = Box<dyn Fn(&mut Value)>;

    fn parse_value(v: &Value) -> Result<Declaration, AwsError> {
        parse(v.as_object().unwrap())
    }

    #[test]
    fn a_valid_pipeline_parses_with_defaults() {
        let d = parse_value(&pipeline()).unwrap();
        assert_eq!(d.stages.len(), 3);
        assert_eq!(d.execution_mode, "SUPERSEDED");
        assert_eq!(d.normalized["pipelineType"], "V1");
        assert_eq!(d.stages[1].actions[0].run_order, 1);
        assert_eq!(d.normalized["stages"][2]["actions"][0]["runOrder"], 1);
    }

    #[test]
    fn bad_structures_are_refused_with_the_aws_exception() {
        let cases: Vec<(Change, &str, &str)> = vec![
            (
                Box::new(|p| {
                    p["stages"].as_array_mut().unwrap().truncate(1);
                }),
                "InvalidStructureException",
                "minimum of 2 stages",
            ),
            (
                Box::new(|p| p["stages"][1]["name"] = json!("Source")),
                "InvalidStructureException",
                "unique",
            ),
            (
                Box::new(|p| {
                    let build = p["stages"][1]["actions"][0].clone();
                    p["stages"][0]["actions"]
                        .as_array_mut()
                        .unwrap()
                        .push(build);
                }),
                "InvalidStructureException",
                "only contain Source actions",
            ),
            (
                Box::new(|p| {
                    p["stages"][1]["actions"][0]["actionTypeId"]["provider"] = json!("Jenkins")
                }),
                "InvalidActionDeclarationException",
                "not available",
            ),
            (
                Box::new(|p| {
                    p["stages"][0]["actions"][0]["configuration"]
                        .as_object_mut()
                        .unwrap()
                        .remove("BranchName");
                }),
                "InvalidActionDeclarationException",
                "missing required configuration 'BranchName'",
            ),
            (
                Box::new(|p| p["stages"][0]["actions"][0]["configuration"]["Nope"] = json!("x")),
                "InvalidActionDeclarationException",
                "unknown configuration 'Nope'",
            ),
            (
                Box::new(|p| {
                    p["stages"][1]["actions"][0]["inputArtifacts"] = json!([{"name": "Missing"}])
                }),
                "InvalidStructureException",
                "Missing",
            ),
            (
                Box::new(|p| {
                    p["stages"][1]["actions"][0]["outputArtifacts"] =
                        json!([{"name": "SourceArtifact"}])
                }),
                "InvalidStructureException",
                "not unique",
            ),
            (
                Box::new(|p| {
                    p["stages"][2]["actions"][0]["configuration"]["AppSpecTemplateArtifact"] =
                        json!("SourceArtifact")
                }),
                "InvalidActionDeclarationException",
                "not one of its input artifacts",
            ),
            (
                Box::new(|p| p["roleArn"] = json!("role")),
                "ValidationException",
                "roleArn",
            ),
            (
                Box::new(|p| {
                    p.as_object_mut().unwrap().remove("artifactStore");
                }),
                "InvalidStructureException",
                "artifactStore",
            ),
            (
                Box::new(|p| p["executionMode"] = json!("QUEUED")),
                "ValidationException",
                "V2",
            ),
            (
                Box::new(|p| {
                    p["stages"][1]["actions"][0]["configuration"]["EnvironmentVariables"] =
                        json!(r#"[{"name":"A","value":"b","type":"SECRETS_MANAGER"}]"#)
                }),
                "InvalidActionDeclarationException",
                "Secrets Manager",
            ),
            (
                Box::new(|p| {
                    p["stages"][1]["actions"][0]["configuration"]["EnvironmentVariables"] =
                        json!("not json")
                }),
                "InvalidActionDeclarationException",
                "JSON list",
            ),
            (
                Box::new(|p| p["stages"][1]["actions"] = json!([])),
                "InvalidStructureException",
                "no actions",
            ),
            (
                Box::new(|p| p["name"] = json!("bad name")),
                "ValidationException",
                "pattern",
            ),
        ];
        for (change, code, needle) in cases {
            let mut p = pipeline();
            change(&mut p);
            let err = parse_value(&p).unwrap_err();
            assert_eq!(err.code, code, "{}", err.message);
            assert!(
                err.message.contains(needle),
                "{needle:?} not in {}",
                err.message
            );
        }
    }

    /// The Deploy stage with the ECS action instead of CodeDeployToECS.
    fn with_ecs_deploy(configuration: Value) -> Value {
        let mut p = pipeline();
        p["stages"][2]["actions"][0]["actionTypeId"]["provider"] = json!("ECS");
        p["stages"][2]["actions"][0]["configuration"] = configuration;
        p
    }

    #[test]
    fn the_ecs_deploy_action_parses_and_checks_its_timeout() {
        let d = parse_value(&with_ecs_deploy(json!({
            "ClusterName": "shop", "ServiceName": "shop", "FileName": "images.json",
            "DeploymentTimeout": "15",
        })))
        .unwrap();
        assert_eq!(d.stages[2].actions[0].provider, "ECS");
        for (configuration, needle) in [
            (json!({"ClusterName": "shop"}), "'ServiceName'"),
            (
                json!({"ClusterName": "c", "ServiceName": "s", "DeploymentTimeout": "61"}),
                "1 to 60",
            ),
            (
                json!({"ClusterName": "c", "ServiceName": "s", "DeploymentTimeout": "soon"}),
                "1 to 60",
            ),
            (
                json!({"ClusterName": "c", "ServiceName": "s", "AppSpecTemplateArtifact": "x"}),
                "unknown configuration",
            ),
        ] {
            let err = parse_value(&with_ecs_deploy(configuration)).unwrap_err();
            assert_eq!(err.code, "InvalidActionDeclarationException");
            assert!(
                err.message.contains(needle),
                "{needle:?} not in {}",
                err.message
            );
        }
        let mut two_inputs = with_ecs_deploy(json!({"ClusterName": "c", "ServiceName": "s"}));
        two_inputs["stages"][2]["actions"][0]["inputArtifacts"] =
            json!([{"name": "BuildArtifact"}, {"name": "SourceArtifact"}]);
        assert!(parse_value(&two_inputs).is_err());
    }

    #[test]
    fn environment_variables_parse() {
        assert_eq!(
            parse_environment_variables(
                r#"[{"name":"A","value":"1"},{"name":"B_2","value":"x","type":"PLAINTEXT"}]"#
            )
            .unwrap(),
            vec![("A".into(), "1".into()), ("B_2".into(), "x".into())]
        );
        assert!(parse_environment_variables(r#"[{"name":"CODEBUILD_X","value":"1"}]"#).is_err());
        assert!(parse_environment_variables(r#"[{"name":"A-B","value":"1"}]"#).is_err());
    }

    #[test]
    fn role_arns() {
        assert!(valid_role_arn("arn:aws:iam::123456789012:role/x"));
        assert!(valid_role_arn("arn:aws-cn:iam::123456789012:role/a/b"));
        assert!(!valid_role_arn("arn:aws:iam::1234:role/x"));
        assert!(!valid_role_arn("arn:aws:iam::123456789012:user/x"));
    }
}
