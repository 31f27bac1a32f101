//! The runner with real processes on loopback: python3's http.server as a
//! well-behaved task, `sleep` as one that never answers.

use super::*;
use std::path::Path;

/// Fast checks so that the tests take seconds, not minutes.
fn fast_checks() -> HealthCheckSettings {
    HealthCheckSettings {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(500),
        healthy_threshold: 1,
        unhealthy_threshold: 3,
        startup_grace: Duration::from_secs(10),
    }
}

/// python3's http.server serving `site`, on the PORT and HOST it is given;
/// it first writes $GREETING to greeting.txt to show the env and working
/// directory were applied.
fn python_site(site: &Path) -> TaskProgram {
    TaskProgram::Command {
        argv: vec![
            "sh".to_string(),
            "-c".to_string(),
            r#"printf %s "$GREETING" > greeting.txt && exec python3 -m http.server --bind "$HOST" "$PORT""#
                .to_string(),
        ],
        env: vec![("GREETING".to_string(), "hello from the env".to_string())],
        working_dir: Some(site.to_path_buf()),
    }
}

fn spec(program: TaskProgram, desired_count: usize, log_dir: &Path) -> TaskSetSpec {
    TaskSetSpec {
        program,
        health_check_path: "/".to_string(),
        desired_count,
        log_dir: log_dir.to_path_buf(),
        engine: None,
        registry_credential: None,
        host_life: HostTaskLife::TiedToParent,
        adopt: Vec::new(),
        recorder: None,
    }
}

fn site_dir(root: &Path) -> PathBuf {
    let site = root.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<h1>blue</h1>").unwrap();
    site
}

/// Every list `on_healthy` was called with, in order.
#[derive(Clone, Default)]
struct Published(Arc<Mutex<Vec<Vec<SocketAddr>>>>);

impl Published {
    fn callback(&self) -> Arc<dyn Fn(Vec<SocketAddr>) + Send + Sync> {
        let calls = self.0.clone();
        Arc::new(move |healthy| calls.lock().unwrap().push(healthy))
    }

    fn calls(&self) -> Vec<Vec<SocketAddr>> {
        self.0.lock().unwrap().clone()
    }

    fn last(&self) -> Option<Vec<SocketAddr>> {
        self.calls().last().cloned()
    }

    fn assert_no_repeats(&self) {
        let calls = self.calls();
        for pair in calls.windows(2) {
            assert_ne!(pair[0], pair[1], "on_healthy repeated a list: {calls:?}");
        }
    }
}

/// Polls `check` until it returns Some, failing the test after `limit`.
async fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn live(runner: &TaskSetRunner) -> Vec<TaskInfo> {
    runner
        .tasks()
        .into_iter()
        .filter(|task| task.last_status != "STOPPED")
        .collect()
}

fn sorted(mut addresses: Vec<SocketAddr>) -> Vec<SocketAddr> {
    addresses.sort();
    addresses
}

fn sigkill(pid: u32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let result = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    assert_eq!(result, 0, "cannot kill {pid}");
}

