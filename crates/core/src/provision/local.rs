//! Local stacks: a load balancer with production and test listeners and
//! blue/green target groups, an ECS cluster and a service for the
//! environment's controller (CODE_DEPLOY with a CodeDeploy application and
//! deployment group, or ECS with the alternate target group and the
//! listener rules it rewrites), all in the local cloud.
//! Each step finds what an earlier, interrupted run made and reuses it, so a
//! retry converges.

use super::{Log, StackOutputs, resource_name};
use crate::cloud::pipelines::{self as cloud_pipelines, DeployAction, PipelineDeclaration};
use crate::cloud::{Cloud, alarms, describe, local_ecr};
use crate::store::environments::EnvironmentRow;
use anyhow::{Context, anyhow, bail};
use aws_sdk_codedeploy::types as cd;
use aws_sdk_ecs::types as ecs;
use std::path::Path;
use std::time::{Duration, Instant};
use switchyard_domain::environment::{self, Dimension};
use switchyard_domain::pipeline::SourceSettings;
use switchyard_domain::service_deployment::{DeploymentController, EcsDeploymentSettings};

/// The local cloud checks no IAM; the declaration still names a role, as AWS requires.
const LOCAL_PIPELINE_ROLE: &str = "arn:aws:iam::000000000000:role/switchyard-local-pipeline";

/// The task size the placeholder and the build's task definitions name;
/// local tasks are not limited by it.
const LOCAL_TASK_CPU: &str = "256";
const LOCAL_TASK_MEMORY: &str = "512";
/// The local cloud checks no IAM; task definitions still name their roles.
const LOCAL_TASK_ROLE: &str = "arn:aws:iam::000000000000:role/switchyard-local-task";

/// The local cloud checks no IAM; ECS's load balancer settings still name
/// the infrastructure role that may rewrite the listener rules.
const LOCAL_ECS_INFRASTRUCTURE_ROLE: &str =
    "arn:aws:iam::000000000000:role/switchyard-local-ecs-infrastructure";

/// How long a new service may take until its tasks answer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct LocalCloudTarget<'a> {
    pub endpoint: &'a str,
    pub cloud: &'a Cloud,
    pub http: &'a reqwest::Client,
}

pub fn names(env: &EnvironmentRow) -> StackOutputs {
    // ECS's own controller needs no CodeDeploy resources.
    let codedeploy = env.deployment_controller == DeploymentController::CodeDeploy;
    StackOutputs {
        cluster: resource_name(&env.name, "", 255),
        service: env.name.clone(),
        codedeploy_application: if codedeploy {
            env.name.clone()
        } else {
            String::new()
        },
        deployment_group: if codedeploy {
            format!("{}-dg", env.name)
        } else {
            String::new()
        },
        target_groups: vec![
            resource_name(&env.name, "blue", 32),
            resource_name(&env.name, "green", 32),
        ],
        task_definition_family: env.name.clone(),
        ..Default::default()
    }
}

/// The page a new stack serves until its first release.
fn placeholder_site(data_dir: &Path, env: &EnvironmentRow) -> anyhow::Result<std::path::PathBuf> {
    let dir = data_dir.join("stacks").join(&env.name).join("placeholder");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("index.html"),
        format!(
            "<!doctype html><title>{0}</title><p>switchyard: environment <b>{0}</b> is provisioned and has no release yet.</p>\n",
            env.name
        ),
    )?;
    // The target groups check the health check path: the placeholder answers it.
    let health = env.health_check_path.trim_start_matches('/');
    if !health.is_empty() && !health.ends_with('/') && !health.split('/').any(|part| part == "..") {
        let file = dir.join(health.split(['?', '#']).next().unwrap_or(health));
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, "ok\n")?;
    }
    Ok(dir)
}

