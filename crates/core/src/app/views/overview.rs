//! The environments overview: each live environment with what production
//! serves, its latest deployment and run, and its pending approvals.

use crate::app::{Actor, App, Result};
use crate::cloud::deployments::TaskSetState;
use crate::store::pipeline_runs::PipelineRunRow;
use crate::store::{self, PageRequest, deployments::DeploymentRow, environments::EnvironmentRow};
use std::collections::HashMap;

/// One environment on the overview.
#[derive(Debug, Clone)]
pub struct EnvironmentSummary {
    pub environment: EnvironmentRow,
    /// The latest deployment that succeeded: what production serves.
    pub live: Option<DeploymentRow>,
    /// The latest deployment, whatever its state.
    pub latest: Option<DeploymentRow>,
    /// The latest pipeline run.
    pub latest_run: Option<PipelineRunRow>,
    /// Approvals of this environment waiting for votes.
    pub pending_approvals: i64,
}

impl EnvironmentSummary {
    /// The task sets as last observed (of the latest deployment).
    pub fn task_sets(&self) -> &[TaskSetState] {
        self.latest.as_ref().map_or(&[], |d| &d.task_sets)
    }
}

impl App {
    /// Every live environment with what production serves, the latest
    /// deployment and pipeline run, and its pending approvals.
    pub async fn overview(&self, actor: &Actor) -> Result<Vec<EnvironmentSummary>> {
        let environments = self.list_environments(actor).await?;
        let db = self.store.reader();
        let mut runs: HashMap<i64, PipelineRunRow> =
            store::pipeline_runs::latest_per_environment(db)
                .await?
                .into_iter()
                .map(|r| (r.environment_id, r))
                .collect();
        let pending: HashMap<i64, i64> = store::views::pending_approvals_by_environment(db)
            .await?
            .into_iter()
            .collect();
        let mut summaries = Vec::with_capacity(environments.len());
        for environment in environments {
            let id = environment.id;
            summaries.push(
                self.summarize(
                    environment,
                    runs.remove(&id),
                    pending.get(&id).copied().unwrap_or(0),
                )
                .await?,
            );
        }
        Ok(summaries)
    }

    pub async fn environment_summary(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<EnvironmentSummary> {
        let environment = self.environment(actor, name).await?;
        let db = self.store.reader();
        let latest_run = store::pipeline_runs::page_for_environment(
            db,
            environment.id,
            PageRequest {
                before: None,
                limit: 1,
            },
        )
        .await?
        .items
        .into_iter()
        .next();
        let pending = store::views::pending_approvals_by_environment(db)
            .await?
            .into_iter()
            .find(|(id, _)| *id == environment.id)
            .map_or(0, |(_, count)| count);
        self.summarize(environment, latest_run, pending).await
    }

    async fn summarize(
        &self,
        environment: EnvironmentRow,
        latest_run: Option<PipelineRunRow>,
        pending_approvals: i64,
    ) -> Result<EnvironmentSummary> {
        let db = self.store.reader();
        let live = store::deployments::succeeded(db, environment.id, 5)
            .await?
            .into_iter()
            .find(|d| !d.rolled_back);
        let latest = store::deployments::for_environment(db, environment.id, 1)
            .await?
            .into_iter()
            .next();
        Ok(EnvironmentSummary {
            environment,
            live,
            latest,
            latest_run,
            pending_approvals,
        })
    }
}