#[tokio::test]
async fn brings_up_the_desired_healthy_tasks_on_distinct_ports() {
    let root = tempfile::tempdir().unwrap();
    let site = site_dir(root.path());
    let logs = root.path().join("logs");
    let published = Published::default();
    let runner = TaskSetRunner::start_with_settings(
        "blue",
        spec(python_site(&site), 2, &logs),
        fast_checks(),
        published.callback(),
    );
    assert_eq!(runner.desired_count(), 2);

    let healthy = eventually("two healthy tasks", Duration::from_secs(10), || {
        Some(runner.healthy()).filter(|healthy| healthy.len() == 2)
    })
    .await;
    assert_ne!(healthy[0].port(), healthy[1].port());
    assert!(healthy.iter().all(|address| address.ip().is_loopback()));
    eventually(
        "on_healthy with both tasks",
        Duration::from_millis(500),
        || {
            published
                .last()
                .filter(|last| sorted(last.clone()) == sorted(healthy.clone()))
        },
    )
    .await;
    assert_eq!(runner.counts(), (0, 2));

    let tasks = runner.tasks();
    assert_eq!(tasks.len(), 2);
    for task in &tasks {
        assert_eq!(task.task_id.len(), 32);
        assert!(
            task.task_id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(
            (task.last_status, &task.health),
            ("RUNNING", &TaskHealth::Healthy)
        );
        assert!(task.pid.is_some() && task.started_at.is_some());
        assert!(healthy.contains(&SocketAddr::from((Ipv4Addr::LOCALHOST, task.port))));
    }
    assert_ne!(tasks[0].task_id, tasks[1].task_id);

    for address in &healthy {
        let (status, body) = switchyard_loadgen::http_get(*address, "/", &[])
            .await
            .unwrap();
        assert_eq!((status, &body[..]), (200, &b"<h1>blue</h1>"[..]));
        let (status, body) = switchyard_loadgen::http_get(*address, "/greeting.txt", &[])
            .await
            .unwrap();
        assert_eq!((status, &body[..]), (200, &b"hello from the env"[..]));
    }
    for task in &tasks {
        let log = logs.join(format!("{}.log", task.task_id));
        assert!(log.is_file(), "no log file {}", log.display());
    }

    runner.stop().await;
    assert_eq!(published.last(), Some(Vec::new()));
    published.assert_no_repeats();
}

#[tokio::test]
async fn a_killed_task_is_replaced_by_a_new_one() {
    let root = tempfile::tempdir().unwrap();
    let site = site_dir(root.path());
    let published = Published::default();
    let runner = TaskSetRunner::start_with_settings(
        "blue",
        spec(python_site(&site), 2, &root.path().join("logs")),
        fast_checks(),
        published.callback(),
    );
    eventually("two healthy tasks", Duration::from_secs(10), || {
        Some(()).filter(|()| runner.healthy().len() == 2)
    })
    .await;
    let before = runner.tasks();
    let (victim, survivor) = (&before[0], &before[1]);
    sigkill(victim.pid.unwrap());

    let after = eventually("a healthy replacement", Duration::from_secs(10), || {
        let tasks = runner.tasks();
        let victim_stopped = tasks
            .iter()
            .any(|task| task.task_id == victim.task_id && task.last_status == "STOPPED");
        Some(tasks).filter(|_| victim_stopped && runner.healthy().len() == 2)
    })
    .await;
    let stopped = after
        .iter()
        .find(|task| task.task_id == victim.task_id)
        .unwrap();
    assert_eq!(
        stopped.stopped_reason.as_deref(),
        Some("Essential container in task exited (killed by signal 9)")
    );
    let running: Vec<_> = after
        .iter()
        .filter(|task| task.last_status == "RUNNING")
        .collect();
    assert_eq!(running.len(), 2);
    assert!(
        running.iter().any(|task| task.task_id == survivor.task_id),
        "the other task was replaced too: {after:#?}"
    );
    let replacement = running
        .iter()
        .find(|task| task.task_id != survivor.task_id)
        .unwrap();
    assert_ne!(replacement.task_id, victim.task_id);
    assert_eq!(replacement.health, TaskHealth::Healthy);

    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, replacement.port));
    let (status, _) = switchyard_loadgen::http_get(address, "/", &[])
        .await
        .unwrap();
    assert_eq!(status, 200);
    eventually(
        "on_healthy with the replacement",
        Duration::from_millis(500),
        || {
            published
                .last()
                .filter(|last| sorted(last.clone()) == sorted(runner.healthy()))
        },
    )
    .await;
    // The victim was taken out of service before its replacement came in.
    assert!(
        published
            .calls()
            .iter()
            .any(|call| call.len() == 1 && !call.contains(&address))
    );
    runner.stop().await;
    published.assert_no_repeats();
}

