//! Git push webhooks, the pure part: reading a delivery (its headers and raw
//! body) from GitHub, GitLab, Gitea/Forgejo or a script, checking its
//! signature or token, and extracting the push it carries. No I/O.
//!
//! Each endpoint reads its own provider's headers only. Gitea and Forgejo
//! also send `X-GitHub-Event` and `X-Hub-Signature-256`, so a delivery that
//! carries another provider's event header (`X-Gitea-Event`/`X-Forgejo-Event`
//! are looked at first) is refused with [`WebhookError::WrongEndpoint`]
//! instead of being read in the wrong format. The gitea endpoint takes both
//! the Gitea and the Forgejo headers (Forgejo's first).
//!
//! Signatures are checked over the exact bytes the provider signed: the raw
//! body, except for Gitea/Forgejo form deliveries, which sign the JSON that
//! the form's `payload` field carries.

mod generic;
mod gitea;
mod github;
mod gitlab;
mod repository;
#[cfg(test)]
mod tests;

pub use repository::RepositoryIds;

use super::pipeline::BranchName;
use super::release::ReleaseMessage;
use super::{FieldError, Invalid, check_text};
use chrono::{DateTime, FixedOffset};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// Who sent a webhook; each has its own endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    GitHub,
    GitLab,
    /// Gitea and Forgejo (Forgejo sends Gitea's headers and its own).
    Gitea,
    /// Scripts, e.g. a `post-receive` hook: see the `generic` module docs.
    Generic,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::GitHub,
        Provider::GitLab,
        Provider::Gitea,
        Provider::Generic,
    ];

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        match value {
            "github" => Ok(Provider::GitHub),
            "gitlab" => Ok(Provider::GitLab),
            "gitea" => Ok(Provider::Gitea),
            "generic" => Ok(Provider::Generic),
            other => Err(Invalid::new(format!(
                "unknown webhook provider {other:?}: expected \"github\", \"gitlab\", \"gitea\" \
                 or \"generic\""
            ))),
        }
    }

    /// The lowercase name used in URLs and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Gitea => "gitea",
            Provider::Generic => "generic",
        }
    }

    fn display_name(self) -> &'static str {
        match self {
            Provider::GitHub => "GitHub",
            Provider::GitLab => "GitLab",
            Provider::Gitea => "Gitea/Forgejo",
            Provider::Generic => "a script (generic)",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a delivery is about. Tag pushes and branch deletions are `Push`
/// too; [`Delivery::push`] tells them apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventKind {
    Push,
    /// A hook's "is it reachable" test (GitHub `ping`, generic `ping`).
    /// GitLab and Gitea have none: their tests are normal pushes.
    Ping,
    /// Any other event, by the provider's name for it (`issues`,
    /// `merge_request`, `create`, ...).
    Other(String),
}

impl EventKind {
    pub fn as_str(&self) -> &str {
        match self {
            EventKind::Push => "push",
            EventKind::Ping => "ping",
            EventKind::Other(name) => name,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a delivery could not be read. Each message says what is wrong, for a
/// 400 answer the sender's hook log shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the {header} header is missing")]
    MissingHeader { header: &'static str },
    #[error("the {header} header is invalid: {reason}")]
    InvalidHeader {
        header: &'static str,
        reason: String,
    },
    #[error(
        "this delivery comes from {} (it carries {header}): point the webhook at the {} \
         endpoint, not the {endpoint} one",
        sender.display_name(),
        sender.as_str()
    )]
    WrongEndpoint {
        sender: Provider,
        header: &'static str,
        endpoint: Provider,
    },
    #[error("the form body is invalid: {0}")]
    InvalidForm(String),
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is JSON but not an object")]
    NotAnObject,
    #[error("the payload is invalid: {0}")]
    InvalidPayload(FieldError),
}

/// One webhook request, read but not yet verified.
#[derive(Clone)]
pub struct Delivery {
    pub provider: Provider,
    pub event: EventKind,
    /// The provider's delivery id (GitHub `X-GitHub-Delivery`; GitLab
    /// `Idempotency-Key`, else `X-Gitlab-Event-UUID`; `X-Forgejo-Delivery`,
    /// else `X-Gitea-Delivery`; generic `X-Switchyard-Delivery`). None if the
    /// provider sent none. Not unique across providers: key on the pair.
    pub delivery_id: Option<String>,
    credential: Credential,
    /// The exact bytes the sender signed.
    signed: Vec<u8>,
    /// SHA-256 of the raw body: the dedup key when there is no delivery id.
    body_sha256: [u8; 32],
    payload: Value,
}

/// What the sender presented to prove it knows the secret. `None` when the
/// header is absent, empty, repeated or malformed: such a delivery never
/// verifies.
#[derive(Clone)]
enum Credential {
    /// An HMAC-SHA256 digest of the signed bytes.
    HmacSha256(Option<[u8; 32]>),
    /// The secret itself (GitLab's `X-Gitlab-Token`).
    Token(Option<String>),
}

impl fmt::Debug for Delivery {
    // The GitLab token is the secret itself: it must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credential = match &self.credential {
            Credential::HmacSha256(Some(_)) => "signature",
            Credential::Token(Some(_)) => "token",
            Credential::HmacSha256(None) | Credential::Token(None) => "none",
        };
        f.debug_struct("Delivery")
            .field("provider", &self.provider)
            .field("event", &self.event)
            .field("delivery_id", &self.delivery_id)
            .field("credential", &credential)
            .field("body_bytes", &self.signed.len())
            .finish_non_exhaustive()
    }
}

