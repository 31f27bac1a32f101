//! Extractors that turn requests into typed input or a clear [`Error`].

use super::{AppState, Error};
use crate::app::{self, Actor};
use crate::domain::FieldError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{Method, StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

/// The authenticated caller, from `Authorization: Bearer <token>`; for
/// reads (GET, HEAD) also from the dashboard's session cookie, so a signed-in
/// page can follow the SSE streams. A change through the API always needs
/// the token: a cookie rides along on cross-site requests, a header does not.
pub struct Authenticated(pub Actor);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
            let reading = matches!(parts.method, Method::GET | Method::HEAD);
            if let Some(session) = super::pages::sessions::cookie(
                &parts.headers,
                super::pages::sessions::SESSION_COOKIE,
            )
            .filter(|_| reading)
            {
                return Ok(Authenticated(state.app.session(session).await?.actor));
            }
            return Err(app::Error::Unauthenticated(
                "this route needs an API token: send Authorization: Bearer <token>",
            )
            .into());
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(app::Error::Unauthenticated(
                "the Authorization header must be Bearer <token>",
            ))?;
        Ok(Authenticated(state.app.authenticate(token).await?))
    }
}

/// A JSON body. Malformed JSON is a 400; a value of the wrong type, a
/// missing or an unknown field is a 422 naming the field; a body over the
/// configured limit is a 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Error> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
            });
        if !is_json {
            return Err(Error::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::PayloadTooLarge(format!(
                        "the body is larger than the limit of {} bytes",
                        state.config.max_body_bytes
                    ))
                } else {
                    Error::MalformedJson(format!("could not read the body: {rejection}"))
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            Error::from(field_error(&path, &inner.to_string()))
        } else {
            Error::MalformedJson(format!("the body is not valid JSON: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| Error::MalformedJson(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// serde reports a missing or unknown field at the path of the object that
/// holds it; point at the field itself.
fn field_error(path: &str, message: &str) -> FieldError {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (path, named) {
        (".", Some(name)) | ("", Some(name)) => name.to_owned(),
        // An unknown field is already at the end of the path.
        (path, Some(name)) if path == name || path.ends_with(&format!(".{name}")) => {
            path.to_owned()
        }
        (path, Some(name)) => format!("{path}.{name}"),
        (".", None) | ("", None) => "body".to_owned(),
        (path, None) => path.to_owned(),
    };
    // Drop serde's " at line 1 column 17" tail: the field says where.
    let message = message.split(" at line ").next().unwrap_or(message);
    FieldError {
        field,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_errors_name_the_field() {
        let e = field_error(".", "missing field `name` at line 1 column 2");
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("name", "missing field `name`")
        );
        let e = field_error("resources", "missing field `cluster`");
        assert_eq!(e.field, "resources.cluster");
        let e = field_error(
            "resources.clustr",
            "unknown field `clustr`, expected one of `cluster`",
        );
        assert_eq!(e.field, "resources.clustr");
        let e = field_error("name", "invalid type: integer `5`, expected a string");
        assert_eq!(e.field, "name");
        assert_eq!(
            field_error(".", "invalid type: string, expected struct").field,
            "body"
        );
    }
}
