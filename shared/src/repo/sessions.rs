//! Sessions and their rotating refresh tokens.
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | session | `USER#{user}` | `SESSION#{id}` | `refresh_hash` = the current token's hash; TTL at the absolute expiry |
//! | refresh token | `REFRESH#{sha256}` | `REFRESH` | `status` `active` → `used`; TTL at the absolute expiry; `gsi1pk = REFRESHES#{user}` finds them all |
//!
//! A refresh turns the presented token `used` with a conditional write, in
//! one transaction with the new token and the session update, so of many
//! parallel refreshes with one token exactly one wins. Presenting a `used`
//! token after the grace window means it was copied: the whole session is
//! revoked. Access tokens carry the session id, and the authorizer refuses
//! them as soon as their session is revoked.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::RepoError;
use crate::config::Config;
use crate::domain::ClientInfo;
use crate::domain::User;
use crate::ports::item_store::{
    self, Attrs, Change, Condition, ItemStore, Key, Query, SortKey, StoreError, Write,
};
use crate::repo::AuditRepo;
use crate::secrets::{new_token, token_hash};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    /// Epoch seconds.
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub revoked: bool,
    pub refresh_hash: String,
}

impl Session {
    pub fn is_live(&self, now: i64) -> bool {
        !self.revoked && now < self.idle_expires_at && now < self.absolute_expires_at
    }
}

/// A session with the refresh token the client receives (once).
pub struct Issued {
    pub session: Session,
    pub refresh_token: String,
}

pub enum Rotation {
    /// The new pair's session, and the user as stored now.
    Rotated { issued: Issued, user: Box<User> },
    /// Unknown, expired, revoked, or lost a race within the grace window.
    Invalid,
    /// A used token came back after the grace window; the session is revoked.
    ReuseDetected { user_id: String, session_id: String },
}

#[derive(Clone)]
pub struct SessionRepo {
    store: Arc<dyn ItemStore>,
    idle: i64,
    absolute: i64,
    grace: i64,
}

pub fn session_key(user_id: &str, session_id: &str) -> Key {
    crate::table_keys::session(user_id, session_id)
}

fn refresh_key(hash: &str) -> Key {
    crate::table_keys::refresh_token(hash)
}

fn session_item(s: &Session) -> Result<Attrs, RepoError> {
    let Value::Object(mut attrs) = serde_json::to_value(s).map_err(RepoError::corrupt)? else {
        return Err(RepoError::corrupt("session did not serialize to an object"));
    };
    let key = session_key(&s.user_id, &s.id);
    attrs.insert(item_store::PK.into(), json!(key.pk));
    attrs.insert(item_store::SK.into(), json!(key.sk));
    attrs.insert(item_store::EXPIRES_AT.into(), json!(s.absolute_expires_at));
    Ok(attrs)
}

