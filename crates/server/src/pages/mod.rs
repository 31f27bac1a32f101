//! The dashboard: server-rendered askama pages (templates/), one module per
//! page, plus sign-in sessions, CSRF checks and the embedded static files.
//! Every page renders its current state without JavaScript; static/app.js
//! only refreshes fragments from the SSE streams of the API and follows
//! build logs.

pub mod alarm_strip;
pub mod approvals;
pub mod assets;
pub mod axis;
pub mod chart;
pub mod csrf;
mod deploy;
mod deployment;
pub mod diff;
mod environment;
pub mod format;
pub mod gate_panel;
mod logs;
pub mod metrics_chart;
mod overview;
pub mod pipelines;
mod releases;
pub mod sessions;

use super::AppState;
use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use switchyard_core::app::{self, sessions::Session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/overview/live", get(overview::live))
        .route(
            "/sign-in",
            get(sessions::sign_in_page).post(sessions::sign_in),
        )
        .route("/sign-out", post(sessions::sign_out))
        .route("/environments/{name}", get(environment::page))
        .route(
            "/environments/{name}/deploy",
            get(deploy::page).post(deploy::start),
        )
        .route("/environments/{name}/releases", get(releases::page))
        .route("/environments/{name}/logs", get(logs::page))
        .route("/deployments/{id}", get(deployment::page))
        .route("/deployments/{id}/live", get(deployment::live))
        .route("/deployments/{id}/{action}", post(deployment::act))
        .route("/environments/{name}/pipeline", get(pipelines::list))
        .route("/environments/{name}/pipeline/runs", post(pipelines::start))
        .route("/pipeline-runs/{id}", get(pipelines::page))
        .route("/pipeline-runs/{id}/live", get(pipelines::live))
        .route("/pipeline-runs/{id}/stop", post(pipelines::stop))
        .route("/pipeline-runs/{id}/retry", post(pipelines::retry))
        .route("/approvals", get(approvals::inbox))
        .route("/approvals/{id}", get(approvals::show))
        .route("/approvals/{id}/vote", post(approvals::vote))
        .route("/static/{file}", get(assets::serve))
}

/// A link in the header's navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The navigation, with the entry for `current` marked.
pub fn nav(current: &str) -> Vec<NavItem> {
    [("/", "Environments"), ("/approvals", "Approvals")]
        .into_iter()
        .map(|(href, label)| NavItem {
            href,
            label,
            current: href == current,
        })
        .collect()
}

/// What every page's frame (templates/base.html) shows.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    pub user: String,
    pub role: &'static str,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    pub css: &'static str,
    pub js: &'static str,
}

impl Chrome {
    pub fn new(title: impl Into<String>, session: &Session, current: &str) -> Chrome {
        Chrome {
            title: title.into(),
            user: session.actor.name.clone(),
            role: session.actor.role.as_str(),
            csrf: session.csrf_token.clone(),
            nav: nav(current),
            css: assets::css_url(),
            js: assets::js_url(),
        }
    }

    /// For pages shown to someone not signed in.
    pub fn anonymous(title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            user: String::new(),
            role: "",
            csrf: String::new(),
            nav: Vec::new(),
            css: assets::css_url(),
            js: assets::js_url(),
        }
    }
}

/// The content security policy of every page: nothing but this server.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A rendered page with the headers every page carries.
pub fn html(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            // Pages show one person's view of live state: never cache them.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    heading: &'static str,
    message: String,
    back: String,
}

/// A failure shown as a page: the status code, what happened and a way back.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub heading: &'static str,
    pub message: String,
    /// Where "back" leads.
    pub back: String,
    /// The signed-in frame to show it in (boxed: errors travel in `Result`s).
    pub chrome: Option<Box<Chrome>>,
}

impl PageError {
    pub fn new(status: StatusCode, heading: &'static str, message: impl Into<String>) -> Self {
        PageError {
            status,
            heading,
            message: message.into(),
            back: "/".into(),
            chrome: None,
        }
    }

    pub fn back(mut self, href: impl Into<String>) -> Self {
        self.back = href.into();
        self
    }

    pub fn within(mut self, chrome: Chrome) -> Self {
        self.chrome = Some(Box::new(chrome));
        self
    }
}

impl From<app::Error> for PageError {
    fn from(error: app::Error) -> Self {
        use app::Error as A;
        let (status, heading) = match &error {
            A::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "That value is not valid"),
            A::Malformed(_) => (StatusCode::BAD_REQUEST, "That request cannot be read"),
            A::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            A::Conflict(_) => (StatusCode::CONFLICT, "That cannot be done now"),
            A::Frozen(_) => (StatusCode::CONFLICT, "The environment is frozen"),
            A::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "Sign in first"),
            A::Forbidden { .. } => (StatusCode::FORBIDDEN, "Your role does not allow this"),
            A::Refused(_) => (StatusCode::FORBIDDEN, "This one is not yours to do"),
            A::Unsupported(_) => (StatusCode::NOT_IMPLEMENTED, "Not supported here"),
            A::Upstream(_) => (StatusCode::BAD_GATEWAY, "The cloud refused"),
            A::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
        };
        let message = match error {
            A::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "page failed");
                "an internal error; the server log has the details".to_owned()
            }
            A::Invalid(e) | A::Malformed(e) => e.message,
            other => other.to_string(),
        };
        PageError::new(status, heading, message)
    }
}

impl From<sqlx::Error> for PageError {
    fn from(error: sqlx::Error) -> Self {
        app::Error::from(error).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let chrome = self
            .chrome
            .map_or_else(|| Chrome::anonymous(self.heading), |c| *c);
        html(
            self.status,
            &ErrorPage {
                chrome,
                status: self.status.as_u16(),
                heading: self.heading,
                message: self.message,
                back: self.back,
            },
        )
    }
}

/// A 303 to `location` (after a form, or to the sign-in page).
pub fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/")),
        )],
    )
        .into_response()
}
