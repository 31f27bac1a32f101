//! GitHub: `X-GitHub-Event`, `X-GitHub-Delivery`, `X-Hub-Signature-256:
//! sha256=<hex>` over the raw body (the legacy SHA-1 `X-Hub-Signature` is
//! ignored). The body is JSON, or a form `payload=<JSON>` whose raw form
//! bytes are what GitHub signs.

use super::{
    Credential, Delivery, EventKind, Provider, Push, RawCommit, WebhookError, branch_of_ref,
    commit_id, deserialize, event_name, form_payload, head_of, invalid, is_form, is_zero_commit,
    listed_commits, optional_link, parse_json, person_name, signature_digest,
};
use serde::Deserialize;
use serde_json::Value;

pub(super) fn read(headers: &http::HeaderMap, body: &[u8]) -> Result<Delivery, WebhookError> {
    let event = match event_name(headers, &["X-GitHub-Event"], "X-GitHub-Event")? {
        "push" => EventKind::Push,
        "ping" => EventKind::Ping,
        other => EventKind::Other(other.to_owned()),
    };
    let delivery_id = super::delivery_id(headers, &["X-GitHub-Delivery"])?;
    let credential =
        Credential::HmacSha256(signature_digest(headers, "X-Hub-Signature-256", "sha256="));
    let payload = if is_form(headers) {
        parse_json(&form_payload(body)?)?
    } else {
        parse_json(body)?
    };
    Ok(Delivery {
        provider: Provider::GitHub,
        event,
        delivery_id,
        credential,
        signed: body.to_vec(),
        payload,
        body_sha256: super::body_sha256(body),
    })
}

#[derive(Deserialize)]
struct GitHubPush {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    deleted: Option<bool>,
    compare: Option<String>,
    commits: Option<Vec<RawCommit>>,
    head_commit: Option<RawCommit>,
    pusher: Option<Pusher>,
    sender: Option<Sender>,
}

#[derive(Deserialize)]
struct Pusher {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Sender {
    login: Option<String>,
}

pub(super) fn push(payload: &Value) -> Result<Option<Push>, WebhookError> {
    let raw: GitHubPush = deserialize(payload)?;
    let Some(branch) = branch_of_ref("ref", &raw.git_ref)? else {
        return Ok(None);
    };
    let before = commit_id("before", &raw.before)?;
    let after = commit_id("after", &raw.after)?;
    if raw.deleted == Some(true) || is_zero_commit(&after) {
        return Ok(None);
    }
    let (field, login) = match (
        raw.sender.and_then(|s| s.login),
        raw.pusher.and_then(|p| p.name),
    ) {
        (Some(login), _) => ("sender.login", login),
        (None, Some(name)) => ("pusher.name", name),
        (None, None) => return Err(invalid("sender.login", "who pushed is missing")),
    };
    let pusher = person_name(field, &login)?;
    let commits = raw.commits.unwrap_or_default();
    let commit_count = commits.len();
    let listed = listed_commits(&commits, &after, &pusher);
    let commit = match raw.head_commit {
        Some(head) => head.into_info("head_commit", &pusher)?,
        None => head_of(commits, &after, &pusher)?,
    };
    Ok(Some(Push {
        branch,
        before,
        after,
        commit,
        pusher,
        compare: optional_link("compare", raw.compare.as_deref())?,
        commit_count,
        commits: listed,
    }))
}
