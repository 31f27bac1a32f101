//! Releases: one built version of an app, as it was handed to an environment.

use super::{Invalid, check_text};
use std::fmt;

/// A human label for a release: `v1.4.2`, `2026-11-27.3`, `build-812`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionLabel(String);

impl VersionLabel {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        check_text(value, "a version", 1, 128)?;
        let first_ok = value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
        if !first_ok || !rest_ok {
            return Err(Invalid::new(format!(
                "{value:?} is not a valid version: use letters, digits, '.', '_', '-' and '+', \
                 starting with a letter or digit"
            )));
        }
        Ok(VersionLabel(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VersionLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a task runs: a container image reference
/// (`[registry[:port]/]path[:tag][@sha256:digest]`, as Docker and ECS read
/// it), or `static:<dir>`, a directory the local cloud serves with its
/// built-in static file server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageRef {
    Container(String),
    StaticSite(String),
}

impl ImageRef {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        check_text(value, "an image reference", 1, 1024)?;
        if let Some(dir) = value.strip_prefix("static:") {
            if !dir.starts_with('/') {
                return Err(Invalid::new(format!(
                    "{value:?}: a static image names an absolute directory, e.g. static:/srv/site"
                )));
            }
            // Where a site lives is checked against the allowed roots; a
            // `..` would let the name say one place and mean another.
            if dir.contains("..") {
                return Err(Invalid::new(format!(
                    "{value:?}: a static image's directory may not contain '..'"
                )));
            }
            return Ok(ImageRef::StaticSite(dir.to_owned()));
        }
        check_container_reference(value).map_err(|why| {
            Invalid::new(format!(
                "{value:?} is not an image reference ({why}); expected e.g. \
                 nginx:1.27, 123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v2 or static:/srv/site"
            ))
        })?;
        Ok(ImageRef::Container(value.to_owned()))
    }

    pub fn as_string(&self) -> String {
        match self {
            ImageRef::Container(reference) => reference.clone(),
            ImageRef::StaticSite(dir) => format!("static:{dir}"),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Container(reference) => f.write_str(reference),
            ImageRef::StaticSite(dir) => write!(f, "static:{dir}"),
        }
    }
}

/// The reference grammar of the distribution spec, written out by hand.
fn check_container_reference(value: &str) -> Result<(), &'static str> {
    let (name_and_tag, digest) = match value.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (value, None),
    };
    if let Some(digest) = digest {
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or("digest must be sha256:<64 hex>")?;
        if hex.len() != 64
            || !hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        {
            return Err("digest must be sha256:<64 lowercase hex>");
        }
    }
    // A ':' after the last '/' starts the tag; one before it is a registry port.
    let last_slash = name_and_tag.rfind('/');
    let (name, tag) = match name_and_tag.rfind(':') {
        Some(colon) if last_slash.is_none_or(|s| colon > s) => {
            (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
        }
        _ => (name_and_tag, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return Err("bad tag");
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        let is_registry = first.contains('.') || first.contains(':') || first == "localhost";
        if is_registry {
            let (host, port) = match first.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (first, None),
            };
            let host_ok = !host.is_empty()
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                });
            let port_ok = port.is_none_or(|p| {
                !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit())
            });
            if !host_ok || !port_ok {
                return Err("bad registry host");
            }
            components.remove(0);
        }
    }
    for component in components {
        // [a-z0-9]+ separated by '.', '_', '__' or '-'s.
        let ok = !component.is_empty()
            && component.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
            && component
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && component
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && !component.contains("..")
            && !component.contains("___")
            && !component.contains(".-")
            && !component.contains("-.");
        if !ok {
            return Err(
                "repository path components are lowercase letters and digits with '.', '_' or '-' between",
            );
        }
    }
    Ok(())
}

/// A full git commit id, lowercased: 40 hex digits (SHA-1 object names), or
/// 64 in repositories that use SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GitCommit(String);

