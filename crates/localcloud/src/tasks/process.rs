//! Task processes: ports, spawning, signals and exit descriptions.

use super::{STOP_GRACE, TaskProgram, TaskTemplate, host_task};
use anyhow::Context;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError, mpsc};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
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

/// How a task's host process is tied to the local cloud's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostTaskLife {
    /// It dies with the process that started it, even on kill -9 (tests and
    /// benches, which have no lease).
    TiedToParent,
    /// It runs under `localcloud task` with the local cloud's lease: it
    /// outlives a crash, is adopted by the next start, and stops itself
    /// when no local cloud comes back (see `lease`). `owner` marks it as
    /// this local cloud's, as a label marks containers.
    Leased {
        owner: String,
        lease: PathBuf,
        orphan_grace: std::time::Duration,
    },
}

/// A task running as a host process: a child of this process, or one an
/// earlier run of the local cloud started and this one adopted.
pub(super) struct TaskProcess {
    pid: u32,
    exit: ProcessExit,
    /// Set once it has been seen to exit.
    exited: bool,
}

enum ProcessExit {
    Child(Child),
    /// Not our child, so not ours to wait for: a pidfd turns readable when
    /// it has exited.
    Adopted(AsyncFd<OwnedFd>),
}

impl TaskProcess {
    pub(super) fn pid(&self) -> u32 {
        self.pid
    }

    /// Takes over the task process `pid` if it is alive and is the host task
    /// `task_id` of `owner`; None otherwise.
    pub(super) fn adopt(pid: u32, owner: &str, task_id: &str) -> Option<TaskProcess> {
        let pidfd = pidfd_open(pid).ok()?;
        // Checked after the pidfd is open: it holds on to this very process,
        // so a pid reused since cannot be mistaken for the task.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        if host_task::owned_task_id(&cmdline, owner) != Some(task_id) || has_exited(pid) {
            return None;
        }
        // SAFETY: the OwnedFd is open, and the AsyncFd owns it (and so keeps
        // it open and unchanged) for its whole life.
        let pidfd = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) };
        let exit = ProcessExit::Adopted(pidfd.ok()?);
        Some(TaskProcess {
            pid,
            exit,
            exited: false,
        })
    }

    /// Resolves when the process exits, with the task's stopped reason.
    /// Cancel-safe.
    pub(super) async fn exited(&mut self) -> String {
        let how = match &mut self.exit {
            ProcessExit::Child(child) => describe_exit(child.wait().await),
            ProcessExit::Adopted(pidfd) => {
                let _ = pidfd.readable().await;
                "its exit status is unknown: it outlived an earlier run of the local cloud"
                    .to_owned()
            }
        };
        self.exited = true;
        kill_leftovers(self.pid);
        format!("Essential container in task exited ({how})")
    }

    /// SIGTERM to the task's process, SIGKILL to its group after the grace
    /// period; nothing if it has exited.
    pub(super) async fn stop(&mut self) {
        signal(self.pid, libc::SIGTERM);
        if tokio::time::timeout(STOP_GRACE, self.exited())
            .await
            .is_err()
        {
            signal_group(self.pid, libc::SIGKILL);
            self.exited().await;
        }
    }
}

impl Drop for TaskProcess {
    /// A task dropped without `stop` is killed, as `kill_on_drop` does for a
    /// child: an adopted process too.
    fn drop(&mut self) {
        if !self.exited && matches!(self.exit, ProcessExit::Adopted(_)) {
            signal_group(self.pid, libc::SIGKILL);
        }
    }
}

