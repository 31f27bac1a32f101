//! `switchyard demo --bad-release`: the green release is the sample image
//! with FAIL_PERCENT baked in. The demo sends steady traffic to production
//! from inside itself, deploys the bad green linearly, and prints as they
//! happen the planned and observed green weights, the share of 5xx answers,
//! and each state change of the environment's `ENV-target-5xx` alarm (as
//! the deployment's `alarms` record them), until the alarm stops the
//! deployment and production is back on blue.

use super::client::{ApiClient, CliError};
use localcloud::tasks::TaskRunner;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchyard_api::deployments::Deployment;
use switchyard_api::environments::{AlarmsSpec, Environment};
use switchyard_api::release_policies::ChangeEnvironment;
use switchyard_domain::service_deployment::DeploymentController;
use switchyard_server::serve::CloudOptions;

/// The share of requests the bad release fails.
pub const BAD_FAIL_PERCENT: u8 = 30;
/// The demo's own production traffic.
pub const REQUESTS_PER_SECOND: u64 = 10;
/// Target 5xx answers in one (scaled) minute that fire the alarm: at a few
/// requests a second, the default of 5 would let most of the shift pass.
const ALARM_5XX_THRESHOLD: i64 = 1;

/// Refused before anything starts unless the local cloud will run
/// containers: a `static:` site has no FAIL_PERCENT to turn on.
pub async fn refuse_unless_possible(
    cloud: &CloudOptions,
    controller: DeploymentController,
) -> Result<(), CliError> {
    if controller != DeploymentController::CodeDeploy {
        return Err(CliError::Usage(
            "--bad-release deploys through CodeDeploy: leave out --controller ecs".into(),
        ));
    }
    let why_not = match cloud {
        CloudOptions::Embedded { docker_host, .. } => {
            match TaskRunner::find(docker_host, "switchyard-demo").await {
                TaskRunner::Containers(_) => return Ok(()),
                fallback => fallback.to_string(),
            }
        }
        CloudOptions::External { url, .. } => {
            format!("the local cloud at {url} runs the tasks, and the demo cannot build for it")
        }
    };
    Err(CliError::Usage(format!(
        "switchyard demo --bad-release needs a container engine: the bad release is the sample \
         image with FAIL_PERCENT={BAD_FAIL_PERCENT}, and the static: sample cannot fail. Here, \
         {why_not}. Start a Docker-API engine and pass --docker-host."
    )))
}

/// Turns the environment's alarms on with a threshold that a few
/// requests a second reach.
pub async fn sensitive_alarm(client: &ApiClient, environment: &str) -> Result<(), CliError> {
    let change = ChangeEnvironment {
        source: None,
        webhook_secret: None,
        approval_policy: None,
        notifications: None,
        controller: None,
        ecs_deployment: None,
        alarms: Some(AlarmsSpec {
            enabled: Some(true),
            target_5xx_threshold: Some(ALARM_5XX_THRESHOLD),
            unhealthy_hosts_threshold: None,
        }),
        metric_gate: None,
        freeze_windows: None,
    };
    let _: Environment = client
        .patch(&format!("/api/environments/{environment}"), &change)
        .await?;
    println!(
        "  alarm {}: {ALARM_5XX_THRESHOLD} target 5xx in a minute stops a deployment and rolls it back",
        alarm_name(environment)
    );
    Ok(())
}

fn alarm_name(environment: &str) -> String {
    format!("{environment}-target-5xx")
}

/// What production answered since the last look.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    blue: u32,
    green: u32,
    /// 5xx answers (only the bad green gives them).
    failed: u32,
    /// Anything else: no answer, another status or page.
    other: u32,
}

impl Tally {
    fn answered(&self) -> u32 {
        self.blue + self.green + self.failed
    }
}

