//! A request refused before its body was read leaves its connection usable:
//! the server reads and discards the rest of the body (up to a cap) so the
//! next request on the connection is answered, or says `Connection: close`
//! and closes.

use crate::dashboard::Session;
use crate::helpers::TestServer;
use crate::raw_http::{Connection, Framing, Request};

/// More than hyper discards by itself (only what has already arrived).
const BODY_BYTES: usize = 200 * 1024;
/// The server's body limits in these tests, below `BODY_BYTES`.
const LIMIT: usize = 100_000;

fn json_body() -> Vec<u8> {
    format!(r#"{{"name": "{}"}}"#, "x".repeat(BODY_BYTES)).into_bytes()
}

async fn spawn() -> TestServer {
    let limit = LIMIT.to_string();
    TestServer::spawn_with(&["--max-body-bytes", &limit, "--max-webhook-bytes", &limit]).await
}

/// Each kind of early refusal: what it is, its status, the request.
async fn refusals(s: &TestServer) -> Vec<(&'static str, u16, Request)> {
    let admin = format!("Bearer {}", s.admin_token);
    let viewer = format!("Bearer {}", s.user("watcher", "viewer").await);
    let session = Session::sign_in(s, &s.admin_token).await;
    let json = ("content-type", "application/json");
    let form = ("content-type", "application/x-www-form-urlencoded");
    vec![
        (
            "API, not JSON",
            415,
            Request::new(
                "POST",
                "/api/environments",
                &[("authorization", &admin), ("content-type", "text/plain")],
            ),
        ),
        (
            "API, no token",
            401,
            Request::new("POST", "/api/environments", &[json]),
        ),
        (
            "API, a viewer's token",
            403,
            Request::new(
                "POST",
                "/api/environments",
                &[("authorization", &viewer), json],
            ),
        ),
        (
            "API, a path id that is no number",
            400,
            Request::new(
                "POST",
                "/api/deployments/abc/continue",
                &[("authorization", &admin), json],
            ),
        ),
        (
            "API, over the body limit",
            413,
            Request::new(
                "POST",
                "/api/environments",
                &[("authorization", &admin), json],
            ),
        ),
        (
            "no such path",
            404,
            Request::new("POST", "/nowhere", &[json]),
        ),
        (
            "a method the path does not take",
            405,
            Request::new("PUT", "/healthz", &[json]),
        ),
        (
            "dashboard form, signed out",
            303,
            Request::new("POST", "/deployments/1/reroute", &[form]),
        ),
        (
            "dashboard form, over the body limit",
            413,
            Request::new(
                "POST",
                "/deployments/1/reroute",
                &[form, ("cookie", &session.cookie)],
            ),
        ),
        (
            "webhook, over its limit",
            413,
            Request::new("POST", "/hooks/github", &[json, ("x-github-event", "push")]),
        ),
    ]
}

#[tokio::test]
async fn after_an_early_refusal_of_a_body_the_connection_takes_the_next_request() {
    let s = spawn().await;
    let body = json_body();
    let refusals = refusals(&s).await;
    for framing in [Framing::ContentLength, Framing::Chunked] {
        for &(what, status, ref request) in &refusals {
            let mut connection = Connection::open(&s.base).await;
            connection.send(&request.with_body(&body, framing)).await;
            let refused = connection
                .response()
                .await
                .unwrap_or_else(|| panic!("{what} ({framing:?}): no answer"));
            assert_eq!(refused.status, status, "{what} ({framing:?})");
            assert!(
                !refused.closes(),
                "{what} ({framing:?}): the rest of a body this small is read"
            );
            connection
                .send(&Request::new("GET", "/healthz", &[]).bare())
                .await;
            let next = connection.response().await.unwrap_or_else(|| {
                panic!("{what} ({framing:?}): the connection was dropped after the refusal")
            });
            assert_eq!(next.status, 200, "{what} ({framing:?})");
        }
    }
}

#[tokio::test]
async fn a_body_too_large_to_read_away_is_refused_with_connection_close() {
    let s = spawn().await;
    let admin = format!("Bearer {}", s.admin_token);
    let request = Request::new(
        "POST",
        "/api/environments",
        &[
            ("authorization", &admin),
            ("content-type", "application/json"),
        ],
    );
    // 64 MiB declared, one byte over the limit sent: the server refuses,
    // and reading the rest away would take the whole upload.
    let mut connection = Connection::open(&s.base).await;
    let sent = vec![b' '; LIMIT + 1];
    connection
        .send(&request.with_declared_length(64 << 20, &sent))
        .await;
    let refused = connection.response().await.expect("an answer");
    assert_eq!(refused.status, 413);
    assert!(refused.closes(), "{:?}", refused.headers);
    assert!(connection.closed_by_server().await);
}

#[tokio::test]
async fn a_client_waiting_for_100_continue_is_refused_with_connection_close() {
    let s = spawn().await;
    let admin = format!("Bearer {}", s.admin_token);
    let request = Request::new(
        "POST",
        "/api/environments",
        &[
            ("authorization", &admin),
            ("content-type", "text/plain"),
            ("expect", "100-continue"),
        ],
    );
    // The body would follow a 100 Continue; asking for it only to throw it
    // away would waste the upload, so the server refuses and closes instead.
    let mut connection = Connection::open(&s.base).await;
    connection
        .send(&request.with_declared_length(BODY_BYTES, &[]))
        .await;
    let refused = connection.response().await.expect("an answer");
    assert_eq!(refused.status, 415, "no 100 Continue first");
    assert!(refused.closes(), "{:?}", refused.headers);
    assert!(connection.closed_by_server().await);
}
