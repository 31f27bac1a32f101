//! What AWS does through services the local cloud does not speak on the
//! wire (ELBv2, Lambda): creating load balancers and registering hook
//! functions. Served under `/_localcloud/` next to the AWS endpoint, and
//! callable in-process.

use super::state::{ListenerRecord, LoadBalancer, ServiceStatus, TargetGroupRecord, arn};
use super::wire::AwsError;
use super::{LocalCloud, now_millis, random_hex};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLoadBalancer {
    pub name: String,
    /// Two target groups: blue and green take turns on them.
    pub target_groups: Vec<NewTargetGroup>,
    /// Ports for the production and test listeners; 0 or absent picks free ones.
    #[serde(default)]
    pub production_port: u16,
    #[serde(default)]
    pub test_port: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTargetGroup {
    pub name: String,
    #[serde(default = "root")]
    pub health_check_path: String,
}

fn root() -> String {
    "/".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadBalancerInfo {
    pub name: String,
    pub arn: String,
    pub production_listener_arn: String,
    pub test_listener_arn: String,
    /// The listeners' rules, as ECS-native deployments name them.
    pub production_listener_rule_arn: String,
    pub test_listener_rule_arn: String,
    pub production_url: String,
    pub test_url: String,
    /// What each listener forwards now, as the running listener applies it
    /// (the weights deployments set on its rule).
    #[serde(default)]
    pub production_weights: Vec<TargetWeight>,
    #[serde(default)]
    pub test_weights: Vec<TargetWeight>,
    pub target_groups: Vec<TargetGroupInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetWeight {
    pub target_group_arn: String,
    pub weight: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetGroupInfo {
    pub name: String,
    pub arn: String,
    pub health_check_path: String,
}

impl From<&LoadBalancer> for LoadBalancerInfo {
    fn from(lb: &LoadBalancer) -> Self {
        LoadBalancerInfo {
            name: lb.name.clone(),
            arn: lb.arn.clone(),
            production_listener_arn: lb.production.arn.clone(),
            test_listener_arn: lb.test.arn.clone(),
            production_listener_rule_arn: lb.production.rule_arn(),
            test_listener_rule_arn: lb.test.rule_arn(),
            production_url: format!("http://127.0.0.1:{}", lb.production.port),
            test_url: format!("http://127.0.0.1:{}", lb.test.port),
            target_groups: lb
                .target_groups
                .iter()
                .map(|tg| TargetGroupInfo {
                    name: tg.name.clone(),
                    arn: tg.arn.clone(),
                    health_check_path: tg.health_check_path.clone(),
                })
                .collect(),
            production_weights: Vec::new(),
            test_weights: Vec::new(),
        }
    }
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
}

impl LocalCloud {
    /// Creates a load balancer with a production and a test listener and
    /// its two target groups (ELBv2 semantics: names up to 32 characters).
    pub async fn create_load_balancer(
        &self,
        request: CreateLoadBalancer,
    ) -> Result<LoadBalancerInfo, AwsError> {
        let invalid = |why: String| AwsError::new("ValidationError", why);
        if !valid_name(&request.name) {
            return Err(invalid(format!(
                "{:?} is not a load balancer name (1-32 letters, digits and '-')",
                request.name
            )));
        }
        if request.target_groups.len() != 2
            || request.target_groups[0].name == request.target_groups[1].name
        {
            return Err(invalid(
                "a blue/green load balancer needs two differently named target groups".into(),
            ));
        }
        for tg in &request.target_groups {
            if !valid_name(&tg.name) {
                return Err(invalid(format!(
                    "{:?} is not a target group name (1-32 letters, digits and '-')",
                    tg.name
                )));
            }
            if !tg.health_check_path.starts_with('/') {
                return Err(invalid(format!(
                    "the health check path {:?} must start with '/'",
                    tg.health_check_path
                )));
            }
        }
        self.read(|s| {
            if s.load_balancers.contains_key(&request.name) {
                return Err(AwsError::new(
                    "DuplicateLoadBalancerNameException",
                    format!("A load balancer named {} exists", request.name),
                ));
            }
            let taken = s
                .load_balancers
                .values()
                .flat_map(|lb| lb.target_groups.iter())
                .find(|tg| request.target_groups.iter().any(|n| n.name == tg.name));
            match taken {
                Some(tg) => Err(AwsError::new(
                    "DuplicateTargetGroupNameException",
                    format!("A target group named {} exists", tg.name),
                )),
                None => Ok(()),
            }
        })?;
        let id = random_hex(16);
        let target_groups: Vec<TargetGroupRecord> = request
            .target_groups
            .iter()
            .map(|tg| TargetGroupRecord {
                name: tg.name.clone(),
                arn: arn(
                    "elasticloadbalancing",
                    &format!("targetgroup/{}/{}", tg.name, random_hex(16)),
                ),
                health_check_path: tg.health_check_path.clone(),
            })
            .collect();
        let (production_port, test_port) = self
            .runtime
            .bind_load_balancer(
                &request.name,
                &target_groups,
                request.production_port,
                request.test_port,
            )
            .await
            .map_err(|e| AwsError::new("ValidationError", format!("cannot listen: {e}")))?;
        let lb_arn = arn(
            "elasticloadbalancing",
            &format!("loadbalancer/app/{}/{id}", request.name),
        );
        let listener = |port: u16| ListenerRecord {
            arn: arn(
                "elasticloadbalancing",
                &format!("listener/app/{}/{id}/{}", request.name, random_hex(16)),
            ),
            port,
            forward: Vec::new(),
        };
        let record = LoadBalancer {
            name: request.name.clone(),
            arn: lb_arn,
            target_groups,
            production: listener(production_port),
            test: listener(test_port),
            created_at: now_millis(),
        };
        let info = LoadBalancerInfo::from(&record);
        let stored = self.mutate(|s| {
            if s.load_balancers.contains_key(&record.name) {
                return Err(AwsError::new(
                    "DuplicateLoadBalancerNameException",
                    format!("A load balancer named {} exists", record.name),
                ));
            }
            s.load_balancers.insert(record.name.clone(), record.clone());
            Ok(())
        });
        if let Err(e) = stored {
            self.runtime.remove_load_balancer(&request.name);
            return Err(e);
        }
        Ok(info)
    }

    pub fn load_balancer(&self, name: &str) -> Option<LoadBalancerInfo> {
        self.read(|s| s.load_balancers.get(name).map(|lb| self.observed(lb)))
    }

    /// The load balancer with the weights its listeners really apply.
    fn observed(&self, lb: &LoadBalancer) -> LoadBalancerInfo {
        let weights = |role| {
            crate::traffic::observed_forward(lb, role, &self.runtime)
                .into_iter()
                .map(|(target_group_arn, weight)| TargetWeight {
                    target_group_arn,
                    weight,
                })
                .collect()
        };
        LoadBalancerInfo {
            production_weights: weights(crate::runtime::ListenerRole::Production),
            test_weights: weights(crate::runtime::ListenerRole::Test),
            ..LoadBalancerInfo::from(lb)
        }
    }

    pub fn delete_load_balancer(&self, name: &str) -> Result<(), AwsError> {
        self.mutate(|s| {
            let lb = s.load_balancers.get(name).ok_or_else(|| {
                AwsError::new(
                    "LoadBalancerNotFoundException",
                    format!("No load balancer named {name}"),
                )
            })?;
            let in_use = s.services.values().any(|svc| {
                svc.status == ServiceStatus::Active
                    && svc.load_balancers.iter().any(|l| {
                        lb.target_groups
                            .iter()
                            .any(|tg| tg.arn == l.target_group_arn)
                    })
            });
            if in_use {
                return Err(AwsError::new(
                    "ResourceInUseException",
                    format!("Load balancer {name} is in use by a service"),
                ));
            }
            s.load_balancers.remove(name);
            Ok(())
        })?;
        self.runtime.remove_load_balancer(name);
        Ok(())
    }

    /// Registers (or replaces) a hook function: the command run for it.
    pub fn register_function(&self, name: &str, command: Vec<String>) -> Result<(), AwsError> {
        if name.is_empty() || name.len() > 140 || command.is_empty() || command[0].is_empty() {
            return Err(AwsError::new(
                "ValidationError",
                "a function needs a name and a non-empty command",
            ));
        }
        self.mutate(|s| {
            s.functions.insert(name.to_owned(), command);
            Ok(())
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionBody {
    command: Vec<String>,
}

pub fn router() -> Router<Arc<LocalCloud>> {
    Router::new()
        .route("/_localcloud/healthz", get(|| async { "ok\n" }))
        // A control plane that did not start this cloud learns its time
        // scale here, to date the traffic steps it missed.
        .route(
            "/_localcloud/clock",
            get(|State(cloud): State<Arc<LocalCloud>>| async move {
                Json(serde_json::json!({"time_scale": cloud.clock.scale}))
            }),
        )
        .route(
            "/_localcloud/load-balancers",
            get(list_load_balancers).post(create_load_balancer),
        )
        .route(
            "/_localcloud/load-balancers/{name}",
            get(show_load_balancer).delete(delete_load_balancer),
        )
        .route(
            "/_localcloud/functions/{name}",
            axum::routing::put(put_function),
        )
        .route("/_localcloud/builds/{id}/log", get(build_log))
        .route("/_localcloud/tasks/{task_id}/logs", get(task_log))
}

/// Lines a task log request returns unless it asks otherwise, and at most.
const TASK_LOG_DEFAULT_LINES: usize = 100;
const TASK_LOG_MAX_LINES: usize = 10_000;

#[derive(Debug, Deserialize)]
struct TaskLogQuery {
    tail: Option<String>,
}

/// `GET /_localcloud/tasks/{task_id}/logs?tail=N`: the last N lines (100
/// unless given, at most 10000) of a task's output, as plain text.
async fn task_log(
    State(cloud): State<Arc<LocalCloud>>,
    Path(task_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<TaskLogQuery>,
) -> Response {
    let lines = match query.tail.as_deref().map(str::parse::<usize>) {
        None => TASK_LOG_DEFAULT_LINES,
        Some(Ok(lines)) if lines <= TASK_LOG_MAX_LINES => lines,
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("tail must be a number of lines from 0 to {TASK_LOG_MAX_LINES}\n"),
            )
                .into_response();
        }
    };
    match cloud.task_log(&task_id, lines) {
        Ok(Some(text)) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            format!("no log for task {task_id}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the log of task {task_id}: {e}\n"),
        )
            .into_response(),
    }
}

async fn create_load_balancer(
    State(cloud): State<Arc<LocalCloud>>,
    body: axum::body::Bytes,
) -> Response {
    let request: CreateLoadBalancer = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return AwsError::new("SerializationException", e.to_string()).into_response(),
    };
    match cloud.create_load_balancer(request).await {
        Ok(info) => (StatusCode::CREATED, Json(info)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn list_load_balancers(State(cloud): State<Arc<LocalCloud>>) -> Json<Vec<LoadBalancerInfo>> {
    Json(cloud.read(|s| {
        s.load_balancers
            .values()
            .map(|lb| cloud.observed(lb))
            .collect()
    }))
}

async fn show_load_balancer(
    State(cloud): State<Arc<LocalCloud>>,
    Path(name): Path<String>,
) -> Response {
    match cloud.load_balancer(&name) {
        Some(info) => Json(info).into_response(),
        None => AwsError::new(
            "LoadBalancerNotFoundException",
            format!("No load balancer named {name}"),
        )
        .into_response(),
    }
}

async fn delete_load_balancer(
    State(cloud): State<Arc<LocalCloud>>,
    Path(name): Path<String>,
) -> Response {
    match cloud.delete_load_balancer(&name) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn put_function(
    State(cloud): State<Arc<LocalCloud>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let body: FunctionBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return AwsError::new("SerializationException", e.to_string()).into_response(),
    };
    match cloud.register_function(&name, body.command) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Most of a build log one request returns; `x-next-offset` says where to
/// go on.
const BUILD_LOG_CHUNK: u64 = 1 << 20;

#[derive(Debug, Deserialize)]
struct LogQuery {
    offset: Option<String>,
}

/// `GET /_localcloud/builds/{actionExecutionId}/log?offset=N`: a CodeBuild
/// action's log from byte N on, as plain text, so a reader can tail it
/// while the build runs. `x-next-offset` is the offset to ask for next and
/// `x-build-status` the action's status (InProgress until it has ended).
async fn build_log(
    State(cloud): State<Arc<LocalCloud>>,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<LogQuery>,
) -> Response {
    use std::io::{Read, Seek, SeekFrom};
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            format!("no build log for action execution {id}\n"),
        )
            .into_response()
    };
    let offset = match query.offset.as_deref().map(str::parse::<u64>) {
        None => 0,
        Some(Ok(offset)) => offset,
        Some(Err(_)) => {
            return (
                StatusCode::BAD_REQUEST,
                "offset must be a number of bytes\n",
            )
                .into_response();
        }
    };
    let Some(path) = super::codepipeline::build_log_path(cloud.data_dir(), &id) else {
        return not_found();
    };
    let status = cloud.read(|s| {
        s.pipeline_executions
            .values()
            .flat_map(|e| e.actions.iter())
            .find(|run| run.id == id)
            .map(|run| run.status.clone())
    });
    let mut chunk = Vec::new();
    match std::fs::File::open(&path) {
        Ok(mut file) => {
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            if offset > size {
                return (
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("offset {offset} is past the end of the log ({size} bytes)\n"),
                )
                    .into_response();
            }
            let read = file
                .seek(SeekFrom::Start(offset))
                .and_then(|_| file.take(BUILD_LOG_CHUNK).read_to_end(&mut chunk));
            if let Err(e) = read {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot read the build log: {e}\n"),
                )
                    .into_response();
            }
        }
        // A build that has not written its first line yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && status.is_some() && offset == 0 => {}
        Err(_) => return not_found(),
    }
    let next = offset + chunk.len() as u64;
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_owned(),
            ),
            (
                axum::http::HeaderName::from_static("x-next-offset"),
                next.to_string(),
            ),
            (
                axum::http::HeaderName::from_static("x-build-status"),
                status.unwrap_or_else(|| "Unknown".into()),
            ),
        ],
        chunk,
    )
        .into_response()
}
