//! `/api/me` and `/api/users`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub name: String,
    /// viewer, deployer, approver or admin.
    pub role: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub name: String,
    pub role: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(value_type = crate::schema::UserNameText)]
    pub name: String,
    #[schema(example = "deployer", value_type = crate::schema::RoleName)]
    pub role: String,
}

/// A new user with the API token that is shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    pub user: User,
    pub token: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

/// How many tokens a revocation ended.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokedTokens {
    pub user: String,
    /// Tokens that were live until now (0 when none were).
    pub revoked: u64,
}

/// The Slack account a user votes from (`PUT /api/users/{name}/slack-account`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackAccount {
    /// The Slack workspace id (`T…`, or `E…` for an Enterprise Grid org).
    #[schema(example = "T0123ABCD", value_type = crate::schema::SlackTeamIdText)]
    pub team_id: String,
    /// The Slack user id (`U…`, or `W…`).
    #[schema(example = "U0123ABCD", value_type = crate::schema::SlackUserIdText)]
    pub user_id: String,
}

/// A user's linked Slack account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LinkedSlackAccount {
    pub user: String,
    pub team_id: String,
    pub user_id: String,
}
