//! CodeDeployToECS actions (blue/green through CodeDeploy): the task definition template with its image
//! placeholders filled from imageDetail.json, registered in the local ECS;
//! the AppSpec template pointed at it; a CodeDeploy deployment created in
//! the local cloud and followed to its end. Both through the local ECS and
//! CodeDeploy operations themselves, in-process.
//!
//! An image `static:<relative dir>` in imageDetail.json means that
//! directory of the image's artifact (artifacts live under the data dir as
//! long as the local cloud does, so a task set can keep serving it).

use super::super::state::{CloudState, DeploymentStatus};
use super::super::{LocalCloud, now_millis};
use super::buildspec::stays_inside;
use super::engine::{self, ActionFailure, ActionSuccess, Launch};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(200);
/// CodePipeline gives up on a CodeDeployToECS action after five days (cloud time).
const ACTION_TIMEOUT_MINUTES: f64 = 5.0 * 24.0 * 60.0;
/// What RegisterTaskDefinition returns but does not take.
pub(super) const READ_ONLY_FIELDS: [&str; 8] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

struct Job {
    pipeline: String,
    execution: String,
    configuration: BTreeMap<String, String>,
    inputs: BTreeMap<String, PathBuf>,
    deployment: Option<String>,
    started_at: i64,
}

pub async fn run(cloud: Arc<LocalCloud>, launch: Launch) {
    if let Some(outcome) = deploy(&cloud, &launch).await {
        engine::report(&cloud, &launch, outcome);
    }
}

fn job(s: &CloudState, launch: &Launch) -> Option<Job> {
    let (e, run, action) = launch.find(s)?;
    let inputs = action
        .input_artifacts
        .iter()
        .map(|name| Some((name.clone(), e.artifacts.get(name)?.dir.clone())))
        .collect::<Option<BTreeMap<_, _>>>()?;
    // A deployment created before a restart, found by the id recorded or by
    // the description that names this action execution.
    let deployment = run.external_execution_id.clone().or_else(|| {
        s.deployments
            .values()
            .find(|d| {
                d.description
                    .as_deref()
                    .is_some_and(|text| text.contains(&run.id))
            })
            .map(|d| d.id.clone())
    });
    Some(Job {
        pipeline: e.pipeline.clone(),
        execution: e.id.clone(),
        configuration: run.resolved_configuration.clone(),
        inputs,
        deployment,
        started_at: run.started_at,
    })
}

/// None when the action was abandoned on the way.
async fn deploy(
    cloud: &Arc<LocalCloud>,
    launch: &Launch,
) -> Option<Result<ActionSuccess, ActionFailure>> {
    let Some(job) = cloud.read(|s| job(s, launch)) else {
        return Some(Err(ActionFailure::new(
            "the deployment's execution, action or input artifacts are gone",
        )));
    };
    let deployment = match &job.deployment {
        Some(id) => id.clone(),
        None => match create(cloud, launch, &job) {
            Ok(id) => {
                engine::update_run(cloud, launch, |run| {
                    run.external_execution_id = Some(id.clone());
                    run.summary = Some(format!("Deployment {id} created"));
                });
                id
            }
            Err(why) => return Some(Err(ActionFailure::new(why))),
        },
    };
    follow(cloud, launch, &job, &deployment).await
}

