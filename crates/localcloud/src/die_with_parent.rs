//! Children that must not outlive the local cloud's process.

use std::io;
use std::os::unix::process::CommandExt;

/// The child is killed (SIGKILL) when the process that spawned it dies, even
/// on kill -9, rather than linger. The signal fires when the forking *thread*
/// exits, so spawn from a thread that outlives the child.
pub fn die_with_parent(command: &mut std::process::Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (prctl, getppid), allocating nothing.
    unsafe {
        command.pre_exec(move || {
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
}
