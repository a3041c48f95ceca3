//! The item store port, with DynamoDB's semantics so that one domain layer
//! runs unchanged on SQLite and on DynamoDB.
//!
//! An item is a JSON object. Reserved attributes:
//! - `pk`, `sk` (strings): the primary key;
//! - `gsi1pk`, `gsi1sk` (strings, optional): the key of the secondary index `Gsi1`;
//! - `expires_at` (number, epoch seconds, optional): TTL. An expired item is
//!   treated as absent by every read *and* every condition, on both adapters,
//!   even before the backend physically removes it.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// An item's attributes.
pub type Attrs = Map<String, Value>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
pub const EXPIRES_AT: &str = "expires_at";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key of an item (None when `pk`/`sk` are missing or not strings).
    pub fn of(item: &Attrs) -> Option<Key> {
        Some(Key::new(item.get(PK)?.as_str()?, item.get(SK)?.as_str()?))
    }
}

/// A condition on the current state of one item, checked atomically with the write.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// No live item has this key.
    NotExists,
    /// A live item has this key.
    Exists,
    /// The attribute exists and equals the value (e.g. optimistic `version`).
    Equals(String, Value),
    /// The numeric attribute exists and is at least this number (e.g. stock).
    AtLeast(String, i64),
    /// The numeric attribute is below this number; a missing attribute (or
    /// item) counts as 0 (e.g. "fewer than the limit so far").
    Below(String, i64),
    /// All of these hold.
    All(Vec<Condition>),
}

/// One change of an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Set(String, Value),
    Remove(String),
    /// Adds to a numeric attribute (a missing attribute counts as 0).
    Add(String, i64),
}

/// One write, alone or inside a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Replaces the whole item.
    Put {
        item: Attrs,
        condition: Option<Condition>,
    },
    /// Changes some attributes, creating the item when missing (like
    /// DynamoDB's UpdateItem) unless the condition forbids it.
    Update {
        key: Key,
        changes: Vec<Change>,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Writes nothing; only checks (inside transactions).
    Check { key: Key, condition: Condition },
}

