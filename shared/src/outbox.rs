//! The transactional outbox: an event is stored in the same transaction as
//! the change it reports, then sent to the queue by whoever gets to it
//! first (the request that made the change, or the scheduled relay).
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | outbox record | `OUTBOX#{event_id}` | `OUTBOX` | `event` (JSON text), `lease` (epoch s), `sent`; while unsent, `gsi1pk = OUTBOX#UNSENT`, `gsi1sk = {time}#{id}` orders them; sent records expire after 7 days |
//!
//! Sending first takes a lease with a conditional write on the `lease`
//! value it read, so two senders never send one record at the same time; a
//! sender that dies leaves a lease that expires, and the record is sent
//! later (at least once; consumers are idempotent by `event_id`). A sent
//! record keeps only its id and type, not the event.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::events::UserEvent;
use crate::ports::item_store::{
    Attrs, Change, Condition, Index, ItemStore, Query, StoreError, Write,
};
use crate::ports::{Queue, QueueError};
use crate::repo::RepoError;

/// How long sent records are kept (for inspection) before TTL removes them.
pub const KEEP_SENT: Duration = Duration::from_secs(7 * 86_400);
use crate::table_keys::{OUTBOX_UNSENT as UNSENT, outbox_event as key};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The outbox write to add to a state change's transaction. An event that
/// cannot be serialised fails the change (never an empty event).
fn record(event: &UserEvent) -> Result<Write, RepoError> {
    let k = key(&event.event_id);
    let order = format!(
        "{:020}#{}",
        event.occurred_at.unix_timestamp_nanos(),
        event.event_id
    );
    let item = json!({
        "pk": k.pk, "sk": k.sk, "event_id": event.event_id, "type": event.kind,
        "event": serde_json::to_string(event).map_err(RepoError::corrupt)?,
        "lease": 0, "sent": false, "gsi1pk": UNSENT, "gsi1sk": order,
    });
    let Value::Object(item) = item else {
        unreachable!("json! of an object literal is an object")
    };
    Ok(Write::Put {
        item,
        condition: Some(Condition::NotExists),
    })
}

/// What happened to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    Sent,
    /// Already sent, or someone else holds the lease.
    Skipped,
    /// The queue failed; the record stays unsent for the relay.
    Failed,
}

#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn ItemStore>,
    queue: Arc<dyn Queue>,
    lease: Duration,
}

impl Outbox {
    /// `lease`: how long a sender owns a record before another may send
    /// it again (`OUTBOX_LEASE_SECONDS`).
    pub fn new(store: Arc<dyn ItemStore>, queue: Arc<dyn Queue>, lease: Duration) -> Self {
        Outbox {
            store,
            queue,
            lease,
        }
    }

    /// Sends one record if it is unsent and nobody else is sending it.
    pub async fn dispatch(&self, event_id: &str) -> Result<Dispatch, StoreError> {
        let Some(item) = self.store.get(&key(event_id)).await? else {
            return Ok(Dispatch::Skipped);
        };
        self.dispatch_item(&item).await
    }

    async fn dispatch_item(&self, item: &Attrs) -> Result<Dispatch, StoreError> {
        let event_id = item
            .get("event_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let lease = item.get("lease").cloned().unwrap_or(json!(0));
        if item.get("sent") == Some(&json!(true)) || lease.as_i64().unwrap_or(0) > now() {
            return Ok(Dispatch::Skipped);
        }
        let mine = now() + self.lease.as_secs() as i64;
        let claimed = self
            .store
            .update(
                key(&event_id),
                vec![Change::Set("lease".into(), json!(mine))],
                Some(Condition::All(vec![
                    Condition::Equals("lease".into(), lease),
                    Condition::Equals("sent".into(), json!(false)),
                ])),
            )
            .await;
        match claimed {
            Ok(_) => {}
            Err(StoreError::ConditionFailed) => return Ok(Dispatch::Skipped),
            Err(e) => return Err(e),
        }
        let Some(body) = item.get("event").and_then(Value::as_str) else {
            // Corrupt: nothing to send. Left unsent (and visible in
            // `pending`) for a human, without blocking the records after it.
            tracing::error!(%event_id, "outbox record without its event; not sent");
            return Ok(Dispatch::Skipped);
        };
        match self.queue.send(body).await {
            Ok(_) => {
                self.store
                    .update(
                        key(&event_id),
                        vec![
                            Change::Set("sent".into(), json!(true)),
                            Change::Set("sent_at".into(), json!(now())),
                            Change::Set(
                                "expires_at".into(),
                                json!(now() + KEEP_SENT.as_secs() as i64),
                            ),
                            Change::Remove("gsi1pk".into()),
                            Change::Remove("gsi1sk".into()),
                            // Sent: keep no personal data (account deletion
                            // leaves nothing behind).
                            Change::Remove("event".into()),
                        ],
                        Some(Condition::Equals("lease".into(), json!(mine))),
                    )
                    .await
                    .map(|_| Dispatch::Sent)
                    // Lost the lease meanwhile: sent twice at worst, never lost.
                    .or_else(|e| {
                        if e == StoreError::ConditionFailed {
                            Ok(Dispatch::Sent)
                        } else {
                            Err(e)
                        }
                    })
            }
            Err(QueueError::Unavailable(m) | QueueError::Internal(m)) => {
                tracing::warn!(%event_id, error = %m, "queue unavailable; the relay will send the event");
                // Give the lease back so the relay need not wait for it
                // (if that fails too, the lease lapses by itself).
                if let Err(e) = self
                    .store
                    .update(
                        key(&event_id),
                        vec![Change::Set("lease".into(), json!(0))],
                        Some(Condition::Equals("lease".into(), json!(mine))),
                    )
                    .await
                {
                    tracing::warn!(%event_id, error = %e, "could not give the outbox lease back");
                }
                Ok(Dispatch::Failed)
            }
        }
    }

    /// Sends every unsent record in order of occurrence (the relay).
    /// Returns (sent, skipped, failed).
    pub async fn relay(&self, max: usize) -> Result<(usize, usize, usize), StoreError> {
        let (mut sent, mut skipped, failed) = (0, 0, 0);
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(Query::new(Index::Gsi1, UNSENT).limit(100).cursor(cursor))
                .await?;
            for item in &page.items {
                match self.dispatch_item(item).await? {
                    Dispatch::Sent => sent += 1,
                    Dispatch::Skipped => skipped += 1,
                    // Keep order: stop at the first failure and retry next time.
                    Dispatch::Failed => return Ok((sent, skipped, failed + 1)),
                }
                if sent + skipped >= max {
                    return Ok((sent, skipped, failed));
                }
            }
            cursor = page.cursor;
            if cursor.is_none() {
                return Ok((sent, skipped, failed));
            }
        }
    }

