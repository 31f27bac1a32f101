//! The HTTP health check, as an ALB target group makes it: a GET on the
//! check path, healthy on a 200-399 answer within the timeout.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

/// Ok if the task answered healthy; otherwise why not, for the stopped reason.
pub(super) async fn probe(
    address: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, status(address, path)).await {
        Err(_) => Err(format!("no answer within {timeout:?}")),
        Ok(Err(error)) => Err(error),
        Ok(Ok(status)) if (200..400).contains(&status) => Ok(()),
        Ok(Ok(status)) => Err(format!("HTTP {status}")),
    }
}

/// The status of one GET on a fresh connection; the body is not read.
async fn status(address: SocketAddr, path: &str) -> Result<u16, String> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|error| format!("cannot connect to {address}: {error}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|error| format!("HTTP handshake with {address} failed: {error}"))?;
    let request = hyper::Request::get(path)
        .header(HOST, address.to_string())
        .header(USER_AGENT, "ELB-HealthChecker/2.0")
        .header(CONNECTION, "close")
        .body(Empty::new())
        .map_err(|error| format!("invalid health check path {path:?}: {error}"))?;
    // The connection is driven here rather than spawned, so a probe dropped
    // by its timeout leaves nothing behind. It can finish in the same poll
    // that hands over the answer (Connection: close); the answer is then
    // ready, or the request fails saying why.
    let failed = |error: hyper::Error| format!("GET {path} on {address} failed: {error}");
    let mut response = pin!(sender.send_request(request));
    let mut connection = pin!(connection);
    let response = tokio::select! {
        response = &mut response => response.map_err(failed)?,
        closed = &mut connection => match response.await {
            Ok(response) => response,
            // The connection's own error says more, when there is one.
            Err(error) => return Err(failed(closed.err().unwrap_or(error))),
        },
    };
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Answers every connection with `answer` and closes it at once, as an
    /// HTTP/1.0 server does.
    async fn canned(answer: &'static str) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = [0; 1024];
                let _ = stream.read(&mut request).await.unwrap();
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        address
    }

    const TIMEOUT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn answers_from_200_to_399_are_healthy_and_others_say_why_not() {
        let cases = [
            ("HTTP/1.0 200 OK\r\n\r\nhello", Ok(())),
            ("HTTP/1.0 302 Found\r\nLocation: /login\r\n\r\n", Ok(())),
            (
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
                Err("HTTP 503".to_string()),
            ),
        ];
        for (answer, expected) in cases {
            let address = canned(answer).await;
            // Many times: the close right after the answer must never be
            // mistaken for a connection closed without one.
            for _ in 0..50 {
                assert_eq!(probe(address, "/", TIMEOUT).await, expected, "{answer:?}");
            }
        }
    }

    #[tokio::test]
    async fn silence_and_refusal_are_failures() {
        // Never accepted: the kernel completes the handshake, nobody answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let error = probe(silent.local_addr().unwrap(), "/", TIMEOUT)
            .await
            .unwrap_err();
        assert!(error.starts_with("no answer within"), "{error}");

        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let error = probe(closed, "/", TIMEOUT).await.unwrap_err();
        assert!(error.starts_with("cannot connect to"), "{error}");
    }
}
