//! Checks the resources an AWS environment names: that each exists and is
//! of the kind switchyard drives (a CODE_DEPLOY service, an ECS blue/green
//! deployment group with traffic control, ...). Every check reports one
//! finding; nothing is changed.

use super::{Cloud, describe};
use aws_sdk_codedeploy::types as cd;
use aws_sdk_ecs::error::ProvideErrorMetadata;

/// What one check found about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// cluster, service, codedeploy_application, deployment_group, pipeline,
    /// prod_listener_arn or test_listener_arn (the environment's field).
    pub resource: &'static str,
    /// The name (or ARN) checked; None when the environment names none.
    pub name: Option<String>,
    pub ok: bool,
    pub message: String,
}

/// The resources an environment names.
#[derive(Debug, Clone, Default)]
pub struct Named<'a> {
    pub cluster: Option<&'a str>,
    pub service: Option<&'a str>,
    pub codedeploy_application: Option<&'a str>,
    pub deployment_group: Option<&'a str>,
    pub pipeline: Option<&'a str>,
    pub prod_listener_arn: Option<&'a str>,
    pub test_listener_arn: Option<&'a str>,
}

fn finding(resource: &'static str, name: Option<&str>, result: Result<String, String>) -> Finding {
    let ok = result.is_ok();
    Finding {
        resource,
        name: name.map(str::to_owned),
        ok,
        message: result.unwrap_or_else(|e| e),
    }
}

/// Checks every named resource; the ones deployments need (cluster,
/// service, CodeDeploy application and group) are reported missing when the
/// environment does not name them. Listeners are checked against the
/// deployment group's traffic routes, which is where CodeDeploy uses them.
pub async fn check(cloud: &Cloud, named: &Named<'_>) -> Vec<Finding> {
    let needed = |what: &str| Err(format!("not set: deployments need the {what}"));
    let mut findings = Vec::new();

    let cluster = match named.cluster {
        Some(name) => check_cluster(cloud, name).await,
        None => needed("ECS cluster"),
    };
    let cluster_ok = cluster.is_ok();
    findings.push(finding("cluster", named.cluster, cluster));

    let service = match (named.service, named.cluster) {
        (None, _) => needed("ECS service"),
        (Some(_), None) => Err("cannot be checked without the cluster".into()),
        (Some(_), Some(_)) if !cluster_ok => {
            Err("cannot be checked: the cluster did not check out".into())
        }
        (Some(service), Some(cluster)) => check_service(cloud, cluster, service).await,
    };
    findings.push(finding("service", named.service, service));

    let application = match named.codedeploy_application {
        Some(name) => check_application(cloud, name).await,
        None => needed("CodeDeploy application"),
    };
    let application_ok = application.is_ok();
    findings.push(finding(
        "codedeploy_application",
        named.codedeploy_application,
        application,
    ));

    let group = match (named.deployment_group, named.codedeploy_application) {
        (None, _) => (needed("CodeDeploy deployment group"), None),
        (Some(_), None) => (
            Err("cannot be checked without the CodeDeploy application".into()),
            None,
        ),
        (Some(_), Some(_)) if !application_ok => (
            Err("cannot be checked: the CodeDeploy application did not check out".into()),
            None,
        ),
        (Some(group), Some(application)) => match fetch_group(cloud, application, group).await {
            Ok(info) => (judge_group(&info, named), Some(info)),
            Err(e) => (Err(e), None),
        },
    };
    findings.push(finding("deployment_group", named.deployment_group, group.0));

    for (resource, arn, route) in [
        (
            "prod_listener_arn",
            named.prod_listener_arn,
            Route::Production,
        ),
        ("test_listener_arn", named.test_listener_arn, Route::Test),
    ] {
        if let Some(arn) = arn {
            let result = match &group.1 {
                Some(info) => judge_listener(info, arn, route),
                None => Err("cannot be checked without the deployment group, whose traffic routes name the listeners".into()),
            };
            findings.push(finding(resource, Some(arn), result));
        }
    }

    if let Some(pipeline) = named.pipeline {
        let result = check_pipeline(cloud, pipeline, named).await;
        findings.push(finding("pipeline", Some(pipeline), result));
    }
    findings
}

/// "code: message" of an SDK error; "not found" wording for the codes that
/// say a resource does not exist.
fn cloud_failure<E, R>(error: &aws_sdk_ecs::error::SdkError<E, R>, what: &str) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.code() {
        Some(code)
            if code.ends_with("NotFoundException") || code.ends_with("DoesNotExistException") =>
        {
            format!("not found: no {what} ({})", describe(error))
        }
        _ => format!("cannot be checked: {}", describe(error)),
    }
}

