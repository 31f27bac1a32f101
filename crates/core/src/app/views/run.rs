//! One pipeline run as its page shows it: stages, approvals, deployment.

use super::*;
use crate::app::{Actor, App, Result};
use crate::cloud::pipelines::{StageState, StageStatus};
use crate::store::pipeline_runs::PipelineRunRow;
use crate::store::{self, deployments::DeploymentRow};
use switchyard_domain::user::Role;

/// A pipeline run with what its page shows.
#[derive(Debug, Clone)]
pub struct PipelineRunView {
    /// The run, with its stages as last observed.
    pub run: PipelineRunRow,
    pub finished: bool,
    /// Its approvals, oldest first.
    pub approvals: Vec<ApprovalStanding>,
    /// The deployment its Deploy action started.
    pub deployment: Option<DeploymentRow>,
    /// The newest event this state includes (read before the state).
    pub last_event_id: i64,
}

/// The stage a run is at: the one in progress, else the last one that
/// started (the one it failed or stopped in, or the last that succeeded).
pub fn current_stage(stages: &[StageState]) -> Option<&StageState> {
    stages.iter().find(|s| s.status.is_active()).or_else(|| {
        stages
            .iter()
            .rev()
            .find(|s| s.status != StageStatus::NotStarted)
    })
}

impl App {
    /// A pipeline run with its stages, approvals and deployment.
    pub async fn pipeline_run_view(&self, actor: &Actor, id: i64) -> Result<PipelineRunView> {
        actor.require(Role::Viewer, "reading pipeline runs")?;
        let db = self.store.reader();
        let last_event_id = store::views::last_run_event_id(db, id).await?;
        let run = self.pipeline_run(actor, id).await?;
        let finished = run.status.is_terminal();
        let views = self.pipeline_run_approvals(id).await?;
        let approvers = if views.is_empty() {
            Vec::new()
        } else {
            store::views::approvers(db).await?
        };
        let approvals = views
            .into_iter()
            .map(|v| ApprovalStanding::new(actor, v, &approvers))
            .collect();
        let deployment = match run.deployment_id {
            Some(d) => store::deployments::find(db, d).await?,
            None => None,
        };
        Ok(PipelineRunView {
            run,
            finished,
            approvals,
            deployment,
            last_event_id,
        })
    }
}
