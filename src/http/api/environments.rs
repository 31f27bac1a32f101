//! `/api/environments`

use super::timestamp;
use crate::domain::ForField;
use crate::domain::environment::{
    AwsRegion, CloudResources, CloudResourcesInput, EnvironmentName, NewEnvironment, Platform,
};
use crate::http::extract::{ApiJson, Authenticated};
use crate::http::{AppState, Error, ErrorBody};
use crate::store::environments::EnvironmentRow;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of `POST /api/environments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    /// 2 to 40 characters: lowercase letters, digits and '-', starting with a letter.
    #[schema(example = "demo")]
    pub name: String,
    /// `local` (the embedded local cloud) or `aws`.
    #[schema(example = "local")]
    pub platform: String,
    /// The AWS region; required for `aws`.
    #[serde(default)]
    pub region: Option<String>,
    /// Existing cloud resources to drive; a provisioned stack fills them in.
    #[serde(default)]
    pub resources: Option<Resources>,
}

/// The cloud resources an environment drives.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub codedeploy_application: Option<String>,
    pub deployment_group: Option<String>,
    pub pipeline: Option<String>,
    pub prod_listener_arn: Option<String>,
    pub test_listener_arn: Option<String>,
}

impl CreateEnvironment {
    fn parse(&self) -> Result<NewEnvironment, Error> {
        let name = EnvironmentName::parse(&self.name).for_field("name")?;
        let platform = Platform::parse(&self.platform).for_field("platform")?;
        let region = self
            .region
            .as_deref()
            .map(|r| AwsRegion::parse(r).for_field("region"))
            .transpose()?;
        let r = self.resources.as_ref();
        let input = CloudResourcesInput {
            cluster: r.and_then(|r| r.cluster.as_deref()),
            service: r.and_then(|r| r.service.as_deref()),
            codedeploy_application: r.and_then(|r| r.codedeploy_application.as_deref()),
            deployment_group: r.and_then(|r| r.deployment_group.as_deref()),
            pipeline: r.and_then(|r| r.pipeline.as_deref()),
            prod_listener_arn: r.and_then(|r| r.prod_listener_arn.as_deref()),
            test_listener_arn: r.and_then(|r| r.test_listener_arn.as_deref()),
        };
        let resources = CloudResources::parse(&input, "resources")?;
        Ok(NewEnvironment::new(name, platform, region, resources)?)
    }
}

/// An environment as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Environment {
    pub name: String,
    pub platform: String,
    pub region: Option<String>,
    pub resources: Resources,
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl From<EnvironmentRow> for Environment {
    fn from(row: EnvironmentRow) -> Self {
        Environment {
            name: row.name,
            platform: row.platform,
            region: row.region,
            resources: Resources {
                cluster: row.cluster,
                service: row.service,
                codedeploy_application: row.codedeploy_application,
                deployment_group: row.deployment_group,
                pipeline: row.pipeline,
                prod_listener_arn: row.prod_listener_arn,
                test_listener_arn: row.test_listener_arn,
            },
            created_by: row.created_by,
            created_at: timestamp(row.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnvironmentList {
    pub environments: Vec<Environment>,
}

/// Create an environment (admin).
#[utoipa::path(post, path = "/api/environments", tag = "environments",
    request_body = CreateEnvironment,
    responses(
        (status = 201, description = "Created", body = Environment),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Needs the admin role", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<CreateEnvironment>,
) -> Result<impl IntoResponse, Error> {
    let new = body.parse()?;
    let row = state.app.create_environment(&actor, &new).await?;
    let location = format!("/api/environments/{}", row.name);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(Environment::from(row)),
    ))
}

/// List environments.
#[utoipa::path(get, path = "/api/environments", tag = "environments",
    responses((status = 200, body = EnvironmentList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> Result<Json<EnvironmentList>, Error> {
    let rows = state.app.list_environments(&actor).await?;
    Ok(Json(EnvironmentList {
        environments: rows.into_iter().map(Environment::from).collect(),
    }))
}

/// Show one environment.
#[utoipa::path(get, path = "/api/environments/{name}", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    responses((status = 200, body = Environment), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<Environment>, Error> {
    Ok(Json(state.app.environment(&actor, &name).await?.into()))
}

/// Delete an environment (admin). Refused with 409 while a deployment runs;
/// its releases and audit trail are kept.
#[utoipa::path(delete, path = "/api/environments/{name}", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A deployment is in progress", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(name): Path<String>,
) -> Result<StatusCode, Error> {
    state.app.delete_environment(&actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
