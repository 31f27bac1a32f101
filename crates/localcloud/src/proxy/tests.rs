//! The listener against real upstream servers on loopback.

use super::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use switchyard_loadgen::LoadSpec;

/// A task process stand-in that answers every request with its name, and
/// counts them.
struct Upstream {
    address: SocketAddr,
    served: Arc<AtomicU64>,
}

impl Upstream {
    async fn named(name: &'static str) -> Upstream {
        Upstream::slow(name, Duration::ZERO).await
    }

    async fn slow(name: &'static str, delay: Duration) -> Upstream {
        let served = Arc::new(AtomicU64::new(0));
        let counter = served.clone();
        let app = axum::Router::new().fallback(move || {
            let counter = counter.clone();
            async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                counter.fetch_add(1, Ordering::Relaxed);
                name
            }
        });
        Upstream {
            address: serve(app).await,
            served,
        }
    }

    fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

/// An upstream that streams each request body back as it arrives.
async fn echo_upstream() -> SocketAddr {
    serve(
        axum::Router::new().fallback(|request: axum::extract::Request| async move {
            axum::body::Body::from_stream(request.into_body().into_data_stream())
        }),
    )
    .await
}

/// An upstream that answers with the request headers it received, one
/// `name: value` line each, sorted.
async fn header_echo_upstream() -> SocketAddr {
    serve(
        axum::Router::new().fallback(|headers: hyper::HeaderMap| async move {
            let mut lines: Vec<String> = headers
                .iter()
                .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
                .collect();
            lines.sort();
            lines.join("\n")
        }),
    )
    .await
}

/// An upstream that answers with the request target and `Host` it
/// received, one per line.
async fn target_echo_upstream() -> SocketAddr {
    serve(
        axum::Router::new().fallback(|uri: hyper::Uri, headers: hyper::HeaderMap| async move {
            let host = headers
                .get(hyper::header::HOST)
                .map(|h| h.to_str().unwrap_or("?").to_owned());
            format!("{uri}\n{}", host.as_deref().unwrap_or("(no host)"))
        }),
    )
    .await
}

async fn serve(app: axum::Router) -> SocketAddr {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = tcp.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(tcp, app).await });
    address
}

/// An address on loopback where nothing listens: connecting is refused.
async fn refusing_address() -> SocketAddr {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    tcp.local_addr().unwrap()
}

/// An upstream that answers "ok" and counts the connections made to it;
/// with `keep_alive` false it closes each after one answer.
async fn counting_upstream(keep_alive: bool) -> (SocketAddr, Arc<AtomicU64>) {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = tcp.local_addr().unwrap();
    let connections = Arc::new(AtomicU64::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = tcp.accept().await.unwrap();
            counter.fetch_add(1, Ordering::Relaxed);
            let answer = hyper::service::service_fn(|_| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .keep_alive(keep_alive)
                    .serve_connection(TokioIo::new(stream), answer),
            );
        }
    });
    (address, connections)
}

/// A listener forwarding everything to one target.
async fn listener_for(target: SocketAddr) -> Arc<Listener> {
    let listener = Listener::bind(loopback()).await.unwrap();
    let group = TargetGroup::new("blue", "arn:blue");
    group.set_targets(vec![target]);
    listener.set_forward(vec![(group, 1)]);
    listener
}

/// A listener forwarding to a blue and a green group, one upstream each.
struct Stack {
    listener: Arc<Listener>,
    blue: Arc<TargetGroup>,
    green: Arc<TargetGroup>,
    blue_upstream: Upstream,
    green_upstream: Upstream,
}

impl Stack {
    async fn new(blue_weight: u32, green_weight: u32) -> Stack {
        Stack::with_blue(Upstream::named("blue").await, blue_weight, green_weight).await
    }

    async fn with_blue(blue_upstream: Upstream, blue_weight: u32, green_weight: u32) -> Stack {
        let green_upstream = Upstream::named("green").await;
        let blue = TargetGroup::new("blue", "arn:aws:elasticloadbalancing:local:blue");
        let green = TargetGroup::new("green", "arn:aws:elasticloadbalancing:local:green");
        blue.set_targets(vec![blue_upstream.address]);
        green.set_targets(vec![green_upstream.address]);
        let listener = Listener::bind(loopback()).await.unwrap();
        let stack = Stack {
            listener,
            blue,
            green,
            blue_upstream,
            green_upstream,
        };
        stack.weigh(blue_weight, green_weight);
        stack
    }

