//! AWS environments: how the server reaches AWS (or an emulator in its
//! stead), the clients of one environment (its region and aws-config
//! profile), and checking that the resources an environment names exist
//! and are of the right kind.

use super::environments::find_environment;
use super::{Actor, App, Result};
use crate::cloud::Cloud;
use crate::cloud::check::{self, Finding};
use crate::domain::user::Role;
use crate::provision::terraform::TerraformConfig;
use crate::store::environments::EnvironmentRow;

/// How `aws` environments are reached and provisioned (server flags).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Every AWS call (the SDK's and Terraform's) goes here instead of AWS;
    /// for tests against an emulator such as moto.
    pub endpoint_url: Option<String>,
    pub terraform: TerraformConfig,
}

/// The outcome of checking an environment's resources.
#[derive(Debug, Clone)]
pub struct EnvironmentCheck {
    /// Every finding is ok.
    pub ok: bool,
    pub findings: Vec<Finding>,
}

impl App {
    /// The clients of an `aws` environment: its region and profile, through
    /// the endpoint override when one is configured.
    pub(crate) async fn aws_cloud(&self, env: &EnvironmentRow) -> Result<Cloud> {
        let endpoint = self.cloud_settings()?.aws.endpoint_url.clone();
        Ok(Cloud::aws_at(
            env.region.as_deref().unwrap_or("us-east-1"),
            env.aws_profile.as_deref(),
            endpoint.as_deref(),
        )
        .await)
    }

    /// Checks each resource the environment names: that it exists and is
    /// of the kind switchyard drives. Changes nothing.
    pub async fn check_environment(
        &self,
        actor: &Actor,
        environment: &str,
    ) -> Result<EnvironmentCheck> {
        actor.require(Role::Deployer, "checking an environment's resources")?;
        let env = find_environment(self.store.reader(), environment).await?;
        let cloud = if env.platform == "aws" {
            self.aws_cloud(&env).await?
        } else {
            self.cloud_for(&env).await?
        };
        let named = check::Named {
            cluster: env.cluster.as_deref(),
            service: env.service.as_deref(),
            codedeploy_application: env.codedeploy_application.as_deref(),
            deployment_group: env.deployment_group.as_deref(),
            pipeline: env.pipeline.as_deref(),
            prod_listener_arn: env.prod_listener_arn.as_deref(),
            test_listener_arn: env.test_listener_arn.as_deref(),
        };
        let findings = check::check(&cloud, &named).await;
        Ok(EnvironmentCheck {
            ok: findings.iter().all(|f| f.ok),
            findings,
        })
    }
}
