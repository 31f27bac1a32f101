//! Dashboard sessions: the hash of each session id, the token it was opened
//! with, its CSRF token and when it expires.

use super::users::UserRow;
use sqlx::{FromRow, SqliteExecutor};

/// A live token and its user, found by the token's hash.
#[derive(Debug, Clone, FromRow)]
pub struct TokenOwner {
    pub token_id: i64,
    #[sqlx(flatten)]
    pub user: UserRow,
}

pub async fn find_token_owner(
    db: impl SqliteExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<TokenOwner>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id AS token_id, u.id, u.name, u.role, u.created_at
         FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = ? AND t.revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

pub struct NewSession<'a> {
    pub id_hash: &'a [u8],
    pub token_id: i64,
    pub csrf_token: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert(db: impl SqliteExecutor<'_>, s: &NewSession<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, token_id, csrf_token, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(s.id_hash)
    .bind(s.token_id)
    .bind(s.csrf_token)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(db)
    .await
    .map(|_| ())
}

/// A live session: not expired, and its token not revoked.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub csrf_token: String,
    pub expires_at: i64,
    #[sqlx(flatten)]
    pub user: UserRow,
}

pub async fn find_live(
    db: impl SqliteExecutor<'_>,
    id_hash: &[u8],
    now: i64,
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.csrf_token, s.expires_at, u.id, u.name, u.role, u.created_at
         FROM sessions s
         JOIN api_tokens t ON t.id = s.token_id AND t.revoked_at IS NULL
         JOIN users u ON u.id = t.user_id
         WHERE s.id_hash = ? AND s.expires_at > ?",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(db)
    .await
}

/// Ends a session; whether there was one.
pub async fn delete(db: impl SqliteExecutor<'_>, id_hash: &[u8]) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
        .bind(id_hash)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// Forgets sessions that expired before `now`.
pub async fn delete_expired(db: impl SqliteExecutor<'_>, now: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
        .bind(now)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}
