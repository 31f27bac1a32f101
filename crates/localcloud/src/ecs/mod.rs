//! ECS operations: clusters, task definitions, services with the CODE_DEPLOY
//! controller, their task sets and tasks.

pub mod native;
use super::state::{
    self, CloudState, Cluster, ClusterStatus, DeploymentControllerType, LaunchType, Service,
    ServiceLoadBalancer, ServiceStatus, TaskDefinition, TaskDefinitionStatus, TaskSet,
    TaskSetStatus,
};
use super::wire::{AwsError, Input, OpResult, epoch};
use super::{LocalCloud, now_millis};
use serde_json::{Map, Value, json};

const INVALID: &str = "InvalidParameterException";

pub fn call(cloud: &LocalCloud, operation: &str, body: &Map<String, Value>) -> OpResult {
    let input = Input::new(body, INVALID);
    match operation {
        "CreateCluster" => cloud.mutate(|s| create_cluster(s, &input)),
        "DescribeClusters" => cloud.read(|s| describe_clusters(cloud, s, &input)),
        "ListClusters" => cloud.read(|s| list_clusters(s, &input)),
        "DeleteCluster" => cloud.mutate(|s| delete_cluster(s, &input)),
        "RegisterTaskDefinition" => cloud.mutate(|s| register_task_definition(s, body)),
        "DescribeTaskDefinition" => cloud.read(|s| {
            let td = find_task_definition(s, input.str("taskDefinition")?)?;
            Ok(json!({"taskDefinition": task_definition_json(td), "tags": []}))
        }),
        "ListTaskDefinitions" => cloud.read(|s| list_task_definitions(s, &input)),
        "DeregisterTaskDefinition" => cloud.mutate(|s| deregister_task_definition(s, &input)),
        "CreateService" => cloud
            .mutate(|s| create_service(s, &input))
            .map(|v| cloud.read(|s| service_json(cloud, s, &v))),
        "DescribeServices" => cloud.read(|s| describe_services(cloud, s, &input)),
        "UpdateService" => woken(cloud, |s| update_service(s, &input))
            .map(|v| cloud.read(|s| service_json(cloud, s, &v))),
        "DeleteService" => cloud
            .mutate(|s| delete_service(s, &input))
            .map(|v| cloud.read(|s| service_json(cloud, s, &v))),
        "ListServices" => cloud.read(|s| list_services(s, &input)),
        "ListServiceDeployments" => {
            cloud.read(|s| native::ops::list_service_deployments(s, &input))
        }
        "DescribeServiceDeployments" => {
            cloud.read(|s| native::ops::describe_service_deployments(s, &input))
        }
        "DescribeServiceRevisions" => {
            cloud.read(|s| native::ops::describe_service_revisions(s, &input))
        }
        "StopServiceDeployment" => woken(cloud, |s| {
            native::ops::stop_service_deployment(s, &input, now_millis())
        }),
        "ContinueServiceDeployment" => woken(cloud, |s| {
            native::ops::continue_service_deployment(s, &input, now_millis())
        }),
        "DescribeTaskSets" => cloud.read(|s| describe_task_sets(cloud, s, &input)),
        "ListTasks" => cloud.read(|s| list_tasks(cloud, s, &input)),
        "DescribeTasks" => cloud.read(|s| describe_tasks(cloud, s, &input)),
        other => Err(AwsError::new(
            "UnknownOperationException",
            format!("the local cloud's ECS does not implement {other}"),
        )),
    }
}

/// The last segment of an ARN, or the value itself when it is a name.
/// A change to service deployments, after which their driver looks again.
fn woken<T>(
    cloud: &LocalCloud,
    change: impl FnOnce(&mut CloudState) -> Result<T, AwsError>,
) -> Result<T, AwsError> {
    let result = cloud.mutate(change);
    cloud.native_wake.notify_one();
    result
}

fn name_of(value: &str) -> &str {
    if value.starts_with("arn:") {
        value.rsplit('/').next().unwrap_or(value)
    } else {
        value
    }
}

fn cluster_name<'a>(input: &Input<'a>) -> Result<&'a str, AwsError> {
    Ok(input.opt_str("cluster")?.map_or("default", name_of))
}

fn find_cluster<'a>(s: &'a CloudState, name: &str) -> Result<&'a Cluster, AwsError> {
    s.clusters.get(name).ok_or_else(|| {
        AwsError::new(
            "ClusterNotFoundException",
            format!("Cluster not found: {name}"),
        )
    })
}

fn service_key(cluster: &str, service: &str) -> String {
    format!("{cluster}/{service}")
}

pub fn find_service<'a>(
    s: &'a CloudState,
    cluster: &str,
    service: &str,
) -> Result<&'a Service, AwsError> {
    find_cluster(s, cluster)?;
    s.services
        .get(&service_key(cluster, name_of(service)))
        .filter(|svc| svc.status != ServiceStatus::Inactive)
        .ok_or_else(|| {
            AwsError::new(
                "ServiceNotFoundException",
                format!("Service not found: {service}"),
            )
        })
}

