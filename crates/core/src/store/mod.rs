//! SQLite persistence: plain SQL through `sqlx::query_as` and `FromRow`,
//! one module per aggregate. Functions take any executor, so a use case can
//! run several of them inside one transaction.

pub mod approvals;
pub mod chat_identities;
pub mod deployments;
pub mod environments;
pub mod events;
pub mod guards;
pub mod inline_reader;
pub mod notifications;
pub mod pipeline_runs;
pub mod release_policies;
pub mod releases;
pub mod sessions;
pub mod stacks;
pub mod users;
pub mod views;
pub mod webhooks;

use inline_reader::InlineReader;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub type Tx = Transaction<'static, Sqlite>;

/// The database file inside a data dir.
pub const DATABASE_FILE: &str = "switchyard.db";

/// Two pools over one database file: many readers, and a single writer so
/// write transactions queue in the process instead of failing with
/// SQLITE_BUSY when two of them try to upgrade their locks at once.
#[derive(Clone, Debug)]
pub struct Store {
    read: SqlitePool,
    write: SqlitePool,
    /// For the hottest short reads, without sqlx's per-row thread hand-off.
    inline: Arc<InlineReader>,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and applies the
    /// migrations.
    pub async fn open(data_dir: &Path) -> anyhow::Result<Store> {
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(DATABASE_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        migrate(options.clone()).await?;
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        // Connections are local and cannot go stale: skip the ping sqlx
        // would otherwise send before every acquire (a whole round trip to
        // the connection's thread).
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        // A read holds its thread for the whole query, so one connection
        // per core serves as many reads as can run at once.
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let inline = Arc::new(InlineReader::open(&data_dir.join(DATABASE_FILE), cores)?);
        Ok(Store {
            read,
            write,
            inline,
        })
    }

    /// Connections for short indexed reads made on the calling thread.
    pub fn inline_reader(&self) -> &InlineReader {
        &self.inline
    }

    /// For queries; these connections cannot write.
    pub fn reader(&self) -> &SqlitePool {
        &self.read
    }

    /// Starts a write transaction. Writes go through one connection, so this
    /// waits for the one before it to finish.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.write.begin().await
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Applies the migrations on a connection of their own with foreign keys
/// off: SQLite rebuilds a table (0008) only so, and the setting cannot change
/// inside the transaction each migration runs in. Every foreign key is
/// checked afterwards, so a migration cannot leave one dangling.
async fn migrate(options: SqliteConnectOptions) -> anyhow::Result<()> {
    use sqlx::migrate::Migrate;
    // A pool of one rather than a bare connection: the migrator's future
    // over `&mut SqliteConnection` is not provably `Send`.
    let db = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.foreign_keys(false))
        .await?;
    let migrator = sqlx::migrate!("./migrations");
    let applied_before = {
        let mut connection = db.acquire().await?;
        connection.ensure_migrations_table().await?;
        connection.list_applied_migrations().await?.len()
    };
    migrator.run(&db).await?;
    // The check reads every row that has a foreign key: only after a
    // migration ran, not at every start.
    if applied_before < migrator.migrations.len() {
        check_foreign_keys(&db).await?;
    }
    db.close().await;
    Ok(())
}

/// Fails, naming the first, if any row's foreign key points nowhere.
async fn check_foreign_keys(db: &SqlitePool) -> anyhow::Result<()> {
    // (table, rowid, parent table, foreign key index) per dangling row.
    let dangling: Vec<(String, Option<i64>, String, i64)> =
        sqlx::query_as("PRAGMA foreign_key_check")
            .fetch_all(db)
            .await?;
    if let Some((table, _, parent, _)) = dangling.first() {
        anyhow::bail!(
            "the database has rows whose foreign keys point nowhere ({} of them, the first \
             in {table}, to {parent})",
            dangling.len()
        );
    }
    Ok(())
}

/// Milliseconds since the Unix epoch, the unit every timestamp column uses.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Whether an error is a UNIQUE constraint violation, i.e. a duplicate.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Keyset pagination: rows strictly older than `before` (an id), newest
/// first. Fetches one row more than asked so the caller knows whether a
/// next page exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub before: Option<i64>,
    pub limit: u32,
}

impl PageRequest {
    fn before_bound(self) -> i64 {
        self.before.unwrap_or(i64::MAX)
    }

    fn fetch_limit(self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of rows and the cursor of the next, if there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_before: Option<i64>,
}

impl<T> Page<T> {
    fn from_rows(mut rows: Vec<T>, request: PageRequest, id: impl Fn(&T) -> i64) -> Page<T> {
        let more = rows.len() > request.limit as usize;
        rows.truncate(request.limit as usize);
        let next_before = if more { rows.last().map(id) } else { None };
        Page {
            items: rows,
            next_before,
        }
    }
}