fn create(cloud: &Arc<LocalCloud>, launch: &Launch, job: &Job) -> Result<String, String> {
    let config = &job.configuration;
    let read =
        |artifact_key: &str, path_key: &str, default: &str| -> Result<(String, String), String> {
            let (artifact, dir) = input_artifact(job, artifact_key)?;
            let path = config.get(path_key).map_or(default, String::as_str);
            if !stays_inside(path) {
                return Err(format!(
                    "{path_key} {path:?} must be a relative path inside the artifact {artifact}"
                ));
            }
            std::fs::read_to_string(dir.join(path))
                .map(|text| (text, format!("{artifact}::{path}")))
                .map_err(|e| format!("cannot read {path} from the artifact {artifact}: {e}"))
        };
    let (mut task_definition, td_name) = read(
        "TaskDefinitionTemplateArtifact",
        "TaskDefinitionTemplatePath",
        "taskdef.json",
    )?;
    for n in 1..=4 {
        let Some(artifact) = config.get(&format!("Image{n}ArtifactName")) else {
            continue;
        };
        let placeholder = format!(
            "<{}>",
            config
                .get(&format!("Image{n}ContainerName"))
                .map_or("", String::as_str)
        );
        let dir = job
            .inputs
            .get(artifact)
            .ok_or_else(|| format!("{artifact} is not an input artifact of the action"))?;
        let uri = image_uri(dir, artifact)?;
        if !task_definition.contains(&placeholder) {
            return Err(format!(
                "The task definition {td_name} has no placeholder {placeholder} for the image of {artifact}"
            ));
        }
        // The URI goes into a JSON string.
        let escaped = serde_json::to_string(&uri).map_err(|e| e.to_string())?;
        task_definition = task_definition.replace(&placeholder, &escaped[1..escaped.len() - 1]);
    }
    let mut registration: Map<String, Value> = match serde_json::from_str(&task_definition) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(format!(
                "The task definition {td_name} must be a JSON object"
            ));
        }
        Err(e) => {
            return Err(format!(
                "The task definition {td_name} is not valid JSON: {e}"
            ));
        }
    };
    for field in READ_ONLY_FIELDS {
        registration.remove(field);
    }
    let registered = super::super::ecs::call(cloud, "RegisterTaskDefinition", &registration)
        .map_err(|e| {
            format!(
                "RegisterTaskDefinition of {td_name} failed: {}: {}",
                e.code, e.message
            )
        })?;
    let arn = registered["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .ok_or("RegisterTaskDefinition answered no ARN")?
        .to_owned();

    let (appspec, appspec_name) = read(
        "AppSpecTemplateArtifact",
        "AppSpecTemplatePath",
        "appspec.yaml",
    )?;
    if !appspec.contains("<TASK_DEFINITION>") {
        return Err(format!(
            "The AppSpec {appspec_name} has no <TASK_DEFINITION> placeholder for the task definition"
        ));
    }
    let appspec = appspec.replace("<TASK_DEFINITION>", &arn);
    let request = json!({
        "applicationName": config.get("ApplicationName"),
        "deploymentGroupName": config.get("DeploymentGroupName"),
        "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec}},
        "description": format!(
            "CodePipeline {} execution {} action execution {}",
            job.pipeline, job.execution, launch.run
        ),
    });
    let created = super::super::codedeploy::call(
        cloud,
        "CreateDeployment",
        request.as_object().expect("an object"),
    )
    .map_err(|e| format!("CreateDeployment failed: {}: {}", e.code, e.message))?;
    created["deploymentId"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "CreateDeployment answered no deployment id".into())
}

/// The artifact a configuration key names, and its directory.
fn input_artifact<'a>(job: &'a Job, key: &str) -> Result<(&'a str, &'a Path), String> {
    let artifact = job
        .configuration
        .get(key)
        .ok_or_else(|| format!("the action's configuration has no {key}"))?;
    let dir = job
        .inputs
        .get(artifact)
        .ok_or_else(|| format!("{key} {artifact} is not an input artifact of the action"))?;
    Ok((artifact, dir))
}

/// The ImageURI of the artifact's imageDetail.json; a relative
/// `static:<dir>` becomes that directory of the artifact.
fn image_uri(dir: &Path, artifact: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(dir.join("imageDetail.json"))
        .map_err(|e| format!("cannot read imageDetail.json from the artifact {artifact}: {e}"))?;
    let detail: Value = serde_json::from_str(&text).map_err(|e| {
        format!("imageDetail.json of the artifact {artifact} is not valid JSON: {e}")
    })?;
    let uri = detail["ImageURI"]
        .as_str()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("imageDetail.json of the artifact {artifact} has no ImageURI"))?;
    resolve_image(uri, dir, artifact)
}