fn create_cluster(s: &mut CloudState, input: &Input) -> OpResult {
    let name = input.opt_str("clusterName")?.unwrap_or("default");
    if name.is_empty()
        || name.len() > 255
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AwsError::new(
            INVALID,
            "Cluster names can have up to 255 letters, numbers, hyphens and underscores",
        ));
    }
    let cluster = s
        .clusters
        .entry(name.to_owned())
        .or_insert_with(|| Cluster {
            name: name.to_owned(),
            arn: state::arn("ecs", &format!("cluster/{name}")),
            created_at: now_millis(),
        })
        .clone();
    Ok(json!({"cluster": cluster_json(None, s, &cluster)}))
}

fn cluster_json(cloud: Option<&LocalCloud>, s: &CloudState, c: &Cluster) -> Value {
    let services: Vec<&Service> = s
        .services
        .values()
        .filter(|svc| svc.cluster == c.name && svc.status == ServiceStatus::Active)
        .collect();
    let (pending, running) = cloud.map_or((0, 0), |cloud| {
        services
            .iter()
            .flat_map(|svc| svc.task_sets.iter())
            .map(|ts| cloud.runtime.counts(&ts.arn))
            .fold((0, 0), |(p, r), (tp, tr)| (p + tp, r + tr))
    });
    json!({
        "clusterArn": c.arn,
        "clusterName": c.name,
        "status": ClusterStatus::Active,
        "registeredContainerInstancesCount": 0,
        "runningTasksCount": running,
        "pendingTasksCount": pending,
        "activeServicesCount": services.len(),
        "statistics": [],
        "tags": [],
        "settings": [{"name": "containerInsights", "value": "disabled"}],
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
    })
}

fn describe_clusters(cloud: &LocalCloud, s: &CloudState, input: &Input) -> OpResult {
    let names = input.str_list_at_most("clusters", 100)?;
    let names = if names.is_empty() {
        vec!["default"]
    } else {
        names
    };
    let mut clusters = Vec::new();
    let mut failures = Vec::new();
    for raw in names {
        match s.clusters.get(name_of(raw)) {
            Some(c) => clusters.push(cluster_json(Some(cloud), s, c)),
            None => failures.push(json!({"arn": raw, "reason": "MISSING"})),
        }
    }
    Ok(json!({"clusters": clusters, "failures": failures}))
}

fn list_clusters(s: &CloudState, input: &Input) -> OpResult {
    let arns: Vec<String> = s.clusters.values().map(|c| c.arn.clone()).collect();
    let max = input.max_results(100, 100)?;
    let (page, next) = super::wire::paginate(&arns, input.opt_str("nextToken")?, max)?;
    Ok(json!({"clusterArns": page, "nextToken": next}))
}

fn delete_cluster(s: &mut CloudState, input: &Input) -> OpResult {
    let name = name_of(input.str("cluster")?).to_owned();
    let cluster = find_cluster(s, &name)?.clone();
    if s.services
        .values()
        .any(|svc| svc.cluster == name && svc.status != ServiceStatus::Inactive)
    {
        return Err(AwsError::new(
            "ClusterContainsServicesException",
            "The Cluster cannot be deleted while Services are active.",
        ));
    }
    s.clusters.remove(&name);
    let mut json = cluster_json(None, s, &cluster);
    json["status"] = json!(ClusterStatus::Inactive);
    Ok(json!({"cluster": json}))
}

fn register_task_definition(s: &mut CloudState, body: &Map<String, Value>) -> OpResult {
    let input = Input::new(body, INVALID);
    let family = input.str("family")?;
    if family.len() > 255
        || !family
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AwsError::new(
            INVALID,
            "Family contains invalid characters: use up to 255 letters, numbers, hyphens and underscores",
        ));
    }
    let containers = input.list("containerDefinitions")?;
    if containers.is_empty() {
        return Err(AwsError::new(
            INVALID,
            "Container definitions must not be empty",
        ));
    }
    for (i, container) in containers.iter().enumerate() {
        let c = container.as_object().ok_or_else(|| {
            AwsError::new(
                "SerializationException",
                "containerDefinitions must be objects",
            )
        })?;
        let c = Input::new(c, INVALID);
        c.str("name").map_err(|_| {
            AwsError::new(
                INVALID,
                format!("Container definition {i}: name is required"),
            )
        })?;
        c.str("image").map_err(|_| {
            AwsError::new(
                INVALID,
                format!("Container definition {i}: image is required"),
            )
        })?;
    }
    let revisions = s.task_definitions.entry(family.to_owned()).or_default();
    let revision = revisions.last().map_or(1, |td| td.revision + 1);
    let td = TaskDefinition {
        family: family.to_owned(),
        revision,
        arn: state::arn("ecs", &format!("task-definition/{family}:{revision}")),
        status: TaskDefinitionStatus::Active,
        input: Value::Object(body.clone()),
        registered_at: now_millis(),
        deregistered_at: None,
    };
    revisions.push(td.clone());
    Ok(json!({"taskDefinition": task_definition_json(&td), "tags": []}))
}

