//! A host task's own process, `switchyard localcloud task`: the built-in
//! static file server, or the supervisor of a container definition's
//! entryPoint + command run on the host.
//!
//! The local cloud starts it in a process group of its own. Started with a
//! lease (see `lease`), it outlives a crash of the local cloud, which adopts
//! it again on its next start, and stops itself once no local cloud has held
//! the lease for the grace. Its command line names its owner and task id, so
//! that a restarted local cloud can find it (as labels find containers).
//!
//! A supervised program dies with this process (PR_SET_PDEATHSIG), gets the
//! stop signals this process gets, and its exit status becomes this
//! process's, so that the local cloud sees the program's own.

use super::lease;
use super::process::spawn_from_lasting_thread;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// The subcommand words, and the flags that mark a task's process.
pub const SUBCOMMAND: [&str; 2] = ["localcloud", "task"];
pub const OWNER_FLAG: &str = "--owner";
pub const TASK_ID_FLAG: &str = "--task-id";

/// How long a supervised program has between SIGTERM and SIGKILL when the
/// task stops itself.
const STOP_GRACE: Duration = super::STOP_GRACE;

#[derive(Debug, Clone)]
pub struct HostTaskArgs {
    /// Serves on 127.0.0.1:port (the static site), or tells the program
    /// through $PORT, which the local cloud has set.
    pub port: u16,
    /// The local cloud's lease, and how long the task waits for a local
    /// cloud to hold it again; without one, the process is tied to its
    /// parent by the parent (tests and benches).
    pub lease: Option<(PathBuf, Duration)>,
    pub program: HostProgram,
}

#[derive(Debug, Clone)]
pub enum HostProgram {
    StaticSite {
        dir: PathBuf,
    },
    /// argv[0] is a path or a name looked up in PATH.
    Command {
        argv: Vec<String>,
    },
}

/// Runs the task until it ends, is stopped, or is orphaned for the grace;
/// returns the exit status this process should end with.
pub async fn run(args: HostTaskArgs) -> anyhow::Result<ExitStatus> {
    let lease = args.lease.clone();
    let orphaned = async move {
        match lease {
            Some((path, grace)) => lease::orphaned(&path, grace).await,
            None => std::future::pending().await,
        }
    };
    match args.program {
        HostProgram::StaticSite { dir } => {
            let listen = SocketAddr::from(([127, 0, 0, 1], args.port));
            let shutdown = switchyard_runtime::shutdown_signal()?;
            super::static_site::serve_static_until(dir, listen, async move {
                tokio::select! {
                    () = shutdown => {}
                    () = orphaned => eprintln!("[local cloud] no local cloud came back; the task stops"),
                }
            })
            .await?;
            Ok(ExitStatus::from_raw(0))
        }
        HostProgram::Command { argv } => supervise(&argv, orphaned).await,
    }
}

/// Runs `argv` as a child and waits for it, passing stop signals on.
async fn supervise(
    argv: &[String],
    orphaned: impl std::future::Future<Output = ()>,
) -> anyhow::Result<ExitStatus> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no program to run"))?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    crate::die_with_parent::die_with_parent(command.as_std_mut());
    let mut child = spawn_from_lasting_thread(command)
        .await
        .map_err(|e| crate::spawn_error::explain(std::ffi::OsStr::new(program), None, e))?;
    let pid = child.id().unwrap_or_default();
    let mut orphaned = std::pin::pin!(orphaned);
    loop {
        tokio::select! {
            status = child.wait() => return Ok(status?),
            _ = terminate.recv() => send(pid, libc::SIGTERM),
            _ = interrupt.recv() => send(pid, libc::SIGINT),
            () = &mut orphaned => {
                eprintln!("[local cloud] no local cloud came back; the task stops");
                send(pid, libc::SIGTERM);
                return match tokio::time::timeout(STOP_GRACE, child.wait()).await {
                    Ok(status) => Ok(status?),
                    Err(_) => {
                        child.kill().await?;
                        Ok(child.wait().await?)
                    }
                };
            }
        }
    }
}

/// Ends this process as `status` says the program ended: with its exit
/// code, or killed by its signal.
pub fn exit_as(status: ExitStatus) -> ! {
    if let Some(signal) = status.signal() {
        // SAFETY: restoring the default action and raising a signal have no
        // memory-safety preconditions; the handlers tokio installed are
        // replaced first so that the signal really ends the process.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
    std::process::exit(status.code().unwrap_or(1))
}

fn send(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid, signal) };
    }
}

/// The task id in a host task's command line, if it is one of `owner`'s
/// (arguments as /proc/PID/cmdline holds them, NUL-separated).
pub fn owned_task_id<'a>(cmdline: &'a [u8], owner: &str) -> Option<&'a str> {
    let args: Vec<&str> = cmdline
        .split(|b| *b == 0)
        .map(|arg| std::str::from_utf8(arg).unwrap_or(""))
        .collect();
    let is_task = args.windows(2).any(|pair| pair == SUBCOMMAND.as_slice());
    let value = |flag: &str| {
        args.windows(2)
            .find(|pair| pair[0] == flag)
            .map(|pair| pair[1])
    };
    (is_task && value(OWNER_FLAG) == Some(owner))
        .then(|| value(TASK_ID_FLAG))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_known_by_its_owner_and_id() {
        let line = b"/proc/self/exe\0localcloud\0task\0--owner\0abc\0--task-id\0t1\0--port\08080\0--static-dir\0/s\0";
        assert_eq!(owned_task_id(line, "abc"), Some("t1"));
        assert_eq!(owned_task_id(line, "other"), None);
        let not_a_task = b"/bin/sh\0-c\0echo --owner abc --task-id t1\0";
        assert_eq!(owned_task_id(not_a_task, "abc"), None);
        let no_id = b"switchyard\0localcloud\0task\0--owner\0abc\0";
        assert_eq!(owned_task_id(no_id, "abc"), None);
    }
}
