//! Release history with each release's deployments, filtered.

use crate::app::{Actor, App, Result};
use crate::store::views::{ReleaseDeploymentRow, ReleaseFilter, ReleaseHistoryRow};
use crate::store::{self, Page, PageRequest, environments::EnvironmentRow};
use std::collections::HashMap;
use switchyard_domain::user::Role;

/// Release history with each release's deployments.
#[derive(Debug, Clone)]
pub struct ReleaseHistory {
    pub environment: EnvironmentRow,
    pub page: Page<ReleaseHistoryRow>,
    /// Per release id, newest first.
    pub deployments: HashMap<i64, Vec<ReleaseDeploymentRow>>,
    pub authors: Vec<String>,
    /// The release production serves: the last successful deployment's.
    pub live_release_id: Option<i64>,
}

impl App {
    /// A page of an environment's releases matching `filter`, with their deployments.
    pub async fn release_history(
        &self,
        actor: &Actor,
        environment: &str,
        filter: &ReleaseFilter,
        page: PageRequest,
    ) -> Result<ReleaseHistory> {
        actor.require(Role::Viewer, "reading releases")?;
        let environment = self.environment(actor, environment).await?;
        let db = self.store.reader();
        let page = store::views::release_page(db, environment.id, filter, page).await?;
        let ids: Vec<i64> = page.items.iter().map(|r| r.id).collect();
        let mut deployments: HashMap<i64, Vec<ReleaseDeploymentRow>> = HashMap::new();
        for d in store::views::deployments_of_releases(db, &ids).await? {
            deployments.entry(d.release_id).or_default().push(d);
        }
        let authors = store::views::recent_authors(db, environment.id, 50).await?;
        let live = store::deployments::succeeded(db, environment.id, 1).await?;
        Ok(ReleaseHistory {
            live_release_id: live.first().map(|d| d.release_id),
            environment,
            page,
            deployments,
            authors,
        })
    }
}