pub async fn provision(
    target: &LocalCloudTarget<'_>,
    data_dir: &Path,
    env: &EnvironmentRow,
    source: Option<&SourceSettings>,
    log: &mut impl Log,
) -> anyhow::Result<StackOutputs> {
    let mut out = names(env);
    let lb_name = resource_name(&env.name, "", 32);

    log.line(format!(
        "load balancer {lb_name}: production and test listeners, target groups {}",
        out.target_groups.join(", ")
    ))
    .await;
    let lb = load_balancer(target, &lb_name, &out.target_groups, &env.health_check_path).await?;
    out.prod_url = lb.production_url.clone();
    out.test_url = lb.test_url.clone();
    out.prod_listener_arn = lb.production_listener_arn.clone();
    out.test_listener_arn = lb.test_listener_arn.clone();
    set_dimensions(&mut out, &lb);
    guard_alarms(target.cloud, env, &mut out, log).await?;

    log.line(format!("ECS cluster {}", out.cluster)).await;
    target
        .cloud
        .ecs
        .create_cluster()
        .cluster_name(&out.cluster)
        .send()
        .await
        .map_err(|e| anyhow!(describe(&e)))?;

    let site = placeholder_site(data_dir, env)?;
    log.line(format!(
        "task definition {} (placeholder page until the first release)",
        out.task_definition_family
    ))
    .await;
    let task_definition = target
        .cloud
        .ecs
        .register_task_definition()
        .family(&out.task_definition_family)
        .requires_compatibilities(ecs::Compatibility::Fargate)
        .network_mode(ecs::NetworkMode::Awsvpc)
        .cpu(LOCAL_TASK_CPU)
        .memory(LOCAL_TASK_MEMORY)
        .container_definitions(
            ecs::ContainerDefinition::builder()
                .name(&env.container_name)
                .image(format!("static:{}", site.display()))
                .essential(true)
                .port_mappings(
                    ecs::PortMapping::builder()
                        .container_port(env.container_port as i32)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow!(describe(&e)))?
        .task_definition
        .and_then(|td| td.task_definition_arn)
        .context("RegisterTaskDefinition answered no ARN")?;

    let active = service(target, &out)
        .await?
        .is_some_and(|s| s.status() == Some("ACTIVE"));
    if active {
        log.line(format!("ECS service {} exists; keeping it", out.service))
            .await;
    } else {
        log.line(format!(
            "ECS service {} with the {} controller, {} tasks",
            out.service,
            env.deployment_controller.ecs_type(),
            env.desired_count
        ))
        .await;
        create_service(target, env, &out, &lb, &task_definition).await?;
    }

    if env.deployment_controller == DeploymentController::CodeDeploy {
        log.line(format!(
            "CodeDeploy application {} and deployment group {}",
            out.codedeploy_application, out.deployment_group
        ))
        .await;
        codedeploy(target.cloud, env, &out).await?;
    }

    let repository = repository_name(env);
    log.line(format!("ECR repository {repository}")).await;
    out.repository_uri = ecr_repository(target, &repository).await?;

    if let Some(source) = source {
        out.pipeline = env.name.clone();
        declare_pipeline(target, env, &out, source, log).await?;
    }

    log.line("waiting for the service's tasks to answer on the production listener".into())
        .await;
    wait_serving(target, &out, env.desired_count, log).await?;
    log.line(format!(
        "ready: production {} test {}",
        out.prod_url, out.test_url
    ))
    .await;
    Ok(out)
}

/// Creates or updates the environment's pipeline, its Deploy action for the
/// environment's controller.
pub(super) async fn declare_pipeline(
    target: &LocalCloudTarget<'_>,
    env: &EnvironmentRow,
    out: &StackOutputs,
    source: &SourceSettings,
    log: &mut impl Log,
) -> anyhow::Result<()> {
    log.line(format!(
        "CodePipeline {}: Source ({} {}), Build, Approval, Deploy",
        out.pipeline, source.repo, source.branch
    ))
    .await;
    cloud_pipelines::declare(
        target.cloud,
        &PipelineDeclaration {
            name: &out.pipeline,
            repo: &source.repo,
            branch: &source.branch,
            build_project: &env.name,
            deploy: deploy_action(env, out),
            role_arn: LOCAL_PIPELINE_ROLE,
            artifact_bucket: "switchyard-local-artifacts",
            build_variables: vec![
                ("CONTAINER_NAME", env.container_name.clone()),
                ("CONTAINER_PORT", env.container_port.to_string()),
                ("TASK_FAMILY", out.task_definition_family.clone()),
                ("HEALTH_CHECK_PATH", env.health_check_path.clone()),
                // What infra/modules/pipeline gives the CodeBuild project on
                // AWS, so the sample's buildspec.yml runs unchanged.
                ("REPOSITORY_URI", out.repository_uri.clone()),
                ("TASK_CPU", LOCAL_TASK_CPU.to_owned()),
                ("TASK_MEMORY", LOCAL_TASK_MEMORY.to_owned()),
                ("TASK_EXECUTION_ROLE_ARN", LOCAL_TASK_ROLE.to_owned()),
                ("TASK_ROLE_ARN", LOCAL_TASK_ROLE.to_owned()),
                ("LOG_GROUP", format!("/ecs/{}", env.name)),
            ],
        },
    )
    .await
    .map_err(|e| anyhow!("cannot create the pipeline: {e}"))?;
    Ok(())
}

/// The pipeline's Deploy action for the environment's controller.
fn deploy_action<'a>(env: &EnvironmentRow, out: &'a StackOutputs) -> DeployAction<'a> {
    match env.deployment_controller {
        DeploymentController::CodeDeploy => DeployAction::CodeDeploy {
            application: &out.codedeploy_application,
            deployment_group: &out.deployment_group,
        },
        DeploymentController::Ecs => DeployAction::Ecs {
            cluster: &out.cluster,
            service: &out.service,
        },
    }
}