impl Write {
    pub fn key(&self) -> Option<Key> {
        match self {
            Write::Put { item, .. } => Key::of(item),
            Write::Update { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => {
                Some(key.clone())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// The table's own key (`pk`, `sk`).
    Primary,
    /// The secondary index (`gsi1pk`, `gsi1sk`). Eventually consistent on DynamoDB.
    Gsi1,
}

/// The sort-key condition of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Any,
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
    GreaterThan(String),
    LessThan(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk: SortKey,
    /// At most this many items (1..=1000).
    pub limit: u32,
    /// The opaque cursor of the previous page.
    pub cursor: Option<String>,
    /// Sort-key order, descending when true.
    pub descending: bool,
}

impl Query {
    pub fn new(index: Index, pk: impl Into<String>) -> Self {
        Query {
            index,
            pk: pk.into(),
            sk: SortKey::Any,
            limit: 100,
            cursor: None,
            descending: false,
        }
    }
    pub fn sk(mut self, sk: SortKey) -> Self {
        self.sk = sk;
        self
    }
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
    pub fn cursor(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }
    pub fn partition_attr(&self) -> &'static str {
        match self.index {
            Index::Primary => PK,
            Index::Gsi1 => GSI1PK,
        }
    }
    pub fn sort_attr(&self) -> &'static str {
        match self.index {
            Index::Primary => SK,
            Index::Gsi1 => GSI1SK,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Attrs>,
    /// Present when more items may follow; pass it back as `Query::cursor`.
    pub cursor: Option<String>,
}

impl Page {
    /// Adapters fetch `limit + 1` items: the extra one only tells that more
    /// follow, so the cursor is present exactly when another page exists.
    pub fn from_overfetch(mut items: Vec<Attrs>, query: &Query) -> Page {
        let more = items.len() > query.limit as usize;
        items.truncate(query.limit as usize);
        let cursor = match (more, items.last()) {
            (true, Some(last)) => Some(encode_cursor(last, query)),
            _ => None,
        };
        Page { items, cursor }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A single write's condition did not hold.
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction wrote nothing; `failed` lists the indexes of the writes
    /// whose conditions did not hold (empty when it failed for another reason,
    /// such as a concurrent transaction on the same items).
    #[error("transaction canceled (failed: {failed:?})")]
    TransactionCanceled { failed: Vec<usize> },
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Internal(String),
}

/// The most keys one [`ItemStore::get_many`] takes (DynamoDB's batch limit).
pub const MAX_GET_MANY: usize = 100;

#[async_trait]
pub trait ItemStore: Send + Sync {
    /// A strongly consistent read of one live item.
    async fn get(&self, key: &Key) -> Result<Option<Attrs>, StoreError>;
    /// One conditional write. For `Update` returns the item after the update;
    /// for `Delete` the item before it (if any); for `Put` the item written.
    async fn write(&self, write: Write) -> Result<Option<Attrs>, StoreError>;
    /// Several items by key in one call (one DynamoDB `BatchGetItem`, one
    /// SQLite round on the blocking pool), each strongly consistent, in the
    /// order of `keys`; at most [`MAX_GET_MANY`] keys. The authorizer reads a
    /// token's user and session this way: one store round per request.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Attrs>>, StoreError>;
    /// All writes or none (at most 100 writes, each on a distinct key).
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    /// One page of items of a partition, in sort-key order.
    async fn query(&self, query: Query) -> Result<Page, StoreError>;
    /// One page (at most 1000) of the table's live items, in no promised
    /// order; `cursor` is the previous page's. A page may be short, even
    /// empty, while a cursor says more follow. For maintenance and the fault
    /// suite's invariant checks, never for a request path: it reads the
    /// whole table.
    async fn scan(&self, cursor: Option<String>) -> Result<Page, StoreError>;
    /// Cheap liveness check for `/health`.
    async fn health(&self) -> Result<(), StoreError>;
}

/// Helpers every caller uses, written once over `write`.
impl dyn ItemStore + '_ {
    pub async fn put(&self, item: Attrs, condition: Option<Condition>) -> Result<(), StoreError> {
        self.write(Write::Put { item, condition }).await.map(|_| ())
    }
    pub async fn update(
        &self,
        key: Key,
        changes: Vec<Change>,
        condition: Option<Condition>,
    ) -> Result<Attrs, StoreError> {
        self.write(Write::Update {
            key,
            changes,
            condition,
        })
        .await
        .map(|item| item.unwrap_or_default())
    }
    /// Deletes every item a query finds, page by page (for account
    /// deletion); unconditional, so it is safe to repeat. Pages follow the
    /// cursor rather than re-querying from the start: a secondary index is
    /// eventually consistent on DynamoDB and may list items already deleted
    /// for a while, which a restart from the top would find (and delete)
    /// again and again.
    pub async fn delete_all(&self, query: Query) -> Result<(), StoreError> {
        let mut cursor = None;
        loop {
            let page = self.query(query.clone().limit(100).cursor(cursor)).await?;
            for item in page.items {
                if let Some(key) = Key::of(&item) {
                    self.write(Write::Delete {
                        key,
                        condition: None,
                    })
                    .await?;
                }
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(()),
            }
        }
    }

    /// One conditional write, with `extra` writes in the same transaction
    /// when there are any (an outbox record, an audit entry). Either way a
    /// failed condition of `first` is `ConditionFailed`; an `extra` write's
    /// is `TransactionCanceled`.
    pub async fn write_with(&self, first: Write, extra: Vec<Write>) -> Result<(), StoreError> {
        if extra.is_empty() {
            return self.write(first).await.map(|_| ());
        }
        let mut writes = vec![first];
        writes.extend(extra);
        match self.transact(writes).await {
            Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
                Err(StoreError::ConditionFailed)
            }
            other => other,
        }
    }

    /// Every live item of the table, page after page (see [`ItemStore::scan`]).
    pub async fn scan_all(&self) -> Result<Vec<Attrs>, StoreError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.scan(cursor).await?;
            all.extend(page.items);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    pub async fn delete(
        &self,
        key: Key,
        condition: Option<Condition>,
    ) -> Result<Option<Attrs>, StoreError> {
        self.write(Write::Delete { key, condition }).await
    }
}

/// True when the item carries an `expires_at` at or before `now`.
pub fn is_expired(item: &Attrs, now: i64) -> bool {
    item.get(EXPIRES_AT)
        .and_then(Value::as_i64)
        .is_some_and(|t| t <= now)
}

/// Evaluates a condition against the current live item (None when absent).
/// The embedded adapter uses it; the DynamoDB adapter translates conditions
/// into condition expressions with the same meaning.
pub fn condition_holds(condition: &Condition, current: Option<&Attrs>) -> bool {
    match condition {
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::Equals(attr, value) => current.and_then(|i| i.get(attr)) == Some(value),
        Condition::AtLeast(attr, n) => current
            .and_then(|i| i.get(attr))
            .and_then(Value::as_f64)
            .is_some_and(|v| v >= *n as f64),
        Condition::Below(attr, n) => {
            let value = current.and_then(|i| i.get(attr));
            match value {
                None => 0 < *n,
                Some(v) => v.as_f64().is_some_and(|v| v < *n as f64),
            }
        }
        Condition::All(all) => all.iter().all(|c| condition_holds(c, current)),
    }
}

/// Applies update changes to an item (the embedded adapter's UpdateItem).
pub fn apply_changes(item: &mut Attrs, changes: &[Change]) -> Result<(), StoreError> {
    for change in changes {
        match change {
            Change::Set(attr, value) => {
                item.insert(attr.clone(), value.clone());
            }
            Change::Remove(attr) => {
                item.remove(attr);
            }
            Change::Add(attr, n) => {
                let current = match item.get(attr) {
                    None => 0,
                    Some(v) => v.as_i64().ok_or_else(|| {
                        StoreError::Internal(format!("cannot add to non-integer attribute {attr}"))
                    })?,
                };
                item.insert(attr.clone(), Value::from(current + n));
            }
        }
    }
    Ok(())
}

/// The cursor is the last evaluated key (table key plus index key), as
/// base64url JSON: the same shape on both adapters.
pub fn encode_cursor(last: &Attrs, query: &Query) -> String {
    let mut key = Attrs::new();
    for attr in [PK, SK, query.partition_attr(), query.sort_attr()] {
        if let Some(v) = last.get(attr) {
            key.insert(attr.to_owned(), v.clone());
        }
    }
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&key).unwrap_or_default())
}

/// A scan's cursor: the last item's table key, as base64url JSON.
pub fn encode_scan_cursor(last: &Attrs) -> String {
    let key = serde_json::json!({PK: last.get(PK), SK: last.get(SK)});
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&key).unwrap_or_default())
}

