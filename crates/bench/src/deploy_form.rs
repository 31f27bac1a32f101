//! `switchyard-bench deploy-form`: the dashboard's deploy button, timed as
//! a person sees it: the confirmation's POST, its 303, the deployment page
//! it leads to, and the first event of the SSE stream that page subscribes
//! to. The baseline, in the same run, is the API: POST the deployment and
//! read the first SSE event. Rounds alternate between the two.

use super::deployments::{Api, call, wait_for, write_sites};
use super::{ChildServer, ScratchDir};
use clap::Args;
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct DeployFormBench {
    /// Deployments started through each path.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
}

const ENVIRONMENT: &str = "bench";

struct Clients {
    /// For the API, with the admin's token.
    api: Api,
    /// For the dashboard, with the session cookie; follows no redirects.
    http: reqwest::Client,
    base: String,
    token: String,
    cookie: String,
    csrf: String,
}

pub async fn run(args: DeployFormBench) -> anyhow::Result<()> {
    let dir = ScratchDir::new(None)?;
    let sites = dir.path().join("sites");
    write_sites(&sites)?;
    let data = dir.path().join("server");
    let static_root = sites.to_string_lossy();
    let mut server = ChildServer::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            "60",
            "--static-root",
            &static_root,
            "--data-dir",
        ],
        Some(&data),
    )?;
    let base = format!("http://{}", server.address().await?);
    let token = std::fs::read_to_string(data.join("admin-token"))?
        .trim()
        .to_owned();
    let clients = sign_in(base, token).await?;
    provision(&clients).await?;

    let image = |round: usize| {
        let v = if round.is_multiple_of(2) { "v1" } else { "v2" };
        format!("static:{}", sites.join(v).display())
    };
    let mut form = Vec::new();
    let mut api = Vec::new();
    let (mut posts, mut pages, mut events) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.rounds * 2 {
        let version = format!("r{round}");
        let (took, id) = if round.is_multiple_of(2) {
            let (took, id, phases) = through_form(&clients, &version, &image(round)).await?;
            form.push(took);
            posts.push(phases.post);
            pages.push(phases.page);
            events.push(phases.event);
            (took, id)
        } else {
            let (took, id) = through_api(&clients, &version, &image(round)).await?;
            api.push(took);
            (took, id)
        };
        anyhow::ensure!(
            took < Duration::from_secs(10),
            "round {round} took {took:?}"
        );
        wait_for(&clients.api, &format!("/api/deployments/{id}"), "Succeeded").await?;
    }
    server.stop().await?;

    let (form_p50, form_p99) = percentiles(&mut form);
    let (api_p50, api_p99) = percentiles(&mut api);
    println!(
        "switchyard-bench deploy-form: {} deployments through each path, alternating",
        args.rounds
    );
    println!(
        "form: POST -> 303 -> deployment page -> first SSE event: p50 {:.1} ms, p99 {:.1} ms (goal p99 < 300 ms)",
        ms(form_p50),
        ms(form_p99)
    );
    println!(
        "  of which p50: POST to 303 {:.1} ms, deployment page {:.1} ms, first SSE event {:.1} ms",
        ms(percentiles(&mut posts).0),
        ms(percentiles(&mut pages).0),
        ms(percentiles(&mut events).0)
    );
    println!(
        "baseline, API: POST -> first SSE event: p50 {:.1} ms, p99 {:.1} ms",
        ms(api_p50),
        ms(api_p99)
    );
    println!(
        "form / API: {:.2} at p50, {:.2} at p99",
        ms(form_p50) / ms(api_p50),
        ms(form_p99) / ms(api_p99)
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// How long each step of the form's round trip took.
struct FormPhases {
    post: Duration,
    page: Duration,
    event: Duration,
}

/// The confirmation's button, as the browser does it.
async fn through_form(
    c: &Clients,
    version: &str,
    image: &str,
) -> anyhow::Result<(Duration, i64, FormPhases)> {
    let key = format!("bench-{version}");
    let started = Instant::now();
    let answer = c
        .http
        .post(format!("{}/environments/{ENVIRONMENT}/deploy", c.base))
        .header("cookie", &c.cookie)
        .form(&[
            ("csrf", c.csrf.as_str()),
            ("version", version),
            ("image", image),
            ("deployment_config", "CodeDeployDefault.ECSAllAtOnce"),
            ("idempotency_key", &key),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        answer.status() == reqwest::StatusCode::SEE_OTHER,
        "the form answered {}: {}",
        answer.status(),
        answer.text().await.unwrap_or_default()
    );
    let location = answer
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let id: i64 = location.rsplit('/').next().unwrap_or_default().parse()?;
    let posted = started.elapsed();
    let page = c
        .http
        .get(format!("{}{location}", c.base))
        .header("cookie", &c.cookie)
        .send()
        .await?
        .error_for_status()?;
    page.bytes().await?;
    let paged = started.elapsed();
    first_event(c, id, Some(&c.cookie)).await?;
    let took = started.elapsed();
    let phases = FormPhases {
        post: posted,
        page: paged - posted,
        event: took - paged,
    };
    Ok((took, id, phases))
}

async fn through_api(c: &Clients, version: &str, image: &str) -> anyhow::Result<(Duration, i64)> {
    let started = Instant::now();
    let d = call(
        &c.api,
        reqwest::Method::POST,
        &format!("/api/environments/{ENVIRONMENT}/deployments"),
        Some(json!({"version": version, "image": image,
                    "deployment_config": "CodeDeployDefault.ECSAllAtOnce"})),
    )
    .await?;
    let id = d["id"].as_i64().unwrap_or_default();
    first_event(c, id, None).await?;
    Ok((started.elapsed(), id))
}

/// Reads the deployment's SSE stream up to its first event, as the page's
/// script (with the session cookie) or an API client (with the token) does.
async fn first_event(c: &Clients, id: i64, cookie: Option<&str>) -> anyhow::Result<()> {
    let request = c
        .http
        .get(format!("{}/api/deployments/{id}/events", c.base))
        .header("accept", "text/event-stream");
    let request = match cookie {
        Some(cookie) => request.header("cookie", cookie),
        None => request.bearer_auth(&c.token),
    };
    let mut stream = request.send().await?.error_for_status()?;
    let mut buffer = String::new();
    while let Some(chunk) = stream.chunk().await? {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        if buffer.contains("\nevent: ") || buffer.starts_with("event: ") {
            return Ok(());
        }
    }
    anyhow::bail!("deployment {id}'s stream ended without an event")
}

/// A dashboard session for the admin: its cookie and CSRF token.
async fn sign_in(base: String, token: String) -> anyhow::Result<Clients> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie_of = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    };
    let form = http.get(format!("{base}/sign-in")).send().await?;
    let form_cookie = cookie_of(&form, "sy_sign_in")
        .ok_or_else(|| anyhow::anyhow!("the sign-in form set no cookie"))?;
    let csrf = hidden_csrf(&form.text().await?)?;
    let signed = http
        .post(format!("{base}/sign-in"))
        .header("cookie", form_cookie)
        .form(&[("token", token.as_str()), ("csrf", &csrf), ("next", "/")])
        .send()
        .await?;
    let cookie = cookie_of(&signed, "sy_session")
        .ok_or_else(|| anyhow::anyhow!("signing in set no session cookie"))?;
    let home = http
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await?
        .text()
        .await?;
    Ok(Clients {
        api: Api::with_token(&base, token.clone()).map_err(|e| anyhow::anyhow!("{e}"))?,
        csrf: hidden_csrf(&home)?,
        http,
        base,
        token,
        cookie,
    })
}

fn hidden_csrf(page: &str) -> anyhow::Result<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = page
        .find(marker)
        .ok_or_else(|| anyhow::anyhow!("the page has no csrf field"))?
        + marker.len();
    Ok(page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned())
}

async fn provision(c: &Clients) -> anyhow::Result<()> {
    call(
        &c.api,
        reqwest::Method::POST,
        "/api/environments",
        Some(
            json!({"name": ENVIRONMENT, "platform": "local", "termination_wait_minutes": 0,
                    "container": {"desired_count": 1}}),
        ),
    )
    .await?;
    let stack = format!("/api/environments/{ENVIRONMENT}/stack");
    call(&c.api, reqwest::Method::POST, &stack, Some(json!({}))).await?;
    wait_for(&c.api, &stack, "ready").await
}