pub fn task_definition_json(td: &TaskDefinition) -> Value {
    let mut json = match &td.input {
        Value::Object(m) => {
            let mut m = m.clone();
            m.remove("tags");
            Value::Object(m)
        }
        _ => json!({}),
    };
    json["taskDefinitionArn"] = json!(td.arn);
    json["family"] = json!(td.family);
    json["revision"] = json!(td.revision);
    json["status"] = json!(td.status);
    json["registeredAt"] = epoch(td.registered_at);
    json["compatibilities"] = json!([LaunchType::Ec2, LaunchType::Fargate]);
    json["requiresAttributes"] = json!([]);
    json["volumes"] = json.get("volumes").cloned().unwrap_or(json!([]));
    json["placementConstraints"] = json
        .get("placementConstraints")
        .cloned()
        .unwrap_or(json!([]));
    if let Some(at) = td.deregistered_at {
        json["deregisteredAt"] = epoch(at);
    }
    // What AWS fills in for a container definition that leaves them out.
    let containers = json["containerDefinitions"].as_array_mut();
    for container in containers
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
    {
        for (key, default) in [
            ("cpu", json!(0)),
            ("essential", json!(true)),
            ("portMappings", json!([])),
            ("environment", json!([])),
            ("mountPoints", json!([])),
            ("volumesFrom", json!([])),
        ] {
            container.entry(key).or_insert(default);
        }
    }
    json
}

/// Resolves `family`, `family:revision` or an ARN; a bare family means its
/// latest ACTIVE revision.
pub fn find_task_definition<'a>(
    s: &'a CloudState,
    reference: &str,
) -> Result<&'a TaskDefinition, AwsError> {
    let not_found = || {
        AwsError::new(
            "ClientException",
            format!("Unable to describe task definition {reference}."),
        )
    };
    let short = reference
        .rsplit("task-definition/")
        .next()
        .unwrap_or(reference);
    let (family, revision) = match short.split_once(':') {
        Some((f, r)) => (f, Some(r.parse::<u32>().map_err(|_| not_found())?)),
        None => (short, None),
    };
    let revisions = s.task_definitions.get(family).ok_or_else(not_found)?;
    match revision {
        Some(r) => revisions.iter().find(|td| td.revision == r),
        None => revisions
            .iter()
            .rev()
            .find(|td| td.status == TaskDefinitionStatus::Active),
    }
    .ok_or_else(not_found)
}

fn list_task_definitions(s: &CloudState, input: &Input) -> OpResult {
    let family = input.opt_str("familyPrefix")?;
    let status = TaskDefinitionStatus::parse_field(
        input
            .opt_str("status")?
            .unwrap_or(TaskDefinitionStatus::Active.as_str()),
        "status",
        INVALID,
    )?;
    let mut arns: Vec<String> = s
        .task_definitions
        .values()
        .flatten()
        .filter(|td| family.is_none_or(|f| td.family.starts_with(f)) && td.status == status)
        .map(|td| td.arn.clone())
        .collect();
    if input.opt_str("sort")? == Some("DESC") {
        arns.reverse();
    }
    let max = input.max_results(100, 100)?;
    let (page, next) = super::wire::paginate(&arns, input.opt_str("nextToken")?, max)?;
    Ok(json!({"taskDefinitionArns": page, "nextToken": next}))
}

fn deregister_task_definition(s: &mut CloudState, input: &Input) -> OpResult {
    let reference = input.str("taskDefinition")?;
    if !reference.contains(':') {
        return Err(AwsError::new(
            INVALID,
            "The task definition must name a revision (family:revision).",
        ));
    }
    let arn = find_task_definition(s, reference)?.arn.clone();
    let td = s
        .task_definitions
        .values_mut()
        .flatten()
        .find(|td| td.arn == arn)
        .expect("found above");
    td.status = TaskDefinitionStatus::Inactive;
    td.deregistered_at = Some(now_millis());
    Ok(json!({"taskDefinition": task_definition_json(td)}))
}

/// The request's `loadBalancers`, each checked against the local load
/// balancers; `None` when the request has none.
fn parse_load_balancers(
    s: &CloudState,
    input: &Input,
) -> Result<Option<Vec<ServiceLoadBalancer>>, AwsError> {
    if !input.map.contains_key("loadBalancers") {
        return Ok(None);
    }
    let mut load_balancers = Vec::new();
    for (index, lb) in input.list("loadBalancers")?.iter().enumerate() {
        let lb = lb.as_object().ok_or_else(|| {
            AwsError::new("SerializationException", "loadBalancers must be objects")
        })?;
        let lb = Input::new(lb, INVALID);
        let target_group_arn = lb.str("targetGroupArn")?.to_owned();
        if !s
            .load_balancers
            .values()
            .any(|l| l.target_groups.iter().any(|tg| tg.arn == target_group_arn))
        {
            return Err(AwsError::new(
                INVALID,
                format!("Target group {target_group_arn} does not exist"),
            ));
        }
        let path = format!("loadBalancers[{index}].advancedConfiguration");
        let advanced = native::ops::advanced_configuration(s, &lb, &path, &target_group_arn)?;
        load_balancers.push(ServiceLoadBalancer {
            target_group_arn,
            container_name: lb.str("containerName")?.to_owned(),
            container_port: lb.opt_i64("containerPort")?.unwrap_or(80),
            advanced_configuration: advanced,
        });
    }
    Ok(Some(load_balancers))
}