/// A push to a branch, as a delivery reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// From `refs/heads/<branch>`; a valid git branch name.
    pub branch: String,
    /// Full lowercase commit ids (40 hex, or 64 for SHA-256 repositories).
    /// `before` is all zeros when the branch was created.
    pub before: String,
    pub after: String,
    /// The head commit (its id is `after` whenever the payload lists it).
    pub commit: CommitInfo,
    /// Who pushed: an account name where the provider gives one.
    pub pusher: String,
    /// A link to the compared range (GitHub `compare`, Gitea `compare_url`).
    pub compare: Option<String>,
    /// How many commits the push brought, as the provider counts them.
    pub commit_count: usize,
    /// The commits the payload lists, newest first: at most
    /// [`MAX_LISTED_COMMITS`], and fewer where the provider caps its list
    /// (GitLab 20, Gitea 5); `commit_count` says how many there were.
    pub commits: Vec<CommitInfo>,
}

/// How many of a push's listed commits are kept.
pub const MAX_LISTED_COMMITS: usize = 100;

/// The head commit of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: String,
    /// Valid as a [`ReleaseMessage`]: cut to its size limit (ending in "…")
    /// and with control characters other than line breaks and tabs replaced
    /// by U+FFFD, so a long or odd commit message never refuses a push.
    pub message: String,
    /// Trimmed, 1 to 256 characters, no control characters.
    pub author_name: String,
    /// None when not given, or redacted (GitLab's `[REDACTED]`).
    pub author_email: Option<String>,
    pub author_username: Option<String>,
    /// None when absent or not RFC 3339.
    pub timestamp: Option<DateTime<FixedOffset>>,
}

