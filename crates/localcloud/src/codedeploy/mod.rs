//! CodeDeploy operations for the ECS compute platform. The deployments they
//! create are driven by `engine`.

pub mod appspec;
pub mod configs;
pub mod engine;

use super::ecs;
use super::state::{
    AlarmConfiguration, Application, AutoRollbackEvent, CloudState, ComputePlatform, Deployment,
    DeploymentConfigRecord, DeploymentControllerType, DeploymentGroup, DeploymentReadyAction,
    DeploymentStatus, HookExecution, InstanceAction, LifecycleEvent, LifecycleEventName,
    LifecycleEventStatus, TaskSetStatus, TrafficRoutingType,
};
use super::wire::{AwsError, Input, OpResult, epoch, paginate};
use super::{LocalCloud, now_millis, random_id, random_uuid};
use configs::{PREDEFINED_PREFIX, Routing};
use serde_json::{Map, Value, json};
use std::sync::Arc;

const INVALID: &str = "InvalidInputException";
pub const MAX_BATCH: usize = 25;

pub fn call(cloud: &Arc<LocalCloud>, operation: &str, body: &Map<String, Value>) -> OpResult {
    let input = Input::new(body, INVALID);
    match operation {
        "CreateApplication" => cloud.mutate(|s| create_application(s, &input)),
        "GetApplication" => cloud.read(|s| {
            let app = find_application(s, &input)?;
            Ok(json!({"application": application_json(app)}))
        }),
        "ListApplications" => cloud.read(|s| {
            let names: Vec<String> = s.applications.keys().cloned().collect();
            let (page, next) = paginate(&names, input.opt_str("nextToken")?, 100)?;
            Ok(json!({"applications": page, "nextToken": next}))
        }),
        "DeleteApplication" => cloud.mutate(|s| delete_application(s, &input)),
        "CreateDeploymentGroup" => cloud.mutate(|s| create_deployment_group(s, &input)),
        "GetDeploymentGroup" => cloud.read(|s| {
            let group = find_group(s, &input, "deploymentGroupName")?;
            Ok(json!({"deploymentGroupInfo": group_json(s, group)}))
        }),
        "UpdateDeploymentGroup" => cloud.mutate(|s| update_deployment_group(s, &input)),
        "ListDeploymentGroups" => cloud.read(|s| {
            let app = find_application(s, &input)?;
            let names: Vec<String> = s
                .deployment_groups
                .values()
                .filter(|g| g.application == app.name)
                .map(|g| g.name.clone())
                .collect();
            let (page, next) = paginate(&names, input.opt_str("nextToken")?, 100)?;
            Ok(json!({"applicationName": app.name, "deploymentGroups": page, "nextToken": next}))
        }),
        "DeleteDeploymentGroup" => cloud.mutate(|s| {
            let key = find_group(s, &input, "deploymentGroupName")?.key();
            if s.deployments
                .values()
                .any(|d| !d.is_finished() && format!("{}/{}", d.application, d.group) == key)
            {
                return Err(AwsError::new(
                    "InvalidOperationException",
                    "The deployment group has a deployment in progress.",
                ));
            }
            s.deployment_groups.remove(&key);
            Ok(json!({"hooksNotCleanedUp": []}))
        }),
        "CreateDeploymentConfig" => cloud.mutate(|s| create_deployment_config(s, &input)),
        "GetDeploymentConfig" => cloud.read(|s| {
            let name = input.required(
                "deploymentConfigName",
                "DeploymentConfigNameRequiredException",
            )?;
            Ok(json!({"deploymentConfigInfo": config_json(s, name)?}))
        }),
        "ListDeploymentConfigs" => cloud.read(|s| {
            let mut names: Vec<String> = configs::predefined_names().collect();
            names.extend(s.deployment_configs.keys().cloned());
            let (page, next) = paginate(&names, input.opt_str("nextToken")?, 100)?;
            Ok(json!({"deploymentConfigsList": page, "nextToken": next}))
        }),
        "DeleteDeploymentConfig" => cloud.mutate(|s| {
            let name = input.required(
                "deploymentConfigName",
                "DeploymentConfigNameRequiredException",
            )?;
            if name.starts_with(PREDEFINED_PREFIX) {
                return Err(AwsError::new(
                    "InvalidOperationException",
                    "A predefined deployment configuration cannot be deleted.",
                ));
            }
            if !s.deployment_configs.contains_key(name) {
                return Err(AwsError::new(
                    "DeploymentConfigDoesNotExistException",
                    format!("No deployment configuration found for name: {name}"),
                ));
            }
            if s.deployment_groups
                .values()
                .any(|g| g.deployment_config_name == name)
            {
                return Err(AwsError::new(
                    "DeploymentConfigInUseException",
                    "The deployment configuration is still in use.",
                ));
            }
            s.deployment_configs.remove(name);
            Ok(json!({}))
        }),
        "CreateDeployment" => {
            let id = cloud.mutate(|s| create_deployment(s, &input))?;
            tokio::spawn(engine::drive(cloud.clone(), id.clone()));
            Ok(json!({"deploymentId": id}))
        }
        "GetDeployment" => cloud.read(|s| {
            let d = find_deployment(
                s,
                input.required("deploymentId", "DeploymentIdRequiredException")?,
            )?;
            Ok(json!({"deploymentInfo": deployment_json(s, d)}))
        }),
        "BatchGetDeployments" => cloud.read(|s| {
            let ids = input.str_list("deploymentIds")?;
            if ids.len() > MAX_BATCH {
                return Err(AwsError::new(
                    "BatchLimitExceededException",
                    format!("at most {MAX_BATCH} deployment ids per call"),
                ));
            }
            let infos: Vec<Value> = ids
                .iter()
                .filter_map(|id| s.deployments.get(*id))
                .map(|d| deployment_json(s, d))
                .collect();
            Ok(json!({"deploymentsInfo": infos}))
        }),
        "ListDeployments" => cloud.read(|s| list_deployments(s, &input)),
        "ListDeploymentTargets" => cloud.read(|s| {
            let d = started_deployment(s, &input)?;
            Ok(json!({"targetIds": [target_id(d)]}))
        }),
        "GetDeploymentTarget" => cloud.read(|s| {
            let d = started_deployment(s, &input)?;
            let target = input.required("targetId", "DeploymentTargetIdRequiredException")?;
            Ok(json!({"deploymentTarget": target_json(cloud, s, d, target)?}))
        }),
        "BatchGetDeploymentTargets" => cloud.read(|s| {
            let d = started_deployment(s, &input)?;
            let targets = input.str_list("targetIds")?;
            if targets.is_empty() {
                return Err(AwsError::new(
                    "DeploymentTargetIdRequiredException",
                    "targetIds is required",
                ));
            }
            if targets.len() > MAX_BATCH {
                return Err(AwsError::new(
                    "DeploymentTargetListSizeExceededException",
                    format!("at most {MAX_BATCH} targets per call"),
                ));
            }
            let all: Result<Vec<Value>, AwsError> = targets
                .iter()
                .map(|t| target_json(cloud, s, d, t))
                .collect();
            Ok(json!({"deploymentTargets": all?}))
        }),
        "ContinueDeployment" => cloud.mutate(|s| continue_deployment(s, &input)),
        "StopDeployment" => cloud.mutate(|s| stop_deployment(s, &input)),
        "PutLifecycleEventHookExecutionStatus" => cloud.mutate(|s| put_hook_status(s, &input)),
        other => Err(AwsError::new(
            "UnknownOperationException",
            format!("the local cloud's CodeDeploy does not implement {other}"),
        )),
    }
}

