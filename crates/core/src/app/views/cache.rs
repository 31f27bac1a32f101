//! Read models kept between requests: finished deployments' chart columns
//! and lately computed DORA figures.

use super::*;
use crate::store::views::TrafficColumn;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Read models worth keeping between requests.
#[derive(Debug, Default)]
pub struct ViewCache {
    pub(super) dora: DoraCache,
    pub(super) traffic: TrafficCache,
}

type TrafficKey = (i64, ChartWindow, u32);

/// The chart columns of finished deployments: their samples never change
/// again, and a long shift's take a few milliseconds to reduce.
#[derive(Debug, Default)]
pub(super) struct TrafficCache {
    entries: Mutex<HashMap<TrafficKey, Arc<Vec<TrafficColumn>>>>,
}

impl TrafficCache {
    const MAX_ENTRIES: usize = 64;

    pub(super) fn get(&self, key: &TrafficKey) -> Option<Arc<Vec<TrafficColumn>>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).cloned()
    }

    pub(super) fn put(&self, key: TrafficKey, columns: Arc<Vec<TrafficColumn>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, columns);
    }
}

/// DORA figures computed lately, per environment and window length. An
/// entry holds while nothing was written since (`App::generation`) and its
/// window has slid by less than `SLACK_MS`.
#[derive(Debug, Default)]
pub(super) struct DoraCache {
    entries: Mutex<HashMap<(i64, i64), (u64, Dora)>>,
}

impl DoraCache {
    pub const SLACK_MS: i64 = 60_000;
    const MAX_ENTRIES: usize = 256;

    pub(super) fn get(
        &self,
        environment_id: i64,
        from: i64,
        to: i64,
        generation: u64,
    ) -> Option<Dora> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(&(environment_id, to - from)) {
            Some((g, dora)) if *g == generation && (to - dora.to).abs() < Self::SLACK_MS => {
                Some(dora.clone())
            }
            _ => None,
        }
    }

    pub(super) fn put(&self, environment_id: i64, generation: u64, dora: Dora) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, (g, _)| *g == generation);
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert((environment_id, dora.to - dora.from), (generation, dora));
    }
}
