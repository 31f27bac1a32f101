//! Approvals from Slack: the v0 request signature Slack puts on every
//! interaction, the `block_actions` payload of a button click, and the
//! messages switchyard posts (the request with its buttons, the redrawn
//! tally, the ephemeral refusal). No I/O: the caller passes the clock.

mod messages;
#[cfg(test)]
mod tests;

pub use messages::{ApprovalStatus, Outcome, approval_buttons, ephemeral, escape, redrawn_message};

use crate::Invalid;
use crate::pipeline::Decision;
use crate::webhook::{form_payload, header_text, hmac_sha256, signature_digest};
use hmac::Mac;
use http::HeaderMap;
use serde::Deserialize;

pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// Slack's advice: refuse a request signed more than five minutes away
/// from now, either way, so a captured request cannot be replayed later.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;
/// The `action_id`s of the two buttons.
pub const APPROVE_ACTION: &str = "switchyard.approve";
pub const REJECT_ACTION: &str = "switchyard.reject";

/// The app's signing secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct SigningSecret(String);

impl SigningSecret {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        if value.trim().is_empty() || value.chars().any(char::is_control) {
            return Err(Invalid::new(
                "a Slack signing secret must be non-empty text without control characters",
            ));
        }
        Ok(SigningSecret(value.to_owned()))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Why a request does not count as coming from Slack (all answered 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Unsigned,
    BadTimestamp,
    Stale,
    Future,
    Mismatch,
}

impl SignatureError {
    pub fn message(self) -> &'static str {
        match self {
            SignatureError::Unsigned => {
                "the request is not signed: X-Slack-Signature or X-Slack-Request-Timestamp is missing"
            }
            SignatureError::BadTimestamp => {
                "X-Slack-Request-Timestamp is not a Unix time in seconds"
            }
            SignatureError::Stale => "the request was signed more than 5 minutes ago",
            SignatureError::Future => "the request is signed more than 5 minutes in the future",
            SignatureError::Mismatch => "the Slack signature does not match",
        }
    }
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for SignatureError {}

/// A request whose signature checked out; its digest identifies it for
/// refusing a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub signature_hex: String,
}

/// Checks Slack's v0 signature: HMAC-SHA256 over `v0:{timestamp}:{body}`,
/// compared in constant time, with the timestamp within
/// [`MAX_CLOCK_SKEW_SECONDS`] of `now_seconds`.
pub fn verify(
    secret: &SigningSecret,
    headers: &HeaderMap,
    body: &[u8],
    now_seconds: i64,
) -> Result<SignedRequest, SignatureError> {
    let timestamp = header_text(headers, TIMESTAMP_HEADER)
        .ok()
        .flatten()
        .ok_or(SignatureError::Unsigned)?;
    if header_text(headers, SIGNATURE_HEADER)
        .ok()
        .flatten()
        .is_none()
    {
        return Err(SignatureError::Unsigned);
    }
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    match seconds.saturating_sub(now_seconds) {
        skew if skew < -MAX_CLOCK_SKEW_SECONDS => return Err(SignatureError::Stale),
        skew if skew > MAX_CLOCK_SKEW_SECONDS => return Err(SignatureError::Future),
        _ => {}
    }
    let digest =
        signature_digest(headers, SIGNATURE_HEADER, "v0=").ok_or(SignatureError::Mismatch)?;
    let mut mac = hmac_sha256(secret.expose());
    mac.update(&basestring(timestamp, body));
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(SignedRequest {
        signature_hex: hex::encode(digest),
    })
}

/// The `X-Slack-Signature` value for `body` sent at `timestamp` (what
/// Slack computes; for tests and tools that play Slack).
pub fn signature_header(secret: &SigningSecret, timestamp: i64, body: &[u8]) -> String {
    let mut mac = hmac_sha256(secret.expose());
    mac.update(&basestring(&timestamp.to_string(), body));
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn basestring(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut signed = format!("v0:{timestamp}:").into_bytes();
    signed.extend_from_slice(body);
    signed
}

/// A click on Approve or Reject, as Slack reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalClick {
    pub team_id: TeamId,
    pub user_id: UserId,
    pub approval_id: i64,
    pub decision: Decision,
    /// Where the message can be redrawn (valid for 30 minutes, 5 uses).
    pub response_url: url::Url,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Slack interaction is invalid: {0}")]
pub struct InteractionError(String);

#[derive(Deserialize)]
struct RawPayload {
    #[serde(rename = "type")]
    kind: String,
    user: RawId,
    team: Option<RawId>,
    #[serde(default)]
    actions: Vec<RawAction>,
    response_url: Option<String>,
}

#[derive(Deserialize)]
struct RawId {
    id: String,
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct RawAction {
    action_id: String,
    value: Option<String>,
}

/// Reads the form body Slack posts (`payload=<JSON>`) into a click on one
/// of switchyard's buttons.
pub fn parse_interaction(body: &[u8]) -> Result<ApprovalClick, InteractionError> {
    let err = |message: String| InteractionError(message);
    let json = form_payload(body).map_err(|e| err(e.to_string()))?;
    let raw: RawPayload = serde_json::from_slice(&json)
        .map_err(|e| err(format!("the payload is not the JSON Slack sends: {e}")))?;
    if raw.kind != "block_actions" {
        return Err(err(format!(
            "only block_actions are handled, not {:?}",
            raw.kind
        )));
    }
    let action = raw
        .actions
        .first()
        .ok_or_else(|| err("it carries no action".into()))?;
    let decision = match action.action_id.as_str() {
        APPROVE_ACTION => Decision::Approve,
        REJECT_ACTION => Decision::Reject,
        other => return Err(err(format!("unknown action_id {other:?}"))),
    };
    let approval_id = action
        .value
        .as_deref()
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| err("the button's value is not an approval id".into()))?;
    let team_id = raw
        .team
        .map(|t| t.id)
        .or(raw.user.team_id)
        .ok_or_else(|| err("it names no team".into()))?;
    let response_url = raw
        .response_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .ok_or_else(|| err("it has no http(s) response_url".into()))?;
    Ok(ApprovalClick {
        team_id: TeamId::parse(&team_id).map_err(|e| err(e.0))?,
        user_id: UserId::parse(&raw.user.id).map_err(|e| err(e.0))?,
        approval_id,
        decision,
        response_url,
    })
}

/// A Slack workspace id (`T…`; `E…` for an Enterprise Grid org).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamId(String);

/// A Slack user id (`U…`, or `W…` in Enterprise Grid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserId(String);

impl TeamId {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        slack_id(value, &['T', 'E'], "team").map(TeamId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl UserId {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        slack_id(value, &['U', 'W'], "user").map(UserId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn slack_id(value: &str, prefixes: &[char], what: &str) -> Result<String, Invalid> {
    let well_formed = (2..=32).contains(&value.len())
        && value.starts_with(prefixes)
        && value
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if well_formed {
        Ok(value.to_owned())
    } else {
        let starts: Vec<String> = prefixes.iter().map(char::to_string).collect();
        Err(Invalid::new(format!(
            "{value:?} is not a Slack {what} id: {} followed by upper-case letters and digits, \
             at most 32 characters",
            starts.join(" or ")
        )))
    }
}
