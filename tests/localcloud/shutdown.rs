//! Stops a local cloud child the way SIGTERM does, so that its task
//! containers go with it even when a test fails half-way (a kill, as
//! `kill_on_drop` does, leaves them running on the engine, as a crash
//! would). Not tied to one suite's modules, so any test crate can
//! `#[path]`-include it.

use std::time::{Duration, Instant};

/// SIGTERM to `pid`, then waits (at most 20 s) until it has exited.
pub fn stop_gracefully(pid: u32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !has_exited(pid) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True once the process has exited (a zombie awaiting its reaper counts).
fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}
