//! The event queue on SQLite, with SQS's visibility-timeout, receive-count
//! and dead-letter behaviour so the consumer is exercised locally exactly as
//! on AWS.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::TransactionBehavior;

use super::sqlite::Db;
use shared::ports::queue::{Queue, QueueError, Received};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    sent_at_ms INTEGER NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    dead INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_visible ON queue_messages (dead, visible_at_ms, sent_at_ms);
CREATE UNIQUE INDEX IF NOT EXISTS queue_receipt ON queue_messages (receipt) WHERE receipt IS NOT NULL;
";

#[derive(Clone)]
pub struct SqliteQueue {
    db: Db,
    max_receives: u32,
}

fn sql_err(e: rusqlite::Error) -> QueueError {
    QueueError::Internal(e.to_string())
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl SqliteQueue {
    /// Opens the queue at `path`; a message received more than
    /// `max_receives` times goes to the dead-letter queue (SQS's `maxReceiveCount`).
    pub fn open(path: &Path, max_receives: u32) -> Result<Self, QueueError> {
        Ok(SqliteQueue {
            db: Db::open(path, SCHEMA).map_err(sql_err)?,
            max_receives,
        })
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        let id = uuid::Uuid::new_v4().to_string();
        let (id2, body) = (id.clone(), body.to_owned());
        self.db
            .run(move |conn| {
                let now = now_ms();
                conn.execute(
                    "INSERT INTO queue_messages (id, body, sent_at_ms, visible_at_ms) VALUES (?1, ?2, ?3, ?3)",
                    rusqlite::params![id2, body, now],
                )
                .map_err(sql_err)
            })
            .await?;
        Ok(id)
    }

    async fn receive(&self, max: u32, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        let max = max.clamp(1, 10);
        let max_receives = self.max_receives;
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql_err)?;
                let now = now_ms();
                // A visible message already received `max_receives` times would
                // be received once too often: SQS moves it to the DLQ instead.
                tx.execute(
                    "UPDATE queue_messages SET dead = 1, receipt = NULL
                     WHERE dead = 0 AND visible_at_ms <= ?1 AND receive_count >= ?2",
                    rusqlite::params![now, max_receives],
                )
                .map_err(sql_err)?;
                let picked: Vec<(String, String, u32)> = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT id, body, receive_count FROM queue_messages
                             WHERE dead = 0 AND visible_at_ms <= ?1 ORDER BY sent_at_ms LIMIT ?2",
                        )
                        .map_err(sql_err)?;
                    stmt.query_map(rusqlite::params![now, max], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .map_err(sql_err)?
                        .collect::<Result<_, _>>()
                        .map_err(sql_err)?
                };
                let visible_at = now + visibility.as_millis() as i64;
                let mut out = Vec::with_capacity(picked.len());
                for (id, body, count) in picked {
                    let receipt = uuid::Uuid::new_v4().to_string();
                    tx.execute(
                        "UPDATE queue_messages SET receipt = ?1, receive_count = ?2, visible_at_ms = ?3 WHERE id = ?4",
                        rusqlite::params![receipt, count + 1, visible_at, id],
                    )
                    .map_err(sql_err)?;
                    out.push(Received { message_id: id, receipt, body, receive_count: count + 1 });
                }
                tx.commit().map_err(sql_err)?;
                Ok(out)
            })
            .await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        self.db
            .run(move |conn| {
                conn.execute("DELETE FROM queue_messages WHERE receipt = ?1", [receipt])
                    .map_err(sql_err)
            })
            .await
            .map(|_| ())
    }

    async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        self.db
            .run(move |conn| {
                conn.execute(
                    "UPDATE queue_messages SET visible_at_ms = ?1 WHERE receipt = ?2 AND dead = 0",
                    rusqlite::params![now_ms() + visibility.as_millis() as i64, receipt],
                )
                .map_err(sql_err)
            })
            .await
            .map(|_| ())
    }

    async fn redrive_dead_letters(&self) -> Result<u32, QueueError> {
        self.db
            .run(|conn| {
                conn.execute(
                    "UPDATE queue_messages SET dead = 0, receive_count = 0, receipt = NULL, visible_at_ms = ?1
                     WHERE dead = 1",
                    [now_ms()],
                )
                .map(|n| n as u32)
                .map_err(sql_err)
            })
            .await
    }

    async fn dead_letter_count(&self) -> Result<u32, QueueError> {
        self.db
            .run(|conn| {
                conn.query_row(
                    "SELECT count(*) FROM queue_messages WHERE dead = 1",
                    [],
                    |r| r.get(0),
                )
                .map_err(sql_err)
            })
            .await
    }

    async fn health(&self) -> Result<(), QueueError> {
        self.db
            .run(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(sql_err))
            .await
    }
}
