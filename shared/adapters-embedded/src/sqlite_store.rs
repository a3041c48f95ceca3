//! The item store on SQLite: one table keyed like DynamoDB, a partial index
//! for `Gsi1`, and TTL honoured on every read and condition.

use std::path::Path;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params_from_iter};
use serde_json::Value;

use super::now_secs;
use super::sqlite::Db;
use shared::ports::item_store::{
    self, Attrs, EXPIRES_AT, GSI1PK, GSI1SK, Index, ItemStore, Key, MAX_GET_MANY, Page, Query,
    SortKey, StoreError, Write, apply_changes, condition_holds,
};

#[derive(Clone)]
pub struct SqliteStore {
    db: Db,
}

fn sql_err(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Unavailable("database is busy".into())
        }
        other => StoreError::Internal(other.to_string()),
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    expires_at INTEGER,
    doc TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk)
    WHERE gsi1pk IS NOT NULL AND gsi1sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_ttl ON items (expires_at) WHERE expires_at IS NOT NULL;
";

impl SqliteStore {
    /// Opens (creating when needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteStore {
            db: Db::open(path, SCHEMA)
                .and_then(|db| db.with_reader(path))
                .map_err(sql_err)?,
        })
    }

    /// Physically removes expired items (DynamoDB's TTL sweeper does the same
    /// on AWS); reads already ignore them. Returns how many were removed.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = now_secs();
        self.db
            .run(move |conn| {
                conn.execute(
                    "DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                    [now],
                )
                .map_err(sql_err)
            })
            .await
    }
}

/// How many point reads a `get_many` does on the calling thread (each a
/// few microseconds); longer batches go to the blocking pool.
const INLINE_READS: usize = 8;

fn load(conn: &Connection, key: &Key, now: i64) -> Result<Option<Attrs>, StoreError> {
    // Cached statements: preparing costs more than a point read itself.
    let row: Option<(String, Option<i64>)> = conn
        .prepare_cached("SELECT doc, expires_at FROM items WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut stmt| {
            stmt.query_row([&key.pk, &key.sk], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sql_err)?;
    match row {
        Some((_, Some(t))) if t <= now => Ok(None),
        Some((doc, _)) => serde_json::from_str(&doc)
            .map(Some)
            .map_err(|e| StoreError::Internal(e.to_string())),
        None => Ok(None),
    }
}

fn string_attr(item: &Attrs, attr: &str) -> Result<Option<String>, StoreError> {
    match item.get(attr) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(StoreError::Internal(format!(
            "attribute {attr} must be a string"
        ))),
    }
}

fn store(conn: &Connection, item: &Attrs) -> Result<(), StoreError> {
    let key = Key::of(item).ok_or_else(|| StoreError::Internal("item without pk/sk".into()))?;
    let expires_at = match item.get(EXPIRES_AT) {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| StoreError::Internal("expires_at must be an integer".into()))?,
        ),
    };
    let doc = serde_json::to_string(item).map_err(|e| StoreError::Internal(e.to_string()))?;
    let (gsi1pk, gsi1sk) = (string_attr(item, GSI1PK)?, string_attr(item, GSI1SK)?);
    conn.prepare_cached(
        "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, expires_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(rusqlite::params![key.pk, key.sk, gsi1pk, gsi1sk, expires_at, doc])
    })
    .map_err(sql_err)?;
    Ok(())
}

fn remove(conn: &Connection, key: &Key) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut stmt| stmt.execute([&key.pk, &key.sk]))
        .map_err(sql_err)?;
    Ok(())
}

/// Checks one write's condition against the current state; `Ok(false)` when it fails.
fn check(conn: &Connection, write: &Write, now: i64) -> Result<(Option<Attrs>, bool), StoreError> {
    let key = write
        .key()
        .ok_or_else(|| StoreError::Internal("item without pk/sk".into()))?;
    let current = load(conn, &key, now)?;
    let condition = match write {
        Write::Put { condition, .. }
        | Write::Update { condition, .. }
        | Write::Delete { condition, .. } => condition.as_ref(),
        Write::Check { condition, .. } => Some(condition),
    };
    let holds = condition.is_none_or(|c| condition_holds(c, current.as_ref()));
    Ok((current, holds))
}