/// Returns the service key; the caller renders it after the change is saved.
fn create_service(s: &mut CloudState, input: &Input) -> Result<String, AwsError> {
    let name = input.str("serviceName")?.to_owned();
    let cluster = cluster_name(input)?.to_owned();
    find_cluster(s, &cluster)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || name.len() > 255
    {
        return Err(AwsError::new(
            INVALID,
            "Service names can have up to 255 letters, numbers, hyphens and underscores",
        ));
    }
    let key = service_key(&cluster, &name);
    if s.services
        .get(&key)
        .is_some_and(|svc| svc.status != ServiceStatus::Inactive)
    {
        return Err(AwsError::new(
            INVALID,
            "Creation of service was not idempotent.",
        ));
    }
    let td_ref = input.str("taskDefinition")?;
    let td = find_task_definition(s, td_ref)?.arn.clone();
    let controller = match input.nested("deploymentController")? {
        Some(dc) => native::config::DeploymentController::parse(&dc)?.controller_type,
        None => DeploymentControllerType::Ecs,
    };
    let desired = input.opt_i64("desiredCount")?.unwrap_or(1);
    if desired < 0 {
        return Err(AwsError::new(INVALID, "desiredCount must be 0 or more"));
    }
    let configuration = native::config::DeploymentConfiguration::for_create(
        input.nested("deploymentConfiguration")?.as_ref(),
        controller,
    )?;
    let load_balancers = parse_load_balancers(s, input)?.unwrap_or_default();
    native::ops::check_load_balancers(&configuration, &load_balancers)?;
    if controller == DeploymentControllerType::CodeDeploy && load_balancers.len() != 1 {
        return Err(AwsError::new(
            INVALID,
            "A service with the CODE_DEPLOY deployment controller needs exactly one load balancer target group",
        ));
    }
    let now = now_millis();
    let arn = state::arn("ecs", &format!("service/{cluster}/{name}"));
    let mut service = Service {
        name: name.clone(),
        arn: arn.clone(),
        cluster: cluster.clone(),
        status: ServiceStatus::Active,
        desired_count: desired,
        task_definition: td.clone(),
        deployment_controller: controller,
        load_balancers: load_balancers.clone(),
        launch_type: LaunchType::parse_field(
            input
                .opt_str("launchType")?
                .unwrap_or(LaunchType::Fargate.as_str()),
            "launchType",
            INVALID,
        )?,
        task_sets: Vec::new(),
        created_at: now,
        deployment_configuration: configuration,
        current_revision: None,
    };
    // The service's first tasks run as its primary task set; for a plain
    // ECS-controlled service without a load balancer, one without a target group.
    let seq = s.next_sequence();
    service.task_sets.push(new_task_set(
        &cluster,
        &name,
        seq,
        &td,
        TaskSetStatus::Primary,
        None,
        load_balancers.first().cloned(),
    ));
    // Traffic starts on the service's target group on both listeners.
    if let Some(lb) = load_balancers.first() {
        for balancer in s.load_balancers.values_mut() {
            if balancer
                .target_groups
                .iter()
                .any(|tg| tg.arn == lb.target_group_arn)
            {
                balancer.production.forward = vec![(lb.target_group_arn.clone(), 100)];
                balancer.test.forward = vec![(lb.target_group_arn.clone(), 100)];
            }
        }
    }
    s.services.insert(key.clone(), service);
    if controller == DeploymentControllerType::Ecs {
        native::ops::record_finished_deployment(s, &key, &td, now);
    }
    Ok(key)
}

pub fn new_task_set(
    cluster: &str,
    service: &str,
    seq: u64,
    task_definition: &str,
    status: TaskSetStatus,
    external_id: Option<&str>,
    load_balancer: Option<ServiceLoadBalancer>,
) -> TaskSet {
    let id = format!(
        "ecs-svc/{:019}",
        (u64::from(rand::random::<u32>()) << 20) + seq
    );
    let now = now_millis();
    TaskSet {
        arn: state::arn("ecs", &format!("task-set/{cluster}/{service}/{id}")),
        id,
        status,
        task_definition: task_definition.into(),
        external_id: external_id.map(Into::into),
        started_by: external_id.map(|_| DeploymentControllerType::CodeDeploy.as_str().to_owned()),
        scale_percent: 100.0,
        load_balancer: load_balancer.unwrap_or(ServiceLoadBalancer {
            target_group_arn: String::new(),
            container_name: String::new(),
            container_port: 0,
            advanced_configuration: None,
        }),
        created_at: now,
        updated_at: now,
    }
}

fn describe_services(cloud: &LocalCloud, s: &CloudState, input: &Input) -> OpResult {
    let wanted = input.str_list_at_most("services", 10)?;
    let cluster = cluster_name(input)?;
    find_cluster(s, cluster)?;
    let mut services = Vec::new();
    let mut failures = Vec::new();
    for raw in wanted {
        match s.services.get(&service_key(cluster, name_of(raw))) {
            Some(svc) => services.push(service_value(cloud, s, svc)),
            None => failures.push(json!({"arn": state::arn("ecs", &format!("service/{cluster}/{}", name_of(raw))), "reason": "MISSING"})),
        }
    }
    Ok(json!({"services": services, "failures": failures}))
}

