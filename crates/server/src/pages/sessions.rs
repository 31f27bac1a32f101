//! Signing in with an API token, the session cookie, signing out.

use super::{Chrome, PageError, html, see_other};
use crate::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchyard_core::app::sessions::{SESSION_TTL, Session, random_secret, secrets_match};

/// The session cookie: a random id, HttpOnly, SameSite=Strict.
pub const SESSION_COOKIE: &str = "sy_session";
/// The sign-in form's own CSRF secret (double submit), before any session exists.
const SIGN_IN_COOKIE: &str = "sy_sign_in";

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Whether the browser reached us over TLS: directly, or through a proxy
/// that says so. Cookies then get `Secure`.
pub fn came_over_tls(parts: &Parts) -> bool {
    let forwarded_https = parts
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    let standard_forwarded = parts
        .headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split([';', ','])
                .any(|kv| kv.trim().eq_ignore_ascii_case("proto=https"))
        });
    forwarded_https || standard_forwarded || parts.uri.scheme_str() == Some("https")
}

fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("cookie values are URL-safe base64")
}

/// A signed-in person. Pages that need one redirect everyone else to the
/// sign-in page and back.
pub struct SignedIn {
    pub session: Session,
    pub session_id: String,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_sign_in = || {
            let next = if parts.method == Method::GET {
                parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned()
            } else {
                "/".to_owned()
            };
            see_other(&format!(
                "/sign-in?{}",
                serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
            ))
        };
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_sign_in());
        };
        match state.app.session(id).await {
            Ok(session) => Ok(SignedIn {
                session,
                session_id: id.to_owned(),
            }),
            Err(switchyard_core::app::Error::Unauthenticated(_)) => Err(to_sign_in()),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// Where to go after signing in: only paths on this server.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    csrf: String,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

fn sign_in_form(status: StatusCode, next: &str, error: Option<String>, secure: bool) -> Response {
    let csrf = random_secret();
    let mut response = html(
        status,
        &SignInPage {
            chrome: Chrome::anonymous("Sign in"),
            csrf: csrf.clone(),
            next: next.to_owned(),
            error,
        },
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SIGN_IN_COOKIE, &csrf, "/sign-in", 3600, secure),
    );
    response
}

/// `GET /sign-in`: the form, or straight on when already signed in.
pub async fn sign_in_page(
    State(state): State<AppState>,
    Query(params): Query<NextParam>,
    mut parts: Parts,
) -> Response {
    let next = safe_next(params.next.as_deref());
    if SignedIn::from_request_parts(&mut parts, &state)
        .await
        .is_ok()
    {
        return see_other(next);
    }
    sign_in_form(StatusCode::OK, next, None, came_over_tls(&parts))
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// `POST /sign-in`: checks the token and opens a session.
pub async fn sign_in(State(state): State<AppState>, parts: Parts, body: Bytes) -> Response {
    let secure = came_over_tls(&parts);
    let Ok(form) = serde_urlencoded::from_bytes::<SignInForm>(&body) else {
        return sign_in_form(
            StatusCode::BAD_REQUEST,
            "/",
            Some("the form could not be read; try again".into()),
            secure,
        );
    };
    let next = safe_next(form.next.as_deref());
    let expected = cookie(&parts.headers, SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !secrets_match(expected, &form.csrf) {
        return super::csrf::refused("the sign-in form")
            .back("/sign-in")
            .into_response();
    }
    match state.app.sign_in(&form.token).await {
        Ok((id, _)) => {
            let mut response = see_other(next);
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    id.expose(),
                    "/",
                    SESSION_TTL.as_secs(),
                    secure,
                ),
            );
            headers.append(
                header::SET_COOKIE,
                set_cookie(SIGN_IN_COOKIE, "", "/sign-in", 0, secure),
            );
            response
        }
        Err(
            e @ (switchyard_core::app::Error::Unauthenticated(_)
            | switchyard_core::app::Error::Invalid(_)),
        ) => {
            let status = if matches!(e, switchyard_core::app::Error::Invalid(_)) {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::UNAUTHORIZED
            };
            let message = match e {
                switchyard_core::app::Error::Invalid(f) => f.message,
                other => other.to_string(),
            };
            sign_in_form(status, next, Some(message), secure)
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

/// `POST /sign-out`: ends the session and forgets the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    form: super::csrf::SessionForm<super::csrf::NoFields>,
) -> Response {
    if let Err(e) = state
        .app
        .sign_out(&form.signed_in.session_id, &form.signed_in.session.actor)
        .await
    {
        return PageError::from(e).into_response();
    }
    let mut response = see_other("/sign-in");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/", 0, form.tls),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "a=1; sy_session=abc".parse().unwrap());
        headers.append(header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "sy_sess"), None);
    }

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/deployments/4")), "/deployments/4");
        for bad in ["https://evil.example/", "//evil.example", "/\\evil", "x"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn cookie_attributes() {
        let plain = set_cookie("n", "v", "/", 60, false);
        assert_eq!(plain, "n=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict");
        let tls = set_cookie("n", "v", "/", 60, true);
        assert!(tls.to_str().unwrap().ends_with("; Secure"));
    }
}
