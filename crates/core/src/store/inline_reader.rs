//! Read-only connections used inline, on the calling thread, for the short
//! indexed reads that every dashboard and script polls (release history
//! pages). sqlx's SQLite driver runs each connection on a thread of its own
//! and sends every row across with a wake-up; for a page of 50 rows that
//! hand-off, not SQLite, was most of the request (`switchyard-bench
//! releases`: 3.4k req/s on deep pages, its worker threads mostly in futex
//! and malloc). Here a query is one call: no channel, no copy of each value.
//!
//! Only reads that an index answers in well under a millisecond belong
//! here, since they block the async worker that runs them.

use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A few read-only connections; a caller takes whichever is free.
pub struct InlineReader {
    connections: Vec<Mutex<Connection>>,
    /// Where a caller that found every connection busy queues next.
    next_queue: AtomicUsize,
}

impl std::fmt::Debug for InlineReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReader")
            .field("connections", &self.connections.len())
            .finish()
    }
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 32;

impl InlineReader {
    /// Opens `count` read-only connections on the database file (which the
    /// writer has created and migrated already).
    pub fn open(database: &Path, count: usize) -> rusqlite::Result<InlineReader> {
        let connections = (0..count.max(1))
            .map(|_| {
                let connection = Connection::open_with_flags(
                    database,
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?;
                connection.busy_timeout(Duration::from_secs(5))?;
                connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                // Pages come from the OS page cache by mapping rather than
                // by a read() per page.
                connection.pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
                Ok(Mutex::new(connection))
            })
            .collect::<rusqlite::Result<_>>()?;
        Ok(InlineReader {
            connections,
            next_queue: AtomicUsize::new(0),
        })
    }

    /// Runs `read` on a free connection (waiting for one if all are busy).
    pub fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        read(&self.connection())
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        for connection in &self.connections {
            if let Ok(guard) = connection.try_lock() {
                return guard;
            }
        }
        // All busy: queue on them in turn, so waiters do not pile up on one.
        let index = self.next_queue.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
