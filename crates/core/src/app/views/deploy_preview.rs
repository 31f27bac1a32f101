//! What a deployment would do, said before anyone starts it: what
//! production serves, what replaces it, how traffic moves, who must approve
//! and what would refuse it. The deploy form's confirmation draws it; the
//! start itself stays `start_deployment`'s, which checks everything again.

use crate::app::deployments::StartDeployment;
use crate::app::environments::find_environment;
use crate::app::freeze::{FreezeOverride, FreezeView};
use crate::app::{Actor, App, Error, Result};
use crate::store::{self, deployments::DeploymentRow, environments::EnvironmentRow};
use switchyard_domain::FieldError;
use switchyard_domain::deployment_config::DeploymentConfig;
use switchyard_domain::environment::BreakGlassReason;
use switchyard_domain::environment::ReadyAction;
use switchyard_domain::release::{Author, ImageRef, NewRelease, VersionLabel};
use switchyard_domain::service_deployment::EcsDeploymentSettings;
use switchyard_domain::user::Role;

/// What the form asks to deploy.
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    pub version: String,
    /// Empty to redeploy a recorded release with its own image.
    pub image: String,
    /// A predefined CodeDeploy config overriding the environment's.
    pub deployment_config: Option<String>,
}

/// Where the candidate stands against what is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Nothing has been deployed here yet.
    First,
    /// A release that is not live and not older than live.
    Forward,
    /// The release that is live now, again.
    Redeploy,
    /// A release recorded before the live one: a roll back.
    Back,
}

/// How production traffic would move.
#[derive(Debug, Clone)]
pub enum TrafficPlan {
    CodeDeploy {
        config_name: String,
        /// `None` for a custom config: its schedule is the cloud's.
        config: Option<DeploymentConfig>,
        ready_wait_minutes: Option<i64>,
        ready_action: ReadyAction,
        termination_wait_minutes: i64,
    },
    Ecs(EcsDeploymentSettings),
}

/// The release that would replace production.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub version: VersionLabel,
    pub image: ImageRef,
    pub commit: Option<String>,
    /// The recorded release's id; `None` for a new release.
    pub release_id: Option<i64>,
}

impl Candidate {
    /// Whether the release is recorded already (a redeploy or roll back).
    pub fn recorded(&self) -> bool {
        self.release_id.is_some()
    }
}

/// Everything the confirmation says.
#[derive(Debug, Clone)]
pub struct DeployPreview {
    pub environment: EnvironmentRow,
    pub live: Option<DeploymentRow>,
    pub candidate: Candidate,
    pub direction: Direction,
    pub traffic: TrafficPlan,
    /// Approvals the release policy asks before production traffic moves.
    pub approvals_required: i64,
    pub allow_self_approval: bool,
    /// Where the deployment waits for them; `None`: nowhere.
    pub approvals_hold: Option<String>,
    /// The deployment that would make a start refuse.
    pub in_progress: Option<DeploymentRow>,
    /// The freeze that would refuse a start, unless an admin breaks it.
    pub freeze: Option<FreezeView>,
}

fn invalid(field: &str, message: String) -> Error {
    Error::Invalid(FieldError {
        field: field.into(),
        message,
    })
}

impl App {
    /// What deploying `request` to `environment` would do, refusing only
    /// what a start would refuse for its fields (bad version or image, an
    /// image that conflicts with the recorded release, an unknown config).
    pub async fn deploy_preview(
        &self,
        actor: &Actor,
        environment: &str,
        request: &DeployRequest,
    ) -> Result<DeployPreview> {
        actor.require(Role::Deployer, "starting deployments")?;
        let db = self.store.reader();
        let env = find_environment(db, environment).await?;
        let candidate = self.candidate(&env, request).await?;
        let live = store::deployments::succeeded(db, env.id, 1)
            .await?
            .into_iter()
            .next();
        let direction = direction(&candidate, live.as_ref());
        let traffic = traffic_plan(&env, request.deployment_config.as_deref())?;
        let policy = store::release_policies::find(db, env.id).await?;
        let approvals_hold = (policy.approvals_required > 0)
            .then(|| approvals_hold(&traffic))
            .flatten();
        Ok(DeployPreview {
            freeze: env.freeze_now()?,
            in_progress: store::deployments::active(db, env.id).await?,
            environment: env,
            live,
            candidate,
            direction,
            traffic,
            approvals_required: policy.approvals_required,
            allow_self_approval: policy.allow_self_approval,
            approvals_hold,
        })
    }

