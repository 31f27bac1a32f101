//! switchyard: a release control plane for blue/green deployments on AWS ECS.
//!
//! Layers, top to bottom (see DESIGN.md): `http` (interface) → `app` (use
//! cases) → `domain` (pure types) and `store` (SQLite). `server` assembles
//! them; `cli` is the command line, `bench` the benchmarks anyone can run.

pub mod app;
pub mod bench;
pub mod cli;
pub mod cloud;
pub mod domain;
pub mod http;
pub mod listen;
pub mod localcloud;
pub mod provision;
pub mod sample_app;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tracker;