fn refresh_item(hash: &str, s: &Session) -> Attrs {
    let key = refresh_key(hash);
    json!({
        "pk": key.pk, "sk": key.sk, "user_id": s.user_id, "session_id": s.id,
        "status": "active", "expires_at": s.absolute_expires_at,
        "gsi1pk": crate::table_keys::refresh_tokens_of(&s.user_id), "gsi1sk": hash,
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

impl SessionRepo {
    pub fn new(store: Arc<dyn ItemStore>, config: &Config) -> Self {
        SessionRepo {
            store,
            idle: config.session_idle_ttl.as_secs() as i64,
            absolute: config.session_absolute_ttl.as_secs() as i64,
            grace: config.refresh_reuse_grace.as_secs() as i64,
        }
    }

    /// Starts a session at login, recorded in the audit log as `action` in
    /// the same transaction.
    pub async fn start(
        &self,
        user_id: &str,
        client: &ClientInfo,
        action: &str,
    ) -> Result<Issued, RepoError> {
        self.start_with(user_id, client, action, Vec::new()).await
    }

    /// [`SessionRepo::start`] with `extra` writes in the same transaction
    /// (a sign-in link used up: single use under concurrency).
    pub async fn start_with(
        &self,
        user_id: &str,
        client: &ClientInfo,
        action: &str,
        extra: Vec<Write>,
    ) -> Result<Issued, RepoError> {
        let now = OffsetDateTime::now_utc();
        let t = now.unix_timestamp();
        let refresh_token = new_token();
        let absolute = t + self.absolute;
        let session = Session {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.into(),
            created_at: now,
            last_used_at: now,
            idle_expires_at: (t + self.idle).min(absolute),
            absolute_expires_at: absolute,
            user_agent: client.user_agent.clone(),
            ip: client.ip.clone(),
            revoked: false,
            refresh_hash: token_hash(&refresh_token),
        };
        let mut writes = vec![
            Write::Put {
                item: session_item(&session)?,
                condition: Some(Condition::NotExists),
            },
            Write::Put {
                item: refresh_item(&session.refresh_hash, &session),
                condition: Some(Condition::NotExists),
            },
        ];
        writes.push(AuditRepo::entry(
            action,
            Some(user_id),
            None,
            client,
            json!({ "session_id": session.id }),
        )?);
        writes.extend(extra);
        self.store.transact(writes).await?;
        Ok(Issued {
            session,
            refresh_token,
        })
    }

    pub async fn get(&self, user_id: &str, session_id: &str) -> Result<Option<Session>, RepoError> {
        match self.store.get(&session_key(user_id, session_id)).await? {
            Some(attrs) => Ok(Some(
                serde_json::from_value(Value::Object(attrs)).map_err(RepoError::corrupt)?,
            )),
            None => Ok(None),
        }
    }

    /// A session and its user, in one store round (one `BatchGetItem`): the
    /// authorizer's read on every request.
    pub async fn get_with_user(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<(Option<User>, Option<Session>), RepoError> {
        let keys = [
            super::users::user_key(user_id),
            session_key(user_id, session_id),
        ];
        let mut items = self.store.get_many(&keys).await?.into_iter();
        let user = items.next().flatten().map(super::from_item).transpose()?;
        let session = items.next().flatten().map(super::from_item).transpose()?;
        Ok((user, session))
    }

    /// Exchanges a refresh token for a new one (see the module docs).
    /// `current_user` reads the token's user: a missing or inactive user
    /// ends the session instead. It is read before the exchange commits, so
    /// nothing the store does after the commit can lose the new token.
    pub async fn rotate<F, Fut>(
        &self,
        token: &str,
        client: &ClientInfo,
        current_user: F,
    ) -> Result<Rotation, RepoError>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<User>, RepoError>>,
    {
        let old_hash = token_hash(token);
        let Some(record) = self.store.get(&refresh_key(&old_hash)).await? else {
            return Ok(Rotation::Invalid);
        };
        let field = |name: &str| {
            record
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (user_id, session_id) = (field("user_id"), field("session_id"));
        let now = OffsetDateTime::now_utc();
        let t = now.unix_timestamp();
        let Some(mut session) = self.get(&user_id, &session_id).await? else {
            return Ok(Rotation::Invalid);
        };
        if !session.is_live(t) {
            return Ok(Rotation::Invalid);
        }
        if field("status") != "active" {
            let used_at = record.get("used_at").and_then(Value::as_i64).unwrap_or(0);
            if t - used_at <= self.grace {
                return Ok(Rotation::Invalid);
            }
            let audit = AuditRepo::entry(
                "refresh.reuse_detected",
                None,
                Some(&user_id),
                client,
                json!({ "session_id": session_id }),
            )?;
            self.revoke_with(&user_id, &session_id, vec![audit]).await?;
            return Ok(Rotation::ReuseDetected {
                user_id,
                session_id,
            });
        }
        let Some(user) = current_user(user_id.clone())
            .await?
            .filter(|u| u.active && u.allows_session(&session.id, session.created_at))
        else {
            self.revoke(&user_id, &session_id).await?;
            return Ok(Rotation::Invalid);
        };
        let refresh_token = new_token();
        let new_hash = token_hash(&refresh_token);
        session.last_used_at = now;
        session.idle_expires_at = (t + self.idle).min(session.absolute_expires_at);
        session.refresh_hash = new_hash.clone();
        if client.ip.is_some() {
            session.ip = client.ip.clone();
        }
        if client.user_agent.is_some() {
            session.user_agent = client.user_agent.clone();
        }
        let writes = vec![
            Write::Update {
                key: refresh_key(&old_hash),
                changes: vec![
                    Change::Set("status".into(), json!("used")),
                    Change::Set("used_at".into(), json!(t)),
                ],
                condition: Some(Condition::Equals("status".into(), json!("active"))),
            },
            Write::Put {
                item: refresh_item(&new_hash, &session),
                condition: Some(Condition::NotExists),
            },
            Write::Put {
                item: session_item(&session)?,
                condition: Some(Condition::All(vec![
                    Condition::Equals("revoked".into(), json!(false)),
                    Condition::Equals("refresh_hash".into(), json!(old_hash)),
                ])),
            },
            AuditRepo::entry(
                "token.refreshed",
                Some(&user_id),
                None,
                client,
                json!({ "session_id": session.id }),
            )?,
        ];
        match self.store.transact(writes).await {
            Ok(()) => Ok(Rotation::Rotated {
                issued: Issued {
                    session,
                    refresh_token,
                },
                user: Box::new(user),
            }),
            // Another refresh with the same token won the race just now.
            // (No failed condition means a conflict that outlasted the
            // retries: a 503, not a verdict on the token.)
            Err(StoreError::TransactionCanceled { failed }) if !failed.is_empty() => {
                Ok(Rotation::Invalid)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every session of a user, newest first.
    pub async fn list(&self, user_id: &str) -> Result<Vec<Session>, RepoError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(
                    Query::new(
                        item_store::Index::Primary,
                        crate::table_keys::user_partition(user_id),
                    )
                    .sk(SortKey::BeginsWith(
                        crate::table_keys::SESSION_PREFIX.into(),
                    ))
                    .limit(100)
                    .cursor(cursor)
                    .descending(),
                )
                .await?;
            for attrs in page.items {
                out.push(serde_json::from_value(Value::Object(attrs)).map_err(RepoError::corrupt)?);
            }
            cursor = page.cursor;
            if cursor.is_none() {
                return Ok(out);
            }
        }
    }

    /// Ends the oldest live sessions beyond `cap` (called after a login
    /// started one); returns how many ended.
    pub async fn enforce_cap(&self, user: &User, cap: usize) -> Result<usize, RepoError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let live: Vec<Session> = self
            .list(&user.id)
            .await?
            .into_iter()
            .filter(|s| s.is_live(now) && user.allows_session(&s.id, s.created_at))
            .collect();
        let mut ended = 0;
        // Newest first: everything past the first `cap` is the oldest.
        for s in live.iter().skip(cap) {
            if self.revoke(&user.id, &s.id).await? {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Revokes one session; false when it does not exist.
    pub async fn revoke(&self, user_id: &str, session_id: &str) -> Result<bool, RepoError> {
        self.revoke_with(user_id, session_id, vec![]).await
    }

    /// Revokes one session with `extra` writes (its audit entry) in the
    /// same transaction; false (and nothing written) when it does not exist.
    pub async fn revoke_with(
        &self,
        user_id: &str,
        session_id: &str,
        extra: Vec<Write>,
    ) -> Result<bool, RepoError> {
        let revoke = Write::Update {
            key: session_key(user_id, session_id),
            changes: vec![Change::Set("revoked".into(), json!(true))],
            condition: Some(Condition::Exists),
        };
        match self.store.write_with(revoke, extra).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes every session of a user and every refresh token (used or not).
    pub async fn delete_all(&self, user_id: &str) -> Result<(), RepoError> {
        for s in self.list(user_id).await? {
            self.store.delete(session_key(user_id, &s.id), None).await?;
        }
        // The index is eventually consistent on DynamoDB; deleting by key is not.
        let refreshes = Query::new(
            item_store::Index::Gsi1,
            crate::table_keys::refresh_tokens_of(user_id),
        );
        self.store.delete_all(refreshes).await?;
        Ok(())
    }
}