/// The service, on the first target group; with ECS's own controller also
/// the second as its alternate, and the listener rules ECS rewrites.
async fn create_service(
    target: &LocalCloudTarget<'_>,
    env: &EnvironmentRow,
    out: &StackOutputs,
    lb: &LocalLoadBalancer,
    task_definition: &str,
) -> anyhow::Result<()> {
    let [blue, green] = &lb.target_groups[..] else {
        bail!("the load balancer has not the two target groups blue/green needs");
    };
    let mut service = target
        .cloud
        .ecs
        .create_service()
        .cluster(&out.cluster)
        .service_name(&out.service)
        .task_definition(task_definition)
        .desired_count(env.desired_count as i32)
        .launch_type(ecs::LaunchType::Fargate);
    let (controller, load_balancer) = match env.ecs_settings()? {
        None => (
            ecs::DeploymentControllerType::CodeDeploy,
            ecs::LoadBalancer::builder()
                .target_group_arn(&blue.arn)
                .container_name(&env.container_name)
                .container_port(env.container_port as i32)
                .build(),
        ),
        Some(settings) => {
            service = service.deployment_configuration(
                crate::cloud::service_deployments::deployment_configuration(
                    &settings,
                    &out.alarm_names,
                ),
            );
            (
                ecs::DeploymentControllerType::Ecs,
                routed_load_balancer(env, lb, &blue.arn, &green.arn),
            )
        }
    };
    service
        .deployment_controller(
            ecs::DeploymentController::builder()
                .r#type(controller)
                .build()?,
        )
        .load_balancers(load_balancer)
        .send()
        .await
        .map_err(|e| anyhow!(describe(&e)))?;
    Ok(())
}

/// The service's load balancer on `serving`, with what ECS's own controller
/// needs to shift traffic to `alternate` by the listeners' rules.
fn routed_load_balancer(
    env: &EnvironmentRow,
    lb: &LocalLoadBalancer,
    serving: &str,
    alternate: &str,
) -> ecs::LoadBalancer {
    ecs::LoadBalancer::builder()
        .target_group_arn(serving)
        .container_name(&env.container_name)
        .container_port(env.container_port as i32)
        .advanced_configuration(
            ecs::AdvancedConfiguration::builder()
                .alternate_target_group_arn(alternate)
                .production_listener_rule(&lb.production_listener_rule_arn)
                .test_listener_rule(&lb.test_listener_rule_arn)
                .role_arn(LOCAL_ECS_INFRASTRUCTURE_ROLE)
                .build(),
        )
        .build()
}

