//! Fault injection: wrappers around each port that make a chosen call fail
//! the way the real service fails (DynamoDB throttling and transaction
//! conflicts, S3/SQS/SES unavailability, timeouts), on either backend.
//!
//! One [`Faults`] is shared by the four wrappers of a state, so calls are
//! numbered across ports in the order a flow makes them: the fault suite
//! first runs a flow with nothing armed to learn its calls, then once per
//! call with that call failing. A failed call never reaches the wrapped
//! adapter: the fault is "the request did not go through", which is what
//! throttling, a conflict or a refused connection mean; except
//! [`Kind::Lost`], "it went through and the answer was lost" (a timeout
//! after the commit), where the call takes effect and then fails.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use shared::ports::item_store::{ItemStore, Key, Page, Query, StoreError, Write};
use shared::ports::{
    Blob, BlobError, BlobStore, Mail, MailError, Mailer, Queue, QueueError, Received, Served,
};

/// Which calls fail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Plan {
    /// None: the calls are only counted.
    #[default]
    Count,
    /// The call with this number (0-based, counted since the plan was set).
    Nth(usize),
    /// Every call of this operation (e.g. `"store.transact"`): an outage.
    Every(&'static str),
}

/// How the failing call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// The service's own choice for the operation: throttling for DynamoDB
    /// writes, a transaction conflict for transactions, a timeout for reads,
    /// unavailability for S3, SQS and SES.
    #[default]
    Natural,
    Throttled,
    /// A transaction cancelled by a concurrent one (after the adapter's retries).
    Conflict,
    Timeout,
    /// The call takes effect, then fails as a timeout: a write committed
    /// whose reply never arrived. For reads, a plain timeout.
    Lost,
}

#[derive(Debug, Default)]
struct State {
    plan: Plan,
    kind: Kind,
    calls: Vec<&'static str>,
    injected: Vec<(usize, &'static str)>,
}

/// The shared switchboard of one state's faulty ports.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    pub fn new() -> Arc<Faults> {
        Arc::default()
    }

    /// Sets the plan and starts counting calls afresh.
    pub fn arm(&self, plan: Plan, kind: Kind) {
        let mut s = self.lock();
        *s = State {
            plan,
            kind,
            ..State::default()
        };
    }

    /// Stops failing (calls are still counted).
    pub fn disarm(&self) {
        let mut s = self.lock();
        s.plan = Plan::Count;
    }

    /// The operations called since the plan was set, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.lock().calls.clone()
    }

    /// The calls that were made to fail: (number, operation).
    pub fn injected(&self) -> Vec<(usize, &'static str)> {
        self.lock().injected.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a call; `Some(kind)` when it must fail.
    fn call(&self, op: &'static str) -> Option<Kind> {
        let mut s = self.lock();
        let n = s.calls.len();
        s.calls.push(op);
        let fail = match &s.plan {
            Plan::Count => false,
            Plan::Nth(k) => *k == n,
            Plan::Every(o) => *o == op,
        };
        if fail {
            s.injected.push((n, op));
            Some(s.kind)
        } else {
            None
        }
    }
}

fn store_error(op: &str, kind: Kind) -> StoreError {
    let kind = match kind {
        Kind::Natural if op == "store.transact" => Kind::Conflict,
        Kind::Natural if op == "store.write" => Kind::Throttled,
        Kind::Natural => Kind::Timeout,
        k => k,
    };
    match kind {
        Kind::Conflict if op == "store.transact" => {
            StoreError::TransactionCanceled { failed: vec![] }
        }
        Kind::Timeout => StoreError::Unavailable(format!("injected: {op} timed out")),
        Kind::Lost => {
            StoreError::Unavailable(format!("injected: {op} timed out (after it took effect)"))
        }
        _ => StoreError::Unavailable(format!(
            "injected: {op}: ProvisionedThroughputExceededException"
        )),
    }
}

fn unavailable(op: &str, kind: Kind) -> String {
    match kind {
        Kind::Timeout => format!("injected: {op} timed out"),
        Kind::Lost => format!("injected: {op} timed out (after it took effect)"),
        _ => format!("injected: {op}: ServiceUnavailable"),
    }
}

/// The item store, failing where [`Faults`] says.
pub struct FaultyStore {
    pub inner: Arc<dyn ItemStore>,
    pub faults: Arc<Faults>,
}