impl GitCommit {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let well_formed =
            matches!(value.len(), 40 | 64) && value.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            let shown: String = value.chars().take(80).collect();
            return Err(Invalid::new(format!(
                "{shown:?} is not a full git commit id (40 or 64 hex digits)"
            )));
        }
        Ok(GitCommit(value.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

/// Who wrote the change: a git author (`Jane Doe <jane@example.com>`) or a
/// user name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Author(String);

impl Author {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let trimmed = value.trim();
        check_text(trimmed, "an author", 1, 256)?;
        Ok(Author(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A commit or release message: any text up to 16 KiB, line breaks allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ReleaseMessage(String);

impl ReleaseMessage {
    pub const MAX_BYTES: usize = 16 * 1024;

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        if value.len() > Self::MAX_BYTES {
            return Err(Invalid::new(format!(
                "a message must be at most {} bytes (got {})",
                Self::MAX_BYTES,
                value.len()
            )));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Invalid::new(
                "a message must not contain control characters other than line breaks and tabs",
            ));
        }
        Ok(ReleaseMessage(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything needed to record a release, already validated.
#[derive(Debug, Clone)]
pub struct NewRelease {
    pub version: VersionLabel,
    pub image: ImageRef,
    pub commit: Option<GitCommit>,
    pub author: Author,
    pub message: ReleaseMessage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in [
            "v1",
            "1.4.2",
            "2026-11-27.3",
            "build_812",
            "1.0.0+meta",
            &"v".repeat(128),
        ] {
            VersionLabel::parse(ok).unwrap();
        }
        for bad in ["", "-v1", ".v1", "v 1", "v1/2", "v1\n", &"v".repeat(129)] {
            assert!(VersionLabel::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn container_image_references() {
        for ok in [
            "nginx",
            "nginx:1.27",
            "library/nginx:latest",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v2",
            "localhost:5000/team/app:sha-abc",
            "ghcr.io/org/my_app__x/web-1",
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "registry.example.com:443/a/b:c@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(
                ImageRef::parse(ok).unwrap(),
                ImageRef::Container(ok.into()),
                "{ok}"
            );
        }
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "nginx:-x",
            "nginx:a b",
            "a//b",
            "-x/y",
            "nginx@sha256:abc",
            "nginx@md5:0123456789abcdef0123456789abcdef",
            "has space",
            "bad..dots/x",
            "host-.com/x",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn static_site_images() {
        assert_eq!(
            ImageRef::parse("static:/srv/site").unwrap(),
            ImageRef::StaticSite("/srv/site".into())
        );
        assert_eq!(
            ImageRef::parse("static:/srv/site").unwrap().to_string(),
            "static:/srv/site"
        );
        assert!(ImageRef::parse("static:relative/dir").is_err());
        for climbing in [
            "static:/../../",
            "static:/srv/../etc",
            "static:/srv/site/..",
        ] {
            let error = ImageRef::parse(climbing).unwrap_err().to_string();
            assert!(error.contains("'..'"), "{climbing}: {error}");
        }
        assert!(ImageRef::parse("static:").is_err());
    }

    #[test]
    fn commits_are_40_or_64_hex() {
        let sha1 = "0123456789ABCDEF0123456789abcdef01234567";
        let commit = GitCommit::parse(sha1).unwrap();
        assert_eq!(commit.as_str(), sha1.to_ascii_lowercase());
        assert_eq!(commit.short(), "0123456789ab");
        let sha256 = "89ABCDEF".repeat(8);
        let commit = GitCommit::parse(&sha256).unwrap();
        assert_eq!(commit.as_str(), sha256.to_ascii_lowercase());
        assert_eq!(commit.short(), "89abcdef89ab");
        for bad in [
            "",
            "abc123",
            &"g".repeat(40),
            &"a".repeat(41),
            &"a".repeat(63),
            &"a".repeat(65),
        ] {
            assert!(GitCommit::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn authors_and_messages() {
        assert_eq!(
            Author::parse("  Jane Doe <jane@example.com> ")
                .unwrap()
                .as_str(),
            "Jane Doe <jane@example.com>"
        );
        assert!(Author::parse("   ").is_err());
        assert!(Author::parse("a\u{7}b").is_err());
        ReleaseMessage::parse("Fix header\n\nLonger body\twith tab").unwrap();
        ReleaseMessage::parse("").unwrap();
        assert!(ReleaseMessage::parse("bell\u{7}").is_err());
        assert!(ReleaseMessage::parse(&"x".repeat(ReleaseMessage::MAX_BYTES + 1)).is_err());
    }
}
