//! `/environments/{name}/deploy`: deploy, redeploy or roll back to a
//! release from the browser. The GET never acts: without a version it is
//! the form, with one it is the confirmation that says what would happen.
//! Only the confirmation's POST starts the deployment, through the API's
//! own use case, so roles, checks and the audit trail are the API's.

use super::csrf::SessionForm;
use super::diff::{DiffView, diff_of};
use super::format::{When, short_commit};
use super::sessions::SignedIn;
use super::{Chrome, PageError, html, see_other};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchyard_core::app::diffs::Candidate;
use switchyard_core::app::freeze::FreezeView;
use switchyard_core::app::sessions::random_secret;
use switchyard_core::app::views::{DeployPreview, DeployRequest, Direction, TrafficPlan};
use switchyard_core::app::{self, Actor};
use switchyard_core::store::{self, views::ReleaseFilter};
use switchyard_domain::deployment_config::{DeploymentConfig, PREDEFINED_PREFIX};
use switchyard_domain::environment::ReadyAction;
use switchyard_domain::user::Role;

/// The form's fields, in the query (GET) or the body (POST).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct DeployFields {
    #[serde(default)]
    version: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    deployment_config: String,
    /// An admin's reason to start while the environment is frozen.
    #[serde(default, skip_serializing)]
    break_glass: String,
    /// Set by the confirmation: a second click answers the first start.
    #[serde(default, skip_serializing)]
    idempotency_key: String,
    /// Asks for the form, filled, instead of the confirmation.
    #[serde(default, skip_serializing)]
    change: bool,
}

impl DeployFields {
    fn request(&self) -> DeployRequest {
        DeployRequest {
            version: self.version.trim().to_owned(),
            image: self.image.trim().to_owned(),
            deployment_config: self.config(),
        }
    }

    fn config(&self) -> Option<String> {
        Some(self.deployment_config.trim())
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    }

    /// These fields as a query string, for links back to the form.
    fn query(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

/// A choice of the form's deployment config list.
pub struct ConfigOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "deploy_form.html")]
struct FormPage {
    chrome: Chrome,
    environment: String,
    fields: DeployFields,
    /// Recent releases, newest first: (version, image).
    releases: Vec<(String, String)>,
    /// Empty under ECS's controller: its strategy is the environment's.
    configs: Vec<ConfigOption>,
    strategy: Option<String>,
    /// Why the last attempt was refused, and the field to fix.
    error: Option<(String, String)>,
}

/// What production serves, or what replaces it.
pub struct ReleaseFacts {
    pub version: String,
    pub image: String,
    pub commit: Option<String>,
    pub commit_short: Option<String>,
}

#[derive(Template)]
#[template(path = "deploy.html")]
struct ConfirmPage {
    chrome: Chrome,
    environment: String,
    heading: String,
    button_text: String,
    /// `danger` for a roll back: production goes back to older code.
    button_class: &'static str,
    live: Option<ReleaseFacts>,
    live_since: Option<(String, When)>,
    candidate: ReleaseFacts,
    candidate_is: String,
    traffic: Vec<String>,
    approvals: String,
    in_progress: Option<(String, String)>,
    freeze: Option<FreezeView>,
    /// Whether the one confirming may break a freeze (admins).
    may_break_glass: bool,
    fields: DeployFields,
    /// Against what is live; none for a first deployment.
    diff: Option<DiffView>,
    change_href: String,
    idempotency_key: String,
}

pub async fn page(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let chrome = Chrome::new(format!("Deploy to {name}"), &session, "/");
    let back = format!("/environments/{name}");
    let fields: DeployFields = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                "That request cannot be read",
                format!("the query string is not valid: {e}"),
            )
            .within(chrome.clone())
            .back(back.clone())
        })?;
    let actor = &session.actor;
    actor
        .require(Role::Deployer, "starting deployments")
        .map_err(|e| PageError::from(e).within(chrome.clone()).back(back.clone()))?;
    if fields.version.trim().is_empty() || fields.change {
        return form(&state, chrome, &name, actor, fields, None).await;
    }
    match state
        .app
        .deploy_preview(actor, &name, &fields.request())
        .await
    {
        Ok(preview) => {
            let diff = match preview.live {
                Some(_) => Some(diff_of(&state, actor, &name, &diff_candidate(&preview)).await),
                None => None,
            };
            let admin = actor.role == Role::Admin;
            let page = ConfirmPage {
                diff,
                ..confirmation(chrome, preview, fields, admin)
            };
            Ok(html(StatusCode::OK, &page))
        }
        Err(app::Error::Invalid(e)) => {
            form(
                &state,
                chrome,
                &name,
                actor,
                fields,
                Some((e.field, e.message)),
            )
            .await
        }
        Err(e) => Err(PageError::from(e).within(chrome).back(back)),
    }
}