async fn check_cluster(cloud: &Cloud, name: &str) -> Result<String, String> {
    let answer = cloud
        .ecs
        .describe_clusters()
        .clusters(name)
        .send()
        .await
        .map_err(|e| cloud_failure(&e, "such ECS cluster"))?;
    let Some(cluster) = answer.clusters().first() else {
        return Err(format!("not found: there is no ECS cluster {name}"));
    };
    match cluster.status() {
        Some("ACTIVE") => Ok(format!(
            "ECS cluster, ACTIVE, {} services, {} running tasks",
            cluster.active_services_count(),
            cluster.running_tasks_count()
        )),
        status => Err(format!(
            "the ECS cluster is {}, not ACTIVE",
            status.unwrap_or("in an unknown state")
        )),
    }
}

async fn check_service(cloud: &Cloud, cluster: &str, name: &str) -> Result<String, String> {
    let answer = cloud
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .map_err(|e| cloud_failure(&e, "such ECS cluster"))?;
    let Some(service) = answer
        .services()
        .iter()
        .find(|s| s.service_name() == Some(name) || s.service_arn() == Some(name))
    else {
        return Err(format!(
            "not found: there is no ECS service {name} in cluster {cluster}"
        ));
    };
    if service.status() != Some("ACTIVE") {
        return Err(format!(
            "the service is {}, not ACTIVE",
            service.status().unwrap_or("in an unknown state")
        ));
    }
    // ECS answers no controller for services made with the default one.
    let controller = service
        .deployment_controller()
        .map_or("ECS", |c| c.r#type().as_str());
    if controller != "CODE_DEPLOY" {
        return Err(format!(
            "the service uses the {controller} deployment controller; CodeDeploy blue/green deployments need CODE_DEPLOY (a service's controller is fixed when it is created)"
        ));
    }
    if service.load_balancers().is_empty() {
        return Err(
            "the service has no load balancer target group; blue/green needs one to shift traffic"
                .into(),
        );
    }
    Ok(format!(
        "ECS service, ACTIVE, CODE_DEPLOY controller, {} of {} tasks running",
        service.running_count(),
        service.desired_count()
    ))
}

async fn check_application(cloud: &Cloud, name: &str) -> Result<String, String> {
    let answer = cloud
        .codedeploy
        .get_application()
        .application_name(name)
        .send()
        .await
        .map_err(|e| cloud_failure(&e, "such CodeDeploy application"))?;
    let platform = answer
        .application()
        .and_then(|a| a.compute_platform())
        .map_or("Server", |p| p.as_str());
    if platform == "ECS" {
        Ok("CodeDeploy application for ECS".into())
    } else {
        Err(format!(
            "a CodeDeploy application for {platform}; ECS blue/green deployments need compute platform ECS"
        ))
    }
}

async fn fetch_group(
    cloud: &Cloud,
    application: &str,
    group: &str,
) -> Result<cd::DeploymentGroupInfo, String> {
    cloud
        .codedeploy
        .get_deployment_group()
        .application_name(application)
        .deployment_group_name(group)
        .send()
        .await
        .map_err(|e| cloud_failure(&e, "such deployment group"))?
        .deployment_group_info
        .ok_or_else(|| "GetDeploymentGroup answered no deployment group".to_owned())
}

fn judge_group(info: &cd::DeploymentGroupInfo, named: &Named<'_>) -> Result<String, String> {
    let platform = info.compute_platform().map_or("", |p| p.as_str());
    if platform != "ECS" {
        return Err(format!(
            "a deployment group for {platform}; switchyard drives ECS blue/green groups"
        ));
    }
    let style = info.deployment_style();
    let kind = style
        .and_then(|s| s.deployment_type())
        .map_or("IN_PLACE", |t| t.as_str());
    let option = style
        .and_then(|s| s.deployment_option())
        .map_or("WITHOUT_TRAFFIC_CONTROL", |o| o.as_str());
    if kind != "BLUE_GREEN" || option != "WITH_TRAFFIC_CONTROL" {
        return Err(format!(
            "the deployment group is {kind} {option}; switchyard needs BLUE_GREEN WITH_TRAFFIC_CONTROL"
        ));
    }
    let services = info.ecs_services();
    if let (Some(cluster), Some(service)) = (named.cluster, named.service) {
        let drives = services.iter().any(|s| {
            s.service_name() == Some(service)
                && s.cluster_name()
                    .is_some_and(|c| c == cluster || c.ends_with(&format!("/{cluster}")))
        });
        if !drives {
            let listed: Vec<String> = services
                .iter()
                .map(|s| {
                    format!(
                        "{}/{}",
                        s.cluster_name().unwrap_or("?"),
                        s.service_name().unwrap_or("?")
                    )
                })
                .collect();
            return Err(format!(
                "the deployment group deploys {} rather than the environment's {cluster}/{service}",
                if listed.is_empty() {
                    "no ECS service".to_owned()
                } else {
                    listed.join(", ")
                }
            ));
        }
    }
    let pairs = info
        .load_balancer_info()
        .map(|l| l.target_group_pair_info_list())
        .unwrap_or_default();
    let Some(pair) = pairs.first() else {
        return Err(
            "the deployment group has no target group pair: blue/green with traffic control shifts traffic between two target groups"
                .into(),
        );
    };
    if pair.target_groups().len() != 2 {
        return Err(format!(
            "the deployment group's target group pair has {} target groups, not 2",
            pair.target_groups().len()
        ));
    }
    let names: Vec<&str> = pair
        .target_groups()
        .iter()
        .filter_map(|t| t.name())
        .collect();
    Ok(format!(
        "ECS deployment group, BLUE_GREEN with traffic control, config {}, target groups {}",
        info.deployment_config_name().unwrap_or("(default)"),
        names.join(" and ")
    ))
}

#[derive(Clone, Copy)]
enum Route {
    Production,
    Test,
}

fn judge_listener(
    info: &cd::DeploymentGroupInfo,
    arn: &str,
    route: Route,
) -> Result<String, String> {
    let pair = info
        .load_balancer_info()
        .and_then(|l| l.target_group_pair_info_list().first());
    let listeners: Vec<&str> = pair
        .and_then(|p| match route {
            Route::Production => p.prod_traffic_route(),
            Route::Test => p.test_traffic_route(),
        })
        .map(|r| r.listener_arns().iter().map(String::as_str).collect())
        .unwrap_or_default();
    let which = match route {
        Route::Production => "production",
        Route::Test => "test",
    };
    if listeners.contains(&arn) {
        Ok(format!("the deployment group's {which} traffic route"))
    } else if listeners.is_empty() {
        Err(format!("the deployment group has no {which} traffic route"))
    } else {
        Err(format!(
            "not the deployment group's {which} listener ({})",
            listeners.join(", ")
        ))
    }
}

/// The Deploy action providers a switchyard pipeline may roll out with.
const DEPLOY_PROVIDERS: [&str; 2] = ["CodeDeployToECS", "ECS"];

fn is_ecs_action(action: &aws_sdk_codepipeline::types::ActionDeclaration) -> bool {
    action
        .action_type_id()
        .is_some_and(|t| t.provider() == "ECS")
}

async fn check_pipeline(cloud: &Cloud, name: &str, named: &Named<'_>) -> Result<String, String> {
    let answer = cloud
        .codepipeline
        .get_pipeline()
        .name(name)
        .send()
        .await
        .map_err(|e| cloud_failure(&e, "such pipeline"))?;
    let Some(pipeline) = answer.pipeline() else {
        return Err("GetPipeline answered no pipeline".into());
    };
    let deploys: Vec<_> = pipeline
        .stages()
        .iter()
        .flat_map(|s| s.actions())
        .filter(|a| {
            a.action_type_id()
                .is_some_and(|t| DEPLOY_PROVIDERS.contains(&t.provider()))
        })
        .collect();
    if deploys.is_empty() {
        return Err(
            "the pipeline has no Deploy action (CodeDeployToECS or ECS) to deploy with".into(),
        );
    }
    let targets = |key: &str| -> Vec<String> {
        deploys
            .iter()
            .filter_map(|a| a.configuration().and_then(|c| c.get(key)).cloned())
            .collect()
    };
    if let Some(group) = named.deployment_group
        && !targets("DeploymentGroupName").iter().any(|g| g == group)
    {
        return Err(format!(
            "the pipeline deploys to deployment group {}, not the environment's {group}",
            targets("DeploymentGroupName").join(", ")
        ));
    }
    if let Some(service) = named.service
        && deploys.iter().any(|a| is_ecs_action(a))
        && !targets("ServiceName").iter().any(|s| s == service)
    {
        return Err(format!(
            "the pipeline deploys to service {}, not the environment's {service}",
            targets("ServiceName").join(", ")
        ));
    }
    let stages: Vec<&str> = pipeline.stages().iter().map(|s| s.name()).collect();
    let providers: Vec<&str> = deploys
        .iter()
        .filter_map(|a| a.action_type_id().map(|t| t.provider()))
        .collect();
    Ok(format!(
        "pipeline with stages {} deploying through {}",
        stages.join(", "),
        providers.join(" and ")
    ))
}
