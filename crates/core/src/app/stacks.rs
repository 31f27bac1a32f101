//! Provisioning and destroying an environment's stack. The request answers
//! at once with an operation id; the work runs in the background, writing
//! its log to the stack as it goes. A local stack is made directly in the
//! local cloud; an AWS stack with Terraform (`provision::terraform`), which
//! can also be planned without applying.

use super::environments::find_environment;
use super::{Actor, App, Error, Result, detail};
use crate::cloud::Cloud;
use crate::provision::terraform::{self, PlanReport, StackDir, StackLock};
use crate::provision::{self, Log, StackOutputs, local::LocalCloudTarget};
use crate::store::{self, environments::EnvironmentRow, events::NewEvent, stacks::StackRow};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use switchyard_domain::environment::Platform;
use switchyard_domain::user::Role;

/// Terraform variables of an AWS stack, by name.
pub type Variables = Map<String, Value>;

/// A stack operation that has started.
#[derive(Debug, Clone)]
pub struct StackOperation {
    pub operation_id: String,
    pub status: &'static str,
}

/// A stack as readers see it. Every environment has one: until its first
/// operation it is not provisioned, and has no row.
#[derive(Debug, Clone)]
pub struct StackView {
    pub row: Option<StackRow>,
    /// An AWS stack's own Terraform variables, sensitive values hidden.
    pub variables: Option<Variables>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    Provision,
    Destroy,
}

impl Operation {
    pub(super) fn running_status(self) -> &'static str {
        match self {
            Operation::Provision => "provisioning",
            Operation::Destroy => "destroying",
        }
    }
}

/// What a finished provisioning made.
pub(super) struct Made {
    pub(super) outputs: StackOutputs,
    /// Every Terraform output, for AWS stacks.
    pub(super) terraform: Option<Variables>,
}

/// Appends log lines to the stack row as they happen, so a reader sees the
/// operation progress. Lines that arrive together are written together.
pub(super) struct StackLog {
    pub(super) app: Arc<App>,
    pub(super) environment_id: i64,
}

impl StackLog {
    async fn write(&self, lines: Vec<String>) {
        let now = chrono::Utc::now().format("%H:%M:%S%.3f").to_string();
        let stamped: Vec<String> = lines.iter().map(|l| format!("{now} {l}")).collect();
        let written = async {
            let mut tx = self.app.store.begin().await?;
            store::stacks::append_log(&mut *tx, self.environment_id, &stamped.join("\n")).await?;
            tx.commit().await
        };
        if let Err(e) = written.await {
            tracing::warn!(error = %e, "cannot append to the stack log");
        }
    }
}

impl Log for StackLog {
    async fn line(&mut self, line: String) {
        self.write(vec![line]).await;
    }

    async fn lines(&mut self, lines: Vec<String>) {
        self.write(lines).await;
    }
}

fn busy(environment: &str) -> Error {
    Error::Conflict(format!(
        "stack of {environment} is busy: another operation or plan is running on it; wait for it to finish"
    ))
}

impl App {
    /// Provisions (or converges) the stack. `variables` are an AWS stack's
    /// own Terraform variables; given, they replace the stored ones.
    pub async fn provision_stack(
        self: &Arc<Self>,
        actor: &Actor,
        environment: &str,
        variables: Option<Variables>,
    ) -> Result<StackOperation> {
        self.start_stack_operation(actor, environment, Operation::Provision, variables)
            .await
    }

