//! One SQLite connection shared by the adapters of a process.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// A connection behind a mutex; every call runs on the blocking pool so a
/// busy database never stalls the async runtime.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
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
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn run<T, E>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: Send + 'static + From<String>,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| E::from(format!("blocking task failed: {e}")))?
    }
}