    /// How many records are still unsent.
    pub async fn pending(&self) -> Result<usize, StoreError> {
        Ok(self
            .store
            .query(Query::new(Index::Gsi1, UNSENT).limit(1000))
            .await?
            .items
            .len())
    }
}

/// A change that announces a user event: the event's outbox record joins
/// the change's own writes, so both commit or neither does, and the event
/// is dispatched only once the change has committed (a dispatch that fails
/// is left to the relay). The one way a request reports a state change:
/// `state.outbox.announce(event)?.and(audit).commit(|writes| …)`.
#[must_use = "nothing is written until the change is committed"]
pub struct Announcing<'a> {
    outbox: &'a Outbox,
    events: Vec<UserEvent>,
    writes: Vec<Write>,
}

/// Whether a commit's outcome means the writes were applied: `false`,
/// `None` or an inner `Err` is a change refused by its conditions (a stale
/// version, a taken address), whose events must not go out.
pub trait Committed {
    fn committed(&self) -> bool;
}

impl Committed for () {
    fn committed(&self) -> bool {
        true
    }
}

impl Committed for bool {
    fn committed(&self) -> bool {
        *self
    }
}

impl<T> Committed for Option<T> {
    fn committed(&self) -> bool {
        self.is_some()
    }
}

impl<T, E> Committed for Result<T, E> {
    fn committed(&self) -> bool {
        self.is_ok()
    }
}

impl Outbox {
    /// Starts a change that announces `event`; its outbox record is the
    /// change's first write.
    pub fn announce(&self, event: UserEvent) -> Result<Announcing<'_>, RepoError> {
        Ok(Announcing {
            outbox: self,
            writes: vec![record(&event)?],
            events: vec![event],
        })
    }
}

impl Announcing<'_> {
    /// Another write of the same change, after the event's record (the audit
    /// entry).
    pub fn and(mut self, write: Write) -> Self {
        self.writes.push(write);
        self
    }

    /// [`Announcing::and`] for each of `writes` (none, or an idempotency
    /// key's answer).
    pub fn and_all(mut self, writes: impl IntoIterator<Item = Write>) -> Self {
        self.writes.extend(writes);
        self
    }

    /// Commits with `commit`, which gets the event's record and the writes
    /// added with [`Announcing::and`] to apply with its own, in one
    /// transaction; then dispatches the event if the outcome says the change
    /// was applied ([`Committed`]).
    pub async fn commit<O, E, F>(self, commit: impl FnOnce(Vec<Write>) -> F) -> Result<O, E>
    where
        O: Committed,
        F: Future<Output = Result<O, E>>,
    {
        let outcome = commit(self.writes).await?;
        if outcome.committed() {
            dispatch_after_commit(self.outbox, &self.events).await;
        }
        Ok(outcome)
    }

    /// Commits the record and the added writes as the whole change: one
    /// write alone, several in one transaction.
    pub async fn commit_alone(self, store: &dyn ItemStore) -> Result<(), StoreError> {
        self.commit(|mut writes| async move {
            match writes.len() {
                1 => store.write(writes.remove(0)).await.map(|_| ()),
                _ => store.transact(writes).await,
            }
        })
        .await
    }
}

/// Sends each event now; one that fails stays unsent for the relay.
async fn dispatch_after_commit(outbox: &Outbox, events: &[UserEvent]) {
    for e in events {
        if let Err(err) = outbox.dispatch(&e.event_id).await {
            tracing::warn!(event_id = %e.event_id, error = %err, "dispatch failed; the relay will send the event");
        }
    }
}
