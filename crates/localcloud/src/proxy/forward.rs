//! One request through a listener: pick a target group and a target,
//! rewrite the headers, send it upstream (to a second target if the first
//! cannot be reached) and stream the answer back; count it in the group's
//! metrics (or the listener's, when no group takes it).

use super::metrics::{Outcome, SHARDS, TrafficMetrics};
use super::upstream::{SendError, Upstreams};
use super::{Forward, Shared, TargetGroup};
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{self, Entry, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, StatusCode, Uri, Version};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use tokio::time::{Instant, Sleep};

/// The answer: the upstream's body, streamed, or the listener's own text.
pub(super) type ProxyBody = Either<Incoming, Full<Bytes>>;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// One client connection: who it is, and what its requests reuse.
pub(super) struct ClientConnection {
    shared: Arc<Shared>,
    /// The client's address, as sent in `X-Forwarded-For`.
    client_ip: HeaderValue,
    /// Taken by the request in progress and put back once its answer has
    /// started: a connection carries one request at a time. A request
    /// abandoned half-way takes its upstream connections with it, and the
    /// next one starts afresh.
    reused: Mutex<Option<Reused>>,
    /// This connection's stripe of the metrics' counters.
    shard: usize,
}

/// What a client connection's requests reuse rather than make anew.
struct Reused {
    /// The forward as of the last request, and the listener's forward epoch
    /// then: while the epoch has not moved, the shared lock is not touched.
    forward: Arc<Forward>,
    forward_epoch: u64,
    upstreams: Upstreams,
    /// The upstream deadline, reset for each request. Pushing a registered
    /// timer later only updates it; a new timer for every request would be
    /// registered and removed under the timer driver's lock each time.
    deadline: Pin<Box<Sleep>>,
}

impl ClientConnection {
    pub(super) fn new(shared: Arc<Shared>, client: SocketAddr) -> ClientConnection {
        let shard = shared.next_shard.fetch_add(1, Ordering::Relaxed) % SHARDS;
        ClientConnection {
            shared,
            client_ip: HeaderValue::try_from(client.ip().to_string())
                .expect("an IP address is a valid header value"),
            reused: Mutex::new(None),
            shard,
        }
    }

    fn recording(&self) -> bool {
        self.shared.recording.load(Ordering::Relaxed)
    }

    /// The listener's own answer, counted in `metrics`.
    fn answer_alone(
        &self,
        metrics: &TrafficMetrics,
        at: Instant,
        status: StatusCode,
        reason: &str,
    ) -> Response<ProxyBody> {
        if self.recording() {
            let status = status.as_u16();
            metrics.record(self.shard, at, Outcome::Listener { status });
        }
        local_answer(status, reason)
    }

    fn take_reused(&self, deadline: Instant) -> Reused {
        let reused = self
            .reused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match reused {
            Some(mut reused) => {
                let epoch = self.shared.forward_epoch.load(Ordering::Acquire);
                if epoch != reused.forward_epoch {
                    reused.forward = self.shared.current_forward();
                    reused.forward_epoch = epoch;
                }
                reused.deadline.as_mut().reset(deadline);
                reused
            }
            None => Reused {
                // The epoch first: a forward set in between is then seen
                // at the next request at the latest.
                forward_epoch: self.shared.forward_epoch.load(Ordering::Acquire),
                forward: self.shared.current_forward(),
                upstreams: Upstreams::default(),
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
            },
        }
    }

    fn put_back(&self, reused: Reused) {
        *self.reused.lock().unwrap_or_else(PoisonError::into_inner) = Some(reused);
    }
}

