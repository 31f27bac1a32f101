//! Black-box tests: the real server binary on a random port, driven over HTTP
//! and through its own CLI.

mod alarms;
mod approvals;
mod auth;
mod cli;
mod containers;
mod controllers;
// The signed-in dashboard client the browser tests use, for pages over HTTP.
#[allow(dead_code)]
#[path = "../browser/support.rs"]
mod dashboard;
mod demo;
mod deployments;
mod diffs;
mod environments;
mod errors;
mod events;
mod freeze;
mod helpers;
mod keep_alive;
mod logs;
mod metric_gates;
mod native_deployments;
mod notifications;
mod openapi;
mod ops;
mod paths;
mod pipelines;
// HTTP/1.1 over one raw connection, for keep-alive (the local cloud's tests use it too).
mod raw_http;
mod releases;
// The same git repository the browser tests push to.
#[path = "../browser/repo.rs"]
mod repo;
// Production sampled across restarts, as the local cloud's tests do.
#[path = "../localcloud/sampler.rs"]
mod sampler;
mod server;
mod slack;
mod stacks;
mod static_sites;
// The test virtualenv (openapi-spec-validator, schemathesis) the AWS CLI suites use too.
#[path = "../awscli/support.rs"]
mod support;
mod test_engine;
mod webhooks;
