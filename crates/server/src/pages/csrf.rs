//! Every form a page posts carries its session's CSRF token in a hidden
//! field `csrf`; [`SessionForm`] refuses a POST without the right one
//! before any handler runs.

use super::sessions::{SignedIn, came_over_tls};
use super::{Chrome, PageError};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use switchyard_core::app::sessions::secrets_match;

/// The refusal of a form that did not come from a page of this session.
pub fn refused(what: &str) -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Refused: the form's security token is missing or wrong",
        format!(
            "{what} did not carry this session's security token, so switchyard did not act on it. \
             This happens when a page was open from before you signed in again, or when \
             another site tried to submit a form as you. Reload the page and try again."
        ),
    )
}

/// A form with no fields besides `csrf`.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// A form posted by a signed-in person, its CSRF token checked.
pub struct SessionForm<T> {
    pub signed_in: SignedIn,
    pub fields: T,
    /// Whether the request came over TLS (for cookies set in the answer).
    pub tls: bool,
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned> FromRequest<AppState> for SessionForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed_in = SignedIn::from_request_parts(&mut parts, state).await?;
        let chrome = Chrome::new("Refused", &signed_in.session, "");
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let tls = came_over_tls(&parts);
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| {
                PageError::new(e.status(), "The form could not be read", e.body_text())
                    .within(chrome.clone())
                    .into_response()
            })?;
        let token = if is_form {
            serde_urlencoded::from_bytes::<CsrfField>(&bytes)
                .map(|f| f.csrf)
                .unwrap_or_default()
        } else {
            String::new()
        };
        if token.is_empty() || !secrets_match(&token, &signed_in.session.csrf_token) {
            return Err(refused("The form").within(chrome).into_response());
        }
        let fields = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| {
            PageError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The form could not be read",
                format!("the form's fields are not valid: {e}"),
            )
            .within(chrome)
            .into_response()
        })?;
        Ok(SessionForm {
            signed_in,
            fields,
            tls,
        })
    }
}
