//! Provisioning and destroying an environment's stack. The request answers
//! at once with an operation id; the work runs in the background, writing
//! its log to the stack as it goes.

use super::environments::find_environment;
use super::{Actor, App, Error, Result, detail};
use crate::cloud::Cloud;
use crate::domain::user::Role;
use crate::provision::{self, Log, StackOutputs, local::LocalCloudTarget};
use crate::store::{self, environments::EnvironmentRow, events::NewEvent, stacks::StackRow};
use serde_json::json;
use std::sync::Arc;

/// A stack operation that has started.
#[derive(Debug, Clone)]
pub struct StackOperation {
    pub operation_id: String,
    pub status: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Operation {
    Provision,
    Destroy,
}

impl Operation {
    fn running_status(self) -> &'static str {
        match self {
            Operation::Provision => "provisioning",
            Operation::Destroy => "destroying",
        }
    }
}

/// Appends each log line to the stack row as it happens, so a reader sees
/// the operation progress.
struct StackLog {
    app: Arc<App>,
    environment_id: i64,
}

impl Log for StackLog {
    async fn line(&mut self, line: String) {
        let stamped = format!("{} {line}", chrono::Utc::now().format("%H:%M:%S%.3f"));
        let written = async {
            let mut tx = self.app.store.begin().await?;
            store::stacks::append_log(&mut *tx, self.environment_id, &stamped).await?;
            tx.commit().await
        };
        if let Err(e) = written.await {
            tracing::warn!(error = %e, "cannot append to the stack log");
        }
    }
}

impl App {
    pub async fn provision_stack(
        self: &Arc<Self>,
        actor: &Actor,
        environment: &str,
    ) -> Result<StackOperation> {
        self.start_stack_operation(actor, environment, Operation::Provision)
            .await
    }

    pub async fn destroy_stack(
        self: &Arc<Self>,
        actor: &Actor,
        environment: &str,
    ) -> Result<StackOperation> {
        self.start_stack_operation(actor, environment, Operation::Destroy)
            .await
    }

    /// At start: an operation the last run of the server did not finish
    /// cannot finish now; say so, so it can be started again.
    pub async fn fail_interrupted_stack_operations(&self) -> Result<()> {
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        for environment_id in store::stacks::fail_interrupted(&mut *tx, now).await? {
            store::events::append(
                &mut *tx,
                &NewEvent {
                    environment_id: Some(environment_id),
                    deployment_id: None,
                    actor: "switchyard",
                    kind: "stack.failed",
                    detail: detail(json!({"error": "the server stopped during the operation"})),
                    created_at: now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn stack(&self, actor: &Actor, environment: &str) -> Result<StackRow> {
        actor.require(Role::Viewer, "reading stacks")?;
        let env = find_environment(self.store.reader(), environment).await?;
        store::stacks::find(self.store.reader(), env.id)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "environment {environment} has no stack yet; POST to provision one"
                ))
            })
    }