fn service_json(cloud: &LocalCloud, s: &CloudState, key: &str) -> Value {
    let svc = s.services.get(key).expect("the service was just written");
    json!({"service": service_value(cloud, s, svc)})
}

fn service_value(cloud: &LocalCloud, s: &CloudState, svc: &Service) -> Value {
    let cluster_arn = s.clusters.get(&svc.cluster).map_or_else(
        || state::arn("ecs", &format!("cluster/{}", svc.cluster)),
        |c| c.arn.clone(),
    );
    let task_sets: Vec<Value> = svc
        .task_sets
        .iter()
        .map(|ts| task_set_value(cloud, svc, &cluster_arn, ts))
        .collect();
    let (pending, running) = svc
        .task_sets
        .iter()
        .map(|ts| cloud.runtime.counts(&ts.arn))
        .fold((0, 0), |(p, r), (tp, tr)| (p + tp, r + tr));
    json!({
        "serviceArn": svc.arn,
        "serviceName": svc.name,
        "clusterArn": cluster_arn,
        "loadBalancers": svc.load_balancers.iter().map(load_balancer_json).collect::<Vec<_>>(),
        "serviceRegistries": [],
        "status": svc.status,
        "desiredCount": svc.desired_count,
        "runningCount": running,
        "pendingCount": pending,
        "launchType": svc.launch_type,
        "platformVersion": platform_version(svc),
        "taskDefinition": svc.task_definition,
        "deploymentController": native::config::DeploymentController {
            controller_type: svc.deployment_controller,
        }
        .to_json(),
        "deploymentConfiguration": svc.deployment_configuration.to_json(),
        "currentServiceDeployment": native::ops::current_service_deployment(s, svc),
        "taskSets": task_sets,
        "deployments": deployments_of(cloud, svc),
        "events": [],
        "createdAt": epoch(svc.created_at),
        "placementConstraints": [],
        "placementStrategy": [],
        "schedulingStrategy": "REPLICA",
        "enableECSManagedTags": false,
        "propagateTags": "NONE",
        "enableExecuteCommand": false,
    })
}

fn load_balancer_json(lb: &ServiceLoadBalancer) -> Value {
    let mut json = json!({"targetGroupArn": lb.target_group_arn, "containerName": lb.container_name, "containerPort": lb.container_port});
    if let Some(advanced) = &lb.advanced_configuration {
        json["advancedConfiguration"] = advanced.to_json();
    }
    json
}

/// `deployments[]` of a service the ECS controller deploys: one per task
/// set, the running revision PRIMARY, one being deployed ACTIVE.
fn deployments_of(cloud: &LocalCloud, svc: &Service) -> Vec<Value> {
    if svc.deployment_controller != DeploymentControllerType::Ecs {
        return Vec::new();
    }
    let mut task_sets: Vec<&TaskSet> = svc.task_sets.iter().collect();
    task_sets.sort_by_key(|ts| ts.status != TaskSetStatus::Primary);
    task_sets
        .into_iter()
        .map(|ts| {
            let desired = computed_desired_count(svc, ts);
            let (pending, running) = cloud.runtime.counts(&ts.arn);
            let rollout = if running == desired && pending == 0 {
                "COMPLETED"
            } else {
                "IN_PROGRESS"
            };
            json!({
                "id": ts.id,
                "status": ts.status,
                "taskDefinition": ts.task_definition,
                "desiredCount": desired,
                "pendingCount": pending,
                "runningCount": running,
                "failedTasks": 0,
                "createdAt": epoch(ts.created_at),
                "updatedAt": epoch(ts.updated_at),
                "launchType": svc.launch_type,
                "platformVersion": platform_version(svc),
                "rolloutState": rollout,
            })
        })
        .collect()
}

/// Fargate services and task sets name a platform version; `LATEST` when the
/// request gave none, as AWS answers.
fn platform_version(svc: &Service) -> Option<&'static str> {
    (svc.launch_type == LaunchType::Fargate).then_some("LATEST")
}

/// How many tasks a task set should run: its scale of the service's count.
pub fn computed_desired_count(svc: &Service, ts: &TaskSet) -> usize {
    ((svc.desired_count as f64) * ts.scale_percent / 100.0)
        .ceil()
        .max(0.0) as usize
}

fn task_set_value(cloud: &LocalCloud, svc: &Service, cluster_arn: &str, ts: &TaskSet) -> Value {
    let desired = computed_desired_count(svc, ts);
    let (pending, running) = cloud.runtime.counts(&ts.arn);
    let steady = running == desired && pending == 0;
    json!({
        "id": ts.id,
        "taskSetArn": ts.arn,
        "serviceArn": svc.arn,
        "clusterArn": cluster_arn,
        "startedBy": ts.started_by,
        "externalId": ts.external_id,
        "status": ts.status,
        "taskDefinition": ts.task_definition,
        "computedDesiredCount": desired,
        "pendingCount": pending,
        "runningCount": running,
        "createdAt": epoch(ts.created_at),
        "updatedAt": epoch(ts.updated_at),
        "launchType": svc.launch_type,
        "platformVersion": platform_version(svc),
        "loadBalancers": if ts.load_balancer.target_group_arn.is_empty() { json!([]) } else { json!([load_balancer_json(&ts.load_balancer)]) },
        "serviceRegistries": [],
        "scale": {"value": ts.scale_percent, "unit": "PERCENT"},
        "stabilityStatus": if steady { "STEADY_STATE" } else { "STABILIZING" },
        "stabilityStatusAt": epoch(ts.updated_at),
        "tags": [],
    })
}

