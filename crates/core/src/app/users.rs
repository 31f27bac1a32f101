//! Users: creating them (with their first token) and the first-start admin.

use super::{Actor, App, Result};
use crate::store::{self, users::UserRow};
use std::io::Write;
use std::path::{Path, PathBuf};
use switchyard_domain::user::{Role, UserName};

pub use super::auth::NewToken;

/// Where the first admin's token is written on first start.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

impl App {
    /// An admin creates a user through the API.
    pub async fn create_user(
        &self,
        actor: &Actor,
        name: &UserName,
        role: Role,
    ) -> Result<(UserRow, NewToken)> {
        actor.require(Role::Admin, "creating users")?;
        self.insert_user_with_token(Some(actor), name, role).await
    }

    /// `switchyard user add`: whoever can write the data dir administers it.
    pub async fn create_user_locally(
        &self,
        name: &UserName,
        role: Role,
    ) -> Result<(UserRow, NewToken)> {
        self.insert_user_with_token(None, name, role).await
    }

    /// An admin revokes all of a user's API tokens through the API.
    pub async fn revoke_tokens(&self, actor: &Actor, name: &UserName) -> Result<u64> {
        actor.require(Role::Admin, "revoking tokens")?;
        self.revoke_user_tokens(Some(actor), name).await
    }

    /// `switchyard user revoke`: a server reading the same data dir stops
    /// accepting the tokens within its cache's TTL.
    pub async fn revoke_tokens_locally(&self, name: &UserName) -> Result<u64> {
        self.revoke_user_tokens(None, name).await
    }

    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<UserRow>> {
        actor.require(Role::Admin, "listing users")?;
        self.list_users_locally().await
    }

    /// `switchyard user list`: whoever can read the data dir sees its users.
    pub async fn list_users_locally(&self) -> Result<Vec<UserRow>> {
        Ok(store::users::list(self.store.reader()).await?)
    }

    /// On the very first start (no users at all) creates `admin` and writes
    /// its token to `DATA_DIR/admin-token`, readable by the owner only.
    /// Returns the file's path when it did so.
    pub async fn bootstrap_admin(&self, data_dir: &Path) -> Result<Option<PathBuf>> {
        if store::users::count(self.store.reader()).await? > 0 {
            return Ok(None);
        }
        let name = UserName::parse("admin").expect("a valid user name");
        let (_, token) = self
            .insert_user_with_token(None, &name, Role::Admin)
            .await?;
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        write_private_file(&path, token.expose())?;
        Ok(Some(path))
    }
}

/// Writes a secret to a file only its owner can read, replacing any older
/// one in a single rename so no reader sees it half-written.
pub fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