fn find_application<'a>(s: &'a CloudState, input: &Input) -> Result<&'a Application, AwsError> {
    let name = input.required("applicationName", "ApplicationNameRequiredException")?;
    s.applications.get(name).ok_or_else(|| {
        AwsError::new(
            "ApplicationDoesNotExistException",
            format!("No application found for name: {name}"),
        )
    })
}

impl DeploymentGroup {
    fn key(&self) -> String {
        format!("{}/{}", self.application, self.name)
    }
}

fn find_group<'a>(
    s: &'a CloudState,
    input: &Input,
    field: &str,
) -> Result<&'a DeploymentGroup, AwsError> {
    let app = find_application(s, input)?;
    let name = input.required(field, "DeploymentGroupNameRequiredException")?;
    s.deployment_groups
        .get(&format!("{}/{name}", app.name))
        .ok_or_else(|| {
            AwsError::new(
                "DeploymentGroupDoesNotExistException",
                format!("No Deployment Group found for name: {name}"),
            )
        })
}

fn application_json(app: &Application) -> Value {
    json!({
        "applicationId": app.id,
        "applicationName": app.name,
        "createTime": epoch(app.created_at),
        "linkedToGitHub": false,
        "computePlatform": app.compute_platform,
    })
}

/// The request's computePlatform, which must be ECS here.
fn ecs_compute_platform(input: &Input) -> Result<ComputePlatform, AwsError> {
    const INVALID_PLATFORM: &str = "InvalidComputePlatformException";
    let platform = input.opt_str("computePlatform")?.unwrap_or("Server");
    match ComputePlatform::parse_field(platform, "computePlatform", INVALID_PLATFORM)? {
        ComputePlatform::Ecs => Ok(ComputePlatform::Ecs),
        other => Err(AwsError::new(
            INVALID_PLATFORM,
            format!("the local cloud runs only the ECS compute platform (got {other})"),
        )),
    }
}

fn create_application(s: &mut CloudState, input: &Input) -> OpResult {
    let name = input.required("applicationName", "ApplicationNameRequiredException")?;
    if name.len() > 100 {
        return Err(AwsError::new(
            "InvalidApplicationNameException",
            "The application name is longer than 100 characters.",
        ));
    }
    ecs_compute_platform(input)?;
    if s.applications.contains_key(name) {
        return Err(AwsError::new(
            "ApplicationAlreadyExistsException",
            format!("{name} already exists in your account"),
        ));
    }
    let app = Application {
        name: name.to_owned(),
        id: random_uuid(),
        compute_platform: ComputePlatform::Ecs,
        created_at: now_millis(),
    };
    let id = app.id.clone();
    s.applications.insert(name.to_owned(), app);
    Ok(json!({"applicationId": id}))
}

fn delete_application(s: &mut CloudState, input: &Input) -> OpResult {
    let name = find_application(s, input)?.name.clone();
    if s.deployments
        .values()
        .any(|d| d.application == name && !d.is_finished())
    {
        return Err(AwsError::new(
            "InvalidOperationException",
            "The application has a deployment in progress.",
        ));
    }
    s.applications.remove(&name);
    s.deployment_groups.retain(|_, g| g.application != name);
    Ok(json!({}))
}

/// The routing of a deployment config, by name: predefined or custom.
fn resolve_config(s: &CloudState, name: &str) -> Result<Routing, AwsError> {
    if let Some(routing) = configs::predefined(name) {
        return Ok(routing);
    }
    let record = s.deployment_configs.get(name).ok_or_else(|| {
        AwsError::new(
            "DeploymentConfigDoesNotExistException",
            format!("No deployment configuration found for name: {name}"),
        )
    })?;
    Ok(match record.routing_type {
        TrafficRoutingType::TimeBasedLinear => Routing::Linear {
            percent: record.percentage,
            interval_minutes: record.interval_minutes,
        },
        TrafficRoutingType::TimeBasedCanary => Routing::Canary {
            percent: record.percentage,
            interval_minutes: record.interval_minutes,
        },
        TrafficRoutingType::AllAtOnce => Routing::AllAtOnce,
    })
}

/// How the config named `config_name` moves traffic, if it exists.
pub fn routing_of(s: &CloudState, config_name: &str) -> Option<Routing> {
    resolve_config(s, config_name).ok()
}

