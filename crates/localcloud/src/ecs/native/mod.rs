//! ECS-native blue/green, linear and canary deployments.
//!
//! - `config`: `deploymentConfiguration`, `deploymentController` and a load
//!   balancer's `advancedConfiguration`, parsed and checked as ECS does;
//! - `schedule`: the lifecycle stages of a deployment and the production
//!   traffic weights over time;
//! - `model`: the stored service deployments and service revisions;
//!   `render`: their DescribeServiceDeployments, ListServiceDeployments and
//!   DescribeServiceRevisions JSON;
//! - `ops`: what CreateService and UpdateService check and start, and the
//!   service deployment operations; `engine`: the driver that moves every
//!   service deployment through its stages.
//!
//! Field names, limits and errors follow botocore's ECS model (1.44.18).

pub mod config;
pub mod engine;
pub mod model;
pub mod ops;
pub mod render;
pub mod schedule;

use serde_json::{Map, Value};

/// A JSON object of the members that are set, as AWS omits unset members.
/// (Not `wire::compact`: that would also drop nulls inside `hookDetails`.)
fn members<const N: usize>(pairs: [(&str, Option<Value>); N]) -> Value {
    let map: Map<String, Value> = pairs
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_owned(), value?)))
        .collect();
    Value::Object(map)
}
