//! Cleaning up after local clouds that ran tasks on the test engine: a
//! killed local cloud leaves its containers running, and nothing would ever
//! start it again to remove them. (tests/localcloud's `Cloud` sends SIGTERM
//! instead, and the local cloud removes them itself.)

use std::path::Path;
use std::time::{Duration, Instant};
use tokio::process::Child;

/// SIGKILL, and waits (up to 10 s) until the child is gone, so that it
/// starts nothing more; for `Drop`, which cannot await.
pub fn kill_and_reap(child: &mut Child) {
    if child.start_kill().is_err() {
        return; // Already reaped.
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Force-removes, on the engine at `docker_host`, the containers of the
/// local cloud whose data dir is `data_dir` (by the owner label its
/// instance id gives them). Best effort: this runs in `Drop`.
pub fn remove_containers_of(docker_host: &str, data_dir: &Path) {
    let Ok(owner) = std::fs::read_to_string(data_dir.join("instance-id")) else {
        return; // It never started.
    };
    let docker = |args: &[&str]| {
        std::process::Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", docker_host)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let label = format!("label=switchyard.localcloud={}", owner.trim());
    let Some(listed) = docker(&["ps", "--all", "--quiet", "--filter", &label]) else {
        return;
    };
    let ids: Vec<&str> = listed.split_whitespace().collect();
    if !ids.is_empty() {
        docker(&[&["rm", "--force", "--volumes"][..], &ids[..]].concat());
    }
}
