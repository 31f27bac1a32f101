//! Pipeline runs: starting one (by hand or from a push), stopping and
//! retrying, and recording what the tracker observes, stage by stage, with
//! the approvals it opens and the deployment it leads to.

use super::deployments::{Started, StartedId};
use super::environments::find_environment;
use super::tracking::Tracked;
use super::{Actor, App, Error, Result, detail};
use crate::cloud::pipelines::{self as cloud_pipelines, PipelineDeployment, RunObservation};
use crate::cloud::service_deployments as native;
use crate::store::{
    self, Page, PageRequest, environments::EnvironmentRow, events::NewEvent,
    pipeline_runs::PipelineRunRow,
};
use serde_json::json;
use switchyard_domain::environment::Platform;
use switchyard_domain::pipeline::{ActionStatus, StageStatus};
use switchyard_domain::release::GitCommit;
use switchyard_domain::user::Role;

/// A change to a run the tracker recorded, for live subscribers.
#[derive(Debug, Clone, Copy)]
pub struct RunChanged {
    pub run_id: i64,
    pub event_id: i64,
}

/// Who and what started a run.
#[derive(Debug, Clone)]
pub(crate) struct RunTrigger<'a> {
    pub trigger: &'a str,
    pub delivery_id: Option<i64>,
    pub commit: Option<&'a str>,
    pub commit_message: &'a str,
    pub author: &'a str,
    pub started_by: &'a str,
}

/// What recording an observation led to, for the tracker.
#[derive(Debug, Default)]
pub struct RunProgress {
    pub finished: bool,
    /// A deployment the run's Deploy action started, now recorded.
    pub deployment_id: Option<i64>,
    /// Approvals decided by policy alone (0 approvers needed) to hand to the cloud.
    pub decided: Vec<i64>,
}

fn pipeline_of(env: &EnvironmentRow) -> Result<&str> {
    env.pipeline.as_deref().ok_or_else(|| {
        Error::Conflict(format!(
            "environment {} has no pipeline: give it a source and provision its stack, \
             or name an existing pipeline in resources.pipeline",
            env.name
        ))
    })
}

impl App {
    /// Starts the environment's pipeline by hand, at `commit` or the
    /// branch head.
    pub async fn start_pipeline_run(
        &self,
        actor: &Actor,
        environment: &str,
        commit: Option<&GitCommit>,
    ) -> Result<PipelineRunRow> {
        actor.require(Role::Deployer, "starting pipeline runs")?;
        let env = find_environment(self.store.reader(), environment).await?;
        let id = self
            .start_run(
                &env,
                &RunTrigger {
                    trigger: "manual",
                    delivery_id: None,
                    commit: commit.map(|c| c.as_str()),
                    commit_message: "",
                    author: &actor.name,
                    started_by: &actor.name,
                },
            )
            .await?;
        self.find_run(id).await
    }

    /// Starts the pipeline in the cloud first; the run is recorded only
    /// when CodePipeline took it.
    pub(crate) async fn start_run(&self, env: &EnvironmentRow, t: &RunTrigger<'_>) -> Result<i64> {
        let pipeline = pipeline_of(env)?;
        let cloud = self.cloud_for(env).await?;
        // The ECS action rolls out with the service's configuration: make it
        // the environment's, which switchyard owns.
        if let Some(settings) = env.ecs_settings()? {
            let service = super::deployments::service_target_of(env)?;
            native::configure_service(
                &cloud,
                service.cluster,
                service.service,
                native::deployment_configuration(&settings, &self.guard_alarms(env).await?),
                self.traffic_routing(env).await?.as_ref(),
            )
            .await?;
        }
        let token = switchyard_domain::ids::random_hex(32);
        let execution_id = cloud_pipelines::start(&cloud, pipeline, t.commit, &token).await?;
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        let id = store::pipeline_runs::insert(
            &mut tx,
            &store::pipeline_runs::NewRun {
                environment_id: env.id,
                pipeline,
                execution_id: &execution_id,
                trigger: t.trigger,
                delivery_id: t.delivery_id,
                commit_sha: t.commit,
                commit_message: t.commit_message,
                author: t.author,
                started_by: t.started_by,
                now,
            },
        )
        .await?;
        let event_id = store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(env.id),
                deployment_id: None,
                actor: t.started_by,
                kind: "pipeline.started",
                detail: detail(json!({
                    "pipeline_run_id": id, "pipeline": pipeline, "execution_id": execution_id,
                    "trigger": t.trigger, "commit": t.commit,
                })),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.changed();
        self.track(Tracked::PipelineRun(id));
        let _ = self.run_changes.send(RunChanged {
            run_id: id,
            event_id,
        });
        Ok(id)
    }