/// Moves a CodeDeploy stack to ECS's own controller as AWS's migration guide
/// does, without touching its tasks: UpdateService with the ECS controller,
/// `settings` and the load balancer routed from the target group that serves
/// now; then the CodeDeploy resources go and the pipeline (if any) deploys
/// with the ECS action. `env` is the environment as it will be (controller
/// ecs); the outputs of the stack after the move.
pub async fn migrate_to_ecs(
    target: &LocalCloudTarget<'_>,
    env: &EnvironmentRow,
    settings: &EcsDeploymentSettings,
    source: Option<&SourceSettings>,
    log: &mut impl Log,
) -> anyhow::Result<StackOutputs> {
    let mut out = names(env);
    let lb_name = resource_name(&env.name, "", 32);
    let lb = load_balancer(target, &lb_name, &out.target_groups, &env.health_check_path).await?;
    set_dimensions(&mut out, &lb);
    guard_alarms(target.cloud, env, &mut out, log).await?;
    let service = service(target, &out)
        .await?
        .with_context(|| format!("the ECS service {} does not exist", out.service))?;
    let [task_set] = service.task_sets() else {
        bail!(
            "service {} has {} task sets: a CodeDeploy deployment is under way; let it end first",
            out.service,
            service.task_sets().len()
        );
    };
    let serving = task_set
        .load_balancers()
        .first()
        .and_then(|l| l.target_group_arn())
        .context("the service's task set is on no target group")?;
    let alternate = lb
        .target_groups
        .iter()
        .map(|t| t.arn.as_str())
        .find(|arn| *arn != serving)
        .context("the load balancer has no second target group")?;
    log.line(format!(
        "ECS service {}: the ECS controller, {}; production stays on {serving}, {alternate} \
         takes the next revision",
        out.service, settings.strategy
    ))
    .await;
    target
        .cloud
        .ecs
        .update_service()
        .cluster(&out.cluster)
        .service(&out.service)
        .deployment_controller(
            ecs::DeploymentController::builder()
                .r#type(ecs::DeploymentControllerType::Ecs)
                .build()?,
        )
        .deployment_configuration(crate::cloud::service_deployments::deployment_configuration(
            settings,
            &out.alarm_names,
        ))
        .load_balancers(routed_load_balancer(env, &lb, serving, alternate))
        .send()
        .await
        .map_err(|e| anyhow!(describe(&e)))?;
    out.prod_url = lb.production_url;
    out.test_url = lb.test_url;
    out.prod_listener_arn = lb.production_listener_arn;
    out.test_listener_arn = lb.test_listener_arn;
    // ECS has the service now: what is left tidies up, and a failure there
    // must not say the move failed. Provisioning again finishes it.
    let tidy = async {
        let codedeploy = names(&EnvironmentRow {
            deployment_controller: DeploymentController::CodeDeploy,
            ..env.clone()
        });
        delete_codedeploy(target, &codedeploy, log).await?;
        out.repository_uri = ecr_repository(target, &repository_name(env)).await?;
        if let Some(source) = source {
            out.pipeline = env.name.clone();
            declare_pipeline(target, env, &out, source, log).await?;
        }
        anyhow::Ok(())
    };
    if let Err(e) = tidy.await {
        log.line(format!(
            "warning: {e:#}; provision the stack again to finish the move"
        ))
        .await;
    }
    log.line(format!(
        "ready: {} deploys through ECS's own controller",
        out.service
    ))
    .await;
    Ok(out)
}

/// What the local cloud's `/_localcloud/load-balancers` answers, as far as a
/// stack needs it (the local cloud has no ELB API; this is its own).
#[derive(Debug, serde::Deserialize)]
struct LocalLoadBalancer {
    arn: String,
    production_url: String,
    test_url: String,
    production_listener_arn: String,
    test_listener_arn: String,
    /// The listeners' default rules, which ECS's own controller rewrites.
    production_listener_rule_arn: String,
    test_listener_rule_arn: String,
    target_groups: Vec<LocalTargetGroup>,
}

#[derive(Debug, serde::Deserialize)]
struct LocalTargetGroup {
    arn: String,
}