fn config_json(s: &CloudState, name: &str) -> OpResult {
    let routing = resolve_config(s, name)?;
    let (id, created) = s.deployment_configs.get(name).map_or_else(
        || {
            (
                format!(
                    "{:08x}-0000-0000-0000-{:012x}",
                    name.len(),
                    name.bytes().map(u64::from).sum::<u64>()
                ),
                0,
            )
        },
        |r| (r.id.clone(), r.created_at),
    );
    let routing = match routing {
        Routing::AllAtOnce => json!({"type": TrafficRoutingType::AllAtOnce}),
        Routing::Linear {
            percent: percentage,
            interval_minutes,
        } => json!({
            "type": TrafficRoutingType::TimeBasedLinear,
            "timeBasedLinear": {"linearPercentage": percentage, "linearInterval": interval_minutes},
        }),
        Routing::Canary {
            percent: percentage,
            interval_minutes,
        } => json!({
            "type": TrafficRoutingType::TimeBasedCanary,
            "timeBasedCanary": {"canaryPercentage": percentage, "canaryInterval": interval_minutes},
        }),
    };
    Ok(json!({
        "deploymentConfigId": id,
        "deploymentConfigName": name,
        "createTime": epoch(created),
        "computePlatform": ComputePlatform::Ecs,
        "trafficRoutingConfig": routing,
    }))
}

fn create_deployment_config(s: &mut CloudState, input: &Input) -> OpResult {
    let name = input.required(
        "deploymentConfigName",
        "DeploymentConfigNameRequiredException",
    )?;
    if name.starts_with(PREDEFINED_PREFIX) || name.len() > 100 {
        return Err(AwsError::new(
            "InvalidDeploymentConfigNameException",
            format!("{name} is not a valid name for a custom deployment configuration"),
        ));
    }
    if s.deployment_configs.contains_key(name) {
        return Err(AwsError::new(
            "DeploymentConfigAlreadyExistsException",
            format!("A deployment configuration named {name} already exists."),
        ));
    }
    ecs_compute_platform(input)?;
    let bad = |why: String| AwsError::new("InvalidTrafficRoutingConfigurationException", why);
    let routing = input
        .nested("trafficRoutingConfig")?
        .ok_or_else(|| bad("trafficRoutingConfig is required for ECS".into()))?;
    let kind = TrafficRoutingType::parse_field(
        routing
            .opt_str("type")?
            .unwrap_or(TrafficRoutingType::AllAtOnce.as_str()),
        "trafficRoutingConfig.type",
        "InvalidTrafficRoutingConfigurationException",
    )?;
    let step = |key: &str, pct: &str, interval: &str| -> Result<(u32, u32), AwsError> {
        let part = routing
            .nested(key)?
            .ok_or_else(|| bad(format!("{key} is required for {kind}")))?;
        let p = part
            .opt_i64(pct)?
            .ok_or_else(|| bad(format!("{key}.{pct} is required")))?;
        let i = part
            .opt_i64(interval)?
            .ok_or_else(|| bad(format!("{key}.{interval} is required")))?;
        Ok((
            p.clamp(-1, 1000) as i32 as u32,
            i.clamp(0, i64::from(u32::MAX)) as u32,
        ))
    };
    let (percentage, interval) = match kind {
        TrafficRoutingType::AllAtOnce => (100, 0),
        TrafficRoutingType::TimeBasedLinear => {
            let (p, i) = step("timeBasedLinear", "linearPercentage", "linearInterval")?;
            Routing::Linear {
                percent: p,
                interval_minutes: i,
            }
            .checked()
            .map_err(bad)?;
            (p, i)
        }
        TrafficRoutingType::TimeBasedCanary => {
            let (p, i) = step("timeBasedCanary", "canaryPercentage", "canaryInterval")?;
            Routing::Canary {
                percent: p,
                interval_minutes: i,
            }
            .checked()
            .map_err(bad)?;
            (p, i)
        }
    };
    let id = random_uuid();
    s.deployment_configs.insert(
        name.to_owned(),
        DeploymentConfigRecord {
            name: name.to_owned(),
            id: id.clone(),
            routing_type: kind,
            percentage,
            interval_minutes: interval,
            created_at: now_millis(),
        },
    );
    Ok(json!({"deploymentConfigId": id}))
}

/// Reads the ECS blue/green settings of a CreateDeploymentGroup or
/// UpdateDeploymentGroup request into `group`, checking them against ECS.
fn apply_group_settings(
    s: &CloudState,
    group: &mut DeploymentGroup,
    input: &Input,
) -> Result<(), AwsError> {
    if let Some(role) = input.opt_str("serviceRoleArn")? {
        if !role.starts_with("arn:") {
            return Err(AwsError::new(
                "InvalidRoleException",
                "The service role ARN is not valid.",
            ));
        }
        group.service_role_arn = role.to_owned();
    }
    if let Some(config) = input.opt_str("deploymentConfigName")? {
        resolve_config(s, config)?;
        group.deployment_config_name = config.to_owned();
    }
    if let Some(style) = input.nested("deploymentStyle")? {
        let kind = style.opt_str("deploymentType")?.unwrap_or("BLUE_GREEN");
        let option = style
            .opt_str("deploymentOption")?
            .unwrap_or("WITH_TRAFFIC_CONTROL");
        if kind != "BLUE_GREEN" || option != "WITH_TRAFFIC_CONTROL" {
            return Err(AwsError::new(
                "InvalidDeploymentStyleException",
                "ECS deployments are BLUE_GREEN WITH_TRAFFIC_CONTROL.",
            ));
        }
    }
    apply_ecs_services(s, group, input.list("ecsServices")?)?;
    if let Some(lb) = input.nested("loadBalancerInfo")? {
        apply_load_balancer_info(s, group, &lb)?;
    }
    if let Some(bg) = input.nested("blueGreenDeploymentConfiguration")? {
        apply_blue_green(group, &bg)?;
    }
    if let Some(rollback) = input.nested("autoRollbackConfiguration")? {
        apply_auto_rollback(group, &rollback)?;
    }
    if let Some(alarms) = input.nested("alarmConfiguration")? {
        group.alarm_configuration = alarm_configuration(&alarms)?;
    }
    // Keep what was given, to echo it back as GetDeploymentGroup does.
    let mut raw = group.raw.as_object().cloned().unwrap_or_default();
    for key in [
        "deploymentStyle",
        "blueGreenDeploymentConfiguration",
        "loadBalancerInfo",
        "ecsServices",
        "autoRollbackConfiguration",
        "alarmConfiguration",
    ] {
        if let Some(v) = input.map.get(key) {
            raw.insert(key.into(), v.clone());
        }
    }
    group.raw = Value::Object(raw);
    Ok(())
}