pub(super) async fn handle(
    connection: Arc<ClientConnection>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let shared = &connection.shared;
    let started = Instant::now();
    if !request.uri().path().starts_with('/') {
        return Ok(connection.answer_alone(
            &shared.unrouted,
            started,
            StatusCode::BAD_REQUEST,
            "only origin-form request targets (/path) are proxied",
        ));
    }
    // One deadline for both attempts, so a retry never doubles the wait.
    let mut reused = connection.take_reused(started + shared.upstream_timeout());
    let Reused {
        forward,
        upstreams,
        deadline,
        ..
    } = &mut reused;
    let Some(group) = forward.next_group() else {
        let answer = connection.answer_alone(
            &shared.unrouted,
            started,
            StatusCode::SERVICE_UNAVAILABLE,
            if forward.groups.is_empty() {
                "this listener has no forward action yet"
            } else {
                "every target group of this listener has weight 0"
            },
        );
        connection.put_back(reused);
        return Ok(answer);
    };
    // If the target cannot be reached, the request goes to the next target
    // in turn; a group of one has nowhere else to go.
    let Some((target, fallback)) = group.next_target() else {
        let answer = connection.answer_alone(
            group.metrics(),
            started,
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("target group {} has no healthy targets", group.name()),
        );
        connection.put_back(reused);
        return Ok(answer);
    };

    let request = upstream_request(request, &connection.client_ip, &shared.forwarded_port);
    // The clock is read only when the answer will be counted.
    let recording = connection.recording();
    let sent = if recording { Instant::now() } else { started };
    let outcome = {
        // Pinned where it is: moving a future this size costs more than
        // most of what it does.
        let attempts = pin!(send_with_fallback(
            upstreams,
            request,
            (target, fallback),
            started
        ));
        until(deadline.as_mut(), attempts)
            .await
            .unwrap_or(Err(Failure::TimedOut))
    };
    let answer = match outcome {
        Ok(response) => {
            if recording {
                // TargetResponseTime: from sending to the response headers.
                let answered = Instant::now();
                let outcome = Outcome::Target {
                    status: response.status().as_u16(),
                    response_time: answered.saturating_duration_since(sent),
                };
                group.metrics().record(connection.shard, answered, outcome);
            }
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Either::Left(body))
        }
        Err(failure) => {
            let (status, reason) = failure.answer(group, target);
            connection.answer_alone(group.metrics(), Instant::now(), status, reason)
        }
    };
    connection.put_back(reused);
    Ok(answer)
}

enum Failure {
    /// No connection could be made to this target: nothing was sent.
    Unreachable(SocketAddr, std::io::Error),
    /// Anything after connecting: the request may have been seen.
    Upstream(SocketAddr, hyper::Error),
    TimedOut,
}

impl Failure {
    /// The listener's answer instead of the target's, and why (logged).
    fn answer(self, group: &TargetGroup, target: SocketAddr) -> (StatusCode, &'static str) {
        match self {
            Failure::Unreachable(upstream, e) => {
                tracing::debug!(%upstream, group = group.name(), error = %e, "bad gateway: unreachable");
                (StatusCode::BAD_GATEWAY, "the target did not answer")
            }
            Failure::Upstream(upstream, e) => {
                tracing::debug!(%upstream, group = group.name(), error = %e, "bad gateway");
                (StatusCode::BAD_GATEWAY, "the target did not answer")
            }
            Failure::TimedOut => {
                tracing::debug!(%target, group = group.name(), "gateway timeout");
                (
                    StatusCode::GATEWAY_TIMEOUT,
                    "the target did not answer in time",
                )
            }
        }
    }
}

/// Sends `request` to `target`, or to `fallback` if `target` cannot be
/// reached.
async fn send_with_fallback(
    upstreams: &mut Upstreams,
    UpstreamRequest {
        mut request,
        host_missing,
    }: UpstreamRequest,
    (target, fallback): (SocketAddr, Option<SocketAddr>),
    started: Instant,
) -> Result<Response<Incoming>, Failure> {
    if host_missing {
        name_as_host(&mut request, target);
    }
    let (mut request, error) = match upstreams.send(target, request, started).await {
        Ok(response) => return Ok(response),
        Err(SendError::Failed(e)) => return Err(Failure::Upstream(target, e)),
        Err(SendError::Unreachable(request, e)) => (*request, e),
    };
    let Some(next) = fallback else {
        return Err(Failure::Unreachable(target, error));
    };
    tracing::debug!(
        upstream = %target, %next, error = %error,
        "the target cannot be reached; trying the next one"
    );
    if host_missing {
        name_as_host(&mut request, next);
    }
    match upstreams.send(next, request, started).await {
        Ok(response) => Ok(response),
        Err(SendError::Failed(e)) => Err(Failure::Upstream(next, e)),
        Err(SendError::Unreachable(_, e)) => Err(Failure::Unreachable(next, e)),
    }
}

/// For a client that sent no `Host` (HTTP/1.0): the target's address, as
/// an HTTP/1.1 request must name a host.
fn name_as_host(request: &mut Request<Incoming>, target: SocketAddr) {
    let host = HeaderValue::try_from(target.to_string())
        .expect("a socket address is a valid header value");
    request.headers_mut().insert(header::HOST, host);
}

