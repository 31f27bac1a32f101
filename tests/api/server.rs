use crate::dashboard::Session;
use crate::deployments::Env;
use crate::helpers::{BIN, NO_CONTAINER_ENGINE, TestServer, standalone_local_cloud};
use crate::raw_http::{Connection, Request};
use reqwest::StatusCode;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

#[tokio::test]
async fn first_start_creates_admin_with_a_private_token_file() {
    let s = TestServer::spawn().await;
    let file = s.data_dir.join("admin-token");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        s.stdout.contains(&file.display().to_string()),
        "the path is printed: {}",
        s.stdout
    );
    assert!(
        !s.stdout.contains(&s.admin_token),
        "the token itself is never printed"
    );
    let log = std::fs::read_to_string(s.data_dir.with_extension("log")).unwrap();
    assert!(!log.contains(&s.admin_token), "nor logged");
    let dir_mode = std::fs::metadata(&s.data_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
}

#[tokio::test]
async fn a_restart_keeps_users_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = TestServer::start(&data, &[]).await;
    first.environment("demo").await;
    let token = first.admin_token.clone();
    assert!(first.terminate().await.success());

    let second = TestServer::start(&data, &[]).await;
    assert!(
        !second.stdout.contains("created user admin"),
        "{}",
        second.stdout
    );
    assert_eq!(second.admin_token, token);
    assert_eq!(
        second.get("/api/environments/demo", &token).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn after_kill_9_the_api_and_the_local_cloud_come_back_on_their_ports() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Both ports are picked from 0: the helper passes --listen 127.0.0.1:0,
    // and the embedded local cloud's default is 127.0.0.1:0.
    let mut first = TestServer::start(&data, &[]).await;
    let cloud_url = |stdout: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("local cloud at "))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("the local cloud's URL is printed: {stdout}"))
    };
    let (api, cloud) = (first.base.clone(), cloud_url(&first.stdout));
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();

    let second = TestServer::start(&data, &[]).await;
    assert_eq!(second.base, api);
    assert_eq!(cloud_url(&second.stdout), cloud);
    assert_eq!(
        second
            .get("/api/environments", &second.admin_token)
            .await
            .status,
        StatusCode::OK
    );
    let answer = reqwest::get(format!("{cloud}/_localcloud/healthz"))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let s = TestServer::spawn().await;
    // A request in flight when the signal arrives still gets its answer.
    let client = s.client().clone();
    let url = s.url("/api/environments");
    let token = s.admin_token.clone();
    let in_flight = tokio::spawn(async move {
        client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status())
    });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let status = s.terminate().await;
    assert!(status.success(), "{status}");
    assert_eq!(in_flight.await.unwrap().unwrap(), StatusCode::OK);
}

/// An event stream that has sent its first bytes, read on in the background
/// until it ends: Ok when it ended cleanly (the last chunk, not a cut).
async fn follow_stream(
    request: reqwest::RequestBuilder,
) -> tokio::task::JoinHandle<Result<(), String>> {
    let mut response = request
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let first = tokio::time::timeout(Duration::from_secs(10), response.chunk())
        .await
        .expect("the stream sends the deployment's events so far");
    assert!(matches!(first, Ok(Some(_))), "{first:?}");
    tokio::spawn(async move {
        loop {
            match response.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("{e:?}")),
            }
        }
    })
}