/// `ecsServices`: the one CODE_DEPLOY-controlled service the group deploys,
/// in no other group.
fn apply_ecs_services(
    s: &CloudState,
    group: &mut DeploymentGroup,
    services: &[Value],
) -> Result<(), AwsError> {
    if services.is_empty() {
        return Ok(());
    }
    let mut pairs = Vec::new();
    for svc in services {
        let svc = Input::new(
            svc.as_object().ok_or_else(|| {
                AwsError::new("SerializationException", "ecsServices must be objects")
            })?,
            INVALID,
        );
        let (name, cluster) = (svc.str("serviceName")?, svc.str("clusterName")?);
        let service = ecs::find_service(s, cluster, name).map_err(|_| {
            AwsError::new(
                "InvalidECSServiceException",
                format!("The ECS service {name} in cluster {cluster} does not exist."),
            )
        })?;
        if service.deployment_controller != DeploymentControllerType::CodeDeploy {
            return Err(AwsError::new(
                "InvalidECSServiceException",
                format!(
                    "The ECS service {name} must use the CODE_DEPLOY deployment controller (it uses {}).",
                    service.deployment_controller
                ),
            ));
        }
        pairs.push((name.to_owned(), cluster.to_owned()));
    }
    if pairs.len() > 1 {
        return Err(AwsError::new(
            "ECSServiceMappingLimitExceededException",
            "A deployment group deploys one ECS service.",
        ));
    }
    if let Some(other) = s
        .deployment_groups
        .values()
        .find(|g| g.key() != group.key() && g.ecs_services == pairs)
    {
        return Err(AwsError::new(
            "ECSServiceMappingLimitExceededException",
            format!(
                "The ECS service is already in deployment group {}.",
                other.name
            ),
        ));
    }
    group.ecs_services = pairs;
    Ok(())
}

