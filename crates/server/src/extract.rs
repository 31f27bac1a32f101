//! Extractors that turn requests into typed input or a clear [`Error`].

use super::{AppState, Error};
use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, RawPathParams, Request};
use axum::http::{Method, StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use switchyard_core::app::{self, Actor};
use switchyard_domain::FieldError;
use switchyard_domain::user::Role;

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

/// The caller, whose role must be at least `R`'s. Checked from the headers
/// before the path or the body is read, so a caller without the role gets
/// 403 whatever it sends. The use case checks again with its own wording;
/// this answers first.
pub struct Authorized<R>(pub Actor, pub PhantomData<R>);

/// The least role a route needs.
pub trait NeededRole {
    const ROLE: Role;
    /// What the role does, for the 403 message ("… needs the deployer role").
    const ACTION: &'static str;
}

/// Starts, continues, stops and rolls back deployments and pipelines.
pub struct Deployer;
/// Votes on release approvals.
pub struct Approver;
/// Manages environments, stacks and users.
pub struct Admin;

impl NeededRole for Deployer {
    const ROLE: Role = Role::Deployer;
    const ACTION: &'static str = "changing releases, deployments and pipelines";
}
impl NeededRole for Approver {
    const ROLE: Role = Role::Approver;
    const ACTION: &'static str = "voting on approvals";
}
impl NeededRole for Admin {
    const ROLE: Role = Role::Admin;
    const ACTION: &'static str = "managing environments, stacks and users";
}

impl<R: NeededRole> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Authenticated(actor) = Authenticated::from_request_parts(parts, state).await?;
        actor.require(R::ROLE, R::ACTION)?;
        Ok(Authorized(actor, PhantomData))
    }
}

/// Path parameters. One that does not parse (`/api/deployments/abc`, an id
/// past i64) is a 400 naming the parameter, in the API's error shape.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => {
                let names: Vec<String> = RawPathParams::from_request_parts(parts, state)
                    .await
                    .map(|raw| raw.iter().map(|(name, _)| name.to_owned()).collect())
                    .unwrap_or_default();
                Err(app::Error::Malformed(path_error(&rejection, &names)).into())
            }
        }
    }
}

fn path_error(rejection: &PathRejection, names: &[String]) -> FieldError {
    let only = || names.first().cloned().unwrap_or_else(|| "path".into());
    let (field, value, expected) = match rejection {
        PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
            ErrorKind::ParseErrorAtKey {
                key,
                value,
                expected_type,
            } => (key.clone(), value.clone(), *expected_type),
            ErrorKind::ParseErrorAtIndex {
                index,
                value,
                expected_type,
            } => (
                names.get(*index).cloned().unwrap_or_else(only),
                value.clone(),
                *expected_type,
            ),
            ErrorKind::ParseError {
                value,
                expected_type,
            } => (only(), value.clone(), *expected_type),
            other => {
                return FieldError {
                    field: only(),
                    message: format!("the path is not valid: {other}"),
                };
            }
        },
        other => {
            return FieldError {
                field: only(),
                message: format!("the path is not valid: {other}"),
            };
        }
    };
    let expected = match expected {
        "i64" => "a whole number (at most 9223372036854775807)",
        other => other,
    };
    FieldError {
        message: format!("{field} must be {expected} (got {value:?})"),
        field,
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

/// A JSON body that may be left out: no body at all, or `null`, reads as
/// the default; any other body is read as [`ApiJson`] reads it.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Error> {
        let headers = request.headers();
        let empty = headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length == "0")
            || (!headers.contains_key(header::CONTENT_LENGTH)
                && !headers.contains_key(header::TRANSFER_ENCODING));
        if empty {
            return Ok(OptionalJson(T::default()));
        }
        ApiJson::<Option<T>>::from_request(request, state)
            .await
            .map(|ApiJson(body)| OptionalJson(body.unwrap_or_default()))
    }
}

/// Reads JSON in two steps, so that text that is not JSON (truncated
/// included) is a 400 and JSON of the wrong shape a 422 naming the field.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut json: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::MalformedJson(format!("the body is not valid JSON: {e}")))?;
    // Every body is an object; serde would also read a struct from an array.
    if json.is_array() {
        return Err(Error::from(FieldError {
            field: "body".into(),
            message: "the body must be a JSON object, not an array".into(),
        }));
    }
    integral_floats_as_integers(&mut json);
    serde_path_to_error::deserialize(json).map_err(|e| {
        let path = e.path().to_string();
        Error::from(field_error(&path, &e.into_inner().to_string()))
    })
}

/// JSON has one number type: `2.0` is the integer 2 to JSON Schema (and so
/// to the OpenAPI document), and is taken as one here.
fn integral_floats_as_integers(json: &mut serde_json::Value) {
    use serde_json::Value;
    match json {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                *json = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
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
