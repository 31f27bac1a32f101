//! Moving an environment from CodeDeploy to ECS's own controller, as AWS's
//! migration guide does it: between deployments, the running tasks kept, so
//! production does not notice. Local stacks only: an AWS stack's controller
//! is Terraform's `deployment_controller`, and changing it there replaces
//! the service.

use super::environments::find_environment;
use super::stacks::{Made, Operation, StackLog};
use super::{Actor, App, Error, Result, detail};
use crate::cloud::Cloud;
use crate::provision::{self, StackOutputs, local::LocalCloudTarget};
use crate::store::{self, environments::EnvironmentRow, events::NewEvent};
use serde_json::json;
use sqlx::types::Json;
use std::sync::Arc;
use switchyard_domain::environment::Platform;
use switchyard_domain::service_deployment::{DeploymentController, EcsDeploymentSettings};
use switchyard_domain::user::Role;

impl App {
    /// Moves `environment` to ECS's own controller with `settings` (the
    /// defaults if none); the environment as it is afterwards. Refused while
    /// anything could deploy meanwhile; a failure before ECS took the service
    /// leaves the environment as it was.
    pub async fn migrate_to_ecs(
        self: &Arc<Self>,
        actor: &Actor,
        environment: &str,
        settings: Option<EcsDeploymentSettings>,
    ) -> Result<EnvironmentRow> {
        actor.require(Role::Admin, "moving environments to another controller")?;
        let operation_id = format!("op-{}", switchyard_domain::ids::random_hex(16));
        let (env, before) = self
            .begin_migration(actor, environment, &operation_id)
            .await?;
        let settings = settings.unwrap_or_default();
        let migrated = EnvironmentRow {
            deployment_controller: DeploymentController::Ecs,
            ecs_deployment: Some(Json(settings.spec())),
            ..env.clone()
        };
        let endpoint = self.cloud_settings()?.local_endpoint.clone();
        let cloud = Cloud::local(&endpoint).await;
        let target = LocalCloudTarget {
            endpoint: &endpoint,
            cloud: &cloud,
            http: &self.http,
        };
        let source = self.policy_view(env.id).await?.source;
        let mut log = StackLog {
            app: self.clone(),
            environment_id: env.id,
        };
        let moved = provision::local::migrate_to_ecs(
            &target,
            &migrated,
            &settings,
            source.as_ref(),
            &mut log,
        )
        .await;
        match moved {
            Ok(outputs) => {
                self.record_migration(actor, &env, &settings, &operation_id, outputs)
                    .await?;
                find_environment(self.store.reader(), environment).await
            }
            Err(e) => {
                self.record_failed_migration(&env, &operation_id, before, &e)
                    .await?;
                Err(Error::Upstream(format!(
                    "environment {environment} stays on CodeDeploy: {e:#}"
                )))
            }
        }
    }

    /// Checks the environment can move now and marks its stack busy; the
    /// environment and the stack's outputs before the move.
    async fn begin_migration(
        &self,
        actor: &Actor,
        environment: &str,
        operation_id: &str,
    ) -> Result<(EnvironmentRow, serde_json::Map<String, serde_json::Value>)> {
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        let env = find_environment(&mut *tx, environment).await?;
        if env.platform != Platform::Local {
            return Err(Error::Conflict(format!(
                "environment {environment} is on AWS: its controller is the stack's Terraform \
                 variable deployment_controller, and changing it replaces the ECS service"
            )));
        }
        if env.deployment_controller == DeploymentController::Ecs {
            return Err(Error::Conflict(format!(
                "environment {environment} deploys through ECS's own controller already"
            )));
        }
        let stack = store::stacks::find(&mut *tx, env.id).await?;
        let Some(stack) = stack.filter(|s| s.status == "ready") else {
            return Err(Error::Conflict(format!(
                "the stack of {environment} is not ready (provisioned, with no operation running)"
            )));
        };
        if store::deployments::has_active(&mut *tx, env.id).await? {
            return Err(Error::Conflict(format!(
                "environment {environment} has a deployment in progress; move it once that ends"
            )));
        }
        let runs = store::pipeline_runs::unfinished(&mut *tx).await?;
        if runs
            .iter()
            .any(|r| r.environment_id == env.id && !r.status.is_terminal())
        {
            return Err(Error::Conflict(format!(
                "environment {environment} has a pipeline run in progress, which would deploy \
                 through CodeDeploy; move it once that ends"
            )));
        }
        store::stacks::begin(
            &mut *tx,
            env.id,
            Operation::Provision.running_status(),
            operation_id,
            &actor.name,
            now,
        )
        .await?;
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(env.id),
                deployment_id: None,
                actor: &actor.name,
                kind: "stack.migrating",
                detail: detail(json!({"operation_id": operation_id, "to": "ecs"})),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.changed();
        Ok((env, stack.outputs.0))
    }

    /// ECS took the service: the environment says so, then the stack is
    /// ready again with its new outputs.
    async fn record_migration(
        self: &Arc<Self>,
        actor: &Actor,
        env: &EnvironmentRow,
        settings: &EcsDeploymentSettings,
        operation_id: &str,
        outputs: StackOutputs,
    ) -> Result<()> {
        let now = store::now_millis();
        let spec = settings.spec();
        let mut tx = self.store.begin().await?;
        store::environments::set_deployment_controller(
            &mut *tx,
            env.id,
            DeploymentController::Ecs,
            Some(&spec),
        )
        .await?;
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(env.id),
                deployment_id: None,
                actor: &actor.name,
                kind: "environment.migrated",
                detail: detail(json!({
                    "from": "codedeploy", "to": "ecs", "ecs_deployment": spec,
                    "operation_id": operation_id,
                })),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        let made = Made {
            outputs,
            terraform: None,
        };
        self.finish_stack_operation(env, Operation::Provision, operation_id, Ok(Some(made)))
            .await?;
        Ok(())
    }

    /// The move failed before ECS took the service: the stack is as it was.
    async fn record_failed_migration(
        &self,
        env: &EnvironmentRow,
        operation_id: &str,
        outputs: serde_json::Map<String, serde_json::Value>,
        error: &anyhow::Error,
    ) -> Result<()> {
        let now = store::now_millis();
        let why = format!("{error:#}");
        let mut tx = self.store.begin().await?;
        store::stacks::append_log(&mut *tx, env.id, &format!("failed: {why}")).await?;
        store::stacks::finish(&mut *tx, env.id, "ready", &outputs, now).await?;
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(env.id),
                deployment_id: None,
                actor: "switchyard",
                kind: "stack.migration_failed",
                detail: detail(json!({"operation_id": operation_id, "error": why})),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }
}