/// `loadBalancerInfo`: one target group pair behind one load balancer's
/// production (and optional test) listener.
fn apply_load_balancer_info(
    s: &CloudState,
    group: &mut DeploymentGroup,
    lb: &Input,
) -> Result<(), AwsError> {
    let pairs = lb.list("targetGroupPairInfoList")?;
    let invalid = |why: &str| AwsError::new("InvalidTargetGroupPairException", why.to_owned());
    let pair = match pairs {
        [one] => Input::new(
            one.as_object()
                .ok_or_else(|| invalid("a target group pair must be an object"))?,
            INVALID,
        ),
        _ => {
            return Err(invalid(
                "ECS deployments need exactly one target group pair",
            ));
        }
    };
    let names: Vec<String> = pair
        .list("targetGroups")?
        .iter()
        .filter_map(|tg| tg.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if names.len() != 2 || names[0] == names[1] {
        return Err(invalid(
            "a target group pair names two different target groups",
        ));
    }
    let routes = |key: &str| -> Result<Vec<String>, AwsError> {
        Ok(match pair.nested(key)? {
            Some(route) => route
                .str_list("listenerArns")?
                .into_iter()
                .map(str::to_owned)
                .collect(),
            None => Vec::new(),
        })
    };
    let (prod, test) = (routes("prodTrafficRoute")?, routes("testTrafficRoute")?);
    if prod.len() != 1 {
        return Err(invalid(
            "the production traffic route needs one listener ARN",
        ));
    }
    let balancer = s
        .load_balancers
        .values()
        .find(|lb| lb.production.arn == prod[0] || lb.test.arn == prod[0])
        .ok_or_else(|| invalid("the production listener does not exist"))?;
    for name in &names {
        if !balancer.target_groups.iter().any(|tg| &tg.name == name) {
            return Err(invalid(&format!(
                "target group {name} is not behind the production listener's load balancer"
            )));
        }
    }
    if test
        .iter()
        .any(|arn| balancer.test.arn != *arn && balancer.production.arn != *arn)
    {
        return Err(invalid(
            "the test listener does not belong to the same load balancer",
        ));
    }
    group.target_groups = names;
    group.prod_listener_arns = prod;
    group.test_listener_arns = test;
    Ok(())
}

/// `blueGreenDeploymentConfiguration`: the Ready wait and what happens to
/// the original task set after success.
fn apply_blue_green(group: &mut DeploymentGroup, bg: &Input) -> Result<(), AwsError> {
    let invalid =
        |why: String| AwsError::new("InvalidBlueGreenDeploymentConfigurationException", why);
    if let Some(ready) = bg.nested("deploymentReadyOption")? {
        let action = ready
            .opt_str("actionOnTimeout")?
            .unwrap_or(DeploymentReadyAction::ContinueDeployment.as_str());
        group.ready_action = DeploymentReadyAction::parse(action)
            .ok_or_else(|| invalid(format!("unknown actionOnTimeout {action}")))?;
        group.ready_wait_minutes = ready.opt_i64("waitTimeInMinutes")?.unwrap_or(0).max(0);
    }
    if let Some(term) = bg.nested("terminateBlueInstancesOnDeploymentSuccess")? {
        let action = term
            .opt_str("action")?
            .unwrap_or(InstanceAction::Terminate.as_str());
        let action = InstanceAction::parse(action)
            .ok_or_else(|| invalid(format!("unknown termination action {action}")))?;
        let wait = term.opt_i64("terminationWaitTimeInMinutes")?.unwrap_or(0);
        if !(0..=2880).contains(&wait) {
            return Err(invalid(
                "terminationWaitTimeInMinutes must be between 0 and 2880".into(),
            ));
        }
        group.termination_action = action;
        group.termination_wait_minutes = wait;
    }
    Ok(())
}

/// `autoRollbackConfiguration`: whether and on which events to roll back.
fn apply_auto_rollback(group: &mut DeploymentGroup, rollback: &Input) -> Result<(), AwsError> {
    group.auto_rollback_enabled = rollback.opt_bool("enabled")?.unwrap_or(false);
    group.auto_rollback_events = rollback
        .str_list("events")?
        .into_iter()
        .map(|event| {
            AutoRollbackEvent::parse_field(event, "autoRollbackConfiguration.events", INVALID)
        })
        .collect::<Result<_, _>>()?;
    Ok(())
}

/// `alarmConfiguration`: at most ten alarms, named.
fn alarm_configuration(input: &Input) -> Result<AlarmConfiguration, AwsError> {
    let alarms = input
        .list("alarms")?
        .iter()
        .map(|alarm| {
            alarm
                .get("name")
                .and_then(Value::as_str)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    AwsError::new(
                        "InvalidAlarmConfigException",
                        "Each alarm in alarmConfiguration.alarms needs a name.",
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if alarms.len() > 10 {
        return Err(AwsError::new(
            "AlarmsLimitExceededException",
            "The maximum number of alarms for a deployment group (10) was exceeded.",
        ));
    }
    let enabled = input.opt_bool("enabled")?.unwrap_or(false);
    if enabled && alarms.is_empty() {
        return Err(AwsError::new(
            "InvalidAlarmConfigException",
            "alarmConfiguration is enabled but names no alarm.",
        ));
    }
    Ok(AlarmConfiguration {
        enabled,
        ignore_poll_alarm_failure: input.opt_bool("ignorePollAlarmFailure")?.unwrap_or(false),
        alarms,
    })
}

fn create_deployment_group(s: &mut CloudState, input: &Input) -> OpResult {
    let app = find_application(s, input)?.name.clone();
    let name = input.required(
        "deploymentGroupName",
        "DeploymentGroupNameRequiredException",
    )?;
    if s.deployment_groups.contains_key(&format!("{app}/{name}")) {
        return Err(AwsError::new(
            "DeploymentGroupAlreadyExistsException",
            format!("A deployment group named {name} already exists."),
        ));
    }
    input.required("serviceRoleArn", "RoleRequiredException")?;
    let mut group = DeploymentGroup {
        application: app.clone(),
        name: name.to_owned(),
        id: random_uuid(),
        service_role_arn: String::new(),
        deployment_config_name: "CodeDeployDefault.ECSAllAtOnce".into(),
        ecs_services: Vec::new(),
        target_groups: Vec::new(),
        prod_listener_arns: Vec::new(),
        test_listener_arns: Vec::new(),
        ready_action: DeploymentReadyAction::ContinueDeployment,
        ready_wait_minutes: 0,
        termination_action: InstanceAction::Terminate,
        termination_wait_minutes: 0,
        auto_rollback_enabled: false,
        auto_rollback_events: Vec::new(),
        alarm_configuration: AlarmConfiguration::default(),
        raw: json!({}),
    };
    apply_group_settings(s, &mut group, input)?;
    if group.ecs_services.is_empty() {
        return Err(AwsError::new(
            "InvalidECSServiceException",
            "An ECS deployment group needs ecsServices.",
        ));
    }
    if group.target_groups.is_empty() {
        return Err(AwsError::new(
            "InvalidTargetGroupPairException",
            "An ECS deployment group needs loadBalancerInfo.targetGroupPairInfoList.",
        ));
    }
    let id = group.id.clone();
    s.deployment_groups.insert(group.key(), group);
    Ok(json!({"deploymentGroupId": id}))
}

fn update_deployment_group(s: &mut CloudState, input: &Input) -> OpResult {
    let mut group = find_group(s, input, "currentDeploymentGroupName")?.clone();
    let old_key = group.key();
    apply_group_settings(s, &mut group, input)?;
    if let Some(new_name) = input.opt_str("newDeploymentGroupName")? {
        if new_name != group.name
            && s.deployment_groups
                .contains_key(&format!("{}/{new_name}", group.application))
        {
            return Err(AwsError::new(
                "DeploymentGroupAlreadyExistsException",
                format!("A deployment group named {new_name} already exists."),
            ));
        }
        group.name = new_name.to_owned();
    }
    s.deployment_groups.remove(&old_key);
    s.deployment_groups.insert(group.key(), group);
    Ok(json!({"hooksNotCleanedUp": []}))
}

fn group_json(s: &CloudState, g: &DeploymentGroup) -> Value {
    let mut last: Vec<&Deployment> = s
        .deployments
        .values()
        .filter(|d| d.application == g.application && d.group == g.name)
        .collect();
    last.sort_by_key(|d| d.created_at);
    let summary = |d: &Deployment| json!({"deploymentId": d.id, "status": d.status, "endTime": d.completed_at.map(epoch), "createTime": epoch(d.created_at)});
    let mut info = json!({
        "applicationName": g.application,
        "deploymentGroupId": g.id,
        "deploymentGroupName": g.name,
        "deploymentConfigName": g.deployment_config_name,
        "serviceRoleArn": g.service_role_arn,
        "computePlatform": ComputePlatform::Ecs,
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "blueGreenDeploymentConfiguration": {
            "terminateBlueInstancesOnDeploymentSuccess": {"action": g.termination_action, "terminationWaitTimeInMinutes": g.termination_wait_minutes},
            "deploymentReadyOption": {"actionOnTimeout": g.ready_action, "waitTimeInMinutes": g.ready_wait_minutes},
        },
        "loadBalancerInfo": {"targetGroupPairInfoList": [{
            "targetGroups": g.target_groups.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
            "prodTrafficRoute": {"listenerArns": g.prod_listener_arns},
            "testTrafficRoute": {"listenerArns": g.test_listener_arns},
        }]},
        "ecsServices": g.ecs_services.iter().map(|(svc, cluster)| json!({"serviceName": svc, "clusterName": cluster})).collect::<Vec<_>>(),
        "autoRollbackConfiguration": {"enabled": g.auto_rollback_enabled, "events": g.auto_rollback_events},
        "alarmConfiguration": g.raw.get("alarmConfiguration").cloned().unwrap_or(json!({"enabled": false, "ignorePollAlarmFailure": false, "alarms": []})),
        "triggerConfigurations": [],
        "autoScalingGroups": [],
        "ec2TagFilters": [],
        "onPremisesInstanceTagFilters": [],
        "outdatedInstancesStrategy": "UPDATE",
        "terminationHookEnabled": false,
    });
    if let Some(d) = last.last() {
        info["lastAttemptedDeployment"] = summary(d);
    }
    if let Some(d) = last
        .iter()
        .rev()
        .find(|d| d.status == DeploymentStatus::Succeeded)
    {
        info["lastSuccessfulDeployment"] = summary(d);
    }
    info
}

fn find_deployment<'a>(s: &'a CloudState, id: &str) -> Result<&'a Deployment, AwsError> {
    let well_formed = id.len() == 11
        && id.starts_with("d-")
        && id[2..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !well_formed {
        return Err(AwsError::new(
            "InvalidDeploymentIdException",
            format!("{id} is not a deployment id (d-XXXXXXXXX)"),
        ));
    }
    s.deployments.get(id).ok_or_else(|| {
        AwsError::new(
            "DeploymentDoesNotExistException",
            format!("The deployment {id} could not be found."),
        )
    })
}

fn started_deployment<'a>(s: &'a CloudState, input: &Input) -> Result<&'a Deployment, AwsError> {
    let d = find_deployment(
        s,
        input.required("deploymentId", "DeploymentIdRequiredException")?,
    )?;
    if matches!(
        d.status,
        DeploymentStatus::Created | DeploymentStatus::Queued
    ) {
        return Err(AwsError::new(
            "DeploymentNotStartedException",
            "The deployment has not started yet.",
        ));
    }
    Ok(d)
}

fn create_deployment(s: &mut CloudState, input: &Input) -> Result<String, AwsError> {
    let group = find_group(s, input, "deploymentGroupName")?.clone();
    let (revision, spec, td_arn) = ecs_revision(s, input)?;
    if let Some(active) = s
        .deployments
        .values()
        .find(|d| d.application == group.application && d.group == group.name && !d.is_finished())
    {
        // What AWS answers; its SDKs model no other error for this.
        return Err(AwsError::new(
            "DeploymentLimitExceededException",
            format!(
                "The Deployment Group '{}' already has an active Deployment '{}'",
                group.name, active.id
            ),
        ));
    }
    let config_name = input
        .opt_str("deploymentConfigName")?
        .unwrap_or(&group.deployment_config_name)
        .to_owned();
    resolve_config(s, &config_name)?;
    let (service, cluster) = group
        .ecs_services
        .first()
        .cloned()
        .expect("checked at creation");
    ecs::find_service(s, &cluster, &service).map_err(|_| {
        AwsError::new(
            "InvalidECSServiceException",
            format!("The ECS service {service} no longer exists."),
        )
    })?;
    let id = loop {
        let id = format!(
            "d-{}",
            random_id(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 9)
        );
        if !s.deployments.contains_key(&id) {
            break id;
        }
    };
    let lifecycle = lifecycle_of(&spec);
    s.deployments.insert(
        id.clone(),
        Deployment {
            id: id.clone(),
            application: group.application.clone(),
            group: group.name.clone(),
            config_name,
            status: DeploymentStatus::Created,
            creator: "user".into(),
            description: input.opt_str("description")?.map(str::to_owned),
            revision,
            task_definition: td_arn,
            container_name: spec.container_name,
            container_port: spec.container_port,
            cluster,
            service,
            lifecycle,
            blue_task_set: None,
            green_task_set: None,
            green_weight: 0.0,
            created_at: now_millis(),
            started_at: None,
            completed_at: None,
            ready_since: None,
            baking_since: None,
            error: None,
            rollback: None,
            stop_requested: None,
            continue_ready: false,
            continue_termination: false,
        },
    );
    Ok(id)
}

/// The deployment's revision: an ECS AppSpec whose task definition exists
/// and has the container it names. (The revision as given, the AppSpec, and
/// the task definition's ARN.)
fn ecs_revision(
    s: &CloudState,
    input: &Input,
) -> Result<(Value, appspec::AppSpec, String), AwsError> {
    let revision = input
        .nested("revision")?
        .ok_or_else(|| AwsError::new("RevisionRequiredException", "revision is required"))?;
    let revision_type = revision.opt_str("revisionType")?.unwrap_or("");
    let invalid_revision = |why: String| AwsError::new("InvalidRevisionException", why);
    if revision_type != "AppSpecContent" {
        return Err(invalid_revision(format!(
            "the local cloud deploys ECS revisions of revisionType AppSpecContent (got {revision_type:?})"
        )));
    }
    let content = revision
        .nested("appSpecContent")?
        .and_then(|c| c.opt_str("content").ok().flatten())
        .ok_or_else(|| invalid_revision("appSpecContent.content is required".into()))?;
    let spec = appspec::parse(content).map_err(invalid_revision)?;
    let td = ecs::find_task_definition(s, &spec.task_definition).map_err(|_| {
        invalid_revision(format!(
            "the task definition {} does not exist",
            spec.task_definition
        ))
    })?;
    let has_container = td.input["containerDefinitions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["name"] == spec.container_name.as_str()));
    if !has_container {
        return Err(invalid_revision(format!(
            "the task definition has no container named {}",
            spec.container_name
        )));
    }
    let td_arn = td.arn.clone();
    Ok((Value::Object(revision.map.clone()), spec, td_arn))
}

/// The AppSpec's lifecycle events, pending, each with its hook if it names one.
fn lifecycle_of(spec: &appspec::AppSpec) -> Vec<LifecycleEvent> {
    LifecycleEventName::ALL
        .iter()
        .map(|name| LifecycleEvent {
            name: *name,
            status: LifecycleEventStatus::Pending,
            started_at: None,
            ended_at: None,
            hook: spec
                .hooks
                .iter()
                .find(|(event, _)| event == name)
                .map(|(_, function)| HookExecution {
                    function: function.clone(),
                    execution_id: random_uuid(),
                    status: LifecycleEventStatus::Pending,
                    launched: false,
                }),
            diagnostics: None,
        })
        .collect()
}

/// The deployment's one target in `deploymentOverview`'s counts.
fn overview(d: &Deployment) -> Value {
    let status = target_status(d);
    let counts: Map<String, Value> = [
        TargetStatus::Pending,
        TargetStatus::InProgress,
        TargetStatus::Succeeded,
        TargetStatus::Failed,
        TargetStatus::Skipped,
        TargetStatus::Ready,
    ]
    .into_iter()
    .map(|counted| {
        (
            counted.as_str().to_owned(),
            json!(u8::from(counted == status)),
        )
    })
    .collect();
    Value::Object(counts)
}

/// The status of the deployment's ECS target.
fn target_status(d: &Deployment) -> TargetStatus {
    match d.status {
        DeploymentStatus::Created | DeploymentStatus::Queued => TargetStatus::Pending,
        DeploymentStatus::InProgress | DeploymentStatus::Baking => TargetStatus::InProgress,
        DeploymentStatus::Ready => TargetStatus::Ready,
        DeploymentStatus::Succeeded => TargetStatus::Succeeded,
        DeploymentStatus::Failed | DeploymentStatus::Stopped => TargetStatus::Failed,
    }
}

fn deployment_json(s: &CloudState, d: &Deployment) -> Value {
    let group = s
        .deployment_groups
        .get(&format!("{}/{}", d.application, d.group));
    let mut info = json!({
        "applicationName": d.application,
        "deploymentGroupName": d.group,
        "deploymentConfigName": d.config_name,
        "deploymentId": d.id,
        "revision": d.revision,
        "status": d.status,
        "createTime": epoch(d.created_at),
        "startTime": d.started_at.map(epoch),
        "completeTime": d.completed_at.map(epoch),
        "deploymentOverview": overview(d),
        "description": d.description,
        "creator": d.creator,
        "ignoreApplicationStopFailures": false,
        "updateOutdatedInstancesOnly": false,
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "computePlatform": ComputePlatform::Ecs,
        "deploymentStatusMessages": [],
        "instanceTerminationWaitTimeStarted": d.baking_since.is_some(),
        "fileExistsBehavior": "DISALLOW",
    });
    if let Some(g) = group {
        let gj = group_json(s, g);
        info["blueGreenDeploymentConfiguration"] = gj["blueGreenDeploymentConfiguration"].clone();
        info["loadBalancerInfo"] = gj["loadBalancerInfo"].clone();
        info["autoRollbackConfiguration"] = gj["autoRollbackConfiguration"].clone();
    }
    if let Some((code, message)) = &d.error {
        info["errorInformation"] = json!({"code": code, "message": message});
    }
    if let Some(r) = &d.rollback {
        info["rollbackInfo"] = json!({
            "rollbackDeploymentId": r.rollback_deployment_id,
            "rollbackTriggeringDeploymentId": r.rollback_triggering_deployment_id,
            "rollbackMessage": r.message,
        });
    }
    info
}

fn list_deployments(s: &CloudState, input: &Input) -> OpResult {
    let app = input.opt_str("applicationName")?;
    let group = input.opt_str("deploymentGroupName")?;
    if group.is_some() && app.is_none() {
        return Err(AwsError::new(
            "ApplicationNameRequiredException",
            "applicationName is required with deploymentGroupName",
        ));
    }
    if app.is_some() {
        find_application(s, input)?;
    }
    if group.is_some() {
        find_group(s, input, "deploymentGroupName")?;
    }
    let statuses = input.str_list("includeOnlyStatuses")?;
    let mut matching: Vec<&Deployment> = s
        .deployments
        .values()
        .filter(|d| app.is_none_or(|a| d.application == a) && group.is_none_or(|g| d.group == g))
        .filter(|d| statuses.is_empty() || statuses.contains(&d.status.as_str()))
        .collect();
    matching.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    let ids: Vec<String> = matching.into_iter().map(|d| d.id.clone()).collect();
    let (page, next) = paginate(&ids, input.opt_str("nextToken")?, 100)?;
    Ok(json!({"deployments": page, "nextToken": next}))
}

pub fn target_id(d: &Deployment) -> String {
    format!("{}:{}", d.cluster, d.service)
}

fn target_json(cloud: &LocalCloud, s: &CloudState, d: &Deployment, target: &str) -> OpResult {
    if target != target_id(d) {
        return Err(AwsError::new(
            "DeploymentTargetDoesNotExistException",
            format!("The target {target} is not part of deployment {}.", d.id),
        ));
    }
    let service = s.services.get(&format!("{}/{}", d.cluster, d.service));
    let label_info = |task_set: &Option<String>, label: &str, weight: f64| -> Option<Value> {
        let id = task_set.as_ref()?;
        let live = service.and_then(|svc| {
            svc.task_sets
                .iter()
                .find(|ts| &ts.id == id)
                .map(|ts| (svc, ts))
        });
        let (desired, pending, running, status, tg_arn) = match live {
            Some((svc, ts)) => {
                let (pending, running) = cloud.runtime.counts(&ts.arn);
                (
                    ecs::computed_desired_count(svc, ts),
                    pending,
                    running,
                    ts.status,
                    ts.load_balancer.target_group_arn.clone(),
                )
            }
            None => (0, 0, 0, TaskSetStatus::Draining, String::new()),
        };
        let tg_name = s
            .load_balancers
            .values()
            .flat_map(|lb| lb.target_groups.iter())
            .find(|tg| tg.arn == tg_arn)
            .map(|tg| tg.name.clone());
        Some(json!({
            "identifer": id,
            "desiredCount": desired,
            "pendingCount": pending,
            "runningCount": running,
            "status": status,
            "trafficWeight": weight,
            "targetGroup": tg_name.map(|n| json!({"name": n})),
            "taskSetLabel": label,
        }))
    };
    let task_sets: Vec<Value> = [
        label_info(&d.blue_task_set, "Blue", 100.0 - d.green_weight),
        label_info(&d.green_task_set, "Green", d.green_weight),
    ]
    .into_iter()
    .flatten()
    .collect();
    let status = target_status(d);
    let events: Vec<Value> = d
        .lifecycle
        .iter()
        .map(|e| {
            json!({
                "lifecycleEventName": e.name,
                "status": e.status,
                "startTime": e.started_at.map(epoch),
                "endTime": e.ended_at.map(epoch),
                "diagnostics": e.diagnostics.as_ref().map(|m| json!({
                    "errorCode": if e.status == LifecycleEventStatus::Failed {
                        LifecycleErrorCode::ScriptFailed
                    } else {
                        LifecycleErrorCode::Success
                    },
                    "scriptName": e.hook.as_ref().map(|h| h.function.clone()),
                    "message": m,
                    "logTail": m,
                })),
            })
        })
        .collect();
    let last_updated = d
        .lifecycle
        .iter()
        .filter_map(|e| e.ended_at.or(e.started_at))
        .max()
        .or(d.started_at)
        .unwrap_or(d.created_at);
    Ok(json!({
        "deploymentTargetType": "ECSTarget",
        "ecsTarget": {
            "deploymentId": d.id,
            "targetId": target,
            "targetArn": service.map(|svc| svc.arn.clone()),
            "lastUpdatedAt": epoch(last_updated),
            "lifecycleEvents": events,
            "status": status,
            "taskSetsInfo": task_sets,
        },
    }))
}

aws_enum!(
    /// An ECS deployment target's status (`ecsTarget.status`).
    TargetStatus, "target status",
    {
        Pending = "Pending",
        InProgress = "InProgress",
        Succeeded = "Succeeded",
        Failed = "Failed",
        Skipped = "Skipped",
        Unknown = "Unknown",
        Ready = "Ready",
    }
);

aws_enum!(
    LifecycleErrorCode, "lifecycle error code",
    {
        Success = "Success",
        ScriptMissing = "ScriptMissing",
        ScriptNotExecutable = "ScriptNotExecutable",
        ScriptTimedOut = "ScriptTimedOut",
        ScriptFailed = "ScriptFailed",
        UnknownError = "UnknownError",
    }
);

aws_enum!(
    DeploymentWaitType, "deployment wait type",
    { ReadyWait = "READY_WAIT", TerminationWait = "TERMINATION_WAIT" }
);

aws_enum!(
    /// StopDeployment's answer.
    StopStatus, "stop status",
    { Pending = "Pending", Succeeded = "Succeeded" }
);

fn deployment_mut<'a>(
    s: &'a mut CloudState,
    input: &Input,
) -> Result<&'a mut Deployment, AwsError> {
    let id = input
        .required("deploymentId", "DeploymentIdRequiredException")?
        .to_owned();
    find_deployment(s, &id)?;
    let d = s.deployments.get_mut(&id).expect("found above");
    if d.is_finished() {
        return Err(AwsError::new(
            "DeploymentAlreadyCompletedException",
            format!("The deployment {id} has already completed."),
        ));
    }
    Ok(d)
}

