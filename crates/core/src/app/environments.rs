//! Creating, reading and deleting environments.

use super::{Actor, App, Error, Result, detail};
use crate::store::{self, environments::EnvironmentRow, events::NewEvent};
use serde_json::json;
use switchyard_domain::FieldError;
use switchyard_domain::environment::{
    AlarmSettings, AlarmsSpec, FreezeWindows, GateHold, MetricGateSettings, MetricGateSpec,
    NewEnvironment,
};
use switchyard_domain::service_deployment::{DeploymentController, EcsDeploymentSettings};
use switchyard_domain::user::Role;

/// A change to an environment: its release policy, and which controller
/// deploys it with what settings. `None` leaves a part as it is.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentChange {
    pub policy: super::release_policies::PolicyChange,
    pub controller: Option<DeploymentController>,
    /// Replaces an ECS environment's settings.
    pub ecs_deployment: Option<EcsDeploymentSettings>,
    /// Changes the alarm settings (the parts given).
    pub alarms: Option<AlarmsSpec>,
    /// Changes the metric gate settings (the parts given).
    pub metric_gate: Option<MetricGateSpec>,
    /// Replaces the freeze windows.
    pub freeze_windows: Option<FreezeWindows>,
}

impl EnvironmentRow {
    /// The ECS controller's settings of an `ecs` environment, parsed from
    /// what the store keeps.
    pub fn ecs_settings(&self) -> Result<Option<EcsDeploymentSettings>> {
        match (&self.deployment_controller, &self.ecs_deployment) {
            (DeploymentController::CodeDeploy, _) => Ok(None),
            (DeploymentController::Ecs, Some(spec)) => Ok(Some(EcsDeploymentSettings::parse(
                &spec.0,
                "ecs_deployment",
            )?)),
            (DeploymentController::Ecs, None) => Ok(Some(EcsDeploymentSettings::default())),
        }
    }

    /// The CloudWatch alarm settings, parsed from what the store keeps.
    pub fn alarm_settings(&self) -> Result<AlarmSettings> {
        Ok(match &self.alarms {
            Some(spec) => AlarmSettings::parse(&spec.0, AlarmSettings::default(), "alarms")?,
            None => AlarmSettings::default(),
        })
    }

    /// The metric gate settings, parsed from what the store keeps.
    pub fn metric_gate_settings(&self) -> Result<MetricGateSettings> {
        Ok(match &self.metric_gate {
            Some(spec) => {
                MetricGateSettings::parse(&spec.0, MetricGateSettings::default(), "metric_gate")?
            }
            None => MetricGateSettings::default(),
        })
    }

    /// The freeze windows, parsed from what the store keeps.
    pub fn freeze_settings(&self) -> Result<FreezeWindows> {
        Ok(FreezeWindows::parse(
            &self.freeze_windows.0,
            "freeze_windows",
        )?)
    }

    /// Where a metric gate judges this environment's deployments.
    pub fn gate_hold(&self) -> Result<Option<GateHold>> {
        Ok(GateHold::of(
            self.ready_action,
            self.ecs_settings()?.as_ref(),
        ))
    }

    /// Refuses what only a CodeDeploy environment can do (the AWS stack's
    /// Terraform, a CodeDeploy deployment group), saying why.
    pub(crate) fn require_codedeploy(&self, action: &str) -> Result<()> {
        match self.deployment_controller {
            DeploymentController::CodeDeploy => Ok(()),
            // A conflict with what the environment is, not a server fault.
            DeploymentController::Ecs => Err(Error::Conflict(format!(
                "{action} needs the codedeploy controller; environment {} deploys through \
                 ECS's own controller",
                self.name
            ))),
        }
    }
}

impl App {
    pub async fn create_environment(
        &self,
        actor: &Actor,
        new: &NewEnvironment,
    ) -> Result<EnvironmentRow> {
        self.create_environment_with_policy(actor, new, &Default::default())
            .await
    }

