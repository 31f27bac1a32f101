//! What the dashboard shows, read with the same authorization as the API:
//! the environments overview, one deployment with its planned and observed
//! traffic, pipeline runs, approvals with who may still vote, release
//! history with filters, and the DORA figures.

mod cache;
mod deploy_preview;
mod deployment;
mod dora;
mod history;
mod inbox;
mod overview;
mod run;

pub use cache::ViewCache;
pub use deploy_preview::{Candidate, DeployPreview, DeployRequest, Direction, TrafficPlan};
pub use deployment::{
    ChartWindow, DeploymentView, PlannedShift, measured_clock_ratio, planned_steps,
};
pub use dora::Dora;
pub use history::ReleaseHistory;
pub use inbox::{ApprovalStanding, Inbox, InboxItem, VoteRight};
pub use overview::EnvironmentSummary;
pub use run::{PipelineRunView, current_stage};

use super::Actor;
use switchyard_domain::user::Role;

/// The deployment actions an actor may take. The use cases in
/// `deployments.rs` refuse anyone else whatever a page shows; this only
/// decides which buttons to draw (`allowed_actions_match_the_use_cases`
/// checks the two agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedActions {
    /// Start a deployment: deploy, redeploy or roll back to a release.
    pub deploy: bool,
    /// Reroute traffic held in Ready; end the termination wait.
    pub continue_deployment: bool,
    pub roll_back_deployment: bool,
}

impl AllowedActions {
    pub fn of(actor: &Actor) -> AllowedActions {
        AllowedActions {
            deploy: actor.role.allows(Role::Deployer),
            continue_deployment: actor.role.allows(Role::Deployer),
            roll_back_deployment: actor.role.allows(Role::Deployer),
        }
    }
}

/// The pipeline actions an actor may take (buttons only; the use cases in
/// `pipelines.rs` refuse anyone else, `allowed_actions_match_the_use_cases`
/// checks the two agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineActions {
    pub start: bool,
    pub stop: bool,
    pub retry: bool,
}

impl PipelineActions {
    pub fn of(actor: &Actor) -> PipelineActions {
        let deployer = actor.role.allows(Role::Deployer);
        PipelineActions {
            start: deployer,
            stop: deployer,
            retry: deployer,
        }
    }
}

#[cfg(test)]
mod tests;