    async fn start_stack_operation(
        self: &Arc<Self>,
        actor: &Actor,
        environment: &str,
        operation: Operation,
    ) -> Result<StackOperation> {
        actor.require(Role::Admin, "provisioning and destroying stacks")?;
        let settings = self.cloud_settings()?.clone();
        let now = store::now_millis();
        let operation_id = format!("op-{}", crate::localcloud::random_hex(16));
        let mut tx = self.store.begin().await?;
        let env = find_environment(&mut *tx, environment).await?;
        if env.platform != "local" {
            return Err(Error::Unsupported(format!(
                "environment {environment} is on {}: its stack is provisioned with Terraform, which this server does not run yet",
                env.platform
            )));
        }
        let current = store::stacks::find(&mut *tx, env.id).await?;
        if let Some(stack) = current
            .as_ref()
            .filter(|s| matches!(s.status.as_str(), "provisioning" | "destroying"))
        {
            return Err(Error::Conflict(format!(
                "stack of {environment} is {} (operation {}); wait for it to finish",
                stack.status, stack.operation_id
            )));
        }
        if operation == Operation::Destroy {
            if current.as_ref().is_none_or(|s| s.status == "destroyed") {
                return Err(Error::Conflict(format!(
                    "environment {environment} has no stack to destroy"
                )));
            }
            if store::deployments::has_active(&mut *tx, env.id).await? {
                return Err(Error::Conflict(format!(
                    "environment {environment} has a deployment in progress"
                )));
            }
        }
        store::stacks::begin(
            &mut *tx,
            env.id,
            operation.running_status(),
            &operation_id,
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
                kind: match operation {
                    Operation::Provision => "stack.provisioning",
                    Operation::Destroy => "stack.destroying",
                },
                detail: detail(json!({"operation_id": operation_id})),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.changed();

        let app = self.clone();
        let op = operation_id.clone();
        tokio::spawn(async move {
            let result = app.run_stack_operation(&settings, &env, operation).await;
            if let Err(e) = app
                .finish_stack_operation(&env, operation, &op, result)
                .await
            {
                tracing::error!(error = %e, environment = %env.name, "cannot record the end of a stack operation");
            }
        });
        Ok(StackOperation {
            operation_id,
            status: operation.running_status(),
        })
    }

    async fn run_stack_operation(
        self: &Arc<Self>,
        settings: &super::CloudSettings,
        env: &EnvironmentRow,
        operation: Operation,
    ) -> anyhow::Result<Option<StackOutputs>> {
        let cloud = Cloud::local(&settings.local_endpoint).await;
        let target = LocalCloudTarget {
            endpoint: &settings.local_endpoint,
            cloud: &cloud,
            http: &self.http,
        };
        let mut log = StackLog {
            app: self.clone(),
            environment_id: env.id,
        };
        match operation {
            Operation::Provision => {
                provision::local::provision(&target, &settings.data_dir, env, &mut log)
                    .await
                    .map(Some)
            }
            Operation::Destroy => provision::local::destroy(&target, env, &mut log)
                .await
                .map(|()| None),
        }
    }

    async fn finish_stack_operation(
        &self,
        env: &EnvironmentRow,
        operation: Operation,
        operation_id: &str,
        result: anyhow::Result<Option<StackOutputs>>,
    ) -> anyhow::Result<()> {
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        let (status, kind, outputs, failure) = match (&result, operation) {
            (Ok(outputs), Operation::Provision) => (
                "ready",
                "stack.ready",
                outputs.clone().unwrap_or_default(),
                None,
            ),
            (Ok(_), Operation::Destroy) => (
                "destroyed",
                "stack.destroyed",
                StackOutputs::default(),
                None,
            ),
            (Err(e), _) => (
                "failed",
                "stack.failed",
                StackOutputs::default(),
                Some(format!("{e:#}")),
            ),
        };
        if let Some(why) = &failure {
            store::stacks::append_log(&mut *tx, env.id, &format!("failed: {why}")).await?;
        }
        let outputs_json = if status == "ready" {
            serde_json::to_string(&outputs)?
        } else {
            "{}".to_owned()
        };
        store::stacks::finish(&mut *tx, env.id, status, &outputs_json, now).await?;
        if failure.is_none() {
            let o = &outputs;
            let some = |v: &str| (status == "ready").then(|| v.to_owned());
            let (c, s, a, g, pl, tl, pu, tu) = (
                some(&o.cluster),
                some(&o.service),
                some(&o.codedeploy_application),
                some(&o.deployment_group),
                some(&o.prod_listener_arn),
                some(&o.test_listener_arn),
                some(&o.prod_url),
                some(&o.test_url),
            );
            store::environments::set_stack_resources(
                &mut *tx,
                env.id,
                &store::environments::StackResources {
                    cluster: c.as_deref(),
                    service: s.as_deref(),
                    codedeploy_application: a.as_deref(),
                    deployment_group: g.as_deref(),
                    prod_listener_arn: pl.as_deref(),
                    test_listener_arn: tl.as_deref(),
                    prod_url: pu.as_deref(),
                    test_url: tu.as_deref(),
                },
            )
            .await?;
        }
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(env.id),
                deployment_id: None,
                actor: "switchyard",
                kind,
                detail: detail(json!({"operation_id": operation_id, "error": failure})),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }
}