    pub async fn pipeline_runs(
        &self,
        actor: &Actor,
        environment: &str,
        page: PageRequest,
    ) -> Result<Page<PipelineRunRow>> {
        actor.require(Role::Viewer, "reading pipeline runs")?;
        let env = find_environment(self.store.reader(), environment).await?;
        Ok(store::pipeline_runs::page_for_environment(self.store.reader(), env.id, page).await?)
    }

    pub async fn pipeline_run(&self, actor: &Actor, id: i64) -> Result<PipelineRunRow> {
        actor.require(Role::Viewer, "reading pipeline runs")?;
        self.find_run(id).await
    }

    pub async fn find_run(&self, id: i64) -> Result<PipelineRunRow> {
        store::pipeline_runs::find(self.store.reader(), id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no pipeline run {id}")))
    }

    async fn run_with_environment(&self, id: i64) -> Result<(PipelineRunRow, EnvironmentRow)> {
        let run = self.find_run(id).await?;
        let env = find_environment(self.store.reader(), &run.environment)
            .await
            .map_err(|_| {
                Error::NotFound(format!("the environment of pipeline run {id} was deleted"))
            })?;
        Ok((run, env))
    }

    /// Stops a run: in-progress actions finish (or are abandoned with
    /// `abandon`), later stages do not start.
    pub async fn stop_pipeline_run(
        &self,
        actor: &Actor,
        id: i64,
        abandon: bool,
        reason: &str,
    ) -> Result<PipelineRunRow> {
        actor.require(Role::Deployer, "stopping pipeline runs")?;
        let (run, env) = self.run_with_environment(id).await?;
        if run.status.is_terminal() {
            return Err(Error::Conflict(format!(
                "pipeline run {id} has already finished ({})",
                run.status
            )));
        }
        let cloud = self.cloud_for(&env).await?;
        let reason = if reason.is_empty() {
            format!("stopped by {} in switchyard", actor.name)
        } else {
            reason.to_owned()
        };
        cloud_pipelines::stop(&cloud, &run.pipeline, &run.execution_id, abandon, &reason).await?;
        self.record_run_action(
            actor,
            &run,
            "pipeline.stop_requested",
            json!({"abandon": abandon, "reason": reason}),
            false,
        )
        .await?;
        self.find_run(id).await
    }

    /// Runs a failed or stopped stage of the run again.
    pub async fn retry_pipeline_stage(
        &self,
        actor: &Actor,
        id: i64,
        stage: &str,
        all_actions: bool,
    ) -> Result<PipelineRunRow> {
        actor.require(Role::Deployer, "retrying pipeline stages")?;
        let (run, env) = self.run_with_environment(id).await?;
        let Some(found) = run.stages.iter().find(|s| s.name == stage) else {
            return Err(Error::Invalid(switchyard_domain::FieldError {
                field: "stage".into(),
                message: format!(
                    "pipeline run {id} has no stage {stage:?} (stages: {})",
                    run.stages
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }));
        };
        if !found.status.is_retryable() {
            return Err(Error::Conflict(format!(
                "stage {stage} of pipeline run {id} is {}; only a failed or stopped stage can be retried",
                found.status
            )));
        }
        let cloud = self.cloud_for(&env).await?;
        cloud_pipelines::retry_stage(&cloud, &run.pipeline, &run.execution_id, stage, all_actions)
            .await?;
        self.record_run_action(
            actor,
            &run,
            "pipeline.stage_retried",
            json!({"stage": stage, "mode": if all_actions { "ALL_ACTIONS" } else { "FAILED_ACTIONS" }}),
            true,
        )
        .await?;
        self.find_run(id).await
    }

    async fn record_run_action(
        &self,
        actor: &Actor,
        run: &PipelineRunRow,
        kind: &str,
        mut extra: serde_json::Value,
        reopen: bool,
    ) -> Result<()> {
        extra["pipeline_run_id"] = json!(run.id);
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        if reopen {
            store::pipeline_runs::reopen(&mut *tx, run.id, now).await?;
        }
        let event_id = store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(run.environment_id),
                deployment_id: None,
                actor: &actor.name,
                kind,
                detail: detail(extra),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        // A retried run had ended, and its tracking with it.
        self.track(Tracked::PipelineRun(run.id));
        let _ = self.run_changes.send(RunChanged {
            run_id: run.id,
            event_id,
        });
        Ok(())
    }

    pub async fn unfinished_pipeline_runs(&self) -> Result<Vec<PipelineRunRow>> {
        Ok(store::pipeline_runs::unfinished(self.store.reader()).await?)
    }

    /// The run's events (its audit trail), oldest first, after `after`.
    pub async fn pipeline_run_events_after(
        &self,
        run_id: i64,
        after: i64,
    ) -> Result<Vec<store::events::EventRow>> {
        Ok(store::events::for_pipeline_run_after(self.store.reader(), run_id, after).await?)
    }

    pub fn subscribe_run_changes(&self) -> tokio::sync::broadcast::Receiver<RunChanged> {
        self.run_changes.subscribe()
    }

    /// The tracker's view of a run: clients and names to observe it with.
    pub(crate) async fn observe_run(&self, run: &PipelineRunRow) -> Result<Option<RunObservation>> {
        let Ok(env) = find_environment(self.store.reader(), &run.environment).await else {
            return Ok(None);
        };
        let cloud = self.cloud_for(&env).await?;
        Ok(Some(
            cloud_pipelines::observe(&cloud, &run.pipeline, &run.execution_id).await?,
        ))
    }

    /// Stores what the cloud reports of a run now, appending one event per
    /// change; opens approvals for pending approval actions, closes the ones
    /// the run moved past, and records the deployment its Deploy action
    /// started.
    pub async fn record_run_observation(
        &self,
        run: &PipelineRunRow,
        seen: &RunObservation,
    ) -> Result<RunProgress> {
        let status = seen.status;
        let mut progress = RunProgress {
            finished: status.is_terminal(),
            ..Default::default()
        };
        // The deployment is read from the cloud before the transaction.
        let adopt = match (&seen.deployment, run.deployment_id) {
            (Some(deployment), None) => Some(self.pipeline_deployment(run, deployment).await?),
            _ => None,
        };
        let open_tokens: Vec<&str> = seen
            .pending_approvals
            .iter()
            .map(|p| p.token.as_str())
            .collect();
        let approvals = store::approvals::for_pipeline_run(self.store.reader(), run.id).await?;
        let to_close: Vec<i64> = approvals
            .iter()
            .filter(|a| {
                a.state == "pending" && !open_tokens.contains(&a.token.as_deref().unwrap_or(""))
            })
            .map(|a| a.id)
            .collect();
        let to_open: Vec<_> = seen
            .pending_approvals
            .iter()
            .filter(|p| {
                !approvals
                    .iter()
                    .any(|a| a.token.as_deref() == Some(p.token.as_str()))
            })
            .collect();
        let unchanged = run.status == status
            && run.stages.0 == seen.stages
            && adopt.is_none()
            && to_close.is_empty()
            && to_open.is_empty();
        if unchanged {
            return Ok(progress);
        }

        let old = &run.stages;
        let mut events: Vec<(&str, serde_json::Value)> = Vec::new();
        for stage in &seen.stages {
            let before = old.iter().find(|s| s.name == stage.name);
            if before.map(|s| s.status) != Some(stage.status)
                && !(before.is_none() && stage.status == StageStatus::NotStarted)
            {
                events.push((
                    "pipeline.stage",
                    json!({"stage": stage.name, "status": stage.status}),
                ));
            }
            for action in &stage.actions {
                let was = before
                    .and_then(|s| s.actions.iter().find(|a| a.name == action.name))
                    .map(|a| a.status);
                if was != Some(action.status)
                    && !(was.is_none() && action.status == ActionStatus::NotStarted)
                {
                    events.push((
                        "pipeline.action",
                        json!({
                            "stage": stage.name, "action": action.name, "status": action.status,
                            "summary": action.summary, "error": action.error,
                            "external_id": action.external_id,
                        }),
                    ));
                }
            }
        }
        let error = seen.error();
        if run.status != status {
            events.push((
                "pipeline.status",
                json!({"from": run.status.as_str(), "to": status.as_str(), "error": error}),
            ));
        }
        let now = store::now_millis();
        let policy = store::release_policies::find(self.store.reader(), run.environment_id).await?;
        let mut tx = self.store.begin().await?;
        store::pipeline_runs::update_observed(
            &mut *tx,
            run.id,
            &store::pipeline_runs::ObservedRun {
                status,
                stages: &seen.stages,
                commit_sha: seen
                    .commit
                    .as_deref()
                    .filter(|c| GitCommit::parse(c).is_ok()),
                commit_message: seen
                    .commit_message
                    .as_deref()
                    .filter(|_| run.commit_message.is_empty()),
                error: error.as_deref(),
                completed_at: status.is_terminal().then_some(now),
                now,
            },
        )
        .await?;
        let mut ids = Vec::new();
        let append = |kind: &'static str, actor: &'static str, mut value: serde_json::Value| {
            value["pipeline_run_id"] = json!(run.id);
            (kind, actor, value)
        };
        let mut rows: Vec<(&str, &str, serde_json::Value)> = events
            .into_iter()
            .map(|(kind, value)| append(kind, "codepipeline", value))
            .collect();
        if let Some(revision) = &adopt {
            let deployment_id = self
                .record_pipeline_deployment(&mut tx, run, seen, revision, now)
                .await?;
            store::pipeline_runs::set_deployment(&mut *tx, run.id, deployment_id).await?;
            progress.deployment_id = Some(deployment_id);
            rows.push(append(
                "pipeline.deployment",
                "codepipeline",
                json!({"deployment_id": deployment_id}),
            ));
        }
        for id in &to_close {
            if store::approvals::decide(&mut *tx, *id, "closed", now).await? {
                rows.push(append(
                    "approval.closed",
                    "codepipeline",
                    json!({"approval_id": id, "reason": "the run moved past the approval action"}),
                ));
            }
        }
        for pending in to_open {
            let approval =
                super::approvals::open_for_run(&mut tx, run, pending, &policy, now).await?;
            if let Some((approval_id, decided)) = approval {
                rows.push(append("approval.requested", "switchyard", json!({
                    "approval_id": approval_id, "stage": pending.stage, "action": pending.action,
                    "required": policy.approvals_required,
                })));
                if decided {
                    progress.decided.push(approval_id);
                } else {
                    self.notify(
                        &mut tx,
                        run.environment_id,
                        "approval.requested",
                        &format!(
                            "{} needs {} approval(s) for {} ({})",
                            run.environment,
                            policy.approvals_required,
                            run.pipeline,
                            seen.commit
                                .as_deref()
                                .map_or("latest", |c| &c[..c.len().min(12)])
                        ),
                        &format!("/approvals/{approval_id}"),
                        json!({"approval_id": approval_id, "pipeline_run_id": run.id}),
                        now,
                    )
                    .await?;
                }
            }
        }
        for (kind, actor, value) in rows {
            ids.push(
                store::events::append(
                    &mut *tx,
                    &NewEvent {
                        environment_id: Some(run.environment_id),
                        deployment_id: if kind == "pipeline.deployment" {
                            progress.deployment_id
                        } else {
                            None
                        },
                        actor,
                        kind,
                        detail: detail(value),
                        created_at: now,
                    },
                )
                .await?,
            );
        }
        tx.commit().await?;
        self.changed();
        self.notifications_committed();
        for event_id in ids {
            let _ = self.run_changes.send(RunChanged {
                run_id: run.id,
                event_id,
            });
        }
        Ok(progress)
    }

    /// The deployment a run's Deploy action started, as the cloud took it,
    /// and the image it rolls out.
    async fn pipeline_deployment(
        &self,
        run: &PipelineRunRow,
        deployment: &PipelineDeployment,
    ) -> Result<(Started, String)> {
        let (_, env) = self.run_with_environment(run.id).await?;
        let cloud = self.cloud_for(&env).await?;
        let started = match deployment {
            PipelineDeployment::CodeDeploy(id) => {
                let revision =
                    cloud_pipelines::deployment_revision(&cloud, id, &env.container_name).await?;
                return Ok((
                    Started {
                        id: StartedId::CodeDeploy(id.clone()),
                        task_definition: revision.task_definition,
                        config: revision.config,
                    },
                    revision.image,
                ));
            }
            PipelineDeployment::Ecs(arn) => {
                // The settings start_run applied to the service before the run.
                let settings = env.ecs_settings()?.unwrap_or_default();
                Started {
                    id: StartedId::Ecs(arn.clone(), settings.spec()),
                    task_definition: native::target_task_definition(&cloud, arn).await?,
                    config: settings.strategy.to_string(),
                }
            }
        };
        let image =
            cloud_pipelines::container_image(&cloud, &started.task_definition, &env.container_name)
                .await?;
        Ok((started, image))
    }

    /// Records the release and the deployment a run's Deploy action started,
    /// so it is tracked, shown and rolled back like any other.
    async fn record_pipeline_deployment(
        &self,
        tx: &mut sqlx::SqliteConnection,
        run: &PipelineRunRow,
        seen: &RunObservation,
        (started, image): &(Started, String),
        now: i64,
    ) -> Result<i64> {
        let (id_name, cloud_id) = started.id_detail();
        let existing = match &started.id {
            StartedId::CodeDeploy(id) => {
                store::deployments::find_by_codedeploy_id(&mut *tx, id).await?
            }
            StartedId::Ecs(arn, _) => {
                store::deployments::find_by_service_deployment_arn(&mut *tx, arn).await?
            }
        };
        if let Some(existing) = existing {
            return Ok(existing);
        }
        let commit = seen.commit.as_deref().or(run.commit_sha.as_deref());
        let short = commit.map_or("head", |c| &c[..c.len().min(12)]);
        let version = format!("run{}-{short}", run.id);
        let message = seen
            .commit_message
            .as_deref()
            .unwrap_or(&run.commit_message)
            .chars()
            .take(4000)
            .collect::<String>();
        let release = super::releases::insert_release(
            &mut *tx,
            &store::releases::NewReleaseRow {
                environment_id: run.environment_id,
                version: &version,
                image,
                git_commit: commit.filter(|c| GitCommit::parse(c).is_ok()),
                author: &run.author,
                message: &message,
                recorded_by: "codepipeline",
                created_at: now,
            },
            json!({"pipeline_run_id": run.id}),
        )
        .await?;
        let id = store::deployments::insert(
            &mut *tx,
            &store::deployments::NewDeploymentRow {
                environment_id: run.environment_id,
                release_id: release.id,
                started: started.as_row(),
                deployment_config: &started.config,
                task_definition_arn: &started.task_definition,
                idempotency_key: None,
                created_by: &run.author,
                now,
            },
        )
        .await?;
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(run.environment_id),
                deployment_id: Some(id),
                actor: "codepipeline",
                kind: "deployment.started",
                detail: detail(json!({
                    id_name: cloud_id, "version": version, "image": image,
                    "deployment_config": started.config,
                    "task_definition": started.task_definition, "pipeline_run_id": run.id,
                })),
                created_at: now,
            },
        )
        .await?;
        Ok(id)
    }

