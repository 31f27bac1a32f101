//! Approvals from Slack: which switchyard user a Slack account votes as
//! (linked by an admin), refusing a replayed interaction, voting through
//! the inbox's own use case, and redrawing the message with the tally.

use super::approvals::ApprovalView;
use super::auth::append_user_event;
use super::notifications::delivery_failure;
use super::{Actor, App, Error, Result};
use crate::store::{self, chat_identities};
use std::time::Duration;
use switchyard_domain::pipeline::Decision;
use switchyard_domain::slack::{self, ApprovalClick, ApprovalStatus, Outcome, TeamId, UserId};
use switchyard_domain::user::{Role, UserName};

/// How long a taken interaction's signature is remembered.
const DELIVERY_MEMORY_MILLIS: i64 = 10 * 60 * 1000;
const REDRAW_TIMEOUT: Duration = Duration::from_secs(5);
const REPLAYED: &str = "this Slack request was taken already (a replay)";

/// What a click on Approve or Reject came to.
#[derive(Debug)]
pub enum SlackVote {
    /// The vote was taken; the message is redrawn with this.
    Taken(Box<ApprovalView>),
    /// Nothing changed; the clicking user is told why.
    Refused(String),
}

impl App {
    /// An admin links a user's Slack account through the API.
    pub async fn link_slack_account(
        &self,
        actor: &Actor,
        name: &UserName,
        team: &TeamId,
        user: &UserId,
    ) -> Result<()> {
        actor.require(Role::Admin, "linking Slack accounts")?;
        self.link_slack(Some(actor), name, team, user).await
    }

    /// `switchyard user link-slack`, as whoever can write the data dir.
    pub async fn link_slack_account_locally(
        &self,
        name: &UserName,
        team: &TeamId,
        user: &UserId,
    ) -> Result<()> {
        self.link_slack(None, name, team, user).await
    }

    /// Whether an account was linked (unlinking none is no error).
    pub async fn unlink_slack_account(&self, actor: &Actor, name: &UserName) -> Result<bool> {
        actor.require(Role::Admin, "unlinking Slack accounts")?;
        self.unlink_slack(Some(actor), name).await
    }

    /// `switchyard user unlink-slack`.
    pub async fn unlink_slack_account_locally(&self, name: &UserName) -> Result<bool> {
        self.unlink_slack(None, name).await
    }

    async fn link_slack(
        &self,
        by: Option<&Actor>,
        name: &UserName,
        team: &TeamId,
        user: &UserId,
    ) -> Result<()> {
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        let target = find_user(&mut tx, name).await?;
        chat_identities::link(&mut *tx, target.id, team.as_str(), user.as_str(), now)
            .await
            .map_err(|e| {
                if store::is_unique_violation(&e) {
                    Error::Conflict(format!(
                        "the Slack account {}/{} is linked to another user already; \
                         unlink it there first",
                        team.as_str(),
                        user.as_str()
                    ))
                } else {
                    e.into()
                }
            })?;
        let detail = serde_json::json!({
            "user": name.as_str(), "team_id": team.as_str(), "user_id": user.as_str(),
        });
        append_user_event(&mut tx, by, "user.slack_linked", detail, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unlink_slack(&self, by: Option<&Actor>, name: &UserName) -> Result<bool> {
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        let target = find_user(&mut tx, name).await?;
        // Nothing linked: nothing to change or record.
        let Some(removed) = chat_identities::unlink(&mut *tx, target.id).await? else {
            return Ok(false);
        };
        let detail = serde_json::json!({
            "user": name.as_str(), "team_id": removed.slack_team_id,
            "user_id": removed.slack_user_id,
        });
        append_user_event(&mut tx, by, "user.slack_unlinked", detail, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Remembers a signed interaction by its signature; a second one with
    /// the same signature is a replay (401).
    pub async fn accept_slack_delivery(&self, signature_hex: &str) -> Result<()> {
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        let fresh = chat_identities::record_delivery(
            &mut tx,
            signature_hex,
            now,
            now - DELIVERY_MEMORY_MILLIS,
        )
        .await?;
        if !fresh {
            return Err(Error::Unauthenticated(REPLAYED));
        }
        tx.commit().await?;
        Ok(())
    }

    /// A click on Approve or Reject: the linked user votes through
    /// [`App::decide_approval_via`], so roles, N-of-M and the author rule
    /// apply as in the inbox. What the user may not do changes nothing and
    /// comes back as [`SlackVote::Refused`].
    pub async fn vote_from_slack(&self, click: &ApprovalClick) -> Result<SlackVote> {
        let (team, user) = (click.team_id.as_str(), click.user_id.as_str());
        let Some(row) = chat_identities::user_of(self.store.reader(), team, user).await? else {
            return Ok(SlackVote::Refused(format!(
                "Your Slack account ({team}/{user}) is not linked to a switchyard user; \
                 an admin can link it with `switchyard user link-slack NAME --team {team} \
                 --user {user}`."
            )));
        };
        let actor = Actor::from_row(row)?;
        let comment = match click.decision {
            Decision::Approve => String::new(),
            Decision::Reject => format!("rejected from Slack by {}", actor.name),
        };
        let voted = self
            .decide_approval_via(
                &actor,
                click.approval_id,
                click.decision,
                &comment,
                Some("slack"),
            )
            .await;
        match voted {
            Ok(view) => Ok(SlackVote::Taken(Box::new(view))),
            Err(
                e @ (Error::Forbidden { .. }
                | Error::Refused(_)
                | Error::Conflict(_)
                | Error::NotFound(_)),
            ) => Ok(SlackVote::Refused(e.to_string())),
            Err(e) => Err(e),
        }
    }

    /// Replaces the clicked message with the tally. Best effort: the vote
    /// stands whatever the response_url answers.
    pub async fn redraw_slack_message(&self, response_url: &url::Url, view: &ApprovalView) {
        let link = self.link(&format!("/approvals/{}", view.approval.id));
        let message = slack::redrawn_message(&status_of(view, &link));
        let sent = self
            .http
            .post(response_url.as_str())
            .timeout(REDRAW_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(message.to_string())
            .send()
            .await
            .and_then(|r| r.error_for_status());
        if let Err(e) = sent {
            tracing::warn!(approval = view.approval.id, error = %delivery_failure(&e),
                "could not redraw the Slack message with the tally");
        }
    }
}

async fn find_user(tx: &mut store::Tx, name: &UserName) -> Result<store::users::UserRow> {
    store::users::find_by_name(&mut **tx, name.as_str())
        .await?
        .ok_or_else(|| Error::NotFound(format!("no user named {name}")))
}

fn status_of<'a>(view: &'a ApprovalView, link: &'a str) -> ApprovalStatus<'a> {
    let voters = |decision: Decision| {
        view.votes
            .iter()
            .filter(|v| v.decision == decision.as_str())
            .map(|v| v.voter.as_str())
            .collect()
    };
    ApprovalStatus {
        approval_id: view.approval.id,
        environment: &view.approval.environment,
        required: view.approval.required,
        approvers: voters(Decision::Approve),
        rejecters: voters(Decision::Reject),
        outcome: Outcome::from_state(&view.approval.state),
        link,
    }
}
