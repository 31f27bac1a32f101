//! AWS environments through switchyard, with moto standing in for AWS: the
//! real server provisions, plans and destroys infra/ with Terraform through
//! its API (`--aws-endpoint-url` points the Terraform provider and the SDK
//! at moto), and checks the resources of environments made without
//! Terraform. What moto cannot do is listed in infra/README.md.

#[path = "../awscli/support.rs"]
mod venv_support;

#[path = "../infra/support.rs"]
mod infra_support;

// The API tests' harness; this suite uses a part of it.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod checks;
mod stacks;

use helpers::TestServer;
use infra_support::{MOTO_CREDENTIALS, Moto, plugin_mirror};

/// A switchyard server whose aws environments live in a fresh moto.
pub struct AwsServer {
    pub server: TestServer,
    pub moto: Moto,
    pub dir: tempfile::TempDir,
}

impl AwsServer {
    /// `env` is added to the server's environment after moto's credentials.
    pub async fn spawn_with_env(env: &[(&str, &str)]) -> AwsServer {
        let moto = Moto::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mirror = plugin_mirror().display().to_string();
        let mut all_env: Vec<(&str, &str)> = MOTO_CREDENTIALS.to_vec();
        all_env.extend_from_slice(env);
        let server = TestServer::start_with_env(
            &dir.path().join("data"),
            &[
                "--aws-endpoint-url",
                &moto.endpoint,
                "--terraform-plugin-mirror",
                &mirror,
            ],
            &all_env,
        )
        .await;
        AwsServer { server, moto, dir }
    }

    pub async fn spawn() -> AwsServer {
        Self::spawn_with_env(&[]).await
    }
}