/// Applies one write whose condition held; returns the item the caller sees.
fn apply(
    conn: &Connection,
    write: Write,
    current: Option<Attrs>,
) -> Result<Option<Attrs>, StoreError> {
    match write {
        Write::Put { item, .. } => {
            store(conn, &item)?;
            Ok(Some(item))
        }
        Write::Update { key, changes, .. } => {
            let mut item = current.unwrap_or_default();
            item.insert(item_store::PK.into(), Value::String(key.pk.clone()));
            item.insert(item_store::SK.into(), Value::String(key.sk.clone()));
            apply_changes(&mut item, &changes)?;
            store(conn, &item)?;
            Ok(Some(item))
        }
        Write::Delete { key, .. } => {
            remove(conn, &key)?;
            Ok(current)
        }
        Write::Check { .. } => Ok(None),
    }
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn get(&self, key: &Key) -> Result<Option<Attrs>, StoreError> {
        let key = key.clone();
        self.db.read(move |conn| load(conn, &key, now_secs())).await
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Attrs>>, StoreError> {
        if keys.len() > MAX_GET_MANY {
            return Err(StoreError::Internal(format!(
                "get_many takes at most {MAX_GET_MANY} keys"
            )));
        }
        let inline = keys.len() <= INLINE_READS;
        let keys = keys.to_vec();
        let read = move |conn: &Connection| {
            let now = now_secs();
            keys.iter().map(|key| load(conn, key, now)).collect()
        };
        // A few keys read on this thread; a long batch on the blocking pool.
        if inline {
            self.db.read(read).await
        } else {
            self.db.run(move |conn| read(conn)).await
        }
    }

    async fn write(&self, write: Write) -> Result<Option<Attrs>, StoreError> {
        self.db
            .run(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sql_err)?;
                let (current, holds) = check(&tx, &write, now_secs())?;
                if !holds {
                    return Err(StoreError::ConditionFailed);
                }
                let result = apply(&tx, write, current)?;
                tx.commit().map_err(sql_err)?;
                Ok(result)
            })
            .await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() || writes.len() > 100 {
            return Err(StoreError::Internal(
                "a transaction holds 1 to 100 writes".into(),
            ));
        }
        let mut keys = std::collections::HashSet::new();
        for w in &writes {
            let key = w
                .key()
                .ok_or_else(|| StoreError::Internal("item without pk/sk".into()))?;
            if !keys.insert(key) {
                return Err(StoreError::Internal(
                    "a transaction writes each key once".into(),
                ));
            }
        }
        self.db
            .run(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sql_err)?;
                let now = now_secs();
                // Like DynamoDB: every condition is checked against the state
                // before the transaction, and one failure cancels all writes.
                let mut checked = Vec::with_capacity(writes.len());
                let mut failed = Vec::new();
                for (i, w) in writes.iter().enumerate() {
                    let (current, holds) = check(&tx, w, now)?;
                    if !holds {
                        failed.push(i);
                    }
                    checked.push(current);
                }
                if !failed.is_empty() {
                    return Err(StoreError::TransactionCanceled { failed });
                }
                for (w, current) in writes.into_iter().zip(checked) {
                    apply(&tx, w, current)?;
                }
                tx.commit().map_err(sql_err)
            })
            .await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        if !(1..=1000).contains(&query.limit) {
            return Err(StoreError::Internal("query limit must be 1..=1000".into()));
        }
        let after = query
            .cursor
            .as_deref()
            .map(|c| item_store::decode_cursor(c, &query))
            .transpose()?;
        self.db
            .run(move |conn| {
                let (pcol, scol) = match query.index {
                    Index::Primary => ("pk", "sk"),
                    Index::Gsi1 => ("gsi1pk", "gsi1sk"),
                };
                let dir = if query.descending { "DESC" } else { "ASC" };
                let mut sql =
                    format!("SELECT doc FROM items WHERE {pcol} = ? AND {scol} IS NOT NULL");
                let mut args: Vec<rusqlite::types::Value> = vec![query.pk.clone().into()];
                match &query.sk {
                    SortKey::Any => {}
                    SortKey::BeginsWith(prefix) => {
                        // Binary collation compares UTF-8 bytes, as DynamoDB does.
                        // The range lets SQLite seek the index to the prefix
                        // and stop after it (a `substr` test alone scans the
                        // whole partition); U+10FFFF is the largest character,
                        // so every key starting with the prefix sorts below
                        // prefix + U+10FFFF (but for keys continuing with that
                        // noncharacter itself). `substr` keeps the test exact.
                        sql.push_str(&format!(
                            " AND {scol} >= ? AND {scol} < ? AND substr({scol}, 1, length(?)) = ?"
                        ));
                        args.push(prefix.clone().into());
                        args.push(format!("{prefix}\u{10FFFF}").into());
                        args.push(prefix.clone().into());
                        args.push(prefix.clone().into());
                    }
                    SortKey::Between(lo, hi) => {
                        sql.push_str(&format!(" AND {scol} >= ? AND {scol} <= ?"));
                        args.push(lo.clone().into());
                        args.push(hi.clone().into());
                    }
                    SortKey::GreaterThan(v) => {
                        sql.push_str(&format!(" AND {scol} > ?"));
                        args.push(v.clone().into());
                    }
                    SortKey::LessThan(v) => {
                        sql.push_str(&format!(" AND {scol} < ?"));
                        args.push(v.clone().into());
                    }
                }
                let cmp = if query.descending { "<" } else { ">" };
                if let Some(after) = &after {
                    let s = |a: &str| {
                        after
                            .get(a)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    };
                    match query.index {
                        Index::Primary => {
                            sql.push_str(&format!(" AND sk {cmp} ?"));
                            args.push(s("sk").into());
                        }
                        Index::Gsi1 => {
                            sql.push_str(&format!(" AND (gsi1sk, pk, sk) {cmp} (?, ?, ?)"));
                            args.push(s(GSI1SK).into());
                            args.push(s("pk").into());
                            args.push(s("sk").into());
                        }
                    }
                }
                sql.push_str(" AND (expires_at IS NULL OR expires_at > ?)");
                args.push(now_secs().into());
                match query.index {
                    Index::Primary => sql.push_str(&format!(" ORDER BY sk {dir}")),
                    Index::Gsi1 => {
                        sql.push_str(&format!(" ORDER BY gsi1sk {dir}, pk {dir}, sk {dir}"))
                    }
                }
                sql.push_str(" LIMIT ?");
                args.push(i64::from(query.limit + 1).into());

                let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
                let docs = stmt
                    .query_map(params_from_iter(args), |r| r.get::<_, String>(0))
                    .map_err(sql_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                let items = docs
                    .iter()
                    .map(|d| serde_json::from_str::<Attrs>(d))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                Ok(Page::from_overfetch(items, &query))
            })
            .await
    }

    async fn scan(&self, cursor: Option<String>) -> Result<Page, StoreError> {
        let after = cursor
            .as_deref()
            .map(item_store::decode_scan_cursor)
            .transpose()?;
        self.db
            .run(move |conn| {
                let (pk, sk) = after
                    .map(|k| (k.pk, k.sk))
                    .unwrap_or_else(|| (String::new(), String::new()));
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT doc FROM items WHERE (pk, sk) > (?, ?) \
                         AND (expires_at IS NULL OR expires_at > ?) ORDER BY pk, sk LIMIT 1001",
                    )
                    .map_err(sql_err)?;
                let docs = stmt
                    .query_map(rusqlite::params![pk, sk, now_secs()], |r| {
                        r.get::<_, String>(0)
                    })
                    .map_err(sql_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                let mut items = docs
                    .iter()
                    .map(|d| serde_json::from_str::<Attrs>(d))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                let more = items.len() > 1000;
                items.truncate(1000);
                let cursor = match (more, items.last()) {
                    (true, Some(last)) => Some(item_store::encode_scan_cursor(last)),
                    _ => None,
                };
                Ok(Page { items, cursor })
            })
            .await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.db
            .run(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(sql_err))
            .await
    }
}
