//! Gitea and Forgejo. Forgejo sends every Gitea header plus its own
//! `X-Forgejo-*`, which are read first. The signature is bare hex
//! (`X-Forgejo-Signature` / `X-Gitea-Signature`), present but empty when no
//! secret is set, and always over the JSON payload: a form delivery
//! (`payload=<JSON>`) is signed over the JSON, not over the form body.

use super::{
    Credential, Delivery, EventKind, Provider, Push, RawCommit, WebhookError, branch_of_ref,
    commit_id, deserialize, event_name, form_payload, head_of, invalid, is_form, is_zero_commit,
    listed_commits, optional_link, parse_json, person_name, signature_digest,
};
use serde::Deserialize;
use serde_json::Value;

pub(super) fn read(headers: &http::HeaderMap, body: &[u8]) -> Result<Delivery, WebhookError> {
    let event = match event_name(
        headers,
        &["X-Forgejo-Event", "X-Gitea-Event"],
        "X-Gitea-Event (or X-Forgejo-Event)",
    )? {
        // Gitea's "Test Delivery" is a push too; there is no ping.
        "push" => EventKind::Push,
        other => EventKind::Other(other.to_owned()),
    };
    let delivery_id = super::delivery_id(headers, &["X-Forgejo-Delivery", "X-Gitea-Delivery"])?;
    let signature_header = if headers.contains_key("X-Forgejo-Signature") {
        "X-Forgejo-Signature"
    } else {
        "X-Gitea-Signature"
    };
    let credential = Credential::HmacSha256(signature_digest(headers, signature_header, ""));
    let signed = if is_form(headers) {
        form_payload(body)?
    } else {
        body.to_vec()
    };
    let payload = parse_json(&signed)?;
    Ok(Delivery {
        provider: Provider::Gitea,
        event,
        delivery_id,
        credential,
        signed,
        payload,
        body_sha256: super::body_sha256(body),
    })
}

#[derive(Deserialize)]
struct GiteaPush {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    compare_url: Option<String>,
    /// Forgejo-type hooks name it `compare`.
    compare: Option<String>,
    commits: Option<Vec<RawCommit>>,
    total_commits: Option<usize>,
    head_commit: Option<RawCommit>,
    pusher: Option<User>,
    sender: Option<User>,
}

#[derive(Deserialize)]
struct User {
    login: Option<String>,
    username: Option<String>,
}

impl User {
    fn name(self) -> Option<String> {
        self.login
            .filter(|login| !login.trim().is_empty())
            .or(self.username)
    }
}

pub(super) fn push(payload: &Value) -> Result<Option<Push>, WebhookError> {
    let raw: GiteaPush = deserialize(payload)?;
    let Some(branch) = branch_of_ref("ref", &raw.git_ref)? else {
        return Ok(None);
    };
    let before = commit_id("before", &raw.before)?;
    let after = commit_id("after", &raw.after)?;
    // No created/deleted flags: an all-zero `after` is a deletion.
    if is_zero_commit(&after) {
        return Ok(None);
    }
    let (field, login) = match (
        raw.pusher.and_then(User::name),
        raw.sender.and_then(User::name),
    ) {
        (Some(login), _) => ("pusher.login", login),
        (None, Some(login)) => ("sender.login", login),
        (None, None) => return Err(invalid("pusher.login", "who pushed is missing")),
    };
    let pusher = person_name(field, &login)?;
    let commits = raw.commits.unwrap_or_default();
    let commit_count = raw.total_commits.unwrap_or(0).max(commits.len());
    let listed = listed_commits(&commits, &after, &pusher);
    let commit = match raw.head_commit {
        Some(head) => head.into_info("head_commit", &pusher)?,
        None => head_of(commits, &after, &pusher)?,
    };
    let compare = match raw.compare_url.as_deref().map(str::trim) {
        Some(url) if !url.is_empty() => optional_link("compare_url", Some(url))?,
        _ => optional_link("compare", raw.compare.as_deref())?,
    };
    Ok(Some(Push {
        branch,
        before,
        after,
        commit,
        pusher,
        compare,
        commit_count,
        commits: listed,
    }))
}