    /// The release to deploy: the recorded one of that version, or a new one.
    async fn candidate(&self, env: &EnvironmentRow, request: &DeployRequest) -> Result<Candidate> {
        let version = VersionLabel::parse(request.version.trim())
            .map_err(|e| invalid("version", e.to_string()))?;
        let image = request.image.trim();
        let recorded =
            store::releases::find_by_version(self.store.reader(), env.id, version.as_str()).await?;
        let Some(release) = recorded else {
            if image.is_empty() {
                return Err(invalid(
                    "image",
                    format!(
                        "{} has no release {}: give the image to record it",
                        env.name,
                        version.as_str()
                    ),
                ));
            }
            return Ok(Candidate {
                version,
                image: ImageRef::parse(image).map_err(|e| invalid("image", e.to_string()))?,
                commit: None,
                release_id: None,
            });
        };
        if !image.is_empty() && image != release.image {
            return Err(Error::Conflict(format!(
                "release {} of {} is image {}; give the new image a new version",
                release.version, env.name, release.image
            )));
        }
        Ok(Candidate {
            version,
            image: ImageRef::parse(&release.image).map_err(|e| anyhow::anyhow!(e))?,
            commit: release.git_commit,
            release_id: Some(release.id),
        })
    }
}

impl DeployPreview {
    /// The start this preview describes, as `actor` asks it: its release is
    /// the recorded one, or a new one with `actor` as its author. A
    /// non-empty `break_glass` is an admin's reason to go through a freeze.
    pub fn start_request(
        &self,
        actor: &Actor,
        config: Option<String>,
        idempotency_key: Option<String>,
        break_glass: &str,
    ) -> Result<StartDeployment> {
        let freeze = match break_glass.trim() {
            "" => FreezeOverride::None,
            reason => FreezeOverride::BreakGlass {
                reason: BreakGlassReason::parse(reason)
                    .map_err(|e| invalid("break_glass", e.to_string()))?,
            },
        };
        Ok(StartDeployment {
            freeze,
            release: NewRelease {
                version: self.candidate.version.clone(),
                image: self.candidate.image.clone(),
                commit: None,
                author: Author::parse(&actor.name).map_err(|e| anyhow::anyhow!(e))?,
                message: Default::default(),
            },
            config,
            ecs: None,
            idempotency_key,
        })
    }
}

/// Where the candidate stands against the live release: release ids grow
/// as releases are recorded, so a smaller one is older.
fn direction(candidate: &Candidate, live: Option<&DeploymentRow>) -> Direction {
    let Some(live) = live else {
        return Direction::First;
    };
    match candidate.release_id {
        Some(id) if id == live.release_id => Direction::Redeploy,
        Some(id) if id < live.release_id => Direction::Back,
        _ => Direction::Forward,
    }
}

/// The environment's controller with its settings, or the form's config.
fn traffic_plan(env: &EnvironmentRow, config: Option<&str>) -> Result<TrafficPlan> {
    if let Some(settings) = env.ecs_settings()? {
        if config.is_some() {
            return Err(invalid(
                "deployment_config",
                format!(
                    "environment {} deploys through ECS's own controller, which has no \
                     CodeDeploy configs; its strategy is the environment's ecs_deployment",
                    env.name
                ),
            ));
        }
        return Ok(TrafficPlan::Ecs(settings));
    }
    if let Some(name) = config {
        DeploymentConfig::parse_predefined(name, "deployment_config")?;
    }
    let name = config.unwrap_or(&env.deployment_config);
    Ok(TrafficPlan::CodeDeploy {
        config_name: name.to_owned(),
        config: DeploymentConfig::find_predefined(name),
        ready_wait_minutes: env.ready_wait_minutes,
        ready_action: env.ready_action,
        termination_wait_minutes: env.termination_wait_minutes,
    })
}

/// Where a deployment with this plan waits for the team's approvals.
fn approvals_hold(traffic: &TrafficPlan) -> Option<String> {
    match traffic {
        TrafficPlan::CodeDeploy { ready_action, .. } => (*ready_action == ReadyAction::Stop)
            .then(|| "in Ready, before production traffic moves".to_owned()),
        TrafficPlan::Ecs(settings) => settings
            .gates
            .first()
            .map(|g| format!("at the PAUSE hook at {}", g.stage)),
    }
}
