//! One stack's working directory: its state, module copy, variable files
//! and plan, and the lock that keeps two operations out of it at once.

use super::*;
use crate::store::environments::EnvironmentRow;
use anyhow::Context;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// One stack's working directory.
#[derive(Debug, Clone)]
pub struct StackDir {
    dir: PathBuf,
}

/// Held while a Terraform operation (apply, destroy or plan) runs on a
/// stack: an exclusive `flock` on a file in its directory, released when
/// dropped (or when the process ends).
#[derive(Debug)]
pub struct StackLock {
    _locked: std::fs::File,
}

pub(super) const STACK_VARIABLES: &str = "variables.tfvars.json";
pub(super) const ENVIRONMENT_VARIABLES: &str = "switchyard.tfvars.json";
pub(super) const PLAN_VARIABLES: &str = "plan-variables.tfvars.json";
pub(super) const PLAN_FILE: &str = "switchyard.tfplan";

impl StackDir {
    pub fn new(data_dir: &Path, env: &EnvironmentRow) -> StackDir {
        StackDir {
            dir: data_dir
                .join("terraform")
                .join("stacks")
                .join(format!("{}-{}", env.id, env.name)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Takes the stack's lock, or None when another operation holds it.
    pub fn try_lock(&self) -> anyhow::Result<Option<StackLock>> {
        use std::os::unix::io::AsRawFd;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".switchyard.lock"))?;
        // SAFETY: flock on a descriptor this function owns.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked == 0 {
            return Ok(Some(StackLock { _locked: file }));
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(error.into())
        }
    }

    /// The stack's own variables (the last provisioning request's).
    pub fn variables(&self) -> Map<String, Value> {
        std::fs::read_to_string(self.dir.join(STACK_VARIABLES))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    pub(super) fn write_json(
        &self,
        file: &str,
        value: &Map<String, Value>,
    ) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(file);
        write_private(&path, serde_json::to_string_pretty(value)?.as_bytes())?;
        Ok(path)
    }

    /// Rewrites the module, so the stack always runs this build's `infra/`;
    /// what Terraform keeps (state, `.terraform/`, the lock file) stays.
    pub(super) fn write_module(&self) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tf") || name.ends_with(".tf.json") {
                std::fs::remove_file(entry.path())?;
            }
        }
        let modules = self.dir.join("modules");
        if modules.exists() {
            std::fs::remove_dir_all(&modules)?;
        }
        for (path, text) in MODULE {
            let file = self.dir.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(file, text)?;
        }
        Ok(())
    }
}

/// Writes a file only its owner can read: variable files may hold secrets.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // A name of its own, so concurrent writers never share the temp file.
    let tmp = path.with_extension(format!("tmp-{}", switchyard_domain::ids::random_hex(8)));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
