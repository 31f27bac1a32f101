//! A git repository for pipeline tests: a bare repository (what a pipeline
//! fetches) and a work tree that pushes its commits to it. Shared by
//! tests/localcloud and tests/awscli (which includes it with `#[path]`).

// Each of the two test targets uses a part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Switchyard Tests",
            "-c",
            "user.email=tests@switchyard.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .expect("git is installed");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A bare repository and the work tree that pushes to it.
pub struct Repo {
    pub bare: PathBuf,
    pub work: PathBuf,
}

impl Repo {
    pub fn new(root: &Path, name: &str) -> Repo {
        let bare = root.join(format!("{name}.git"));
        let work = root.join(format!("{name}-work"));
        git(root, &["init", "--quiet", "--bare", bare.to_str().unwrap()]);
        git(root, &["init", "--quiet", work.to_str().unwrap()]);
        Repo { bare, work }
    }

    pub fn write(&self, path: &str, content: &str) {
        let file = self.work.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }

    /// Commits everything and pushes it to main; the commit's id.
    pub fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "--quiet", "-m", message]);
        git(
            &self.work,
            &["push", "--quiet", self.bare.to_str().unwrap(), "HEAD:main"],
        );
        git(&self.work, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    pub fn url(&self) -> String {
        self.bare.display().to_string()
    }
}
