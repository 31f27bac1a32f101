//! The control plane below the interface: `app` (use cases: transactions and
//! authorization), `store` (SQLite), `cloud` (the only code that talks AWS),
//! `provision` (stacks: Terraform for AWS, direct creation locally) and
//! `tracker` (one poller per active deployment or pipeline run).

pub mod app;
pub mod cloud;
pub mod provision;
pub mod store;
pub mod tracker;
