//! Freeze windows at work: one check, used by every path that moves an
//! environment to a new release (deployments, continues, rollbacks and
//! pipeline Deploy stages), run before any cloud call so a refusal writes
//! nothing.

use super::{Actor, App, Error, Result, detail};
use crate::store::{self, environments::EnvironmentRow, events::NewEvent};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use switchyard_domain::environment::{BreakGlassReason, FreezeState, describe_local};
use switchyard_domain::user::Role;

/// How an action meets a freeze.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FreezeOverride {
    /// Refused while frozen.
    #[default]
    None,
    /// An admin goes through anyway, saying why.
    BreakGlass { reason: BreakGlassReason },
    /// Going back to a known release always passes, and is recorded.
    Rollback,
}

/// A freeze an action went through, to record with the action.
#[derive(Debug, Clone)]
pub struct FreezeBroken {
    pub until: DateTime<Utc>,
    pub until_local: String,
    /// Why the freeze was broken ("rollback" for a rollback).
    pub reason: String,
}

/// The freeze of an environment as shown: open, or until when and why.
#[derive(Debug, Clone, PartialEq)]
pub struct FreezeView {
    pub until: DateTime<Utc>,
    pub until_local: String,
    pub reason: String,
}

impl FreezeView {
    pub fn until_text(&self) -> String {
        self.until.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

impl EnvironmentRow {
    /// Frozen now (Some) or open (None).
    pub fn freeze_now(&self) -> Result<Option<FreezeView>> {
        let now = DateTime::from_timestamp_millis(store::now_millis()).unwrap_or_else(Utc::now);
        Ok(match self.freeze_settings()?.state_at(now) {
            FreezeState::Open => None,
            FreezeState::Frozen {
                until,
                until_local,
                reason,
            } => Some(FreezeView {
                until,
                until_local: describe_local(&until_local),
                reason,
            }),
        })
    }

    /// "environment prod is frozen until 2026-12-14T07:00:00Z (Mon
    /// 2026-12-14 08:00 Europe/Berlin): release freeze".
    pub fn frozen_message(&self, freeze: &FreezeView) -> String {
        format!(
            "environment {} is frozen until {} ({}): {}",
            self.name,
            freeze.until_text(),
            freeze.until_local,
            freeze.reason
        )
    }
}

impl App {
    /// Refuses an action on `env` while it is frozen, unless `how` lets it
    /// through; answers the freeze it broke, to record with the action.
    pub(crate) fn check_freeze(
        &self,
        actor: &Actor,
        env: &EnvironmentRow,
        how: &FreezeOverride,
    ) -> Result<Option<FreezeBroken>> {
        if let FreezeOverride::BreakGlass { .. } = how {
            actor.require(Role::Admin, "breaking a freeze")?;
        }
        let Some(freeze) = env.freeze_now()? else {
            return Ok(None);
        };
        let reason = match how {
            FreezeOverride::None => return Err(Error::Frozen(env.frozen_message(&freeze))),
            FreezeOverride::BreakGlass { reason } => reason.as_str().to_owned(),
            FreezeOverride::Rollback => "rollback".to_owned(),
        };
        Ok(Some(FreezeBroken {
            until: freeze.until,
            until_local: freeze.until_local,
            reason,
        }))
    }

    /// Appends `environment.freeze_broken` and notifies, in the caller's
    /// transaction (the caller wakes the sender after its commit).
    pub(crate) async fn record_freeze_broken(
        &self,
        tx: &mut sqlx::SqliteConnection,
        env: &EnvironmentRow,
        deployment_id: Option<i64>,
        actor: &str,
        broken: &FreezeBroken,
    ) -> Result<()> {
        let now = store::now_millis();
        let until = broken.until.to_rfc3339_opts(SecondsFormat::Secs, true);
        let facts = json!({"who": actor, "reason": broken.reason, "until": until, "until_local": broken.until_local});
        store::events::append(
            &mut *tx,
            &NewEvent {
                environment_id: Some(env.id),
                deployment_id,
                actor,
                kind: "environment.freeze_broken",
                detail: detail(facts.clone()),
                created_at: now,
            },
        )
        .await?;
        let summary = format!(
            "{actor} broke the freeze of {} (frozen until {until}): {}",
            env.name, broken.reason
        );
        let path = match deployment_id {
            Some(id) => format!("/deployments/{id}"),
            None => format!("/environments/{}", env.name),
        };
        self.notify(
            tx,
            env.id,
            "environment.freeze_broken",
            &summary,
            &path,
            facts,
            now,
        )
        .await
    }
}
