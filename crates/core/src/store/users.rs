//! Users and their API tokens.

use sqlx::{FromRow, SqliteExecutor};
use switchyard_domain::user::Role;

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
}

pub async fn count(db: impl SqliteExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db)
        .await
}

pub async fn insert(
    db: impl SqliteExecutor<'_>,
    name: &str,
    role: Role,
    now: i64,
) -> Result<UserRow, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)
         RETURNING id, name, role, created_at",
    )
    .bind(name)
    .bind(role)
    .bind(now)
    .fetch_one(db)
    .await
}

pub async fn find_by_name(
    db: impl SqliteExecutor<'_>,
    name: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, role, created_at FROM users WHERE name = ?")
        .bind(name)
        .fetch_optional(db)
        .await
}

/// Marks every live token of the user revoked; returns how many were.
pub async fn revoke_tokens(
    db: impl SqliteExecutor<'_>,
    user_id: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(db)
        .await
        .map(|done| done.rows_affected())
}

pub async fn list(db: impl SqliteExecutor<'_>) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, role, created_at FROM users ORDER BY name")
        .fetch_all(db)
        .await
}

pub async fn insert_token(
    db: impl SqliteExecutor<'_>,
    user_id: i64,
    token_hash: &[u8],
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES (?, ?, ?)")
        .bind(user_id)
        .bind(token_hash)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
}

/// The user holding a live (not revoked) token with this hash.
pub async fn find_by_token_hash(
    db: impl SqliteExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.name, u.role, u.created_at
         FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = ? AND t.revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}