    fn weigh(&self, blue: u32, green: u32) {
        self.listener
            .set_forward(vec![(self.blue.clone(), blue), (self.green.clone(), green)]);
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// One client keep-alive connection.
struct Connection<B = Full<Bytes>> {
    sender: SendRequest<B>,
}

impl<B> Connection<B>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    async fn open(address: SocketAddr) -> Connection<B> {
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        Connection { sender }
    }

    async fn send(&mut self, request: Request<B>) -> hyper::Response<hyper::body::Incoming> {
        self.sender.ready().await.unwrap();
        self.sender.send_request(request).await.unwrap()
    }
}

impl Connection {
    async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let request = Request::get(path)
            .header(hyper::header::HOST, "app.example.com")
            .body(Full::default())
            .unwrap();
        text(self.send(request).await).await
    }

    async fn post(&mut self, path: &str, body: &'static str) -> (StatusCode, String) {
        let request = Request::post(path)
            .header(hyper::header::HOST, "app.example.com")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        text(self.send(request).await).await
    }
}

async fn text(response: hyper::Response<hyper::body::Incoming>) -> (StatusCode, String) {
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// GETs `/` on a fresh connection.
async fn get_once(address: SocketAddr) -> (StatusCode, String) {
    Connection::open(address).await.get("/").await
}

/// Sends `count` GETs in turn, spread over `connections` keep-alive
/// connections; returns how many green answered.
async fn count_green(address: SocketAddr, connections: usize, count: usize) -> usize {
    let mut open = Vec::new();
    for _ in 0..connections {
        open.push(Connection::open(address).await);
    }
    let mut green = 0;
    for i in 0..count {
        let (status, body) = open[i % connections].get("/").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        green += usize::from(body == "green");
    }
    green
}

#[tokio::test]
async fn split_follows_the_weights_over_keep_alive_connections() {
    let stack = Stack::new(90, 10).await;
    let address = stack.listener.local_addr();
    let green = count_green(address, 4, 10_000).await;
    let share = green as f64 / 10_000.0;
    assert!((share - 0.10).abs() <= 0.01, "green share {share}");
    assert_eq!(stack.green_upstream.served(), green as u64);

    stack.weigh(0, 100);
    assert_eq!(count_green(address, 4, 1_000).await, 1_000);
    stack.weigh(100, 0);
    assert_eq!(count_green(address, 4, 1_000).await, 0);
    assert_eq!(stack.green_upstream.served(), green as u64 + 1_000);
    assert_eq!(
        stack.listener.forward(),
        [("blue".to_owned(), 100), ("green".to_owned(), 0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weight_changes_under_concurrent_load_fail_no_request() {
    let stack = Stack::new(100, 0).await;
    let spec = LoadSpec {
        address: stack.listener.local_addr(),
        method: hyper::Method::GET,
        paths: vec!["/".to_owned()],
        headers: Vec::new(),
        body: Bytes::new(),
        connections: 16,
        duration: Duration::from_secs(2),
        vary: None,
    };
    let load = tokio::spawn(async move { switchyard_loadgen::run(&spec).await });
    for step in 1..=10 {
        tokio::time::sleep(Duration::from_millis(170)).await;
        stack.weigh(100 - step * 10, step * 10);
    }
    let result = load.await.unwrap().unwrap();
    assert_eq!(result.errors, 0);
    // Enough requests that every step had some in flight; how many a busy
    // machine manages is the proxy bench's business, not this test's.
    assert!(result.ok > 100, "only {} requests in 2 s", result.ok);
    assert!(stack.blue_upstream.served() > 0);
    assert!(stack.green_upstream.served() > 0);
    assert_eq!(
        stack.listener.forward(),
        [("blue".to_owned(), 0), ("green".to_owned(), 100)]
    );
}

#[tokio::test]
async fn one_keep_alive_connection_is_spread_over_both_groups() {
    let stack = Stack::new(50, 50).await;
    let mut connection = Connection::open(stack.listener.local_addr()).await;
    let mut green = 0;
    for _ in 0..200 {
        let (status, body) = connection.get("/").await;
        assert_eq!(status, StatusCode::OK);
        green += usize::from(body == "green");
    }
    assert_eq!(green, 100);
    assert!(!connection.sender.is_closed());
}

#[tokio::test]
async fn answers_503_without_a_forward_or_without_healthy_targets() {
    let listener = Listener::bind(loopback()).await.unwrap();
    let (status, body) = get_once(listener.local_addr()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("no forward action"), "{body}");

    let empty = TargetGroup::new("green", "arn:green");
    listener.set_forward(vec![(empty.clone(), 1)]);
    let (status, body) = get_once(listener.local_addr()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("green has no healthy targets"), "{body}");

    let blue = TargetGroup::new("blue", "arn:blue");
    blue.set_targets(vec![Upstream::named("blue").await.address]);
    listener.set_forward(vec![(blue, 0), (empty, 0)]);
    let (status, body) = get_once(listener.local_addr()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("weight 0"), "{body}");
}

#[tokio::test]
async fn answers_502_when_the_only_target_refuses() {
    let listener = Listener::bind(loopback()).await.unwrap();
    let group = TargetGroup::new("blue", "arn:blue");
    group.set_targets(vec![refusing_address().await]);
    listener.set_forward(vec![(group, 1)]);
    let mut connection = Connection::open(listener.local_addr()).await;
    for _ in 0..3 {
        let (status, body) = connection.get("/").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    }
}

#[tokio::test]
async fn a_refused_request_goes_to_the_next_target_body_and_all() {
    let listener = Listener::bind(loopback()).await.unwrap();
    let group = TargetGroup::new("blue", "arn:blue");
    group.set_targets(vec![refusing_address().await, echo_upstream().await]);
    listener.set_forward(vec![(group, 1)]);
    let mut connection = Connection::open(listener.local_addr()).await;
    // The targets take turns, so half of these go to the refusing one first.
    for i in 0..6 {
        let (status, body) = connection.post("/", "the same body").await;
        assert_eq!(status, StatusCode::OK, "request {i}: {body}");
        assert_eq!(body, "the same body");
    }
}

#[tokio::test]
async fn an_in_flight_request_keeps_its_target_when_the_weights_change() {
    let slow_blue = Upstream::slow("blue", Duration::from_millis(600)).await;
    let stack = Stack::with_blue(slow_blue, 100, 0).await;
    let address = stack.listener.local_addr();
    let in_flight = tokio::spawn(get_once(address));
    tokio::time::sleep(Duration::from_millis(150)).await;
    stack.weigh(0, 100);
    assert_eq!(
        get_once(address).await,
        (StatusCode::OK, "green".to_owned())
    );
    assert_eq!(
        in_flight.await.unwrap(),
        (StatusCode::OK, "blue".to_owned())
    );
}

#[tokio::test]
async fn answers_504_when_the_target_is_too_slow() {
    let stack = Stack::with_blue(Upstream::slow("blue", Duration::from_secs(3)).await, 1, 0).await;
    stack
        .listener
        .set_upstream_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let (status, body) = get_once(stack.listener.local_addr()).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn forwarding_headers_are_set_host_kept_and_hop_by_hop_stripped() {
    let listener = Listener::bind(loopback()).await.unwrap();
    let group = TargetGroup::new("blue", "arn:blue");
    group.set_targets(vec![header_echo_upstream().await]);
    listener.set_forward(vec![(group, 1)]);
    let mut connection = Connection::open(listener.local_addr()).await;
    let request = Request::get("/headers?x=1")
        .header("host", "app.example.com")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .header("connection", "x-session")
        .header("x-session", "secret")
        .header("keep-alive", "timeout=5")
        .header("x-request-id", "r-1")
        .body(Full::default())
        .unwrap();
    let (status, body) = text(connection.send(request).await).await;
    assert_eq!(status, StatusCode::OK);
    let port = listener.local_addr().port();
    assert_eq!(
        body,
        format!(
            "host: app.example.com\n\
             x-forwarded-for: 203.0.113.9, 127.0.0.1\n\
             x-forwarded-port: {port}\n\
             x-forwarded-proto: http\n\
             x-request-id: r-1"
        )
    );
}

/// A request body fed chunk by chunk from the test.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| Ok(Frame::data(chunk))))
    }
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    let listener = Listener::bind(loopback()).await.unwrap();
    let group = TargetGroup::new("blue", "arn:blue");
    group.set_targets(vec![echo_upstream().await]);
    listener.set_forward(vec![(group, 1)]);
    let (chunks, receiver) = tokio::sync::mpsc::channel(1);
    let mut connection = Connection::open(listener.local_addr()).await;
    let request = Request::post("/echo")
        .header("host", "app.example.com")
        .body(ChannelBody(receiver))
        .unwrap();
    chunks.send(Bytes::from_static(b"first")).await.unwrap();
    let response = connection.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    // Each chunk comes back before the next is sent: nothing waits for the
    // whole body on either leg.
    for chunk in ["first", "second", "third"] {
        if chunk != "first" {
            chunks.send(Bytes::from(chunk)).await.unwrap();
        }
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("the chunk came back while the request was still open")
            .unwrap()
            .unwrap();
        assert_eq!(frame.into_data().unwrap(), chunk);
    }
    drop(chunks);
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_in_flight_requests_finish() {
    let slow_blue = Upstream::slow("blue", Duration::from_millis(500)).await;
    let stack = Stack::with_blue(slow_blue, 1, 0).await;
    let address = stack.listener.local_addr();
    let in_flight = tokio::spawn(get_once(address));
    tokio::time::sleep(Duration::from_millis(150)).await;
    stack.listener.shutdown();
    let refused = async {
        while tokio::net::TcpStream::connect(address).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), refused)
        .await
        .expect("the listener stopped accepting");
    assert_eq!(
        in_flight.await.unwrap(),
        (StatusCode::OK, "blue".to_owned())
    );
}

#[tokio::test]
async fn an_upstream_connection_is_reused_until_it_has_idled_too_long() {
    let (upstream, connections) = counting_upstream(true).await;
    let listener = listener_for(upstream).await;
    let mut connection = Connection::open(listener.local_addr()).await;
    for _ in 0..3 {
        assert_eq!(connection.get("/").await, (StatusCode::OK, "ok".to_owned()));
    }
    assert_eq!(connections.load(Ordering::Relaxed), 1);
    // Past the limit, the target may be closing it (Node closes after
    // 5 s): a new connection carries the next request.
    tokio::time::sleep(upstream::IDLE_LIMIT + Duration::from_millis(200)).await;
    assert_eq!(connection.get("/").await, (StatusCode::OK, "ok".to_owned()));
    assert_eq!(connections.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn an_upstream_connection_the_target_closed_is_replaced_without_failing() {
    let (upstream, connections) = counting_upstream(false).await;
    let listener = listener_for(upstream).await;
    let mut connection = Connection::open(listener.local_addr()).await;
    for i in 0..5 {
        let (status, body) = connection.get("/").await;
        assert_eq!(status, StatusCode::OK, "request {i}: {body}");
    }
    assert_eq!(connections.load(Ordering::Relaxed), 5);
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections() {
    let stack = Stack::new(1, 0).await;
    let mut connection = Connection::open(stack.listener.local_addr()).await;
    assert_eq!(
        connection.get("/").await,
        (StatusCode::OK, "blue".to_owned())
    );
    stack.listener.shutdown();
    let closed = async {
        while !connection.sender.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), closed)
        .await
        .expect("the listener closed the idle connection");
}

#[tokio::test]
async fn an_absolute_form_request_without_host_goes_upstream_in_origin_form_naming_the_target() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = target_echo_upstream().await;
    let listener = listener_for(upstream).await;
    let mut stream = tokio::net::TcpStream::connect(listener.local_addr())
        .await
        .unwrap();
    // HTTP/1.0, so the listener closes the connection after answering.
    stream
        .write_all(b"GET http://app.example.com/path?x=1 HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.") && answer.contains(" 200 "),
        "{answer}"
    );
    assert!(
        answer.ends_with(&format!("\r\n\r\n/path?x=1\n{upstream}")),
        "{answer}"
    );
}

/// An upstream that answers every request with `status`.
async fn status_upstream(status: StatusCode) -> SocketAddr {
    serve(axum::Router::new().fallback(move || async move { (status, "answer") })).await
}

/// Every period's figures added up (a test may straddle a boundary).
fn totals(metrics: &TrafficMetrics) -> PeriodFigures {
    let mut total = PeriodFigures::default();
    for period in metrics.periods(i64::MIN, i64::MAX) {
        total.merge(&period);
    }
    total
}

#[tokio::test]
async fn target_answers_are_counted_by_class_with_their_response_times() {
    let ok = TargetGroup::new("ok", "arn:ok");
    let failing = TargetGroup::new("failing", "arn:failing");
    ok.set_targets(vec![status_upstream(StatusCode::OK).await]);
    failing.set_targets(vec![
        status_upstream(StatusCode::INTERNAL_SERVER_ERROR).await,
    ]);
    let listener =
        Listener::bind_forwarding(loopback(), vec![(ok.clone(), 1), (failing.clone(), 1)])
            .await
            .unwrap();
    let mut connection = Connection::open(listener.local_addr()).await;
    let started = Instant::now();
    for _ in 0..20 {
        connection.get("/").await;
    }
    let elapsed = started.elapsed().as_secs_f64();

    let ok = totals(ok.metrics());
    assert_eq!(
        (ok.requests, ok.target_2xx, ok.target_5xx, ok.elb_5xx),
        (10, 10, 0, 0)
    );
    let times = &ok.response_time;
    assert_eq!(times.count, 10);
    assert!(times.min > 0.0 && times.max < elapsed, "{times:?}");
    let p50 = times.percentile(50.0).unwrap();
    assert!(times.min <= p50 && p50 <= times.max, "{times:?}");
    let failing = totals(failing.metrics());
    assert_eq!(
        (failing.requests, failing.target_5xx, failing.elb_5xx),
        (10, 10, 0)
    );
    assert_eq!(failing.response_time.count, 10);
    assert_eq!(
        totals(listener.unrouted_metrics()),
        PeriodFigures::default()
    );
}

#[tokio::test]
async fn the_listeners_own_answers_count_as_elb_errors() {
    let listener = Listener::bind(loopback()).await.unwrap();
    // No forward yet: the listener's, not a group's.
    assert_eq!(
        get_once(listener.local_addr()).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let unrouted = totals(listener.unrouted_metrics());
    assert_eq!((unrouted.requests, unrouted.elb_5xx), (1, 1));

    let empty = TargetGroup::new("empty", "arn:empty");
    let refusing = TargetGroup::new("refusing", "arn:refusing");
    refusing.set_targets(vec![refusing_address().await]);
    listener.set_forward(vec![(empty.clone(), 1), (refusing.clone(), 1)]);
    let mut connection = Connection::open(listener.local_addr()).await;
    let mut answered = Vec::new();
    for _ in 0..4 {
        answered.push(connection.get("/").await.0);
    }
    answered.sort();
    assert_eq!(
        answered,
        [
            StatusCode::BAD_GATEWAY,
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE
        ]
    );
    for group in [&empty, &refusing] {
        let figures = totals(group.metrics());
        assert_eq!(
            (
                figures.requests,
                figures.elb_5xx,
                figures.response_time.count
            ),
            (2, 2, 0),
            "{}",
            group.name()
        );
    }
    assert_eq!(totals(listener.unrouted_metrics()).requests, 1);
}

#[tokio::test]
async fn nothing_is_counted_while_recording_is_off() {
    let stack = Stack::new(1, 1).await;
    stack.listener.set_recording(false);
    count_green(stack.listener.local_addr(), 2, 10).await;
    assert_eq!(totals(stack.blue.metrics()), PeriodFigures::default());
    stack.listener.set_recording(true);
    count_green(stack.listener.local_addr(), 2, 10).await;
    assert_eq!(totals(stack.blue.metrics()).requests, 5);
    assert_eq!(totals(stack.green.metrics()).target_2xx, 5);
}