/// Reads a delivery posted to `provider`'s endpoint. Nothing is verified
/// yet: look up the secret with [`Delivery::repository`], then call
/// [`Delivery::verify`] before trusting anything else in it.
pub fn read_delivery(
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Delivery, WebhookError> {
    match sent_by(headers) {
        Some((sender, header)) if sender != provider => {
            return Err(WebhookError::WrongEndpoint {
                sender,
                header,
                endpoint: provider,
            });
        }
        _ => {}
    }
    match provider {
        Provider::GitHub => github::read(headers, body),
        Provider::GitLab => gitlab::read(headers, body),
        Provider::Gitea => gitea::read(headers, body),
        Provider::Generic => generic::read(headers, body),
    }
}

/// The provider whose event header a request carries. Gitea's and
/// Forgejo's come first because they also send `X-GitHub-Event`.
fn sent_by(headers: &HeaderMap) -> Option<(Provider, &'static str)> {
    [
        (Provider::Gitea, "X-Forgejo-Event"),
        (Provider::Gitea, "X-Gitea-Event"),
        (Provider::GitLab, "X-Gitlab-Event"),
        (Provider::Generic, "X-Switchyard-Event"),
        (Provider::GitHub, "X-GitHub-Event"),
    ]
    .into_iter()
    .find(|(_, header)| headers.contains_key(*header))
}

impl Delivery {
    /// Checks the provider's signature or token against `secret`, in
    /// constant time. A missing, empty, repeated or malformed signature is
    /// `false`, and so is an empty secret.
    pub fn verify(&self, secret: &str) -> bool {
        if secret.is_empty() {
            return false;
        }
        match &self.credential {
            Credential::HmacSha256(Some(digest)) => {
                let mut mac = hmac_sha256(secret);
                mac.update(&self.signed);
                mac.verify_slice(digest).is_ok()
            }
            Credential::Token(Some(token)) => tokens_match(secret, token),
            Credential::HmacSha256(None) | Credential::Token(None) => false,
        }
    }

    /// What tells this delivery from a redelivery: the provider's delivery
    /// id, or, when it sent none (GitLab before 14.8, a script), a SHA-256
    /// of the raw body, so a repeated body is still recorded once and never
    /// starts a second run.
    pub fn dedup_key(&self) -> String {
        match &self.delivery_id {
            Some(id) => id.clone(),
            None => format!("body-sha256:{}", hex::encode(self.body_sha256)),
        }
    }

    /// The push this delivery carries: `None` for pings and other events,
    /// tag pushes, and branch deletions.
    pub fn push(&self) -> Result<Option<Push>, WebhookError> {
        if self.event != EventKind::Push {
            return Ok(None);
        }
        match self.provider {
            Provider::GitHub => github::push(&self.payload),
            Provider::GitLab => gitlab::push(&self.payload),
            Provider::Gitea => gitea::push(&self.payload),
            Provider::Generic => generic::push(&self.payload),
        }
    }

    /// Every identifier the payload gives for its repository. Readable
    /// before verification, since the secret depends on the environment
    /// that follows the repository. Unverified: use it to find candidate
    /// secrets, never to decide anything else.
    pub fn repository(&self) -> RepositoryIds {
        let pointers: &[&str] = match self.provider {
            Provider::GitHub => &[
                "/repository/clone_url",
                "/repository/ssh_url",
                "/repository/html_url",
                "/repository/git_url",
                "/repository/svn_url",
                "/repository/url",
                "/repository/full_name",
            ],
            Provider::GitLab => &[
                "/project/git_http_url",
                "/project/git_ssh_url",
                "/project/web_url",
                "/project/http_url",
                "/project/ssh_url",
                "/project/url",
                "/project/homepage",
                "/project/path_with_namespace",
                "/repository/git_http_url",
                "/repository/git_ssh_url",
                "/repository/url",
                "/repository/homepage",
            ],
            Provider::Gitea => &[
                "/repository/clone_url",
                "/repository/ssh_url",
                "/repository/html_url",
                "/repository/full_name",
            ],
            Provider::Generic => &["/repository"],
        };
        RepositoryIds::new(
            pointers
                .iter()
                .filter_map(|pointer| self.payload.pointer(pointer)?.as_str()),
        )
    }
}

/// HMAC-SHA256 of `body` under `secret`, as lowercase hex: the value of
/// `X-Gitea-Signature`, and of `X-Hub-Signature-256` after `sha256=`.
pub fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac_sha256(secret);
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `sha256=<hex>` header value GitHub sends in `X-Hub-Signature-256`
/// and scripts send in `X-Switchyard-Signature`.
pub fn sha256_signature_header(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256_hex(secret, body))
}

fn body_sha256(body: &[u8]) -> [u8; 32] {
    <Sha256 as sha2::Digest>::digest(body).into()
}

pub(crate) fn hmac_sha256(secret: &str) -> HmacSha256 {
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length")
}

/// Compares a presented token with the secret without an early exit: both
/// are reduced to fixed-length MACs, compared by `verify_slice` in constant
/// time, so neither the content nor the length of the secret leaks.
fn tokens_match(secret: &str, presented: &str) -> bool {
    const KEY: &[u8] = b"switchyard webhook token comparison";
    let mut expected = HmacSha256::new_from_slice(KEY).expect("HMAC takes a key of any length");
    expected.update(secret.as_bytes());
    let expected = expected.finalize().into_bytes();
    let mut presented_mac =
        HmacSha256::new_from_slice(KEY).expect("HMAC takes a key of any length");
    presented_mac.update(presented.as_bytes());
    presented_mac.verify_slice(&expected).is_ok()
}

// ---- reading headers ----

/// A header's text as sent (untrimmed: a token is compared exactly), or
/// None when absent. Repeated or non-text values are refused: which copy
/// counts would be a guess.
pub(crate) fn header_text<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, WebhookError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(WebhookError::InvalidHeader {
            header: name,
            reason: "it is sent more than once".into(),
        });
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| WebhookError::InvalidHeader {
            header: name,
            reason: "it is not printable ASCII".into(),
        })
}

/// The event name from the first of `names` that is present.
fn event_name<'h>(
    headers: &'h HeaderMap,
    names: &[&'static str],
    missing: &'static str,
) -> Result<&'h str, WebhookError> {
    for &name in names {
        if let Some(value) = header_text(headers, name)? {
            if value.is_empty() || value.len() > 100 {
                return Err(WebhookError::InvalidHeader {
                    header: name,
                    reason: "an event name is 1 to 100 characters".into(),
                });
            }
            return Ok(value);
        }
    }
    Err(WebhookError::MissingHeader { header: missing })
}

