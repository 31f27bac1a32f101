//! The server's flags for `aws` environments: where AWS is (an emulator in
//! tests) and how Terraform runs.

use clap::Args;
use std::path::PathBuf;
use switchyard_core::app::aws::AwsSettings;
use switchyard_core::provision::terraform::TerraformConfig;

#[derive(Debug, Args)]
pub struct AwsArgs {
    /// Send every AWS call of aws environments (the SDK's and Terraform's)
    /// to this endpoint instead of AWS: an emulator such as moto, for tests.
    #[arg(long, env = "SWITCHYARD_AWS_ENDPOINT_URL")]
    aws_endpoint_url: Option<String>,
    /// The terraform binary that provisions aws stacks (1.5 or newer).
    #[arg(long, env = "SWITCHYARD_TERRAFORM", default_value = "terraform")]
    terraform: PathBuf,
    /// Install Terraform providers from this filesystem mirror (the folder
    /// holding registry.terraform.io/...) instead of the registry.
    #[arg(long, env = "SWITCHYARD_TERRAFORM_PLUGIN_MIRROR")]
    terraform_plugin_mirror: Option<PathBuf>,
    /// A JSON tfvars file of variables every aws stack gets (a stack's own
    /// variables override them), e.g. {"tags": {"team": "web"}}.
    #[arg(long, env = "SWITCHYARD_TERRAFORM_VAR_FILE")]
    terraform_var_file: Option<PathBuf>,
}

impl AwsArgs {
    pub fn settings(self) -> AwsSettings {
        // Terraform runs in each stack's directory: relative paths would
        // point elsewhere there. A bare binary name is looked up on PATH.
        let absolute = |path: PathBuf| std::path::absolute(&path).unwrap_or(path);
        let binary = if self.terraform.components().count() > 1 {
            absolute(self.terraform)
        } else {
            self.terraform
        };
        AwsSettings {
            endpoint_url: self
                .aws_endpoint_url
                .map(|url| url.trim_end_matches('/').to_owned()),
            terraform: TerraformConfig {
                binary,
                plugin_mirror: self.terraform_plugin_mirror.map(absolute),
                var_file: self.terraform_var_file.map(absolute),
            },
        }
    }
}
