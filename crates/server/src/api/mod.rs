//! The JSON API, one module per resource. Handlers carry `#[utoipa::path]`
//! so `/api/openapi.json` is generated from the very code that serves it;
//! the bodies they take and answer are `switchyard_api`'s, which the CLI
//! decodes too.

pub mod approvals;
pub mod checks;
pub mod deployments;
pub mod diffs;
pub mod environments;
pub mod events;
pub mod logs;
pub mod pipelines;
pub mod release_policies;
pub mod releases;
pub mod schema;
pub mod stacks;
pub mod users;

use super::extract::Authenticated;
use super::{AppState, ErrorBody};
use axum::Json;
use serde::Deserialize;
use switchyard_core::store::PageRequest;
use switchyard_domain::FieldError;
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
        (name = "tasks", description = "The tasks of an environment's service and their logs"),
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
        .routes(routes!(environments::migrate))
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
        .routes(routes!(logs::logs))
        .routes(routes!(deployments::start, deployments::list))
        .routes(routes!(deployments::show))
        .routes(routes!(deployments::continue_deployment))
        .routes(routes!(deployments::roll_back))
        .routes(routes!(deployments::roll_back_environment))
        .routes(routes!(deployments::events))
        .routes(routes!(diffs::diff))
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
        .routes(routes!(users::link_slack, users::unlink_slack))
        .routes(routes!(openapi_json))
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api/openapi.json", tag = "users",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json(_: Authenticated) -> Json<serde_json::Value> {
    Json(openapi())
}

/// The OpenAPI document as served: generated from the handlers, with what
/// the extractors answer and the rules between fields added.
pub fn openapi() -> serde_json::Value {
    let mut generated = router().split_for_parts().1;
    document_extractor_answers(&mut generated);
    let mut doc = serde_json::to_value(generated).unwrap_or_default();
    schema::add_cross_field_rules(&mut doc);
    doc
}

/// Adds to every operation what the extractors it goes through can answer,
/// so no handler has to repeat them (see [`extractor_answers`]). Also names
/// each operation `<tag>_<handler>`: handlers of different resources share
/// names (`list`, `show`), and operationIds must be unique.
fn document_extractor_answers(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::Operation;
    for item in doc.paths.paths.values_mut() {
        let operations: [(&mut Option<Operation>, bool); 5] = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (operation, changes) in operations {
            let Some(op) = operation.as_mut() else {
                continue;
            };
            if let (Some(tag), Some(id)) = (
                op.tags.as_ref().and_then(|t| t.first()),
                op.operation_id.as_mut(),
            ) {
                *id = format!("{tag}_{id}");
            }
            for (status, descriptions) in extractor_answers(op, changes) {
                if !op.responses.responses.contains_key(status) {
                    op.responses
                        .responses
                        .insert(status.to_owned(), error_response(&either(&descriptions)));
                }
            }
        }
    }
}

/// The statuses an operation's extractors can answer, with why: 401 from
/// the token check, 403 from the role check of every change, 400/413/415/422
/// from a JSON body, 400 and 404 from path parameters, 400 from a typed
/// header, 422 from a query string.
fn extractor_answers(
    op: &utoipa::openapi::path::Operation,
    changes: bool,
) -> Vec<(&'static str, Vec<&'static str>)> {
    use utoipa::openapi::path::ParameterIn;
    let parameters = op.parameters.as_deref().unwrap_or_default();
    // A parameter read as text cannot fail to parse; a number can. (A
    // named text schema, a $ref, is text too.)
    let typed = |location: ParameterIn| {
        parameters.iter().any(|p| {
            p.parameter_in == location
                && serde_json::to_value(&p.schema).is_ok_and(|s| {
                    let (kind, text) = (&s["type"], serde_json::json!("string"));
                    !kind.is_null()
                        && *kind != text
                        && !kind.as_array().is_some_and(|t| t.contains(&text))
                })
        })
    };
    let any_in = |location: ParameterIn| parameters.iter().any(|p| p.parameter_in == location);
    let body = op.request_body.is_some();
    let answers = [
        (true, "401", "No token, or one that is not valid"),
        (changes, "403", "The caller's role does not allow this"),
        (body, "400", "The body is not JSON"),
        (
            typed(ParameterIn::Path),
            "400",
            "A path parameter does not parse (e.g. an id that is not a number)",
        ),
        (
            typed(ParameterIn::Header),
            "400",
            "A header does not parse (e.g. a Last-Event-ID that is not an event id)",
        ),
        (any_in(ParameterIn::Path), "404", "Not found"),
        (body, "413", "The body is over the size limit"),
        (body, "415", "The body is not sent as application/json"),
        (
            body || any_in(ParameterIn::Query),
            "422",
            "A field is invalid",
        ),
    ];
    let mut by_status: Vec<(&str, Vec<&str>)> = Vec::new();
    for (status, description) in answers
        .into_iter()
        .filter_map(|(applies, status, description)| applies.then_some((status, description)))
    {
        match by_status.iter_mut().find(|(s, _)| *s == status) {
            Some((_, descriptions)) => descriptions.push(description),
            None => by_status.push((status, vec![description])),
        }
    }
    by_status
}

