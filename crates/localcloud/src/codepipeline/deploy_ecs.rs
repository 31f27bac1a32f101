//! ECS actions (the Amazon ECS standard deploy action): the service's
//! current task definition with the images imagedefinitions.json names,
//! registered as a new revision and rolled out with UpdateService, through
//! the local ECS operations themselves. The service's own deployment
//! controller and configuration decide how it rolls out; the action follows
//! the service deployment UpdateService started to its end, as CodePipeline
//! waits for the deployment to complete.

use super::super::ecs::native::model::ServiceDeploymentStatus;
use super::super::state::CloudState;
use super::super::{LocalCloud, now_millis};
use super::buildspec::stays_inside;
use super::deploy_codedeploy::{READ_ONLY_FIELDS, resolve_image};
use super::engine::{self, ActionFailure, ActionSuccess, Launch};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(200);
/// The action's DeploymentTimeout when none is configured, in minutes.
pub(super) const DEFAULT_TIMEOUT_MINUTES: u32 = 60;
pub(super) const DEFAULT_FILE_NAME: &str = "imagedefinitions.json";

struct Job {
    cluster: String,
    service: String,
    file_name: String,
    timeout_minutes: u32,
    /// The input artifact's name and directory.
    artifact: (String, PathBuf),
    service_deployment: Option<String>,
    started_at: i64,
}

pub async fn run(cloud: Arc<LocalCloud>, launch: Launch) {
    if let Some(outcome) = deploy(&cloud, &launch).await {
        engine::report(&cloud, &launch, outcome);
    }
}

fn job(s: &CloudState, launch: &Launch) -> Option<Job> {
    let (e, run, action) = launch.find(s)?;
    let name = action.input_artifacts.first()?;
    let dir = e.artifacts.get(name)?.dir.clone();
    let config = &run.resolved_configuration;
    let cluster = config.get("ClusterName")?.clone();
    let service = config.get("ServiceName")?.clone();
    // A deployment started before a restart, found by the ARN recorded or
    // as the one this service started since the action did.
    let service_deployment = run.external_execution_id.clone().or_else(|| {
        let service_arn_end = format!("service/{cluster}/{service}");
        s.service_deployments
            .values()
            .find(|d| d.service_arn.ends_with(&service_arn_end) && d.created_at >= run.started_at)
            .map(|d| d.arn.clone())
    });
    Some(Job {
        file_name: config
            .get("FileName")
            .cloned()
            .unwrap_or_else(|| DEFAULT_FILE_NAME.into()),
        timeout_minutes: config
            .get("DeploymentTimeout")
            .and_then(|m| m.parse().ok())
            .unwrap_or(DEFAULT_TIMEOUT_MINUTES),
        cluster,
        service,
        artifact: (name.clone(), dir),
        service_deployment,
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
            "the deployment's execution, action or input artifact is gone",
        )));
    };
    let arn = match &job.service_deployment {
        Some(arn) => arn.clone(),
        None => match roll_out(cloud, &job) {
            Ok(arn) => {
                engine::update_run(cloud, launch, |run| {
                    run.external_execution_id = Some(arn.clone());
                    run.summary = Some(format!("Service deployment {arn} started"));
                });
                arn
            }
            Err(why) => return Some(Err(ActionFailure::new(why))),
        },
    };
    follow(cloud, launch, &job, &arn).await
}

/// (container name, image) pairs of the image definitions file.
fn image_definitions(job: &Job) -> Result<Vec<(String, String)>, String> {
    let (artifact, dir) = &job.artifact;
    let file = &job.file_name;
    if !stays_inside(file) {
        return Err(format!(
            "FileName {file:?} must be a relative path inside the artifact {artifact}"
        ));
    }
    let text = std::fs::read_to_string(dir.join(file))
        .map_err(|e| format!("cannot read {file} from the artifact {artifact}: {e}"))?;
    let shape = || {
        format!(
            "{file} of the artifact {artifact} must be a JSON list of {{\"name\", \"imageUri\"}}"
        )
    };
    let entries: Vec<Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", shape()))?;
    if entries.is_empty() {
        return Err(format!(
            "{file} of the artifact {artifact} names no container"
        ));
    }
    entries
        .iter()
        .map(|entry| {
            let field = |key: &str| entry[key].as_str().filter(|v| !v.is_empty());
            let (Some(name), Some(uri)) = (field("name"), field("imageUri")) else {
                return Err(shape());
            };
            Ok((name.to_owned(), resolve_image(uri, dir, artifact)?))
        })
        .collect()
}

/// Registers the service's task definition with the new images and rolls it
/// out; the ARN of the service deployment that started.
fn roll_out(cloud: &LocalCloud, job: &Job) -> Result<String, String> {
    let images = image_definitions(job)?;
    let ecs = |operation: &str, body: Value| {
        super::super::ecs::call(cloud, operation, body.as_object().expect("an object"))
            .map_err(|e| format!("{operation} failed: {}: {}", e.code, e.message))
    };
    let described = ecs(
        "DescribeServices",
        json!({"cluster": job.cluster, "services": [job.service]}),
    )?;
    let current = described["services"][0]["taskDefinition"]
        .as_str()
        .ok_or_else(|| {
            format!(
                "The service {} does not exist in the cluster {}",
                job.service, job.cluster
            )
        })?
        .to_owned();
    let definition = ecs("DescribeTaskDefinition", json!({"taskDefinition": current}))?;
    let mut registration: Map<String, Value> = definition["taskDefinition"]
        .as_object()
        .cloned()
        .ok_or("DescribeTaskDefinition answered no task definition")?;
    set_images(&mut registration, &images, &current)?;
    for field in READ_ONLY_FIELDS {
        registration.remove(field);
    }
    let registered = ecs("RegisterTaskDefinition", Value::Object(registration))?;
    let arn = registered["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .ok_or("RegisterTaskDefinition answered no ARN")?;
    let updated = ecs(
        "UpdateService",
        json!({"cluster": job.cluster, "service": job.service, "taskDefinition": arn}),
    )?;
    updated["service"]["currentServiceDeployment"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "UpdateService of {} started no service deployment",
                job.service
            )
        })
}

