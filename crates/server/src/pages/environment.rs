//! `/environments/{name}`: one environment: what production serves, its
//! settings, its latest deployments and pipeline runs.

use super::deployment::{status_class, status_text};
use super::format::{When, duration};
use super::logs::{PAGE_TAIL, PANEL_TAIL, TaskLogsView};
use super::overview::{EnvCard, card};
use super::pipelines::{RunItem, run_item};
use super::sessions::SignedIn;
use super::{Chrome, PageError, html};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use switchyard_core::app::freeze::FreezeView;
use switchyard_core::app::views::AllowedActions;
use switchyard_core::store::environments::EnvironmentRow;
use switchyard_core::store::{self, PageRequest};

pub struct DeploymentItem {
    pub id: i64,
    pub href: String,
    pub version: String,
    pub status: String,
    pub class: &'static str,
    pub config: String,
    pub by: String,
    pub started: When,
    pub took: String,
}

#[derive(Template)]
#[template(path = "environment.html")]
struct EnvironmentPage {
    chrome: Chrome,
    env: EnvCard,
    /// (term, description) pairs of the settings card.
    settings: Vec<(&'static str, String)>,
    /// Set while the environment is frozen.
    freeze: Option<FreezeView>,
    deployments: Vec<DeploymentItem>,
    releases_href: String,
    /// The deploy form, for those who may deploy.
    deploy_href: Option<String>,
    runs: Vec<RunItem>,
    has_pipeline: bool,
    /// The last lines of each live task.
    logs: TaskLogsView,
    logs_href: String,
    full_lines: u32,
}

pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let actor = &signed_in.session.actor;
    let chrome = Chrome::new(name.clone(), &signed_in.session, "/");
    let summary = state
        .app
        .environment_summary(actor, &name)
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let rows = state
        .app
        .environment_deployments(actor, &name, 10)
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let runs = state
        .app
        .pipeline_runs(
            actor,
            &name,
            PageRequest {
                before: None,
                limit: 5,
            },
        )
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let logs = TaskLogsView::read(&state.app, actor, &name, PANEL_TAIL, true).await;
    let now = store::now_millis();
    let deployments = rows
        .iter()
        .map(|d| DeploymentItem {
            id: d.id,
            href: format!("/deployments/{}", d.id),
            version: d.version.clone(),
            status: status_text(d.status, d.rolled_back),
            class: status_class(d.status, d.rolled_back),
            config: d
                .deployment_config
                .trim_start_matches(switchyard_domain::deployment_config::PREDEFINED_PREFIX)
                .to_owned(),
            by: d.created_by.clone(),
            started: When::at(d.created_at, now),
            took: duration(d.completed_at.unwrap_or(now) - d.created_at),
        })
        .collect();
    let settings = settings_facts(&summary.environment)
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let freeze = summary
        .environment
        .freeze_now()
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    Ok(html(
        StatusCode::OK,
        &EnvironmentPage {
            chrome,
            env: card(&summary, now),
            settings,
            freeze,
            deployments,
            releases_href: format!("/environments/{name}/releases"),
            deploy_href: AllowedActions::of(actor)
                .deploy
                .then(|| format!("/environments/{name}/deploy")),
            runs: runs.items.iter().map(|r| run_item(r, now)).collect(),
            has_pipeline: summary.environment.pipeline.is_some(),
            logs,
            logs_href: format!("/environments/{name}/logs"),
            full_lines: PAGE_TAIL.lines(),
        },
    ))
}

/// How the environment deploys: the controller and its settings.
fn settings_facts(
    env: &EnvironmentRow,
) -> Result<Vec<(&'static str, String)>, switchyard_core::app::Error> {
    let mut facts = controller_facts(env)?;
    facts.push(("Alarms", env.alarm_settings()?.to_string()));
    facts.push(("Metric gate", env.metric_gate_settings()?.to_string()));
    let windows = env.freeze_settings()?;
    let windows = match windows.0.is_empty() {
        true => "none".to_owned(),
        false => windows
            .0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    };
    facts.push(("Freeze windows", windows));
    Ok(facts)
}

fn controller_facts(
    env: &EnvironmentRow,
) -> Result<Vec<(&'static str, String)>, switchyard_core::app::Error> {
    if let Some(ecs) = env.ecs_settings()? {
        let gates = if ecs.gates.is_empty() {
            "none".to_owned()
        } else {
            ecs.gates
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Ok(vec![
            ("Controller", "ECS".to_owned()),
            ("Strategy", ecs.strategy.to_string()),
            ("Bake time", format!("{} min", ecs.bake_time_minutes)),
            ("Gates", gates),
        ]);
    }
    let waits = format!(
        "{}termination wait {} min{}",
        env.ready_wait_minutes
            .map(|m| format!("ready wait {m} min, "))
            .unwrap_or_default(),
        env.termination_wait_minutes,
        if env.auto_rollback {
            ", rolls back on failure"
        } else {
            ""
        }
    );
    let config = env
        .deployment_config
        .trim_start_matches(switchyard_domain::deployment_config::PREDEFINED_PREFIX)
        .to_owned();
    Ok(vec![
        ("Controller", "CodeDeploy".to_owned()),
        ("Deployment config", config),
        ("Waits", waits),
    ])
}