fn update_service(s: &mut CloudState, input: &Input) -> Result<String, AwsError> {
    let cluster = cluster_name(input)?.to_owned();
    let name = name_of(input.str("service")?).to_owned();
    let key = service_key(&cluster, &name);
    let svc = find_service(s, &cluster, &name)?.clone();
    if svc.status != ServiceStatus::Active {
        return Err(AwsError::new(
            "ServiceNotActiveException",
            "Service was not ACTIVE.",
        ));
    }
    let update = ServiceUpdate::parse(s, &svc, input)?;
    let blue_green = update.controller == DeploymentControllerType::Ecs
        && native::ops::is_blue_green(&update.configuration);
    if let Some(active) =
        native::ops::active_deployment(s, &svc).filter(|_| blue_green && update.asks_rollout)
    {
        return Err(AwsError::new(
            INVALID,
            format!(
                "The service {name} has a deployment in progress ({}); stop it or wait for it to finish.",
                active.arn
            ),
        ));
    }
    let now = now_millis();
    let service = s.services.get_mut(&key).expect("found above");
    service.desired_count = update.desired_count;
    service.deployment_configuration = update.configuration;
    service.load_balancers = update.load_balancers;
    if update.controller != svc.deployment_controller {
        take_over_from_codedeploy(s, &key, now);
    }
    let service = s.services.get_mut(&key).expect("found above");
    match update.rollout {
        Some(td) if blue_green => {
            native::ops::start_deployment(s, &key, &td, now)?;
        }
        Some(td) => {
            roll_primary(service, &td, now);
            if svc.deployment_controller == DeploymentControllerType::Ecs {
                native::ops::record_finished_deployment(s, &key, &td, now);
            }
        }
        None => {}
    }
    Ok(key)
}

/// ECS's own controller takes over a CodeDeploy service: its one task set
/// keeps running and serving where it is (the request's load balancer names
/// that target group), and becomes the service's first revision.
fn take_over_from_codedeploy(s: &mut CloudState, key: &str, now: i64) {
    let service = s.services.get_mut(key).expect("checked by the caller");
    service.deployment_controller = DeploymentControllerType::Ecs;
    let load_balancer = service.load_balancers.first().cloned();
    if let Some(primary) = service.task_sets.first_mut() {
        if let Some(lb) = load_balancer {
            primary.load_balancer = lb;
        }
        primary.external_id = None;
        primary.started_by = None;
        primary.updated_at = now;
    }
    let task_definition = service.task_definition.clone();
    native::ops::record_finished_deployment(s, key, &task_definition, now);
}

/// Whether the service may move from its controller to `wanted`: the local
/// cloud moves CodeDeploy services to ECS's controller (AWS's migration
/// path), between deployments only, onto the target group that serves now.
fn check_controller_change(
    svc: &Service,
    wanted: DeploymentControllerType,
    load_balancers: &[ServiceLoadBalancer],
) -> Result<(), AwsError> {
    if wanted == svc.deployment_controller {
        return Ok(());
    }
    if (svc.deployment_controller, wanted)
        != (
            DeploymentControllerType::CodeDeploy,
            DeploymentControllerType::Ecs,
        )
    {
        return Err(AwsError::new(
            INVALID,
            format!(
                "The local cloud changes a service's deployment controller only from CODE_DEPLOY to ECS, \
                 not from {} to {}.",
                svc.deployment_controller, wanted
            ),
        ));
    }
    let [only] = &svc.task_sets[..] else {
        return Err(AwsError::new(
            INVALID,
            format!(
                "The service {} has {} task sets: a CodeDeploy deployment is in progress. \
                 Wait for it to finish or stop it before changing the deployment controller.",
                svc.name,
                svc.task_sets.len()
            ),
        ));
    };
    let serving = &only.load_balancer.target_group_arn;
    if load_balancers.first().map(|lb| &lb.target_group_arn) != Some(serving) {
        return Err(AwsError::new(
            INVALID,
            format!(
                "loadBalancers[0].targetGroupArn must be {serving}, the target group the service's \
                 tasks serve from; the other one is the alternateTargetGroupArn."
            ),
        ));
    }
    Ok(())
}

/// What an UpdateService asks for, checked whole before anything changes.
struct ServiceUpdate {
    /// The deployment controller after the update.
    controller: DeploymentControllerType,
    desired_count: i64,
    configuration: native::config::DeploymentConfiguration,
    load_balancers: Vec<ServiceLoadBalancer>,
    /// The task definition to roll out: a new one, or the same one again
    /// with forceNewDeployment.
    rollout: Option<String>,
    /// Whether the request named a task definition or forced a deployment
    /// (while one is in progress, that is refused even for the one running).
    asks_rollout: bool,
}

