//! `POST /api/environments/{name}/check`: do the resources the environment
//! names exist, and are they of the kind switchyard drives?

use crate::extract::{ApiPath, Authorized, Deployer};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use switchyard_api::checks::{CheckFinding, CheckReport};

/// Check the environment's resources against the cloud (deployer). Each
/// named resource must exist and be of the right kind: an ACTIVE cluster, a
/// service with the CODE_DEPLOY controller, a CodeDeploy application for ECS,
/// a BLUE_GREEN deployment group with traffic control that deploys that
/// service, listeners on its traffic routes. Changes nothing; 200 either way.
#[utoipa::path(post, path = "/api/environments/{name}/check", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    responses(
        (status = 200, body = CheckReport),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn check(
    State(state): State<AppState>,
    Authorized(actor, _): Authorized<Deployer>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<CheckReport>, Error> {
    let checked = state.app.check_environment(&actor, &name).await?;
    Ok(Json(CheckReport {
        ok: checked.ok,
        findings: checked
            .findings
            .into_iter()
            .map(|f| CheckFinding {
                resource: f.resource.to_owned(),
                name: f.name,
                ok: f.ok,
                message: f.message,
            })
            .collect(),
    }))
}