/// `POST /environments/{name}/deploy`: starts what the confirmation said.
pub async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: SessionForm<DeployFields>,
) -> Response {
    let session = &form.signed_in.session;
    let fields = &form.fields;
    let chrome = Chrome::new("Refused", session, "/");
    let back = format!("/environments/{name}/deploy?{}", fields.query());
    let key = Some(fields.idempotency_key.trim())
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let started = async {
        let preview = state
            .app
            .deploy_preview(&session.actor, &name, &fields.request())
            .await?;
        let request =
            preview.start_request(&session.actor, fields.config(), key, &fields.break_glass)?;
        state
            .app
            .start_deployment(&session.actor, &name, &request)
            .await
    };
    match started.await {
        Ok((deployment, _)) => see_other(&format!("/deployments/{}", deployment.id)),
        Err(e) => PageError::from(e).within(chrome).back(back).into_response(),
    }
}

async fn form(
    state: &AppState,
    chrome: Chrome,
    name: &str,
    actor: &Actor,
    fields: DeployFields,
    error: Option<(String, String)>,
) -> Result<Response, PageError> {
    let env = state
        .app
        .environment(actor, name)
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let history = state
        .app
        .release_history(
            actor,
            name,
            &ReleaseFilter::default(),
            store::PageRequest {
                before: None,
                limit: 20,
            },
        )
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let strategy = env
        .ecs_settings()
        .map_err(|e| PageError::from(e).within(chrome.clone()))?
        .map(|s| s.strategy.to_string());
    let chosen = fields
        .config()
        .unwrap_or_else(|| env.deployment_config.clone());
    let configs = if strategy.is_some() {
        Vec::new()
    } else {
        DeploymentConfig::predefined()
            .iter()
            .map(|c| ConfigOption {
                value: c.name().to_owned(),
                label: format!(
                    "{} ({})",
                    c.name().trim_start_matches(PREDEFINED_PREFIX),
                    c.routing()
                ),
                selected: c.name() == chosen,
            })
            .collect()
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = FormPage {
        chrome,
        environment: name.to_owned(),
        releases: history
            .page
            .items
            .iter()
            .map(|r| (r.version.clone(), r.image.clone()))
            .collect(),
        fields,
        configs,
        strategy,
        error,
    };
    Ok(html(status, &page))
}

fn confirmation(
    chrome: Chrome,
    p: DeployPreview,
    fields: DeployFields,
    may_break_glass: bool,
) -> ConfirmPage {
    let env = &p.environment.name;
    let version = p.candidate.version.as_str();
    let (heading, candidate_is, button_class) = match p.direction {
        Direction::First => (
            format!("Deploy {version} to {env}"),
            "the first release production serves".to_owned(),
            "button primary",
        ),
        Direction::Forward if p.candidate.recorded() => (
            format!("Deploy {version} to {env}"),
            "a recorded release, newer than the live one".to_owned(),
            "button primary",
        ),
        Direction::Forward => (
            format!("Deploy {version} to {env}"),
            "a new release, recorded when the deployment starts".to_owned(),
            "button primary",
        ),
        Direction::Redeploy => (
            format!("Redeploy {version} to {env}"),
            "the release production serves now, deployed again".to_owned(),
            "button primary",
        ),
        Direction::Back => (
            format!("Roll {env} back to {version}"),
            "an earlier release: production goes back to older code".to_owned(),
            "button danger",
        ),
    };
    let now = store::now_millis();
    let in_progress = p.in_progress.as_ref().map(|d| {
        (
            format!("/deployments/{}", d.id),
            format!(
                "Deployment #{} of {} is {}: starting another now is refused. \
                 Wait for it to finish, or roll it back from its page.",
                d.id, d.version, d.status
            ),
        )
    });
    let change_href = format!("/environments/{env}/deploy?{}&change=true", fields.query());
    ConfirmPage {
        chrome: Chrome {
            title: heading.clone(),
            ..chrome
        },
        environment: env.clone(),
        button_text: format!("Yes, {}", lowercase_first(&heading)),
        heading,
        button_class,
        live: p
            .live
            .as_ref()
            .map(|d| facts(&d.version, &d.image, d.git_commit.as_deref())),
        live_since: p
            .live
            .as_ref()
            .map(|d| (d.created_by.clone(), When::at(d.created_at, now))),
        candidate: facts(
            version,
            &p.candidate.image.as_string(),
            p.candidate.commit.as_deref(),
        ),
        candidate_is,
        traffic: traffic_sentences(&p.traffic),
        approvals: approvals_sentence(&p),
        in_progress,
        may_break_glass,
        freeze: p.freeze.clone(),
        fields: DeployFields {
            image: p.candidate.image.as_string(),
            ..fields
        },
        change_href,
        diff: None,
        idempotency_key: random_secret(),
    }
}

/// The release as the diff names it: recorded, or only an image so far.
fn diff_candidate(preview: &DeployPreview) -> Candidate {
    let c = &preview.candidate;
    if c.recorded() {
        Candidate::Version(c.version.as_str().to_owned())
    } else {
        Candidate::Image(c.image.as_string())
    }
}

/// "Deploy v2" as the middle of a sentence: "deploy v2".
fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

fn facts(version: &str, image: &str, commit: Option<&str>) -> ReleaseFacts {
    ReleaseFacts {
        version: version.to_owned(),
        image: image.to_owned(),
        commit: commit.map(str::to_owned),
        commit_short: commit.map(short_commit),
    }
}

/// How production traffic moves, one sentence per phase.
fn traffic_sentences(traffic: &TrafficPlan) -> Vec<String> {
    match traffic {
        TrafficPlan::CodeDeploy {
            config_name,
            config,
            ready_wait_minutes,
            ready_action,
            termination_wait_minutes,
        } => {
            let shift = match config {
                Some(c) => format!(
                    "CodeDeploy shifts production {} ({}).",
                    c.routing(),
                    config_name.trim_start_matches(PREDEFINED_PREFIX)
                ),
                None => format!("CodeDeploy shifts production by the custom config {config_name}."),
            };
            let ready = match (ready_action, ready_wait_minutes) {
                (ReadyAction::Stop, _) => {
                    "The replacement waits in Ready, on test traffic only, until someone reroutes it."
                        .to_owned()
                }
                (ReadyAction::Continue, Some(m)) if *m > 0 => format!(
                    "The replacement takes test traffic for {m} min, then production moves by itself."
                ),
                (ReadyAction::Continue, _) => {
                    "Production starts moving as soon as the replacement is healthy.".to_owned()
                }
            };
            vec![
                ready,
                shift,
                format!(
                    "The original task set keeps running {termination_wait_minutes} min after \
                     the shift, so a roll back in that time is instant."
                ),
            ]
        }
        TrafficPlan::Ecs(settings) => {
            let mut sentences = vec![format!(
                "ECS's own controller shifts production: {}.",
                settings.strategy
            )];
            sentences.extend(settings.gates.iter().map(|g| format!("It pauses at {g}.")));
            sentences.push(format!(
                "Both revisions run for a bake time of {} min after the last shift.",
                settings.bake_time_minutes
            ));
            sentences
        }
    }
}

fn approvals_sentence(p: &DeployPreview) -> String {
    let n = p.approvals_required;
    if n == 0 {
        return "The release policy asks no approvals.".to_owned();
    }
    let who = if p.allow_self_approval {
        "anyone with the approver role, you included"
    } else {
        "approvers other than you"
    };
    match &p.approvals_hold {
        Some(hold) => format!("It waits {hold} for {n} approval(s) from {who}."),
        None => format!(
            "The release policy asks {n} approval(s), but this environment's deployments \
             have no hold to wait for them at, so production moves without them."
        ),
    }
}