/// Spawns the task's process with its output appended to its log file.
pub(super) async fn spawn_task(
    template: &TaskTemplate,
    task_id: &str,
    port: u16,
) -> anyhow::Result<TaskProcess> {
    let mut command = task_command(template, task_id, port)?;
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
    if template.host_life == HostTaskLife::TiedToParent {
        crate::die_with_parent::die_with_parent(command.as_std_mut());
    }
    let program = command.as_std().get_program().to_owned();
    let dir = command.as_std().get_current_dir().map(Path::to_path_buf);
    let child = spawn_from_lasting_thread(command)
        .await
        .map_err(|e| super::super::spawn_error::explain(&program, dir.as_deref(), e))
        .with_context(|| format!("cannot run the task's program ({:?})", template.program))?;
    let pid = child
        .id()
        .context("the task's process exited before it could be watched")?;
    Ok(TaskProcess {
        pid,
        exit: ProcessExit::Child(child),
        exited: false,
    })
}

/// The command line of a task: `localcloud task` of the running executable
/// for a static site, or for any program that must outlive a crash of the
/// local cloud; the program itself when it is tied to its parent.
fn task_command(template: &TaskTemplate, task_id: &str, port: u16) -> anyhow::Result<Command> {
    // The running executable itself, not its path: an upgrade may replace
    // or remove the file while the local cloud runs on.
    let own_task = || {
        let mut command = Command::new(RUNNING_EXECUTABLE);
        command.args(host_task::SUBCOMMAND);
        if let HostTaskLife::Leased {
            owner,
            lease,
            orphan_grace,
        } = &template.host_life
        {
            command
                .args([
                    host_task::OWNER_FLAG,
                    owner,
                    host_task::TASK_ID_FLAG,
                    task_id,
                ])
                .arg("--lease")
                .arg(lease)
                .arg("--orphan-grace-ms")
                .arg(orphan_grace.as_millis().to_string());
        }
        command.arg("--port").arg(port.to_string());
        command
    };
    match &template.program {
        TaskProgram::StaticSite { dir } => {
            let mut command = own_task();
            command.arg("--static-dir").arg(dir);
            Ok(command)
        }
        TaskProgram::Command {
            argv,
            env,
            working_dir,
        } => {
            let (program, args) = argv
                .split_first()
                .context("the container definition has neither an entryPoint nor a command")?;
            let program = program_path(program, working_dir.as_deref());
            let mut command = match template.host_life {
                HostTaskLife::TiedToParent => Command::new(program),
                HostTaskLife::Leased { .. } => {
                    let mut command = own_task();
                    command.arg("--").arg(program);
                    command
                }
            };
            command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
            if let Some(dir) = working_dir {
                command.current_dir(dir);
            }
            Ok(command)
        }
        TaskProgram::Containers(_) => {
            anyhow::bail!("a task of containers needs a container engine, not a host process")
        }
    }
}

/// The host tasks of `owner` that run now, as (pid, task id): those of this
/// local cloud's earlier life, found by their command lines.
pub(super) fn own_host_tasks(owner: &str) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let task_id = host_task::owned_task_id(&cmdline, owner)?.to_owned();
            (!has_exited(pid)).then_some((pid, task_id))
        })
        .collect()
}

/// Ends a host task this local cloud does not adopt: SIGTERM, then SIGKILL
/// to its group after the grace.
pub(super) async fn end_leftover(pid: u32, owner: &str, task_id: &str) {
    if let Some(mut process) = TaskProcess::adopt(pid, owner, task_id) {
        process.stop().await;
    }
}

/// True once the process has exited (a zombie awaiting its reaper counts).
pub(super) fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new
    // descriptor, which is ours alone to own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, libc::PIDFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: the descriptor was just returned by the kernel and is open.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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
pub(super) async fn spawn_from_lasting_thread(command: Command) -> io::Result<Child> {
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

/// SIGKILL to what is left of the process group led by `pid` (children the
/// task's process left behind). Called right after the leader is reaped:
/// pids are handed out in a cycle, so its number cannot have been reused by
/// another group leader yet, and a group with members keeps its id reserved.
fn kill_leftovers(pid: u32) {
    signal_group(pid, libc::SIGKILL);
}

fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid, signal) };
    }
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

/// How a process ended, for its task's stopped reason.
fn describe_exit(status: io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => status.to_string(),
        },
        Err(error) => format!("cannot tell how: {error}"),
    }
}
