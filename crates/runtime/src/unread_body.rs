//! Keeps a connection usable after a request is answered without its body
//! being read to the end (refused for its size, its type, its credentials,
//! its path or method).
//!
//! HTTP/1.1 has the next request follow the body on the same connection. When
//! a handler drops a body unread, hyper discards only what has already arrived
//! and otherwise closes the connection after the answer, without saying so: a
//! client that reuses it then fails (a broken pipe, a reset). So after the
//! answer is made, [`read_away_unread_body`] reads and discards the rest of the
//! body, up to [`MAX_DISCARDED_BYTES`] and [`MAX_DISCARD_TIME`], and when it
//! cannot, it says `Connection: close`, which hyper honours by closing.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::oneshot;

/// The most of an unread body read only to be thrown away. Bodies are refused
/// because they are too large (some arrive by the hundred megabytes) or not
/// wanted at all, so reading them whole is what the refusal avoids; past this
/// the connection is closed instead, which costs a client one reconnect.
pub const MAX_DISCARDED_BYTES: u64 = 1024 * 1024;

/// How long the rest of a body may take to arrive before the connection is
/// closed instead (a slow or stalled client must not hold the answer).
pub const MAX_DISCARD_TIME: Duration = Duration::from_secs(2);

/// Middleware (`axum::middleware::from_fn`): after the inner service has
/// answered, reads away what it left of the request body, or marks the answer
/// `Connection: close`.
pub async fn read_away_unread_body(request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    // Such a client sends its body only once asked to (hyper asks when the
    // body is first read): asking now only to throw it away wastes its upload.
    let awaits_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (returned, mut handed_back) = oneshot::channel();
    let request = request.map(|body| {
        Body::new(Returned {
            body: Some(body),
            on_drop: Some(returned),
        })
    });
    let mut response = next.run(request).await;
    // Empty: the answer still holds the body (it streams while reading);
    // closed: the body was read to its end.
    let Ok(unread) = handed_back.try_recv() else {
        return response;
    };
    if awaits_continue || !discard(unread).await {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads and drops the rest of `body`; whether it ended within the limits.
async fn discard(mut body: Body) -> bool {
    if body.size_hint().lower() > MAX_DISCARDED_BYTES {
        return false;
    }
    let read_to_end = async {
        let mut left = MAX_DISCARDED_BYTES;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return false;
            };
            let length = frame.data_ref().map_or(0, |d| d.len() as u64);
            let Some(rest) = left.checked_sub(length) else {
                return false;
            };
            left = rest;
        }
        true
    };
    tokio::time::timeout(MAX_DISCARD_TIME, read_to_end)
        .await
        .unwrap_or(false)
}

/// A request body that, dropped before its end, hands itself back through
/// `on_drop` so the middleware can read it away.
struct Returned {
    /// None once read to the end.
    body: Option<Body>,
    on_drop: Option<oneshot::Sender<Body>>,
}

impl HttpBody for Returned {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = std::task::ready!(Pin::new(body).poll_frame(cx));
        if frame.is_none() {
            self.body = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        if let (Some(body), Some(on_drop)) = (self.body.take(), self.on_drop.take())
            && !body.is_end_stream()
        {
            let _ = on_drop.send(body);
        }
    }
}
