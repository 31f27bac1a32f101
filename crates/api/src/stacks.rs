//! `/api/environments/{name}/stack`: provisioning, its log and outputs, and
//! (for AWS stacks) Terraform plans.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stack operation accepted for the background.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Operation {
    pub operation_id: String,
    /// provisioning or destroying.
    pub status: String,
}

/// The body of a provisioning or plan request; it may be left out.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StackRequest {
    /// An aws stack's own Terraform variables (e.g. `{"enable_nat_gateway":
    /// false}`). Given, they replace the stack's stored variables (a plan
    /// uses them for itself only); left out, the stored ones apply. The
    /// variables the environment sets (region, container, deployment group)
    /// are refused here: change the environment instead.
    #[schema(value_type = Option<Object>)]
    pub variables: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An environment's stack. Every environment has one, `not_provisioned`
/// until its first operation; the fields of an operation are null until then.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Stack {
    /// not_provisioned, provisioning, ready, failed, destroying or destroyed.
    pub status: String,
    pub operation_id: Option<String>,
    /// The latest operation's log, one line per step (Terraform's output for
    /// an aws stack, secrets redacted).
    pub log: String,
    /// prod_url, test_url and the resources the stack made; for an aws
    /// stack also `terraform`, every Terraform output.
    #[schema(value_type = Object)]
    pub outputs: serde_json::Value,
    /// An aws stack's own Terraform variables (sensitive values hidden).
    #[schema(value_type = Option<Object>)]
    pub variables: Option<serde_json::Map<String, serde_json::Value>>,
    pub started_by: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl Stack {
    /// The status of a stack no operation has touched yet.
    pub const NOT_PROVISIONED: &str = "not_provisioned";
}

/// What applying would change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Plan {
    /// Whether applying would change any resource.
    pub changes: bool,
    pub add: u64,
    pub change: u64,
    pub destroy: u64,
    pub resource_changes: Vec<PlannedChange>,
    /// Terraform's output, one line each (secrets redacted).
    pub log: Vec<String>,
}

/// One resource the plan would change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlannedChange {
    pub address: String,
    /// create, update, delete or replace.
    pub action: String,
    /// The attributes an update or replacement changes.
    pub attributes: Vec<String>,
}