impl FaultyStore {
    fn check(&self, op: &'static str) -> Result<(), StoreError> {
        match self.faults.call(op) {
            Some(kind) => Err(store_error(op, kind)),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl ItemStore for FaultyStore {
    async fn get(&self, key: &Key) -> Result<Option<shared::ports::Attrs>, StoreError> {
        self.check("store.get")?;
        self.inner.get(key).await
    }
    async fn get_many(
        &self,
        keys: &[shared::ports::item_store::Key],
    ) -> Result<Vec<Option<shared::ports::Attrs>>, StoreError> {
        self.check("store.get")?;
        self.inner.get_many(keys).await
    }
    async fn write(&self, write: Write) -> Result<Option<shared::ports::Attrs>, StoreError> {
        match self.faults.call("store.write") {
            None => self.inner.write(write).await,
            Some(Kind::Lost) => {
                self.inner.write(write).await?;
                Err(store_error("store.write", Kind::Lost))
            }
            Some(kind) => Err(store_error("store.write", kind)),
        }
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        match self.faults.call("store.transact") {
            None => self.inner.transact(writes).await,
            Some(Kind::Lost) => {
                self.inner.transact(writes).await?;
                Err(store_error("store.transact", Kind::Lost))
            }
            Some(kind) => Err(store_error("store.transact", kind)),
        }
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.check("store.query")?;
        self.inner.query(query).await
    }
    async fn scan(&self, cursor: Option<String>) -> Result<Page, StoreError> {
        self.check("store.scan")?;
        self.inner.scan(cursor).await
    }
    async fn health(&self) -> Result<(), StoreError> {
        self.inner.health().await
    }
}

/// The blob store, failing where [`Faults`] says.
pub struct FaultyBlobs {
    pub inner: Arc<dyn BlobStore>,
    pub faults: Arc<Faults>,
}

impl FaultyBlobs {
    fn check(&self, op: &'static str) -> Result<(), BlobError> {
        match self.faults.call(op) {
            Some(kind) => Err(BlobError::Unavailable(unavailable(op, kind))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl BlobStore for FaultyBlobs {
    async fn put(&self, key: &str, bytes: Bytes, served: &Served) -> Result<(), BlobError> {
        match self.faults.call("blob.put") {
            None => self.inner.put(key, bytes, served).await,
            Some(Kind::Lost) => {
                self.inner.put(key, bytes, served).await?;
                Err(BlobError::Unavailable(unavailable("blob.put", Kind::Lost)))
            }
            Some(kind) => Err(BlobError::Unavailable(unavailable("blob.put", kind))),
        }
    }
    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        self.check("blob.get")?;
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.check("blob.delete")?;
        self.inner.delete(key).await
    }
    async fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
        download_name: Option<&str>,
    ) -> Result<String, BlobError> {
        // Presigning is local computation in the SDK: it cannot meet an outage.
        self.inner.presign_get(key, ttl, download_name).await
    }
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        self.inner
            .presign_put(key, content_type, content_length, ttl)
            .await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.check("blob.list")?;
        self.inner.list(prefix).await
    }
    async fn health(&self) -> Result<(), BlobError> {
        self.inner.health().await
    }
}

/// The queue, failing where [`Faults`] says.
pub struct FaultyQueue {
    pub inner: Arc<dyn Queue>,
    pub faults: Arc<Faults>,
}

impl FaultyQueue {
    fn check(&self, op: &'static str) -> Result<(), QueueError> {
        match self.faults.call(op) {
            Some(kind) => Err(QueueError::Unavailable(unavailable(op, kind))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Queue for FaultyQueue {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        match self.faults.call("queue.send") {
            None => self.inner.send(body).await,
            Some(Kind::Lost) => {
                self.inner.send(body).await?;
                Err(QueueError::Unavailable(unavailable(
                    "queue.send",
                    Kind::Lost,
                )))
            }
            Some(kind) => Err(QueueError::Unavailable(unavailable("queue.send", kind))),
        }
    }
    async fn receive(&self, max: u32, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        self.check("queue.receive")?;
        self.inner.receive(max, visibility).await
    }
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.check("queue.delete")?;
        self.inner.delete(receipt).await
    }
    async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        self.check("queue.change_visibility")?;
        self.inner.change_visibility(receipt, visibility).await
    }
    async fn redrive_dead_letters(&self) -> Result<u32, QueueError> {
        self.check("queue.redrive")?;
        self.inner.redrive_dead_letters().await
    }
    async fn dead_letter_count(&self) -> Result<u32, QueueError> {
        self.check("queue.dead_letter_count")?;
        self.inner.dead_letter_count().await
    }
    async fn health(&self) -> Result<(), QueueError> {
        self.inner.health().await
    }
}

/// The mailer, failing where [`Faults`] says.
pub struct FaultyMailer {
    pub inner: Arc<dyn Mailer>,
    pub faults: Arc<Faults>,
}

#[async_trait]
impl Mailer for FaultyMailer {
    async fn send(&self, mail: &Mail) -> Result<String, MailError> {
        match self.faults.call("mail.send") {
            None => self.inner.send(mail).await,
            Some(Kind::Lost) => {
                self.inner.send(mail).await?;
                Err(MailError::Unavailable(unavailable("mail.send", Kind::Lost)))
            }
            Some(kind) => Err(MailError::Unavailable(unavailable("mail.send", kind))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nth_call_fails_and_only_it() {
        let f = Faults::new();
        f.arm(Plan::Nth(1), Kind::Natural);
        assert_eq!(f.call("store.get"), None);
        assert_eq!(f.call("store.write"), Some(Kind::Natural));
        assert_eq!(f.call("store.write"), None);
        assert_eq!(f.calls(), ["store.get", "store.write", "store.write"]);
        assert_eq!(f.injected(), [(1, "store.write")]);
    }

    #[test]
    fn an_outage_fails_every_call_of_its_operation() {
        let f = Faults::new();
        f.arm(Plan::Every("queue.send"), Kind::Natural);
        assert_eq!(f.call("queue.send"), Some(Kind::Natural));
        assert_eq!(f.call("store.get"), None);
        assert_eq!(f.call("queue.send"), Some(Kind::Natural));
        f.disarm();
        assert_eq!(f.call("queue.send"), None);
    }

    #[test]
    fn errors_are_the_services_own() {
        assert_eq!(
            store_error("store.transact", Kind::Natural),
            StoreError::TransactionCanceled { failed: vec![] }
        );
        assert!(matches!(
            store_error("store.write", Kind::Natural),
            StoreError::Unavailable(m) if m.contains("ProvisionedThroughputExceeded")
        ));
        assert!(matches!(
            store_error("store.get", Kind::Natural),
            StoreError::Unavailable(m) if m.contains("timed out")
        ));
    }
}
