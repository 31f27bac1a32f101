//! The local cloud's load balancer: real HTTP/1.1 reverse proxies
//! ("listeners") that forward each request to one of their target groups by
//! weight, like an ALB listener with a weighted forward action.
//!
//! Every request is routed on its own, so a client's keep-alive connection
//! sees the weights too. Groups are chosen by smooth weighted round-robin
//! (exact over small windows), targets within a group by plain round-robin.
//! A new forward is swapped in whole: requests already sent keep their
//! upstream, only later ones see the new weights.
//!
//! The per-request work is kept lean (the listener is benchmarked against
//! nginx): each client connection keeps its own upstream connections and
//! timers (upstream.rs, timer.rs) instead of going through shared pools.
//!
//! Each target group counts its requests, answers and response times per
//! period of one cloud minute, as CloudWatch's AWS/ApplicationELB metrics
//! (metrics.rs); a listener counts those it answered without a group.

mod forward;
mod metrics;
mod swrr;
#[cfg(test)]
mod tests;
mod timer;
mod upstream;

use hyper::header::HeaderValue;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use swrr::SmoothWeightedRoundRobin;
use tokio::sync::watch;

pub use metrics::{Distribution, Gauge, PeriodFigures, TrafficMetrics, WINDOW_PERIODS};

/// How long a request may wait for its upstream's response headers before
/// the listener answers 504 (an ALB's default idle timeout).
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// The period metrics are kept in unless told otherwise: a real minute.
const REAL_MINUTE: Duration = Duration::from_secs(60);

/// A named set of healthy targets (task processes on loopback).
#[derive(Debug)]
pub struct TargetGroup {
    name: String,
    arn: String,
    targets: RwLock<Vec<SocketAddr>>,
    next_target: AtomicUsize,
    metrics: Arc<TrafficMetrics>,
}

impl TargetGroup {
    /// A group whose metrics come in periods of one real minute.
    pub fn new(name: &str, arn: &str) -> Arc<TargetGroup> {
        Self::with_period(name, arn, REAL_MINUTE)
    }

    /// A group whose metrics come in periods of `period` (the real length
    /// of one cloud minute).
    pub fn with_period(name: &str, arn: &str, period: Duration) -> Arc<TargetGroup> {
        Arc::new(TargetGroup {
            name: name.to_owned(),
            arn: arn.to_owned(),
            targets: RwLock::new(Vec::new()),
            next_target: AtomicUsize::new(0),
            metrics: Arc::new(TrafficMetrics::new(period)),
        })
    }

    /// Its traffic, period by period.
    pub fn metrics(&self) -> &Arc<TrafficMetrics> {
        &self.metrics
    }

    /// Replaces the set of healthy targets (host:port of task processes on
    /// loopback).
    pub fn set_targets(&self, targets: Vec<SocketAddr>) {
        *self.targets.write().unwrap_or_else(PoisonError::into_inner) = targets;
    }

    pub fn targets(&self) -> Vec<SocketAddr> {
        self.targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The next target in turn and the one after it, if that is another;
    /// `None` when the group has no healthy target.
    fn next_target(&self) -> Option<(SocketAddr, Option<SocketAddr>)> {
        let targets = self.targets.read().unwrap_or_else(PoisonError::into_inner);
        if targets.is_empty() {
            return None;
        }
        let index = self.next_target.fetch_add(1, Ordering::Relaxed) % targets.len();
        let after = (targets.len() > 1).then(|| targets[(index + 1) % targets.len()]);
        Some((targets[index], after))
    }
}

/// A weighted forward action: the target groups and the rotation among
/// them. Replaced whole on every change, never edited.
#[derive(Debug)]
struct Forward {
    groups: Vec<(Arc<TargetGroup>, u32)>,
    rotation: Mutex<SmoothWeightedRoundRobin>,
}

impl Forward {
    fn new(groups: Vec<(Arc<TargetGroup>, u32)>) -> Forward {
        let weights: Vec<u32> = groups.iter().map(|(_, weight)| *weight).collect();
        Forward {
            rotation: Mutex::new(SmoothWeightedRoundRobin::new(&weights)),
            groups,
        }
    }

    /// The group for the next request. The lock covers only one round of
    /// the rotation (a few additions).
    fn next_group(&self) -> Option<&Arc<TargetGroup>> {
        let index = self
            .rotation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next()?;
        Some(&self.groups[index].0)
    }
}

/// What every connection of a listener shares.
#[derive(Debug)]
struct Shared {
    forward: RwLock<Arc<Forward>>,
    /// Moves on every `set_forward`, after the new forward is in place: a
    /// connection reloads its copy of the forward only when this moved.
    forward_epoch: AtomicU64,
    /// The listener's port, as sent in `X-Forwarded-Port`.
    forwarded_port: HeaderValue,
    upstream_timeout_ms: AtomicU64,
    /// Whether requests are counted in the metrics (they are unless the
    /// benchmark measures the listener without).
    recording: AtomicBool,
    /// The requests answered without a target group.
    unrouted: Arc<TrafficMetrics>,
    /// Deals metrics shards to client connections in turn.
    next_shard: AtomicUsize,
}

impl Shared {
    fn current_forward(&self) -> Arc<Forward> {
        self.forward
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_timeout_ms.load(Ordering::Relaxed))
    }
}

/// An HTTP listener with a weighted forward action. Dropping the last
/// handle shuts it down.
#[derive(Debug)]
pub struct Listener {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl Listener {
    /// Binds and starts serving at once; answers 503 until it has a forward.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Arc<Listener>> {
        Self::bind_forwarding(addr, Vec::new()).await
    }

