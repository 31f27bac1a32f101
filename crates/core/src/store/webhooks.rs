//! Webhook deliveries: each accepted one is stored once.

use serde::{Deserialize, Serialize};
use sqlx::SqliteExecutor;
use sqlx::types::Json;

#[derive(Debug, Clone, Default)]
pub struct NewDelivery<'a> {
    pub provider: &'a str,
    pub delivery_id: Option<&'a str>,
    pub event: &'a str,
    pub repository: &'a str,
    pub branch: Option<&'a str>,
    pub before_sha: Option<&'a str>,
    pub after_sha: Option<&'a str>,
    pub author: Option<&'a str>,
    pub message: Option<&'a str>,
    pub pusher: Option<&'a str>,
    pub compare: Option<&'a str>,
    pub commit_count: Option<i64>,
    /// The commits the payload lists, newest first; None when it lists
    /// only the head commit, which `author` and `message` hold already.
    pub commits: Option<Json<Vec<PushedCommit>>>,
    pub received_at: i64,
}

/// One commit a push lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedCommit {
    pub sha: String,
    pub author: String,
    pub message: String,
}

/// Stores the delivery; `None` when one with the same id is stored already.
pub async fn insert_once(
    db: impl SqliteExecutor<'_>,
    d: &NewDelivery<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (provider, delivery_id, event, repository, branch, \
             before_sha, after_sha, author, message, pusher, compare, commit_count, commits, \
             received_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (provider, delivery_id) WHERE delivery_id IS NOT NULL DO NOTHING \
         RETURNING id",
    )
    .bind(d.provider)
    .bind(d.delivery_id)
    .bind(d.event)
    .bind(d.repository)
    .bind(d.branch)
    .bind(d.before_sha)
    .bind(d.after_sha)
    .bind(d.author)
    .bind(d.message)
    .bind(d.pusher)
    .bind(d.compare)
    .bind(d.commit_count)
    .bind(&d.commits)
    .bind(d.received_at)
    .fetch_optional(db)
    .await
}

/// How many deliveries carry each id (for the ingest benchmark's proof).
pub async fn count(db: impl SqliteExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries")
        .fetch_one(db)
        .await
}

/// A recorded push: the commit it moved the branch from and to, its head
/// commit's author and message, and the commits it listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PushRow {
    pub before_sha: Option<String>,
    pub after_sha: String,
    pub author: Option<String>,
    pub message: Option<String>,
    pub commit_count: Option<i64>,
    pub commits: Option<Json<Vec<PushedCommit>>>,
}

impl PushRow {
    /// The commits the push listed, newest first: its head commit alone
    /// when it listed no others.
    pub fn listed(&self) -> Vec<PushedCommit> {
        match &self.commits {
            Some(Json(listed)) if !listed.is_empty() => listed.clone(),
            _ => vec![PushedCommit {
                sha: self.after_sha.clone(),
                author: self.author.clone().unwrap_or_default(),
                message: self.message.clone().unwrap_or_default(),
            }],
        }
    }
}

/// The latest recorded push that moved a branch to `after_sha`.
pub async fn push_to(
    db: impl SqliteExecutor<'_>,
    after_sha: &str,
) -> Result<Option<PushRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT before_sha, after_sha, author, message, commit_count, commits \
         FROM webhook_deliveries \
         WHERE after_sha = ? ORDER BY id DESC LIMIT 1",
    )
    .bind(after_sha)
    .fetch_optional(db)
    .await
}
