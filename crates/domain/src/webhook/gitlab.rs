//! GitLab: the plain secret in `X-Gitlab-Token`, a JSON body. The kind of
//! event comes from the payload's `object_kind` (else `event_name`), not
//! from `X-Gitlab-Event`, which says `System Hook` for pushes reported by a
//! system hook. GitLab has no ping: its "Test" sends a normal push.

use super::{
    Credential, Delivery, EventKind, Provider, Push, RawCommit, WebhookError, branch_of_ref,
    commit_id, deserialize, head_of, invalid, is_zero_commit, listed_commits, parse_json,
    person_name,
};
use serde::Deserialize;
use serde_json::Value;

pub(super) fn read(headers: &http::HeaderMap, body: &[u8]) -> Result<Delivery, WebhookError> {
    let delivery_id = super::delivery_id(headers, &["Idempotency-Key", "X-Gitlab-Event-UUID"])?;
    let token = super::header_text(headers, "X-Gitlab-Token")
        .ok()
        .flatten()
        .filter(|token| !token.is_empty())
        .map(str::to_owned);
    let payload = parse_json(body)?;
    let kind = ["object_kind", "event_name"]
        .iter()
        .find_map(|key| payload.get(*key)?.as_str());
    let event = match kind {
        // Tag pushes are pushes too; `push()` sees their refs/tags/ ref.
        Some("push" | "tag_push") => EventKind::Push,
        Some(other) if !other.is_empty() && other.len() <= 100 => {
            EventKind::Other(other.to_owned())
        }
        _ => {
            return Err(invalid(
                "object_kind",
                "is missing: a GitLab webhook payload names its event in object_kind",
            ));
        }
    };
    Ok(Delivery {
        provider: Provider::GitLab,
        event,
        delivery_id,
        credential: Credential::Token(token),
        signed: Vec::new(),
        payload,
        body_sha256: super::body_sha256(body),
    })
}

#[derive(Deserialize)]
struct GitLabPush {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    checkout_sha: Option<String>,
    user_username: Option<String>,
    user_name: Option<String>,
    commits: Option<Vec<RawCommit>>,
    total_commits_count: Option<usize>,
}

pub(super) fn push(payload: &Value) -> Result<Option<Push>, WebhookError> {
    let raw: GitLabPush = deserialize(payload)?;
    let Some(branch) = branch_of_ref("ref", &raw.git_ref)? else {
        return Ok(None);
    };
    let before = commit_id("before", &raw.before)?;
    let after = commit_id("after", &raw.after)?;
    if is_zero_commit(&after) {
        return Ok(None);
    }
    let (field, login) = match (raw.user_username, raw.user_name) {
        (Some(username), _) if !username.trim().is_empty() => ("user_username", username),
        (_, Some(name)) => ("user_name", name),
        _ => return Err(invalid("user_username", "who pushed is missing")),
    };
    let pusher = person_name(field, &login)?;
    let head = match raw.checkout_sha.as_deref() {
        Some(sha) => commit_id("checkout_sha", sha)?,
        None => after.clone(),
    };
    // GitLab lists the newest 20 commits, oldest first.
    let commits = raw.commits.unwrap_or_default();
    let commit_count = raw.total_commits_count.unwrap_or(0).max(commits.len());
    let listed = listed_commits(&commits, &head, &pusher);
    let commit = head_of(commits, &head, &pusher)?;
    Ok(Some(Push {
        branch,
        before,
        after,
        commit,
        pusher,
        compare: None,
        commit_count,
        commits: listed,
    }))
}
