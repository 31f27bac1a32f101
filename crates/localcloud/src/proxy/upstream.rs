//! The upstream connections of one client connection: at most one kept
//! HTTP/1.1 connection per target.
//!
//! A client connection carries one request at a time, so it never needs two
//! connections to the same target at once. Keeping them with the client
//! connection, rather than in a pool the whole listener shares, costs no
//! lock, no hashing and no checkout per request (the shared pool was the
//! largest part of the listener's own CPU per request).

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// A kept connection is not used again after this long: below the shortest
/// common upstream keep-alive (Node's 5 s), so a request is never sent just
/// as the target closes the connection.
pub(super) const IDLE_LIMIT: Duration = Duration::from_secs(4);

/// How long making a connection may take before the target counts as
/// unreachable (and the request goes to the next target, if any).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
pub(super) struct Upstreams {
    /// Few entries (one per target this client connection has used), so a
    /// linear search beats any map.
    kept: Vec<Kept>,
}

struct Kept {
    address: SocketAddr,
    sender: SendRequest<Incoming>,
    /// When the last request on it started: never later than the moment it
    /// really went idle, so its idle time is never underestimated.
    last_used: Instant,
}

pub(super) enum SendError {
    /// No connection could be made: nothing was sent, and the request comes
    /// back so that another target can have it (boxed: this is rare, and
    /// every request's result would otherwise be the request's size).
    Unreachable(Box<Request<Incoming>>, std::io::Error),
    /// The request may have reached the target.
    Failed(hyper::Error),
}

impl Upstreams {
    /// Sends `request` to `address` on the kept connection if it is fresh,
    /// else on a new one. `now` is when the request started.
    pub(super) async fn send(
        &mut self,
        address: SocketAddr,
        request: Request<Incoming>,
        now: Instant,
    ) -> Result<Response<Incoming>, SendError> {
        let request = match self.take_fresh(address, now) {
            Some(mut sender) => match sender.try_send_request(request).await {
                Ok(response) => {
                    self.keep(address, sender, now);
                    return Ok(response);
                }
                // The connection was closed or busy before the request left:
                // a new connection gets it.
                Err(mut e) => match e.take_message() {
                    Some(request) => {
                        tracing::debug!(%address, error = %e.error(), "kept connection unusable; reconnecting");
                        request
                    }
                    None => return Err(SendError::Failed(e.into_error())),
                },
            },
            None => request,
        };
        // Boxed: a new connection is rare, and the future that makes one
        // would otherwise make every request's future larger (and slower to
        // move).
        Box::pin(self.send_on_new_connection(address, request, now)).await
    }

    async fn send_on_new_connection(
        &mut self,
        address: SocketAddr,
        request: Request<Incoming>,
        now: Instant,
    ) -> Result<Response<Incoming>, SendError> {
        let mut sender = match connect(address).await {
            Ok(sender) => sender,
            Err(e) => return Err(SendError::Unreachable(Box::new(request), e)),
        };
        let response = sender
            .send_request(request)
            .await
            .map_err(SendError::Failed)?;
        self.keep(address, sender, now);
        Ok(response)
    }

    /// The kept connection to `address` if it may still be used; a stale
    /// one is dropped (which closes it).
    fn take_fresh(&mut self, address: SocketAddr, now: Instant) -> Option<SendRequest<Incoming>> {
        let index = self.kept.iter().position(|k| k.address == address)?;
        let kept = self.kept.swap_remove(index);
        let fresh = now.saturating_duration_since(kept.last_used) < IDLE_LIMIT;
        (fresh && !kept.sender.is_closed()).then_some(kept.sender)
    }

    /// Keeps `sender` for the next request to `address`. Its response is
    /// still streaming, but the client connection sends no other request
    /// until that is done. Connections to other targets that went stale
    /// meanwhile are closed here too.
    fn keep(&mut self, address: SocketAddr, sender: SendRequest<Incoming>, now: Instant) {
        self.kept
            .retain(|k| now.saturating_duration_since(k.last_used) < IDLE_LIMIT);
        self.kept.push(Kept {
            address,
            sender,
            last_used: now,
        });
    }
}

async fn connect(address: SocketAddr) -> std::io::Result<SendRequest<Incoming>> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
            )
        })??;
    // Small requests and answers: waiting to coalesce them only adds latency.
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(%address, error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}