/// An image as a build artifact names it: a relative `static:<dir>` is that
/// directory of the artifact (`dir`); anything else is taken as it is.
pub(super) fn resolve_image(uri: &str, dir: &Path, artifact: &str) -> Result<String, String> {
    let Some(site) = uri.strip_prefix("static:") else {
        return Ok(uri.to_owned());
    };
    let site_dir = if Path::new(site).is_absolute() {
        PathBuf::from(site)
    } else if stays_inside(site) {
        dir.join(site)
    } else {
        return Err(format!(
            "the image {uri} of the artifact {artifact} must name a directory inside the artifact"
        ));
    };
    if !site_dir.is_dir() {
        return Err(format!(
            "the image {uri} of the artifact {artifact} names {}, which is not a directory",
            site_dir.display()
        ));
    }
    Ok(format!("static:{}", site_dir.display()))
}

async fn follow(
    cloud: &LocalCloud,
    launch: &Launch,
    job: &Job,
    deployment: &str,
) -> Option<Result<ActionSuccess, ActionFailure>> {
    let clock = cloud.clock();
    loop {
        if !engine::still_running(cloud, launch) {
            return None; // abandoned: the deployment goes on, as in AWS
        }
        let seen = cloud.read(|s| {
            s.deployments
                .get(deployment)
                .map(|d| (d.status, d.error.clone()))
        });
        match seen {
            None => {
                return Some(Err(ActionFailure::new(format!(
                    "The deployment {deployment} no longer exists"
                ))));
            }
            Some((DeploymentStatus::Succeeded, _)) => {
                return Some(Ok(ActionSuccess {
                    summary: Some(format!("Deployment {deployment} succeeded")),
                    artifacts: Vec::new(),
                    output_variables: BTreeMap::new(),
                }));
            }
            Some((status, error)) if status.is_finished() => {
                let why = error.map_or_else(String::new, |(code, message)| {
                    format!(": {code}: {message}")
                });
                return Some(Err(ActionFailure::new(format!(
                    "The deployment {deployment} {}{why}",
                    status.as_str().to_lowercase()
                ))));
            }
            Some(_) => {}
        }
        if clock
            .cloud_elapsed(job.started_at, now_millis())
            .as_secs_f64()
            >= ACTION_TIMEOUT_MINUTES * 60.0
        {
            return Some(Err(ActionFailure::new(format!(
                "The deployment {deployment} did not finish within the action's 5-day limit"
            ))));
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_images_resolve_inside_their_artifact() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("site")).unwrap();
        let write = |uri: &str| {
            std::fs::write(
                dir.path().join("imageDetail.json"),
                json!({"ImageURI": uri}).to_string(),
            )
            .unwrap()
        };
        write("static:site");
        assert_eq!(
            image_uri(dir.path(), "BuildArtifact").unwrap(),
            format!("static:{}", dir.path().join("site").display())
        );
        write("000000000000.dkr.ecr.us-east-1.amazonaws.com/app:1");
        assert_eq!(
            image_uri(dir.path(), "BuildArtifact").unwrap(),
            "000000000000.dkr.ecr.us-east-1.amazonaws.com/app:1"
        );
        write("static:../escape");
        assert!(
            image_uri(dir.path(), "BuildArtifact")
                .unwrap_err()
                .contains("inside the artifact")
        );
        write("static:missing");
        assert!(
            image_uri(dir.path(), "BuildArtifact")
                .unwrap_err()
                .contains("not a directory")
        );
        std::fs::write(dir.path().join("imageDetail.json"), "{}").unwrap();
        assert!(
            image_uri(dir.path(), "BuildArtifact")
                .unwrap_err()
                .contains("no ImageURI")
        );
    }
}
