//! `/`: every environment at a glance: what production serves, the
//! blue/green split, health, the latest deployment and pipeline run, and
//! the approvals waiting.

use super::deployment::{status_class, status_text};
use super::format::{When, percent, short_commit};
use super::pipelines::run_item;
use super::sessions::SignedIn;
use super::{Chrome, PageError, html};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use switchyard_core::app::views::EnvironmentSummary;
use switchyard_core::store;

pub struct LiveRelease {
    pub version: String,
    pub commit: Option<String>,
    pub commit_short: Option<String>,
    pub deployed_by: String,
    pub since: When,
    pub href: String,
}

pub struct LatestDeployment {
    pub id: i64,
    pub href: String,
    pub version: String,
    pub status: String,
    pub class: &'static str,
    pub running: bool,
    pub when: When,
}

/// The overview's pipeline column: the latest run, the stage it is at
/// (templates/partials/pipeline_cell.html draws it).
pub struct PipelineCell {
    pub id: i64,
    pub href: String,
    pub stage: String,
    pub status: String,
    pub class: &'static str,
    pub running: bool,
    pub when: When,
}

/// One environment as the overview and its own page show it.
pub struct EnvCard {
    pub name: String,
    pub href: String,
    pub platform: String,
    pub prod_url: Option<String>,
    pub live: Option<LiveRelease>,
    /// "blue", "green" or "split": which task set production traffic is on.
    pub serving: &'static str,
    pub serving_text: String,
    pub blue_weight: String,
    pub green_weight: String,
    /// "2 of 2 tasks running", from the last observation.
    pub health: String,
    pub health_class: &'static str,
    pub latest: Option<LatestDeployment>,
    pub pipeline: Option<PipelineCell>,
    pub pending_approvals: i64,
    pub pipeline_href: String,
}

pub fn card(summary: &EnvironmentSummary, now: i64) -> EnvCard {
    let env = &summary.environment;
    let live = summary.live.as_ref().map(|d| LiveRelease {
        version: d.version.clone(),
        commit_short: d.git_commit.as_deref().map(short_commit),
        commit: d.git_commit.clone(),
        deployed_by: d.created_by.clone(),
        since: When::at(d.completed_at.unwrap_or(d.updated_at), now),
        href: format!("/deployments/{}", d.id),
    });
    let green = summary.latest.as_ref().map_or(0.0, |d| d.green_weight);
    let (serving, serving_text) = match &summary.latest {
        None => ("none", "nothing deployed yet".to_owned()),
        Some(_) if green >= 100.0 => ("green", "Green (replacement) serves all traffic".into()),
        Some(_) if green <= 0.0 => ("blue", "Blue (original) serves all traffic".into()),
        Some(_) => (
            "split",
            format!(
                "Split: blue {} %, green {} %",
                percent(100.0 - green),
                percent(green)
            ),
        ),
    };
    let task_sets = summary.task_sets();
    let serving_sets: Vec<_> = task_sets
        .iter()
        .filter(|t| t.traffic_weight > 0.0 || task_sets.len() == 1)
        .collect();
    let (health, health_class) = if serving_sets.is_empty() {
        ("no task sets observed".to_owned(), "todo")
    } else {
        let running: i64 = serving_sets.iter().map(|t| t.running).sum();
        let desired: i64 = serving_sets.iter().map(|t| t.desired).sum();
        let class = if desired > 0 && running >= desired {
            "good"
        } else if running > 0 {
            "wait"
        } else {
            "bad"
        };
        (
            format!("{running} of {desired} serving tasks running"),
            class,
        )
    };
    let latest = summary.latest.as_ref().map(|d| LatestDeployment {
        id: d.id,
        href: format!("/deployments/{}", d.id),
        version: d.version.clone(),
        status: status_text(d.status, d.rolled_back),
        class: status_class(d.status, d.rolled_back),
        running: !d.status.is_terminal(),
        when: When::at(d.created_at, now),
    });
    EnvCard {
        name: env.name.clone(),
        href: format!("/environments/{}", env.name),
        platform: env.platform.to_string(),
        prod_url: env.prod_url.clone(),
        live,
        serving,
        serving_text,
        blue_weight: percent(100.0 - green),
        green_weight: percent(green),
        health,
        health_class,
        latest,
        pipeline: summary.latest_run.as_ref().map(|run| {
            let item = run_item(run, now);
            PipelineCell {
                id: run.id,
                href: item.href,
                running: !run.status.is_terminal(),
                stage: item.stage,
                status: item.stage_status,
                class: item.stage_class,
                when: item.started,
            }
        }),
        pending_approvals: summary.pending_approvals,
        pipeline_href: format!("/environments/{}/pipeline", env.name),
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    cards: Vec<EnvCard>,
    /// SSE streams of the deployments and pipeline runs in flight, for app.js.
    streams: String,
    pending_approvals: i64,
}

#[derive(Template)]
#[template(path = "overview_live.html")]
struct OverviewLive {
    cards: Vec<EnvCard>,
    streams: String,
    pending_approvals: i64,
}

async fn cards(
    state: &AppState,
    signed_in: &SignedIn,
) -> Result<(Vec<EnvCard>, String), PageError> {
    let summaries = state.app.overview(&signed_in.session.actor).await?;
    let now = store::now_millis();
    let cards: Vec<EnvCard> = summaries.iter().map(|s| card(s, now)).collect();
    let deployments = cards
        .iter()
        .filter_map(|c| c.latest.as_ref().filter(|l| l.running))
        .map(|l| format!("/api/deployments/{}/events", l.id));
    let runs = cards
        .iter()
        .filter_map(|c| c.pipeline.as_ref().filter(|p| p.running))
        .map(|p| format!("/api/pipeline-runs/{}/events", p.id));
    let streams = deployments.chain(runs).collect::<Vec<_>>().join(" ");
    Ok((cards, streams))
}

pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let chrome = Chrome::new("Environments", &signed_in.session, "/");
    let (cards, streams) = cards(&state, &signed_in)
        .await
        .map_err(|e| e.within(chrome.clone()))?;
    Ok(html(
        StatusCode::OK,
        &OverviewPage {
            chrome,
            pending_approvals: cards.iter().map(|c| c.pending_approvals).sum(),
            cards,
            streams,
        },
    ))
}

pub async fn live(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let (cards, streams) = cards(&state, &signed_in).await?;
    Ok(html(
        StatusCode::OK,
        &OverviewLive {
            pending_approvals: cards.iter().map(|c| c.pending_approvals).sum(),
            cards,
            streams,
        },
    ))
}
