//! Dashboard sessions: a person signs in with their API token once and the
//! browser carries a random session id from then on. The database keeps a
//! SHA-256 of the id; the session lives as long as [`SESSION_TTL`] and the
//! token it was opened with.

use super::{Actor, App, Error, Result, detail};
use crate::store::{self, events::NewEvent, sessions::NewSession};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a sign-in lasts; then the person signs in again.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// A secret only the browser holds (the cookie's value).
pub struct SessionId(String);

impl SessionId {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(***)")
    }
}

/// A signed-in person, as a request sees them.
#[derive(Debug, Clone)]
pub struct Session {
    pub actor: Actor,
    /// Every form of this session carries it; a POST without it is refused.
    pub csrf_token: String,
    pub expires_at: i64,
}

/// 32 random bytes, URL-safe base64: for session ids and CSRF tokens.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares secrets without giving away, through timing, how much matched.
pub fn secrets_match(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl App {
    /// Opens a session for the holder of an API token.
    pub async fn sign_in(&self, token: &str) -> Result<(SessionId, Session)> {
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::Invalid(switchyard_domain::FieldError {
                field: "token".into(),
                message: "enter your API token".into(),
            }));
        }
        let owner = store::sessions::find_token_owner(self.store.reader(), &hash(token))
            .await?
            .ok_or(Error::Unauthenticated("that API token is not valid"))?;
        let role = owner.user.role;
        let actor = Actor {
            user_id: owner.user.id,
            name: owner.user.name,
            role,
        };
        let id = SessionId(random_secret());
        let csrf_token = random_secret();
        let now = store::now_millis();
        let expires_at = now + SESSION_TTL.as_millis() as i64;
        let mut tx = self.store.begin().await?;
        store::sessions::delete_expired(&mut *tx, now).await?;
        store::sessions::insert(
            &mut *tx,
            &NewSession {
                id_hash: &hash(id.expose()),
                token_id: owner.token_id,
                csrf_token: &csrf_token,
                created_at: now,
                expires_at,
            },
        )
        .await?;
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: None,
                deployment_id: None,
                actor: &actor.name,
                kind: "session.signed_in",
                detail: detail(serde_json::json!({"user": actor.name})),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok((
            id,
            Session {
                actor,
                csrf_token,
                expires_at,
            },
        ))
    }

    /// The live session with this id.
    pub async fn session(&self, id: &str) -> Result<Session> {
        let row = store::sessions::find_live(self.store.reader(), &hash(id), store::now_millis())
            .await?
            .ok_or(Error::Unauthenticated(
                "the session has ended; sign in again",
            ))?;
        let role = row.user.role;
        Ok(Session {
            actor: Actor {
                user_id: row.user.id,
                name: row.user.name,
                role,
            },
            csrf_token: row.csrf_token,
            expires_at: row.expires_at,
        })
    }

    /// Ends a session. Ending one that has already ended is not an error.
    pub async fn sign_out(&self, id: &str, actor: &Actor) -> Result<()> {
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        if store::sessions::delete(&mut *tx, &hash(id)).await? {
            store::events::append(
                &mut *tx,
                &NewEvent {
                    environment_id: None,
                    deployment_id: None,
                    actor: &actor.name,
                    kind: "session.signed_out",
                    detail: detail(serde_json::json!({"user": actor.name})),
                    created_at: now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_compared_whole() {
        let a = random_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_secret());
        assert!(secrets_match(&a, &a.clone()));
        assert!(!secrets_match(&a, &a[..42]));
        assert!(!secrets_match(&a, &random_secret()));
        assert!(!secrets_match("", "x"));
        assert_eq!(
            format!("{:?}", SessionId("secret".into())),
            "SessionId(***)"
        );
    }
}