/// The delivery id from the first of `names` that is present and not
/// empty.
fn delivery_id(
    headers: &HeaderMap,
    names: &[&'static str],
) -> Result<Option<String>, WebhookError> {
    for &name in names {
        match header_text(headers, name)? {
            Some("") | None => continue,
            Some(value) if value.len() > 200 => {
                return Err(WebhookError::InvalidHeader {
                    header: name,
                    reason: format!(
                        "a delivery id is at most 200 characters (got {})",
                        value.len()
                    ),
                });
            }
            Some(value) => return Ok(Some(value.to_owned())),
        }
    }
    Ok(None)
}

/// The digest in a signature header (`prefix` + 64 hex digits). Anything
/// else, including an empty value (Gitea without a secret), is None.
pub(crate) fn signature_digest(
    headers: &HeaderMap,
    name: &'static str,
    prefix: &str,
) -> Option<[u8; 32]> {
    let text = header_text(headers, name).ok()??;
    let hex_digits = text.strip_prefix(prefix)?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut digest).ok()?;
    Some(digest)
}

// ---- reading bodies ----

/// Whether the body is `application/x-www-form-urlencoded` (`payload=<JSON>`).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| {
            media_type
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The exact bytes of the form's `payload` field. Decoded by hand, strictly,
/// because Gitea signs exactly these bytes.
pub(crate) fn form_payload(body: &[u8]) -> Result<Vec<u8>, WebhookError> {
    let mut payload = None;
    for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        if form_decode(key)? != b"payload" {
            continue;
        }
        if payload.is_some() {
            return Err(WebhookError::InvalidForm(
                "the payload field is sent more than once".into(),
            ));
        }
        payload = Some(form_decode(value)?);
    }
    payload.ok_or_else(|| {
        WebhookError::InvalidForm(
            "it has no payload field (form deliveries carry payload=<JSON>)".into(),
        )
    })
}

fn form_decode(encoded: &[u8]) -> Result<Vec<u8>, WebhookError> {
    let mut decoded = Vec::with_capacity(encoded.len());
    let mut bytes = encoded.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'+' => decoded.push(b' '),
            b'%' => {
                let high = bytes.next().and_then(|b| (*b as char).to_digit(16));
                let low = bytes.next().and_then(|b| (*b as char).to_digit(16));
                match (high, low) {
                    (Some(high), Some(low)) => decoded.push((high * 16 + low) as u8),
                    _ => {
                        return Err(WebhookError::InvalidForm(
                            "a %-escape is not followed by two hex digits".into(),
                        ));
                    }
                }
            }
            other => decoded.push(other),
        }
    }
    Ok(decoded)
}

/// Parses a JSON object. serde_json refuses invalid UTF-8 and nesting
/// deeper than 128, so no input can make it panic or overflow the stack.
fn parse_json(bytes: &[u8]) -> Result<Value, WebhookError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| WebhookError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(WebhookError::NotAnObject);
    }
    Ok(value)
}

// ---- reading payloads ----

fn invalid(field: impl Into<String>, message: impl Into<String>) -> WebhookError {
    WebhookError::InvalidPayload(FieldError {
        field: field.into(),
        message: message.into(),
    })
}

/// Deserializes a payload shape, naming the field that did not fit.
fn deserialize<T: DeserializeOwned>(payload: &Value) -> Result<T, WebhookError> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let field = e.path().to_string();
        let message = e.inner().to_string();
        if field == "." {
            invalid("payload", message)
        } else {
            invalid(field, message)
        }
    })
}

/// A full commit id (the rule releases follow too), lowercased.
fn commit_id(field: &str, value: &str) -> Result<String, WebhookError> {
    crate::release::GitCommit::parse(value)
        .map(|commit| commit.as_str().to_owned())
        .map_err(|e| invalid(field, e.to_string()))
}

/// All zeros: the ref did not exist (before) or no longer exists (after).
fn is_zero_commit(id: &str) -> bool {
    id.bytes().all(|b| b == b'0')
}

/// The branch a full ref name names, or None for tags and other refs.
fn branch_of_ref(field: &str, git_ref: &str) -> Result<Option<String>, WebhookError> {
    if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        let branch = BranchName::parse(branch).map_err(|Invalid(why)| invalid(field, why))?;
        return Ok(Some(branch.as_str().to_owned()));
    }
    if git_ref.starts_with("refs/") && git_ref.len() <= 1024 {
        return Ok(None);
    }
    let shown: String = git_ref.chars().take(80).collect();
    Err(invalid(
        field,
        format!("{shown:?} is not a full ref name (refs/heads/<branch> or refs/tags/<tag>)"),
    ))
}

