//! Pipelines: where an environment's source comes from, how runs are
//! reported, who must approve a release and whom to notify.

use super::{FieldError, ForField, Invalid, check_text};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The git repository and branch an environment follows: a push there
/// starts its pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSettings {
    /// A URL git can fetch (https, ssh, git, file) or a local path.
    pub repo: String,
    pub branch: String,
}

impl SourceSettings {
    pub fn parse(repo: &str, branch: &str) -> Result<Self, FieldError> {
        let repo = repo.trim();
        check_text(repo, "source.repo", 1, 1024).for_field("source.repo")?;
        let looks_fetchable = repo.starts_with('/')
            || ["https://", "http://", "ssh://", "git://", "file://"]
                .iter()
                .any(|scheme| repo.starts_with(scheme))
            || (repo.contains('@') && repo.contains(':'));
        if !looks_fetchable || repo.starts_with('-') {
            return Err(FieldError {
                field: "source.repo".into(),
                message: format!(
                    "{repo:?} is not a repository git can fetch: give an absolute path or an \
                     https://, ssh://, git:// or file:// URL (or user@host:path)"
                ),
            });
        }
        let branch = BranchName::parse(branch).for_field("source.branch")?;
        Ok(SourceSettings {
            repo: repo.to_owned(),
            branch: branch.0,
        })
    }
}

/// A git branch name, as `git check-ref-format --branch` would take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchName(String);

