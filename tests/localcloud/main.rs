//! Black-box tests of the local cloud: the real binary run standalone, driven
//! with the real AWS SDK for Rust over loopback.

mod alarms;
mod cloudwatch;
mod codedeploy;
mod codepipeline;
mod containers;
mod deployments;
mod ecs;
mod git_repo;
mod helpers;
// HTTP/1.1 over one raw connection, for keep-alive.
#[path = "../api/raw_http.rs"]
mod raw_http;
mod registry;
mod registry_client;
mod sampler;
mod shutdown;
mod wire;
