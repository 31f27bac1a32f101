//! Registry passwords: ECR's authorization tokens. A token is its expiry
//! and an HMAC of it under a secret kept in the data dir, so the registry
//! checks a token without storing it, and tokens stay valid across a
//! restart of the local cloud.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::path::Path;

/// How long a token is valid, as in ECR.
pub const TOKEN_LIFETIME_MILLIS: i64 = 12 * 60 * 60 * 1000;
/// The user name ECR's tokens go with.
pub const USER: &str = "AWS";

const SECRET_BYTES: usize = 32;

#[derive(Clone)]
pub struct TokenSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner")
    }
}

/// Why a password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Invalid,
    Expired,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => {
                "no basic auth credentials: log in with `aws ecr get-login-password | docker login --username AWS --password-stdin <registry>`"
            }
            Refusal::Invalid => {
                "Not Authorized: the password is not an authorization token of this registry (user AWS, password from aws ecr get-login-password)"
            }
            Refusal::Expired => {
                "Your authorization token has expired. Reauthenticate and try again."
            }
        }
    }
}

impl TokenSigner {
    pub fn new(secret: Vec<u8>) -> TokenSigner {
        TokenSigner { secret }
    }

    /// The secret stored at `path`, made (readable by the owner only) on
    /// first use.
    pub fn load_or_create(path: &Path) -> anyhow::Result<TokenSigner> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let secret = hex::decode(text.trim())
                    .ok()
                    .filter(|s| s.len() == SECRET_BYTES)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "{} is corrupt: remove it to issue new registry tokens (logins made with the old ones stop working)",
                            path.display()
                        )
                    })?;
                Ok(TokenSigner::new(secret))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret: Vec<u8> = (0..SECRET_BYTES).map(|_| rand::random::<u8>()).collect();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut file = {
                    use std::os::unix::fs::OpenOptionsExt;
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(path)
                        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?
                };
                file.write_all(hex::encode(&secret).as_bytes())?;
                file.sync_data()?;
                Ok(TokenSigner::new(secret))
            }
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    fn mac(&self, expires_at: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(format!("switchyard-ecr-token:{expires_at}").as_bytes());
        mac
    }

    /// A token valid for 12 hours from `now` (epoch millis), and its expiry.
    pub fn issue(&self, now: i64) -> (String, i64) {
        let expires_at = now + TOKEN_LIFETIME_MILLIS;
        let signature = hex::encode(self.mac(expires_at).finalize().into_bytes());
        (format!("{expires_at}.{signature}"), expires_at)
    }

    pub fn verify(&self, token: &str, now: i64) -> Result<(), Refusal> {
        let (expires_at, signature) = token.split_once('.').ok_or(Refusal::Invalid)?;
        let expires_at: i64 = expires_at.parse().map_err(|_| Refusal::Invalid)?;
        let signature = hex::decode(signature).map_err(|_| Refusal::Invalid)?;
        self.mac(expires_at)
            .verify_slice(&signature)
            .map_err(|_| Refusal::Invalid)?;
        if expires_at <= now {
            return Err(Refusal::Expired);
        }
        Ok(())
    }

    /// Checks an `Authorization: Basic` header: user AWS, a live token.
    pub fn check_basic(&self, header: Option<&str>, now: i64) -> Result<(), Refusal> {
        let header = header.ok_or(Refusal::Missing)?;
        let (scheme, encoded) = header.trim().split_once(' ').ok_or(Refusal::Invalid)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(Refusal::Missing);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| Refusal::Invalid)?;
        let decoded = String::from_utf8(decoded).map_err(|_| Refusal::Invalid)?;
        match decoded.split_once(':') {
            Some((USER, token)) => self.verify(token, now),
            _ => Err(Refusal::Invalid),
        }
    }
}

/// ECR's `authorizationToken`: base64 of `AWS:<token>`.
pub fn authorization_token(token: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let signer = TokenSigner::new(vec![7; 32]);
        let (token, expires_at) = signer.issue(1_000);
        assert_eq!(expires_at, 1_000 + TOKEN_LIFETIME_MILLIS);
        assert_eq!(signer.verify(&token, 1_000), Ok(()));
        assert_eq!(signer.verify(&token, expires_at - 1), Ok(()));
        assert_eq!(signer.verify(&token, expires_at), Err(Refusal::Expired));
    }

    #[test]
    fn forged_or_foreign_tokens_are_refused() {
        let signer = TokenSigner::new(vec![7; 32]);
        let other = TokenSigner::new(vec![8; 32]);
        let (token, expires_at) = other.issue(0);
        assert_eq!(signer.verify(&token, 0), Err(Refusal::Invalid));
        // A later expiry with the old signature.
        let (mine, _) = signer.issue(0);
        let signature = mine.split_once('.').unwrap().1;
        let extended = format!("{}.{signature}", expires_at + 1);
        assert_eq!(signer.verify(&extended, 0), Err(Refusal::Invalid));
        for junk in ["", "abc", "1.zz", "x.00"] {
            assert_eq!(signer.verify(junk, 0), Err(Refusal::Invalid), "{junk:?}");
        }
    }

    #[test]
    fn basic_auth_needs_user_aws_and_a_token() {
        let signer = TokenSigner::new(vec![1; 32]);
        let (token, _) = signer.issue(0);
        assert_eq!(signer.check_basic(Some(&basic("AWS", &token)), 0), Ok(()));
        assert_eq!(
            signer.check_basic(Some(&basic("admin", &token)), 0),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            signer.check_basic(Some(&basic("AWS", "hunter2")), 0),
            Err(Refusal::Invalid)
        );
        assert_eq!(signer.check_basic(None, 0), Err(Refusal::Missing));
        assert_eq!(
            signer.check_basic(Some("Bearer abc"), 0),
            Err(Refusal::Missing)
        );
        assert_eq!(
            signer.check_basic(Some("Basic !!!"), 0),
            Err(Refusal::Invalid)
        );
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(authorization_token(&token))
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), format!("AWS:{token}"));
    }

    #[test]
    fn the_secret_survives_reloading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry").join("token-secret");
        let first = TokenSigner::load_or_create(&path).unwrap();
        let (token, _) = first.issue(0);
        let again = TokenSigner::load_or_create(&path).unwrap();
        assert_eq!(again.verify(&token, 0), Ok(()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "short").unwrap();
        let why = TokenSigner::load_or_create(&path).unwrap_err().to_string();
        assert!(why.contains("corrupt"), "{why}");
    }
}
