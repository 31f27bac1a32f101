//! Team release approvals: opened when a run reaches its manual approval
//! action or a deployment waits in Ready; decided by votes; handed to the
//! cloud (PutApprovalResult, or ContinueDeployment / StopDeployment).

use super::freeze::FreezeView;
use super::{Actor, App, Error, Result, detail};
use crate::cloud::deployments as cloud_deployments;
use crate::cloud::pipelines::{self as cloud_pipelines, PendingApproval};
use crate::cloud::service_deployments as cloud_service_deployments;
use crate::store::{
    self,
    approvals::{ApprovalRow, NewApproval, VoteRow},
    deployments::DeploymentRow,
    environments::EnvironmentRow,
    events::NewEvent,
    pipeline_runs::PipelineRunRow,
    release_policies::ReleasePolicyRow,
};
use serde_json::json;
use switchyard_domain::pipeline::{ApprovalPolicy, Decision, Tally, VoteRefused};
use switchyard_domain::service_deployment::TimeoutAction;
use switchyard_domain::service_deployment::progress::HookState;
use switchyard_domain::user::Role;

/// How `apply_error` starts while an approval is held by a freeze.
pub const HELD_PREFIX: &str = "held: ";

/// An approval with its votes.
#[derive(Debug, Clone)]
pub struct ApprovalView {
    pub approval: ApprovalRow,
    pub votes: Vec<VoteRow>,
}

impl ApprovalView {
    pub fn policy(&self) -> ApprovalPolicy {
        ApprovalPolicy {
            required: self.approval.required.clamp(0, 20) as u8,
            allow_self_approval: self.approval.allow_self_approval,
        }
    }

    /// Approvals still needed (0 once decided).
    pub fn remaining(&self) -> u8 {
        match self.policy().tally(&self.decisions()) {
            Tally::Pending { remaining } => remaining,
            _ => 0,
        }
    }

    fn decisions(&self) -> Vec<Decision> {
        self.votes
            .iter()
            .filter_map(|v| Decision::parse(&v.decision).ok())
            .collect()
    }

    /// Whether `actor` may vote now: the approver role, and what
    /// [`ApprovalView::may_vote`] checks.
    pub fn votable_by(&self, actor: &Actor) -> bool {
        actor.role.allows(Role::Approver) && self.may_vote(&actor.name)
    }

    /// Whether `user` may still vote (for showing the buttons).
    pub fn may_vote(&self, user: &str) -> bool {
        let voters: Vec<&str> = self.votes.iter().map(|v| v.voter.as_str()).collect();
        self.approval.state == "pending"
            && self
                .policy()
                .may_vote(&self.approval.author, user, &voters)
                .is_ok()
    }
}

/// Opens the approval of a pending approval action; with a policy of 0
/// approvers it is approved at once. Returns the id and whether it is
/// decided already, or `None` if it was open already.
pub(crate) async fn open_for_run(
    tx: &mut sqlx::SqliteConnection,
    run: &PipelineRunRow,
    pending: &PendingApproval,
    policy: &ReleasePolicyRow,
    now: i64,
) -> Result<Option<(i64, bool)>> {
    let opened = store::approvals::open(
        &mut *tx,
        &NewApproval {
            environment_id: run.environment_id,
            pipeline_run_id: Some(run.id),
            stage_name: Some(&pending.stage),
            action_name: Some(&pending.action),
            token: Some(&pending.token),
            author: &run.author,
            required: policy.approvals_required,
            allow_self_approval: policy.allow_self_approval,
            now,
            ..Default::default()
        },
    )
    .await?;
    decide_by_policy(tx, opened, run.environment_id, policy, now).await
}

