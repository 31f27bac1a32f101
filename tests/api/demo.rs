//! `switchyard demo` on the test engine: it says it runs containers, builds
//! the sample app's image blue then green into the local ECR, and production
//! ends on green, answered by the green containers. With `--bad-release`,
//! a green that fails 30 % of its requests is stopped by the environment's
//! 5xx alarm and production returns to blue; without an engine that is
//! refused before anything starts. Every demo here listens on port 0 and
//! logs to its data dir, as a user may ask.

use crate::support;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The last word of the first line that starts with `prefix`.
fn after<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find_map(|line| line.trim_start().strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no line starts with {prefix:?}:\n{}", lines.join("\n")))
}

async fn page(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// A demo still serving. Dropped without `stop` (a failed assertion), it
/// is killed and the containers its local cloud started are removed, so
/// none is left running on the shared test engine.
struct Demo {
    child: Option<tokio::process::Child>,
    docker_host: Option<String>,
    dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let Some(child) = &mut self.child else {
            return;
        };
        crate::test_engine::kill_and_reap(child);
        if let Some(host) = &self.docker_host {
            // The embedded local cloud keeps its instance id in its own data dir.
            let data_dir = self.dir.path().join("data").join("localcloud");
            crate::test_engine::remove_containers_of(host, &data_dir);
        }
    }
}

/// `switchyard demo ARGS` on a fresh data dir, on a port the system picks
/// (`--listen 127.0.0.1:0`), at the default log level, followed until it
/// says it is serving; the demo (still serving) and every line it printed,
/// on stdout and stderr.
async fn run_demo(args: &[&str]) -> (Demo, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(support::BIN)
        .args(["demo", "--listen", "127.0.0.1:0"])
        .args(args)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let (said_tx, mut said_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            let _ = said_tx.send(line);
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let docker_host = args
        .iter()
        .position(|a| *a == "--docker-host")
        .and_then(|at| args.get(at + 1))
        .map(|host| (*host).to_owned());
    let demo = Demo {
        child: Some(child),
        docker_host,
        dir,
    };
    let mut lines = Vec::new();
    let finished = tokio::time::timeout(Duration::from_secs(240), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            let done = line.starts_with("Ctrl-C stops it.");
            lines.push(line);
            if done {
                return;
            }
        }
        panic!("the demo exited before it finished");
    })
    .await;
    while let Ok(line) = said_rx.try_recv() {
        lines.push(line);
    }
    assert!(
        finished.is_ok(),
        "the demo did not finish:\n{}",
        lines.join("\n")
    );
    (demo, lines)
}

/// SIGTERM: the demo's server stops its tasks on the way out.
async fn stop(mut demo: Demo) {
    let child = demo.child.as_mut().unwrap();
    let pid = child.id().unwrap() as i32;
    // SAFETY: signalling the child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the demo stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    // Stopped on its own: nothing left to clean up.
    demo.child = None;
}

/// The runner line comes before the first deployment and starts with `runner`.
fn assert_runner_line(lines: &[String], runner: &str) {
    let said = lines.join("\n");
    let named = lines
        .iter()
        .position(|l| l.starts_with(runner))
        .unwrap_or_else(|| panic!("no line starts with {runner:?}:\n{said}"));
    let first_deploy = lines
        .iter()
        .position(|l| l.starts_with("==> deploying blue"))
        .unwrap();
    assert!(
        named < first_deploy,
        "the runner is named before deploying:\n{said}"
    );
    assert!(said.contains("observed on production:"), "{said}");
}

#[tokio::test]
async fn the_demo_builds_the_sample_image_and_shifts_production_to_green_containers() {
    let docker_host = support::docker_host();
    let (demo, lines) = run_demo(&["--docker-host", &docker_host]).await;
    assert_runner_line(&lines, "runner: tasks run as containers on ");
    let said = lines.join("\n");
    // It serves on the port it got, and its log lines went to a file
    // instead of between its progress lines.
    let dashboard = after(&lines, "switchyard listening on ");
    assert!(!dashboard.ends_with(":0"), "{said}");
    let readyz = reqwest::get(format!("{dashboard}/readyz")).await.unwrap();
    assert!(readyz.status().is_success(), "{said}");
    assert!(
        !said.contains(" INFO "),
        "log lines among the progress:\n{said}"
    );
    let log_path = demo.dir.path().join("data").join("demo.log");
    assert!(
        said.contains(&format!("logs: {}", log_path.display())),
        "{said}"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("switchyard serving"), "{log}");

    let prod = after(&lines, "production URL ");
    assert!(
        page(prod).await.contains("<h1>green</h1>"),
        "production is green"
    );
    let green_image = lines
        .iter()
        .find_map(|l| l.strip_prefix("==> building "))
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|image| image.contains(":blue-"))
        .map(|blue| blue.replace(":blue-", ":green-"))
        .unwrap_or_else(|| panic!("no build line:\n{said}"));
    assert!(
        said.contains(&format!("==> building {green_image} ")),
        "{said}"
    );

    // The green task set's two containers run and serve the green page.
    // (`ancestor=` also matches other containers of an identical image, so
    // the image each was created from is compared too.)
    let config = tempfile::tempdir().unwrap();
    let listed = support::docker(
        &docker_host,
        config.path(),
        &[
            "ps",
            "--filter",
            &format!("ancestor={green_image}"),
            "--format",
            "{{.Image}} {{.Ports}}",
        ],
    );
    let published: Vec<&str> = listed
        .lines()
        .filter_map(|line| line.strip_prefix(&format!("{green_image} ")))
        .filter_map(|ports| ports.split_once("->").map(|(host, _)| host))
        .collect();
    assert_eq!(published.len(), 2, "two green containers: {listed}");
    for address in published {
        let answer = page(&format!("http://{address}/")).await;
        assert!(answer.contains("<h1>green</h1>"), "{address}: {answer}");
    }

    stop(demo).await;
}

