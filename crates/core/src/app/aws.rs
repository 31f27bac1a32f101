//! AWS environments: how the server reaches AWS (or an emulator in its
//! stead), the clients of one environment (its region and aws-config
//! profile), and checking that the resources an environment names exist
//! and are of the right kind.

use super::environments::find_environment;
use super::{Actor, App, Result};
use crate::cloud::Cloud;
use crate::cloud::check::{self, Finding};
use crate::provision::terraform::TerraformConfig;
use crate::store::environments::EnvironmentRow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use switchyard_domain::environment::Platform;
use switchyard_domain::user::Role;

/// How long the clients of one region and profile are reused. Loading them
/// resolves the credential chain anew (profile files, the SSO cache,
/// instance metadata), which pollers would otherwise repeat every few
/// seconds for nothing: the clients cache and refresh their credentials
/// themselves. After this long they are loaded again, so that an edited
/// profile takes effect without a restart.
const AWS_CLIENTS_KEPT_FOR: Duration = Duration::from_secs(600);

/// A region and, if not the default, an aws-config profile.
type RegionAndProfile = (String, Option<String>);

/// The clients of `aws` environments, and when each was loaded.
#[derive(Debug, Default)]
pub(crate) struct AwsClients {
    loaded: Mutex<HashMap<RegionAndProfile, (Cloud, Instant)>>,
}

impl AwsClients {
    /// The kept clients for `key` if they are fresh at `now`, else those
    /// `load` makes (kept from then on).
    async fn get_or_load<F>(
        &self,
        key: RegionAndProfile,
        now: Instant,
        load: impl FnOnce() -> F,
    ) -> Cloud
    where
        F: Future<Output = Cloud>,
    {
        let kept = self
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .filter(|(_, loaded_at)| {
                now.saturating_duration_since(*loaded_at) < AWS_CLIENTS_KEPT_FOR
            })
            .map(|(cloud, _)| cloud.clone());
        if let Some(cloud) = kept {
            return cloud;
        }
        // Loaded outside the lock: two callers may both load at first, and
        // the later one's clients are kept.
        let cloud = load().await;
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (cloud.clone(), now));
        cloud
    }
}

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
        let region = env.region.as_deref().unwrap_or("us-east-1");
        let profile = env.aws_profile.as_deref();
        let key = (region.to_owned(), profile.map(str::to_owned));
        Ok(self
            .aws_clients
            .get_or_load(key, Instant::now(), || {
                Cloud::aws_at(region, profile, endpoint.as_deref())
            })
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
        let cloud = if env.platform == Platform::Aws {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn clients_are_loaded_once_per_region_and_profile_until_they_are_old() {
        let clients = AwsClients::default();
        let loads = AtomicUsize::new(0);
        let get = |region: &str, profile: Option<&str>, at: Instant| {
            let key = (region.to_owned(), profile.map(str::to_owned));
            let loads = &loads;
            let clients = &clients;
            async move {
                clients
                    .get_or_load(key, at, || async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        Cloud::aws_at("eu-west-1", None, Some("http://127.0.0.1:9")).await
                    })
                    .await
            }
        };
        let start = Instant::now();
        get("eu-west-1", None, start).await;
        get("eu-west-1", None, start + Duration::from_secs(599)).await;
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        get("eu-west-1", Some("prod"), start).await;
        get("us-east-1", None, start).await;
        assert_eq!(loads.load(Ordering::SeqCst), 3);
        get("eu-west-1", None, start + AWS_CLIENTS_KEPT_FOR).await;
        assert_eq!(loads.load(Ordering::SeqCst), 4);
        // The reloaded clients are kept from their own load on.
        get(
            "eu-west-1",
            None,
            start + AWS_CLIENTS_KEPT_FOR + Duration::from_secs(1),
        )
        .await;
        assert_eq!(loads.load(Ordering::SeqCst), 4);
    }
}