/// Opens the approval of a deployment held in Ready.
pub(crate) async fn open_for_deployment(
    tx: &mut sqlx::SqliteConnection,
    d: &DeploymentRow,
    policy: &ReleasePolicyRow,
    now: i64,
) -> Result<Option<(i64, bool)>> {
    let opened = store::approvals::open(
        &mut *tx,
        &NewApproval {
            environment_id: d.environment_id,
            deployment_id: Some(d.id),
            author: &d.created_by,
            required: policy.approvals_required,
            allow_self_approval: policy.allow_self_approval,
            now,
            ..Default::default()
        },
    )
    .await?;
    decide_by_policy(tx, opened, d.environment_id, policy, now).await
}

/// Opens the approval of the PAUSE gate `hook` holds a deployment at (ECS's
/// controller): the hook id is its token, its timeout shown to approvers.
/// `None` if it was open already.
pub(crate) async fn open_for_gate(
    tx: &mut sqlx::SqliteConnection,
    d: &DeploymentRow,
    hook: &HookState,
    stage: Option<&str>,
    policy: &ReleasePolicyRow,
    now: i64,
) -> Result<Option<i64>> {
    Ok(store::approvals::open(
        &mut *tx,
        &NewApproval {
            environment_id: d.environment_id,
            deployment_id: Some(d.id),
            stage_name: stage,
            token: Some(&hook.hook_id),
            author: &d.created_by,
            required: policy.approvals_required,
            allow_self_approval: policy.allow_self_approval,
            expires_at: hook.expires_at,
            timeout_action: hook.timeout_action,
            now,
            ..Default::default()
        },
    )
    .await?)
}

async fn decide_by_policy(
    tx: &mut sqlx::SqliteConnection,
    opened: Option<i64>,
    environment_id: i64,
    policy: &ReleasePolicyRow,
    now: i64,
) -> Result<Option<(i64, bool)>> {
    let Some(id) = opened else { return Ok(None) };
    if policy.approvals_required > 0 {
        return Ok(Some((id, false)));
    }
    store::approvals::decide(&mut *tx, id, "approved", now).await?;
    store::events::append(
        &mut *tx,
        &NewEvent {
            environment_id: Some(environment_id),
            deployment_id: None,
            actor: "switchyard",
            kind: "approval.approved",
            detail: detail(
                json!({"approval_id": id, "reason": "the approval policy requires no approvers"}),
            ),
            created_at: now,
        },
    )
    .await?;
    Ok(Some((id, true)))
}

impl App {
    /// Approvals, newest first; `state` filters (pending, approved, rejected,
    /// closed; all or `None` for every state). `votable_only` keeps those
    /// `actor` may vote on now, which are pending ones.
    pub async fn approvals(
        &self,
        actor: &Actor,
        state: Option<&str>,
        votable_only: bool,
    ) -> Result<Vec<ApprovalView>> {
        actor.require(Role::Viewer, "reading approvals")?;
        let state = match state {
            None | Some("all") => None,
            Some(state @ ("pending" | "approved" | "rejected" | "closed")) => Some(state),
            Some(other) => {
                return Err(Error::Invalid(switchyard_domain::FieldError {
                    field: "state".into(),
                    message: format!(
                        "unknown state {other:?}: expected pending, approved, rejected, closed \
                         or all"
                    ),
                }));
            }
        };
        let state = if votable_only { Some("pending") } else { state };
        let rows = store::approvals::list(self.store.reader(), state, 200).await?;
        let mut views = Vec::with_capacity(rows.len());
        for approval in rows {
            let votes = store::approvals::votes(self.store.reader(), approval.id).await?;
            let view = ApprovalView { approval, votes };
            if !votable_only || view.votable_by(actor) {
                views.push(view);
            }
        }
        Ok(views)
    }

    pub async fn approval(&self, actor: &Actor, id: i64) -> Result<ApprovalView> {
        actor.require(Role::Viewer, "reading approvals")?;
        self.find_approval(id).await
    }

