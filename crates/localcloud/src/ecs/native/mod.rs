//! ECS-native blue/green, linear and canary deployments: the pure parts.
//!
//! - `config`: `deploymentConfiguration`, `deploymentController` and a load
//!   balancer's `advancedConfiguration`, parsed and checked as ECS does;
//! - `schedule`: the lifecycle stages of a deployment and the production
//!   traffic weights over time;
//! - `model`: the stored service deployments and service revisions;
//!   `render`: their DescribeServiceDeployments, ListServiceDeployments and
//!   DescribeServiceRevisions JSON.
//!
//! Field names, limits and errors follow botocore's ECS model (1.44.18).

// Nothing calls these yet: the ECS-native engine and its operations come next.
#![allow(dead_code)]

pub mod config;
pub mod model;
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
