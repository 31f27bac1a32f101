//! The local cloud's load balancer: real HTTP/1.1 reverse proxies
//! ("listeners") that forward each request to one of their target groups by
//! weight, like an ALB listener with a weighted forward action.
//!
//! Every request is routed on its own, so a client's keep-alive connection
//! sees the weights too. Groups are chosen by smooth weighted round-robin
//! (exact over small windows), targets within a group by plain round-robin.
//! A new forward is swapped in whole: requests already sent keep their
//! upstream, only later ones see the new weights.

mod forward;
mod swrr;
#[cfg(test)]
mod tests;

use hyper::header::HeaderValue;
use hyper::http::uri::Authority;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use swrr::SmoothWeightedRoundRobin;
use tokio::sync::watch;

/// How long a request may wait for its upstream's response headers before
/// the listener answers 504 (an ALB's default idle timeout).
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// A named set of healthy targets (task processes on loopback).
#[derive(Debug)]
pub struct TargetGroup {
    name: String,
    arn: String,
    targets: RwLock<Arc<[Target]>>,
    next_target: AtomicUsize,
}

#[derive(Debug, Clone)]
struct Target {
    address: SocketAddr,
    /// Kept ready so that building each upstream URI does not format it.
    authority: Authority,
}

impl TargetGroup {
    pub fn new(name: &str, arn: &str) -> Arc<TargetGroup> {
        Arc::new(TargetGroup {
            name: name.to_owned(),
            arn: arn.to_owned(),
            targets: RwLock::new(Arc::from([])),
            next_target: AtomicUsize::new(0),
        })
    }

    /// Replaces the set of healthy targets (host:port of task processes on
    /// loopback).
    pub fn set_targets(&self, targets: Vec<SocketAddr>) {
        let targets: Arc<[Target]> = targets
            .into_iter()
            .map(|address| Target {
                address,
                authority: Authority::try_from(address.to_string())
                    .expect("a socket address is a valid URI authority"),
            })
            .collect();
        *self.targets.write().unwrap_or_else(PoisonError::into_inner) = targets;
    }

    pub fn targets(&self) -> Vec<SocketAddr> {
        self.current_targets().iter().map(|t| t.address).collect()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    fn current_targets(&self) -> Arc<[Target]> {
        self.targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The targets as they are now and the index of the next one in turn;
    /// `None` when the group has no healthy target.
    fn next_target(&self) -> Option<(Arc<[Target]>, usize)> {
        let targets = self.current_targets();
        if targets.is_empty() {
            return None;
        }
        let index = self.next_target.fetch_add(1, Ordering::Relaxed) % targets.len();
        Some((targets, index))
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
    client: Client<HttpConnector, forward::LentBody>,
    /// The listener's port, as sent in `X-Forwarded-Port`.
    forwarded_port: HeaderValue,
    upstream_timeout_ms: AtomicU64,
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
        let tcp = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = tcp.local_addr()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            // Below the shortest common upstream keep-alive (Node's 5 s):
            // the pool must drop an idle connection before the upstream
            // closes it, or a request sent just as it closes fails.
            .pool_idle_timeout(Duration::from_secs(4))
            .build(connector);
        let shared = Arc::new(Shared {
            forward: RwLock::new(Arc::new(Forward::new(Vec::new()))),
            client,
            forwarded_port: HeaderValue::from(local_addr.port()),
            upstream_timeout_ms: AtomicU64::new(DEFAULT_UPSTREAM_TIMEOUT.as_millis() as u64),
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
    mut stop: watch::Receiver<bool>,
) {
    let client_ip = HeaderValue::try_from(peer.ip().to_string())
        .expect("an IP address is a valid header value");
    let service = hyper::service::service_fn(move |request| {
        forward::handle(shared.clone(), client_ip.clone(), request)
    });
    // The timer gives hyper its read timeout for request heads, so a client
    // that connects and goes quiet does not hold a connection forever.
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = until_stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "client connection ended with an error");
    }
}

/// Resolves once the listener is shut down (or gone).
async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, not held across awaits,
    // so `shutdown` never waits on a reader.
    let _ = stop.wait_for(|stopped| *stopped).await.map(|_| ());
}
