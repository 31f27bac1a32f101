//! The level-triggered reconciler: one poller per unfinished CodeDeploy
//! deployment or pipeline run, and one for all service deployments of
//! ECS's own controller, which DescribeServiceDeployments answers 20 at a
//! time (never one per viewer), asks the cloud what is true now and hands
//! it to the application, which stores and announces only what changed.
//! After a restart every unfinished one is picked up again and caught up.
//! Team decisions the cloud has not taken yet are handed over again until
//! it does.

mod guards;

use crate::app::App;
use crate::app::tracking::Tracked;
use crate::cloud::deployments as cloud_deployments;
use crate::cloud::service_deployments as cloud_service_deployments;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard_domain::environment::Platform;

pub struct Tracker {
    app: Arc<App>,
    polling: Mutex<HashSet<i64>>,
    polling_runs: Mutex<HashSet<i64>>,
    native: Mutex<NativeDeployments>,
    /// Deployments whose alarms and metrics a watcher reads.
    guarding: Mutex<HashSet<i64>>,
}

/// The service deployments the one native poller follows.
#[derive(Default)]
struct NativeDeployments {
    ids: HashSet<i64>,
    /// Whether the poller runs; it stops when it has nothing to follow.
    polling: bool,
}

/// How often decided approvals the cloud refused are handed over again.
const APPROVAL_RETRY: Duration = Duration::from_secs(5);

/// How often to ask: the local cloud answers in microseconds; AWS gets
/// 5-15 s with jitter, as its own waiters do, and more on throttling.
fn interval(platform: Platform, failures: u32) -> Duration {
    let base = if platform == Platform::Local {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(5_000 + rand::random::<u64>() % 10_000)
    };
    base.saturating_mul(1 << failures.min(4))
        .min(Duration::from_secs(60))
}

impl Tracker {
    /// The tracker of `app`, following what its use cases hand over (see
    /// `app::tracking`) from now on.
    pub fn new(app: Arc<App>) -> Arc<Tracker> {
        let requests = app.take_tracking_requests();
        let tracker = Arc::new(Tracker {
            app,
            polling: Mutex::default(),
            polling_runs: Mutex::default(),
            native: Mutex::default(),
            guarding: Mutex::default(),
        });
        match requests {
            Some(mut requests) => {
                let weak = Arc::downgrade(&tracker);
                tokio::spawn(async move {
                    while let Some(what) = requests.recv().await {
                        let Some(tracker) = weak.upgrade() else {
                            return;
                        };
                        match what {
                            Tracked::Deployment(id) => tracker.track(id),
                            Tracked::PipelineRun(id) => tracker.track_run(id),
                        }
                    }
                });
            }
            None => tracing::error!("a second tracker for one application follows nothing new"),
        }
        tracker
    }

