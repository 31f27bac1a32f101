//! Creating, reading and deleting environments.

use super::{Actor, App, Error, Result, detail};
use crate::store::{self, environments::EnvironmentRow, events::NewEvent};
use serde_json::json;
use switchyard_domain::environment::NewEnvironment;
use switchyard_domain::user::Role;

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
        let now = store::now_millis();
        let r = &new.resources;
        let hooks = new.hooks.pairs().iter().cloned().collect();
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
                })),
                created_at: now,
            },
        )
        .await?;
        super::release_policies::write_policy(&mut tx, environment.id, policy, &actor.name, now)
            .await?;
        tx.commit().await?;
        self.changed();
        Ok(environment)
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

pub(super) async fn find_environment(
    db: impl sqlx::SqliteExecutor<'_>,
    name: &str,
) -> Result<EnvironmentRow> {
    store::environments::find_by_name(db, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no environment named {name:?}")))
}
