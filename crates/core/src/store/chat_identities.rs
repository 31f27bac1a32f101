//! Slack accounts linked to switchyard users, and the Slack interactions
//! already taken (replay refusal).

use super::users::UserRow;
use sqlx::{FromRow, SqliteExecutor};

/// A user's linked Slack account.
#[derive(Debug, Clone, FromRow)]
pub struct SlackAccountRow {
    pub slack_team_id: String,
    pub slack_user_id: String,
}

/// Links (or re-links) the user's Slack account. Fails with a unique
/// violation when that Slack account belongs to another user.
pub async fn link(
    db: impl SqliteExecutor<'_>,
    user_id: i64,
    team_id: &str,
    slack_user_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO chat_identities (slack_team_id, slack_user_id, user_id, created_at)
         VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET
             slack_team_id = excluded.slack_team_id,
             slack_user_id = excluded.slack_user_id,
             created_at = excluded.created_at",
    )
    .bind(team_id)
    .bind(slack_user_id)
    .bind(user_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Removes the user's link; returns the account that was linked.
pub async fn unlink(
    db: impl SqliteExecutor<'_>,
    user_id: i64,
) -> Result<Option<SlackAccountRow>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM chat_identities WHERE user_id = ?
         RETURNING slack_team_id, slack_user_id",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// The switchyard user a Slack account is linked to.
pub async fn user_of(
    db: impl SqliteExecutor<'_>,
    team_id: &str,
    slack_user_id: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.name, u.role, u.created_at FROM chat_identities c
         JOIN users u ON u.id = c.user_id
         WHERE c.slack_team_id = ? AND c.slack_user_id = ?",
    )
    .bind(team_id)
    .bind(slack_user_id)
    .fetch_optional(db)
    .await
}

/// Records an interaction's signature, dropping those older than
/// `forget_before`; false when it was recorded already (a replay).
pub async fn record_delivery(
    db: &mut sqlx::SqliteConnection,
    signature_digest: &str,
    now: i64,
    forget_before: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM slack_deliveries WHERE received_at < ?")
        .bind(forget_before)
        .execute(&mut *db)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO slack_deliveries (signature_digest, received_at) VALUES (?, ?)
         ON CONFLICT (signature_digest) DO NOTHING",
    )
    .bind(signature_digest)
    .bind(now)
    .execute(&mut *db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
