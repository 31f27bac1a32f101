//! switchyard: a release control plane for blue/green deployments on AWS ECS.
//!
//! This crate is the command line. The layers it drives are crates of their
//! own (see crates/): `switchyard-server` (interface) over `switchyard-core`
//! (use cases, store, cloud adapter, provisioner, tracker) over
//! `switchyard-domain` (pure types); `localcloud` is the embedded AWS slice.

pub mod cli;
pub mod sample_app;
