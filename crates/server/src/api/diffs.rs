//! `/api/environments/{name}/diff`: what a deployment would change.

use super::ApiQuery;
use crate::extract::{ApiPath, Authenticated};
use crate::{AppState, Error, ErrorBody};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use switchyard_api::diffs::{Commit, DiffSide, EnvironmentDiff};
use switchyard_core::app::diffs::{self as core_diffs, Candidate};
use switchyard_domain::FieldError;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// A recorded release of the environment (give one of `version`, `image` and `run`).
    version: Option<String>,
    /// An image to compare as a deployment would register it.
    image: Option<String>,
    /// A pipeline run whose build has finished: the image and task
    /// definition its build exported, at the run's commit.
    run: Option<i64>,
}

impl DiffParams {
    fn candidate(self) -> Result<Candidate, FieldError> {
        match (self.version, self.image, self.run) {
            (Some(version), None, None) => Ok(Candidate::Version(version)),
            (None, Some(image), None) => Ok(Candidate::Image(image)),
            (None, None, Some(run)) => Ok(Candidate::PipelineRun(run)),
            (None, None, None) => Err(FieldError {
                field: "version".into(),
                message: "give the version of a release (or an image, or a pipeline run) to \
                          compare with what is live"
                    .into(),
            }),
            (_, _, run) => Err(FieldError {
                field: if run.is_some() { "run" } else { "image" }.into(),
                message: "give one of version, image and run, not several".into(),
            }),
        }
    }
}

/// The candidate's task definition against the live one (the environment's
/// last successful deployment) and the pushed commits between them.
#[utoipa::path(get, path = "/api/environments/{name}/diff", tag = "deployments",
    params(("name" = String, Path, description = "Environment name"), DiffParams),
    responses(
        (status = 200, body = EnvironmentDiff),
        (status = 404, description = "No such environment, release or pipeline run", body = ErrorBody),
        (status = 409, description = "Nothing is live yet, no stack, or the run's build has not exported its image", body = ErrorBody),
        (status = 422, description = "Not exactly one of version, image and run, or a bad image", body = ErrorBody),
        (status = 502, description = "The cloud failed to answer", body = ErrorBody),
    ))]
pub async fn diff(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<DiffParams>,
) -> Result<Json<EnvironmentDiff>, Error> {
    let candidate = params.candidate()?;
    let diff = state
        .app
        .environment_diff(&actor, &name, &candidate)
        .await?;
    Ok(Json(diff_json(diff)))
}

/// A diff as the API shows it.
pub fn diff_json(diff: core_diffs::EnvironmentDiff) -> EnvironmentDiff {
    let side = |s: core_diffs::DiffSide| DiffSide {
        version: s.version,
        image: s.image,
        task_definition_arn: s.task_definition_arn,
        commit: s.commit,
    };
    EnvironmentDiff {
        unified: diff.unified(),
        environment: diff.environment,
        live: side(diff.live),
        candidate: side(diff.candidate),
        changes: diff.diff,
        commits: diff
            .commits
            .into_iter()
            .map(|c| Commit {
                sha: c.sha,
                author: c.author,
                message: c.message,
            })
            .collect(),
        commits_complete: diff.commits_complete,
    }
}
