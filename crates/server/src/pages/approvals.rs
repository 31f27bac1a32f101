//! Release approvals on the dashboard: the panel a pipeline run page and a
//! deployment page show (votes, who may still vote, approve / reject with a
//! comment), the inbox at `/approvals`, and the vote form's handler. The
//! app layer decides who may vote ([`VoteRight`]); this only draws it, and
//! `decide_approval` refuses anyone else whatever a page shows.

use super::csrf::SessionForm;
use super::diff::{DiffView, diff_of};
use super::format::{When, short_commit};
use super::sessions::{SignedIn, safe_next};
use super::{Chrome, PageError, html, see_other};
use crate::AppState;
use crate::api::approvals::parse_vote;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchyard_core::app::Actor;
use switchyard_core::app::approvals::HELD_PREFIX;
use switchyard_core::app::diffs::Candidate;
use switchyard_core::app::views::{ApprovalStanding, InboxItem, VoteRight};
use switchyard_core::store;

pub struct Vote {
    pub user: String,
    /// "approved" or "rejected".
    pub decision: String,
    pub comment: String,
    pub when: When,
}

/// What an approval holds up, where the panel is shown away from it (the inbox).
pub struct Subject {
    pub environment: String,
    /// "Pipeline run #7 · Approval / Approve" or "Deployment #12 · v2".
    pub title: String,
    pub href: String,
    pub detail: String,
}

pub struct ApprovalPanel {
    pub id: i64,
    pub subject: Option<Subject>,
    /// Where the vote form posts.
    pub action: String,
    pub csrf: String,
    /// Where the form's answer leads back to.
    pub back: String,
    /// "pending", "approved", "rejected" or "closed".
    pub status: String,
    pub status_class: &'static str,
    /// Whose release it is.
    pub author: String,
    pub required: i64,
    pub requested: When,
    pub votes: Vec<Vote>,
    /// Approvals still needed.
    pub needed: u32,
    pub may_still_vote: Vec<String>,
    /// Whether this viewer may vote now (no buttons otherwise).
    pub can_vote: bool,
    /// Why this viewer may not vote, while it is pending.
    pub reason: Option<String>,
    /// What became of the decision in the cloud.
    pub outcome: Option<String>,
    /// A PAUSE gate's stage, its timeout and what ECS does then.
    pub gate: Option<GateView>,
    /// What a pending approval would change against what is live (the
    /// inbox, and a pipeline run's page).
    pub diff: Option<DiffView>,
}

pub struct GateView {
    pub stage: String,
    pub expires: Option<When>,
    pub timeout_action: String,
}

/// A CSS class for an approval's state.
pub fn state_class(state: &str) -> &'static str {
    match state {
        "approved" => "good",
        "rejected" => "bad",
        "pending" => "wait",
        _ => "todo",
    }
}