    /// A build action's log from `offset` (bytes), and the offset to read
    /// on from. The local cloud serves build logs; on AWS they are in
    /// CloudWatch Logs, linked from the action.
    pub async fn build_log(
        &self,
        actor: &Actor,
        run_id: i64,
        action: &str,
        offset: u64,
    ) -> Result<(String, u64)> {
        actor.require(Role::Viewer, "reading build logs")?;
        let (run, env) = self.run_with_environment(run_id).await?;
        let found = run
            .stages
            .iter()
            .flat_map(|s| &s.actions)
            .find(|a| a.name == action)
            .ok_or_else(|| {
                Error::NotFound(format!("pipeline run {run_id} has no action {action:?}"))
            })?;
        let Some(url) = &found.external_url else {
            return Err(Error::NotFound(format!(
                "action {action} of pipeline run {run_id} has no log (yet)"
            )));
        };
        if env.platform != Platform::Local {
            return Err(Error::Unsupported(format!(
                "build logs on AWS are in CloudWatch Logs: {url}"
            )));
        }
        let mut url = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("bad log URL: {e}"))?;
        url.query_pairs_mut()
            .append_pair("offset", &offset.to_string());
        let answer = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| Error::Upstream(format!("cannot read the build log: {e}")))?;
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| Error::Upstream(format!("cannot read the build log: {e}")))?;
        let next = offset + bytes.len() as u64;
        Ok((String::from_utf8_lossy(&bytes).into_owned(), next))
    }
}
