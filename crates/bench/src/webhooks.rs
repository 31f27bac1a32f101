//! `switchyard-bench webhooks`: signed GitHub pushes from many concurrent
//! senders to an environment without a pipeline (so only ingest is
//! measured), against a bare handler that answers without any work; then
//! proof from the database that every accepted delivery was recorded
//! exactly once and no refused one at all.

use super::{ChildServer, ScratchDir};
use clap::Args;
use hyper::header::{HeaderName, HeaderValue};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::app::release_policies::PolicyChange;
use switchyard_domain::environment::{CloudResources, EnvironmentName, NewEnvironment, Platform};
use switchyard_domain::pipeline::{SourceSettings, WebhookSecret};
use switchyard_domain::webhook::sha256_signature_header;
use switchyard_loadgen::{LoadResult, LoadSpec};

#[derive(Debug, Args)]
pub struct WebhooksBench {
    /// Concurrent senders, each on its own keep-alive connection.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Keep the data dir here instead of a temporary one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

const REPO: &str = "https://git.example.com/acme/shop.git";
const SECRET: &str = "bench webhook secret 0123456789";

/// What request `n` is: a new push, a bad signature (every 10th), or a
/// redelivery of an earlier push (every 20th, offset by 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    New,
    BadSignature,
    Redelivery(u64),
}

fn kind(n: u64) -> Kind {
    match n % 20 {
        0 | 10 => Kind::BadSignature,
        // n - 1001 is ≡ 4 (mod 20): always a new push.
        5 if n > 1001 => Kind::Redelivery(n - 1001),
        _ => Kind::New,
    }
}

fn payload(n: u64) -> Vec<u8> {
    let after = format!(
        "{:040x}",
        u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c)
    );
    serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": after,
        "created": false, "deleted": false, "forced": false,
        "compare": format!("https://git.example.com/acme/shop/compare/{after}"),
        "commits": [{
            "id": after,
            "message": format!("Change {n}: adjust the checkout copy"),
            "timestamp": "2026-11-27T09:00:00Z",
            "author": {"name": "Dev Eloper", "email": "dev@example.com", "username": "dev"},
        }],
        "head_commit": {
            "id": after,
            "message": format!("Change {n}: adjust the checkout copy"),
            "timestamp": "2026-11-27T09:00:00Z",
            "author": {"name": "Dev Eloper", "email": "dev@example.com", "username": "dev"},
        },
        "repository": {"full_name": "acme/shop", "clone_url": REPO, "html_url": "https://git.example.com/acme/shop"},
        "pusher": {"name": "dev", "email": "dev@example.com"},
        "sender": {"login": "dev"},
    }))
    .expect("JSON")
}

fn request(n: u64) -> (Vec<(HeaderName, HeaderValue)>, bytes::Bytes) {
    let (id, body_of, secret) = match kind(n) {
        Kind::New => (format!("ok-{n}"), n, SECRET),
        Kind::BadSignature => (format!("bad-{n}"), n, "not the secret, but long enough"),
        Kind::Redelivery(first) => (format!("ok-{first}"), first, SECRET),
    };
    let body = payload(body_of);
    let header = |v: &str| HeaderValue::from_str(v).expect("a header value");
    (
        vec![
            (
                HeaderName::from_static("content-type"),
                header("application/json"),
            ),
            (HeaderName::from_static("x-github-event"), header("push")),
            (HeaderName::from_static("x-github-delivery"), header(&id)),
            (
                HeaderName::from_static("x-hub-signature-256"),
                header(&sha256_signature_header(secret, &body)),
            ),
        ],
        bytes::Bytes::from(body),
    )
}

async fn seed(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let (app, admin, _) = super::fresh_app(data_dir).await?;
    let environment = NewEnvironment::new(
        EnvironmentName::parse("ingest")?,
        Platform::Local,
        None,
        CloudResources::default(),
    )?;
    let policy = PolicyChange {
        source: Some(Some(SourceSettings::parse(REPO, "main")?)),
        webhook_secret: Some(Some(WebhookSecret::parse(SECRET)?)),
        ..Default::default()
    };
    app.create_environment_with_policy(&admin, &environment, &policy)
        .await?;
    app.store().close().await;
    Ok(())
}