impl ServiceUpdate {
    fn parse(s: &CloudState, svc: &Service, input: &Input) -> Result<ServiceUpdate, AwsError> {
        let controller = match input.nested("deploymentController")? {
            Some(dc) => native::config::DeploymentController::parse(&dc)?.controller_type,
            None => svc.deployment_controller,
        };
        // A controller change rolls nothing out in the same call.
        let new_td = match input.opt_str("taskDefinition")? {
            Some(_) if controller != svc.deployment_controller => {
                return Err(AwsError::new(
                    INVALID,
                    "Change the deployment controller and the task definition in separate UpdateService calls.",
                ));
            }
            Some(_) if controller == DeploymentControllerType::CodeDeploy => {
                return Err(AwsError::new(
                    INVALID,
                    "Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.",
                ));
            }
            Some(reference) => Some(find_task_definition(s, reference)?.arn.clone()),
            None => None,
        };
        let desired_count = input.opt_i64("desiredCount")?.unwrap_or(svc.desired_count);
        if desired_count < 0 {
            return Err(AwsError::new(INVALID, "desiredCount must be 0 or more"));
        }
        let configuration = match input.nested("deploymentConfiguration")? {
            Some(changes) => svc
                .deployment_configuration
                .for_update(&changes, controller)?,
            None => svc.deployment_configuration.clone(),
        };
        let load_balancers =
            parse_load_balancers(s, input)?.unwrap_or_else(|| svc.load_balancers.clone());
        check_controller_change(svc, controller, &load_balancers)?;
        native::ops::check_load_balancers(&configuration, &load_balancers)?;
        let force = input.opt_bool("forceNewDeployment")?.unwrap_or(false);
        let asks_rollout = new_td.is_some() || force;
        let rollout = new_td
            .filter(|td| *td != svc.task_definition || force)
            .or_else(|| force.then(|| svc.task_definition.clone()));
        Ok(ServiceUpdate {
            controller,
            desired_count,
            configuration,
            load_balancers,
            rollout,
            asks_rollout,
        })
    }
}

/// A rolling update, all at once: the primary task set takes the new definition.
fn roll_primary(service: &mut Service, task_definition: &str, now: i64) {
    service.task_definition = task_definition.to_owned();
    if let Some(primary) = service
        .task_sets
        .iter_mut()
        .find(|t| t.status == TaskSetStatus::Primary)
    {
        primary.task_definition = task_definition.to_owned();
        primary.updated_at = now;
    }
}

fn delete_service(s: &mut CloudState, input: &Input) -> Result<String, AwsError> {
    let cluster = cluster_name(input)?.to_owned();
    let name = name_of(input.str("service")?).to_owned();
    let key = service_key(&cluster, &name);
    let svc = find_service(s, &cluster, &name)?;
    let force = input.opt_bool("force")?.unwrap_or(false);
    if svc.desired_count > 0 && !force {
        return Err(AwsError::new(
            INVALID,
            "The service cannot be stopped while it is scaled above 0.",
        ));
    }
    if s.deployments
        .values()
        .any(|d| !d.is_finished() && d.cluster == cluster && d.service == name)
        || native::ops::active_deployment(s, svc).is_some()
    {
        return Err(AwsError::new(
            INVALID,
            "The service has a deployment in progress.",
        ));
    }
    let svc = s.services.get_mut(&key).expect("found above");
    svc.status = ServiceStatus::Inactive;
    svc.desired_count = 0;
    svc.task_sets.clear();
    Ok(key)
}

fn list_services(s: &CloudState, input: &Input) -> OpResult {
    let cluster = cluster_name(input)?;
    find_cluster(s, cluster)?;
    let arns: Vec<String> = s
        .services
        .values()
        .filter(|svc| svc.cluster == cluster && svc.status == ServiceStatus::Active)
        .map(|svc| svc.arn.clone())
        .collect();
    let max = input.max_results(10, 100)?;
    let (page, next) = super::wire::paginate(&arns, input.opt_str("nextToken")?, max)?;
    Ok(json!({"serviceArns": page, "nextToken": next}))
}

fn describe_task_sets(cloud: &LocalCloud, s: &CloudState, input: &Input) -> OpResult {
    let cluster = cluster_name(input)?;
    let svc = find_service(s, cluster, input.str("service")?)?;
    let wanted = input.str_list("taskSets")?;
    let cluster_arn = find_cluster(s, cluster)?.arn.clone();
    let mut task_sets = Vec::new();
    let mut failures = Vec::new();
    if wanted.is_empty() {
        task_sets = svc
            .task_sets
            .iter()
            .map(|ts| task_set_value(cloud, svc, &cluster_arn, ts))
            .collect();
    } else {
        for raw in wanted {
            match svc
                .task_sets
                .iter()
                .find(|ts| ts.arn == raw || ts.id == raw)
            {
                Some(ts) => task_sets.push(task_set_value(cloud, svc, &cluster_arn, ts)),
                None => failures.push(json!({"arn": raw, "reason": "MISSING"})),
            }
        }
    }
    Ok(json!({"taskSets": task_sets, "failures": failures}))
}

