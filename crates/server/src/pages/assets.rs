//! The dashboard's stylesheet and script, compiled into the binary and
//! served under a URL carrying a hash of their content, so browsers may
//! cache them for a year and still never run a stale one.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

pub const CSS: &str = include_str!("../../static/app.css");
pub const JS: &str = include_str!("../../static/app.js");

struct Asset {
    url: String,
    content_type: &'static str,
    body: &'static str,
}

fn asset(stem: &str, extension: &str, content_type: &'static str, body: &'static str) -> Asset {
    let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    Asset {
        url: format!("/static/{stem}.{hash}.{extension}"),
        content_type,
        body,
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        asset("app", "css", "text/css; charset=utf-8", CSS),
        asset("app", "js", "text/javascript; charset=utf-8", JS),
    ]
});

pub fn css_url() -> &'static str {
    &ASSETS[0].url
}

pub fn js_url() -> &'static str {
    &ASSETS[1].url
}

/// `GET /static/{file}`: only the current hashed names exist.
pub async fn serve(Path(file): Path<String>) -> Response {
    let path = format!("/static/{file}");
    match ASSETS.iter().find(|a| a.url == path) {
        Some(a) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(a.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            a.body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            "no such file; pages link the current one\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_a_content_hash() {
        assert!(css_url().starts_with("/static/app."));
        assert!(css_url().ends_with(".css"));
        assert!(js_url().ends_with(".js"));
        assert_eq!(css_url().len(), "/static/app.".len() + 12 + ".css".len());
    }
}
