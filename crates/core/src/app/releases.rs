//! Recording releases and reading an environment's release history.

use super::environments::find_environment;
use super::{Actor, App, Error, Result, detail};
use crate::store::{
    self, PageRequest,
    events::NewEvent,
    releases::{PageEnd, ReleaseRef, ReleaseRow},
};
use serde_json::json;
use switchyard_domain::release::{ImageRef, NewRelease};
use switchyard_domain::user::Role;

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
        if let ImageRef::StaticSite(dir) = &new.image {
            self.confine_static_site(dir)?;
        }
        let now = store::now_millis();
        let image = new.image.as_string();
        let mut tx = self.store.begin().await?;
        let env = find_environment(&mut *tx, environment).await?;
        let release = insert_release(
            &mut tx,
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
            serde_json::Value::Null,
        )
        .await
        .map_err(|e| match e {
            Error::Internal(inner)
                if inner
                    .downcast_ref::<sqlx::Error>()
                    .is_some_and(store::is_unique_violation) =>
            {
                Error::Conflict(format!(
                    "environment {environment} already has a release {}",
                    new.version
                ))
            }
            other => other,
        })?;
        tx.commit().await?;
        self.changed();
        Ok(release)
    }

    /// A page of an environment's releases, newest first.
    /// A page of the release history handed to `visit` one release at a
    /// time, borrowed from the database row (the API writes each straight
    /// into its answer).
    pub async fn visit_releases(
        &self,
        actor: &Actor,
        environment: &str,
        page: PageRequest,
        visit: impl FnMut(&ReleaseRef<'_>),
    ) -> Result<PageEnd> {
        actor.require(Role::Viewer, "reading releases")?;
        let end = store::releases::visit_page_by_environment_name(
            self.store.inline_reader(),
            environment,
            page,
            visit,
        )
        .map_err(|e| Error::Internal(e.into()))?;
        if end.visited == 0 {
            // Empty history, or no such environment: only the latter is an error.
            find_environment(self.store.reader(), environment).await?;
        }
        Ok(end)
    }
}

/// Inserts a release with its `release.recorded` event, in the caller's
/// transaction; `context` (an object, e.g. the pipeline run) is added to
/// the event.
pub(crate) async fn insert_release(
    tx: &mut sqlx::SqliteConnection,
    row: &store::releases::NewReleaseRow<'_>,
    context: serde_json::Value,
) -> Result<ReleaseRow> {
    let release = store::releases::insert(&mut *tx, row)
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    let mut facts = json!({
        "release_id": release.id,
        "version": release.version,
        "image": release.image,
        "commit": release.git_commit,
    });
    if let (Some(facts), Some(context)) = (facts.as_object_mut(), context.as_object()) {
        facts.extend(context.clone());
    }
    store::events::append(
        &mut *tx,
        &NewEvent {
            environment_id: Some(row.environment_id),
            deployment_id: None,
            actor: row.recorded_by,
            kind: "release.recorded",
            detail: detail(facts),
            created_at: row.created_at,
        },
    )
    .await?;
    Ok(release)
}
