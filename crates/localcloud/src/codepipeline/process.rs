//! Runs the programs of Source and Build actions (git, the build's shell)
//! with a time limit and a way to cancel them, and makes sure nothing they
//! started is left behind.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// How often a running program is checked for cancellation.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub enum Finished {
    /// The program exited: its status and whatever was piped.
    Exited(Output),
    TimedOut,
    Cancelled,
}

/// Runs `command` in its own process group until it exits, `limit`
/// passes, or `cancelled()` turns true; the last two kill the whole group.
/// Piped stdout and stderr are collected.
pub async fn run(
    mut command: Command,
    limit: Duration,
    cancelled: impl Fn() -> bool,
) -> io::Result<Finished> {
    command.process_group(0);
    crate::die_with_parent::die_with_parent(&mut command);
    let program = command.get_program().to_owned();
    let dir = command.get_current_dir().map(Path::to_path_buf);
    let (pid_sender, pid) = tokio::sync::oneshot::channel();
    // PR_SET_PDEATHSIG fires when the forking *thread* exits: this blocking
    // thread forks, then waits for the child, so it outlives it.
    let mut waiting = tokio::task::spawn_blocking(move || -> io::Result<Output> {
        let child = command.spawn()?;
        let _ = pid_sender.send(child.id());
        child.wait_with_output()
    });
    let Ok(pid) = pid.await else {
        // The spawn failed: the join says why.
        return match waiting.await {
            Ok(Err(e)) => Err(super::super::spawn_error::explain(
                &program,
                dir.as_deref(),
                e,
            )),
            Ok(Ok(_)) => Err(io::Error::other(
                "the program ran without reporting its pid",
            )),
            Err(e) => Err(io::Error::other(e)),
        };
    };
    let deadline = Instant::now() + limit;
    loop {
        tokio::select! {
            joined = &mut waiting => {
                // What the program left running in its group goes with it.
                kill_group(pid);
                return match joined {
                    Ok(output) => output.map(Finished::Exited),
                    Err(e) => Err(io::Error::other(e)),
                };
            }
            _ = tokio::time::sleep(POLL) => {
                let outcome = if Instant::now() >= deadline {
                    Finished::TimedOut
                } else if cancelled() {
                    Finished::Cancelled
                } else {
                    continue;
                };
                kill_group(pid);
                let _ = waiting.await;
                kill_group(pid);
                return Ok(outcome);
            }
        }
    }
}

/// SIGKILL to the process group `pid` leads. Called while the leader is
/// alive or right after it was reaped, so the group id is still ours.
fn kill_group(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions; an empty group
        // gives ESRCH, which is fine.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}

/// "exit status 3" or "killed by signal 9", as CodeBuild words it.
pub fn describe(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command
            .args(["-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    #[tokio::test]
    async fn collects_output_and_status() {
        let Finished::Exited(output) = run(
            sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(10),
            || false,
        )
        .await
        .unwrap() else {
            panic!("the program exits by itself")
        };
        assert_eq!(describe(&output.status), "exit status 3");
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
    }

    #[tokio::test]
    async fn a_time_limit_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let started = Instant::now();
        let finished = run(sh(&script), Duration::from_millis(500), || false)
            .await
            .unwrap();
        assert!(matches!(finished, Finished::TimedOut), "{finished:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let sleeper = std::fs::read_to_string(&pid_file).unwrap();
        let proc = format!("/proc/{}", sleeper.trim());
        let deadline = Instant::now() + Duration::from_secs(2);
        // Killed (a zombie until its parent, gone too, is reaped by init).
        while std::path::Path::new(&proc).exists()
            && !std::fs::read_to_string(format!("{proc}/stat")).is_ok_and(|s| s.contains(") Z"))
        {
            assert!(Instant::now() < deadline, "the build's child outlived it");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[tokio::test]
    async fn cancelling_stops_it() {
        let finished = run(sh("sleep 30"), Duration::from_secs(60), || true)
            .await
            .unwrap();
        assert!(matches!(finished, Finished::Cancelled));
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error() {
        let error = run(
            Command::new("/nonexistent/program"),
            Duration::from_secs(1),
            || false,
        )
        .await
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