    async fn find_approval(&self, id: i64) -> Result<ApprovalView> {
        let approval = store::approvals::find(self.store.reader(), id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no approval {id}")))?;
        let votes = store::approvals::votes(self.store.reader(), id).await?;
        Ok(ApprovalView { approval, votes })
    }

    pub async fn pipeline_run_approvals(&self, run_id: i64) -> Result<Vec<ApprovalView>> {
        let rows = store::approvals::for_pipeline_run(self.store.reader(), run_id).await?;
        let mut views = Vec::with_capacity(rows.len());
        for approval in rows {
            let votes = store::approvals::votes(self.store.reader(), approval.id).await?;
            views.push(ApprovalView { approval, votes });
        }
        Ok(views)
    }

    pub async fn deployment_approval(&self, deployment_id: i64) -> Result<Option<ApprovalView>> {
        match store::approvals::for_deployment(self.store.reader(), deployment_id).await? {
            Some(approval) => {
                let votes = store::approvals::votes(self.store.reader(), approval.id).await?;
                Ok(Some(ApprovalView { approval, votes }))
            }
            None => Ok(None),
        }
    }

    /// One user's vote. A rejection rejects at once; the required number
    /// of approvals approves. The decision then goes to the cloud.
    pub async fn decide_approval(
        &self,
        actor: &Actor,
        id: i64,
        decision: Decision,
        comment: &str,
    ) -> Result<ApprovalView> {
        self.decide_approval_via(actor, id, decision, comment, None)
            .await
    }

    /// [`App::decide_approval`], with the channel the vote came through
    /// (`slack`) recorded in its audit events.
    pub async fn decide_approval_via(
        &self,
        actor: &Actor,
        id: i64,
        decision: Decision,
        comment: &str,
        via: Option<&str>,
    ) -> Result<ApprovalView> {
        actor.require(Role::Approver, "voting on approvals")?;
        if comment.chars().count() > 2000 || comment.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Error::Invalid(switchyard_domain::FieldError {
                field: "comment".into(),
                message: "a comment must be at most 2000 characters, without control characters"
                    .into(),
            }));
        }
        let view = self.find_approval(id).await?;
        if view.approval.state != "pending" {
            return Err(Error::Conflict(format!(
                "approval {id} is already {}; votes are closed",
                view.approval.state
            )));
        }
        let voters: Vec<&str> = view.votes.iter().map(|v| v.voter.as_str()).collect();
        match view
            .policy()
            .may_vote(&view.approval.author, &actor.name, &voters)
        {
            Ok(()) => {}
            Err(refused @ VoteRefused::SelfApproval { .. }) => {
                return Err(Error::Refused(refused.to_string()));
            }
            Err(VoteRefused::AlreadyVoted) => {
                return Err(Error::Conflict(format!(
                    "{} has already voted on approval {id}",
                    actor.name
                )));
            }
        }
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        // Read again inside the transaction: another vote may have closed it.
        let current = store::approvals::find(&mut *tx, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no approval {id}")))?;
        if current.state != "pending" {
            return Err(Error::Conflict(format!(
                "approval {id} is already {}; votes are closed",
                current.state
            )));
        }
        if !store::approvals::add_vote(&mut *tx, id, &actor.name, decision.as_str(), comment, now)
            .await?
        {
            return Err(Error::Conflict(format!(
                "{} has already voted on approval {id}",
                actor.name
            )));
        }
        let votes = store::approvals::votes(&mut *tx, id).await?;
        let decisions: Vec<Decision> = votes
            .iter()
            .filter_map(|v| Decision::parse(&v.decision).ok())
            .collect();
        let tally = view.policy().tally(&decisions);
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(current.environment_id),
                deployment_id: current.deployment_id,
                actor: &actor.name,
                kind: "approval.vote",
                detail: detail(with_via(
                    json!({
                        "approval_id": id, "decision": decision.as_str(), "comment": comment,
                        "pipeline_run_id": current.pipeline_run_id,
                    }),
                    via,
                )),
                created_at: now,
            },
        )
        .await?;
        let decided = match tally {
            Tally::Pending { .. } => None,
            Tally::Approved => Some("approved"),
            Tally::Rejected => Some("rejected"),
        };
        if let Some(state) = decided {
            store::approvals::decide(&mut *tx, id, state, now).await?;
            store::events::append(
                &mut *tx,
                &NewEvent {
                    environment_id: Some(current.environment_id),
                    deployment_id: current.deployment_id,
                    actor: &actor.name,
                    kind: if state == "approved" {
                        "approval.approved"
                    } else {
                        "approval.rejected"
                    },
                    detail: detail(with_via(
                        json!({
                            "approval_id": id, "votes": votes.len(),
                            "pipeline_run_id": current.pipeline_run_id,
                        }),
                        via,
                    )),
                    created_at: now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        self.changed();
        self.wake_followers(&current);
        if decided.is_some() {
            // The team's decision stands even if the cloud does not take it
            // now; the tracker hands it over again until it does.
            if let Err(e) = self.apply_approval(id).await {
                tracing::warn!(approval = id, error = %e, "the cloud did not take the decision yet; will retry");
            }
        }
        self.find_approval(id).await
    }

    /// Hands a decided approval to the cloud; records when it was taken.
    pub async fn apply_approval(&self, id: i64) -> Result<()> {
        let view = self.find_approval(id).await?;
        let a = &view.approval;
        let approved = match a.state.as_str() {
            "approved" => true,
            "rejected" => false,
            _ => return Ok(()),
        };
        if a.applied_at.is_some() {
            return Ok(());
        }
        let env = store::environments::find_by_name(self.store.reader(), &a.environment)
            .await?
            .ok_or_else(|| Error::NotFound(format!("environment {} was deleted", a.environment)))?;
        // An approval lets a run's Deploy stage go: held while frozen.
        if approved
            && a.pipeline_run_id.is_some()
            && let Some(freeze) = env.freeze_now()?
        {
            return self.hold_approval(a, &env, &freeze).await;
        }
        let cloud = self.cloud_for(&env).await?;
        let summary = summary_of(&view, approved);
        let outcome = if let Some(run_id) = a.pipeline_run_id {
            let run = self.find_run(run_id).await?;
            let pending = PendingApproval {
                stage: a.stage_name.clone().unwrap_or_default(),
                action: a.action_name.clone().unwrap_or_default(),
                token: a.token.clone().unwrap_or_default(),
            };
            cloud_pipelines::put_approval_result(
                &cloud,
                &run.pipeline,
                &pending,
                approved,
                &summary,
            )
            .await
        } else {
            let d =
                store::deployments::find(self.store.reader(), a.deployment_id.unwrap_or_default())
                    .await?
                    .ok_or_else(|| {
                        Error::NotFound(format!("the deployment of approval {id} is gone"))
                    })?;
            match (&d.service_deployment_arn, a.hook_id()) {
                // A PAUSE gate: the deciding vote continues, a rejection rolls back.
                (Some(arn), Some(hook_id)) => {
                    let action = if approved {
                        TimeoutAction::Continue
                    } else {
                        TimeoutAction::Rollback
                    };
                    cloud_service_deployments::continue_hook(&cloud, arn, hook_id, action).await
                }
                _ => {
                    let codedeploy_id = d.codedeploy_id.as_deref().unwrap_or_default();
                    if approved {
                        cloud_deployments::continue_deployment(
                            &cloud,
                            codedeploy_id,
                            aws_sdk_codedeploy::types::DeploymentWaitType::ReadyWait,
                        )
                        .await
                    } else {
                        cloud_deployments::stop_with_rollback(&cloud, codedeploy_id).await
                    }
                }
            }
        };
        let now = store::now_millis();
        let (applied_at, error, result) = match outcome {
            Ok(()) => (Some(now), None, Ok(())),
            // The cloud moved on (the action finished, the deployment left
            // Ready): nothing left to hand over.
            Err(e)
                if matches!(
                    e.code.as_deref(),
                    Some(
                        "ApprovalAlreadyCompletedException"
                            | "InvalidApprovalTokenException"
                            | "DeploymentAlreadyCompletedException"
                            | "DeploymentIsNotInReadyStateException"
                            // ECS: the hook no longer waits (it timed out, or
                            // the deployment was stopped), or the deployment ended.
                            | "InvalidParameterException"
                            | "ServiceDeploymentNotFoundException"
                            | "ConflictException"
                    )
                ) =>
            {
                (Some(now), Some(e.message.clone()), Ok(()))
            }
            Err(e) => (None, Some(e.message.clone()), Err(Error::from(e))),
        };
        let mut tx = self.store.begin().await?;
        store::approvals::set_applied(&mut *tx, id, applied_at, error.as_deref()).await?;
        if applied_at.is_some() {
            store::events::append(
                &mut *tx,
                &NewEvent {
                    environment_id: Some(a.environment_id),
                    deployment_id: a.deployment_id,
                    actor: "switchyard",
                    kind: "approval.applied",
                    detail: detail(json!({
                        "approval_id": id, "approved": approved, "note": error,
                        "pipeline_run_id": a.pipeline_run_id,
                    })),
                    created_at: now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        self.changed();
        self.wake_followers(a);
        result
    }

    /// Keeps an approval from the cloud while its environment is frozen,
    /// saying so once per freeze; the tracker's retries send it afterwards.
    async fn hold_approval(
        &self,
        a: &ApprovalRow,
        env: &EnvironmentRow,
        freeze: &FreezeView,
    ) -> Result<()> {
        let held = format!(
            "{HELD_PREFIX}frozen until {} ({}): {}",
            freeze.until_text(),
            freeze.until_local,
            freeze.reason
        );
        if a.apply_error.as_deref() == Some(held.as_str()) {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        store::approvals::set_applied(&mut *tx, a.id, None, Some(&held)).await?;
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(env.id),
                deployment_id: None,
                actor: "switchyard",
                kind: "approval.held",
                detail: detail(json!({
                    "approval_id": a.id, "pipeline_run_id": a.pipeline_run_id,
                    "until": freeze.until_text(), "reason": freeze.reason,
                })),
                created_at: store::now_millis(),
            },
        )
        .await?;
        tx.commit().await?;
        self.changed();
        self.wake_followers(a);
        Ok(())
    }

    /// Wakes the live streams of what the approval belongs to.
    fn wake_followers(&self, a: &ApprovalRow) {
        if let Some(run_id) = a.pipeline_run_id {
            let _ = self.run_changes.send(super::pipelines::RunChanged {
                run_id,
                event_id: 0,
            });
        }
        if let Some(deployment_id) = a.deployment_id {
            let _ = self
                .deployment_changes
                .send(super::deployments::DeploymentChanged {
                    deployment_id,
                    event_id: 0,
                });
        }
    }

    /// Decided approvals the cloud has not taken yet (the tracker retries them).
    pub async fn unapplied_approvals(&self) -> Result<Vec<i64>> {
        Ok(store::approvals::unapplied(self.store.reader())
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect())
    }
}

/// An event's detail with the channel a vote came through, when not the
/// API or the dashboard.
fn with_via(mut detail: serde_json::Value, via: Option<&str>) -> serde_json::Value {
    if let Some(via) = via {
        detail["via"] = via.into();
    }
    detail
}

fn summary_of(view: &ApprovalView, approved: bool) -> String {
    let verdict = if approved { "Approved" } else { "Rejected" };
    let votes: Vec<String> = view
        .votes
        .iter()
        .map(|v| {
            if v.comment.is_empty() {
                format!("{} ({})", v.voter, v.decision)
            } else {
                format!("{} ({}: {})", v.voter, v.decision, v.comment)
            }
        })
        .collect();
    if votes.is_empty() {
        format!("{verdict} by policy in switchyard")
    } else {
        format!("{verdict} in switchyard by {}", votes.join(", "))
    }
}
