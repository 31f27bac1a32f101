//! The REST API's request and response types, shared by the server (which
//! answers with them) and the CLI (which decodes them). One module per
//! resource, as in the server; `schema` holds what the OpenAPI document says
//! about string fields that the domain types parse.
//!
//! Requests deserialize (the server) and serialize (the CLI); responses
//! serialize (the server) and deserialize (the CLI) back to the same JSON.

pub mod approvals;
pub mod checks;
pub mod deployments;
pub mod environments;
pub mod error;
pub mod events;
pub mod logs;
pub mod pipelines;
pub mod release_policies;
pub mod releases;
pub mod schema;
pub mod stacks;
pub mod users;