/// The table key a scan cursor names.
pub fn decode_scan_cursor(cursor: &str) -> Result<Key, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let key: Attrs = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    Key::of(&key).ok_or(StoreError::InvalidCursor)
}

/// Decodes a cursor and checks it belongs to this query's partition, so a
/// tampered cursor cannot read another partition.
pub fn decode_cursor(cursor: &str, query: &Query) -> Result<Attrs, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let key: Attrs = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let all_strings = [PK, SK, query.partition_attr(), query.sort_attr()]
        .iter()
        .all(|a| key.get(*a).is_some_and(Value::is_string));
    let same_partition = key.get(query.partition_attr()).and_then(Value::as_str) == Some(&query.pk);
    if !all_strings || !same_partition {
        return Err(StoreError::InvalidCursor);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Attrs {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn conditions_mean_what_they_say() {
        let item = obj(json!({"pk": "a", "sk": "b", "version": 3, "stock": 2}));
        assert!(condition_holds(&Condition::NotExists, None));
        assert!(!condition_holds(&Condition::NotExists, Some(&item)));
        assert!(condition_holds(
            &Condition::Equals("version".into(), json!(3)),
            Some(&item)
        ));
        assert!(!condition_holds(
            &Condition::Equals("version".into(), json!(2)),
            Some(&item)
        ));
        assert!(condition_holds(
            &Condition::AtLeast("stock".into(), 2),
            Some(&item)
        ));
        assert!(!condition_holds(
            &Condition::AtLeast("stock".into(), 3),
            Some(&item)
        ));
        assert!(!condition_holds(
            &Condition::AtLeast("missing".into(), 0),
            Some(&item)
        ));
    }

    /// An index that still lists what was deleted (DynamoDB's GSIs lag).
    struct LaggingIndex {
        listed: Vec<Attrs>,
        deletes: std::sync::Mutex<Vec<Key>>,
    }

    #[async_trait]
    impl ItemStore for LaggingIndex {
        async fn get(&self, _: &Key) -> Result<Option<Attrs>, StoreError> {
            Ok(None)
        }
        async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Attrs>>, StoreError> {
            Ok(vec![None; keys.len()])
        }
        async fn write(&self, write: Write) -> Result<Option<Attrs>, StoreError> {
            self.deletes.lock().unwrap().push(write.key().unwrap());
            Ok(None)
        }
        async fn transact(&self, _: Vec<Write>) -> Result<(), StoreError> {
            Ok(())
        }
        async fn query(&self, query: Query) -> Result<Page, StoreError> {
            let after = query
                .cursor
                .as_deref()
                .map(|c| decode_cursor(c, &query))
                .transpose()?
                .and_then(|k| k.get(SK).and_then(Value::as_str).map(str::to_owned));
            let items: Vec<Attrs> = self
                .listed
                .iter()
                .filter(|i| after.as_deref().is_none_or(|a| i[SK].as_str().unwrap() > a))
                .take(query.limit as usize + 1)
                .cloned()
                .collect();
            Ok(Page::from_overfetch(items, &query))
        }
        async fn scan(&self, _: Option<String>) -> Result<Page, StoreError> {
            Ok(Page::default())
        }
        async fn health(&self) -> Result<(), StoreError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn delete_all_deletes_each_item_once_while_the_index_lags() {
        let listed: Vec<Attrs> = (0..250)
            .map(|i| {
                obj(json!({"pk": format!("P#{i:03}"), "sk": format!("S#{i:03}"),
                    "gsi1pk": "ALL", "gsi1sk": format!("S#{i:03}")}))
            })
            .collect();
        let lagging = LaggingIndex {
            listed,
            deletes: Default::default(),
        };
        let store: &dyn ItemStore = &lagging;
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            store.delete_all(Query::new(Index::Gsi1, "ALL")),
        )
        .await
        .expect("delete_all ends")
        .unwrap();
        let deletes = lagging.deletes.lock().unwrap();
        assert_eq!(deletes.len(), 250, "each listed item deleted exactly once");
        assert_eq!(deletes[249], Key::new("P#249", "S#249"));
    }

    #[test]
    fn cursor_is_bound_to_its_partition() {
        let q = Query::new(Index::Primary, "USER#1");
        let c = encode_cursor(&obj(json!({"pk": "USER#1", "sk": "TASK#9", "x": 1})), &q);
        assert!(decode_cursor(&c, &q).is_ok());
        assert_eq!(
            decode_cursor(&c, &Query::new(Index::Primary, "USER#2")),
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(decode_cursor("!!!", &q), Err(StoreError::InvalidCursor));
    }
}
