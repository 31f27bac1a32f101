//! The registry's bytes on disk, under `<data dir>/registry/`:
//!
//! - `blobs/sha256/<ab>/<digest hex>`: every blob and manifest, once,
//!   addressed by content;
//! - `uploads/<id>/data` and `uploads/<id>/repository`: uploads in
//!   progress, streamed to disk chunk by chunk (a layer can be hundreds of
//!   megabytes), hashed as they arrive;
//! - `staging/<id>`: content whose digest is verified, waiting to be moved
//!   into `blobs/` while the state is locked, so that garbage collection,
//!   which runs under the same lock, never sees a blob before its link.
//!
//! Which repository holds which blob is in the local cloud's state.

use super::reference::{Digest, upload_range};
use super::registry::RegistryError;
use axum::body::Body;
use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Uploads untouched this long are abandoned (the reference registry purges
/// them after a week too).
const STALE_UPLOAD: Duration = Duration::from_secs(7 * 24 * 60 * 60);

pub struct Storage {
    root: PathBuf,
    /// Each upload's running hash, behind a lock of its own so that its
    /// chunks are appended one at a time.
    uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Progress>>>>,
}

/// How far an upload has got. `None` until it is loaded from its file (after
/// a restart) or after a chunk failed half-way.
#[derive(Default)]
struct Progress {
    hashed: Option<(Sha256, u64)>,
}

impl Progress {
    /// The hash and size of what the upload's file holds.
    async fn current(&mut self, data: &Path) -> io::Result<&mut (Sha256, u64)> {
        if self.hashed.is_none() {
            let mut file = tokio::fs::File::open(data).await?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut buffer = vec![0u8; 1 << 16];
            loop {
                let n = file.read(&mut buffer).await?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
                size += n as u64;
            }
            self.hashed = Some((hasher, size));
        }
        Ok(self.hashed.as_mut().expect("loaded above"))
    }
}

/// Verified content on its way into the store. Dropped uncommitted, it is
/// deleted.
pub struct StagedBlob {
    file: PathBuf,
    destination: PathBuf,
    pub digest: Digest,
}

impl StagedBlob {
    /// Moves it into the store. Call it with the state locked, in the same
    /// change that links it to a repository.
    pub fn commit(&self) -> io::Result<()> {
        if let Some(dir) = self.destination.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&self.file, &self.destination)
    }
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

impl Storage {
    pub fn open(root: &Path) -> io::Result<Storage> {
        for dir in ["blobs/sha256", "uploads", "staging"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(Storage {
            root: root.to_path_buf(),
            uploads: Mutex::default(),
        })
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root.join("blobs/sha256").join(&hex[..2]).join(hex)
    }

    fn upload_dir(&self, id: &str) -> Option<PathBuf> {
        // Ids are the UUIDs `start_upload` makes; anything else (a path
        // trick included) is simply unknown.
        let well_formed = id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        well_formed.then(|| self.root.join("uploads").join(id))
    }

    /// Starts an empty upload into `repository`; its id.
    pub fn start_upload(&self, repository: &str) -> io::Result<String> {
        let id = crate::random_uuid();
        let dir = self.root.join("uploads").join(&id);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("data"), b"")?;
        std::fs::write(dir.join("repository"), repository)?;
        Ok(id)
    }

    /// The upload `id` of `repository`, or BLOB_UPLOAD_UNKNOWN.
    fn upload(
        &self,
        repository: &str,
        id: &str,
    ) -> Result<(PathBuf, Arc<tokio::sync::Mutex<Progress>>), RegistryError> {
        let unknown = || RegistryError::upload_unknown(id);
        let dir = self.upload_dir(id).ok_or_else(unknown)?;
        let owner = std::fs::read_to_string(dir.join("repository")).map_err(|_| unknown())?;
        if owner != repository {
            return Err(unknown());
        }
        let progress = lock(&self.uploads)
            .entry(id.to_owned())
            .or_default()
            .clone();
        Ok((dir.join("data"), progress))
    }

    /// How many bytes the upload holds.
    pub async fn upload_size(&self, repository: &str, id: &str) -> Result<u64, RegistryError> {
        let (data, progress) = self.upload(repository, id)?;
        let mut progress = progress.lock().await;
        let (_, size) = progress.current(&data).await.map_err(|e| gone_or(e, id))?;
        Ok(*size)
    }

    /// Appends a chunk, streamed from the request body. `start`, from the
    /// chunk's Content-Range, must be where the upload ends. The total size.
    pub async fn append(
        &self,
        repository: &str,
        id: &str,
        start: Option<u64>,
        body: Body,
    ) -> Result<u64, RegistryError> {
        let (data, progress) = self.upload(repository, id)?;
        let mut progress = progress.lock().await;
        let size = progress.current(&data).await.map_err(|e| gone_or(e, id))?.1;
        if let Some(start) = start.filter(|&start| start != size) {
            return Err(RegistryError::range_invalid(format!(
                "the upload holds {size} bytes, so the next chunk starts at byte {size}, not {start}"
            ))
            .with_range(upload_range(size)));
        }
        let written = write_chunk(&data, id, body, progress.hashed.as_mut().expect("loaded")).await;
        if written.is_err() {
            // The file may hold part of the chunk: hash it again from disk.
            progress.hashed = None;
        }
        written?;
        Ok(progress.hashed.as_ref().expect("kept on success").1)
    }

    /// Ends an upload whose content must have digest `expected`. On a
    /// mismatch the upload is discarded, as its content is not what the
    /// client meant to send.
    pub async fn finish(
        &self,
        repository: &str,
        id: &str,
        expected: &Digest,
    ) -> Result<StagedBlob, RegistryError> {
        let (data, progress) = self.upload(repository, id)?;
        let mut progress = progress.lock().await;
        let hasher = progress
            .current(&data)
            .await
            .map_err(|e| gone_or(e, id))?
            .0
            .clone();
        let actual = Digest::from_hasher(hasher);
        let verified = super::reference::verify(expected, &actual);
        // Either way the upload is over; later chunks find it unknown.
        let staged = self.root.join("staging").join(id);
        let moved = std::fs::rename(&data, &staged);
        self.forget_upload(id);
        moved.map_err(|e| gone_or(e, id))?;
        let staged = StagedBlob {
            file: staged,
            destination: self.blob_path(&actual),
            digest: actual,
        };
        verified.map_err(|why| RegistryError::digest_invalid(why, expected))?;
        Ok(staged)
    }

    /// Stages content the registry received whole (a manifest).
    pub fn stage_bytes(&self, bytes: &[u8]) -> io::Result<StagedBlob> {
        let digest = Digest::of(bytes);
        let file = self.root.join("staging").join(crate::random_uuid());
        std::fs::write(&file, bytes)?;
        Ok(StagedBlob {
            file,
            destination: self.blob_path(&digest),
            digest,
        })
    }

    /// Drops an upload; false when there was none.
    pub fn cancel(&self, repository: &str, id: &str) -> bool {
        if self.upload(repository, id).is_err() {
            return false;
        }
        self.forget_upload(id);
        true
    }

    fn forget_upload(&self, id: &str) {
        lock(&self.uploads).remove(id);
        if let Some(dir) = self.upload_dir(id) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// Drops every upload into `repository` (it is being deleted).
    pub fn cancel_uploads_of(&self, repository: &str) {
        for (id, owner) in self.uploads_on_disk() {
            if owner.as_deref() == Some(repository) {
                self.forget_upload(&id);
            }
        }
    }

    fn uploads_on_disk(&self) -> Vec<(String, Option<String>)> {
        let Ok(entries) = std::fs::read_dir(self.root.join("uploads")) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let id = e.file_name().to_str()?.to_owned();
                let owner = std::fs::read_to_string(e.path().join("repository")).ok();
                Some((id, owner))
            })
            .collect()
    }

    /// Deletes the stored blobs whose digest is not in `keep`. Call it with
    /// the state locked (see `StagedBlob::commit`). How many it deleted.
    pub fn collect_garbage(&self, keep: &HashSet<&str>) -> io::Result<usize> {
        let mut deleted = 0;
        for shard in std::fs::read_dir(self.root.join("blobs/sha256"))? {
            let shard = shard?.path();
            for blob in std::fs::read_dir(&shard)? {
                let blob = blob?;
                let name = blob.file_name();
                let digest = format!("sha256:{}", name.to_string_lossy());
                if !keep.contains(digest.as_str()) {
                    std::fs::remove_file(blob.path())?;
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }

    /// At start: drops staged content (no change is under way) and uploads
    /// nobody touched for a week.
    pub fn purge_leftovers(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(self.root.join("staging"))? {
            std::fs::remove_file(entry?.path())?;
        }
        for entry in std::fs::read_dir(self.root.join("uploads"))? {
            let entry = entry?;
            let untouched = std::fs::metadata(entry.path().join("data"))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| at.elapsed().ok());
            if untouched.is_none_or(|age| age > STALE_UPLOAD) {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }
}

async fn write_chunk(
    data: &Path,
    id: &str,
    body: Body,
    (hasher, size): &mut (Sha256, u64),
) -> Result<(), RegistryError> {
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(data)
        .await
        .map_err(|e| gone_or(e, id))?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| RegistryError::upload_invalid(format!("the chunk was cut off: {e}")))?;
        file.write_all(&chunk)
            .await
            .map_err(RegistryError::storage)?;
        hasher.update(&chunk);
        *size += chunk.len() as u64;
    }
    file.flush().await.map_err(RegistryError::storage)
}

/// An upload whose file vanished was cancelled meanwhile.
fn gone_or(e: io::Error, id: &str) -> RegistryError {
    if e.kind() == io::ErrorKind::NotFound {
        RegistryError::upload_unknown(id)
    } else {
        RegistryError::storage(e)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
