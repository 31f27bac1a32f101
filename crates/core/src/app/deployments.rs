//! Deployments: starting one (release recorded, revision registered, then
//! a CodeDeploy deployment created or, with ECS's own controller, the
//! service updated), acting on it, and recording what the tracker
//! observes, change by change, in the audit trail: one history whatever
//! the controller.

use super::environments::find_environment;
use super::tracking::Tracked;
use super::{Actor, App, Error, Result, detail};
use crate::cloud::Cloud;
use crate::cloud::deployments::{
    self as cloud_deployments, CloudError, Observation, ServiceTarget, Target,
};
use crate::cloud::service_deployments::{self as native, NativeObservation};
use crate::store::{
    self,
    deployments::{DeploymentRow, StartedAs},
    environments::EnvironmentRow,
    events::NewEvent,
};
use serde_json::json;
use switchyard_domain::deployment::{
    DeploymentState, DeploymentStatus, LifecycleEventState, LifecycleEventStatus,
};
use switchyard_domain::deployment_config::DeploymentConfig;
use switchyard_domain::environment::Platform;
use switchyard_domain::release::{ImageRef, NewRelease};
use switchyard_domain::service_deployment::progress::{HookState, HookStatus, HookTargetType};
use switchyard_domain::service_deployment::{
    DeploymentController, EcsDeploymentSettings, EcsDeploymentSpec, Strategy, TimeoutAction,
};
use switchyard_domain::user::Role;
use switchyard_domain::{FieldError, service_deployment::progress::ServiceDeploymentStatus};

/// What to deploy.
#[derive(Debug, Clone)]
pub struct StartDeployment {
    pub release: NewRelease,
    /// Overrides the deployment group's config (a predefined one, full
    /// name); CodeDeploy environments only.
    pub config: Option<String>,
    /// Overrides the environment's settings; ECS-controller environments only.
    pub ecs: Option<EcsDeploymentSettings>,
    pub idempotency_key: Option<String>,
    /// How it meets a freeze of the environment.
    pub freeze: super::freeze::FreezeOverride,
}

/// A deployment the cloud took.
pub(super) struct Started {
    pub(super) id: StartedId,
    pub(super) task_definition: String,
    /// The CodeDeploy config, or the ECS strategy, it runs with.
    pub(super) config: String,
}

pub(super) enum StartedId {
    CodeDeploy(String),
    Ecs(String, EcsDeploymentSpec),
}

impl Started {
    pub(super) fn as_row(&self) -> StartedAs<'_> {
        match &self.id {
            StartedId::CodeDeploy(id) => StartedAs::CodeDeploy { deployment_id: id },
            StartedId::Ecs(arn, settings) => StartedAs::Ecs {
                service_deployment_arn: arn,
                settings,
            },
        }
    }

    /// The audit trail's name and value for the cloud's id.
    pub(super) fn id_detail(&self) -> (&'static str, &str) {
        match &self.id {
            StartedId::CodeDeploy(id) => ("codedeploy_id", id),
            StartedId::Ecs(arn, _) => ("service_deployment_arn", arn),
        }
    }
}

/// A change the tracker recorded: the event's id, for SSE subscribers.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentChanged {
    pub deployment_id: i64,
    pub event_id: i64,
}

impl From<CloudError> for Error {
    fn from(e: CloudError) -> Self {
        match e.code.as_deref() {
            Some("DeploymentLimitExceededException") => Error::Conflict(format!(
                "another deployment is in progress in the deployment group: {}",
                e.message
            )),
            Some(
                "DeploymentIsNotInReadyStateException"
                | "DeploymentAlreadyCompletedException"
                | "InvalidDeploymentWaitTypeException"
                // ECS: a service deployment that has ended, or a hook no longer waiting.
                | "ConflictException"
                | "ServiceDeploymentNotFoundException",
            ) => Error::Conflict(e.message),
            _ => Error::Upstream(e.message),
        }
    }
}

/// The service an environment deploys, or why it cannot take a deployment yet.
pub(crate) fn service_target_of(env: &EnvironmentRow) -> Result<ServiceTarget<'_>> {
    let missing = || {
        Error::Conflict(format!(
            "environment {} has no provisioned stack; POST /api/environments/{}/stack first",
            env.name, env.name
        ))
    };
    Ok(ServiceTarget {
        // Provisioning names the family after the environment.
        task_definition_family: &env.name,
        container_name: &env.container_name,
        container_port: env.container_port,
        cluster: env.cluster.as_deref().ok_or_else(missing)?,
        service: env.service.as_deref().ok_or_else(missing)?,
    })
}

/// The stack resources a CodeDeploy deployment needs.
pub(crate) fn target_of(env: &EnvironmentRow) -> Result<Target<'_>> {
    env.require_codedeploy("deploying through CodeDeploy")?;
    let service = service_target_of(env)?;
    let missing = || {
        Error::Conflict(format!(
            "environment {} has no CodeDeploy deployment group; POST /api/environments/{}/stack first",
            env.name, env.name
        ))
    };
    Ok(Target {
        service,
        application: env.codedeploy_application.as_deref().ok_or_else(missing)?,
        deployment_group: env.deployment_group.as_deref().ok_or_else(missing)?,
        hooks: hooks_of(env),
    })
}

/// The environment's lifecycle hooks, in lifecycle order.
fn hooks_of(env: &EnvironmentRow) -> Vec<(String, String)> {
    let mut hooks: Vec<(String, String)> = env
        .hooks
        .iter()
        .map(|(event, function)| (event.clone(), function.clone()))
        .collect();
    hooks.sort_by_key(|(event, _)| {
        switchyard_domain::environment::HOOKABLE_EVENTS
            .iter()
            .position(|e| e == event)
    });
    hooks
}

