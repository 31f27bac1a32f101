//! Reading the audit trail.

use super::environments::find_environment;
use super::{Actor, App, Result};
use crate::store::{self, Page, PageRequest, events::EventRow};
use switchyard_domain::user::Role;

impl App {
    /// A page of an environment's audit trail, newest first.
    pub async fn environment_events(
        &self,
        actor: &Actor,
        environment: &str,
        page: PageRequest,
    ) -> Result<Page<EventRow>> {
        actor.require(Role::Viewer, "reading the audit trail")?;
        let env = find_environment(self.store.reader(), environment).await?;
        Ok(store::events::page_for_environment(self.store.reader(), env.id, page).await?)
    }
}