/// "A, or b, or c" of sentences that each start with a capital.
fn either(descriptions: &[&str]) -> String {
    let mut text = String::new();
    for (i, description) in descriptions.iter().enumerate() {
        if i == 0 {
            text.push_str(description);
        } else {
            let mut chars = description.chars();
            text.push_str(", or ");
            text.extend(chars.next().map(|c| c.to_ascii_lowercase()));
            text.push_str(chars.as_str());
        }
    }
    text
}

fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// Timestamps go out as RFC 3339 in UTC with milliseconds.
pub use switchyard_domain::time::rfc3339_millis as timestamp;

/// `?limit=50&before=CURSOR` of every list; the cursor is opaque to clients.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page (default 50). Read as text so a bad one gets a clear message.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// The `next` cursor of the previous page.
    #[param(pattern = "^[1-9][0-9]{0,17}$")]
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
        let doc = openapi();
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

    /// A user name in a path is parsed (422 when it is not one), so the
    /// document gives its pattern: a request that breaks none of the
    /// document's rules is not refused.
    #[test]
    fn a_user_name_in_a_path_has_the_user_name_pattern() {
        let doc = openapi();
        let revoke = &doc["paths"]["/api/users/{name}/tokens"]["delete"];
        assert_eq!(
            revoke["parameters"][0]["schema"]["$ref"],
            "#/components/schemas/UserNameText"
        );
        assert!(revoke["responses"].get("422").is_some());
    }

    /// What the cloud answers reaches the client as 502 wherever a request
    /// waits for a cloud call (not where the call happens later, as a stack
    /// operation or an approval handed over).
    #[test]
    fn operations_that_call_the_cloud_document_502() {
        let doc = openapi();
        for (method, path) in [
            ("post", "/api/environments/{name}/deployments"),
            ("post", "/api/environments/{name}/rollback"),
            ("post", "/api/deployments/{id}/continue"),
            ("post", "/api/deployments/{id}/rollback"),
            ("post", "/api/environments/{name}/pipeline/runs"),
            ("post", "/api/pipeline-runs/{id}/stop"),
            ("post", "/api/pipeline-runs/{id}/retry"),
            ("get", "/api/pipeline-runs/{id}/actions/{action}/log"),
            ("get", "/api/environments/{name}/logs"),
            ("get", "/api/environments/{name}/diff"),
            ("post", "/api/environments/{name}/stack/plan"),
        ] {
            let responses = &doc["paths"][path][method]["responses"];
            assert!(responses.get("502").is_some(), "{method} {path}");
        }
    }

    #[test]
    fn operation_ids_are_unique_and_every_reference_resolves() {
        fn references(value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(fields) => {
                    if let Some(target) = fields.get("$ref").and_then(|r| r.as_str()) {
                        found.push(target.to_owned());
                    }
                    fields.values().for_each(|v| references(v, found));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| references(v, found)),
                _ => {}
            }
        }
        let doc = openapi();
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|operation| operation["operationId"].as_str())
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "{ids:?}");
        let mut found = Vec::new();
        references(&doc, &mut found);
        for target in found {
            let name = target.strip_prefix("#/components/schemas/").unwrap();
            assert!(doc["components"]["schemas"].get(name).is_some(), "{target}");
        }
        // Every change answers 403 for a role below it, and every body 415.
        let create = &doc["paths"]["/api/environments/{name}/deployments"]["post"]["responses"];
        for status in ["400", "401", "403", "404", "413", "415", "422"] {
            assert!(create.get(status).is_some(), "{status} missing");
        }
    }
}
