//! The README's first command, verbatim, in a fresh copy of the repository:
//! what a new user types first must work with no added flags.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A release build from scratch on a 2-core machine, then the demo itself.
const TIME_LIMIT: Duration = Duration::from_secs(40 * 60);

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The README's first command: the first line of its first code block.
fn readme_main_command() -> String {
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    let block = readme.split("```sh\n").nth(1).expect("a sh code block");
    let line = block.lines().next().unwrap();
    line.split(" #").next().unwrap().trim().to_owned()
}

/// The files git would check out (tracked, plus new ones not ignored), as
/// they are in the work tree, copied into `to`.
fn copy_work_tree(to: &Path) {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(repository())
        .output()
        .expect("git lists the repository's files");
    assert!(listed.status.success(), "{listed:?}");
    for name in listed.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let from = repository().join(name);
        if !from.is_file() {
            continue; // deleted in the work tree, not yet committed
        }
        let target = to.join(name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&from, &target).unwrap();
    }
}

/// Ends the command's whole process group (cargo and the demo it runs) on drop.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pid = self.0.id() as libc::pid_t;
        // SAFETY: kill(2) has no memory-safety preconditions; the group is
        // the one the child leads (process_group(0) below).
        unsafe { libc::kill(-pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

#[test]
fn the_readme_first_command_runs_the_demo_to_green_in_a_fresh_clone() {
    let command = readme_main_command();
    assert_eq!(command, "cargo run --release -- demo");
    let clone = tempfile::tempdir().unwrap();
    copy_work_tree(clone.path());
    let mut words = command.split_whitespace();
    let mut run = Command::new(words.next().unwrap());
    run.args(words)
        .current_dir(clone.path())
        // The same target dir as this build, so the release build is shared
        // between runs; that changes where cargo builds, not what it builds.
        .env("CARGO_TARGET_DIR", repository().join("target"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, _) in std::env::vars() {
        if key.starts_with("SWITCHYARD_") {
            run.env_remove(key);
        }
    }
    std::os::unix::process::CommandExt::process_group(&mut run, 0);
    let mut demo = Group(run.spawn().expect("cargo runs"));
    let stdout = BufReader::new(demo.0.stdout.take().unwrap());
    let (lines, read) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    let started = Instant::now();
    let mut printed = Vec::new();
    let prod_url = loop {
        let left = TIME_LIMIT.saturating_sub(started.elapsed());
        let line = read
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the demo did not finish in time:\n{}", printed.join("\n")));
        printed.push(line.clone());
        if let Some(url) = line.strip_prefix("production URL ") {
            break url.trim().to_owned();
        }
    };
    let output = printed.join("\n");
    assert!(output.contains("observed on production"), "{output}");
    for _ in 0..20 {
        let page = get(&prod_url);
        assert!(
            page.contains("<h1>green</h1>"),
            "not green at 100 %: {page}\n{output}"
        );
    }
    assert!(
        clone.path().join("switchyard-data/admin-token").is_file(),
        "the data dir is the README's default, in the clone's root"
    );
}

/// A GET over plain HTTP/1.1 on loopback; the body.
fn get(url: &str) -> String {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
}