    /// Resumes every unfinished deployment and pipeline run, and starts
    /// handing over decided approvals.
    pub async fn resume(self: &Arc<Self>) -> anyhow::Result<()> {
        for d in self.app.unfinished_deployments().await? {
            self.track(d.id);
        }
        for run in self.app.unfinished_pipeline_runs().await? {
            self.track_run(run.id);
        }
        let app = self.app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(APPROVAL_RETRY).await;
                let Ok(ids) = app.unapplied_approvals().await else {
                    continue;
                };
                for id in ids {
                    if let Err(e) = app.apply_approval(id).await {
                        tracing::warn!(approval = id, error = %e, "the cloud still does not take the decision");
                    }
                }
            }
        });
        Ok(())
    }

    /// Starts polling a pipeline run unless it is polled already.
    pub fn track_run(self: &Arc<Self>, run_id: i64) {
        if !self
            .polling_runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run_id)
        {
            return;
        }
        let tracker = self.clone();
        tokio::spawn(async move {
            tracker.poll_run(run_id).await;
            tracker
                .polling_runs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&run_id);
        });
    }

    async fn poll_run(self: &Arc<Self>, id: i64) {
        let mut failures = 0u32;
        loop {
            let platform = match self.poll_run_once(id).await {
                Ok((true, _)) => return,
                Ok((false, platform)) => {
                    failures = 0;
                    platform
                }
                Err((e, platform)) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(pipeline_run = id, error = %e, "cannot observe the pipeline run; retrying");
                    platform
                }
            };
            tokio::time::sleep(interval(platform, failures)).await;
        }
    }

    /// One observation of a run: whether it has finished.
    async fn poll_run_once(
        self: &Arc<Self>,
        id: i64,
    ) -> Result<(bool, Platform), (String, Platform)> {
        let fail = |e: String| (e, Platform::Local);
        let run = self
            .app
            .find_run(id)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let platform = match self.app.environment_named(&run.environment).await {
            Ok(env) => env.platform,
            Err(_) => return Ok((true, Platform::Local)),
        };
        let err = |e: String| (e, platform);
        let Some(seen) = self
            .app
            .observe_run(&run)
            .await
            .map_err(|e| err(e.to_string()))?
        else {
            return Ok((true, platform));
        };
        let progress = self
            .app
            .record_run_observation(&run, &seen)
            .await
            .map_err(|e| err(e.to_string()))?;
        if let Some(deployment_id) = progress.deployment_id {
            self.track(deployment_id);
        }
        for approval_id in progress.decided {
            if let Err(e) = self.app.apply_approval(approval_id).await {
                tracing::warn!(approval = approval_id, error = %e, "the cloud did not take the decision yet; will retry");
            }
        }
        Ok((progress.finished, platform))
    }

    /// Starts polling a deployment unless it is polled already.
    pub fn track(self: &Arc<Self>, deployment_id: i64) {
        self.guard(deployment_id);
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

    async fn poll(self: &Arc<Self>, id: i64) {
        let mut failures = 0u32;
        loop {
            match self.poll_once(id).await {
                Ok((true, _)) => return,
                Ok((false, platform)) => {
                    failures = 0;
                    tokio::time::sleep(interval(platform, 0)).await;
                }
                Err((e, platform)) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(deployment = id, error = %e, "cannot observe the deployment; retrying");
                    tokio::time::sleep(interval(platform, failures)).await;
                }
            }
        }
    }

    /// One observation: whether the deployment has finished (or, for one of
    /// ECS's controller, that the native poller has taken it over).
    async fn poll_once(self: &Arc<Self>, id: i64) -> Result<(bool, Platform), (String, Platform)> {
        let fail = |e: String| (e, Platform::Local);
        let d = crate::store::deployments::find(self.app.store().reader(), id)
            .await
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail(format!("deployment {id} vanished")))?;
        let env = match self.app.environment_named(&d.environment).await {
            Ok(env) => env,
            Err(_) => return Ok((true, Platform::Local)),
        };
        let platform = env.platform;
        if d.service_deployment_arn.is_some() {
            self.follow_native(id);
            return Ok((true, platform));
        }
        let err = |e: String| (e, platform);
        let cloud = self
            .app
            .cloud_for(&env)
            .await
            .map_err(|e| err(e.to_string()))?;
        // The same resources a deployment was started against; without
        // them (the stack was destroyed) there is nothing left to observe.
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

    /// Hands a service deployment to the native poller, starting it if
    /// it is not running.
    fn follow_native(self: &Arc<Self>, id: i64) {
        let mut native = self.native.lock().unwrap_or_else(|p| p.into_inner());
        native.ids.insert(id);
        if native.polling {
            return;
        }
        native.polling = true;
        let tracker = self.clone();
        tokio::spawn(async move { tracker.poll_native().await });
    }

    /// Rounds of DescribeServiceDeployments over every followed service
    /// deployment, until none is left; slower after failures (throttling).
    async fn poll_native(self: Arc<Self>) {
        let mut failures = 0u32;
        loop {
            let ids: Vec<i64> = {
                let mut native = self.native.lock().unwrap_or_else(|p| p.into_inner());
                if native.ids.is_empty() {
                    native.polling = false;
                    return;
                }
                native.ids.iter().copied().collect()
            };
            let (platform, failed) = self.native_round(&ids).await;
            failures = if failed {
                failures.saturating_add(1)
            } else {
                0
            };
            tokio::time::sleep(interval(platform, failures)).await;
        }
    }

    /// One round: the deployments grouped by the cloud that answers for
    /// them, each group described in batches of 20, every observation
    /// recorded. Returns the slowest platform polled and whether a call failed.
    async fn native_round(&self, ids: &[i64]) -> (Platform, bool) {
        let (groups, ended) = self.native_groups(ids).await;
        self.stop_following(&ended);
        let mut platform = Platform::Local;
        let mut failed = false;
        for (env, rows) in groups.into_values() {
            if env.platform != Platform::Local {
                platform = env.platform;
            }
            match self.observe_native_group(&env, &rows).await {
                Ok(finished) => self.stop_following(&finished),
                Err(e) => {
                    failed = true;
                    tracing::warn!(environment = %env.name, error = %e, "cannot observe service deployments; retrying");
                }
            }
        }
        (platform, failed)
    }

    /// The followed deployments by cloud (platform, region, profile), and
    /// those with nothing left to observe.
    async fn native_groups(&self, ids: &[i64]) -> (NativeGroups, Vec<i64>) {
        let mut groups = NativeGroups::new();
        let mut ended = Vec::new();
        // Deployments of one environment share its row: read it once a round.
        let mut environments = std::collections::HashMap::new();
        for &id in ids {
            let row = crate::store::deployments::find(self.app.store().reader(), id).await;
            let Ok(Some(d)) = row else {
                ended.push(id);
                continue;
            };
            if d.status.is_terminal() || d.service_deployment_arn.is_none() {
                ended.push(id);
                continue;
            }
            if !environments.contains_key(&d.environment) {
                let env = self.app.environment_named(&d.environment).await.ok();
                environments.insert(d.environment.clone(), env);
            }
            let Some(Some(env)) = environments.get(&d.environment) else {
                ended.push(id);
                continue;
            };
            let key = (
                env.platform,
                env.region.clone().unwrap_or_default(),
                env.aws_profile.clone().unwrap_or_default(),
            );
            groups
                .entry(key)
                .or_insert_with(|| (env.clone(), Vec::new()))
                .1
                .push(d);
        }
        (groups, ended)
    }

    /// Describes one cloud's service deployments and records what changed;
    /// the ids that finished.
    async fn observe_native_group(
        &self,
        env: &crate::store::environments::EnvironmentRow,
        rows: &[crate::store::deployments::DeploymentRow],
    ) -> Result<Vec<i64>, String> {
        let cloud = self.app.cloud_for(env).await.map_err(|e| e.to_string())?;
        let arns: Vec<&str> = rows
            .iter()
            .filter_map(|d| d.service_deployment_arn.as_deref())
            .collect();
        let seen = cloud_service_deployments::describe(&cloud, &arns)
            .await
            .map_err(|e| e.message)?;
        let mut finished = Vec::new();
        for observation in &seen {
            let Some(d) = rows
                .iter()
                .find(|d| d.service_deployment_arn.as_deref() == Some(observation.arn.as_str()))
            else {
                continue;
            };
            match self.app.record_native_observation(d, observation).await {
                Ok(true) => finished.push(d.id),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(deployment = d.id, error = %e, "cannot record the service deployment; retrying")
                }
            }
        }
        Ok(finished)
    }

    fn stop_following(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let mut native = self.native.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            native.ids.remove(id);
        }
    }
}

/// Deployments to describe, by the cloud that answers for them.
type NativeGroups = std::collections::HashMap<
    (Platform, String, String),
    (
        crate::store::environments::EnvironmentRow,
        Vec<crate::store::deployments::DeploymentRow>,
    ),
>;