pub fn panel(standing: &ApprovalStanding, csrf: &str, back: &str, now: i64) -> ApprovalPanel {
    let a = &standing.view.approval;
    let reason = match &standing.viewer {
        VoteRight::May | VoteRight::Closed => None,
        VoteRight::NeedsRole(role) => Some(format!(
            "Voting needs the approver role; you are {}.",
            role.as_str()
        )),
        VoteRight::AlreadyVoted => Some("You have voted on this approval.".to_owned()),
        VoteRight::Refused(why) => Some(format!("You cannot approve this one: {why}.")),
    };
    let outcome = match (a.state.as_str(), a.applied_at, &a.apply_error) {
        ("pending", ..) => None,
        ("closed", ..) => Some(
            "Closed without a decision: the run or deployment moved on (the audit trail says why)."
                .into(),
        ),
        (_, Some(_), None) => Some("The decision was handed to the cloud.".into()),
        (_, Some(_), Some(note)) => Some(format!("The cloud had moved on: {note}")),
        (_, None, Some(held)) if held.starts_with(HELD_PREFIX) => Some(format!(
            "Held ({}); it goes to the cloud when the freeze ends.",
            &held[HELD_PREFIX.len()..]
        )),
        (_, None, Some(error)) => Some(format!(
            "Not taken by the cloud yet ({error}); switchyard keeps retrying."
        )),
        (_, None, None) => Some("Handing the decision to the cloud…".into()),
    };
    ApprovalPanel {
        id: a.id,
        subject: None,
        action: format!("/approvals/{}/vote", a.id),
        csrf: csrf.to_owned(),
        back: back.to_owned(),
        status: a.state.clone(),
        status_class: state_class(&a.state),
        author: a.author.clone(),
        required: a.required,
        requested: When::at(a.created_at, now),
        votes: standing
            .view
            .votes
            .iter()
            .map(|v| Vote {
                user: v.voter.clone(),
                decision: if v.decision == "approve" {
                    "approved".into()
                } else {
                    "rejected".into()
                },
                comment: v.comment.clone(),
                when: When::at(v.created_at, now),
            })
            .collect(),
        needed: u32::from(standing.remaining),
        gate: a.hook_id().map(|_| GateView {
            stage: a
                .stage_name
                .clone()
                .unwrap_or_else(|| "a lifecycle hook".into()),
            expires: a.expires_at.map(|at| When::at(at, now)),
            timeout_action: a
                .timeout_action
                .map_or_else(|| "its timeout action".into(), |t| t.to_string()),
        }),
        may_still_vote: standing.may_still_vote.clone(),
        can_vote: standing.viewer == VoteRight::May,
        reason,
        outcome,
        diff: None,
    }
}

/// An approval as the inbox shows it: with what it holds up.
fn entry(item: &InboxItem, csrf: &str, now: i64) -> ApprovalPanel {
    let a = &item.standing.view.approval;
    let (title, href, detail) = match (&item.run, &item.deployment) {
        (Some(run), _) => {
            let commit = run.commit_sha.as_deref().map(short_commit);
            let message = run.commit_message.lines().next().unwrap_or_default();
            (
                match (a.stage_name.as_deref(), a.action_name.as_deref()) {
                    (Some(stage), Some(action)) if stage != action => {
                        format!("Pipeline run #{} · {stage} / {action}", run.id)
                    }
                    (stage, _) => {
                        format!("Pipeline run #{} · {}", run.id, stage.unwrap_or("Approval"))
                    }
                },
                format!("/pipeline-runs/{}", run.id),
                match commit {
                    Some(c) if message.is_empty() => format!("commit {c}"),
                    Some(c) => format!("commit {c}: {message}"),
                    None => "the branch head".to_owned(),
                },
            )
        }
        (None, Some(d)) => (
            format!("Deployment #{} · {}", d.id, d.version),
            format!("/deployments/{}", d.id),
            match a.hook_id() {
                Some(_) => format!("{}, held by a PAUSE gate", d.status),
                None => format!("{}, held before production traffic moves", d.status),
            },
        ),
        (None, None) => (
            format!("Approval #{}", a.id),
            "/approvals".to_owned(),
            "what it held up is gone".to_owned(),
        ),
    };
    ApprovalPanel {
        subject: Some(Subject {
            environment: a.environment.clone(),
            title,
            href,
            detail,
        }),
        ..panel(&item.standing, csrf, "/approvals", now)
    }
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct InboxPage {
    chrome: Chrome,
    yours: Vec<ApprovalPanel>,
    others: Vec<ApprovalPanel>,
    decided: Vec<ApprovalPanel>,
    may_vote: bool,
}

/// `GET /approvals`: what waits for the viewer's vote, what waits for
/// others, and the latest decisions.
pub async fn inbox(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
) -> Result<Response, PageError> {
    let chrome = Chrome::new("Approvals", &session, "/approvals");
    let inbox = state
        .app
        .approvals_inbox(&session.actor)
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let now = store::now_millis();
    let mut pending = Vec::new();
    for items in [&inbox.yours, &inbox.others] {
        let mut panels = Vec::with_capacity(items.len());
        for item in items {
            panels.push(ApprovalPanel {
                diff: pending_diff(&state, &session.actor, item).await,
                ..entry(item, &session.csrf_token, now)
            });
        }
        pending.push(panels);
    }
    let others = pending.pop().unwrap_or_default();
    let yours = pending.pop().unwrap_or_default();
    let page = InboxPage {
        yours,
        others,
        decided: inbox
            .decided
            .iter()
            .map(|i| entry(i, &session.csrf_token, now))
            .collect(),
        may_vote: session
            .actor
            .role
            .allows(switchyard_domain::user::Role::Approver),
        chrome,
    };
    Ok(html(StatusCode::OK, &page))
}

/// What a pending approval would make live, against what is: a
/// deployment's release, or a pipeline run's build.
async fn pending_diff(state: &AppState, actor: &Actor, item: &InboxItem) -> Option<DiffView> {
    if item.standing.view.approval.state != "pending" {
        return None;
    }
    let (environment, candidate) = match (&item.run, &item.deployment) {
        (Some(run), _) => (&run.environment, Candidate::PipelineRun(run.id)),
        (None, Some(d)) => (&d.environment, Candidate::Version(d.version.clone())),
        (None, None) => return None,
    };
    Some(diff_of(state, actor, environment, &candidate).await)
}

/// `GET /approvals/{id}` (the link notifications carry): the page where it
/// is decided.
pub async fn show(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let target = state
        .app
        .approval_target(&session.actor, id)
        .await
        .map_err(|e| {
            PageError::from(e)
                .within(Chrome::new("Approvals", &session, "/approvals"))
                .back("/approvals")
        })?;
    Ok(see_other(&target))
}

#[derive(Debug, Deserialize)]
pub struct VoteForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
    back: Option<String>,
}

