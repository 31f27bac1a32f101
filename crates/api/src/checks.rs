//! `POST /api/environments/{name}/check`: do the resources the environment
//! names exist, and are they of the kind switchyard drives?

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What the check found.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckReport {
    /// Every finding is ok.
    pub ok: bool,
    pub findings: Vec<CheckFinding>,
}

/// One resource and what the check found about it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckFinding {
    /// The environment's field: cluster, service, codedeploy_application,
    /// deployment_group, pipeline, prod_listener_arn or test_listener_arn.
    pub resource: String,
    /// The name or ARN checked (null when the environment names none).
    pub name: Option<String>,
    pub ok: bool,
    pub message: String,
}