/// How a deployment will run, checked before the cloud is asked anything.
enum Plan<'a> {
    CodeDeploy { target: Target<'a>, config: String },
    Ecs { settings: EcsDeploymentSettings },
}

impl<'a> Plan<'a> {
    /// The environment's controller with its settings, or the request's
    /// overrides where they fit that controller.
    fn of(env: &'a EnvironmentRow, request: &StartDeployment) -> Result<Plan<'a>> {
        let misfit = |field: &str, message: String| {
            Err(Error::Invalid(FieldError {
                field: field.into(),
                message,
            }))
        };
        match env.deployment_controller {
            DeploymentController::CodeDeploy => {
                if request.ecs.is_some() {
                    return misfit(
                        "strategy",
                        format!(
                            "environment {} deploys through CodeDeploy; give a deployment_config instead",
                            env.name
                        ),
                    );
                }
                Ok(Plan::CodeDeploy {
                    target: target_of(env)?,
                    config: request
                        .config
                        .clone()
                        .unwrap_or_else(|| env.deployment_config.clone()),
                })
            }
            DeploymentController::Ecs => {
                if request.config.is_some() {
                    return misfit(
                        "deployment_config",
                        format!(
                            "environment {} deploys through ECS's own controller, which has no \
                             CodeDeploy configs; its strategy is the environment's ecs_deployment",
                            env.name
                        ),
                    );
                }
                let settings = match &request.ecs {
                    Some(settings) => settings.clone(),
                    None => env.ecs_settings()?.unwrap_or_default(),
                };
                Ok(Plan::Ecs { settings })
            }
        }
    }

    /// Hands the registered revision to the controller.
    async fn start(
        self,
        cloud: &Cloud,
        service: &ServiceTarget<'_>,
        task_definition: String,
        description: &str,
        routing: Option<&native::TrafficRouting>,
        alarms: &[String],
    ) -> Result<Started> {
        match self {
            Plan::CodeDeploy { target, config } => {
                let appspec = cloud_deployments::appspec(&task_definition, &target);
                let id = cloud_deployments::create(cloud, &target, &appspec, &config, description)
                    .await?;
                Ok(Started {
                    id: StartedId::CodeDeploy(id),
                    task_definition,
                    config,
                })
            }
            Plan::Ecs { settings } => {
                let arn = native::update_service(
                    cloud,
                    service.cluster,
                    service.service,
                    &task_definition,
                    native::deployment_configuration(&settings, alarms),
                    routing,
                )
                .await?;
                Ok(Started {
                    id: StartedId::Ecs(arn, settings.spec()),
                    task_definition,
                    config: settings.strategy.to_string(),
                })
            }
        }
    }
}

impl App {
    /// Where ECS's own controller shifts the traffic of an environment's
    /// stack, when the stack's outputs say (AWS stacks under ECS).
    pub(super) async fn traffic_routing(
        &self,
        env: &EnvironmentRow,
    ) -> Result<Option<native::TrafficRouting>> {
        if env.deployment_controller != DeploymentController::Ecs {
            return Ok(None);
        }
        Ok(self
            .stack_outputs(env)
            .await?
            .as_ref()
            .and_then(native::TrafficRouting::from_outputs))
    }

    pub(crate) async fn cloud_for(&self, env: &EnvironmentRow) -> Result<Cloud> {
        match env.platform.as_str() {
            "local" => {
                let endpoint = self.cloud_settings()?.local_endpoint.clone();
                Ok(self
                    .local_clients
                    .get_or_init(|| async { Cloud::local(&endpoint).await })
                    .await
                    .clone())
            }
            _ => self.aws_cloud(env).await,
        }
    }