    pub async fn destroy_stack(
        self: &Arc<Self>,
        actor: &Actor,
        environment: &str,
    ) -> Result<StackOperation> {
        self.start_stack_operation(actor, environment, Operation::Destroy, None)
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

    pub async fn stack(&self, actor: &Actor, environment: &str) -> Result<StackView> {
        actor.require(Role::Viewer, "reading stacks")?;
        let env = find_environment(self.store.reader(), environment).await?;
        let row = store::stacks::find(self.store.reader(), env.id).await?;
        let variables = (env.platform == Platform::Aws).then(|| {
            let settings = self.cloud_settings().ok();
            settings
                .map(|s| terraform::redacted(&StackDir::new(&s.data_dir, &env).variables()))
                .unwrap_or_default()
        });
        Ok(StackView { row, variables })
    }

    /// What provisioning an AWS stack would change, without changing it.
    /// `variables` stand in for the stack's own variables for this plan.
    pub async fn plan_stack(
        &self,
        actor: &Actor,
        environment: &str,
        variables: Option<Variables>,
    ) -> Result<PlanReport> {
        actor.require(Role::Admin, "planning stacks")?;
        let settings = self.cloud_settings()?.clone();
        let env = find_environment(self.store.reader(), environment).await?;
        env.require_codedeploy(
            "planning an AWS stack (infra/ makes CodeDeploy stacks only, so far)",
        )?;
        // A conflict with what the environment is, not a server fault.
        if env.platform != Platform::Aws {
            return Err(Error::Conflict(format!(
                "environment {environment} is {}: its stack is made directly in the local cloud, without a Terraform plan",
                env.platform
            )));
        }
        if let Some(variables) = &variables {
            terraform::check_variables(variables, true)?;
        }
        let _lock = StackDir::new(&settings.data_dir, &env)
            .try_lock()?
            .ok_or_else(|| busy(environment))?;
        let target = terraform::Target {
            data_dir: &settings.data_dir,
            config: &settings.aws.terraform,
            endpoint_url: settings.aws.endpoint_url.as_deref(),
            env: &env,
        };
        terraform::plan(&target, variables.as_ref())
            .await
            .map_err(|e| Error::Upstream(format!("{e:#}")))
    }

    async fn start_stack_operation(
        self: &Arc<Self>,
        actor: &Actor,
        environment: &str,
        operation: Operation,
        variables: Option<Variables>,
    ) -> Result<StackOperation> {
        actor.require(Role::Admin, "provisioning and destroying stacks")?;
        let settings = self.cloud_settings()?.clone();
        let now = store::now_millis();
        let operation_id = format!("op-{}", switchyard_domain::ids::random_hex(16));
        let mut tx = self.store.begin().await?;
        let env = find_environment(&mut *tx, environment).await?;
        if operation == Operation::Provision && env.platform == Platform::Aws {
            env.require_codedeploy(
                "provisioning an AWS stack (infra/ makes CodeDeploy stacks only, so far)",
            )?;
        }
        // Terraform runs hold the stack's lock from here to their end, so a
        // plan cannot run beside them (nor two servers on one data dir).
        let lock: Option<StackLock> = if env.platform == Platform::Aws {
            if let Some(variables) = &variables {
                terraform::check_variables(variables, true)?;
            }
            Some(
                StackDir::new(&settings.data_dir, &env)
                    .try_lock()?
                    .ok_or_else(|| busy(environment))?,
            )
        } else {
            // A conflict with what the environment is, as a plan of a local stack.
            if variables.is_some() {
                return Err(Error::Conflict(format!(
                    "variables are Terraform variables of aws stacks; environment {environment} is {}",
                    env.platform
                )));
            }
            None
        };
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
                    "the stack of {environment} is not provisioned, or destroyed already: nothing to destroy"
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
            let result = app
                .run_stack_operation(&settings, &env, operation, variables)
                .await;
            if let Err(e) = app
                .finish_stack_operation(&env, operation, &op, result)
                .await
            {
                tracing::error!(error = %e, environment = %env.name, "cannot record the end of a stack operation");
            }
            drop(lock);
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
        variables: Option<Variables>,
    ) -> anyhow::Result<Option<Made>> {
        let mut log = StackLog {
            app: self.clone(),
            environment_id: env.id,
        };
        if env.platform == Platform::Aws {
            let target = terraform::Target {
                data_dir: &settings.data_dir,
                config: &settings.aws.terraform,
                endpoint_url: settings.aws.endpoint_url.as_deref(),
                env,
            };
            return match operation {
                Operation::Provision => terraform::provision(&target, variables.as_ref(), &mut log)
                    .await
                    .map(|made| {
                        Some(Made {
                            outputs: made.outputs,
                            terraform: Some(made.terraform_outputs),
                        })
                    }),
                Operation::Destroy => terraform::destroy(&target, &mut log).await.map(|()| None),
            };
        }
        let cloud = Cloud::local(&settings.local_endpoint).await;
        let target = LocalCloudTarget {
            endpoint: &settings.local_endpoint,
            cloud: &cloud,
            http: &self.http,
        };
        match operation {
            Operation::Provision => {
                let source = self
                    .policy_view(env.id)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))?
                    .source;
                provision::local::provision(
                    &target,
                    &settings.data_dir,
                    env,
                    source.as_ref(),
                    &mut log,
                )
                .await
                .map(|outputs| {
                    Some(Made {
                        outputs,
                        terraform: None,
                    })
                })
            }
            Operation::Destroy => provision::local::destroy(&target, env, &mut log)
                .await
                .map(|()| None),
        }
    }

    pub(super) async fn finish_stack_operation(
        &self,
        env: &EnvironmentRow,
        operation: Operation,
        operation_id: &str,
        result: anyhow::Result<Option<Made>>,
    ) -> anyhow::Result<()> {
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        let (status, kind, made, failure) = match (result, operation) {
            (Ok(made), Operation::Provision) => ("ready", "stack.ready", made, None),
            (Ok(_), Operation::Destroy) => ("destroyed", "stack.destroyed", None, None),
            (Err(e), _) => ("failed", "stack.failed", None, Some(format!("{e:#}"))),
        };
        if let Some(why) = &failure {
            store::stacks::append_log(&mut *tx, env.id, &format!("failed: {why}")).await?;
        }
        let outputs = made.as_ref().map(|m| m.outputs.clone()).unwrap_or_default();
        let stored_outputs = match &made {
            Some(made) if status == "ready" => {
                let Value::Object(mut map) = serde_json::to_value(&made.outputs)? else {
                    unreachable!("StackOutputs serializes as an object")
                };
                if let Some(all) = &made.terraform {
                    map.insert("terraform".into(), Value::Object(all.clone()));
                }
                map
            }
            _ => serde_json::Map::new(),
        };
        store::stacks::finish(&mut *tx, env.id, status, &stored_outputs, now).await?;
        if failure.is_none() {
            let o = &outputs;
            // What a stack did not make (a part a variable turned off) stays unset.
            let some = |v: &str| (status == "ready" && !v.is_empty()).then(|| v.to_owned());
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
                    // A pipeline the stack did not make (named by hand) stays.
                    pipeline: (status == "ready")
                        .then(|| Some(o.pipeline.as_str()).filter(|p| !p.is_empty()))
                        .flatten()
                        .or(env.pipeline.as_deref().filter(|_| status == "ready")),
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
