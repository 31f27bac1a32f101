//! Task processes: ports, spawning, signals and exit descriptions.

use super::{STOP_GRACE, TaskProgram, TaskTemplate};
use anyhow::Context;
use std::collections::VecDeque;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// Ports handed out lately, by any runner in this process: the kernel may
/// offer a port again once its probe socket is closed, before the task that
/// got it has bound it.
static RECENT_PORTS: Mutex<VecDeque<u16>> = Mutex::new(VecDeque::new());
const RECENT_PORTS_KEPT: usize = 256;

/// A loopback port nobody listens on now: bind port 0, read it, let go.
pub(super) fn free_loopback_port() -> io::Result<u16> {
    let mut recent = RECENT_PORTS.lock().unwrap_or_else(PoisonError::into_inner);
    for _ in 0..16 {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port();
        if !recent.contains(&port) {
            if recent.len() == RECENT_PORTS_KEPT {
                recent.pop_front();
            }
            recent.push_back(port);
            return Ok(port);
        }
    }
    Err(io::Error::other(
        "the kernel kept offering ports that were just handed out",
    ))
}

/// This process's own executable, as the kernel holds it open.
const RUNNING_EXECUTABLE: &str = "/proc/self/exe";

/// A task running as a host process.
pub(super) struct TaskProcess {
    child: Child,
    pid: Option<u32>,
}

impl TaskProcess {
    pub(super) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Resolves when the process exits, with the task's stopped reason.
    /// Cancel-safe.
    pub(super) async fn exited(&mut self) -> String {
        let status = self.child.wait().await;
        if let Some(pid) = self.pid {
            kill_leftovers(pid);
        }
        describe_exit(status)
    }

    /// SIGTERM, SIGKILL after the grace period; nothing if it has exited.
    pub(super) async fn stop(&mut self) {
        terminate(&mut self.child, STOP_GRACE).await;
    }
}

/// Spawns the task's process with its output appended to its log file.
pub(super) async fn spawn_task(
    template: &TaskTemplate,
    task_id: &str,
    port: u16,
) -> anyhow::Result<TaskProcess> {
    let mut command = match &template.program {
        TaskProgram::StaticSite { dir } => {
            // The running executable itself, not its path: an upgrade may
            // replace or remove the file while the local cloud runs on.
            let mut command = Command::new(RUNNING_EXECUTABLE);
            command
                .args(["localcloud", "serve-static", "--dir"])
                .arg(dir);
            command
        }
        TaskProgram::Command {
            argv,
            env,
            working_dir,
        } => {
            let (program, args) = argv
                .split_first()
                .context("the container definition has neither an entryPoint nor a command")?;
            let mut command = Command::new(program_path(program, working_dir.as_deref()));
            command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
            if let Some(dir) = working_dir {
                command.current_dir(dir);
            }
            command
        }
        TaskProgram::Containers(_) => {
            anyhow::bail!("a task of containers needs a container engine, not a host process")
        }
    };
    // Set last so the program's own environment cannot move the task off the
    // port its health checks and target group use.
    command
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1");

    let log = super::logs::open_append(&template.log_dir, task_id)?;
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: a Ctrl-C in the terminal reaches the local
        // cloud, which stops the tasks in order, and a stop reaches the
        // task's own children too.
        .process_group(0)
        .kill_on_drop(true);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (prctl, getppid), allocating nothing.
    unsafe {
        command.pre_exec(move || {
            // Die with the local cloud, even on kill -9, rather than linger.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the line above: no signal will come.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let program = command.as_std().get_program().to_owned();
    let dir = command.as_std().get_current_dir().map(Path::to_path_buf);
    let child = spawn_from_lasting_thread(command)
        .await
        .map_err(|e| super::super::spawn_error::explain(&program, dir.as_deref(), e))
        .with_context(|| format!("cannot run the task's program ({:?})", template.program))?;
    let pid = child.id();
    Ok(TaskProcess { child, pid })
}

/// A relative program path with a directory part means the working
/// directory's, as in a container; a bare name is looked up in PATH.
fn program_path(program: &str, working_dir: Option<&Path>) -> PathBuf {
    let path = Path::new(program);
    match working_dir {
        Some(dir) if program.contains('/') && path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

struct SpawnRequest {
    command: Command,
    runtime: tokio::runtime::Handle,
    reply: oneshot::Sender<io::Result<Child>>,
}

static SPAWNER: Mutex<Option<mpsc::Sender<SpawnRequest>>> = Mutex::new(None);

/// Spawns `command` from a thread that lives as long as the process.
/// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, and
/// runtime threads may come and go (blocking pools, block_in_place).
async fn spawn_from_lasting_thread(command: Command) -> io::Result<Child> {
    let (reply, answer) = oneshot::channel();
    let request = SpawnRequest {
        command,
        runtime: tokio::runtime::Handle::current(),
        reply,
    };
    spawner()?
        .send(request)
        .map_err(|_| io::Error::other("the task spawner thread has stopped"))?;
    answer
        .await
        .map_err(|_| io::Error::other("the task spawner thread dropped the request"))?
}

fn spawner() -> io::Result<mpsc::Sender<SpawnRequest>> {
    let mut spawner = SPAWNER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(sender) = spawner.as_ref() {
        return Ok(sender.clone());
    }
    let (sender, requests) = mpsc::channel::<SpawnRequest>();
    std::thread::Builder::new()
        .name("task-spawner".to_string())
        .spawn(move || {
            for mut request in requests {
                // The child is registered with the caller's runtime, which
                // reaps it and reports its exit.
                let _runtime = request.runtime.enter();
                // A panic here (say, a runtime shutting down) must not take
                // the thread, and every later spawn, with it.
                let spawned =
                    std::panic::catch_unwind(AssertUnwindSafe(|| request.command.spawn()))
                        .unwrap_or_else(|_| Err(io::Error::other("spawning the task panicked")));
                // If the caller has gone, the child is dropped and killed.
                let _ = request.reply.send(spawned);
            }
        })?;
    *spawner = Some(sender.clone());
    Ok(sender)
}

/// SIGTERM to the task's process group, SIGKILL after `grace`; waits for the
/// process and kills whatever of its group is left.
async fn terminate(child: &mut Child, grace: Duration) {
    let Some(pid) = child.id() else {
        return; // already reaped
    };
    signal_group(pid, libc::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        signal_group(pid, libc::SIGKILL);
        if let Err(error) = child.wait().await {
            tracing::error!(pid, %error, "cannot wait for a killed task");
        }
    }
    kill_leftovers(pid);
}

/// SIGKILL to what is left of the process group led by `pid` (children the
/// task's process left behind). Called right after the leader is reaped:
/// pids are handed out in a cycle, so its number cannot have been reused by
/// another group leader yet, and a group with members keeps its id reserved.
fn kill_leftovers(pid: u32) {
    signal_group(pid, libc::SIGKILL);
}

fn signal_group(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; the group is the
    // one our child leads (see process_group(0) above). An empty group
    // gives ESRCH, which is fine.
    unsafe { libc::kill(-pid, signal) };
}

/// The stopped reason for a process that exited on its own.
fn describe_exit(status: io::Result<ExitStatus>) -> String {
    let how = match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => status.to_string(),
        },
        Err(error) => format!("cannot tell how: {error}"),
    };
    format!("Essential container in task exited ({how})")
}
