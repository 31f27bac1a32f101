//! Use cases. Each public method checks who may do it, runs its writes in one
//! transaction together with the audit event that records them, and answers
//! in domain terms; the interface layer only translates.

pub mod auth;
pub mod environments;
pub mod events;
pub mod releases;
pub mod users;

use crate::domain::FieldError;
use crate::domain::user::Role;
use crate::store::Store;
use std::sync::atomic::{AtomicU64, Ordering};

pub use auth::Actor;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{action} needs the {needed} role; {user} is {has}")]
    Forbidden {
        action: &'static str,
        needed: Role,
        user: String,
        has: Role,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Internal(error.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The application: the store plus the in-memory state use cases share.
#[derive(Debug)]
pub struct App {
    store: Store,
    tokens: auth::TokenCache,
    /// Bumped after every committed change to environments or releases, so
    /// readers can tell whether something they computed earlier still holds.
    generation: AtomicU64,
}

impl App {
    pub fn new(store: Store) -> App {
        App {
            store,
            tokens: auth::TokenCache::default(),
            generation: AtomicU64::new(0),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Changes whenever any environment or release changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// The `detail` of an audit event: a JSON object.
fn detail(value: serde_json::Value) -> String {
    value.to_string()
}