    /// Binds and starts serving at once with `forward` (as `set_forward`
    /// takes it) from the first connection on.
    pub async fn bind_forwarding(
        addr: SocketAddr,
        forward: Vec<(Arc<TargetGroup>, u32)>,
    ) -> std::io::Result<Arc<Listener>> {
        Self::bind_forwarding_with_period(addr, forward, REAL_MINUTE).await
    }

    /// `bind_forwarding`, with the listener's own metrics (see
    /// [`Listener::unrouted_metrics`]) in periods of `metrics_period`.
    pub async fn bind_forwarding_with_period(
        addr: SocketAddr,
        forward: Vec<(Arc<TargetGroup>, u32)>,
        metrics_period: Duration,
    ) -> std::io::Result<Arc<Listener>> {
        let tcp = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = tcp.local_addr()?;
        let shared = Arc::new(Shared {
            forward: RwLock::new(Arc::new(Forward::new(forward))),
            forward_epoch: AtomicU64::new(0),
            forwarded_port: HeaderValue::from(local_addr.port()),
            upstream_timeout_ms: AtomicU64::new(DEFAULT_UPSTREAM_TIMEOUT.as_millis() as u64),
            recording: AtomicBool::new(true),
            unrouted: Arc::new(TrafficMetrics::new(metrics_period)),
            next_shard: AtomicUsize::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept(tcp, shared.clone(), stopped));
        Ok(Arc::new(Listener {
            local_addr,
            shared,
            stop,
        }))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Atomically replaces the weighted forward (weights are relative, e.g.
    /// 90/10; a weight may be 0).
    pub fn set_forward(&self, forward: Vec<(Arc<TargetGroup>, u32)>) {
        let forward = Arc::new(Forward::new(forward));
        *self
            .shared
            .forward
            .write()
            .unwrap_or_else(PoisonError::into_inner) = forward;
        self.shared.forward_epoch.fetch_add(1, Ordering::Release);
    }

    /// Current forward as (target group name, weight).
    pub fn forward(&self) -> Vec<(String, u32)> {
        self.shared
            .current_forward()
            .groups
            .iter()
            .map(|(group, weight)| (group.name().to_owned(), *weight))
            .collect()
    }

    /// How long a request may wait for its upstream's response headers
    /// before the listener answers 504 ([`DEFAULT_UPSTREAM_TIMEOUT`] unless
    /// set).
    pub fn set_upstream_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.shared.upstream_timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// The requests this listener answered without any target group (no
    /// forward yet, or every weight 0): they count for the load balancer
    /// as a whole, not for a group.
    pub fn unrouted_metrics(&self) -> &Arc<TrafficMetrics> {
        &self.shared.unrouted
    }

    /// Whether requests are counted in the metrics (on by default).
    pub fn set_recording(&self, on: bool) {
        self.shared.recording.store(on, Ordering::Relaxed);
    }

    /// Stops accepting; in-flight requests finish, then their connections
    /// close.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept(
    tcp: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Usually out of file descriptors: back off rather
                    // than spin, and keep serving the connections we have.
                    tracing::warn!(error = %e, "listener cannot accept connections; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = until_stopped(&mut stop) => break,
        };
        // Small requests and answers: waiting to coalesce them only adds
        // latency.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, peer, shared.clone(), stop.clone()));
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let client = Arc::new(forward::ClientConnection::new(shared, peer));
    let service =
        hyper::service::service_fn(move |request| forward::handle(client.clone(), request));
    // The timer gives hyper its read timeout for request heads, so a client
    // that connects and goes quiet does not hold a connection forever.
    let mut connection = hyper::server::conn::http1::Builder::new()
        .timer(timer::ConnectionTimer::default())
        .serve_connection(TokioIo::new(stream), service);
    let mut stop = StopSignal::new(stop);
    let mut stopping = false;
    let result = std::future::poll_fn(|cx| {
        if !stopping && stop.poll_stopped(cx).is_ready() {
            Pin::new(&mut connection).graceful_shutdown();
            stopping = true;
        }
        Pin::new(&mut connection).poll(cx)
    })
    .await;
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "client connection ended with an error");
    }
}

/// The listener's stop signal as one connection sees it, polled only after
/// it has woken the connection's task. A connection's task wakes several
/// times per request, and polling the watch channel each time took its
/// locks each time.
struct StopSignal {
    stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
    wake: Arc<StopWake>,
}

struct StopWake {
    /// Set when the signal may have changed (and at first, so that the
    /// first poll registers for it).
    woken: AtomicBool,
    /// The connection's task, as of the last time the signal was polled.
    task: Mutex<Option<Waker>>,
}

impl StopSignal {
    fn new(mut stop: watch::Receiver<bool>) -> StopSignal {
        StopSignal {
            stopped: Box::pin(async move { until_stopped(&mut stop).await }),
            wake: Arc::new(StopWake {
                woken: AtomicBool::new(true),
                task: Mutex::new(None),
            }),
        }
    }

    fn poll_stopped(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.wake.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        *self
            .wake
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        let waker = Waker::from(self.wake.clone());
        self.stopped.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

impl Wake for StopWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(task) = &*self.task.lock().unwrap_or_else(PoisonError::into_inner) {
            task.wake_by_ref();
        }
    }
}

/// Resolves once the listener is shut down (or gone).
async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, not held across awaits,
    // so `shutdown` never waits on a reader.
    let _ = stop.wait_for(|stopped| *stopped).await.map(|_| ());
}
