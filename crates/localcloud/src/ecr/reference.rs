//! The names a registry request carries, parsed: repository names as ECR
//! accepts them, tags, sha256 digests, and the `Content-Range` of an upload
//! chunk. Pure functions, no I/O.

use sha2::{Digest as _, Sha256};
use std::fmt;

/// The only digest algorithm ECR stores.
const SHA256_PREFIX: &str = "sha256:";

/// A content digest `sha256:<64 lowercase hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    pub fn parse(text: &str) -> Result<Digest, String> {
        let Some(hex) = text.strip_prefix(SHA256_PREFIX) else {
            return Err(match text.split_once(':') {
                Some((algorithm, _)) => format!(
                    "digest {text:?} uses {algorithm}; this registry stores sha256 digests only"
                ),
                None => format!("{text:?} is not a digest (sha256:<64 hex digits>)"),
            });
        };
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "{text:?} is not a sha256 digest (sha256: and 64 lowercase hex digits)"
            ));
        }
        Ok(Digest(text.to_owned()))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest a hasher has computed so far.
    pub fn from_hasher(hasher: Sha256) -> Digest {
        Digest(format!("{SHA256_PREFIX}{}", hex::encode(hasher.finalize())))
    }

    /// The 64 hex digits, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.0[SHA256_PREFIX.len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks content against the digest its uploader claimed.
pub fn verify(expected: &Digest, actual: &Digest) -> Result<(), String> {
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "the content's digest is {actual}, not the {expected} it was sent as"
        ))
    }
}

/// ECR's repository name rule: 2 to 256 characters, path components of
/// lowercase letters and digits joined by `.`, `_`, `__` or runs of `-`,
/// separated by `/`.
pub fn valid_repository_name(name: &str) -> bool {
    (2..=256).contains(&name.len()) && name.split('/').all(valid_name_component)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_name_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let allowed = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !allowed {
            return false;
        }
    }
    true
}

/// What ECR says of a name that breaks the rule.
pub fn invalid_repository_name_message(name: &str) -> String {
    format!(
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression \
         '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*'' and have a length between 2 and 256 \
         (got {name:?})"
    )
}

/// A tag as the distribution spec allows it: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    (1..=128).contains(&bytes.len())
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-')
}

/// What a manifest URL names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        if text.contains(':') {
            Digest::parse(text)
                .map(Reference::Digest)
                .map_err(ReferenceError::Digest)
        } else if valid_tag(text) {
            Ok(Reference::Tag(text.to_owned()))
        } else {
            Err(ReferenceError::Tag(format!(
                "{text:?} is not a tag: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
            )))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceError {
    Tag(String),
    Digest(String),
}

/// The first and last byte a chunk's `Content-Range` covers. The
/// distribution spec writes it `<start>-<end>` (inclusive); a `bytes `
/// prefix, as some clients send, is accepted too.
pub fn parse_content_range(header: &str) -> Result<(u64, u64), String> {
    let range = header.trim();
    let range = range.strip_prefix("bytes ").unwrap_or(range);
    let invalid = || format!("Content-Range {header:?} is not <first byte>-<last byte>");
    let (start, end) = range.split_once('-').ok_or_else(invalid)?;
    let start: u64 = start.trim().parse().map_err(|_| invalid())?;
    let end: u64 = end.trim().parse().map_err(|_| invalid())?;
    if end < start {
        return Err(format!("Content-Range {header:?} ends before it starts"));
    }
    Ok((start, end))
}

/// The `Range` header an upload answers with: the bytes it holds so far,
/// `0-<last byte>` (`0-0` while empty, as the reference registry writes it).
pub fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digests_are_sha256_of_the_content() {
        assert_eq!(Digest::of(b"").as_str(), EMPTY);
        assert_eq!(
            Digest::of(b"hello").as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let mut hasher = Sha256::new();
        hasher.update(b"hel");
        hasher.update(b"lo");
        assert_eq!(Digest::from_hasher(hasher), Digest::of(b"hello"));
        assert_eq!(Digest::parse(EMPTY).unwrap().hex().len(), 64);
    }

    #[test]
    fn digest_verification_names_both_digests() {
        let claimed = Digest::parse(EMPTY).unwrap();
        assert!(verify(&claimed, &Digest::of(b"")).is_ok());
        let why = verify(&claimed, &Digest::of(b"x")).unwrap_err();
        assert!(
            why.contains(EMPTY) && why.contains(Digest::of(b"x").as_str()),
            "{why}"
        );
    }

    #[test]
    fn malformed_digests_are_refused_with_the_reason() {
        for bad in [
            "sha256:abc",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad:?}");
        }
        let sha512 = Digest::parse("sha512:abcd").unwrap_err();
        assert!(sha512.contains("sha256 digests only"), "{sha512}");
    }

    #[test]
    fn repository_names_follow_ecr() {
        for good in [
            "web",
            "ab",
            "project-a/nginx-web-app",
            "a.b_c__d---e",
            "team/sub/app1",
            "9lives",
        ] {
            assert!(valid_repository_name(good), "{good}");
        }
        for bad in [
            "a",
            "Web",
            "-web",
            "web-",
            "a..b",
            "a___b",
            "a_.b",
            "a//b",
            "/web",
            "web/",
            "we b",
            &"a".repeat(257),
        ] {
            assert!(!valid_repository_name(bad), "{bad}");
        }
        assert!(invalid_repository_name_message("Web").contains("\"Web\""));
    }

    #[test]
    fn references_are_tags_or_digests() {
        assert_eq!(Reference::parse("v1"), Ok(Reference::Tag("v1".into())));
        assert_eq!(
            Reference::parse("_latest.2-x"),
            Ok(Reference::Tag("_latest.2-x".into()))
        );
        assert_eq!(
            Reference::parse(EMPTY),
            Ok(Reference::Digest(Digest::parse(EMPTY).unwrap()))
        );
        assert!(matches!(
            Reference::parse(".v1"),
            Err(ReferenceError::Tag(_))
        ));
        assert!(matches!(
            Reference::parse(&"a".repeat(129)),
            Err(ReferenceError::Tag(_))
        ));
        assert!(matches!(
            Reference::parse("sha256:12"),
            Err(ReferenceError::Digest(_))
        ));
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-99"), Ok((0, 99)));
        assert_eq!(parse_content_range("bytes 100-199"), Ok((100, 199)));
        assert_eq!(parse_content_range(" 5-5 "), Ok((5, 5)));
        for bad in ["", "5", "a-b", "10-5", "-5", "5-"] {
            assert!(parse_content_range(bad).is_err(), "{bad:?}");
        }
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(1), "0-0");
        assert_eq!(upload_range(100), "0-99");
    }
}