/// Who pushed, or who wrote a commit: trimmed, 1 to 256 characters.
fn person_name(field: &str, value: &str) -> Result<String, WebhookError> {
    let trimmed = value.trim();
    check_text(trimmed, "a name", 1, 256).map_err(|Invalid(why)| invalid(field, why))?;
    Ok(trimmed.to_owned())
}

/// An optional text: absent, empty and GitLab's `[REDACTED]` are None.
fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, WebhookError> {
    match value.map(str::trim) {
        None | Some("") | Some("[REDACTED]") => Ok(None),
        Some(text) => {
            check_text(text, "the value", 1, max).map_err(|Invalid(why)| invalid(field, why))?;
            Ok(Some(text.to_owned()))
        }
    }
}

/// A commit message as a valid [`ReleaseMessage`]; see [`CommitInfo::message`].
fn release_message(message: &str) -> String {
    const ELLIPSIS: char = '…';
    let mut cleaned: String = message
        .chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect();
    if cleaned.len() > ReleaseMessage::MAX_BYTES {
        let mut cut = ReleaseMessage::MAX_BYTES - ELLIPSIS.len_utf8();
        while !cleaned.is_char_boundary(cut) {
            cut -= 1;
        }
        cleaned.truncate(cut);
        cleaned.push(ELLIPSIS);
    }
    cleaned
}

/// A commit as GitHub and Gitea/Forgejo describe it (GitLab's is a subset).
#[derive(Debug, Clone, serde::Deserialize)]
struct RawCommit {
    id: String,
    message: Option<String>,
    timestamp: Option<String>,
    author: Option<RawPerson>,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct RawPerson {
    name: Option<String>,
    email: Option<String>,
    username: Option<String>,
}

impl RawCommit {
    /// Validates the commit at `field`; `pusher` stands in for a missing
    /// author name.
    fn into_info(self, field: &str, pusher: &str) -> Result<CommitInfo, WebhookError> {
        let id = commit_id(&format!("{field}.id"), &self.id)?;
        let author = self.author.unwrap_or(RawPerson {
            name: None,
            email: None,
            username: None,
        });
        let author_username = optional_text(
            &format!("{field}.author.username"),
            author.username.as_deref(),
            256,
        )?;
        let author_name = match author.name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => person_name(&format!("{field}.author.name"), name)?,
            _ => author_username.clone().unwrap_or_else(|| pusher.to_owned()),
        };
        Ok(CommitInfo {
            id,
            message: release_message(self.message.as_deref().unwrap_or("")),
            author_name,
            author_email: optional_text(
                &format!("{field}.author.email"),
                author.email.as_deref(),
                320,
            )?,
            author_username,
            timestamp: self
                .timestamp
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok()),
        })
    }
}

/// What a payload says about the head commit when it lists none: its id,
/// and the pusher as its author.
fn bare_commit(id: &str, pusher: &str) -> CommitInfo {
    CommitInfo {
        id: id.to_owned(),
        message: String::new(),
        author_name: pusher.to_owned(),
        author_email: None,
        author_username: None,
        timestamp: None,
    }
}

/// The head commit among `commits`: the one whose id is `head`, else the
/// last one listed, else a bare commit.
fn head_of(commits: Vec<RawCommit>, head: &str, pusher: &str) -> Result<CommitInfo, WebhookError> {
    let count = commits.len();
    let position = commits
        .iter()
        .position(|c| c.id.eq_ignore_ascii_case(head))
        .or(count.checked_sub(1));
    match position {
        Some(index) => commits
            .into_iter()
            .nth(index)
            .expect("the index is in range")
            .into_info(&format!("commits[{index}]"), pusher),
        None => Ok(bare_commit(head, pusher)),
    }
}

/// The listed commits, newest first (GitHub and GitLab list the oldest
/// first, with the head last). One the payload spells badly is left out:
/// the list only informs, where a bad head commit refuses the push.
fn listed_commits(commits: &[RawCommit], head: &str, pusher: &str) -> Vec<CommitInfo> {
    let mut listed: Vec<CommitInfo> = commits
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.clone().into_info(&format!("commits[{i}]"), pusher).ok())
        .collect();
    if listed
        .first()
        .is_some_and(|c| !c.id.eq_ignore_ascii_case(head))
    {
        listed.reverse();
    }
    listed.truncate(MAX_LISTED_COMMITS);
    listed
}

/// A link such as a compare URL: None when empty.
fn optional_link(field: &str, value: Option<&str>) -> Result<Option<String>, WebhookError> {
    optional_text(field, value, 2048)
}
