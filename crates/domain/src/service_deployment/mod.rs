//! ECS's own deployment controller: the settings an environment deploys
//! with, and a service deployment's progress as ECS reports it.

pub mod progress;
mod settings;

pub use settings::*;
