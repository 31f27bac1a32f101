//! Recording releases and reading an environment's release history.

use super::environments::find_environment;
use super::{Actor, App, Error, Result, detail};
use crate::domain::release::NewRelease;
use crate::domain::user::Role;
use crate::store::{self, Page, PageRequest, events::NewEvent, releases::ReleaseRow};
use serde_json::json;

impl App {
    /// Records a release built elsewhere (by CI, say) in an environment's
    /// history. Versions are unique within an environment.
    pub async fn record_release(
        &self,
        actor: &Actor,
        environment: &str,
        new: &NewRelease,
    ) -> Result<ReleaseRow> {
        actor.require(Role::Deployer, "recording releases")?;
        let now = store::now_millis();
        let image = new.image.as_string();
        let mut tx = self.store.begin().await?;
        let env = find_environment(&mut *tx, environment).await?;
        let release = store::releases::insert(
            &mut *tx,
            &store::releases::NewReleaseRow {
                environment_id: env.id,
                version: new.version.as_str(),
                image: &image,
                git_commit: new.commit.as_ref().map(|c| c.as_str()),
                author: new.author.as_str(),
                message: new.message.as_str(),
                recorded_by: &actor.name,
                created_at: now,
            },
        )
        .await
        .map_err(|e| {
            if store::is_unique_violation(&e) {
                Error::Conflict(format!(
                    "environment {environment} already has a release {}",
                    new.version
                ))
            } else {
                e.into()
            }
        })?;
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(env.id),
                deployment_id: None,
                actor: &actor.name,
                kind: "release.recorded",
                detail: detail(json!({
                    "release_id": release.id,
                    "version": release.version,
                    "image": release.image,
                    "commit": release.git_commit,
                })),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.changed();
        Ok(release)
    }

    /// A page of an environment's releases, newest first.
    pub async fn releases(
        &self,
        actor: &Actor,
        environment: &str,
        page: PageRequest,
    ) -> Result<Page<ReleaseRow>> {
        actor.require(Role::Viewer, "reading releases")?;
        let found =
            store::releases::page_by_environment_name(self.store.reader(), environment, page)
                .await?;
        if found.items.is_empty() {
            // Empty history, or no such environment: only the latter is an error.
            find_environment(self.store.reader(), environment).await?;
        }
        Ok(found)
    }
}
