//! `/environments/{name}/releases`: release history with filters (outcome,
//! author, time range), each release's deployments, and the DORA figures
//! for a chosen window. Keyset pages: `?before=<id>`.

use super::deployment::{status_class, status_text};
use super::format::{When, duration, short_commit};
use super::sessions::SignedIn;
use super::{Chrome, PageError, html};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use switchyard_core::app::views::{AllowedActions, Dora};
use switchyard_core::store::views::{Outcome, ReleaseFilter};
use switchyard_core::store::{self, PageRequest};
use switchyard_domain::FieldError;

const PAGE_SIZE: u32 = 50;
const WINDOWS: [u32; 4] = [7, 30, 90, 365];
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    status: Option<String>,
    author: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
    window: Option<String>,
}

fn field(name: &str, message: String) -> PageError {
    PageError::from(switchyard_core::app::Error::Invalid(FieldError {
        field: name.into(),
        message,
    }))
}

/// A `YYYY-MM-DD` date as the epoch ms of its UTC midnight.
fn day(name: &str, value: &str) -> Result<i64, PageError> {
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| {
            field(
                name,
                format!("{name}: {value:?} is not a date (YYYY-MM-DD)"),
            )
        })
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

struct Parsed {
    filter: ReleaseFilter,
    page: PageRequest,
    window_days: u32,
}

fn parse(params: &Params) -> Result<Parsed, PageError> {
    let outcome = non_empty(&params.status)
        .map(|s| {
            Outcome::parse(s).ok_or_else(|| {
                field(
                    "status",
                    format!(
                        "status {s:?} is not one of {}",
                        Outcome::ALL.map(Outcome::as_str).join(", ")
                    ),
                )
            })
        })
        .transpose()?;
    let from = non_empty(&params.from)
        .map(|v| day("from", v))
        .transpose()?;
    // "to" names the last day included.
    let to = non_empty(&params.to)
        .map(|v| day("to", v).map(|t| t + DAY_MS))
        .transpose()?;
    let before = non_empty(&params.before)
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| field("before", format!("{v:?} is not a page cursor")))
        })
        .transpose()?;
    let window_days = match non_empty(&params.window) {
        None => 30,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|d| WINDOWS.contains(d))
            .ok_or_else(|| {
                field(
                    "window",
                    format!("window {v:?}: choose 7, 30, 90 or 365 days"),
                )
            })?,
    };
    Ok(Parsed {
        filter: ReleaseFilter {
            outcome,
            author: non_empty(&params.author).map(str::to_owned),
            from,
            to,
        },
        page: PageRequest {
            before,
            limit: PAGE_SIZE,
        },
        window_days,
    })
}

pub struct DeploymentItem {
    pub href: String,
    pub id: i64,
    pub status: String,
    pub class: &'static str,
    pub by: String,
    pub started: When,
    pub took: String,
}

pub struct ReleaseItem {
    pub version: String,
    pub commit: Option<String>,
    pub commit_short: Option<String>,
    pub author: String,
    pub message: String,
    pub recorded: When,
    pub outcome: &'static str,
    pub outcome_class: &'static str,
    pub deployments: Vec<DeploymentItem>,
    /// The deploy form for this release, for those who may deploy.
    pub deploy: Option<DeployLink>,
}

/// A link to the deploy form's confirmation for one release.
pub struct DeployLink {
    pub href: String,
    pub label: &'static str,
    pub class: &'static str,
}

/// What deploying release `id` would be, said against the live release.
fn deploy_link(environment: &str, id: i64, version: &str, live: Option<i64>) -> DeployLink {
    let (label, class) = match live {
        Some(live) if live == id => ("Redeploy", "button redeploy"),
        Some(live) if id < live => ("Roll back to this", "button danger redeploy"),
        _ => ("Deploy", "button redeploy"),
    };
    let query = serde_urlencoded::to_string([("version", version)]).unwrap_or_default();
    DeployLink {
        href: format!("/environments/{environment}/deploy?{query}"),
        label,
        class,
    }
}

pub struct OutcomeOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub struct WindowOption {
    pub days: u32,
    pub selected: bool,
}

pub struct DoraView {
    pub window_days: u32,
    pub frequency: String,
    pub lead_time: String,
    pub lead_time_detail: String,
    pub failure_rate: String,
    pub failure_detail: String,
    pub restore: String,
    pub restore_detail: String,
}

fn dora_view(dora: &Dora, window_days: u32) -> DoraView {
    let c = &dora.counts;
    let frequency = if dora.deployments_per_day >= 1.0 || c.succeeded == 0 {
        format!("{:.1} per day", dora.deployments_per_day)
    } else {
        format!("{:.1} per week", dora.deployments_per_day * 7.0)
    };
    DoraView {
        window_days,
        frequency,
        lead_time: dora
            .lead_time_median_ms
            .map_or("no deployments".into(), duration),
        lead_time_detail: dora.lead_time_avg_ms.map_or(String::new(), |avg| {
            format!("median of {}; mean {}", c.succeeded, duration(avg))
        }),
        failure_rate: dora
            .change_failure_rate
            .map_or("no deployments".into(), |r| format!("{:.0} %", r * 100.0)),
        failure_detail: format!("{} of {} finished deployments", c.failed, c.finished),
        restore: dora
            .time_to_restore_avg_ms
            .map_or("no failures".into(), duration),
        restore_detail: if c.failed > 0 {
            format!("mean of {} restored of {} failed", c.restored, c.failed)
        } else {
            String::new()
        },
    }
}