impl BranchName {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        check_text(value, "a branch name", 1, 255)?;
        let bad = value.starts_with('-')
            || value.starts_with('/')
            || value.ends_with('/')
            || value.ends_with('.')
            || value.ends_with(".lock")
            || value.contains("..")
            || value.contains("//")
            || value.contains("@{")
            || value == "@"
            || value.chars().any(|c| {
                c.is_whitespace() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
            })
            || value.split('/').any(|part| part.starts_with('.'));
        if bad {
            return Err(Invalid::new(format!(
                "{value:?} is not a valid git branch name"
            )));
        }
        Ok(BranchName(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The secret webhooks are signed with. Never shown after it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let len = value.chars().count();
        if !(16..=256).contains(&len) {
            return Err(Invalid::new(format!(
                "a webhook secret must be 16 to 256 characters (got {len})"
            )));
        }
        if value.chars().any(|c| c.is_control()) {
            return Err(Invalid::new(
                "a webhook secret must not contain control characters",
            ));
        }
        Ok(WebhookSecret(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// How many approvers a release needs, and whether its author may be one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApprovalPolicy {
    pub required: u8,
    pub allow_self_approval: bool,
}

impl ApprovalPolicy {
    pub const MAX_REQUIRED: i64 = 20;

    pub fn parse(required: i64, allow_self_approval: bool) -> Result<Self, FieldError> {
        if !(0..=Self::MAX_REQUIRED).contains(&required) {
            return Err(FieldError {
                field: "approval_policy.required".into(),
                message: format!(
                    "required must be from 0 to {} approvals (got {required})",
                    Self::MAX_REQUIRED
                ),
            });
        }
        Ok(ApprovalPolicy {
            required: required as u8,
            allow_self_approval,
        })
    }
}

/// A vote on a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        match value {
            "approve" => Ok(Decision::Approve),
            "reject" => Ok(Decision::Reject),
            other => Err(Invalid::new(format!(
                "unknown decision {other:?}: expected \"approve\" or \"reject\""
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// Where an approval stands after its votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    /// Needs this many more approvals.
    Pending {
        remaining: u8,
    },
    Approved,
    /// One rejection rejects.
    Rejected,
}

/// Why a user may not vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteRefused {
    SelfApproval { author: String },
    AlreadyVoted,
}

impl std::fmt::Display for VoteRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VoteRefused::SelfApproval { author } => write!(
                f,
                "{author} is the author of this release and the environment's approval policy \
                 does not allow self-approval; another approver must decide"
            ),
            VoteRefused::AlreadyVoted => f.write_str("you have already voted on this approval"),
        }
    }
}

impl ApprovalPolicy {
    /// The outcome of these votes: a single rejection rejects, `required`
    /// approvals approve.
    pub fn tally(&self, votes: &[Decision]) -> Tally {
        if votes.contains(&Decision::Reject) {
            return Tally::Rejected;
        }
        let approvals = votes.iter().filter(|d| **d == Decision::Approve).count();
        match usize::from(self.required).checked_sub(approvals) {
            Some(remaining) if remaining > 0 => Tally::Pending {
                remaining: remaining as u8,
            },
            _ => Tally::Approved,
        }
    }

    /// Whether `voter` may vote on a release by `author`, who has voted
    /// already on it being `voters`. Names compare case-insensitively: a git
    /// login and a switchyard user name are the same person when they match.
    pub fn may_vote(&self, author: &str, voter: &str, voters: &[&str]) -> Result<(), VoteRefused> {
        if voters.iter().any(|v| v.eq_ignore_ascii_case(voter)) {
            return Err(VoteRefused::AlreadyVoted);
        }
        if !self.allow_self_approval && author.eq_ignore_ascii_case(voter) {
            return Err(VoteRefused::SelfApproval {
                author: author.to_owned(),
            });
        }
        Ok(())
    }
}

/// The body shape an outgoing notification is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationFormat {
    /// `{"event", "environment", "summary", "url", ...}`.
    Generic,
    /// A Slack incoming-webhook message (`text` and `blocks`).
    Slack,
}

impl NotificationFormat {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        match value {
            "generic" => Ok(NotificationFormat::Generic),
            "slack" => Ok(NotificationFormat::Slack),
            other => Err(Invalid::new(format!(
                "unknown notification format {other:?}: expected \"generic\" or \"slack\""
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationFormat::Generic => "generic",
            NotificationFormat::Slack => "slack",
        }
    }
}

/// An outgoing webhook: an http(s) URL and its body format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationTarget {
    pub url: String,
    pub format: NotificationFormat,
}

/// What a notification URL may be, as RFC 3986 spells it: http or https; a
/// host name whose last label starts with a letter (one of digits reads as
/// an IPv4 address) or a dotted-decimal IPv4 address; a port from 1 to
/// 65535; a path and a query of unreserved, sub-delimiter and
/// percent-encoded characters. No user info (it would be shown with the
/// environment), no fragment (never sent), no IPv6 literal. The OpenAPI
/// document gives this very pattern, so the two cannot disagree; it is
/// written for JSON Schema's, Python's and Rust's regex engines alike.
pub const NOTIFICATION_URL_PATTERN: &str = concat!(
    "^https?://",
    "(([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?[.])*[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?",
    "|(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])([.](25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})",
    "(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    "(/([A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?",
    "([?]([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$"
);

/// The longest notification URL.
pub const NOTIFICATION_URL_MAX: usize = 2048;

impl NotificationTarget {
    pub fn parse(url: &str, format: &str) -> Result<Self, Invalid> {
        static PATTERN: std::sync::LazyLock<regex_lite::Regex> = std::sync::LazyLock::new(|| {
            regex_lite::Regex::new(NOTIFICATION_URL_PATTERN).expect("a valid pattern")
        });
        check_text(url, "a notification URL", 1, NOTIFICATION_URL_MAX)?;
        // The pattern cannot check punycode (an xn-- label); the URL parser can.
        if !PATTERN.is_match(url) || url::Url::parse(url).is_err() {
            return Err(Invalid::new(format!(
                "{url:?} is not a notification URL: give an http:// or https:// URL with a host \
                 name or IPv4 address, an optional port, path and query (no user info or \
                 fragment; percent-encode spaces and other characters)"
            )));
        }
        Ok(NotificationTarget {
            url: url.to_owned(),
            format: NotificationFormat::parse(format)?,
        })
    }
}

aws_status!(
    /// A CodePipeline execution's status.
    RunStatus,
    "pipeline execution status",
    [Cancelled, InProgress, Stopped, Stopping, Succeeded, Superseded, Failed]
);

impl RunStatus {
    /// Nothing more will happen to a run in this status (a stopped or
    /// failed stage may still be retried, which the tracker notices).
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunStatus::InProgress | RunStatus::Stopping)
    }
}

aws_status!(
    /// A stage's status in one run: CodePipeline's stage execution statuses,
    /// and `NotStarted` for a stage the run has not reached.
    StageStatus,
    "pipeline stage status",
    [NotStarted, InProgress, Stopping, Stopped, Succeeded, Failed, Cancelled, Skipped]
);

impl StageStatus {
    /// The run is at this stage.
    pub fn is_active(self) -> bool {
        matches!(self, StageStatus::InProgress | StageStatus::Stopping)
    }

    /// The stage ended without succeeding, so it can be retried.
    pub fn is_retryable(self) -> bool {
        matches!(self, StageStatus::Failed | StageStatus::Stopped)
    }
}

aws_status!(
    /// An action's status in one run: CodePipeline's action execution
    /// statuses, and `NotStarted` for an action the run has not reached.
    ActionStatus,
    "pipeline action status",
    [NotStarted, InProgress, Succeeded, Failed, Abandoned]
);

/// One action of a run, as observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionState {
    pub name: String,
    /// Source, Build, Approval, Deploy, ...
    pub category: String,
    pub provider: String,
    pub status: ActionStatus,
    pub summary: Option<String>,
    pub external_id: Option<String>,
    pub external_url: Option<String>,
    pub error: Option<String>,
    pub started_at: Option<i64>,
    pub updated_at: Option<i64>,
    /// What the action exported (a build's `env.exported-variables`): the
    /// build's image and task definition, which the approval's diff shows.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output_variables: BTreeMap<String, String>,
}

/// A stage of a run, as observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageState {
    pub name: String,
    pub status: StageStatus,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub actions: Vec<ActionState>,
}

/// The variable a build exports to name the image it pushed.
pub const IMAGE_URI_VARIABLE: &str = "IMAGE_URI";
/// The variable a build exports with the task definition its Deploy stage
/// registers (taskdef.json, `<IMAGE1_NAME>` not yet replaced).
pub const TASK_DEFINITION_VARIABLE: &str = "TASK_DEFINITION";

/// What a run's build exported: the variables of its succeeded Build
/// action (the last one, when a stage has several).
pub fn build_variables(stages: &[StageState]) -> Option<&BTreeMap<String, String>> {
    stages
        .iter()
        .flat_map(|s| &s.actions)
        .rfind(|a| a.category == "Build" && a.status == ActionStatus::Succeeded)
        .map(|a| &a.output_variables)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(category: &str, status: ActionStatus, image: &str) -> ActionState {
        ActionState {
            name: category.into(),
            category: category.into(),
            provider: String::new(),
            status,
            summary: None,
            external_id: None,
            external_url: None,
            error: None,
            started_at: None,
            updated_at: None,
            output_variables: [(IMAGE_URI_VARIABLE.to_owned(), image.to_owned())].into(),
        }
    }

    #[test]
    fn a_run_s_build_variables_are_its_last_succeeded_build_s() {
        let stage = |actions| StageState {
            name: "Build".into(),
            status: StageStatus::Succeeded,
            started_at: None,
            ended_at: None,
            actions,
        };
        let stages = [
            stage(vec![action("Source", ActionStatus::Succeeded, "source")]),
            stage(vec![
                action("Build", ActionStatus::Succeeded, "first"),
                action("Build", ActionStatus::Succeeded, "second"),
                action("Build", ActionStatus::Failed, "failed"),
            ]),
        ];
        let variables = build_variables(&stages).unwrap();
        assert_eq!(variables[IMAGE_URI_VARIABLE], "second");
        assert!(build_variables(&stages[..1]).is_none());
        // Stored runs from before output variables read as having none.
        let old: ActionState = serde_json::from_value(serde_json::json!({
            "name": "Build", "category": "Build", "provider": "CodeBuild",
            "status": "Succeeded", "summary": null, "external_id": null,
            "external_url": null, "error": null, "started_at": null, "updated_at": null
        }))
        .unwrap();
        assert!(old.output_variables.is_empty());
    }

    #[test]
    fn sources_are_fetchable_repositories_and_valid_branches() {
        SourceSettings::parse("/srv/git/app.git", "main").unwrap();
        SourceSettings::parse("https://github.com/acme/app.git", "release/1.2").unwrap();
        SourceSettings::parse("git@github.com:acme/app.git", "main").unwrap();
        for bad in ["app.git", "", "-uploadpack=evil", "ftp://x/y"] {
            let err = SourceSettings::parse(bad, "main").unwrap_err();
            assert_eq!(err.field, "source.repo", "{bad:?}");
        }
        for bad in [
            "", "-x", "a..b", "a b", "x.lock", "a/", ".hidden", "a:b", "@",
        ] {
            let err = SourceSettings::parse("/repo", bad).unwrap_err();
            assert_eq!(err.field, "source.branch", "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_long_enough_and_never_printed() {
        assert!(WebhookSecret::parse("short").is_err());
        let s = WebhookSecret::parse("correct horse battery staple").unwrap();
        assert_eq!(format!("{s:?}"), "WebhookSecret(..)");
    }

    #[test]
    fn one_rejection_rejects_and_n_approvals_approve() {
        let two = ApprovalPolicy::parse(2, false).unwrap();
        use Decision::*;
        assert_eq!(two.tally(&[]), Tally::Pending { remaining: 2 });
        assert_eq!(two.tally(&[Approve]), Tally::Pending { remaining: 1 });
        assert_eq!(two.tally(&[Approve, Approve]), Tally::Approved);
        assert_eq!(two.tally(&[Approve, Reject]), Tally::Rejected);
        assert_eq!(
            ApprovalPolicy::parse(0, false).unwrap().tally(&[]),
            Tally::Approved
        );
        assert!(ApprovalPolicy::parse(21, false).is_err());
        assert!(ApprovalPolicy::parse(-1, false).is_err());
    }

    #[test]
    fn authors_may_not_approve_their_own_release_unless_allowed() {
        let strict = ApprovalPolicy::parse(1, false).unwrap();
        assert!(matches!(
            strict.may_vote("Alice", "alice", &[]),
            Err(VoteRefused::SelfApproval { .. })
        ));
        assert_eq!(strict.may_vote("alice", "bob", &[]), Ok(()));
        assert_eq!(
            strict.may_vote("alice", "bob", &["bob"]),
            Err(VoteRefused::AlreadyVoted)
        );
        let lenient = ApprovalPolicy::parse(1, true).unwrap();
        assert_eq!(lenient.may_vote("alice", "alice", &[]), Ok(()));
    }

    #[test]
    fn notification_targets_are_http_urls() {
        for ok in [
            "https://hooks.slack.com/services/T/B/x",
            "http://127.0.0.1:8080/hook",
            "http://255.255.255.255:65535",
            "https://Hooks.Example.com/a%20b/c;d=e@f?token=x&y=1/2?",
            "http://localhost",
            "http://a-1.b2/*(x)",
        ] {
            NotificationTarget::parse(ok, "generic").unwrap();
        }
        for bad in [
            "file:///etc/passwd",
            "ftp://example.com",
            "http://",
            "http://example.com/a b",
            "http://example.com/x#fragment",
            "http://user:secret@example.com",
            "http://256.1.1.1",
            "http://01.1.1.1",
            "http://1.2.3",
            "http://example.com:0",
            "http://example.com:65536",
            "http://-example.com",
            "http://example.com.",
            "http://[::1]/",
            "HTTP://example.com",
            "http://xn--a.com",
        ] {
            assert!(NotificationTarget::parse(bad, "generic").is_err(), "{bad}");
        }
        assert!(NotificationTarget::parse("https://x", "teams").is_err());
    }

    #[test]
    fn statuses_round_trip_as_aws_spells_them() {
        for &s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for &s in StageStatus::ALL {
            assert_eq!(StageStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for &s in ActionStatus::ALL {
            assert_eq!(ActionStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(StageStatus::InProgress.as_str(), "InProgress");
        assert!(
            ActionStatus::parse("Running")
                .unwrap_err()
                .to_string()
                .starts_with("unknown pipeline action status \"Running\": expected one of NotStarted, InProgress"),
        );
        assert!(!RunStatus::InProgress.is_terminal());
        assert!(RunStatus::Failed.is_terminal());
    }
}