/// `POST /approvals/{id}/vote`: one vote, decided by the use case.
pub async fn vote(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SessionForm<VoteForm>,
) -> Response {
    let session = &form.signed_in.session;
    let back = safe_next(form.fields.back.as_deref()).to_owned();
    let refused = |e: PageError| {
        e.within(Chrome::new("Refused", session, "/approvals"))
            .back(back.clone())
            .into_response()
    };
    let (decision, comment) =
        match parse_vote(&form.fields.decision, Some(form.fields.comment.as_str())) {
            Ok(vote) => vote,
            Err(e) => return refused(switchyard_core::app::Error::Invalid(e).into()),
        };
    match state
        .app
        .decide_approval(&session.actor, id, decision, comment)
        .await
    {
        Ok(_) => see_other(&back),
        Err(e) => refused(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use askama::Template;

    #[derive(Template)]
    #[template(
        source = "{% include \"partials/approval_panel.html\" %}",
        ext = "html"
    )]
    struct Panel {
        panel: ApprovalPanel,
    }

    fn sample(can_vote: bool, reason: Option<String>) -> ApprovalPanel {
        ApprovalPanel {
            id: 7,
            subject: None,
            action: "/approvals/7/vote".into(),
            csrf: "token123".into(),
            back: "/pipeline-runs/3".into(),
            status: "pending".into(),
            status_class: "wait",
            author: "carol".into(),
            required: 2,
            requested: When::at(0, 60_000),
            votes: vec![Vote {
                user: "ann".into(),
                decision: "approved".into(),
                comment: "<looks good>".into(),
                when: When::at(0, 60_000),
            }],
            needed: 1,
            may_still_vote: vec!["bob".into()],
            can_vote,
            reason,
            outcome: None,
            gate: None,
            diff: None,
        }
    }

    #[test]
    fn the_panel_shows_votes_and_offers_a_vote_only_to_who_may() {
        let html = Panel {
            panel: sample(true, None),
        }
        .render()
        .unwrap();
        assert!(html.contains("ann"));
        assert!(html.contains("&#60;looks good&#62;") || html.contains("&lt;looks good&gt;"));
        assert!(html.contains("name=\"csrf\" value=\"token123\""));
        assert!(html.contains("name=\"back\" value=\"/pipeline-runs/3\""));
        assert!(html.contains("value=\"approve\""));
        assert!(html.contains("id=\"approval-7\""));
        let why = "You cannot approve this one: carol is the author.";
        let html = Panel {
            panel: sample(false, Some(why.into())),
        }
        .render()
        .unwrap();
        assert!(!html.contains("<form"));
        assert!(html.contains("bob"));
        assert!(html.contains(why));
    }
}