    /// Creates an environment and its release policy in one transaction.
    pub async fn create_environment_with_policy(
        &self,
        actor: &Actor,
        new: &NewEnvironment,
        policy: &super::release_policies::PolicyChange,
    ) -> Result<EnvironmentRow> {
        actor.require(Role::Admin, "creating environments")?;
        new.metric_gate.check_holds(new.gate_hold())?;
        let now = store::now_millis();
        let r = &new.resources;
        let hooks = new.hooks.pairs().iter().cloned().collect();
        let ecs_spec = new.ecs_deployment.as_ref().map(EcsDeploymentSettings::spec);
        let row = store::environments::NewEnvironmentRow {
            name: new.name.as_str(),
            platform: new.platform,
            region: new.region.as_ref().map(|r| r.as_str()),
            cluster: r.cluster.as_ref().map(|v| v.as_str()),
            service: r.service.as_ref().map(|v| v.as_str()),
            codedeploy_application: r.codedeploy_application.as_ref().map(|v| v.as_str()),
            deployment_group: r.deployment_group.as_ref().map(|v| v.as_str()),
            pipeline: r.pipeline.as_ref().map(|v| v.as_str()),
            prod_listener_arn: r.prod_listener_arn.as_ref().map(|v| v.as_str()),
            test_listener_arn: r.test_listener_arn.as_ref().map(|v| v.as_str()),
            created_by: &actor.name,
            created_at: now,
            container_name: &new.container.name,
            container_port: i64::from(new.container.port),
            health_check_path: &new.container.health_check_path,
            desired_count: i64::from(new.container.desired_count),
            deployment_config: &new.deployment_group.deployment_config,
            ready_wait_minutes: new.deployment_group.ready_wait_minutes.map(i64::from),
            ready_action: new.deployment_group.ready_action,
            termination_wait_minutes: i64::from(new.deployment_group.termination_wait_minutes),
            auto_rollback: new.deployment_group.auto_rollback,
            hooks: &hooks,
            aws_profile: new.aws_profile.as_ref().map(|p| p.as_str()),
            deployment_controller: new.controller(),
            ecs_deployment: ecs_spec.as_ref(),
            alarms: &new.alarms.spec(),
            metric_gate: &new.metric_gate.spec(),
            freeze_windows: &new.freeze_windows.specs(),
        };
        let mut tx = self.store.begin().await?;
        let environment = store::environments::insert(&mut *tx, &row)
            .await
            .map_err(|e| {
                if store::is_unique_violation(&e) {
                    Error::Conflict(format!("an environment named {} already exists", new.name))
                } else {
                    e.into()
                }
            })?;
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(environment.id),
                deployment_id: None,
                actor: &actor.name,
                kind: "environment.created",
                detail: detail(json!({
                    "name": environment.name,
                    "platform": environment.platform.as_str(),
                    "region": environment.region,
                    "controller": environment.deployment_controller.as_str(),
                })),
                created_at: now,
            },
        )
        .await?;
        super::release_policies::write_policy(&mut tx, environment.id, policy, &actor.name, now)
            .await?;
        if !new.freeze_windows.0.is_empty() {
            let detail = freeze_changed(&[], &new.freeze_windows);
            let kind = "environment.freeze_changed";
            settings_changed(&mut tx, &environment, kind, detail, &actor.name, now).await?;
        }
        tx.commit().await?;
        self.changed();
        Ok(environment)
    }

    /// Changes an environment's release policy and deployment settings
    /// (admin), all or nothing.
    pub async fn change_environment(
        &self,
        actor: &Actor,
        name: &str,
        change: &EnvironmentChange,
    ) -> Result<super::release_policies::PolicyView> {
        actor.require(Role::Admin, "changing environments")?;
        let now = store::now_millis();
        // Checked before the cloud changes: a refused gate leaves nothing half-done.
        let metric_gate = self.metric_gate_after(name, change).await?;
        // Checked, then applied to the stack's alarms, before anything is stored.
        let alarms = match &change.alarms {
            Some(spec) => {
                let env = find_environment(self.store.reader(), name).await?;
                let settings = AlarmSettings::parse(spec, env.alarm_settings()?, "alarms")?;
                self.apply_alarm_settings(&env, settings).await?;
                Some(settings)
            }
            None => None,
        };
        let mut tx = self.store.begin().await?;
        let env = find_environment(&mut *tx, name).await?;
        super::release_policies::write_policy(&mut tx, env.id, &change.policy, &actor.name, now)
            .await?;
        if change.controller.is_some() || change.ecs_deployment.is_some() {
            write_deployment_settings(&mut tx, &env, change, &actor.name, now).await?;
        }
        if let Some(settings) = alarms {
            let spec = settings.spec();
            store::environments::set_alarms(&mut *tx, env.id, &spec).await?;
            let detail = json!({"alarms": spec, "summary": settings.to_string()});
            settings_changed(
                &mut tx,
                &env,
                "environment.alarms_changed",
                detail,
                &actor.name,
                now,
            )
            .await?;
        }
        if let Some(settings) = metric_gate {
            let spec = settings.spec();
            store::environments::set_metric_gate(&mut *tx, env.id, &spec).await?;
            let detail = json!({"metric_gate": spec, "summary": settings.to_string()});
            settings_changed(
                &mut tx,
                &env,
                "environment.metric_gate_changed",
                detail,
                &actor.name,
                now,
            )
            .await?;
        }
        if let Some(windows) = &change.freeze_windows {
            store::environments::set_freeze_windows(&mut *tx, env.id, &windows.specs()).await?;
            let detail = freeze_changed(&env.freeze_windows.0, windows);
            let kind = "environment.freeze_changed";
            settings_changed(&mut tx, &env, kind, detail, &actor.name, now).await?;
        }
        tx.commit().await?;
        self.changed();
        self.policy_view(env.id).await
    }

    /// The metric gate the change leaves, checked against the holds the
    /// changed environment makes (a change of controller or ECS gates can
    /// take away the hold an enabled gate needs). None: the gate is unchanged.
    async fn metric_gate_after(
        &self,
        name: &str,
        change: &EnvironmentChange,
    ) -> Result<Option<MetricGateSettings>> {
        if change.metric_gate.is_none()
            && change.controller.is_none()
            && change.ecs_deployment.is_none()
        {
            return Ok(None);
        }
        let env = find_environment(self.store.reader(), name).await?;
        let current = env.metric_gate_settings()?;
        let settings = match &change.metric_gate {
            Some(spec) => MetricGateSettings::parse(spec, current, "metric_gate")?,
            None => current,
        };
        let ecs = match change.controller.unwrap_or(env.deployment_controller) {
            DeploymentController::CodeDeploy => None,
            DeploymentController::Ecs => match &change.ecs_deployment {
                Some(settings) => Some(settings.clone()),
                None => Some(env.ecs_settings()?.unwrap_or_default()),
            },
        };
        settings.check_holds(GateHold::of(env.ready_action, ecs.as_ref()))?;
        Ok(change.metric_gate.as_ref().map(|_| settings))
    }

    pub async fn list_environments(&self, actor: &Actor) -> Result<Vec<EnvironmentRow>> {
        actor.require(Role::Viewer, "listing environments")?;
        Ok(store::environments::list(self.store.reader()).await?)
    }

    pub async fn environment(&self, actor: &Actor, name: &str) -> Result<EnvironmentRow> {
        actor.require(Role::Viewer, "reading environments")?;
        find_environment(self.store.reader(), name).await
    }

    /// Deletes an environment unless a deployment in it is still running.
    /// Its releases and audit trail are kept.
    pub async fn delete_environment(&self, actor: &Actor, name: &str) -> Result<()> {
        actor.require(Role::Admin, "deleting environments")?;
        let mut tx = self.store.begin().await?;
        let environment = find_environment(&mut *tx, name).await?;
        if store::deployments::has_active(&mut *tx, environment.id).await? {
            return Err(Error::Conflict(format!(
                "environment {name} has a deployment in progress; stop it or let it finish first"
            )));
        }
        let now = store::now_millis();
        store::environments::mark_deleted(&mut *tx, environment.id, now).await?;
        // Nobody can act on a deleted environment's releases any more.
        store::approvals::close_pending_of_environment(&mut *tx, environment.id, now).await?;
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(environment.id),
                deployment_id: None,
                actor: &actor.name,
                kind: "environment.deleted",
                detail: detail(json!({"name": environment.name})),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }
}

