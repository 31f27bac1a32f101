//! The JSON API, one module per resource. Handlers carry `#[utoipa::path]`
//! so `/api/openapi.json` is generated from the very code that serves it.

pub mod approvals;
pub mod checks;
pub mod deployments;
pub mod environments;
pub mod events;
pub mod pipelines;
pub mod release_policies;
pub mod releases;
pub mod stacks;
pub mod users;

use super::extract::Authenticated;
use super::{AppState, ErrorBody};
use crate::domain::FieldError;
use crate::store::PageRequest;
use axum::Json;
use serde::Deserialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "switchyard",
        description = "Release control plane for blue/green deployments on AWS ECS."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody)),
    tags(
        (name = "environments", description = "Environments and their cloud resources"),
        (name = "releases", description = "Release history"),
        (name = "events", description = "The audit trail"),
        (name = "deployments", description = "Blue/green deployments and their live traffic"),
        (name = "stacks", description = "Provisioned cloud resources behind an environment"),
        (name = "users", description = "Users and API tokens"),
        (name = "pipelines", description = "CodePipeline runs: Source, Build, Approval, Deploy"),
        (name = "approvals", description = "Team release approvals"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(environments::create, environments::list))
        .routes(routes!(
            environments::show,
            environments::delete,
            release_policies::change
        ))
        .routes(routes!(releases::list, releases::record))
        .routes(routes!(events::list))
        .routes(routes!(stacks::provision, stacks::show, stacks::destroy))
        .routes(routes!(stacks::plan))
        .routes(routes!(checks::check))
        .routes(routes!(deployments::start, deployments::list))
        .routes(routes!(deployments::show))
        .routes(routes!(deployments::continue_deployment))
        .routes(routes!(deployments::roll_back))
        .routes(routes!(deployments::roll_back_environment))
        .routes(routes!(deployments::events))
        .routes(routes!(pipelines::list, pipelines::start))
        .routes(routes!(pipelines::show))
        .routes(routes!(pipelines::stop))
        .routes(routes!(pipelines::retry))
        .routes(routes!(pipelines::build_log))
        .routes(routes!(pipelines::events))
        .routes(routes!(approvals::list))
        .routes(routes!(approvals::show))
        .routes(routes!(approvals::decide))
        .routes(routes!(users::me))
        .routes(routes!(users::create, users::list))
        .routes(routes!(users::revoke_tokens))
        .routes(routes!(openapi_json))
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api/openapi.json", tag = "users",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json(_: Authenticated) -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

/// The generated OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    router().split_for_parts().1
}

/// Timestamps go out as RFC 3339 in UTC with milliseconds.
pub fn timestamp(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `?limit=50&before=CURSOR` of every list; the cursor is opaque to clients.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 200 (default 50).
    limit: Option<String>,
    /// The `next` cursor of the previous page.
    before: Option<String>,
}

impl PageParams {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    pub fn parse(&self) -> Result<PageRequest, FieldError> {
        let limit = match self.limit.as_deref() {
            None => Self::DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=Self::MAX_LIMIT).contains(n))
                .ok_or_else(|| FieldError {
                    field: "limit".into(),
                    message: format!(
                        "limit must be a whole number from 1 to {} (got {raw:?})",
                        Self::MAX_LIMIT
                    ),
                })?,
        };
        let before = self
            .before
            .as_deref()
            .map(|raw| {
                raw.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| FieldError {
                        field: "before".into(),
                        message: format!("{raw:?} is not a cursor from a previous page's \"next\""),
                    })
            })
            .transpose()?;
        Ok(PageRequest { before, limit })
    }
}

/// A page's `next` cursor.
pub fn cursor(next_before: Option<i64>) -> Option<String> {
    next_before.map(|id| id.to_string())
}

/// Query strings that fail to parse are reported like any bad field.
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<AppState>
    for ApiQuery<T>
{
    type Rejection = super::Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| {
                super::Error::from(FieldError {
                    field: "query".into(),
                    message: format!("the query string is not valid: {e}"),
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: Option<&str>, before: Option<&str>) -> PageParams {
        PageParams {
            limit: limit.map(Into::into),
            before: before.map(Into::into),
        }
    }

    #[test]
    fn page_params() {
        assert_eq!(
            params(None, None).parse().unwrap(),
            PageRequest {
                before: None,
                limit: 50
            }
        );
        assert_eq!(
            params(Some("200"), Some("17")).parse().unwrap(),
            PageRequest {
                before: Some(17),
                limit: 200
            }
        );
        for bad in ["0", "201", "-1", "ten", ""] {
            assert_eq!(params(Some(bad), None).parse().unwrap_err().field, "limit");
        }
        for bad in ["0", "abc", "-5"] {
            assert_eq!(params(None, Some(bad)).parse().unwrap_err().field, "before");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(1_764_230_400_123), "2025-11-27T08:00:00.123Z");
    }

    #[test]
    fn the_document_is_openapi_3_1_and_lists_the_routes() {
        let doc = serde_json::to_value(openapi()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for path in [
            "/api/environments",
            "/api/environments/{name}",
            "/api/environments/{name}/releases",
            "/api/environments/{name}/events",
            "/api/me",
            "/api/users",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
    }
}
