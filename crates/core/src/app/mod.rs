//! Use cases. Each public method checks who may do it, runs its writes in one
//! transaction together with the audit event that records them, and answers
//! in domain terms; the interface layer only translates.

pub mod approvals;
pub mod auth;
pub mod aws;
pub mod deployments;
pub mod diffs;
pub mod environments;
pub mod events;
pub mod freeze;
pub mod guards;
pub mod metric_gates;
pub mod migrations;
pub mod notifications;
pub mod pipelines;
pub mod pushes;
pub mod release_policies;
pub mod releases;
pub mod sessions;
pub mod slack;
pub mod stacks;
pub mod static_sites;
pub mod task_logs;
pub mod tracking;
pub mod users;
pub mod views;

use crate::store::Store;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use switchyard_domain::FieldError;
use switchyard_domain::user::Role;

pub use auth::Actor;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// Input that cannot be read at all, as opposed to a value that is
    /// wrong: a body that is not JSON, a header missing or unreadable, a
    /// path id that is not a number.
    #[error("{0}")]
    Malformed(FieldError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The environment is frozen: the message says until when and why.
    #[error("{0}")]
    Frozen(String),
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A request that is valid but not supported here (yet).
    #[error("{0}")]
    Unsupported(String),
    /// The cloud refused or failed a call.
    #[error("the cloud answered: {0}")]
    Upstream(String),
    /// The user's role allows the action, but this instance of it is not
    /// theirs to take (e.g. approving their own release).
    #[error("{0}")]
    Refused(String),
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
    cloud: OnceLock<CloudSettings>,
    /// Background work (stack operations) reports into the store; this
    /// client is shared by them.
    http: reqwest::Client,
    local_clients: tokio::sync::OnceCell<crate::cloud::Cloud>,
    aws_clients: aws::AwsClients,
    deployment_changes: tokio::sync::broadcast::Sender<deployments::DeploymentChanged>,
    run_changes: tokio::sync::broadcast::Sender<pipelines::RunChanged>,
    /// Wakes the notification sender when something is queued.
    notifications_queued: tokio::sync::Notify,
    /// The dashboard's address, for links in notifications.
    public_url: OnceLock<String>,
    /// Dashboard read models worth keeping between requests.
    view_cache: views::ViewCache,
    /// Deployments and runs for the tracker to follow.
    tracking: tracking::TrackingRequests,
}

/// Where `local` environments live and where stacks keep their files.
#[derive(Debug, Clone)]
pub struct CloudSettings {
    pub local_endpoint: String,
    pub data_dir: PathBuf,
    /// How `aws` environments reach AWS and run Terraform.
    pub aws: aws::AwsSettings,
    /// How many times faster than the wall clock deployment time passes in
    /// the local cloud, when known (the embedded one's `--time-scale`, or
    /// what a standalone one announced at start); `None` when a standalone
    /// one did not answer, and the scale is then estimated.
    pub time_scale: Option<f64>,
    /// Where `static:<dir>` images may come from.
    pub static_roots: static_sites::StaticRoots,
}

impl App {
    pub fn new(store: Store) -> App {
        App {
            store,
            tokens: auth::TokenCache::default(),
            generation: AtomicU64::new(0),
            cloud: OnceLock::new(),
            http: reqwest::Client::new(),
            local_clients: tokio::sync::OnceCell::new(),
            aws_clients: aws::AwsClients::default(),
            deployment_changes: tokio::sync::broadcast::channel(1024).0,
            run_changes: tokio::sync::broadcast::channel(1024).0,
            notifications_queued: tokio::sync::Notify::new(),
            public_url: OnceLock::new(),
            view_cache: views::ViewCache::default(),
            tracking: tracking::TrackingRequests::default(),
        }
    }

    /// Sets where the local cloud is; done once at start.
    pub fn set_cloud(&self, settings: CloudSettings) {
        let _ = self.cloud.set(settings);
    }

    /// Sets the address links in notifications point to; done once at start.
    pub fn set_public_url(&self, url: &str) {
        let _ = self.public_url.set(url.trim_end_matches('/').to_owned());
    }

    pub(crate) fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.get().map_or("", String::as_str))
    }

    /// `dir` of a `static:<dir>` image, if it is a site this server may
    /// serve (see `static_sites`).
    fn confine_static_site(&self, dir: &str) -> Result<PathBuf> {
        Ok(self.cloud_settings()?.static_roots.confine(dir)?)
    }

    fn cloud_settings(&self) -> Result<&CloudSettings> {
        self.cloud
            .get()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no local cloud is configured")))
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