/// Sets the controller and the ECS settings a change asks for, with its
/// audit event; refuses what the environment's state does not allow.
async fn write_deployment_settings(
    tx: &mut sqlx::SqliteConnection,
    env: &EnvironmentRow,
    change: &EnvironmentChange,
    actor: &str,
    now: i64,
) -> Result<()> {
    let controller = change.controller.unwrap_or(env.deployment_controller);
    if controller != env.deployment_controller {
        if let Some(service) = &env.service {
            return Err(Error::Conflict(format!(
                "environment {} deploys service {service} through {}; a service is created for \
                 one controller, so the controller can change only before the stack is \
                 provisioned (destroy the stack first, or create another environment); a \
                 local one moves from codedeploy to ecs with `switchyard env migrate`",
                env.name, env.deployment_controller
            )));
        }
        if store::deployments::has_active(&mut *tx, env.id).await? {
            return Err(Error::Conflict(format!(
                "environment {} has a deployment in progress; the controller can change once it ends",
                env.name
            )));
        }
    }
    let settings = match controller {
        DeploymentController::CodeDeploy if change.ecs_deployment.is_some() => {
            return Err(Error::Invalid(FieldError {
                field: "ecs_deployment".into(),
                message: format!(
                    "ecs_deployment applies to environments whose controller is ecs; {} deploys \
                     through codedeploy",
                    env.name
                ),
            }));
        }
        DeploymentController::CodeDeploy => None,
        DeploymentController::Ecs => match &change.ecs_deployment {
            Some(settings) => Some(settings.clone()),
            None => Some(env.ecs_settings()?.unwrap_or_default()),
        },
    };
    let spec = settings.as_ref().map(EcsDeploymentSettings::spec);
    store::environments::set_deployment_controller(&mut *tx, env.id, controller, spec.as_ref())
        .await?;
    let detail = json!({"controller": controller.as_str(), "ecs_deployment": spec});
    let kind = "environment.deployment_settings_changed";
    settings_changed(tx, env, kind, detail, actor, now).await
}

/// The audit detail of a change of freeze windows: what they were and are.
fn freeze_changed(
    old: &[switchyard_domain::environment::FreezeWindowSpec],
    new: &FreezeWindows,
) -> serde_json::Value {
    json!({"old": old, "new": new.specs()})
}

/// Audits a change of an environment's settings.
async fn settings_changed(
    tx: &mut sqlx::SqliteConnection,
    env: &EnvironmentRow,
    kind: &str,
    detail_value: serde_json::Value,
    actor: &str,
    now: i64,
) -> Result<()> {
    store::events::append(
        &mut *tx,
        &NewEvent {
            environment_id: Some(env.id),
            deployment_id: None,
            actor,
            kind,
            detail: detail(detail_value),
            created_at: now,
        },
    )
    .await?;
    Ok(())
}

pub(super) async fn find_environment(
    db: impl sqlx::SqliteExecutor<'_>,
    name: &str,
) -> Result<EnvironmentRow> {
    store::environments::find_by_name(db, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no environment named {name:?}")))
}
