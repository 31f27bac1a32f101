//! The one error type of the interface: every failure a client can see, with
//! its status code and the JSON body `{"error": {"code", "message", "field"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchyard_api::error::{ErrorBody, ErrorDetail};
use switchyard_core::app;
use switchyard_domain::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error(transparent)]
    App(#[from] app::Error),
}

impl From<FieldError> for Error {
    fn from(error: FieldError) -> Self {
        Error::App(app::Error::Invalid(error))
    }
}

impl Error {
    fn parts(&self) -> (StatusCode, &'static str, Option<String>) {
        use app::Error as A;
        match self {
            Error::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json", None),
            Error::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
            ),
            Error::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
            Error::App(A::Invalid(e)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                Some(e.field.clone()),
            ),
            Error::App(A::Malformed(e)) => {
                (StatusCode::BAD_REQUEST, "malformed", Some(e.field.clone()))
            }
            Error::App(A::NotFound(_)) => (StatusCode::NOT_FOUND, "not_found", None),
            Error::App(A::Conflict(_)) => (StatusCode::CONFLICT, "conflict", None),
            Error::App(A::Frozen(_)) => (StatusCode::CONFLICT, "frozen", None),
            Error::App(A::Unauthenticated(_)) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            Error::App(A::Forbidden { .. }) => (StatusCode::FORBIDDEN, "forbidden", None),
            Error::App(A::Refused(_)) => (StatusCode::FORBIDDEN, "refused", None),
            Error::App(A::Unsupported(_)) => (StatusCode::NOT_IMPLEMENTED, "not_implemented", None),
            Error::App(A::Upstream(_)) => (StatusCode::BAD_GATEWAY, "cloud_error", None),
            Error::App(A::Internal(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        }
    }

    fn message(&self) -> String {
        match self {
            Error::App(app::Error::Invalid(e) | app::Error::Malformed(e)) => e.message.clone(),
            // Internal details go to the log, not to the client.
            Error::App(app::Error::Internal(_)) => {
                "internal error; the server log has the details".into()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code, field) = self.parts();
        if let Error::App(app::Error::Internal(e)) = &self {
            tracing::error!(error = format!("{e:#}"), "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: self.message(),
                field,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
