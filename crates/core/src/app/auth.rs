//! API tokens: random, shown once, stored as a SHA-256 hash, sent as
//! `Authorization: Bearer`.

use super::{App, Error, Result};
use crate::store::{self, users::UserRow};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use switchyard_domain::user::{Role, UserName};

/// Who is asking: an authenticated user and their role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
}

impl Actor {
    /// Refuses the action unless the actor's role includes `needed`.
    pub fn require(&self, needed: Role, action: &'static str) -> Result<()> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                action,
                needed,
                user: self.name.clone(),
                has: self.role,
            })
        }
    }

    pub(super) fn from_row(row: UserRow) -> Result<Actor> {
        Ok(Actor {
            user_id: row.id,
            name: row.name,
            role: row.role,
        })
    }
}

/// A new API token. Its text exists only in this value and in what the
/// caller shows the user; the database keeps its hash.
pub struct NewToken(String);

impl NewToken {
    const PREFIX: &'static str = "sy_";

    fn generate() -> NewToken {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        NewToken(format!(
            "{}{}",
            Self::PREFIX,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewToken(***)")
    }
}

type TokenHash = [u8; 32];

fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Recently seen tokens, so a busy script does not cost a database lookup
/// per request. A revocation through this process drops the user's entries
/// at once; entries also expire quickly, so a token revoked by another
/// process (`switchyard user revoke` writes the database directly) stops
/// working within [`TokenCache::TTL`].
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<TokenHash, (Actor, Instant)>>,
}

impl TokenCache {
    pub const TTL: Duration = Duration::from_secs(10);
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, hash: &TokenHash) -> Option<Actor> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < Self::TTL)
            .map(|(actor, _)| actor.clone())
    }

    fn put(&self, hash: TokenHash, actor: Actor) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, (_, at)| at.elapsed() < Self::TTL);
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(hash, (actor, Instant::now()));
    }

    fn forget_user(&self, user_id: i64) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, (actor, _)| actor.user_id != user_id);
    }
}

impl App {
    /// The user a bearer token belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<Actor> {
        let hash = hash_token(token);
        if let Some(actor) = self.tokens.get(&hash) {
            return Ok(actor);
        }
        let row = store::users::find_by_token_hash(self.store.reader(), &hash)
            .await?
            .ok_or(Error::Unauthenticated("the API token is not valid"))?;
        let actor = Actor::from_row(row)?;
        self.tokens.put(hash, actor.clone());
        Ok(actor)
    }

    /// Revokes every API token of `name` (and so their dashboard sessions),
    /// recording who did it; returns how many tokens were live. `by` is
    /// `None` for `switchyard user revoke`. The token cache of this process
    /// forgets the user before this returns.
    ///
    /// A user may not revoke their own tokens: that ends every access they
    /// have, and the only way back, `switchyard user add` on the host, acts
    /// as the anonymous local-admin, so the audit trail would lose who
    /// administers the server from then on. Another admin, or `switchyard
    /// user revoke` on the host, can.
    pub(super) async fn revoke_user_tokens(
        &self,
        by: Option<&Actor>,
        name: &UserName,
    ) -> Result<u64> {
        let now = store::now_millis();
        let mut tx = self.store.begin().await?;
        let user = store::users::find_by_name(&mut *tx, name.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user named {name}")))?;
        if by.is_some_and(|actor| actor.user_id == user.id) {
            return Err(Error::Conflict(format!(
                "{name} cannot revoke their own tokens: that would end their own access; \
                 another admin can, or `switchyard user revoke {name}` on the server"
            )));
        }
        let revoked = store::users::revoke_tokens(&mut *tx, user.id, now).await?;
        append_user_event(
            &mut tx,
            by,
            "user.tokens_revoked",
            serde_json::json!({"user": name.as_str(), "tokens": revoked}),
            now,
        )
        .await?;
        tx.commit().await?;
        self.tokens.forget_user(user.id);
        Ok(revoked)
    }

    /// Creates a user with a first API token, recording who did it.
    /// `by` is `None` for the local administration commands, which act as
    /// whoever can read the data dir.
    pub(super) async fn insert_user_with_token(
        &self,
        by: Option<&Actor>,
        name: &UserName,
        role: Role,
    ) -> Result<(UserRow, NewToken)> {
        let now = store::now_millis();
        let token = NewToken::generate();
        let mut tx = self.store.begin().await?;
        let user = store::users::insert(&mut *tx, name.as_str(), role, now)
            .await
            .map_err(|e| {
                if store::is_unique_violation(&e) {
                    Error::Conflict(format!("a user named {name} already exists"))
                } else {
                    e.into()
                }
            })?;
        store::users::insert_token(&mut *tx, user.id, &hash_token(token.expose()), now).await?;
        append_user_event(
            &mut tx,
            by,
            "user.created",
            serde_json::json!({"user": name.as_str(), "role": role.as_str()}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((user, token))
    }
}

/// The audit event of a change to a user; `by` is `None` for the local
/// administration commands.
pub(super) async fn append_user_event(
    tx: &mut store::Tx,
    by: Option<&Actor>,
    kind: &str,
    detail: serde_json::Value,
    now: i64,
) -> Result<()> {
    store::events::append(
        &mut **tx,
        &store::events::NewEvent {
            environment_id: None,
            deployment_id: None,
            actor: by.map_or("local-admin", |a| a.name.as_str()),
            kind,
            detail: super::detail(detail),
            created_at: now,
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = NewToken::generate();
        let b = NewToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("sy_"));
        assert_eq!(a.expose().len(), 3 + 43);
        assert_eq!(hash_token(a.expose()), hash_token(a.expose()));
        assert_ne!(hash_token(a.expose()), hash_token(b.expose()));
        assert_eq!(format!("{a:?}"), "NewToken(***)");
    }

    #[test]
    fn roles_gate_actions() {
        let viewer = Actor {
            user_id: 1,
            name: "v".into(),
            role: Role::Viewer,
        };
        let err = viewer
            .require(Role::Deployer, "recording a release")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "recording a release needs the deployer role; v is viewer"
        );
        viewer.require(Role::Viewer, "reading").unwrap();
    }
}