fn continue_deployment(s: &mut CloudState, input: &Input) -> OpResult {
    let wait = DeploymentWaitType::parse_field(
        input.opt_str("deploymentWaitType")?.unwrap_or("READY_WAIT"),
        "deploymentWaitType",
        "InvalidDeploymentWaitTypeException",
    )?;
    let d = deployment_mut(s, input)?;
    match wait {
        DeploymentWaitType::ReadyWait => {
            if d.status != DeploymentStatus::Ready {
                return Err(AwsError::new(
                    "DeploymentIsNotInReadyStateException",
                    format!("The deployment {} is {}, not Ready.", d.id, d.status),
                ));
            }
            d.continue_ready = true;
        }
        DeploymentWaitType::TerminationWait => {
            if d.baking_since.is_none() {
                return Err(AwsError::new(
                    "DeploymentIsNotInReadyStateException",
                    format!(
                        "The deployment {} is not waiting to terminate the original task set.",
                        d.id
                    ),
                ));
            }
            d.continue_termination = true;
        }
    }
    Ok(json!({}))
}

fn stop_deployment(s: &mut CloudState, input: &Input) -> OpResult {
    let rollback = input.opt_bool("autoRollbackEnabled")?;
    let group_rollback = {
        let group_key = deployment_mut(s, input)?.group_key();
        s.deployment_groups.get(&group_key).is_some_and(|g| {
            g.auto_rollback_enabled
                && g.auto_rollback_events
                    .contains(&AutoRollbackEvent::DeploymentStopOnRequest)
        })
    };
    let d = deployment_mut(s, input)?;
    let rollback = rollback.unwrap_or(group_rollback);
    d.stop_requested = Some(rollback);
    Ok(
        json!({"status": StopStatus::Pending, "statusMessage": if rollback { "Stopping the deployment and rolling back" } else { "Stopping the deployment" }}),
    )
}

fn put_hook_status(s: &mut CloudState, input: &Input) -> OpResult {
    let execution = input.str("lifecycleEventHookExecutionId")?.to_owned();
    let status = LifecycleEventStatus::parse(input.str("status")?)
        .filter(|status| status.is_reported())
        .ok_or_else(|| {
            AwsError::new(
                "InvalidLifecycleEventHookExecutionStatusException",
                "status must be Succeeded or Failed",
            )
        })?;
    let d = deployment_mut(s, input)?;
    let hook = d
        .lifecycle
        .iter_mut()
        .filter_map(|e| e.hook.as_mut())
        .find(|h| h.execution_id == execution)
        .ok_or_else(|| {
            AwsError::new(
                "InvalidLifecycleEventHookExecutionIdException",
                format!("{execution} is not a hook execution of this deployment"),
            )
        })?;
    if hook.status.is_reported() {
        return Err(AwsError::new(
            "LifecycleEventAlreadyCompletedException",
            "The lifecycle event has already completed.",
        ));
    }
    hook.status = status;
    Ok(json!({"lifecycleEventHookExecutionId": execution}))
}
