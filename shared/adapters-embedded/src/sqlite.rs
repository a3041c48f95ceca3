//! The SQLite connections of a process's adapters: one for writes and
//! queries, one for point reads.

use std::path::Path;
use std::sync::{Arc, Mutex, TryLockError};

use rusqlite::{Connection, OpenFlags};

/// The error a port answers when the blocking task running its SQL failed
/// (it panicked or the runtime is shutting down).
pub(crate) trait TaskFailed {
    fn task_failed(why: String) -> Self;
}

impl TaskFailed for shared::ports::StoreError {
    fn task_failed(why: String) -> Self {
        shared::ports::StoreError::Internal(why)
    }
}

impl TaskFailed for shared::ports::QueueError {
    fn task_failed(why: String) -> Self {
        shared::ports::QueueError::Internal(why)
    }
}

/// A connection behind a mutex whose calls run on the blocking pool, so a
/// busy database never stalls the async runtime; and, for the store, a
/// read-only connection for point reads by key ([`Db::read`]).
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
    reader: Option<Arc<Mutex<Connection>>>,
}

impl Db {
    /// Opens the database and applies `schema` (idempotent DDL).
    pub(crate) fn open(path: &Path, schema: &str) -> rusqlite::Result<Self> {
        if let Some(dir) = path.parent() {
            // A failure here surfaces as the open error just below.
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path)?;
        // WAL lets several processes (cargo lambda watch, the local server,
        // tests) read while one writes; the busy timeout makes writers queue
        // instead of failing.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(schema)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            reader: None,
        })
    }

    /// The same database with a read-only connection for [`Db::read`]
    /// (the store's point reads; the queue has none and opens none).
    pub(crate) fn with_reader(mut self, path: &Path) -> rusqlite::Result<Self> {
        // WAL readers never wait for the writer (they read the last
        // committed snapshot), so a point read on this connection is a few
        // microseconds of CPU whatever the writer is doing.
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(std::time::Duration::from_secs(10))?;
        self.reader = Some(Arc::new(Mutex::new(reader)));
        Ok(self)
    }

    /// Runs a point read (`f` reads rows by primary key, nothing else) on
    /// the read connection, on this thread when that connection is free:
    /// handing a ~5 µs read to the blocking pool and back costs more than
    /// the read (the authorizer's store round was 22 µs that way). When
    /// another read holds it, this one queues on the blocking pool instead
    /// of waiting here.
    pub(crate) async fn read<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: Send + 'static + TaskFailed,
    {
        // Without a read connection, the writer's, on the blocking pool.
        let reader = self.reader.as_ref().unwrap_or(&self.conn);
        if self.reader.is_some() {
            match reader.try_lock() {
                Ok(guard) => return f(&guard),
                Err(TryLockError::Poisoned(poisoned)) => return f(&poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let reader = reader.clone();
        tokio::task::spawn_blocking(move || {
            let guard = reader
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&guard)
        })
        .await
        .map_err(|e| E::task_failed(format!("blocking task failed: {e}")))?
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn run<T, E>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: Send + 'static + TaskFailed,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| E::task_failed(format!("blocking task failed: {e}")))?
    }
}
