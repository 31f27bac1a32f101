//! The level-triggered reconciler: one poller per unfinished deployment
//! (never one per viewer) asks the cloud what is true now and hands it to
//! the application, which stores and announces only what changed. After a
//! restart every unfinished deployment is picked up again and caught up.

use crate::app::App;
use crate::cloud::deployments as cloud_deployments;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Tracker {
    app: Arc<App>,
    polling: Mutex<HashSet<i64>>,
}

/// How often to ask: the local cloud answers in microseconds; AWS gets
/// 5-15 s with jitter, as its own waiters do, and more on throttling.
fn interval(platform: &str, failures: u32) -> Duration {
    let base = if platform == "local" {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(5_000 + rand::random::<u64>() % 10_000)
    };
    base.saturating_mul(1 << failures.min(4))
        .min(Duration::from_secs(60))
}

impl Tracker {
    pub fn new(app: Arc<App>) -> Arc<Tracker> {
        Arc::new(Tracker {
            app,
            polling: Mutex::default(),
        })
    }

    /// Resumes every unfinished deployment.
    pub async fn resume(self: &Arc<Self>) -> anyhow::Result<()> {
        for d in self.app.unfinished_deployments().await? {
            self.track(d.id);
        }
        Ok(())
    }

    /// Starts polling a deployment unless it is polled already.
    pub fn track(self: &Arc<Self>, deployment_id: i64) {
        if !self
            .polling
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(deployment_id)
        {
            return;
        }
        let tracker = self.clone();
        tokio::spawn(async move {
            tracker.poll(deployment_id).await;
            tracker
                .polling
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&deployment_id);
        });
    }

    async fn poll(&self, id: i64) {
        let mut failures = 0u32;
        loop {
            match self.poll_once(id).await {
                Ok((true, _)) => return,
                Ok((false, platform)) => {
                    failures = 0;
                    tokio::time::sleep(interval(&platform, 0)).await;
                }
                Err((e, platform)) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(deployment = id, error = %e, "cannot observe the deployment; retrying");
                    tokio::time::sleep(interval(&platform, failures)).await;
                }
            }
        }
    }

    /// One observation: whether the deployment has finished.
    async fn poll_once(&self, id: i64) -> Result<(bool, String), (String, String)> {
        let fail = |e: String| (e, "local".to_owned());
        let d = crate::store::deployments::find(self.app.store().reader(), id)
            .await
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail(format!("deployment {id} vanished")))?;
        let env = match self.app.environment_named(&d.environment).await {
            Ok(env) => env,
            Err(_) => return Ok((true, "local".into())),
        };
        let platform = env.platform.clone();
        let err = |e: String| (e, platform.clone());
        let cloud = self
            .app
            .cloud_for(&env)
            .await
            .map_err(|e| err(e.to_string()))?;
        // The same resources a deployment was started against; without them
        // (the stack was destroyed) there is nothing left to observe.
        let target = match crate::app::deployments::target_of(&env) {
            Ok(target) => target,
            Err(e) => {
                tracing::warn!(deployment = id, error = %e, "cannot observe the deployment any more");
                return Ok((true, platform));
            }
        };
        let seen = cloud_deployments::observe(
            &cloud,
            d.codedeploy_id.as_deref().unwrap_or_default(),
            &target,
        )
        .await
        .map_err(|e| err(e.message))?;
        let finished = self
            .app
            .record_observation(&d, &seen)
            .await
            .map_err(|e| err(e.to_string()))?;
        Ok((finished, platform))
    }
}
