//! The DORA figures of an environment over a window.

use crate::app::{Actor, App, Error, Result};
use crate::store::views::DoraRow;
use crate::store::{self};
use switchyard_domain::user::Role;

/// DORA figures over a window. Lead time runs from when a release was
/// recorded (the releases table keeps no commit time) to when production
/// traffic was fully on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dora {
    pub from: i64,
    pub to: i64,
    pub counts: DoraRow,
    pub deployments_per_day: f64,
    pub lead_time_median_ms: Option<i64>,
    pub lead_time_avg_ms: Option<i64>,
    /// Failed or rolled back, of the finished deployments; None when none finished.
    pub change_failure_rate: Option<f64>,
    pub time_to_restore_avg_ms: Option<i64>,
}

impl App {
    /// The DORA figures of an environment for deployments finished in
    /// `[from, to)`. Answered from the cache while nothing changed and
    /// the window moved by less than a minute: a year of deployments takes
    /// tens of milliseconds to aggregate.
    pub async fn dora(&self, actor: &Actor, environment: &str, from: i64, to: i64) -> Result<Dora> {
        actor.require(Role::Viewer, "reading releases")?;
        if to <= from {
            return Err(Error::Invalid(switchyard_domain::FieldError {
                field: "to".into(),
                message: "the window must end after it starts".into(),
            }));
        }
        let environment = self.environment(actor, environment).await?;
        // Read before the rows: a write meanwhile makes the entry stale at once.
        let generation = self.generation();
        if let Some(dora) = self
            .view_cache
            .dora
            .get(environment.id, from, to, generation)
        {
            return Ok(dora);
        }
        let counts = store::views::dora(self.store.reader(), environment.id, from, to).await?;
        let days = (to - from) as f64 / 86_400_000.0;
        let dora = Dora {
            from,
            to,
            deployments_per_day: counts.succeeded as f64 / days,
            lead_time_median_ms: counts.lead_time_median,
            lead_time_avg_ms: counts.lead_time_avg.map(|v| v as i64),
            change_failure_rate: (counts.finished > 0)
                .then(|| counts.failed as f64 / counts.finished as f64),
            time_to_restore_avg_ms: counts.restore_avg.map(|v| v as i64),
            counts,
        };
        self.view_cache
            .dora
            .put(environment.id, generation, dora.clone());
        Ok(dora)
    }
}