    pub async fn start_deployment(
        &self,
        actor: &Actor,
        environment: &str,
        request: &StartDeployment,
    ) -> Result<(DeploymentRow, bool)> {
        actor.require(Role::Deployer, "starting deployments")?;
        let env = find_environment(self.store.reader(), environment).await?;
        if let Some(key) = &request.idempotency_key
            && let Some(first) =
                store::deployments::find_by_idempotency_key(self.store.reader(), env.id, key)
                    .await?
        {
            // A retry: followed already, unless the server restarted.
            self.track(Tracked::Deployment(first.id));
            return Ok((first, false));
        }
        let target = service_target_of(&env)?;
        let plan = Plan::of(&env, request)?;
        let broken = self.check_freeze(actor, &env, &request.freeze)?;
        // Container images go to the local cloud as they are: it runs them on
        // its engine, or fails the deployment saying no engine answered.
        if let (true, ImageRef::StaticSite(dir)) =
            (env.platform == Platform::Local, &request.release.image)
        {
            self.confine_static_site(dir)?;
        }
        if store::deployments::has_active(self.store.reader(), env.id).await? {
            return Err(Error::Conflict(format!(
                "environment {environment} has a deployment in progress"
            )));
        }
        let image = request.release.image.as_string();
        let existing = store::releases::find_by_version(
            self.store.reader(),
            env.id,
            request.release.version.as_str(),
        )
        .await?;
        if let Some(release) = &existing
            && release.image != image
        {
            return Err(Error::Conflict(format!(
                "release {} of {environment} is image {}; give the new image a new version",
                release.version, release.image
            )));
        }

        // The cloud first: nothing is recorded unless it took the deployment.
        let cloud = self.cloud_for(&env).await?;
        let task_definition = cloud_deployments::register_revision(&cloud, &target, &image).await?;
        let description = format!(
            "{} {} by {}",
            environment, request.release.version, actor.name
        );
        let routing = self.traffic_routing(&env).await?;
        let alarms = self.guard_alarms(&env).await?;
        let started = plan
            .start(
                &cloud,
                &target,
                task_definition,
                &description,
                routing.as_ref(),
                &alarms,
            )
            .await?;
        let (id_name, cloud_id) = started.id_detail();

        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        let release_id = match existing {
            Some(release) => release.id,
            None => {
                let release = super::releases::insert_release(
                    &mut tx,
                    &store::releases::NewReleaseRow {
                        environment_id: env.id,
                        version: request.release.version.as_str(),
                        image: &image,
                        git_commit: request.release.commit.as_ref().map(|c| c.as_str()),
                        author: request.release.author.as_str(),
                        message: request.release.message.as_str(),
                        recorded_by: &actor.name,
                        created_at: now,
                    },
                    serde_json::Value::Null,
                )
                .await?;
                release.id
            }
        };
        let id = store::deployments::insert(
            &mut *tx,
            &store::deployments::NewDeploymentRow {
                environment_id: env.id,
                release_id,
                started: started.as_row(),
                deployment_config: &started.config,
                task_definition_arn: &started.task_definition,
                idempotency_key: request.idempotency_key.as_deref(),
                created_by: &actor.name,
                now,
            },
        )
        .await?;
        let event_id = store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(env.id),
                deployment_id: Some(id),
                actor: &actor.name,
                kind: "deployment.started",
                detail: detail(json!({id_name: cloud_id, "version": request.release.version.as_str(), "image": image, "deployment_config": started.config, "task_definition": started.task_definition})),
                created_at: now,
            },
        )
        .await?;
        if let Some(broken) = &broken {
            self.record_freeze_broken(&mut tx, &env, Some(id), &actor.name, broken)
                .await?;
        }
        tx.commit().await?;
        self.notifications_committed();
        self.changed();
        self.track(Tracked::Deployment(id));
        let _ = self.deployment_changes.send(DeploymentChanged {
            deployment_id: id,
            event_id,
        });
        let row = store::deployments::find(self.store.reader(), id)
            .await?
            .expect("just inserted");
        Ok((row, true))
    }

    pub async fn deployment(&self, actor: &Actor, id: i64) -> Result<DeploymentRow> {
        actor.require(Role::Viewer, "reading deployments")?;
        store::deployments::find(self.store.reader(), id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no deployment {id}")))
    }

    /// An environment's latest deployments, newest first.
    pub async fn environment_deployments(
        &self,
        actor: &Actor,
        environment: &str,
        limit: u32,
    ) -> Result<Vec<DeploymentRow>> {
        actor.require(Role::Viewer, "reading deployments")?;
        let env = find_environment(self.store.reader(), environment).await?;
        Ok(
            store::deployments::for_environment(self.store.reader(), env.id, i64::from(limit))
                .await?,
        )
    }

    pub async fn traffic_samples(&self, id: i64) -> Result<Vec<(i64, f64)>> {
        Ok(store::deployments::traffic_samples(self.store.reader(), id).await?)
    }

    /// Reroutes traffic now (`ready`) or ends the termination wait
    /// (`termination`); with ECS's controller, `ready` releases the PAUSE
    /// hook holding the deployment.
    pub async fn continue_deployment(
        &self,
        actor: &Actor,
        id: i64,
        ready: bool,
        freeze: &super::freeze::FreezeOverride,
    ) -> Result<DeploymentRow> {
        actor.require(Role::Deployer, "continuing deployments")?;
        let (d, env) = self.active_deployment(id).await?;
        let broken = self.check_freeze(actor, &env, freeze)?;
        if ready {
            // The team's approval gates rerouting; it cannot be skipped by hand.
            if let Some(pending) = store::approvals::for_deployment(self.store.reader(), id)
                .await?
                .filter(|a| a.state == "pending")
            {
                return Err(Error::Conflict(format!(
                    "deployment {id} waits for approval {}: it reroutes once the approvers agree \
                     (POST /api/approvals/{}/decisions)",
                    pending.id, pending.id
                )));
            }
        }
        let cloud = self.cloud_for(&env).await?;
        let kind = match (&d.service_deployment_arn, ready) {
            (_, true) => release_hold(&cloud, &d).await?,
            (Some(_), false) => {
                return Err(Error::Conflict(format!(
                    "deployment {id} runs on ECS's own controller, which has no call to end its \
                     bake time early; it ends by itself"
                )));
            }
            (None, false) => {
                cloud_deployments::continue_deployment(
                    &cloud,
                    d.codedeploy_id.as_deref().unwrap_or_default(),
                    aws_sdk_codedeploy::types::DeploymentWaitType::TerminationWait,
                )
                .await?;
                "deployment.original_terminated"
            }
        };
        self.record_action(actor, &d, kind).await?;
        if let Some(broken) = &broken {
            let mut tx = self.store.begin().await?;
            self.record_freeze_broken(&mut tx, &env, Some(id), &actor.name, broken)
                .await?;
            tx.commit().await?;
            self.notifications_committed();
        }
        self.deployment(actor, id).await
    }

    /// Stops a deployment in flight and returns all traffic to the original.
    /// A service deployment held by a PAUSE hook is continued with ROLLBACK,
    /// any other stopped with ROLLBACK: ECS takes only the first while a
    /// hook waits.
    pub async fn roll_back_deployment(&self, actor: &Actor, id: i64) -> Result<DeploymentRow> {
        actor.require(Role::Deployer, "rolling back deployments")?;
        let (d, env) = self.active_deployment(id).await?;
        roll_back_in_cloud(&self.cloud_for(&env).await?, &d).await?;
        self.record_action(actor, &d, "deployment.rollback_requested")
            .await?;
        self.deployment(actor, id).await
    }

    /// Redeploys the release before the one that is live now.
    pub async fn roll_back_environment(
        &self,
        actor: &Actor,
        environment: &str,
        config: Option<String>,
    ) -> Result<DeploymentRow> {
        actor.require(Role::Deployer, "rolling back environments")?;
        let env = find_environment(self.store.reader(), environment).await?;
        if store::deployments::has_active(self.store.reader(), env.id).await? {
            return Err(Error::Conflict(format!(
                "environment {environment} has a deployment in progress; roll that one back instead"
            )));
        }
        let succeeded = store::deployments::succeeded(self.store.reader(), env.id, 20).await?;
        let live = succeeded.first().ok_or_else(|| {
            Error::Conflict(format!(
                "environment {environment} has no successful deployment"
            ))
        })?;
        let previous = succeeded
            .iter()
            .find(|d| d.release_id != live.release_id)
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "environment {environment} has no earlier release to go back to"
                ))
            })?;
        let release = NewRelease {
            version: switchyard_domain::release::VersionLabel::parse(&previous.version)
                .map_err(|e| anyhow::anyhow!(e))?,
            image: ImageRef::parse(&previous.image).map_err(|e| anyhow::anyhow!(e))?,
            commit: None,
            author: switchyard_domain::release::Author::parse(&actor.name)
                .map_err(|e| anyhow::anyhow!(e))?,
            message: Default::default(),
        };
        // Going back is urgent: all at once, without gates to wait at.
        let (config, ecs) = match env.deployment_controller {
            DeploymentController::CodeDeploy => (
                Some(config.unwrap_or_else(|| DeploymentConfig::predefined()[0].name().to_owned())),
                None,
            ),
            DeploymentController::Ecs => (
                config,
                Some(EcsDeploymentSettings {
                    strategy: Strategy::BlueGreen,
                    bake_time_minutes: 0,
                    gates: Vec::new(),
                }),
            ),
        };
        let (row, _) = self
            .start_deployment(
                actor,
                environment,
                &StartDeployment {
                    release,
                    config,
                    ecs,
                    idempotency_key: None,
                    freeze: super::freeze::FreezeOverride::Rollback,
                },
            )
            .await?;
        Ok(row)
    }

    async fn active_deployment(&self, id: i64) -> Result<(DeploymentRow, EnvironmentRow)> {
        let d = store::deployments::find(self.store.reader(), id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no deployment {id}")))?;
        if d.status.is_terminal() {
            return Err(Error::Conflict(format!(
                "deployment {id} has already finished ({})",
                d.status
            )));
        }
        let env = store::environments::find_by_name(self.store.reader(), &d.environment)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("the environment of deployment {id} was deleted"))
            })?;
        Ok((d, env))
    }

    async fn record_action(&self, actor: &Actor, d: &DeploymentRow, kind: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let event_id = store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(d.environment_id),
                deployment_id: Some(d.id),
                actor: &actor.name,
                kind,
                detail: detail(match &d.service_deployment_arn {
                    Some(arn) => json!({"service_deployment_arn": arn}),
                    None => json!({"codedeploy_id": d.codedeploy_id}),
                }),
                created_at: store::now_millis(),
            },
        )
        .await?;
        tx.commit().await?;
        let _ = self.deployment_changes.send(DeploymentChanged {
            deployment_id: d.id,
            event_id,
        });
        Ok(())
    }

    /// Stores what CodeDeploy reports now, appending one event per change.
    /// Returns whether the deployment has finished.
    pub async fn record_observation(&self, d: &DeploymentRow, seen: &Observation) -> Result<bool> {
        self.record(d, seen, None).await
    }

    /// Stores what ECS reports of a service deployment now: its stages
    /// become lifecycle rows dated by ECS's `updatedAt`, its hooks and its
    /// own status are kept beside the shared ones.
    pub async fn record_native_observation(
        &self,
        d: &DeploymentRow,
        seen: &NativeObservation,
    ) -> Result<bool> {
        let at = seen
            .observation
            .changed_at
            .unwrap_or_else(store::now_millis);
        let mut observation = seen.observation.clone();
        observation.lifecycle = seen.progress.advance_stages(&d.lifecycle, at);
        self.record(
            d,
            &observation,
            Some((seen.progress.status, &seen.progress.hooks)),
        )
        .await
    }

    async fn record(
        &self,
        d: &DeploymentRow,
        seen: &Observation,
        native: Option<(ServiceDeploymentStatus, &[HookState])>,
    ) -> Result<bool> {
        let before = DeploymentState {
            status: d.status,
            rolled_back: d.rolled_back,
        };
        let after = DeploymentState {
            status: seen.status,
            rolled_back: seen.rolled_back,
        };
        if let Err(illegal) = before.transition(after) {
            // The cloud is the truth; a jump the state machine forbids is worth a warning, not a refusal.
            tracing::warn!(deployment = d.id, "{illegal}");
        }
        let unchanged = before == after
            && d.lifecycle.0 == seen.lifecycle
            && d.task_sets.0 == seen.task_sets
            && d.green_weight == seen.green_weight
            && d.error_code.as_deref() == seen.error.as_ref().map(|e| e.0.as_str())
            && native
                .is_none_or(|(status, hooks)| d.cloud_status == Some(status) && d.hooks.0 == hooks);
        if unchanged {
            return Ok(seen.status.is_terminal());
        }
        let observed_at = store::now_millis();
        // When the cloud dates the change, its date (never a future one).
        let now = seen
            .changed_at
            .map_or(observed_at, |at| at.min(observed_at));
        let actor = match native {
            Some(_) => "ecs",
            None => "codedeploy",
        };
        let (missed, dated_by): (Vec<(i64, f64)>, &str) = match native {
            _ if d.green_weight == seen.green_weight => (Vec::new(), ""),
            Some(_) => (
                self.missed_native_steps(d, seen).await?,
                "the first step seen and the strategy",
            ),
            None => (
                self.missed_traffic_steps(d, seen, now)
                    .await?
                    .into_iter()
                    .map(|(at, w)| (at, f64::from(w)))
                    .collect(),
                "AllowTraffic start and deployment config",
            ),
        };
        // The current weight is dated by its step when the schedule shows it.
        let weight_dated = missed.last().is_some_and(|(_, w)| *w == seen.green_weight);
        // (kind, detail, when): steps missed come first, at their own times.
        let mut events: Vec<(&str, serde_json::Value, i64)> = missed
            .iter()
            .map(|&(at, w)| {
                (
                    "deployment.traffic",
                    json!({"green_weight": w, "blue_weight": 100.0 - w, "observed_at": observed_at, "dated_by": dated_by}),
                    at,
                )
            })
            .collect();
        for e in &seen.lifecycle {
            let was = d
                .lifecycle
                .iter()
                .find(|o| o.name == e.name)
                .map(|o| o.status);
            if was != Some(e.status)
                && !(was.is_none() && e.status == LifecycleEventStatus::Pending)
            {
                events.push((
                    "deployment.lifecycle",
                    json!({"event": e.name, "status": e.status}),
                    now,
                ));
            }
        }
        if d.green_weight != seen.green_weight && !weight_dated {
            events.push(("deployment.traffic", json!({"green_weight": seen.green_weight, "blue_weight": 100.0 - seen.green_weight}), now));
        }
        for hook in native.map_or(&[][..], |(_, hooks)| hooks) {
            if !d.hooks.iter().any(|was| was == hook) {
                events.push(("deployment.hook", json!(hook), now));
            }
        }
        if before != after || native.is_some_and(|(status, _)| d.cloud_status != Some(status)) {
            events.push(("deployment.status", json!({"from": d.status.as_str(), "to": seen.status.as_str(), "rolled_back": seen.rolled_back, "ecs_status": native.map(|(status, _)| status), "error": seen.error.as_ref().map(|(c, m)| json!({"code": c, "message": m}))}), now));
        }
        let mut tx = self.store.begin().await?;
        let mut decided_approval = None;
        if let Some((status, hooks)) = native {
            let stage = stage_in_progress(d, &seen.lifecycle, seen.green_weight);
            self.approvals_on_gates(&mut tx, d, status, hooks, stage, now)
                .await?;
        }
        if before.status != after.status {
            if native.is_none() {
                decided_approval = self
                    .approvals_on_status_change(&mut tx, d, before.status, seen, now)
                    .await?;
            }
            if let Some((kind, summary)) = outcome_notification(d, seen) {
                self.notify(
                    &mut tx,
                    d.environment_id,
                    kind,
                    &summary,
                    &format!("/deployments/{}", d.id),
                    json!({"deployment_id": d.id, "version": d.version, "status": seen.status.as_str(), "rolled_back": seen.rolled_back}),
                    now,
                )
                .await?;
            }
        }
        store::deployments::update_observed(
            &mut *tx,
            d.id,
            &store::deployments::Observed {
                status: seen.status,
                rolled_back: seen.rolled_back,
                lifecycle: &seen.lifecycle,
                task_sets: &seen.task_sets,
                green_weight: seen.green_weight,
                error_code: seen.error.as_ref().map(|e| e.0.as_str()),
                error_message: seen.error.as_ref().map(|e| e.1.as_str()),
                completed_at: seen
                    .status
                    .is_terminal()
                    .then(|| seen.completed_at.unwrap_or(now)),
                native,
                now: observed_at,
            },
        )
        .await?;
        for &(at, weight) in &missed {
            store::deployments::add_traffic_sample(&mut *tx, d.id, at, weight).await?;
        }
        if (d.green_weight != seen.green_weight && !weight_dated) || d.lifecycle.is_empty() {
            store::deployments::add_traffic_sample(&mut *tx, d.id, now, seen.green_weight).await?;
        }
        let ids = append_deployment_events(&mut tx, d, actor, events).await?;
        tx.commit().await?;
        self.notifications_committed();
        self.announce(d.id, ids);
        if let Some(approval_id) = decided_approval
            && let Err(e) = self.apply_approval(approval_id).await
        {
            tracing::warn!(approval = approval_id, error = %e, "the cloud did not take the decision yet; will retry");
        }
        Ok(seen.status.is_terminal())
    }

    /// The planned steps of a service deployment that ECS passed between two
    /// polls (the control plane was down, or polls are sparser than steps),
    /// up to the weight seen now: ECS reports no step times, so each is
    /// dated by the plan from when the first step was seen, or else back
    /// from `updatedAt` while ECS is still shifting. (when, green weight),
    /// oldest first; none when going back (a rollback).
    async fn missed_native_steps(
        &self,
        d: &DeploymentRow,
        seen: &Observation,
    ) -> Result<Vec<(i64, f64)>> {
        let Some((steps, _)) = super::views::planned_steps(d) else {
            return Ok(Vec::new());
        };
        let Some(current) = steps.iter().position(|(_, w)| *w == seen.green_weight) else {
            return Ok(Vec::new());
        };
        if seen.green_weight < d.green_weight {
            return Ok(Vec::new());
        }
        let env = find_environment(self.store.reader(), &d.environment).await?;
        let ratio = if env.platform == Platform::Local {
            self.local_clock_ratio(d.id, &steps).await?
        } else {
            1.0
        };
        let scaled = |offset: i64| (offset as f64 * ratio) as i64;
        let first_seen = store::views::first_reached(self.store.reader(), d.id, steps[0].1).await?;
        let shifting = seen
            .lifecycle
            .last()
            .is_some_and(|r| r.name == "PRODUCTION_TRAFFIC_SHIFT" && r.ended_at.is_none());
        let shift_started = match (first_seen, seen.changed_at) {
            (Some(at), _) => at - scaled(steps[0].0),
            (None, Some(changed)) if shifting => changed - scaled(steps[current].0),
            _ => return Ok(Vec::new()),
        };
        Ok(steps[..=current]
            .iter()
            .filter(|(_, w)| *w > d.green_weight)
            .map(|&(offset, w)| (shift_started + scaled(offset), w))
            .collect())
    }

    /// The steps of the deployment's traffic schedule that happened since
    /// its last sample without being observed (the control plane was down,
    /// or polls are sparser than steps), dated from when the cloud reports
    /// AllowTraffic started: (when, green weight), oldest first.
    async fn missed_traffic_steps(
        &self,
        d: &DeploymentRow,
        seen: &Observation,
        now: i64,
    ) -> Result<Vec<(i64, u8)>> {
        // Custom configs live in the cloud only; their steps are sampled as seen.
        let Some(config) = DeploymentConfig::find_predefined(&d.deployment_config) else {
            return Ok(Vec::new());
        };
        let Some(allow) = seen.lifecycle.iter().find(|e| e.name == "AllowTraffic") else {
            return Ok(Vec::new());
        };
        let Some(started_at) = allow.started_at else {
            return Ok(Vec::new());
        };
        let schedule = config.schedule();
        let env = find_environment(self.store.reader(), &d.environment).await?;
        let ratio = if env.platform == Platform::Local {
            let steps: Vec<(i64, f64)> = schedule
                .steps()
                .iter()
                .map(|s| (s.offset.as_millis() as i64, f64::from(s.green_weight)))
                .collect();
            self.local_clock_ratio(d.id, &steps).await?
        } else {
            1.0
        };
        let after = store::views::last_sample_at(self.store.reader(), d.id)
            .await?
            .unwrap_or(i64::MIN);
        // Nothing moved forward after the shift ended or the deployment stopped.
        let until = [Some(now), allow.ended_at, seen.completed_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now);
        let forward = seen.green_weight >= d.green_weight;
        Ok(schedule
            .steps_due(started_at, ratio, after, until)
            .into_iter()
            .filter(|(_, w)| {
                let w = f64::from(*w);
                w > d.green_weight && (!forward || w <= seen.green_weight)
            })
            .collect())
    }

    /// A deployment that stops in Ready and must not continue by itself
    /// (ready action STOP_DEPLOYMENT) in an environment whose policy asks
    /// for approvers waits for the team: open its approval. One that leaves
    /// Ready otherwise closes it.
    async fn approvals_on_status_change(
        &self,
        tx: &mut sqlx::SqliteConnection,
        d: &DeploymentRow,
        before: DeploymentStatus,
        seen: &Observation,
        now: i64,
    ) -> Result<Option<i64>> {
        if seen.status == DeploymentStatus::Ready {
            let held: Option<String> =
                sqlx::query_scalar("SELECT ready_action FROM environments WHERE id = ?")
                    .bind(d.environment_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if held.as_deref() != Some("STOP_DEPLOYMENT") {
                return Ok(None);
            }
            let policy = store::release_policies::find(&mut *tx, d.environment_id).await?;
            // Without a policy the hold is for a person to reroute by hand,
            // as before there were approvals.
            if policy.approvals_required == 0 {
                return Ok(None);
            }
            let Some((approval_id, decided)) =
                super::approvals::open_for_deployment(tx, d, &policy, now).await?
            else {
                return Ok(None);
            };
            store::events::append(
                &mut *tx,
                &NewEvent {
                    environment_id: Some(d.environment_id),
                    deployment_id: Some(d.id),
                    actor: "switchyard",
                    kind: "approval.requested",
                    detail: detail(
                        json!({"approval_id": approval_id, "required": policy.approvals_required}),
                    ),
                    created_at: now,
                },
            )
            .await?;
            if decided {
                return Ok(Some(approval_id));
            }
            self.notify(
                tx,
                d.environment_id,
                "approval.requested",
                &format!(
                    "{} {} is ready on the replacement task set and needs {} approval(s) to take production traffic",
                    d.environment, d.version, policy.approvals_required
                ),
                &format!("/approvals/{approval_id}"),
                json!({"approval_id": approval_id, "deployment_id": d.id}),
                now,
            )
            .await?;
        } else if before == DeploymentStatus::Ready
            && let Some(approval) = store::approvals::for_deployment(&mut *tx, d.id).await?
            && store::approvals::decide(&mut *tx, approval.id, "closed", now).await?
        {
            store::events::append(
                        &mut *tx,
                        &NewEvent {
                            environment_id: Some(d.environment_id),
                            deployment_id: Some(d.id),
                            actor: "codedeploy",
                            kind: "approval.closed",
                            detail: detail(json!({"approval_id": approval.id, "reason": format!("the deployment left Ready ({})", seen.status.as_str())})),
                            created_at: now,
                        },
                    )
                    .await?;
        }
        Ok(None)
    }

    /// A PAUSE gate that starts waiting, in an environment whose policy asks
    /// for approvers, opens its approval (without approvers a person
    /// continues it by hand). A pending approval whose gate stopped waiting
    /// without the team (its timeout, a rollback) or whose deployment ended
    /// is closed, saying why.
    async fn approvals_on_gates(
        &self,
        tx: &mut sqlx::SqliteConnection,
        d: &DeploymentRow,
        status: ServiceDeploymentStatus,
        hooks: &[HookState],
        stage: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let newly_waiting = hooks.iter().filter(|h| {
            h.is_awaiting()
                && h.target_type == HookTargetType::Pause
                && !d
                    .hooks
                    .iter()
                    .any(|w| w.hook_id == h.hook_id && w.is_awaiting())
        });
        for hook in newly_waiting {
            let policy = store::release_policies::find(&mut *tx, d.environment_id).await?;
            if policy.approvals_required == 0 {
                continue;
            }
            let Some(approval_id) =
                super::approvals::open_for_gate(tx, d, hook, stage, &policy, now).await?
            else {
                continue;
            };
            self.gate_opened(
                tx,
                d,
                hook,
                stage,
                approval_id,
                policy.approvals_required,
                now,
            )
            .await?;
        }
        for approval in store::approvals::pending_for_deployment(&mut *tx, d.id).await? {
            let Some(hook_id) = approval.hook_id() else {
                continue;
            };
            let hook = hooks.iter().find(|h| h.hook_id == hook_id);
            let Some(reason) = gate_closed_reason(status, hook) else {
                continue;
            };
            if store::approvals::decide(&mut *tx, approval.id, "closed", now).await? {
                store::events::append(
                    &mut *tx,
                    &NewEvent {
                        environment_id: Some(d.environment_id),
                        deployment_id: Some(d.id),
                        actor: "ecs",
                        kind: "approval.closed",
                        detail: detail(json!({"approval_id": approval.id, "hook_id": hook_id, "reason": reason})),
                        created_at: now,
                    },
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Records and announces a gate's new approval.
    #[allow(clippy::too_many_arguments)]
    async fn gate_opened(
        &self,
        tx: &mut sqlx::SqliteConnection,
        d: &DeploymentRow,
        hook: &HookState,
        stage: Option<&str>,
        approval_id: i64,
        required: i64,
        now: i64,
    ) -> Result<()> {
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(d.environment_id),
                deployment_id: Some(d.id),
                actor: "switchyard",
                kind: "approval.requested",
                detail: detail(json!({
                    "approval_id": approval_id, "required": required, "hook_id": hook.hook_id,
                    "stage": stage, "expires_at": hook.expires_at,
                    "timeout_action": hook.timeout_action,
                })),
                created_at: now,
            },
        )
        .await?;
        let timeout = match (hook.expires_at, hook.timeout_action) {
            (Some(at), Some(action)) => format!(
                "; unless decided by {}, ECS takes {action}",
                switchyard_domain::time::rfc3339_millis(at)
            ),
            _ => String::new(),
        };
        self.notify(
            tx,
            d.environment_id,
            "approval.requested",
            &format!(
                "{} {} is paused at {} and needs {required} approval(s) to go on{timeout}",
                d.environment,
                d.version,
                stage.unwrap_or("a lifecycle hook"),
            ),
            &format!("/approvals/{approval_id}"),
            json!({"approval_id": approval_id, "deployment_id": d.id}),
            now,
        )
        .await
    }

    /// Tells the pages and streams that the deployment changed, event by event.
    pub(super) fn announce(&self, deployment_id: i64, event_ids: Vec<i64>) {
        self.changed();
        for event_id in event_ids {
            let _ = self.deployment_changes.send(DeploymentChanged {
                deployment_id,
                event_id,
            });
        }
    }

    pub fn subscribe_deployment_changes(
        &self,
    ) -> tokio::sync::broadcast::Receiver<DeploymentChanged> {
        self.deployment_changes.subscribe()
    }

    pub async fn unfinished_deployments(&self) -> Result<Vec<DeploymentRow>> {
        Ok(store::deployments::unfinished(self.store.reader()).await?)
    }

    pub async fn deployment_events_after(
        &self,
        id: i64,
        after: i64,
    ) -> Result<Vec<store::events::EventRow>> {
        Ok(store::events::for_deployment_after(self.store.reader(), id, after).await?)
    }

    /// The live environment with this name (for the tracker).
    pub async fn environment_named(&self, name: &str) -> Result<EnvironmentRow> {
        find_environment(self.store.reader(), name).await
    }
}

/// Appends a deployment's events (kind, detail, when) by `actor`; their ids.
pub(super) async fn append_deployment_events(
    tx: &mut sqlx::SqliteConnection,
    d: &DeploymentRow,
    actor: &str,
    events: Vec<(&str, serde_json::Value, i64)>,
) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    for (kind, detail_value, created_at) in events {
        let event = NewEvent {
            environment_id: Some(d.environment_id),
            deployment_id: Some(d.id),
            actor,
            kind,
            detail: detail(detail_value),
            created_at,
        };
        ids.push(store::events::append(&mut *tx, &event).await?);
    }
    Ok(ids)
}

/// The notification a deployment's end deserves, if it ended.
fn outcome_notification(d: &DeploymentRow, seen: &Observation) -> Option<(&'static str, String)> {
    let what = format!("{} {}", d.environment, d.version);
    let (new, old) = match d.controller() {
        DeploymentController::CodeDeploy => ("replacement task set", "original task set"),
        DeploymentController::Ecs => ("new service revision", "previous service revision"),
    };
    match seen.status {
        DeploymentStatus::Succeeded => Some((
            "deployment.succeeded",
            format!("{what} is live: production traffic is on the {new}"),
        )),
        // The controller's reason names what stopped it (an alarm, say).
        DeploymentStatus::Failed | DeploymentStatus::Stopped if seen.rolled_back => Some((
            "deployment.rolled_back",
            format!(
                "{what} was rolled back: production traffic is on the {old}{}",
                seen.error
                    .as_ref()
                    .map(|(_, m)| format!(" ({m})"))
                    .unwrap_or_default()
            ),
        )),
        DeploymentStatus::Failed | DeploymentStatus::Stopped => Some((
            "deployment.failed",
            format!(
                "{what} {}{}",
                if seen.status == DeploymentStatus::Failed {
                    "failed"
                } else {
                    "was stopped"
                },
                seen.error
                    .as_ref()
                    .map(|(_, m)| format!(": {m}"))
                    .unwrap_or_default()
            ),
        )),
        _ => None,
    }
}

/// Lets a held deployment go on: reroutes CodeDeploy's ready wait, or
/// continues the PAUSE hook holding a service deployment. The event kind
/// that records it.
pub(super) async fn release_hold(cloud: &Cloud, d: &DeploymentRow) -> Result<&'static str> {
    match &d.service_deployment_arn {
        Some(arn) => {
            let hook = awaiting_hook(d)?;
            native::continue_hook(cloud, arn, &hook.hook_id, TimeoutAction::Continue).await?;
            Ok("deployment.continued")
        }
        None => {
            cloud_deployments::continue_deployment(
                cloud,
                d.codedeploy_id.as_deref().unwrap_or_default(),
                aws_sdk_codedeploy::types::DeploymentWaitType::ReadyWait,
            )
            .await?;
            Ok("deployment.rerouted")
        }
    }
}

