//! A real git repository that drives pipeline runs: a bare repository with
//! the sample app, its post-receive hook (examples/git-hooks/post-receive)
//! posting signed GitHub pushes to the server, and a working clone to push
//! from. The same helper as tests/api/pipelines.rs's `Repo`, kept free of
//! that suite's modules so any test crate can `#[path]`-include it.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const SECRET: &str = "the shop's webhook secret";
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/app-sample");
const HOOK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/git-hooks/post-receive"
);

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Carol Coder",
            "-c",
            "user.email=carol@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The files below `dir`, as paths relative to the sample's root.
fn sample_files(dir: &Path, relative: &Path, files: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = relative.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            sample_files(&entry.path(), &path, files);
        } else {
            files.push(path.to_string_lossy().into_owned());
        }
    }
}

pub struct Repo {
    pub dir: tempfile::TempDir,
    pub bare: PathBuf,
    pub work: PathBuf,
}

impl Repo {
    /// The sample app's local build (buildspec.local.yml, which needs no
    /// Docker), pushed once; pushes after this one reach `hook_url` as
    /// `pusher`.
    pub fn new(hook_url: &str, pusher: &str) -> Repo {
        Self::with_sample_files(
            hook_url,
            pusher,
            &[
                "index.html",
                "buildspec.local.yml",
                "local/taskdef.json",
                "local/appspec.yaml",
            ],
        )
    }

    /// The whole sample app as the walkthrough has it: Dockerfile,
    /// buildspec.yml, taskdef.json, appspec.yaml and the rest, unchanged.
    pub fn whole_sample(hook_url: &str, pusher: &str) -> Repo {
        let mut files = Vec::new();
        sample_files(Path::new(SAMPLE), Path::new(""), &mut files);
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        Self::with_sample_files(hook_url, pusher, &files)
    }

    fn with_sample_files(hook_url: &str, pusher: &str, files: &[&str]) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("shop.git");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        git(dir.path(), &["init", "--bare", "shop.git"]);
        git(&work, &["init"]);
        for file in files {
            let to = work.join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(Path::new(SAMPLE).join(file), to).unwrap();
        }
        git(&work, &["add", "."]);
        git(&work, &["commit", "-m", "The sample app"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        git(&work, &["push", "origin", "main"]);
        // The hook goes in after the first push: the stack is not there yet.
        std::fs::copy(HOOK, bare.join("hooks/post-receive")).unwrap();
        git(&bare, &["config", "switchyard.url", hook_url]);
        git(&bare, &["config", "switchyard.secret", SECRET]);
        git(&bare, &["config", "switchyard.pusher", pusher]);
        Repo { dir, bare, work }
    }

    /// Puts `commands` first in the build phase of buildspec.local.yml.
    pub fn prepend_build_commands(&self, commands: &[String]) {
        let path = self.work.join("buildspec.local.yml");
        let lines: String = commands.iter().map(|c| format!("      - {c}\n")).collect();
        let buildspec = std::fs::read_to_string(&path).unwrap().replace(
            "    commands:\n      - rm -rf site",
            &format!("    commands:\n{lines}      - rm -rf site"),
        );
        std::fs::write(path, buildspec).unwrap();
    }

    /// Commits everything changed in the working clone and pushes; returns
    /// the commit and what the hook printed.
    pub fn commit_and_push(&self, message: &str) -> (String, String) {
        git(&self.work, &["commit", "-am", message]);
        let printed = git(&self.work, &["push", "origin", "main"]);
        (
            git(&self.work, &["rev-parse", "HEAD"]).trim().to_owned(),
            printed,
        )
    }

    /// Commits a new index.html and pushes.
    pub fn push_page(&self, html: &str, message: &str) -> (String, String) {
        std::fs::write(self.work.join("index.html"), html).unwrap();
        self.commit_and_push(message)
    }
}