async fn load_balancer(
    target: &LocalCloudTarget<'_>,
    name: &str,
    target_groups: &[String],
    health_check_path: &str,
) -> anyhow::Result<LocalLoadBalancer> {
    let url = format!("{}/_localcloud/load-balancers", target.endpoint);
    let existing = target.http.get(format!("{url}/{name}")).send().await?;
    if existing.status().is_success() {
        return Ok(existing.json().await?);
    }
    let body = serde_json::json!({
        "name": name,
        "target_groups": target_groups.iter().map(|n| serde_json::json!({"name": n, "health_check_path": health_check_path})).collect::<Vec<_>>(),
    });
    let response = target.http.post(&url).json(&body).send().await?;
    if !response.status().is_success() {
        let error: serde_json::Value = response.json().await.unwrap_or_default();
        bail!(
            "the local cloud refused the load balancer: {} {}",
            error["__type"],
            error["message"]
        );
    }
    Ok(response.json().await?)
}

/// The stack's image repository, named like the environment (ECR names are
/// lowercase, as environment names are).
fn repository_name(env: &EnvironmentRow) -> String {
    env.name.to_ascii_lowercase()
}

/// Makes the repository, or finds the one an earlier run made; its URI.
async fn ecr_repository(target: &LocalCloudTarget<'_>, name: &str) -> anyhow::Result<String> {
    let created = local_ecr::call(
        target.http,
        target.endpoint,
        "CreateRepository",
        serde_json::json!({ "repositoryName": name }),
    )
    .await?;
    let repository = match created {
        Ok(answer) => answer["repository"].clone(),
        Err((code, _)) if code == "RepositoryAlreadyExistsException" => {
            let found = local_ecr::call(
                target.http,
                target.endpoint,
                "DescribeRepositories",
                serde_json::json!({ "repositoryNames": [name] }),
            )
            .await?
            .map_err(|(code, message)| {
                anyhow!("cannot describe the ECR repository {name}: {code}: {message}")
            })?;
            found["repositories"][0].clone()
        }
        Err((code, message)) => bail!("cannot create the ECR repository {name}: {code}: {message}"),
    };
    repository["repositoryUri"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the local cloud answered no URI for the ECR repository {name}"))
}

async fn codedeploy(cloud: &Cloud, env: &EnvironmentRow, out: &StackOutputs) -> anyhow::Result<()> {
    let app = cloud
        .codedeploy
        .get_application()
        .application_name(&out.codedeploy_application)
        .send()
        .await;
    if app.is_err() {
        cloud
            .codedeploy
            .create_application()
            .application_name(&out.codedeploy_application)
            .compute_platform(cd::ComputePlatform::Ecs)
            .send()
            .await
            .map_err(|e| anyhow!(describe(&e)))?;
    }
    let group = cloud
        .codedeploy
        .get_deployment_group()
        .application_name(&out.codedeploy_application)
        .deployment_group_name(&out.deployment_group)
        .send()
        .await;
    if group.is_ok() {
        return rollback_on_alarms(cloud, env, out).await;
    }
    let mut ready = cd::DeploymentReadyOption::builder()
        .action_on_timeout(cd::DeploymentReadyAction::from(env.ready_action.as_aws()));
    if let Some(minutes) = env.ready_wait_minutes {
        ready = ready.wait_time_in_minutes(minutes as i32);
    }
    cloud
        .codedeploy
        .create_deployment_group()
        .application_name(&out.codedeploy_application)
        .deployment_group_name(&out.deployment_group)
        .service_role_arn(format!(
            "arn:aws:iam::{}:role/switchyard-codedeploy",
            crate::cloud::LOCAL_ACCOUNT
        ))
        .deployment_config_name(&env.deployment_config)
        .ecs_services(
            cd::EcsService::builder()
                .service_name(&out.service)
                .cluster_name(&out.cluster)
                .build(),
        )
        .deployment_style(
            cd::DeploymentStyle::builder()
                .deployment_type(cd::DeploymentType::BlueGreen)
                .deployment_option(cd::DeploymentOption::WithTrafficControl)
                .build(),
        )
        .blue_green_deployment_configuration(
            cd::BlueGreenDeploymentConfiguration::builder()
                .deployment_ready_option(ready.build())
                .terminate_blue_instances_on_deployment_success(
                    cd::BlueInstanceTerminationOption::builder()
                        .action(cd::InstanceAction::Terminate)
                        .termination_wait_time_in_minutes(env.termination_wait_minutes as i32)
                        .build(),
                )
                .build(),
        )
        .load_balancer_info(
            cd::LoadBalancerInfo::builder()
                .target_group_pair_info_list(
                    cd::TargetGroupPairInfo::builder()
                        .set_target_groups(Some(
                            out.target_groups
                                .iter()
                                .map(|n| cd::TargetGroupInfo::builder().name(n).build())
                                .collect(),
                        ))
                        .prod_traffic_route(
                            cd::TrafficRoute::builder()
                                .listener_arns(&out.prod_listener_arn)
                                .build(),
                        )
                        .test_traffic_route(
                            cd::TrafficRoute::builder()
                                .listener_arns(&out.test_listener_arn)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .auto_rollback_configuration(auto_rollback(env, out))
        .alarm_configuration(alarm_configuration(out))
        .send()
        .await
        .map_err(|e| anyhow!(describe(&e)))?;
    Ok(())
}

/// The group's automatic rollback: on failure and on a stop, and on an
/// alarm when the stack has alarms.
fn auto_rollback(env: &EnvironmentRow, out: &StackOutputs) -> cd::AutoRollbackConfiguration {
    let mut rollback = cd::AutoRollbackConfiguration::builder().enabled(env.auto_rollback);
    if env.auto_rollback {
        rollback = rollback
            .events(cd::AutoRollbackEvent::DeploymentFailure)
            .events(cd::AutoRollbackEvent::DeploymentStopOnRequest);
        if !out.alarm_names.is_empty() {
            rollback = rollback.events(cd::AutoRollbackEvent::DeploymentStopOnAlarm);
        }
    }
    rollback.build()
}

/// The group's alarms, which stop a deployment in progress (none: off).
fn alarm_configuration(out: &StackOutputs) -> cd::AlarmConfiguration {
    cd::AlarmConfiguration::builder()
        .enabled(!out.alarm_names.is_empty())
        .set_alarms(Some(
            out.alarm_names
                .iter()
                .map(|name| cd::Alarm::builder().name(name).build())
                .collect(),
        ))
        .build()
}

/// Points an existing deployment group at the stack's alarms (or none).
pub(crate) async fn rollback_on_alarms(
    cloud: &Cloud,
    env: &EnvironmentRow,
    out: &StackOutputs,
) -> anyhow::Result<()> {
    cloud
        .codedeploy
        .update_deployment_group()
        .application_name(&out.codedeploy_application)
        .current_deployment_group_name(&out.deployment_group)
        .auto_rollback_configuration(auto_rollback(env, out))
        .alarm_configuration(alarm_configuration(out))
        .send()
        .await
        .map_err(|e| anyhow!(describe(&e)))?;
    Ok(())
}

/// The metric dimensions of the stack's load balancer and target groups.
fn set_dimensions(out: &mut StackOutputs, lb: &LocalLoadBalancer) {
    out.load_balancer_dimension = Dimension::of_arn("LoadBalancer", &lb.arn).value;
    out.target_group_dimensions = lb
        .target_groups
        .iter()
        .map(|tg| Dimension::of_arn("TargetGroup", &tg.arn).value)
        .collect();
}

/// The AWS stack's alarms, with the environment's thresholds, when its
/// settings turn them on; deleted when they turn them off. Sets their names.
pub(crate) async fn guard_alarms(
    cloud: &Cloud,
    env: &EnvironmentRow,
    out: &mut StackOutputs,
    log: &mut impl Log,
) -> anyhow::Result<()> {
    let settings = env.alarm_settings()?;
    let load_balancer = Dimension {
        name: "LoadBalancer",
        value: out.load_balancer_dimension.clone(),
    };
    let groups: Vec<(String, Dimension)> = out
        .target_groups
        .iter()
        .zip(&out.target_group_dimensions)
        .map(|(name, value)| {
            let dimension = Dimension {
                name: "TargetGroup",
                value: value.clone(),
            };
            (name.clone(), dimension)
        })
        .collect();
    let specs = environment::guard_alarms(&env.name, &settings, &load_balancer, &groups);
    let names: Vec<String> = specs.iter().map(|a| a.name.clone()).collect();
    if settings.enabled {
        log.line(format!("CloudWatch alarms {}", names.join(", ")))
            .await;
        alarms::put(cloud, &specs).await?;
        out.alarm_names = names;
    } else {
        alarms::delete(cloud, &names).await?;
        out.alarm_names.clear();
    }
    Ok(())
}

/// The stack's ECS service as DescribeServices reports it, if it exists.
async fn service(
    target: &LocalCloudTarget<'_>,
    out: &StackOutputs,
) -> anyhow::Result<Option<ecs::Service>> {
    let answer = target
        .cloud
        .ecs
        .describe_services()
        .cluster(&out.cluster)
        .services(&out.service)
        .send()
        .await
        .map_err(|e| anyhow!(describe(&e)))?;
    Ok(answer.services().first().cloned())
}

/// A stack is ready when all its tasks run and the production listener
/// answers through them.
/// Every task that stops meanwhile is logged with ECS's stopped reason, and
/// tasks that keep stopping with none running end the wait at once.
async fn wait_serving(
    target: &LocalCloudTarget<'_>,
    out: &StackOutputs,
    desired: i64,
    log: &mut impl Log,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut stopped = std::collections::BTreeSet::new();
    let mut last_reason = None;
    loop {
        let running = service(target, out).await?.map_or(0, |s| s.running_count());
        let answers = match target.http.get(&out.prod_url).send().await {
            Ok(response) => response.status().is_success(),
            Err(_) => false,
        };
        if i64::from(running) >= desired && answers {
            return Ok(());
        }
        for (task, reason) in stopped_tasks(target, out).await? {
            if stopped.insert(task.clone()) {
                log.line(format!("task {task} stopped: {reason}")).await;
                last_reason = Some(reason);
            }
        }
        if let Some(reason) = last_reason.as_ref().filter(|_| running == 0)
            && stopped.len() >= STOPS_BEFORE_GIVING_UP
        {
            bail!(
                "the service's tasks keep stopping ({} so far, none running): {reason}",
                stopped.len()
            );
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!(
                "the service's tasks did not become healthy within {READY_TIMEOUT:?} ({running} of {desired} running)"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Tasks of a new service that stopped before it ever ran are a fault to
/// report, not a state to wait out.
const STOPS_BEFORE_GIVING_UP: usize = 3;

/// The service's stopped tasks: their ids and why they stopped.
async fn stopped_tasks(
    target: &LocalCloudTarget<'_>,
    out: &StackOutputs,
) -> anyhow::Result<Vec<(String, String)>> {
    let listed = target
        .cloud
        .ecs
        .list_tasks()
        .cluster(&out.cluster)
        .service_name(&out.service)
        .desired_status(ecs::DesiredStatus::Stopped)
        .send()
        .await
        .map_err(|e| anyhow!(describe(&e)))?;
    if listed.task_arns().is_empty() {
        return Ok(Vec::new());
    }
    let described = target
        .cloud
        .ecs
        .describe_tasks()
        .cluster(&out.cluster)
        .set_tasks(Some(listed.task_arns().to_vec()))
        .send()
        .await
        .map_err(|e| anyhow!(describe(&e)))?;
    Ok(described
        .tasks()
        .iter()
        .map(|task| {
            let id = task.task_arn().unwrap_or_default();
            let id = id.rsplit('/').next().unwrap_or(id).to_owned();
            let reason = task
                .stopped_reason()
                .unwrap_or("no reason given")
                .to_owned();
            (id, reason)
        })
        .collect())
}

/// Removes what `provision` made, in reverse; what is already gone is fine.
/// Deletes the CodeDeploy deployment group and application of a stack.
pub(super) async fn delete_codedeploy(
    target: &LocalCloudTarget<'_>,
    out: &StackOutputs,
    log: &mut impl Log,
) -> anyhow::Result<()> {
    log.line(format!(
        "CodeDeploy deployment group {} and application {}",
        out.deployment_group, out.codedeploy_application
    ))
    .await;
    let _ = target
        .cloud
        .codedeploy
        .delete_deployment_group()
        .application_name(&out.codedeploy_application)
        .deployment_group_name(&out.deployment_group)
        .send()
        .await;
    gone_is_fine(
        target
            .cloud
            .codedeploy
            .delete_application()
            .application_name(&out.codedeploy_application)
            .send()
            .await,
        &["ApplicationDoesNotExistException"],
    )?;
    Ok(())
}

pub async fn destroy(
    target: &LocalCloudTarget<'_>,
    env: &EnvironmentRow,
    log: &mut impl Log,
) -> anyhow::Result<()> {
    let out = names(env);
    log.line(format!("CodePipeline {}", env.name)).await;
    match cloud_pipelines::delete(target.cloud, &env.name).await {
        Ok(()) => {}
        Err(e) if e.code.as_deref() == Some("PipelineNotFoundException") => {}
        Err(e) => bail!("cannot delete the pipeline: {e}"),
    }
    if env.deployment_controller == DeploymentController::CodeDeploy {
        delete_codedeploy(target, &out, log).await?;
    }
    log.line(format!(
        "ECS service {} and cluster {}",
        out.service, out.cluster
    ))
    .await;
    gone_is_fine(
        target
            .cloud
            .ecs
            .delete_service()
            .cluster(&out.cluster)
            .service(&out.service)
            .force(true)
            .send()
            .await,
        &["ServiceNotFoundException", "ClusterNotFoundException"],
    )?;
    gone_is_fine(
        target
            .cloud
            .ecs
            .delete_cluster()
            .cluster(&out.cluster)
            .send()
            .await,
        &["ClusterNotFoundException"],
    )?;
    let repository = repository_name(env);
    log.line(format!("ECR repository {repository} and its images"))
        .await;
    match local_ecr::call(
        target.http,
        target.endpoint,
        "DeleteRepository",
        serde_json::json!({ "repositoryName": repository, "force": true }),
    )
    .await?
    {
        Ok(_) => {}
        Err((code, _)) if code == "RepositoryNotFoundException" => {}
        Err((code, message)) => {
            bail!("cannot delete the ECR repository {repository}: {code}: {message}")
        }
    }
    let lb_name = resource_name(&env.name, "", 32);
    log.line(format!("load balancer {lb_name}")).await;
    let response = target
        .http
        .delete(format!(
            "{}/_localcloud/load-balancers/{lb_name}",
            target.endpoint
        ))
        .send()
        .await?;
    if !(response.status().is_success()
        || response.status().as_u16() == 400
            && response
                .text()
                .await
                .unwrap_or_default()
                .contains("LoadBalancerNotFound"))
    {
        bail!("the local cloud would not delete the load balancer {lb_name}");
    }
    log.line("destroyed".into()).await;
    Ok(())
}

/// A delete that failed because the thing is already gone is a success.
fn gone_is_fine<T, E, R>(
    result: Result<T, aws_sdk_ecs::error::SdkError<E, R>>,
    gone: &[&str],
) -> anyhow::Result<()>
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ecs::error::ProvideErrorMetadata;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.code().is_some_and(|code| gone.contains(&code)) => Ok(()),
        Err(e) => bail!(describe(&e)),
    }
}

/// The time scale a standalone local cloud announces, if it answers soon.
pub async fn announced_time_scale(http: &reqwest::Client, endpoint: &str) -> Option<f64> {
    let response = http
        .get(format!(
            "{}/_localcloud/clock",
            endpoint.trim_end_matches('/')
        ))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let clock: serde_json::Value = response.error_for_status().ok()?.json().await.ok()?;
    clock["time_scale"]
        .as_f64()
        .filter(|s| s.is_finite() && *s > 0.0)
}
