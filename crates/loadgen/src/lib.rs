//! A closed-loop HTTP/1.1 load generator: N keep-alive connections, each
//! sending its next request as soon as the previous answer is read; a
//! single GET for readiness checks; and an open-loop `sampler` that sends a
//! GET at a fixed interval on a new connection each time.

pub mod sampler;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct LoadSpec {
    pub address: SocketAddr,
    pub method: hyper::Method,
    /// Requests cycle through these paths, each connection from its own
    /// starting point.
    pub paths: Vec<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub connections: usize,
    pub duration: Duration,
    /// When set, builds each request's extra headers and body from a number
    /// unique to it across all connections (replacing `headers` and `body`).
    pub vary: Option<VaryRequest>,
}

/// Makes request number `n` (headers, body).
pub type VaryRequest =
    std::sync::Arc<dyn Fn(u64) -> (Vec<(HeaderName, HeaderValue)>, Bytes) + Send + Sync>;

#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Requests answered with a 2xx status.
    pub ok: u64,
    /// Requests answered otherwise, or that failed on the wire.
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency of every successful request, sorted, in microseconds.
    latencies_us: Vec<u32>,
    /// How many answers had each status.
    pub statuses: std::collections::BTreeMap<u16, u64>,
}

impl LoadResult {
    pub fn requests_per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q` (0.0 to 1.0).
    pub fn latency(&self, q: f64) -> Duration {
        if self.latencies_us.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        Duration::from_micros(u64::from(self.latencies_us[index]))
    }
}

/// Runs the load and reports what it saw. Every connection stops at the
/// deadline, so the run ends by itself.
pub async fn run(spec: &LoadSpec) -> anyhow::Result<LoadResult> {
    let started = Instant::now();
    let deadline = started + spec.duration;
    let sequence = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers: Vec<_> = (0..spec.connections)
        .enumerate()
        .map(|(i, _)| tokio::spawn(connection(spec.clone(), deadline, i, sequence.clone())))
        .collect();
    let mut result = LoadResult {
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
        statuses: Default::default(),
    };
    for worker in workers {
        let (ok, errors, latencies, statuses) = worker.await??;
        result.ok += ok;
        result.errors += errors;
        result.latencies_us.extend(latencies);
        for (status, n) in statuses {
            *result.statuses.entry(status).or_default() += n;
        }
    }
    result.elapsed = started.elapsed();
    result.latencies_us.sort_unstable();
    Ok(result)
}

type Tally = (u64, u64, Vec<u32>, std::collections::BTreeMap<u16, u64>);

async fn connection(
    spec: LoadSpec,
    deadline: Instant,
    index: usize,
    sequence: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> anyhow::Result<Tally> {
    anyhow::ensure!(!spec.paths.is_empty(), "a load needs at least one path");
    let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::with_capacity(64 * 1024));
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    let mut next_path = index.wrapping_mul(7919) % spec.paths.len();
    while Instant::now() < deadline {
        let stream = match tokio::net::TcpStream::connect(spec.address).await {
            Ok(stream) => stream,
            Err(_) => {
                errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        stream.set_nodelay(true)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(conn);
        while Instant::now() < deadline {
            let mut request = Request::builder()
                .method(spec.method.clone())
                .uri(&spec.paths[next_path])
                .header(hyper::header::HOST, spec.address.to_string());
            let body = match &spec.vary {
                Some(vary) => {
                    let n = sequence.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let (headers, body) = vary(n);
                    for (name, value) in headers {
                        request = request.header(name, value);
                    }
                    body
                }
                None => {
                    for (name, value) in &spec.headers {
                        request = request.header(name, value);
                    }
                    spec.body.clone()
                }
            };
            let request = request.body(Full::new(body))?;
            next_path = (next_path + 1) % spec.paths.len();
            let sent = Instant::now();
            let answer = match sender.send_request(request).await {
                Ok(response) => {
                    let status = response.status();
                    response.into_body().collect().await.map(|_| status)
                }
                Err(e) => {
                    errors += 1;
                    tracing::debug!(error = %e, "request failed; reconnecting");
                    break;
                }
            };
            if let Ok(status) = &answer {
                *statuses.entry(status.as_u16()).or_default() += 1;
            }
            match answer {
                Ok(status) if status.is_success() => {
                    ok += 1;
                    latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                }
                Ok(_) => errors += 1,
                Err(_) => {
                    errors += 1;
                    break;
                }
            }
        }
        driver.abort();
    }
    Ok((ok, errors, latencies, statuses))
}

/// One GET on a fresh connection: status and body.
pub async fn http_get(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<(u16, bytes::Bytes)> {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    let driver = tokio::spawn(conn);
    let mut request = hyper::Request::get(path).header(hyper::header::HOST, address.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(http_body_util::Empty::<bytes::Bytes>::new())?)
        .await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    driver.abort();
    Ok((status, body))
}
