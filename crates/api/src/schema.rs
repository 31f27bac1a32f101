//! Schema-only types: what a string field of a request accepts, for the
//! OpenAPI document (`#[schema(value_type = ...)]`). The fields stay
//! `String` and the domain type parses them; the values listed here come
//! from those domain types where they list them, so the document and the
//! parser cannot drift apart.

use switchyard_domain::deployment_config::DeploymentConfig;
use switchyard_domain::environment::{AlarmState, GateAction, GateHold, GateOutcome};
use switchyard_domain::pipeline::{NOTIFICATION_URL_MAX, NOTIFICATION_URL_PATTERN};
use switchyard_domain::service_deployment::DeploymentController;
use switchyard_domain::user::Role;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

fn one_of<S: Into<String>>(values: impl IntoIterator<Item = S>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.into_iter().map(Into::into)))
        .into()
}

fn matching(pattern: &str, max_length: usize) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .max_length(Some(max_length))
        .into()
}

macro_rules! schema_only {
    ($($(#[doc = $doc:literal])+ $name:ident => $schema:expr;)*) => {$(
        $(#[doc = $doc])+
        pub struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl ToSchema for $name {}
    )*};
}

schema_only! {
    /// A user's role.
    RoleName => one_of(Role::ALL.map(Role::as_str));
    /// Where an environment's stack lives: the embedded local cloud or AWS.
    PlatformName => one_of(["local", "aws"]);
    /// Which controller shifts an environment's traffic.
    ControllerName => one_of(DeploymentController::ALL.map(DeploymentController::as_str));
    /// The controller an environment can move to (from codedeploy).
    MigrationTarget => one_of([DeploymentController::Ecs.as_str()]);
    /// A predefined ECS deployment config.
    DeploymentConfigName => one_of(DeploymentConfig::predefined().map(|c| c.name().to_owned()));
    /// What CodeDeploy does when the ready wait runs out.
    ReadyActionName => one_of(["CONTINUE_DEPLOYMENT", "STOP_DEPLOYMENT"]);
    /// How an outgoing webhook's body is shaped.
    NotificationFormatName => one_of(["generic", "slack"]);
    /// A CloudWatch alarm's state.
    AlarmStateName => one_of(AlarmState::ALL.iter().map(|s| s.as_str()));
    /// Where a metric gate judges green.
    GateHoldName => one_of(GateHold::ALL.iter().map(|s| s.as_str()));
    /// What a metric gate found green to be.
    GateOutcomeName => one_of(GateOutcome::ALL.iter().map(|s| s.as_str()));
    /// What a metric gate did with its verdict.
    GateActionName => one_of(GateAction::ALL.iter().map(|s| s.as_str()));
    /// A vote.
    DecisionName => one_of(["approve", "reject"]);
    /// A release approval's state.
    ApprovalStateName => one_of(["pending", "approved", "rejected", "closed", "all"]);
    /// 2 to 40 lowercase letters, digits and '-', starting with a letter.
    EnvironmentNameText => matching("^[a-z][a-z0-9-]{1,39}$", 40);
    /// 1 to 64 letters, digits, '.', '_', '-' and '@', starting with a letter or digit.
    UserNameText => matching("^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$", 64);
    /// A Slack workspace id: T (E for an Enterprise Grid org), then upper-case letters and digits.
    SlackTeamIdText => matching("^[TE][A-Z0-9]{1,31}$", 32);
    /// A Slack user id: U (or W), then upper-case letters and digits.
    SlackUserIdText => matching("^[UW][A-Z0-9]{1,31}$", 32);
    /// Letters, digits, '.', '_', '-' and '+', starting with a letter or digit.
    VersionText => matching("^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$", 128);
    /// A full git commit id: 40 (SHA-1) or 64 (SHA-256) hex digits.
    CommitText => matching("^([0-9a-fA-F]{40}|[0-9a-fA-F]{64})$", 64);
    /// A container image reference, or `static:<absolute dir>` (no `..`) for
    /// the local cloud. A static site is served to anyone who reaches the
    /// listener, so its directory must exist on the switchyard host below a
    /// static root (`--static-root`, or the server's own build and demo
    /// folders); one that does not is refused with 422, field `image`.
    /// `static:` always starts a static site: an image named `static` cannot
    /// take a tag, though the pattern alone would allow `static:TAG`.
    ImageText => matching(IMAGE_PATTERN, 1024);
    /// Who wrote the change: 1 to 256 characters once trimmed, no control characters.
    AuthorText => matching(r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$", 256);
    /// Up to 16 KiB of text; line breaks and tabs are the only control characters.
    MessageText => matching(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$", 16 * 1024);
    /// An aws-config profile name: 1 to 128 letters, digits and _ - . @ + /.
    AwsProfileText => matching(AWS_PROFILE_PATTERN, 128);
    /// A path starting with '/', up to 1024 characters, without white space
    /// or control characters (Unicode's, which the pattern lists).
    HealthCheckPathText => matching(HEALTH_CHECK_PATH_PATTERN, 1024);
    /// An AWS region code, e.g. us-east-1.
    RegionText => matching("^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", 32);
    /// An http:// or https:// URL: a host name or IPv4 address, an optional
    /// port, path and query as RFC 3986 spells them; no user info, fragment
    /// or IPv6 literal, and an xn-- label must be valid punycode.
    UrlText => matching(NOTIFICATION_URL_PATTERN, NOTIFICATION_URL_MAX);
    /// Up to 2000 characters; line breaks are the only control characters.
    CommentText => matching(r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$", 2000);
    /// arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE.
    ArnText => matching(concat!(
        r"^arn:aws[^:\s\x00-\x1f\x7f-\x9f]*:[^:\s\x00-\x1f\x7f-\x9f]+:",
        r"[^:\s\x00-\x1f\x7f-\x9f]*:[^:\s\x00-\x1f\x7f-\x9f]*:[^\s\x00-\x1f\x7f-\x9f]+$"
    ), 2048);
    /// 16 to 256 characters, no control characters.
    WebhookSecretText => matching(r"^[^\x00-\x1f\x7f-\x9f]{16,256}$", 256);
}

const AWS_PROFILE_PATTERN: &str = "^[A-Za-z0-9_.@+/-]{1,128}$";

/// '/' and up to 1023 characters that are neither Unicode white space nor
/// control characters, spelled out: `\s` differs between regex engines.
const HEALTH_CHECK_PATH_PATTERN: &str = concat!(
    r"^/[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    "{0,1023}$"
);

/// A container image reference as Docker spells it (an optional registry
/// host with a dot and an optional port, lowercase path components, an
/// optional tag and sha256 digest), or `static:` and an absolute directory
/// without `..` (no two dots in a row; a regex without look-ahead).
const IMAGE_PATTERN: &str = concat!(
    r"^(static:/([^.\x00-\x1f\x7f-\x9f]|[.][^.\x00-\x1f\x7f-\x9f])*[.]?|",
    r"([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[0-9]{1,5})?/)?",
    r"[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*",
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?)$"
);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_domain::environment::{AwsProfile, ContainerInput, ContainerSettings};

    /// The document's pattern and the domain's parser take the same strings.
    fn agree(pattern: &str, parses: impl Fn(&str) -> bool, samples: &[String]) {
        let regex = regex_lite::Regex::new(pattern).unwrap();
        for sample in samples {
            assert_eq!(
                regex.is_match(sample),
                parses(sample),
                "{pattern} on {sample:?}"
            );
        }
    }

    fn strings(samples: &[&str]) -> Vec<String> {
        samples.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn aws_profiles_as_the_parser_takes_them() {
        let mut samples = strings(&["default", "prod/eu-1", "a@b+c.d_e", "a b", "\n", "", "é"]);
        samples.extend(["p".repeat(128), "p".repeat(129)]);
        agree(
            AWS_PROFILE_PATTERN,
            |s| AwsProfile::parse(s).is_ok(),
            &samples,
        );
    }

    #[test]
    fn images_as_the_parser_takes_them() {
        let samples = strings(&[
            "static:/",
            "static:/srv/site",
            "static:/srv/.well-known/x.",
            "static:/a.b/c",
            "static:/..",
            "static:/srv/../etc",
            "static:/srv/site/..",
            "static:/a...b",
            "static:",
            "nginx",
            "nginx:1.27",
            "registry.example.com:5000/web:v2",
            "Nginx",
            "nginx:",
            "web@sha256:abc",
        ]);
        agree(
            IMAGE_PATTERN,
            |s| switchyard_domain::release::ImageRef::parse(s).is_ok(),
            &samples,
        );
        // The one disagreement, which the description states: `static:` is
        // a static site even where the pattern reads an image and its tag.
        assert!(
            regex_lite::Regex::new(IMAGE_PATTERN)
                .unwrap()
                .is_match("static:relative")
        );
        assert!(switchyard_domain::release::ImageRef::parse("static:relative").is_err());
    }

    #[test]
    fn health_check_paths_as_the_parser_takes_them() {
        let mut samples = strings(&[
            "/",
            "/health",
            "/é?x=1",
            "health",
            "",
            "/a b",
            "/\t",
            "/\u{7f}",
            "/\u{85}",
            "/\u{a0}",
            "/\u{1680}",
            "/\u{2007}",
            "/\u{2028}",
            "/\u{202f}",
            "/\u{3000}",
            "/\u{feff}",
            "/\u{200b}",
        ]);
        samples.extend([
            format!("/{}", "h".repeat(1023)),
            format!("/{}", "h".repeat(1024)),
        ]);
        let parses = |path: &str| {
            ContainerSettings::parse(&ContainerInput {
                health_check_path: Some(path),
                ..Default::default()
            })
            .is_ok()
        };
        agree(HEALTH_CHECK_PATH_PATTERN, parses, &samples);
    }
}