#[tokio::test]
async fn without_an_engine_or_with_static_the_demo_deploys_static_sites() {
    let nowhere = tempfile::tempdir().unwrap();
    let missing = format!("unix://{}", nowhere.path().join("docker.sock").display());
    let (demo, lines) = run_demo(&["--docker-host", &missing]).await;
    assert_runner_line(
        &lines,
        &format!("runner: no container engine at {missing} "),
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("runner: no container engine")
                && l.ends_with("; deploying the sample pages as static sites")),
        "the runner line says the demo falls back to static sites:\n{}",
        lines.join("\n")
    );
    assert!(
        page(after(&lines, "production URL "))
            .await
            .contains("<h1>green</h1>")
    );
    stop(demo).await;

    let docker_host = support::docker_host();
    let (demo, lines) = run_demo(&["--docker-host", &docker_host, "--static"]).await;
    assert_runner_line(&lines, "runner: static sites (--static)");
    assert!(
        !lines.iter().any(|l| l.starts_with("==> building ")),
        "--static builds no image: {}",
        lines.join("\n")
    );
    assert!(
        page(after(&lines, "production URL "))
            .await
            .contains("<h1>green</h1>")
    );
    stop(demo).await;
}

#[tokio::test]
async fn with_the_ecs_controller_the_demo_approves_its_gate_as_a_second_user() {
    let docker_host = support::docker_host();
    let (demo, lines) = run_demo(&[
        "--docker-host",
        &docker_host,
        "--static",
        "--controller",
        "ecs",
    ])
    .await;
    let text = lines.join("\n");
    assert!(
        text.contains("==> environment demo-ecs (ecs controller)"),
        "{text}"
    );
    assert!(
        lines.iter().any(
            |l| l.contains("paused at PRE_PRODUCTION_TRAFFIC_SHIFT; approver-")
                && l.contains("approves")
        ),
        "the second user approves the gate:\n{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("PRODUCTION_TRAFFIC_SHIFT")
            && l.contains("observed on production")),
        "planned and observed weights during the shift:\n{text}"
    );
    assert!(
        page(after(&lines, "production URL "))
            .await
            .contains("<h1>green</h1>")
    );
    stop(demo).await;
}

#[tokio::test]
async fn a_bad_release_is_stopped_by_its_alarm_and_production_returns_to_blue() {
    let docker_host = support::docker_host();
    let (demo, lines) = run_demo(&["--docker-host", &docker_host, "--bad-release"]).await;
    let said = lines.join("\n");
    assert!(
        lines.iter().any(|l| l.starts_with("==> building ")
            && l.contains(":green-bad-")
            && l.contains("(FAIL_PERCENT=30 baked in)")),
        "the bad green is the sample with FAIL_PERCENT=30:\n{said}"
    );
    assert!(said.contains("under steady production traffic"), "{said}");
    // The shift as it happens: planned and observed green, and 5xx seen.
    let shift: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("% green   observed "))
        .collect();
    assert!(
        shift.iter().any(|l| !l.contains(" 0% 5xx")),
        "5xx answers were seen during the shift:\n{said}"
    );
    // The alarm's changes, then the end: rolled back by it, production blue.
    let alarmed = lines
        .iter()
        .position(|l| l.contains("alarm demo-target-5xx: ALARM"))
        .unwrap_or_else(|| panic!("the alarm's ALARM state is shown:\n{said}"));
    let ended = lines
        .iter()
        .position(|l| {
            l.starts_with("rolled back by alarm demo-target-5xx after ")
                && l.ends_with(" s; production is on blue")
        })
        .unwrap_or_else(|| panic!("no rollback line:\n{said}"));
    assert!(alarmed < ended, "{said}");
    let prod = after(&lines, "production URL ");
    for _ in 0..20 {
        assert!(
            page(prod).await.contains("<h1>blue</h1>"),
            "production is blue"
        );
    }
    stop(demo).await;
}

#[tokio::test]
async fn without_an_engine_a_bad_release_is_refused_up_front() {
    let nowhere = tempfile::tempdir().unwrap();
    let missing = format!("unix://{}", nowhere.path().join("docker.sock").display());
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(support::BIN)
            .args(["demo", "--listen", &listen, "--docker-host", &missing])
            .arg("--bad-release")
            .arg("--data-dir")
            .arg(nowhere.path().join("data"))
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("refused at once")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("switchyard demo --bad-release needs a container engine")
            && stderr.contains("the static: sample cannot fail")
            && stderr.contains(&format!("no container engine at {missing}")),
        "{stderr}"
    );
    assert!(
        !stdout.contains("==> environment"),
        "nothing was started: {stdout}"
    );
}