#[derive(Template)]
#[template(path = "releases.html")]
struct ReleasesPage {
    chrome: Chrome,
    environment: String,
    environment_href: String,
    releases: Vec<ReleaseItem>,
    outcomes: Vec<OutcomeOption>,
    author: String,
    authors: Vec<String>,
    from: String,
    to: String,
    windows: Vec<WindowOption>,
    filtered: bool,
    next_href: Option<String>,
    first_href: Option<String>,
    dora: DoraView,
}

fn query(params: &Params, before: Option<i64>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (key, value) in [
        ("status", &params.status),
        ("author", &params.author),
        ("from", &params.from),
        ("to", &params.to),
        ("window", &params.window),
    ] {
        if let Some(v) = non_empty(value) {
            pairs.push((key, v.to_owned()));
        }
    }
    if let Some(b) = before {
        pairs.push(("before", b.to_string()));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(name): Path<String>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Response, PageError> {
    let actor = &signed_in.session.actor;
    let chrome = Chrome::new(format!("{name} · releases"), &signed_in.session, "/");
    let base = format!("/environments/{name}/releases");
    let params: Params = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| field("query", format!("the query string is not valid: {e}")))
        .map_err(|e| e.within(chrome.clone()).back(base.clone()))?;
    let parsed = parse(&params).map_err(|e| e.within(chrome.clone()).back(base.clone()))?;
    let history = state
        .app
        .release_history(actor, &name, &parsed.filter, parsed.page)
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let now = store::now_millis();
    let dora = state
        .app
        .dora(
            actor,
            &name,
            now - i64::from(parsed.window_days) * DAY_MS,
            now,
        )
        .await
        .map_err(|e| PageError::from(e).within(chrome.clone()))?;
    let may_deploy = AllowedActions::of(actor).deploy;
    let releases = history
        .page
        .items
        .iter()
        .map(|r| {
            let outcome = Outcome::from_column(r.outcome.as_deref());
            ReleaseItem {
                version: r.version.clone(),
                commit_short: r.git_commit.as_deref().map(short_commit),
                commit: r.git_commit.clone(),
                author: r.author.clone(),
                message: r
                    .message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(120)
                    .collect(),
                recorded: When::at(r.created_at, now),
                outcome: outcome.label(),
                outcome_class: match outcome {
                    Outcome::Succeeded => "good",
                    Outcome::Failed | Outcome::RolledBack | Outcome::Stopped => "bad",
                    Outcome::InProgress => "busy",
                    Outcome::NotDeployed => "todo",
                },
                deployments: history
                    .deployments
                    .get(&r.id)
                    .map(|ds| {
                        ds.iter()
                            .map(|d| DeploymentItem {
                                href: format!("/deployments/{}", d.id),
                                id: d.id,
                                status: status_text(d.status, d.rolled_back),
                                class: status_class(d.status, d.rolled_back),
                                by: d.created_by.clone(),
                                started: When::at(d.created_at, now),
                                took: duration(d.completed_at.unwrap_or(now) - d.created_at),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                deploy: may_deploy
                    .then(|| deploy_link(&name, r.id, &r.version, history.live_release_id)),
            }
        })
        .collect();
    let next_href = history
        .page
        .next_before
        .map(|b| format!("{base}?{}", query(&params, Some(b))));
    let first_href = parsed.page.before.map(|_| {
        let q = query(&params, None);
        if q.is_empty() {
            base.clone()
        } else {
            format!("{base}?{q}")
        }
    });
    let page = ReleasesPage {
        chrome,
        environment: name.clone(),
        environment_href: format!("/environments/{name}"),
        releases,
        outcomes: Outcome::ALL
            .into_iter()
            .map(|o| OutcomeOption {
                value: o.as_str(),
                label: o.label(),
                selected: parsed.filter.outcome == Some(o),
            })
            .collect(),
        author: parsed.filter.author.clone().unwrap_or_default(),
        authors: history.authors,
        from: non_empty(&params.from).unwrap_or_default().to_owned(),
        to: non_empty(&params.to).unwrap_or_default().to_owned(),
        windows: WINDOWS
            .into_iter()
            .map(|days| WindowOption {
                days,
                selected: days == parsed.window_days,
            })
            .collect(),
        filtered: parsed.filter != ReleaseFilter::default(),
        next_href,
        first_href,
        dora: dora_view(&dora, parsed.window_days),
    };
    Ok(html(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &str) -> Params {
        serde_urlencoded::from_str(pairs).unwrap()
    }

    #[test]
    fn filters_parse_or_name_the_field() {
        let p = parse(&params(
            "status=rolled_back&author=ann&from=2025-01-01&to=2025-01-31&before=900&window=90",
        ))
        .unwrap();
        assert_eq!(p.filter.outcome, Some(Outcome::RolledBack));
        assert_eq!(p.filter.author.as_deref(), Some("ann"));
        assert_eq!(p.filter.from, Some(1_735_689_600_000));
        // "to" includes its whole day.
        assert_eq!(p.filter.to, Some(1_738_281_600_000 + DAY_MS));
        assert_eq!(p.page.before, Some(900));
        assert_eq!(p.window_days, 90);
        let empty = parse(&params("status=&author=&from=")).unwrap();
        assert_eq!(empty.filter, ReleaseFilter::default());
        assert_eq!(empty.window_days, 30);
        for (bad, status) in [
            ("status=great", StatusCode::UNPROCESSABLE_ENTITY),
            ("from=yesterday", StatusCode::UNPROCESSABLE_ENTITY),
            ("before=-3", StatusCode::UNPROCESSABLE_ENTITY),
            ("window=12", StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            let e = parse(&params(bad)).err().unwrap();
            assert_eq!(e.status, status, "{bad}");
        }
    }

    #[test]
    fn page_links_keep_the_filters() {
        let p = params("status=failed&author=&window=7");
        assert_eq!(query(&p, Some(42)), "status=failed&window=7&before=42");
    }
}