/// Puts each image on the container of its name; every name must be one of
/// the task definition's containers.
fn set_images(
    registration: &mut Map<String, Value>,
    images: &[(String, String)],
    task_definition: &str,
) -> Result<(), String> {
    let containers = registration
        .get_mut("containerDefinitions")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| format!("The task definition {task_definition} has no containers"))?;
    for (name, image) in images {
        let container = containers
            .iter_mut()
            .find(|c| c["name"].as_str() == Some(name))
            .ok_or_else(|| {
                format!(
                    "The image definitions name the container {name}, which the task definition \
                     {task_definition} does not have"
                )
            })?;
        container["image"] = json!(image);
    }
    Ok(())
}

async fn follow(
    cloud: &LocalCloud,
    launch: &Launch,
    job: &Job,
    arn: &str,
) -> Option<Result<ActionSuccess, ActionFailure>> {
    let clock = cloud.clock();
    loop {
        if !engine::still_running(cloud, launch) {
            return None; // abandoned: the deployment goes on, as in AWS
        }
        let seen = cloud.read(|s| {
            s.service_deployments.get(arn).map(|d| {
                let reason = d.rollback.as_ref().map(|r| r.reason.clone());
                (d.status, reason.or_else(|| d.status_reason.clone()))
            })
        });
        match seen {
            None => {
                return Some(Err(ActionFailure::new(format!(
                    "The service deployment {arn} no longer exists"
                ))));
            }
            Some((ServiceDeploymentStatus::Successful, _)) => {
                return Some(Ok(ActionSuccess {
                    summary: Some(format!("Service deployment {arn} succeeded")),
                    artifacts: Vec::new(),
                    output_variables: BTreeMap::new(),
                }));
            }
            Some((status, reason)) if status.is_finished() => {
                let why = reason.map_or_else(String::new, |r| format!(": {r}"));
                return Some(Err(ActionFailure::new(format!(
                    "The service deployment {arn} ended {}{why}",
                    status.as_str()
                ))));
            }
            Some(_) => {}
        }
        let elapsed = clock.cloud_elapsed(job.started_at, now_millis());
        if elapsed.as_secs_f64() >= f64::from(job.timeout_minutes) * 60.0 {
            return Some(Err(ActionFailure::new(format!(
                "The service deployment {arn} did not finish within the action's DeploymentTimeout \
                 of {} minutes",
                job.timeout_minutes
            ))));
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_with(dir: &std::path::Path, text: &str) -> Job {
        std::fs::write(dir.join(DEFAULT_FILE_NAME), text).unwrap();
        Job {
            cluster: "c".into(),
            service: "s".into(),
            file_name: DEFAULT_FILE_NAME.into(),
            timeout_minutes: DEFAULT_TIMEOUT_MINUTES,
            artifact: ("BuildArtifact".into(), dir.to_owned()),
            service_deployment: None,
            started_at: 0,
        }
    }

    #[test]
    fn image_definitions_resolve_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("site")).unwrap();
        let images = image_definitions(&job_with(
            dir.path(),
            r#"[{"name":"web","imageUri":"static:site"},{"name":"log","imageUri":"busybox:1"}]"#,
        ))
        .unwrap();
        assert_eq!(
            images,
            vec![
                (
                    "web".to_owned(),
                    format!("static:{}", dir.path().join("site").display())
                ),
                ("log".to_owned(), "busybox:1".to_owned()),
            ]
        );
        let refused = |text: &str| image_definitions(&job_with(dir.path(), text)).unwrap_err();
        assert!(refused("[]").contains("names no container"));
        assert!(refused(r#"[{"name":"web"}]"#).contains("JSON list of"));
        assert!(refused(r#"{"name":"web","imageUri":"x"}"#).contains("JSON list of"));
        assert!(refused(r#"[{"name":"web","imageUri":"static:../up"}]"#).contains("inside"));
        let mut outside = job_with(dir.path(), "[]");
        outside.file_name = "../imagedefinitions.json".into();
        assert!(
            image_definitions(&outside)
                .unwrap_err()
                .contains("relative path inside")
        );
    }

    #[test]
    fn images_go_to_their_containers() {
        let mut registration = json!({"containerDefinitions": [
            {"name": "web", "image": "old"}, {"name": "log", "image": "keep"}
        ]})
        .as_object()
        .cloned()
        .unwrap();
        set_images(&mut registration, &[("web".into(), "new".into())], "td:1").unwrap();
        assert_eq!(registration["containerDefinitions"][0]["image"], "new");
        assert_eq!(registration["containerDefinitions"][1]["image"], "keep");
        let missing =
            set_images(&mut registration, &[("api".into(), "x".into())], "td:1").unwrap_err();
        assert!(missing.contains("container api"), "{missing}");
    }
}
