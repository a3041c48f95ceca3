//! Idempotency keys: a client that repeats a write with the same
//! `Idempotency-Key` gets the first attempt's answer, not a second effect
//! (Stripe's header; the design of AWS Powertools' idempotency utility,
//! which has no Rust edition).
//!
//! | record | pk | sk | attributes |
//! |---|---|---|---|
//! | a key in use | `IDEMPOTENCY#{scope}` | `KEY#{sha256 of the key}` | `request` (the request's fingerprint), `state` `running` → `done`, `lease`, `lease_until`, `answer`; TTL 24 h |
//!
//! The scope is the caller, so two users never share a key. The record
//! goes through three steps:
//! 1. **claim**: a conditional put (`NotExists`), or, when a previous
//!    attempt's lease has lapsed (its process died), a takeover
//!    conditional on that lease;
//! 2. **answer**: the handler's own commit carries the `done` record with
//!    the answer, conditional on this lease ([`Claim::answer_write`]),
//!    so the write and its answer are one commit: a reply lost after the
//!    commit still leaves the answer to replay, and a commit whose lease
//!    was taken over writes nothing;
//! 3. **release** when nothing was committed (a 4xx, or a 5xx while the
//!    record is still this attempt's `running` one): the client may retry
//!    at once instead of waiting for the lease.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ports::item_store::{Condition, ItemStore, Key, StoreError, Write};
use crate::secrets::{new_token, token_hash};

/// How long a used key is remembered.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);

/// The answer a key replays, as the first attempt gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: u16,
    /// The headers worth replaying (content type, location, ETag), lower-case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A claim on a key, held by the attempt that runs the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    key: Key,
    lease: String,
    request: String,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The key is this attempt's: run the request.
    Run(Claim),
    /// The key's first request finished: its answer.
    Replay(Answer),
    /// The key's first request is still running (its lease is live).
    InFlight { retry_after_secs: u64 },
    /// The key was used for another request (another body, route or method).
    OtherRequest,
}

impl Claim {
    /// The write that records `answer` as the key's result, for the
    /// handler's own commit: it holds only while this attempt still owns
    /// the key.
    pub fn answer_write(&self, answer: &Answer) -> Write {
        let item = json!({
            "pk": self.key.pk, "sk": self.key.sk,
            "request": self.request,
            "state": "done",
            "answer": answer,
            "expires_at": now() + KEEP_FOR.as_secs() as i64,
        });
        let serde_json::Value::Object(item) = item else {
            unreachable!("a JSON object literal")
        };
        Write::Put {
            item,
            condition: Some(self.still_running()),
        }
    }

    fn still_running(&self) -> Condition {
        still_running(&self.lease)
    }
}

/// The record is still the `running` one of this lease.
fn still_running(lease: &str) -> Condition {
    Condition::All(vec![
        Condition::Equals("lease".into(), json!(lease)),
        Condition::Equals("state".into(), json!("running")),
    ])
}

#[derive(Clone)]
pub struct IdempotencyRepo {
    store: Arc<dyn ItemStore>,
    lease: Duration,
}

/// The record's key: the client's key is hashed, so any 255 characters fit
/// a sort key and none is stored as sent.
fn record_key(scope: &str, key: &str) -> Key {
    Key::new(
        format!("IDEMPOTENCY#{scope}"),
        format!("KEY#{}", token_hash(key)),
    )
}

/// A request's fingerprint: SHA-256 over its method, path (with query)
/// and body, so a key reused for anything else is told apart.
pub fn fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in [
        method.as_bytes(),
        b" ",
        path_and_query.as_bytes(),
        b"\n",
        body,
    ] {
        ctx.update(part);
    }
    hex::encode(ctx.finish())
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl IdempotencyRepo {
    /// `lease`: how long an attempt owns a key before another may take it
    /// over; longer than the longest function timeout.
    pub fn new(store: Arc<dyn ItemStore>, lease: Duration) -> Self {
        Self { store, lease }
    }

    /// Claims `key` in `scope` for the request with this fingerprint.
    pub async fn claim(
        &self,
        scope: &str,
        key: &str,
        request: &str,
    ) -> Result<Claimed, StoreError> {
        let key = record_key(scope, key);
        let mut condition = Condition::NotExists;
        // A claim races only with other attempts at the same key: a few
        // rounds settle it (each lost round means another attempt moved).
        for _ in 0..3 {
            let lease = new_token();
            let now = now();
            let item = json!({
                "pk": key.pk, "sk": key.sk,
                "request": request,
                "state": "running",
                "lease": lease,
                "lease_until": now + self.lease.as_secs() as i64,
                "expires_at": now + KEEP_FOR.as_secs() as i64,
            });
            let serde_json::Value::Object(item) = item else {
                unreachable!("a JSON object literal")
            };
            match self.store.put(item, Some(condition.clone())).await {
                Ok(()) => {
                    return Ok(Claimed::Run(Claim {
                        key,
                        lease,
                        request: request.to_owned(),
                    }));
                }
                Err(StoreError::ConditionFailed) => {}
                Err(e) => {
                    // The put may have landed with its reply lost: free it
                    // (if it is there, it is this lease's), so the client's
                    // retry need not wait for the lease. Best effort.
                    let _ = self.release_lease(&key, &lease).await;
                    return Err(e);
                }
            }
            let Some(found) = self.store.get(&key).await? else {
                // Released or expired since: claim it afresh.
                condition = Condition::NotExists;
                continue;
            };
            if found.get("request").and_then(|v| v.as_str()) != Some(request) {
                return Ok(Claimed::OtherRequest);
            }
            if found.get("state").and_then(|v| v.as_str()) == Some("done") {
                let answer = found
                    .get("answer")
                    .cloned()
                    .and_then(|a| serde_json::from_value(a).ok())
                    .ok_or_else(|| StoreError::Internal("unreadable stored answer".into()))?;
                return Ok(Claimed::Replay(answer));
            }
            let until = found
                .get("lease_until")
                .and_then(|v| v.as_i64())
                .unwrap_or(0);
            if until > now {
                return Ok(Claimed::InFlight {
                    retry_after_secs: (until - now) as u64,
                });
            }
            // The attempt holding it died: take over its lease, unless
            // someone else did first.
            let held = found.get("lease").cloned().unwrap_or_default();
            condition = Condition::Equals("lease".into(), held);
        }
        Err(StoreError::TransactionCanceled { failed: vec![] })
    }

    /// Records `answer` on its own, for a request whose commit did not
    /// carry it.
    pub async fn finish(&self, claim: &Claim, answer: &Answer) -> Result<(), StoreError> {
        self.store
            .write(claim.answer_write(answer))
            .await
            .map(|_| ())
    }

    /// Frees the key when this attempt committed nothing. A no-op when the
    /// record is no longer this attempt's `running` one (answered, taken
    /// over, expired).
    pub async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        self.release_lease(&claim.key, &claim.lease).await
    }

    async fn release_lease(&self, key: &Key, lease: &str) -> Result<(), StoreError> {
        match self
            .store
            .delete(key.clone(), Some(still_running(lease)))
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::record_key;

    #[test]
    fn keys_are_scoped_and_hashed() {
        let a = record_key("u1", "k");
        assert_eq!(a.pk, "IDEMPOTENCY#u1");
        assert_eq!(a.sk.len(), "KEY#".len() + 64);
        assert_ne!(a, record_key("u2", "k"));
        assert_ne!(a, record_key("u1", "k2"));
    }
}
