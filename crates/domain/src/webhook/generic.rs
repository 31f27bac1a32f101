//! The generic format, for scripts such as a `post-receive` hook:
//!
//! ```text
//! POST /hooks/generic
//! X-Switchyard-Event: push            (or ping)
//! X-Switchyard-Delivery: <unique id>  (optional; a repeat is a redelivery, and
//!                                     without it a repeated body is one)
//! X-Switchyard-Signature: sha256=<hex HMAC-SHA256 of the raw body>
//!
//! {"repository": "<url or path>", "branch": "main", "after": "<full sha>",
//!  "before"?: "<full sha>", "message"?: "...", "timestamp"?: "<RFC 3339>",
//!  "author"?: {"name"?, "email"?, "username"?}, "pusher"?: "..."}
//! ```
//!
//! The body is always read as JSON, whatever its Content-Type (`curl -d`
//! labels JSON as a form). Unknown fields are refused, so a typo is an
//! error and not a silently missing value. `branch` may also be given as
//! `refs/heads/<branch>`. Without `before`, it is all zeros; without a
//! `pusher`, the author's username or name stands in, else "unknown".

use super::{
    CommitInfo, Credential, Delivery, EventKind, Provider, Push, WebhookError, branch_of_ref,
    commit_id, deserialize, event_name, invalid, is_zero_commit, optional_text, parse_json,
    person_name, release_message, signature_digest,
};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::Value;

pub(super) fn read(headers: &http::HeaderMap, body: &[u8]) -> Result<Delivery, WebhookError> {
    let event = match event_name(headers, &["X-Switchyard-Event"], "X-Switchyard-Event")? {
        "push" => EventKind::Push,
        "ping" => EventKind::Ping,
        other => {
            return Err(WebhookError::InvalidHeader {
                header: "X-Switchyard-Event",
                reason: format!("{other:?} is not an event: expected push or ping"),
            });
        }
    };
    let delivery_id = super::delivery_id(headers, &["X-Switchyard-Delivery"])?;
    let credential = Credential::HmacSha256(signature_digest(
        headers,
        "X-Switchyard-Signature",
        "sha256=",
    ));
    Ok(Delivery {
        provider: Provider::Generic,
        event,
        delivery_id,
        credential,
        signed: body.to_vec(),
        payload: parse_json(body)?,
        body_sha256: super::body_sha256(body),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericPush {
    repository: String,
    branch: String,
    after: String,
    before: Option<String>,
    message: Option<String>,
    timestamp: Option<String>,
    author: Option<Author>,
    pusher: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Author {
    name: Option<String>,
    email: Option<String>,
    username: Option<String>,
}

pub(super) fn push(payload: &Value) -> Result<Option<Push>, WebhookError> {
    let raw: GenericPush = deserialize(payload)?;
    if raw.repository.trim().is_empty() {
        return Err(invalid("repository", "must not be empty"));
    }
    let branch = if raw.branch.starts_with("refs/") {
        branch_of_ref("branch", &raw.branch)?.ok_or_else(|| {
            invalid(
                "branch",
                format!("{:?} is not a branch (refs/heads/<branch>)", raw.branch),
            )
        })?
    } else {
        branch_of_ref("branch", &format!("refs/heads/{}", raw.branch))?
            .expect("a refs/heads/ ref names a branch")
    };
    let after = commit_id("after", &raw.after)?;
    let before = match raw.before.as_deref() {
        Some(before) => commit_id("before", before)?,
        None => "0".repeat(after.len()),
    };
    if is_zero_commit(&after) {
        return Ok(None);
    }
    let (name, email, username) = match raw.author {
        Some(author) => (author.name, author.email, author.username),
        None => (None, None, None),
    };
    let author_username = optional_text("author.username", username.as_deref(), 256)?;
    let author_name = optional_text("author.name", name.as_deref(), 256)?;
    let pusher = match optional_text("pusher", raw.pusher.as_deref(), 256)? {
        Some(pusher) => pusher,
        None => author_username
            .clone()
            .or_else(|| author_name.clone())
            .unwrap_or_else(|| "unknown".to_owned()),
    };
    let pusher = person_name("pusher", &pusher)?;
    let message = raw.message.unwrap_or_default();
    let commit = CommitInfo {
        id: after.clone(),
        message: release_message(&message),
        author_name: author_name.unwrap_or_else(|| pusher.clone()),
        author_email: optional_text("author.email", email.as_deref(), 320)?,
        author_username,
        timestamp: match raw.timestamp.as_deref() {
            Some(timestamp) => {
                Some(DateTime::parse_from_rfc3339(timestamp.trim()).map_err(|e| {
                    invalid(
                        "timestamp",
                        format!("{timestamp:?} is not an RFC 3339 time: {e}"),
                    )
                })?)
            }
            None => None,
        },
    };
    let commits = vec![commit.clone()];
    Ok(Some(Push {
        branch,
        before,
        after,
        commit,
        pusher,
        compare: None,
        commit_count: 1,
        commits,
    }))
}
