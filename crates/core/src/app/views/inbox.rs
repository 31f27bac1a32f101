//! The approvals inbox, and how one approval stands for one viewer: its
//! votes, who may still vote and whether the viewer may.

use crate::app::approvals::ApprovalView;
use crate::app::{Actor, App, Result};
use crate::store::pipeline_runs::PipelineRunRow;
use crate::store::{self, deployments::DeploymentRow};
use switchyard_domain::pipeline::VoteRefused;
use switchyard_domain::user::Role;

/// Whether the viewer may vote on an approval, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteRight {
    May,
    /// Decided or closed: no more votes.
    Closed,
    /// Voting needs the approver role.
    NeedsRole(Role),
    AlreadyVoted,
    /// The policy refuses this voter (the release's author).
    Refused(String),
}

/// An approval as one viewer sees it: its votes, who may still vote and
/// whether the viewer may. The rules are the ones `decide_approval`
/// enforces (`vote_rights_match_decide_approval` checks they agree).
#[derive(Debug, Clone)]
pub struct ApprovalStanding {
    pub view: ApprovalView,
    /// Approvals still needed (0 once decided).
    pub remaining: u8,
    /// Approvers who may still vote, by name.
    pub may_still_vote: Vec<String>,
    pub viewer: VoteRight,
}

impl ApprovalStanding {
    pub(super) fn new(actor: &Actor, view: ApprovalView, approvers: &[String]) -> ApprovalStanding {
        let pending = view.approval.state == "pending";
        let may_still_vote = if pending {
            approvers
                .iter()
                .filter(|name| view.may_vote(name))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let voters: Vec<&str> = view.votes.iter().map(|v| v.voter.as_str()).collect();
        let viewer = if !pending {
            VoteRight::Closed
        } else if !actor.role.allows(Role::Approver) {
            VoteRight::NeedsRole(actor.role)
        } else {
            match view
                .policy()
                .may_vote(&view.approval.author, &actor.name, &voters)
            {
                Ok(()) => VoteRight::May,
                Err(VoteRefused::AlreadyVoted) => VoteRight::AlreadyVoted,
                Err(refused @ VoteRefused::SelfApproval { .. }) => {
                    VoteRight::Refused(refused.to_string())
                }
            }
        };
        ApprovalStanding {
            remaining: view.remaining(),
            may_still_vote,
            viewer,
            view,
        }
    }
}

/// One approval in the inbox, with what it holds up.
#[derive(Debug, Clone)]
pub struct InboxItem {
    pub standing: ApprovalStanding,
    pub run: Option<PipelineRunRow>,
    pub deployment: Option<DeploymentRow>,
}

/// The approvals inbox of one viewer.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    /// Pending, and the viewer may vote.
    pub yours: Vec<InboxItem>,
    /// Pending, but not the viewer's to decide (and why).
    pub others: Vec<InboxItem>,
    /// The latest decided or closed ones.
    pub decided: Vec<InboxItem>,
}

impl App {
    /// Pending approvals split by whether `actor` may vote on them, and the
    /// latest decided ones.
    pub async fn approvals_inbox(&self, actor: &Actor) -> Result<Inbox> {
        const DECIDED: usize = 15;
        let pending = self.approvals(actor, Some("pending"), false).await?;
        let db = self.store.reader();
        let mut decided = Vec::new();
        for approval in store::approvals::list(db, None, 60).await? {
            if approval.state == "pending" {
                continue;
            }
            if decided.len() == DECIDED {
                break;
            }
            let votes = store::approvals::votes(db, approval.id).await?;
            decided.push(ApprovalView { approval, votes });
        }
        let approvers = store::views::approvers(db).await?;
        let mut inbox = Inbox::default();
        for (view, closed) in pending
            .into_iter()
            .map(|v| (v, false))
            .chain(decided.into_iter().map(|v| (v, true)))
        {
            let run = match view.approval.pipeline_run_id {
                Some(id) => store::pipeline_runs::find(db, id).await?,
                None => None,
            };
            let deployment = match view.approval.deployment_id {
                Some(id) => store::deployments::find(db, id).await?,
                None => None,
            };
            let item = InboxItem {
                standing: ApprovalStanding::new(actor, view, &approvers),
                run,
                deployment,
            };
            if closed {
                inbox.decided.push(item);
            } else if item.standing.viewer == VoteRight::May {
                inbox.yours.push(item);
            } else {
                inbox.others.push(item);
            }
        }
        Ok(inbox)
    }

    /// Where an approval is decided: its run's page or its deployment's.
    pub async fn approval_target(&self, actor: &Actor, id: i64) -> Result<String> {
        let view = self.approval(actor, id).await?;
        let a = &view.approval;
        Ok(match (a.pipeline_run_id, a.deployment_id) {
            (Some(run), _) => format!("/pipeline-runs/{run}#approval-{id}"),
            (None, Some(deployment)) => format!("/deployments/{deployment}#approval-{id}"),
            (None, None) => "/approvals".to_owned(),
        })
    }
}