/// `future`'s output, or `None` if `deadline` passes first. The future is
/// polled first, so an answer that is ready never waits on the timer.
fn until<'a, F: Future>(
    mut deadline: Pin<&'a mut Sleep>,
    mut future: Pin<&'a mut F>,
) -> impl Future<Output = Option<F::Output>> + 'a {
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        deadline.as_mut().poll(cx).map(|()| None)
    })
}

/// The client's request as it goes upstream, whichever target gets it.
struct UpstreamRequest {
    request: Request<Incoming>,
    host_missing: bool,
}

/// `Host` is the client's, as an ALB keeps it; the target is named by the
/// connection, so the URI is origin-form; the version is 1.1 whatever the
/// client spoke, so the upstream connection stays open.
fn upstream_request(
    request: Request<Incoming>,
    client_ip: &HeaderValue,
    port: &HeaderValue,
) -> UpstreamRequest {
    let (mut parts, body) = request.into_parts();
    let headers = &mut parts.headers;
    let host_missing = !headers.contains_key(header::HOST);
    strip_hop_by_hop(headers);
    // Room for the three forwarding headers at once, rather than growing
    // the map as each goes in.
    headers.reserve(3);
    append_forwarded_for(headers, client_ip);
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    headers.insert(X_FORWARDED_PORT, port.clone());
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        // An absolute-form target (`GET http://host/path`): the path is
        // what goes upstream.
        parts.uri = Uri::from(
            parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
    }
    parts.version = Version::HTTP_11;
    // What the server side attached to the request is not for the upstream
    // client.
    parts.extensions.clear();
    UpstreamRequest {
        request: Request::from_parts(parts, body),
        host_missing,
    }
}

/// Whether `name` is a header that describes one connection, not the
/// message (RFC 9110, 7.6.1), or one of the non-standard ones clients still
/// send.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them: one look at each name present is
    // cheaper than removing every hop-by-hop name (a hash lookup each).
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let mut doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_hop_by_hop(name))
        .cloned()
        .collect();
    // The headers that Connection names are hop-by-hop too.
    let named = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok());
    doomed.extend(named);
    for name in &doomed {
        headers.remove(name);
    }
}

/// Appends the client's address to the chain earlier proxies left, as an
/// ALB does.
fn append_forwarded_for(headers: &mut HeaderMap, client_ip: &HeaderValue) {
    // One lookup whether or not there is a chain already.
    match headers.entry(X_FORWARDED_FOR) {
        Entry::Vacant(entry) => {
            entry.insert(client_ip.clone());
        }
        Entry::Occupied(mut entry) => {
            let mut chain: Vec<u8> = Vec::new();
            for earlier in entry.iter() {
                chain.extend_from_slice(earlier.as_bytes());
                chain.extend_from_slice(b", ");
            }
            chain.extend_from_slice(client_ip.as_bytes());
            entry.insert(HeaderValue::from_bytes(&chain).unwrap_or_else(|_| client_ip.clone()));
        }
    }
}

fn local_answer(status: StatusCode, reason: &str) -> Response<ProxyBody> {
    let text = format!("{status}: {reason}\n");
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(text))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_stripped() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, "keep-alive, X-Session".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert("x-session", "abc".parse().unwrap());
        headers.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        headers.insert(header::UPGRADE, "websocket".parse().unwrap());
        headers.insert(header::HOST, "app.example.com".parse().unwrap());
        headers.insert(header::CONTENT_LENGTH, "12".parse().unwrap());
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "host"]);
    }

    #[test]
    fn forwarded_for_appends_the_client_to_the_chain() {
        let client: HeaderValue = "127.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        append_forwarded_for(&mut headers, &client);
        assert_eq!(headers[X_FORWARDED_FOR], "127.0.0.1");

        let mut headers = HeaderMap::new();
        headers.append(X_FORWARDED_FOR, "203.0.113.9".parse().unwrap());
        headers.append(X_FORWARDED_FOR, "198.51.100.2".parse().unwrap());
        append_forwarded_for(&mut headers, &client);
        assert_eq!(
            headers.get_all(X_FORWARDED_FOR).iter().collect::<Vec<_>>(),
            ["203.0.113.9, 198.51.100.2, 127.0.0.1"]
        );
    }
}