/// Stops a deployment with rollback. A service deployment held by a PAUSE
/// hook is continued with ROLLBACK, any other stopped with ROLLBACK: ECS
/// takes only the first while a hook waits.
pub(super) async fn roll_back_in_cloud(cloud: &Cloud, d: &DeploymentRow) -> Result<()> {
    match &d.service_deployment_arn {
        Some(arn) => match d.hooks.iter().find(|h| h.is_awaiting()) {
            Some(hook) => {
                native::continue_hook(cloud, arn, &hook.hook_id, TimeoutAction::Rollback).await?
            }
            None => native::stop_with_rollback(cloud, arn).await?,
        },
        None => {
            cloud_deployments::stop_with_rollback(
                cloud,
                d.codedeploy_id.as_deref().unwrap_or_default(),
            )
            .await?
        }
    }
    Ok(())
}

/// The stage a service deployment is in, named as the environment's gate
/// where a PAUSE gate holds it there (ECS reports a hold before the
/// production shift as that shift at weight 0).
pub(super) fn stage_in_progress<'a>(
    d: &DeploymentRow,
    lifecycle: &'a [LifecycleEventState],
    green_weight: f64,
) -> Option<&'a str> {
    let reported = lifecycle
        .iter()
        .rev()
        .find(|s| s.status == LifecycleEventStatus::InProgress)
        .map(|s| s.name.as_str());
    match (reported, &d.ecs_settings()) {
        (Some(reported), Some(settings)) => settings
            .gate_holding(reported, green_weight)
            .map(|g| g.stage.as_str())
            .or(Some(reported)),
        (reported, _) => reported,
    }
}

