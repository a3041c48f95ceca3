//! The audit log: who did what, when, from where. Never passwords or tokens.
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | entry | `AUDIT#{subject}` | `{time}#{id}` | subject = the user concerned (or `ANON`); `gsi1pk = AUDIT` lists all, newest first |
//! | deletion | `AUDIT#TRAIL` | `{time}#{id}` | account deletions: they outlive the deleted account and the admin who deleted it |
//!
//! An entry is written in the transaction of the change it records (see
//! [`AuditRepo::entry`]), so a change is never left unrecorded nor
//! reported failed because only its record failed. An admin's action on a
//! user is filed under that user, never under the admin.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::RepoError;
use crate::domain::ClientInfo;
use crate::ports::item_store::{self, Condition, Index, ItemStore, Query, Write};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// e.g. `login.succeeded`, `admin.user.deactivated`.
    pub action: String,
    /// Who acted (None for anonymous attempts).
    pub actor_id: Option<String>,
    /// Whom it concerns.
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Extra facts (never secrets).
    pub detail: Value,
}

#[derive(Clone)]
pub struct AuditRepo {
    store: Arc<dyn ItemStore>,
}

pub use crate::table_keys::AUDIT_TRAIL as TRAIL;
use crate::table_keys::audit_partition as partition;

impl AuditRepo {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        AuditRepo { store }
    }

    /// The write that records an entry about `user_id` (the actor's own
    /// action when `None`), kept in that user's partition. Put it in the
    /// transaction of the change it records, as the outbox record is: the
    /// change and its record happen together or not at all.
    pub fn entry(
        action: &str,
        actor_id: Option<&str>,
        user_id: Option<&str>,
        client: &ClientInfo,
        detail: Value,
    ) -> Result<Write, RepoError> {
        let subject = user_id.or(actor_id).map(str::to_owned);
        Self::entry_in(
            partition(subject.as_deref()),
            action,
            actor_id,
            subject,
            client,
            detail,
        )
    }

    /// The write that records an account deletion. It goes to the trail
    /// partition, which outlives every account: the deleted user's own
    /// partition is erased with them, and an admin's deletions must survive
    /// that admin's own deletion.
    pub fn deletion_entry(
        action: &str,
        actor_id: Option<&str>,
        deleted_user_id: &str,
        client: &ClientInfo,
    ) -> Result<Write, RepoError> {
        Self::entry_in(
            TRAIL.into(),
            action,
            actor_id,
            Some(deleted_user_id.to_owned()),
            client,
            json!({ "deleted_user_id": deleted_user_id }),
        )
    }

    fn entry_in(
        pk: String,
        action: &str,
        actor_id: Option<&str>,
        user_id: Option<String>,
        client: &ClientInfo,
        detail: Value,
    ) -> Result<Write, RepoError> {
        let at = OffsetDateTime::now_utc();
        let id = uuid::Uuid::now_v7().to_string();
        let entry = AuditEntry {
            id: id.clone(),
            at,
            action: action.into(),
            actor_id: actor_id.map(str::to_owned),
            user_id,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            detail,
        };
        let Value::Object(mut attrs) = serde_json::to_value(&entry).map_err(RepoError::corrupt)?
        else {
            return Err(RepoError::corrupt("audit entry did not serialize"));
        };
        // UUIDv7 sorts by time, so the sort key orders entries chronologically.
        let sk = format!("{:020}#{id}", at.unix_timestamp_nanos());
        attrs.insert(item_store::PK.into(), json!(pk));
        attrs.insert(item_store::SK.into(), json!(sk));
        attrs.insert(item_store::GSI1PK.into(), json!("AUDIT"));
        attrs.insert(item_store::GSI1SK.into(), json!(sk));
        Ok(Write::Put {
            item: attrs,
            condition: Some(Condition::NotExists),
        })
    }

    /// Records an entry that goes with no other write (a failed login, a
    /// redrive). Failing to audit fails the caller: a security record must
    /// not be silently lost.
    pub async fn record(
        &self,
        action: &str,
        actor_id: Option<&str>,
        user_id: Option<&str>,
        client: &ClientInfo,
        detail: Value,
    ) -> Result<(), RepoError> {
        let entry = Self::entry(action, actor_id, user_id, client, detail)?;
        self.store.write(entry).await?;
        Ok(())
    }

    /// Records one entry with `extra` writes in the same commit (an
    /// idempotency key's answer).
    pub async fn record_with(&self, entry: Write, extra: Vec<Write>) -> Result<(), RepoError> {
        self.store.write_with(entry, extra).await?;
        Ok(())
    }

    /// Entries newest first, for one user or for everyone.
    pub async fn list(
        &self,
        user_id: Option<&str>,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<(Vec<AuditEntry>, Option<String>), RepoError> {
        let query = match user_id {
            Some(u) => Query::new(Index::Primary, partition(Some(u))),
            None => Query::new(Index::Gsi1, "AUDIT"),
        };
        super::from_page(
            self.store
                .query(query.limit(limit).cursor(cursor).descending())
                .await?,
        )
    }

    /// Deletes a user's entries (account deletion leaves nothing behind).
    pub async fn delete_for_user(&self, user_id: &str) -> Result<(), RepoError> {
        let query = Query::new(Index::Primary, partition(Some(user_id)));
        Ok(self.store.delete_all(query).await?)
    }
}