/// Steady requests to production, a few a second, until dropped.
pub struct Traffic {
    tally: Arc<Mutex<Tally>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Traffic {
    pub fn start(http: reqwest::Client, url: String) -> Traffic {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let counts = tally.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / REQUESTS_PER_SECOND));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let answer = http.get(&url).timeout(Duration::from_secs(2)).send().await;
                let (status, page) = match answer {
                    Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                    Err(_) => (0, String::new()),
                };
                let mut t = counts.lock().unwrap_or_else(|p| p.into_inner());
                match status {
                    200 if page.contains("<h1>blue</h1>") => t.blue += 1,
                    200 if page.contains("<h1>green</h1>") => t.green += 1,
                    500..=599 => t.failed += 1,
                    _ => t.other += 1,
                }
            }
        });
        Traffic { tally, task }
    }

    /// The answers since the last call.
    fn take(&self) -> Tally {
        std::mem::take(&mut *self.tally.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn percent(part: u32, whole: u32) -> u32 {
    part * 100 / whole.max(1)
}

/// How long after the deployment stopped the demo waits for the tracker's
/// last reading, the one that records the alarm that stopped it.
const LAST_READING: Duration = Duration::from_secs(10);

/// Follows the bad deployment until its alarm has stopped it and
/// production answers blue again; an error if it went through.
pub async fn watch(
    client: &ApiClient,
    environment: &str,
    id: i64,
    traffic: &Traffic,
) -> Result<(), CliError> {
    let alarm = alarm_name(environment);
    let started = Instant::now();
    let mut printed_changes = 0;
    let mut last_state = String::new();
    let mut window = Tally::default();
    let mut window_started = Instant::now();
    let mut ended: Option<(Instant, u64)> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let d: Deployment = client.get(&format!("/api/deployments/{id}")).await?;
        let at = started.elapsed().as_secs_f64();
        if let Some(guard) = d.alarms.iter().find(|a| a.name == alarm) {
            for change in guard.history.iter().skip(printed_changes) {
                println!(
                    "  {at:>5.1}s alarm {alarm}: {} at {} ({})",
                    change.state, change.at, change.reason
                );
                last_state.clone_from(&change.state);
            }
            printed_changes = guard.history.len();
            if guard.state != last_state {
                println!("  {at:>5.1}s alarm {alarm}: {}", guard.state);
                last_state.clone_from(&guard.state);
            }
        }
        let more = traffic.take();
        window.blue += more.blue;
        window.green += more.green;
        window.failed += more.failed;
        window.other += more.other;
        let terminal = matches!(d.status.as_str(), "Succeeded" | "Failed" | "Stopped");
        // A line a second (enough requests for a share to mean something),
        // and one when it ends.
        if ended.is_none() && (window_started.elapsed() >= Duration::from_secs(1) || terminal) {
            let answered = window.answered();
            println!(
                "  {at:>5.1}s planned {:>3.0}% green   observed {:>3}% green, {:>3}% 5xx of {answered} requests{}   {}",
                d.green_weight,
                percent(window.green + window.failed, answered),
                percent(window.failed, answered),
                if window.other > 0 {
                    format!(" ({} unanswered)", window.other)
                } else {
                    String::new()
                },
                d.current_lifecycle_event.as_deref().unwrap_or(&d.status),
            );
            window = Tally::default();
            window_started = Instant::now();
        }
        match d.status.as_str() {
            "Succeeded" => {
                return Err(CliError::Deployment(format!(
                    "deployment {id} of the bad release succeeded: {alarm} never stopped it"
                )));
            }
            "Failed" | "Stopped" => {
                let (since, after) =
                    *ended.get_or_insert_with(|| (Instant::now(), started.elapsed().as_secs()));
                let recorded = d.alarms.iter().any(|a| a.stopped_deployment);
                if recorded || since.elapsed() > LAST_READING {
                    return rolled_back(&d, &alarm, after, traffic).await;
                }
            }
            _ => {}
        }
    }
}

/// Once the deployment has ended: which alarm stopped it, and production
/// back on blue.
async fn rolled_back(
    d: &Deployment,
    alarm: &str,
    stopped_after: u64,
    traffic: &Traffic,
) -> Result<(), CliError> {
    let by = d
        .alarms
        .iter()
        .find(|a| a.stopped_deployment)
        .map(|a| a.name.clone())
        .or_else(|| {
            d.error
                .as_ref()
                .filter(|e| e.message.contains(alarm))
                .map(|_| alarm.to_owned())
        })
        .ok_or_else(|| {
            CliError::Deployment(format!(
                "deployment {} {} without an alarm stopping it: {}",
                d.id,
                d.status,
                d.error.as_ref().map_or("", |e| e.message.as_str())
            ))
        })?;
    // Production is blue once a second of steady traffic answered blue only.
    let deadline = Instant::now() + Duration::from_secs(30);
    traffic.take();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = traffic.take();
        if t.blue > 0 && t.blue == t.answered() + t.other {
            break;
        }
        if Instant::now() > deadline {
            return Err(CliError::Deployment(format!(
                "{by} stopped deployment {}, but production still answers other than blue: {t:?}",
                d.id
            )));
        }
    }
    println!("rolled back by alarm {by} after {stopped_after} s; production is on blue");
    Ok(())
}
