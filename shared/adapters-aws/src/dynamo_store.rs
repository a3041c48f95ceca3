//! The item store on DynamoDB. Conditions become condition expressions with
//! the same meaning as [`shared::ports::item_store::condition_holds`],
//! including TTL: an item past its `expires_at` counts as absent even before
//! DynamoDB's sweeper deletes it.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem,
    Update,
};
use serde_json::Value;

use super::classify;
use shared::files::now_secs;
use shared::ports::item_store::{
    self, Attrs, Change, Condition, EXPIRES_AT, Index, ItemStore, Key, MAX_GET_MANY, Page, Query,
    SortKey, StoreError, Write, is_expired,
};

/// The name of the secondary index (as in `template.yaml`).
pub const GSI1: &str = "gsi1";

type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn to_item(attrs: &Attrs) -> Result<Item, StoreError> {
    serde_dynamo::to_item(attrs).map_err(|e| StoreError::Internal(e.to_string()))
}

fn from_item(item: Item) -> Result<Attrs, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Internal(e.to_string()))
}

fn to_av(value: &Value) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::Internal(e.to_string()))
}

fn key_item(key: &Key) -> Item {
    HashMap::from([
        (item_store::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (item_store::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn sdk_err<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match classify(&e) {
        (true, m) => StoreError::Unavailable(m),
        (false, m) => StoreError::Internal(m),
    }
}

/// Builds condition and update expressions with numbered placeholders.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        if let Some((k, _)) = self.names.iter().find(|(_, v)| *v == attr) {
            return k.clone();
        }
        let k = format!("#n{}", self.names.len());
        self.names.insert(k.clone(), attr.to_owned());
        k
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let k = format!(":v{}", self.values.len());
        self.values.insert(k.clone(), v);
        k
    }

    /// "The item is live": no TTL, or a TTL in the future.
    fn live(&mut self, now: i64) -> String {
        let ttl = self.name(EXPIRES_AT);
        let now = self.value(AttributeValue::N(now.to_string()));
        format!("(attribute_not_exists({ttl}) OR {ttl} > {now})")
    }

    fn condition(&mut self, c: &Condition, now: i64) -> Result<String, StoreError> {
        Ok(match c {
            Condition::NotExists => {
                let pk = self.name(item_store::PK);
                let ttl = self.name(EXPIRES_AT);
                let now = self.value(AttributeValue::N(now.to_string()));
                format!("(attribute_not_exists({pk}) OR {ttl} <= {now})")
            }
            Condition::Exists => {
                let pk = self.name(item_store::PK);
                format!("(attribute_exists({pk}) AND {})", self.live(now))
            }
            Condition::Equals(attr, v) => {
                let a = self.name(attr);
                let v = self.value(to_av(v)?);
                format!("({a} = {v} AND {})", self.live(now))
            }
            Condition::AtLeast(attr, n) => {
                let a = self.name(attr);
                let v = self.value(AttributeValue::N(n.to_string()));
                format!("({a} >= {v} AND {})", self.live(now))
            }
            Condition::Below(attr, n) => {
                let a = self.name(attr);
                let v = self.value(AttributeValue::N(n.to_string()));
                if *n > 0 {
                    // Missing (or the whole item absent or expired) counts as 0.
                    let ttl = self.name(EXPIRES_AT);
                    let now = self.value(AttributeValue::N(now.to_string()));
                    format!("(attribute_not_exists({a}) OR {a} < {v} OR {ttl} <= {now})")
                } else {
                    format!("({a} < {v} AND {})", self.live(now))
                }
            }
            Condition::All(all) => {
                if all.is_empty() {
                    return Err(StoreError::Internal("empty condition list".into()));
                }
                let parts = all
                    .iter()
                    .map(|c| self.condition(c, now))
                    .collect::<Result<Vec<_>, _>>()?;
                // Every part is parenthesized already, and DynamoDB refuses
                // redundant parentheses: one part stands alone.
                match parts.as_slice() {
                    [one] => one.clone(),
                    _ => format!("({})", parts.join(" AND ")),
                }
            }
        })
    }

    fn update(&mut self, changes: &[Change]) -> Result<String, StoreError> {
        let (mut set, mut remove, mut add) = (Vec::new(), Vec::new(), Vec::new());
        for change in changes {
            match change {
                Change::Set(attr, v) => {
                    let (a, v) = (self.name(attr), self.value(to_av(v)?));
                    set.push(format!("{a} = {v}"));
                }
                Change::Remove(attr) => remove.push(self.name(attr)),
                Change::Add(attr, n) => {
                    let (a, v) = (
                        self.name(attr),
                        self.value(AttributeValue::N(n.to_string())),
                    );
                    add.push(format!("{a} {v}"));
                }
            }
        }
        let mut clauses = Vec::new();
        if !set.is_empty() {
            clauses.push(format!("SET {}", set.join(", ")));
        }
        if !remove.is_empty() {
            clauses.push(format!("REMOVE {}", remove.join(", ")));
        }
        if !add.is_empty() {
            clauses.push(format!("ADD {}", add.join(", ")));
        }
        if clauses.is_empty() {
            // UpdateItem needs an expression; setting the key to itself changes nothing.
            let pk = self.name(item_store::PK);
            clauses.push(format!("SET {pk} = {pk}"));
        }
        Ok(clauses.join(" "))
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn condition_of(w: &Write) -> Option<&Condition> {
    match w {
        Write::Put { condition, .. }
        | Write::Update { condition, .. }
        | Write::Delete { condition, .. } => condition.as_ref(),
        Write::Check { condition, .. } => Some(condition),
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    fn transact_item(&self, w: &Write, now: i64) -> Result<TransactWriteItem, StoreError> {
        let mut expr = Expr::default();
        let condition = condition_of(w)
            .map(|c| expr.condition(c, now))
            .transpose()?;
        let build_err =
            |e: aws_sdk_dynamodb::error::BuildError| StoreError::Internal(e.to_string());
        let item = match w {
            Write::Put { item, .. } => TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_item(item)?))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_err)?,
                )
                .build(),
            Write::Update { key, changes, .. } => {
                let update = expr.update(changes)?;
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(key_item(key)))
                            .update_expression(update)
                            .set_condition_expression(condition)
                            .set_expression_attribute_names(expr.names())
                            .set_expression_attribute_values(expr.values())
                            .build()
                            .map_err(build_err)?,
                    )
                    .build()
            }
            Write::Delete { key, .. } => TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_item(key)))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_err)?,
                )
                .build(),
            Write::Check { key, .. } => TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_item(key)))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_err)?,
                )
                .build(),
        };
        Ok(item)
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Attrs>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        match out.item {
            Some(item) => {
                let attrs = from_item(item)?;
                Ok((!is_expired(&attrs, now_secs())).then_some(attrs))
            }
            None => Ok(None),
        }
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Attrs>>, StoreError> {
        if keys.len() > MAX_GET_MANY {
            return Err(StoreError::Internal(format!(
                "get_many takes at most {MAX_GET_MANY} keys"
            )));
        }
        let mut unique: Vec<&Key> = Vec::with_capacity(keys.len());
        for key in keys {
            // BatchGetItem refuses a request naming one key twice.
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        let mut found: HashMap<Key, Attrs> = HashMap::new();
        let mut pending: Option<KeysAndAttributes> = if unique.is_empty() {
            None
        } else {
            Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(unique.iter().map(|k| key_item(k)).collect()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Internal(e.to_string()))?,
            )
        };
        // DynamoDB may leave keys unprocessed (throttling, the 16 MB answer
        // limit): ask again for those, backing off, a bounded number of times.
        let mut attempt = 0u32;
        while let Some(request) = pending.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(sdk_err)?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let attrs = from_item(item)?;
                if let Some(key) = Key::of(&attrs) {
                    found.insert(key, attrs);
                }
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
            if pending.is_some() {
                attempt += 1;
                if attempt > 5 {
                    return Err(StoreError::Unavailable(
                        "BatchGetItem left keys unprocessed after 5 retries".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
            }
        }
        let now = now_secs();
        Ok(keys
            .iter()
            .map(|key| {
                found
                    .get(key)
                    .filter(|attrs| !is_expired(attrs, now))
                    .cloned()
            })
            .collect())
    }

    async fn write(&self, write: Write) -> Result<Option<Attrs>, StoreError> {
        let now = now_secs();
        let mut expr = Expr::default();
        let condition = condition_of(&write)
            .map(|c| expr.condition(c, now))
            .transpose()?;
        let failed = |e: &dyn aws_sdk_dynamodb::error::ProvideErrorMetadata| {
            e.code() == Some("ConditionalCheckFailedException")
        };
        match write {
            Write::Put { item, .. } => {
                Key::of(&item).ok_or_else(|| StoreError::Internal("item without pk/sk".into()))?;
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(to_item(&item)?))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(Some(item)),
                    Err(e) if failed(&e) => Err(StoreError::ConditionFailed),
                    Err(e) => Err(sdk_err(e)),
                }
            }
            Write::Update { key, changes, .. } => {
                let update = expr.update(&changes)?;
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key_item(&key)))
                    .update_expression(update)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .return_values(ReturnValue::AllNew)
                    .send()
                    .await;
                match result {
                    Ok(out) => out.attributes.map(from_item).transpose(),
                    Err(e) if failed(&e) => Err(StoreError::ConditionFailed),
                    Err(e) => Err(sdk_err(e)),
                }
            }
            Write::Delete { key, .. } => {
                let result = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key_item(&key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .return_values(ReturnValue::AllOld)
                    .send()
                    .await;
                match result {
                    Ok(out) => Ok(out
                        .attributes
                        .map(from_item)
                        .transpose()?
                        .filter(|a| !is_expired(a, now))),
                    Err(e) if failed(&e) => Err(StoreError::ConditionFailed),
                    Err(e) => Err(sdk_err(e)),
                }
            }
            Write::Check { key, condition } => {
                let current = self.get(&key).await?;
                if item_store::condition_holds(&condition, current.as_ref()) {
                    Ok(None)
                } else {
                    Err(StoreError::ConditionFailed)
                }
            }
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() || writes.len() > 100 {
            return Err(StoreError::Internal(
                "a transaction holds 1 to 100 writes".into(),
            ));
        }
        let mut attempt = 0u32;
        loop {
            let now = now_secs();
            let items = writes
                .iter()
                .map(|w| self.transact_item(w, now))
                .collect::<Result<Vec<_>, _>>()?;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let reasons: Option<Vec<Option<String>>> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(tc)) => Some(
                    tc.cancellation_reasons()
                        .iter()
                        .map(|r| r.code().map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            };
            let Some(reasons) = reasons else {
                return Err(sdk_err(err));
            };
            let failed: Vec<usize> = reasons
                .iter()
                .enumerate()
                .filter(|(_, code)| code.as_deref() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect();
            let conflict = reasons
                .iter()
                .any(|c| c.as_deref() == Some("TransactionConflict"));
            // A conflict with a concurrent transaction says nothing about our
            // conditions: retry a few times so callers see the real outcome.
            if failed.is_empty() && conflict && attempt < 5 {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(
                    10 * u64::from(attempt) + fastrand_ms(),
                ))
                .await;
                continue;
            }
            return Err(StoreError::TransactionCanceled { failed });
        }
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        if !(1..=1000).contains(&query.limit) {
            return Err(StoreError::Internal("query limit must be 1..=1000".into()));
        }
        let mut start = match &query.cursor {
            Some(c) => Some(to_item(&item_store::decode_cursor(c, &query)?)?),
            None => None,
        };
        let want = query.limit as usize + 1;
        let mut items: Vec<Attrs> = Vec::with_capacity(want);
        loop {
            let now = now_secs();
            let mut expr = Expr::default();
            let p = expr.name(query.partition_attr());
            let pv = expr.value(AttributeValue::S(query.pk.clone()));
            let sort_condition = match &query.sk {
                SortKey::Any => None,
                SortKey::BeginsWith(prefix) => Some(("begins_with", vec![prefix.clone()])),
                SortKey::Between(lo, hi) => Some(("BETWEEN", vec![lo.clone(), hi.clone()])),
                SortKey::GreaterThan(v) => Some((">", vec![v.clone()])),
                SortKey::LessThan(v) => Some(("<", vec![v.clone()])),
            };
            let key_condition = match sort_condition {
                None => format!("{p} = {pv}"),
                Some((op, operands)) => {
                    // Name the sort key only when used: DynamoDB rejects unused names.
                    let s = expr.name(query.sort_attr());
                    let v: Vec<String> = operands
                        .into_iter()
                        .map(|o| expr.value(AttributeValue::S(o)))
                        .collect();
                    match op {
                        "begins_with" => format!("{p} = {pv} AND begins_with({s}, {})", v[0]),
                        "BETWEEN" => format!("{p} = {pv} AND {s} BETWEEN {} AND {}", v[0], v[1]),
                        _ => format!("{p} = {pv} AND {s} {op} {}", v[0]),
                    }
                }
            };
            let filter = expr.live(now);
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(key_condition)
                .filter_expression(filter)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .scan_index_forward(!query.descending)
                .limit((want - items.len()) as i32)
                .set_exclusive_start_key(start.take());
            request = match query.index {
                Index::Primary => request.consistent_read(true),
                Index::Gsi1 => request.index_name(GSI1),
            };
            let out = request.send().await.map_err(sdk_err)?;
            for item in out.items.unwrap_or_default() {
                items.push(from_item(item)?);
            }
            match out.last_evaluated_key {
                Some(lek) if items.len() < want => start = Some(lek),
                _ => break,
            }
        }
        Ok(Page::from_overfetch(items, &query))
    }

    async fn scan(&self, cursor: Option<String>) -> Result<Page, StoreError> {
        let start = match cursor.as_deref() {
            Some(c) => {
                let key = item_store::decode_scan_cursor(c)?;
                let mut attrs = Attrs::new();
                attrs.insert(item_store::PK.into(), Value::String(key.pk));
                attrs.insert(item_store::SK.into(), Value::String(key.sk));
                Some(to_item(&attrs)?)
            }
            None => None,
        };
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .limit(1000)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_err)?;
        let now = now_secs();
        let mut items = Vec::new();
        for item in out.items.unwrap_or_default() {
            let item = from_item(item)?;
            if !item_store::is_expired(&item, now) {
                items.push(item);
            }
        }
        let cursor = match out.last_evaluated_key {
            Some(lek) => Some(item_store::encode_scan_cursor(&from_item(lek)?)),
            None => None,
        };
        Ok(Page { items, cursor })
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.get(&Key::new("HEALTH", "HEALTH")).await.map(|_| ())
    }
}

/// 0..10 ms of jitter so retried transactions do not collide again.
fn fastrand_ms() -> u64 {
    let mut b = [0u8; 1];
    let _ = aws_lc_rs::rand::fill(&mut b);
    u64::from(b[0] % 10)
}
