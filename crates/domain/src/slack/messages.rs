//! The messages switchyard posts to Slack about an approval.

use super::{APPROVE_ACTION, REJECT_ACTION};
use serde_json::{Value, json};

/// Where an approval stands, for the redrawn message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Approved,
    Rejected,
    Closed,
}

impl Outcome {
    /// The approval's stored state; anything unknown reads as closed.
    pub fn from_state(state: &str) -> Outcome {
        match state {
            "pending" => Outcome::Pending,
            "approved" => Outcome::Approved,
            "rejected" => Outcome::Rejected,
            _ => Outcome::Closed,
        }
    }
}

/// An approval and its votes, as the redrawn message tells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalStatus<'a> {
    pub approval_id: i64,
    pub environment: &'a str,
    pub required: i64,
    pub approvers: Vec<&'a str>,
    pub rejecters: Vec<&'a str>,
    pub outcome: Outcome,
    pub link: &'a str,
}

impl ApprovalStatus<'_> {
    /// "1 of 2 approvals: alice", or the outcome once decided.
    pub fn tally(&self) -> String {
        let approvers = self.approvers.join(", ");
        match self.outcome {
            Outcome::Pending if approvers.is_empty() => {
                format!("0 of {} approvals", self.required)
            }
            Outcome::Pending => format!(
                "{} of {} approvals: {approvers}",
                self.approvers.len(),
                self.required
            ),
            Outcome::Approved if approvers.is_empty() => "Approved".to_owned(),
            Outcome::Approved => format!("Approved by {approvers}"),
            Outcome::Rejected => format!("Rejected by {}", self.rejecters.join(", ")),
            Outcome::Closed => "Closed without a decision".to_owned(),
        }
    }
}

/// The actions block with Approve and Reject; each button's value is the
/// approval id, which the click sends back.
pub fn approval_buttons(approval_id: i64) -> Value {
    let button = |text: &str, style: &str, action_id: &str| {
        json!({
            "type": "button",
            "text": {"type": "plain_text", "text": text},
            "style": style,
            "action_id": action_id,
            "value": approval_id.to_string(),
        })
    };
    json!({
        "type": "actions",
        "block_id": format!("switchyard-approval-{approval_id}"),
        "elements": [
            button("Approve", "primary", APPROVE_ACTION),
            button("Reject", "danger", REJECT_ACTION),
        ],
    })
}

/// The message that replaces the original after a vote (posted to the
/// click's `response_url`): the tally, and the buttons while still pending.
pub fn redrawn_message(status: &ApprovalStatus<'_>) -> Value {
    let text = format!(
        "*{}*: approval {}: {}\n<{}|Open in switchyard>",
        escape(status.environment),
        status.approval_id,
        escape(&status.tally()),
        status.link
    );
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})];
    if status.outcome == Outcome::Pending {
        blocks.push(approval_buttons(status.approval_id));
    }
    json!({
        "replace_original": true,
        "text": format!("{}: {}", status.environment, status.tally()),
        "blocks": blocks,
    })
}

/// An answer only the clicking user sees, leaving the message as it is.
pub fn ephemeral(text: &str) -> Value {
    json!({"response_type": "ephemeral", "replace_original": false, "text": text})
}

/// Slack mrkdwn: &, < and > must be escaped in text.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