/// Every task of every task set in the cluster (optionally of one service).
fn tasks_of(
    cloud: &LocalCloud,
    s: &CloudState,
    cluster: &str,
    service: Option<&str>,
) -> Vec<(Value, bool)> {
    let cluster_arn = s
        .clusters
        .get(cluster)
        .map_or_else(String::new, |c| c.arn.clone());
    s.services
        .values()
        .filter(|svc| svc.cluster == cluster && service.is_none_or(|n| svc.name == name_of(n)))
        .flat_map(|svc| svc.task_sets.iter().map(move |ts| (svc, ts)))
        .flat_map(|(svc, ts)| {
            // The task set's container definition, for the container's image and limits.
            let definition = find_task_definition(s, &ts.task_definition).ok().and_then(|td| {
                let containers = td.input["containerDefinitions"].as_array()?;
                let name = ts.load_balancer.container_name.as_str();
                containers.iter().find(|c| c["name"] == name).or(containers.first()).cloned()
            });
            let definition = definition.unwrap_or_default();
            let cluster_arn = &cluster_arn;
            cloud.runtime.tasks(&ts.arn).into_iter().map(move |t| {
                let stopped = t.last_status == "STOPPED";
                let health = match t.health {
                    super::tasks::TaskHealth::Healthy => "HEALTHY",
                    super::tasks::TaskHealth::Unhealthy => "UNHEALTHY",
                    super::tasks::TaskHealth::Unknown => "UNKNOWN",
                };
                let started = t.started_at.and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_millis() as i64);
                let task_arn = state::arn("ecs", &format!("task/{cluster}/{}", t.task_id));
                let name = ts.load_balancer.container_name.as_str();
                let limit = |key: &str| definition.get(key).filter(|v| v.is_number()).map(|v| v.to_string());
                let value = json!({
                    "taskArn": task_arn,
                    "clusterArn": cluster_arn,
                    "taskDefinitionArn": ts.task_definition,
                    "lastStatus": t.last_status,
                    "desiredStatus": if stopped { "STOPPED" } else { "RUNNING" },
                    "healthStatus": health,
                    "startedBy": ts.id,
                    "group": format!("service:{}", svc.name),
                    "launchType": svc.launch_type,
                    "startedAt": started.map(epoch),
                    "createdAt": started.map(epoch),
                    "stoppedReason": t.stopped_reason,
                    "containers": [{
                        "containerArn": state::arn("ecs", &format!("container/{cluster}/{}/{name}", t.task_id)),
                        "taskArn": task_arn,
                        "name": name,
                        "image": definition.get("image"),
                        "cpu": limit("cpu").unwrap_or_else(|| "0".to_owned()),
                        "memory": limit("memory"),
                        "memoryReservation": limit("memoryReservation"),
                        "lastStatus": t.last_status,
                        "healthStatus": health,
                        // The engine's id of the load balancer's container,
                        // which a container task starts first.
                        "runtimeId": t.container_ids.first(),
                        "networkBindings": [{"bindIP": "127.0.0.1", "containerPort": ts.load_balancer.container_port, "hostPort": t.port, "protocol": "tcp"}],
                    }],
                    "attachments": [],
                    "tags": [],
                });
                (value, stopped)
            })
        })
        .collect()
}

fn list_tasks(cloud: &LocalCloud, s: &CloudState, input: &Input) -> OpResult {
    let cluster = cluster_name(input)?;
    find_cluster(s, cluster)?;
    let service = input.opt_str("serviceName")?;
    if let Some(service) = service {
        find_service(s, cluster, service)?;
    }
    let want_stopped = input.opt_str("desiredStatus")? == Some("STOPPED");
    let started_by = input.opt_str("startedBy")?;
    let arns: Vec<String> = tasks_of(cloud, s, cluster, service)
        .into_iter()
        .filter(|(t, stopped)| {
            *stopped == want_stopped && started_by.is_none_or(|by| t["startedBy"] == by)
        })
        .map(|(t, _)| t["taskArn"].as_str().unwrap_or_default().to_owned())
        .collect();
    let max = input.max_results(100, 100)?;
    let (page, next) = super::wire::paginate(&arns, input.opt_str("nextToken")?, max)?;
    Ok(json!({"taskArns": page, "nextToken": next}))
}

fn describe_tasks(cloud: &LocalCloud, s: &CloudState, input: &Input) -> OpResult {
    let wanted = input.str_list_at_most("tasks", 100)?;
    let cluster = cluster_name(input)?;
    find_cluster(s, cluster)?;
    if wanted.is_empty() {
        return Err(AwsError::new(INVALID, "Tasks cannot be empty."));
    }
    let all = tasks_of(cloud, s, cluster, None);
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for raw in wanted {
        let id = name_of(raw);
        match all.iter().find(|(t, _)| {
            t["taskArn"]
                .as_str()
                .is_some_and(|arn| arn.ends_with(&format!("/{id}")))
        }) {
            Some((t, _)) => tasks.push(t.clone()),
            None => failures.push(json!({"arn": raw, "reason": "MISSING"})),
        }
    }
    Ok(json!({"tasks": tasks, "failures": failures}))
}
