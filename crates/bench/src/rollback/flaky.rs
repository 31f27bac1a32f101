//! `switchyard-bench serve-flaky`: the app of `bench rollback`. It answers
//! 500 to `--fail-percent` of its requests, spread evenly (the same
//! deterministic pattern as the alarm tests' green), and always 200 to the
//! load balancer's health checks, as an app that breaks only under real
//! traffic. With 0 it is the healthy blue. The body is `--answer`, so the
//! load generator can tell blue from green.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The health checker's User-Agent prefix, as ALBs and the local cloud send it.
const HEALTH_CHECKER: &str = "ELB-HealthChecker";

/// Serves on `listen`, or on $HOST:$PORT as the local cloud tells a task.
pub async fn serve(
    listen: Option<SocketAddr>,
    fail_percent: u32,
    answer: String,
) -> anyhow::Result<()> {
    anyhow::ensure!(fail_percent <= 100, "--fail-percent is 0 to 100");
    let listen = match listen {
        Some(listen) => listen,
        None => task_address()?,
    };
    let count = Arc::new(AtomicU64::new(0));
    let body = bytes::Bytes::from(answer);
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let status = status(&headers, &count, fail_percent);
        let body = body.clone();
        async move { (status, body) }
    });
    let shutdown = switchyard_runtime::shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("flaky app listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

fn task_address() -> anyhow::Result<SocketAddr> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT")
        .map_err(|_| anyhow::anyhow!("give --listen, or run as a task (with $PORT)"))?;
    Ok(format!("{host}:{port}").parse()?)
}

/// 500 for request number n when (n × 37) mod 100 < fail_percent: exactly
/// that share of every hundred, never bunched.
fn status(
    headers: &axum::http::HeaderMap,
    count: &AtomicU64,
    fail_percent: u32,
) -> axum::http::StatusCode {
    let checked = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|agent| agent.starts_with(HEALTH_CHECKER));
    if checked {
        return axum::http::StatusCode::OK;
    }
    let n = count.fetch_add(1, Ordering::Relaxed);
    if (n * 37) % 100 < u64::from(fail_percent) {
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    } else {
        axum::http::StatusCode::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_percent_fail_in_every_hundred_and_health_checks_never() {
        let count = AtomicU64::new(0);
        let plain = axum::http::HeaderMap::new();
        let failed = (0..100)
            .filter(|_| status(&plain, &count, 30).is_server_error())
            .count();
        assert_eq!(failed, 30);
        let mut checker = axum::http::HeaderMap::new();
        checker.insert(
            axum::http::header::USER_AGENT,
            "ELB-HealthChecker/2.0".parse().unwrap(),
        );
        assert!((0..100).all(|_| status(&checker, &count, 30).is_success()));
    }
}
