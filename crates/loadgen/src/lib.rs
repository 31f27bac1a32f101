//! A closed-loop HTTP/1.1 load generator: N keep-alive connections, each
//! sending its next request as soon as the previous answer is read (or, with
//! a pace, no sooner than the pace after the previous one was sent), and
//! optionally keeping every answer with its times; a
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

/// What `run_with` adds to `run`.
#[derive(Clone, Default)]
pub struct Options {
    /// Each connection sends its requests at least this far apart: still one
    /// at a time (closed loop), but at most `connections / pace` a second.
    pub pace: Option<Duration>,
    /// Keeps every answer in the result's `answers`.
    pub record: bool,
    /// Ends the run before its deadline once set.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Options {
    fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|stop| stop.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// One answer as `Options::record` keeps it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub sent: Instant,
    pub answered: Instant,
    /// The status, or 0 for a request that failed on the wire.
    pub status: u16,
    pub body: Bytes,
}

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
    /// With `Options::record`: every answer, in the order they came.
    pub answers: Vec<Answer>,
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
    run_with(spec, &Options::default()).await
}

/// `run` with a pace, a record of every answer, or an early stop.
pub async fn run_with(spec: &LoadSpec, options: &Options) -> anyhow::Result<LoadResult> {
    let started = Instant::now();
    let deadline = started + spec.duration;
    let sequence = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers: Vec<_> = (0..spec.connections)
        .enumerate()
        .map(|(i, _)| {
            let worker = Worker {
                spec: spec.clone(),
                options: options.clone(),
                deadline,
                index: i,
                sequence: sequence.clone(),
            };
            tokio::spawn(worker.run())
        })
        .collect();
    let mut result = LoadResult {
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
        statuses: Default::default(),
        answers: Vec::new(),
    };
    for worker in workers {
        let tally = worker.await??;
        result.ok += tally.ok;
        result.errors += tally.errors;
        result.latencies_us.extend(tally.latencies);
        for (status, n) in tally.statuses {
            *result.statuses.entry(status).or_default() += n;
        }
        result.answers.extend(tally.answers);
    }
    result.elapsed = started.elapsed();
    result.latencies_us.sort_unstable();
    result.answers.sort_by_key(|a| a.answered);
    Ok(result)
}

#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    latencies: Vec<u32>,
    statuses: std::collections::BTreeMap<u16, u64>,
    answers: Vec<Answer>,
}

impl Tally {
    /// A request that failed on the wire.
    fn failed(&mut self, options: &Options, sent: Instant) {
        self.errors += 1;
        if options.record {
            self.answers.push(Answer {
                sent,
                answered: Instant::now(),
                status: 0,
                body: Bytes::new(),
            });
        }
    }
}

/// One connection of the load, reopened when it fails.
struct Worker {
    spec: LoadSpec,
    options: Options,
    deadline: Instant,
    index: usize,
    sequence: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Worker {
    fn running(&self) -> bool {
        Instant::now() < self.deadline && !self.options.stopped()
    }

    async fn run(self) -> anyhow::Result<Tally> {
        let spec = &self.spec;
        anyhow::ensure!(!spec.paths.is_empty(), "a load needs at least one path");
        let mut tally = Tally {
            latencies: Vec::with_capacity(64 * 1024),
            ..Tally::default()
        };
        let mut next_path = self.index.wrapping_mul(7919) % spec.paths.len();
        while self.running() {
            let stream = match tokio::net::TcpStream::connect(spec.address).await {
                Ok(stream) => stream,
                Err(_) => {
                    tally.failed(&self.options, Instant::now());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            let driver = tokio::spawn(conn);
            while self.running() {
                let request = self.request(&spec.paths[next_path])?;
                next_path = (next_path + 1) % spec.paths.len();
                let sent = Instant::now();
                let answer = match sender.send_request(request).await {
                    Ok(response) => {
                        let status = response.status();
                        let body = response.into_body().collect().await;
                        body.map(|body| (status, body.to_bytes()))
                    }
                    Err(e) => {
                        tally.failed(&self.options, sent);
                        tracing::debug!(error = %e, "request failed; reconnecting");
                        break;
                    }
                };
                let Ok((status, body)) = answer else {
                    tally.failed(&self.options, sent);
                    break;
                };
                self.count(&mut tally, sent, status, body);
                if let Some(pace) = self.options.pace {
                    tokio::time::sleep_until((sent + pace).into()).await;
                }
            }
            driver.abort();
        }
        Ok(tally)
    }

    fn request(&self, path: &str) -> anyhow::Result<Request<Full<Bytes>>> {
        let spec = &self.spec;
        let mut request = Request::builder()
            .method(spec.method.clone())
            .uri(path)
            .header(hyper::header::HOST, spec.address.to_string());
        let body = match &spec.vary {
            Some(vary) => {
                let n = self
                    .sequence
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
        Ok(request.body(Full::new(body))?)
    }

    fn count(&self, tally: &mut Tally, sent: Instant, status: hyper::StatusCode, body: Bytes) {
        *tally.statuses.entry(status.as_u16()).or_default() += 1;
        if status.is_success() {
            tally.ok += 1;
            let latency = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
            tally.latencies.push(latency);
        } else {
            tally.errors += 1;
        }
        if self.options.record {
            tally.answers.push(Answer {
                sent,
                answered: Instant::now(),
                status: status.as_u16(),
                body,
            });
        }
    }
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