fn report(name: &str, r: &LoadResult) {
    println!(
        "{name:<28} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  statuses {:?}",
        (r.ok + r.errors) as f64 / r.elapsed.as_secs_f64(),
        r.latency(0.50).as_secs_f64() * 1e3,
        r.latency(0.99).as_secs_f64() * 1e3,
        r.statuses
    );
}

pub async fn run(args: WebhooksBench) -> anyhow::Result<()> {
    let scratch = ScratchDir::new(args.data_dir.clone())?;
    let data_dir = scratch.path().to_path_buf();
    seed(&data_dir).await?;

    let body_file = data_dir.join("baseline-body.json");
    std::fs::write(&body_file, br#"{"event":"push","duplicate":false}"#)?;
    let mut baseline = ChildServer::start_baseline(
        &["serve-bytes", "--listen", "127.0.0.1:0", "--file"],
        Some(&body_file),
    )?;
    let baseline_address = baseline.address().await?;
    let mut server = ChildServer::start_switchyard(&data_dir)?;
    let address = server.address().await?;

    let spec = |address, seconds| LoadSpec {
        address,
        method: hyper::Method::POST,
        paths: vec!["/hooks/github".into()],
        headers: vec![],
        body: bytes::Bytes::new(),
        connections: args.connections,
        duration: Duration::from_secs(seconds),
        vary: Some(Arc::new(request)),
    };
    let theirs = switchyard_loadgen::run(&spec(baseline_address, args.seconds.min(10))).await?;
    let ours = switchyard_loadgen::run(&spec(address, args.seconds)).await?;
    baseline.stop().await?;
    server.stop().await?;

    // The proof, from the database the server wrote.
    let store = switchyard_core::store::Store::open(&data_dir).await?;
    let db = store.reader();
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT delivery_id) FROM webhook_deliveries")
            .fetch_one(db)
            .await?;
    let bad_rows: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE delivery_id LIKE 'bad-%'",
    )
    .fetch_one(db)
    .await?;
    let events: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'push.received'")
            .fetch_one(db)
            .await?;
    store.close().await;

    let count = |status: u16| ours.statuses.get(&status).copied().unwrap_or(0) as i64;
    let (accepted, duplicates, refused) = (count(202), count(200), count(401));
    println!(
        "webhook ingest: {} senders, {:.1} s, signed GitHub pushes (10% bad signatures, 5% redeliveries)",
        args.connections,
        ours.elapsed.as_secs_f64()
    );
    report("baseline (bare handler)", &theirs);
    report("switchyard /hooks/github", &ours);
    let pushes_per_second = accepted as f64 / ours.elapsed.as_secs_f64();
    println!(
        "pushes recorded: {pushes_per_second:.0}/s (goal ≥ 2000/s); all requests {:.2} of the baseline's rate",
        ((ours.ok + ours.errors) as f64 / ours.elapsed.as_secs_f64())
            / ((theirs.ok + theirs.errors) as f64 / theirs.elapsed.as_secs_f64())
    );
    println!(
        "proof: 202 answers {accepted}, delivery rows {rows} ({distinct} distinct ids), push events {events}; \
         200 redeliveries {duplicates}; 401 answers {refused}, rows of bad deliveries {bad_rows}; \
         wire errors {}",
        ours.errors as i64 - refused
    );
    anyhow::ensure!(
        accepted == rows && rows == distinct && rows == events,
        "accepted deliveries were not recorded exactly once"
    );
    anyhow::ensure!(
        bad_rows == 0,
        "a delivery with a bad signature was recorded"
    );
    anyhow::ensure!(
        ours.errors as i64 == refused,
        "some requests failed on the wire or with an unexpected status"
    );
    Ok(())
}
