//! `/api/me` and `/api/users`.

use super::timestamp;
use crate::extract::{Admin, ApiJson, Authenticated, Authorized};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use switchyard_api::users::{
    CreateUser, CreatedUser, LinkedSlackAccount, Me, RevokedTokens, SlackAccount, User, UserList,
};
use switchyard_core::store::users::UserRow;
use switchyard_domain::ForField;
use switchyard_domain::slack::{TeamId, UserId};
use switchyard_domain::user::{Role, UserName};

/// A user as the API shows it (and `switchyard user list` prints it).
pub fn user_json(row: UserRow) -> User {
    User {
        name: row.name,
        role: row.role.to_string(),
        created_at: timestamp(row.created_at),
    }
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/me", tag = "users",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(Authenticated(actor): Authenticated) -> Json<Me> {
    Json(Me {
        name: actor.name,
        role: actor.role.to_string(),
    })
}

/// Create a user and their first API token (admin).
#[utoipa::path(post, path = "/api/users", tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, body = CreatedUser),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<impl IntoResponse, Error> {
    let name = UserName::parse(&body.name).for_field("name")?;
    let role = Role::parse(&body.role).for_field("role")?;
    let (user, token) = state.app.create_user(&actor, &name, role).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: user_json(user),
            token: token.expose().to_owned(),
        }),
    ))
}

/// List users (admin).
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, body = UserList), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
) -> Result<Json<UserList>, Error> {
    let users = state.app.list_users(&actor).await?;
    Ok(Json(UserList {
        users: users.into_iter().map(user_json).collect(),
    }))
}

/// Revoke every API token of a user (admin). Effective at once on this
/// server; the user's dashboard sessions end with them. An admin cannot
/// revoke their own tokens (409): that would end their own access, and
/// getting back in through `switchyard user add` on the server leaves the
/// audit trail without a named admin. Another admin can, or `switchyard
/// user revoke` on the server.
#[utoipa::path(delete, path = "/api/users/{name}/tokens", tag = "users",
    params(("name" = switchyard_api::schema::UserNameText, Path, description = "User name")),
    responses(
        (status = 200, body = RevokedTokens),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The caller's own tokens", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn revoke_tokens(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<RevokedTokens>, Error> {
    actor.require(Role::Admin, "revoking tokens")?;
    let name = UserName::parse(&name).for_field("name")?;
    let revoked = state.app.revoke_tokens(&actor, &name).await?;
    Ok(Json(RevokedTokens {
        user: name.as_str().to_owned(),
        revoked,
    }))
}

/// Link the Slack account a user approves from (admin): a click on
/// Approve or Reject in Slack then votes as this user. Audited as
/// `user.slack_linked`.
#[utoipa::path(put, path = "/api/users/{name}/slack-account", tag = "users",
    params(("name" = switchyard_api::schema::UserNameText, Path, description = "User name")),
    request_body = SlackAccount,
    responses(
        (status = 200, body = LinkedSlackAccount),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The Slack account is linked to another user", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn link_slack(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<SlackAccount>,
) -> Result<Json<LinkedSlackAccount>, Error> {
    let name = UserName::parse(&name).for_field("name")?;
    let team = TeamId::parse(&body.team_id).for_field("team_id")?;
    let user = UserId::parse(&body.user_id).for_field("user_id")?;
    state
        .app
        .link_slack_account(&actor, &name, &team, &user)
        .await?;
    Ok(Json(LinkedSlackAccount {
        user: name.as_str().to_owned(),
        team_id: body.team_id,
        user_id: body.user_id,
    }))
}

/// Unlink a user's Slack account (admin); audited as `user.slack_unlinked`.
/// 204 also when none was linked: afterwards none is, as asked.
#[utoipa::path(delete, path = "/api/users/{name}/slack-account", tag = "users",
    params(("name" = switchyard_api::schema::UserNameText, Path, description = "User name")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn unlink_slack(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Admin>,
    Path(name): Path<String>,
) -> Result<StatusCode, Error> {
    let name = UserName::parse(&name).for_field("name")?;
    state.app.unlink_slack_account(&actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
