//! Black-box tests: the real server binary on a random port, driven over HTTP
//! and through its own CLI.

mod auth;
mod cli;
mod deployments;
mod environments;
mod events;
mod helpers;
mod ops;
mod releases;
mod server;
mod stacks;