#[tokio::test]
async fn a_task_that_never_answers_is_replaced_after_the_startup_grace() {
    let root = tempfile::tempdir().unwrap();
    let published = Published::default();
    let silent = TaskProgram::Command {
        argv: vec!["sleep".to_string(), "60".to_string()],
        env: Vec::new(),
        working_dir: None,
    };
    let settings = HealthCheckSettings {
        startup_grace: Duration::from_millis(600),
        ..fast_checks()
    };
    let runner = TaskSetRunner::start_with_settings(
        "green",
        spec(silent, 1, &root.path().join("logs")),
        settings,
        published.callback(),
    );
    let first = eventually("the task to start", Duration::from_secs(2), || {
        live(&runner).into_iter().find(|task| task.pid.is_some())
    })
    .await;
    assert_eq!(
        (first.last_status, &first.health),
        ("PENDING", &TaskHealth::Unknown)
    );
    assert_eq!(runner.counts(), (1, 0));

    let replaced = eventually("the replacement", Duration::from_secs(5), || {
        let tasks = runner.tasks();
        let replacement = tasks
            .iter()
            .any(|task| task.last_status != "STOPPED" && task.task_id != first.task_id);
        let first_stopped = tasks
            .iter()
            .any(|task| task.task_id == first.task_id && task.last_status == "STOPPED");
        Some(tasks).filter(|_| replacement && first_stopped)
    })
    .await;
    let stopped = replaced
        .iter()
        .find(|task| task.task_id == first.task_id)
        .unwrap();
    assert_eq!(stopped.last_status, "STOPPED");
    assert_eq!(stopped.health, TaskHealth::Unhealthy);
    let reason = stopped.stopped_reason.as_deref().unwrap();
    assert!(
        reason.starts_with("Task failed ELB health checks"),
        "{reason}"
    );
    assert!(process::has_exited(first.pid.unwrap()));

    assert!(runner.healthy().is_empty());
    assert_eq!(runner.counts().1, 0);
    runner.stop().await;
    assert!(published.calls().is_empty(), "{:?}", published.calls());
}

#[tokio::test]
async fn scales_up_and_down_and_stop_leaves_no_process_behind() {
    let root = tempfile::tempdir().unwrap();
    let site = site_dir(root.path());
    let published = Published::default();
    let runner = TaskSetRunner::start_with_settings(
        "blue",
        spec(python_site(&site), 2, &root.path().join("logs")),
        fast_checks(),
        published.callback(),
    );
    let healthy_count = |count: usize| {
        let runner = &runner;
        move || Some(()).filter(|()| runner.healthy().len() == count)
    };
    eventually(
        "two healthy tasks",
        Duration::from_secs(10),
        healthy_count(2),
    )
    .await;
    runner.set_desired_count(3);
    assert_eq!(runner.desired_count(), 3);
    eventually(
        "three healthy tasks",
        Duration::from_secs(10),
        healthy_count(3),
    )
    .await;
    let three = live(&runner);
    let pids: Vec<u32> = three.iter().map(|task| task.pid.unwrap()).collect();

    runner.set_desired_count(1);
    eventually("one task left", Duration::from_secs(5), || {
        Some(()).filter(|()| live(&runner).len() == 1)
    })
    .await;
    // The newest go first.
    let oldest = &three[0];
    assert_eq!(live(&runner)[0].task_id, oldest.task_id);
    assert_eq!(
        runner.healthy(),
        vec![SocketAddr::from((Ipv4Addr::LOCALHOST, oldest.port))]
    );
    for newer in &three[1..] {
        let stopped = runner
            .tasks()
            .into_iter()
            .find(|task| task.task_id == newer.task_id)
            .unwrap();
        assert_eq!(stopped.last_status, "STOPPED");
        assert_eq!(
            stopped.stopped_reason.as_deref(),
            Some("Scaling activity initiated by (task set blue)")
        );
        assert!(process::has_exited(newer.pid.unwrap()));
    }
    assert_eq!(runner.counts(), (0, 1));

    runner.stop().await;
    for pid in pids {
        assert!(
            process::has_exited(pid),
            "task process {pid} outlived stop()"
        );
    }
    assert_eq!(published.last(), Some(Vec::new()));
    published.assert_no_repeats();
}

// That tasks die with a killed local cloud is tested black-box in
// tests/localcloud (a_killed_local_cloud_resumes_the_shift_after_restart).