#[tokio::test]
async fn sigterm_ends_event_streams_and_exits_within_a_second() {
    // A deployment held in Ready for an hour: its event streams stay open.
    let e = Env::new("held", json!({"ready_wait_minutes": 60})).await;
    let id = e.deploy("held", "v1", None).await.body["id"]
        .as_i64()
        .unwrap();
    e.wait(id, &["Ready"]).await;
    let session = Session::sign_in(&e.s, &e.s.admin_token).await;
    let events = format!("/api/deployments/{id}/events");
    let mut streams = Vec::new();
    for _ in 0..3 {
        let api =
            e.s.client()
                .get(e.s.url(&events))
                .bearer_auth(&e.s.admin_token);
        streams.push(follow_stream(api).await);
        // The dashboard's script subscribes with its session cookie.
        streams.push(follow_stream(session.get(&e.s, &events)).await);
    }
    // A request in flight: its head is in, half of its body still to come.
    let body = br#"{"name": "late", "platform": "local"}"#;
    let create = Request::new(
        "POST",
        "/api/environments",
        &[
            ("authorization", &format!("Bearer {}", e.s.admin_token)),
            ("content-type", "application/json"),
        ],
    );
    let mut in_flight = Connection::open(&e.s.base).await;
    in_flight
        .send(&create.with_declared_length(body.len(), &body[..10]))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let signalled = Instant::now();
    let exited = tokio::spawn(e.s.terminate());
    tokio::time::sleep(Duration::from_millis(200)).await;
    in_flight.send(&body[10..]).await;
    let answer = in_flight
        .response()
        .await
        .expect("the request in flight is answered");
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let status = exited.await.unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_secs(1),
        "exited {took:?} after SIGTERM"
    );
    for stream in streams {
        let ended = tokio::time::timeout(Duration::from_secs(1), stream)
            .await
            .expect("the stream ended with the server")
            .unwrap();
        assert_eq!(ended, Ok(()), "the stream ends cleanly");
    }
}

/// `serve` run to its end (it is expected to refuse to start): exit code and stderr.
async fn refused_serve(args: &[&str]) -> (Option<i32>, String) {
    let output = tokio::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("DOCKER_HOST", NO_CONTAINER_ENGINE)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), output)
        .await
        .expect("serve refuses to start, in time")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[tokio::test]
async fn time_scale_with_a_standalone_local_cloud_is_checked_against_its_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (_cloud, url) = standalone_local_cloud(&dir.path().join("cloud"), "60").await;
    let expecting = |scale: &'static str| ["--localcloud-url", &url, "--time-scale", scale];

    // The scale the local cloud announces: serve starts.
    let same = TestServer::start(&dir.path().join("same"), &expecting("60")).await;
    assert!(
        same.stdout.contains(&format!("local cloud at {url}")),
        "{}",
        same.stdout
    );
    assert!(same.terminate().await.success());

    // Another: refused, naming both, before anything is written.
    let other = dir.path().join("other");
    let data_dir = other.to_str().unwrap();
    let (code, stderr) =
        refused_serve(&[&expecting("30")[..], &["--data-dir", data_dir]].concat()).await;
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("runs at time scale 60, not the 30 given with --time-scale"),
        "{stderr}"
    );
    assert!(!other.exists(), "nothing was written");

    // Nothing announced (nothing listens there): the given scale, said in the log.
    let nowhere = TestServer::start(
        &dir.path().join("nowhere"),
        &[
            "--localcloud-url",
            "http://127.0.0.1:1",
            "--time-scale",
            "60",
        ],
    )
    .await;
    let log = std::fs::read_to_string(nowhere.data_dir.with_extension("log")).unwrap();
    assert!(log.contains("announces no time scale"), "{log}");
    assert!(nowhere.terminate().await.success());

    // Not a scale at all: a usage error.
    let (code, stderr) = refused_serve(&["--time-scale", "0"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not a positive number"), "{stderr}");
}

#[tokio::test]
async fn user_add_prints_a_working_token_while_the_server_runs() {
    let s = TestServer::spawn().await;
    let output = tokio::process::Command::new(BIN)
        .args(["user", "add", "ci-bot", "--role", "deployer", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(
        token.starts_with("sy_"),
        "only the token is on stdout: {token:?}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("ci-bot"));
    let me = s.get("/api/me", &token).await;
    assert_eq!(me.body["role"], "deployer");

    let duplicate = tokio::process::Command::new(BIN)
        .args(["user", "add", "ci-bot", "--role", "viewer", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .await
        .unwrap();
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));

    let bad_role = tokio::process::Command::new(BIN)
        .args(["user", "add", "x", "--role", "root", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .await
        .unwrap();
    assert_eq!(bad_role.status.code(), Some(2));
}
