//! One request through a listener: pick a target group and a target,
//! rewrite the headers, send it upstream (to a second target if the first
//! refuses the connection) and stream the answer back.

use super::{Shared, Target};
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::http::uri::{PathAndQuery, Scheme};
use hyper::{Method, Request, Response, StatusCode, Uri};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::time::Instant;

/// The answer: the upstream's body, streamed, or the listener's own text.
pub(super) type ProxyBody = Either<Incoming, Full<Bytes>>;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// Headers that describe one connection, not the message (RFC 9110, 7.6.1),
/// plus the non-standard ones clients still send.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

pub(super) async fn handle(
    shared: Arc<Shared>,
    client_ip: HeaderValue,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    if !request.uri().path().starts_with('/') {
        return Ok(local_answer(
            StatusCode::BAD_REQUEST,
            "only origin-form request targets (/path) are proxied",
        ));
    }
    let forward = shared.current_forward();
    let Some(group) = forward.next_group() else {
        return Ok(local_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            if forward.groups.is_empty() {
                "this listener has no forward action yet"
            } else {
                "every target group of this listener has weight 0"
            },
        ));
    };
    let Some((targets, index)) = group.next_target() else {
        return Ok(local_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("target group {} has no healthy targets", group.name()),
        ));
    };

    let (parts, body) = request.into_parts();
    let head = UpstreamHead::new(parts, &client_ip, &shared.forwarded_port);
    // One deadline for both attempts, so a retry never doubles the wait.
    let deadline = Instant::now() + shared.upstream_timeout();
    let target = &targets[index];
    // If the target refuses the connection, the request goes to the next
    // target in turn; a group of one has nowhere else to go.
    let fallback = (targets.len() > 1).then(|| &targets[(index + 1) % targets.len()]);
    let (body, home) = LentBody::lend(body, fallback.is_some());
    let spare_head = fallback.map(|_| head.clone());

    let mut outcome = send(&shared, head.into_request(target, body), deadline).await;
    let mut answered_by = target;
    if let (Err(Failure::Refused(e)), Some(next), Some(head), Some(home)) =
        (&outcome, fallback, spare_head, home)
    {
        let unsent = home.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(body) = unsent {
            tracing::debug!(
                upstream = %target.address, next = %next.address, error = %e,
                "the target refused the connection; trying the next one"
            );
            outcome = send(
                &shared,
                head.into_request(next, LentBody::give(body)),
                deadline,
            )
            .await;
            answered_by = next;
        }
    }

    Ok(match outcome {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Either::Left(body))
        }
        Err(Failure::Refused(e) | Failure::Upstream(e)) => {
            tracing::debug!(
                upstream = %answered_by.address, group = group.name(), error = %e,
                "bad gateway"
            );
            local_answer(StatusCode::BAD_GATEWAY, "the target did not answer")
        }
        Err(Failure::TimedOut) => {
            tracing::debug!(
                upstream = %answered_by.address, group = group.name(),
                "gateway timeout"
            );
            local_answer(
                StatusCode::GATEWAY_TIMEOUT,
                "the target did not answer in time",
            )
        }
    })
}

enum Failure {
    /// The connection was refused or could not be made: nothing was sent.
    Refused(hyper_util::client::legacy::Error),
    /// Anything after connecting: the request may have been seen.
    Upstream(hyper_util::client::legacy::Error),
    TimedOut,
}

async fn send(
    shared: &Shared,
    request: Request<LentBody>,
    deadline: Instant,
) -> Result<Response<Incoming>, Failure> {
    match tokio::time::timeout_at(deadline, shared.client.request(request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) if e.is_connect() => Err(Failure::Refused(e)),
        Ok(Err(e)) => Err(Failure::Upstream(e)),
        Err(_) => Err(Failure::TimedOut),
    }
}

/// The parts of the client's request that go upstream, headers rewritten
/// once whatever the number of attempts.
#[derive(Clone)]
struct UpstreamHead {
    method: Method,
    path_and_query: PathAndQuery,
    headers: HeaderMap,
}

impl UpstreamHead {
    fn new(parts: Parts, client_ip: &HeaderValue, port: &HeaderValue) -> UpstreamHead {
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        append_forwarded_for(&mut headers, client_ip);
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
        headers.insert(X_FORWARDED_PORT, port.clone());
        UpstreamHead {
            method: parts.method,
            path_and_query: parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
            headers,
        }
    }

    /// The request for `target`. `Host` is the client's, as an ALB keeps it;
    /// the version is 1.1 whatever the client spoke, so the upstream
    /// connection stays pooled.
    fn into_request(self, target: &Target, body: LentBody) -> Request<LentBody> {
        let uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(target.authority.clone())
            .path_and_query(self.path_and_query)
            .build()
            .expect("an http scheme, an address and a /path make a URI");
        let mut request = Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers;
        request
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // The headers that Connection names are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
}

/// Appends the client's address to the chain earlier proxies left, as an
/// ALB does.
fn append_forwarded_for(headers: &mut HeaderMap, client_ip: &HeaderValue) {
    let mut chain: Vec<u8> = Vec::new();
    for earlier in headers.get_all(X_FORWARDED_FOR) {
        chain.extend_from_slice(earlier.as_bytes());
        chain.extend_from_slice(b", ");
    }
    let value = if chain.is_empty() {
        client_ip.clone()
    } else {
        chain.extend_from_slice(client_ip.as_bytes());
        HeaderValue::from_bytes(&chain).unwrap_or_else(|_| client_ip.clone())
    };
    headers.insert(X_FORWARDED_FOR, value);
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

/// Where a lent body goes back to if it was never read.
type BodyHome = Arc<Mutex<Option<Incoming>>>;

/// The client's request body, lent to the upstream client. The client
/// drops a request whose connection was refused, body and all; if the body
/// was never read it goes back home, so the request can still go to
/// another target.
pub(super) struct LentBody {
    body: Option<Incoming>,
    home: Option<BodyHome>,
}

impl LentBody {
    /// Lends `body`, with a home to come back to only if there will be a
    /// second attempt (the home costs an allocation).
    fn lend(body: Incoming, retriable: bool) -> (LentBody, Option<BodyHome>) {
        let home = retriable.then(BodyHome::default);
        (
            LentBody {
                body: Some(body),
                home: home.clone(),
            },
            home,
        )
    }

    /// Gives `body` away for good: the last attempt.
    fn give(body: Incoming) -> LentBody {
        LentBody {
            body: Some(body),
            home: None,
        }
    }
}

impl Body for LentBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        // Once a frame may have left, the body cannot be sent again.
        self.home = None;
        match self.body.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for LentBody {
    fn drop(&mut self) {
        if let (Some(home), Some(body)) = (self.home.take(), self.body.take()) {
            *home.lock().unwrap_or_else(PoisonError::into_inner) = Some(body);
        }
    }
}

impl std::fmt::Debug for LentBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LentBody")
            .field("returns_if_unread", &self.home.is_some())
            .finish_non_exhaustive()
    }
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
