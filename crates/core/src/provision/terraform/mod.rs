//! AWS stacks with Terraform. Each stack has its own working directory under
//! the data dir (`terraform/stacks/<id>-<name>/`) holding its state, the
//! root module of `infra/` as this binary was built with it, the variables
//! generated from the environment and the stack's own extra variables.
//! Terraform's output is streamed to the stack's log line by line, with
//! secrets scrubbed; the outputs are read back with `terraform output`.
//!
//! Terraform runs with a CLI config of switchyard's own (`TF_CLI_CONFIG_FILE`
//! is always set for the child, so the user's config is neither read nor
//! written): a plugin cache under the data dir, and the plugin mirror when one
//! is configured.

mod config;
mod module;
mod plan;
mod runner;
mod scrub;
mod variables;
mod workdir;

pub use config::*;
pub use module::*;
pub use plan::*;
pub use runner::*;
pub use scrub::*;
pub use variables::*;
pub use workdir::*;

#[cfg(test)]
mod tests;