/// The PAUSE hook holding a service deployment, as last observed.
fn awaiting_hook(d: &DeploymentRow) -> Result<&HookState> {
    d.hooks.iter().find(|h| h.is_awaiting()).ok_or_else(|| {
        Error::Conflict(format!(
            "deployment {} is not held by a lifecycle hook (ECS reports it {}); it continues \
             by itself",
            d.id,
            d.cloud_status
                .map_or("not yet observed", ServiceDeploymentStatus::as_str)
        ))
    })
}

/// Why a gate's pending approval ends without the team's decision, if it does.
fn gate_closed_reason(status: ServiceDeploymentStatus, hook: Option<&HookState>) -> Option<String> {
    use ServiceDeploymentStatus as S;
    let rolling_back = matches!(
        status,
        S::RollbackRequested | S::RollbackInProgress | S::RollbackSuccessful | S::RollbackFailed
    );
    match hook.map(|h| (h.status, h.timeout_action)) {
        Some((HookStatus::TimedOut, action)) => Some(format!(
            "the gate timed out before the team decided; ECS took {}",
            action.map_or("its timeout action", TimeoutAction::as_str)
        )),
        Some((HookStatus::Failed, _)) => Some("the hook failed".into()),
        _ if rolling_back => Some(format!(
            "the deployment is rolling back or rolled back ({status})"
        )),
        Some((HookStatus::AwaitingAction | HookStatus::InProgress, _)) if !status.is_terminal() => {
            None
        }
        Some((HookStatus::Succeeded, _)) => {
            Some("the gate was continued outside the team's vote".into())
        }
        _ => Some(format!("the deployment ended ({status})")),
    }
}
