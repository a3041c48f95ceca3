//! Users in the item store.
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | user | `USER#{id}` | `PROFILE` | `gsi1pk = USERS`, `gsi1sk = {email}` lists users by email |
//! | email claim | `EMAIL#{email}` | `EMAIL` | `user_id`; makes emails unique |
//! | username claim | `USERNAME#{folded}` | `USERNAME` | `user_id`; makes usernames unique; `gsi1pk = USERNAMES`, `gsi1sk = {folded}` for prefix search |
//!
//! A user and its claims are written in one transaction whose conditions
//! (`NotExists` on each claim) enforce uniqueness: never read-then-write.

use std::sync::Arc;

use serde_json::{Value, json};

use super::RepoError;
use super::from_item;
use crate::domain::{Email, SessionCutoff, User};
use crate::ports::item_store::{
    self, Attrs, Change, Condition, Index, ItemStore, Key, Query, SortKey, StoreError, Write,
};

#[derive(Clone)]
pub struct UserRepo {
    store: Arc<dyn ItemStore>,
}

/// Why a profile update was not saved.
#[derive(Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// Someone else changed the user since it was read.
    Stale,
    UsernameTaken,
}

/// Why a user could not be created.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateError {
    EmailTaken,
    UsernameTaken,
}

/// A user id no account has (ids are UUIDs): the decoy of
/// [`UserRepo::find_by_email_evenly`].
const NOBODY: &str = "nobody";

pub fn user_key(id: &str) -> Key {
    crate::table_keys::user(id)
}

pub fn email_key(email: &Email) -> Key {
    crate::table_keys::email_claim(email.as_str())
}

pub fn username_key(folded: &str) -> Key {
    crate::table_keys::username_claim(folded)
}

fn with_key(key: &Key, mut attrs: Attrs) -> Attrs {
    attrs.insert(item_store::PK.into(), Value::String(key.pk.clone()));
    attrs.insert(item_store::SK.into(), Value::String(key.sk.clone()));
    attrs
}

fn to_item(user: &User) -> Result<Attrs, RepoError> {
    let mut attrs = super::to_item(user, &user_key(&user.id))?;
    attrs.insert(item_store::GSI1PK.into(), json!("USERS"));
    attrs.insert(item_store::GSI1SK.into(), json!(user.email.as_str()));
    Ok(attrs)
}

fn claim(key: &Key, user_id: &str) -> Write {
    let attrs = with_key(
        key,
        json!({ "user_id": user_id })
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    Write::Put {
        item: attrs,
        condition: Some(Condition::NotExists),
    }
}

/// A username claim, also indexed (`gsi1pk = USERNAMES`) for prefix search.
fn username_claim(folded: &str, user_id: &str) -> Write {
    let key = username_key(folded);
    let item = json!({"pk": key.pk, "sk": key.sk, "user_id": user_id, "gsi1pk": "USERNAMES", "gsi1sk": folded});
    Write::Put {
        item: item.as_object().cloned().unwrap_or_default(),
        condition: Some(Condition::NotExists),
    }
}

impl UserRepo {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        UserRepo { store }
    }

    /// Creates the user with its email (and username) claims, all or nothing.
    /// `extra` writes (such as an outbox record) join the same transaction.
    pub async fn create(
        &self,
        user: &User,
        extra: Vec<Write>,
    ) -> Result<Result<(), CreateError>, RepoError> {
        let mut writes = vec![
            Write::Put {
                item: to_item(user)?,
                condition: Some(Condition::NotExists),
            },
            claim(&email_key(&user.email), &user.id),
        ];
        if let Some(username) = &user.username {
            writes.push(username_claim(&username.folded(), &user.id));
        }
        writes.extend(extra);
        match self.store.transact(writes).await {
            Ok(()) => Ok(Ok(())),
            // The username first: usernames are public, addresses are not
            // (a concealing sign-up must answer a taken username alike
            // whether or not the address is taken too).
            Err(StoreError::TransactionCanceled { failed })
                if failed.contains(&2) && user.username.is_some() =>
            {
                Ok(Err(CreateError::UsernameTaken))
            }
            Err(StoreError::TransactionCanceled { failed }) if failed.contains(&1) => {
                Ok(Err(CreateError::EmailTaken))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<User>, RepoError> {
        self.store
            .get(&user_key(id))
            .await?
            .map(from_item)
            .transpose()
    }

    /// [`UserRepo::find_by_email`] with the same store work whether or not
    /// the address has an account: a missing claim is followed by a read of a
    /// user that never exists, as a found one is by the user's read. Login
    /// uses it, so its time tells nothing (two reads either way).
    pub async fn find_by_email_evenly(&self, email: &Email) -> Result<Option<User>, RepoError> {
        match self.store.get(&email_key(email)).await? {
            Some(claim) => match claim.get("user_id").and_then(Value::as_str) {
                Some(id) => self.get(id).await,
                None => Ok(None),
            },
            None => {
                self.store.get(&user_key(NOBODY)).await?;
                Ok(None)
            }
        }
    }

    /// Looks a user up by email through the email claim (strongly consistent,
    /// unlike the secondary index).
    pub async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let Some(claim) = self.store.get(&email_key(email)).await? else {
            return Ok(None);
        };
        let Some(id) = claim.get("user_id").and_then(Value::as_str) else {
            return Ok(None);
        };
        self.get(id).await
    }

    /// Saves profile changes made to `before` (read at `before.version`),
    /// moving the username claim in the same transaction when it changed.
    pub async fn update(
        &self,
        before: &User,
        after: &User,
        extra: Vec<Write>,
    ) -> Result<Result<User, UpdateError>, RepoError> {
        let mut next = after.clone();
        next.version = before.version + 1;
        next.updated_at = time::OffsetDateTime::now_utc();
        let mut writes = vec![Write::Put {
            item: to_item(&next)?,
            condition: Some(Condition::Equals("version".into(), json!(before.version))),
        }];
        let (old_name, new_name) = (
            before.username.as_ref().map(|u| u.folded()),
            next.username.as_ref().map(|u| u.folded()),
        );
        if old_name != new_name {
            if let Some(new_name) = &new_name {
                writes.push(username_claim(new_name, &next.id));
            }
            if let Some(old_name) = &old_name {
                writes.push(Write::Delete {
                    key: username_key(old_name),
                    condition: Some(Condition::Equals("user_id".into(), json!(next.id))),
                });
            }
        }
        writes.extend(extra);
        match self.store.transact(writes).await {
            Ok(()) => Ok(Ok(next)),
            Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
                Ok(Err(UpdateError::Stale))
            }
            Err(StoreError::TransactionCanceled { failed })
                if failed.contains(&1) && new_name.is_some() =>
            {
                Ok(Err(UpdateError::UsernameTaken))
            }
            Err(StoreError::TransactionCanceled { failed }) if !failed.is_empty() => {
                Ok(Err(UpdateError::Stale))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sets the user's session cut-off with one update (no read), with
    /// `extra` writes in the same transaction; false when there is no such
    /// user.
    pub async fn cut_sessions(
        &self,
        id: &str,
        cutoff: SessionCutoff,
        extra: Vec<Write>,
    ) -> Result<bool, RepoError> {
        let mut writes = vec![Write::Update {
            key: user_key(id),
            changes: vec![
                Change::Set(
                    "sessions_cutoff".into(),
                    serde_json::to_value(&cutoff).map_err(RepoError::corrupt)?,
                ),
                Change::Add("version".into(), 1),
            ],
            condition: Some(Condition::Exists),
        }];
        writes.extend(extra);
        match self.store.transact(writes).await {
            Ok(()) => Ok(true),
            Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the user and its claims, all or nothing, if unchanged since read.
    pub async fn delete(&self, user: &User, extra: Vec<Write>) -> Result<bool, RepoError> {
        let mut writes = vec![
            Write::Delete {
                key: user_key(&user.id),
                condition: Some(Condition::Equals("version".into(), json!(user.version))),
            },
            Write::Delete {
                key: email_key(&user.email),
                condition: None,
            },
        ];
        if let Some(username) = &user.username {
            writes.push(Write::Delete {
                key: username_key(&username.folded()),
                condition: None,
            });
        }
        writes.extend(extra);
        match self.store.transact(writes).await {
            Ok(()) => Ok(true),
            Err(StoreError::TransactionCanceled { failed }) if !failed.is_empty() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of users by email (optionally an email prefix), in email order.
    pub async fn list(
        &self,
        email_prefix: Option<&str>,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<(Vec<User>, Option<String>), RepoError> {
        let mut query = Query::new(Index::Gsi1, "USERS").limit(limit).cursor(cursor);
        if let Some(prefix) = email_prefix.filter(|p| !p.is_empty()) {
            query = query.sk(SortKey::BeginsWith(prefix.to_lowercase()));
        }
        super::from_page(self.store.query(query).await?)
    }

    /// One page of users whose username starts with `prefix` (any case), in
    /// username order.
    pub async fn list_by_username(
        &self,
        prefix: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<(Vec<User>, Option<String>), RepoError> {
        let query = Query::new(Index::Gsi1, "USERNAMES")
            .sk(SortKey::BeginsWith(prefix.to_ascii_lowercase()))
            .limit(limit)
            .cursor(cursor);
        let page = self.store.query(query).await?;
        let mut users = Vec::with_capacity(page.items.len());
        for claim in page.items {
            // The index may lag a deletion on DynamoDB: skip claims without a user.
            if let Some(user) = claim.get("user_id").and_then(Value::as_str) {
                users.extend(self.get(user).await?);
            }
        }
        Ok((users, page.cursor))
    }

    /// Looks a user up by username (any letter case).
    pub async fn find_by_username(&self, username: &str) -> Result<Option<User>, RepoError> {
        let Some(claim) = self
            .store
            .get(&username_key(&username.to_ascii_lowercase()))
            .await?
        else {
            return Ok(None);
        };
        match claim.get("user_id").and_then(Value::as_str) {
            Some(id) => self.get(id).await,
            None => Ok(None),
        }
    }

    /// The write that saves `user` as its next version if the stored one is
    /// still `user.version` (first in a transaction the caller builds), and
    /// the user as it will be stored.
    pub fn next_version(&self, user: &User) -> Result<(Write, User), RepoError> {
        let mut next = user.clone();
        next.version = user.version + 1;
        next.updated_at = time::OffsetDateTime::now_utc();
        let write = Write::Put {
            item: to_item(&next)?,
            condition: Some(Condition::Equals("version".into(), json!(user.version))),
        };
        Ok((write, next))
    }

    /// The writes that move a user to another address: the user's next
    /// version, the old claim released (if still theirs) and the new one
    /// taken (if free), in this order.
    pub fn move_email(&self, user: &User, to: &Email) -> Result<(Vec<Write>, User), RepoError> {
        let mut moved = user.clone();
        moved.email = to.clone();
        let (save, next) = self.next_version(&moved)?;
        let writes = vec![
            save,
            Write::Delete {
                key: email_key(&user.email),
                condition: Some(Condition::Equals("user_id".into(), json!(user.id))),
            },
            claim(&email_key(to), &user.id),
        ];
        Ok((writes, next))
    }

    /// Replaces the user if its stored version is still `user.version`, and
    /// bumps the version. Returns the stored user, or `None` on a stale version.
    pub async fn save(&self, user: &User) -> Result<Option<User>, RepoError> {
        self.save_with(user, Vec::new()).await
    }

    /// [`UserRepo::save`] with more writes (such as an outbox record) in the
    /// same transaction.
    pub async fn save_with(
        &self,
        user: &User,
        extra: Vec<Write>,
    ) -> Result<Option<User>, RepoError> {
        let (save, next) = self.next_version(user)?;
        self.write_next(save, next, extra).await
    }

    /// Commits a [`Self::next_version`] made beforehand (so the caller
    /// could build its answer from `next`) with `extra` writes: `next`, or
    /// `None` on a stale version.
    pub async fn write_next(
        &self,
        save: Write,
        next: User,
        extra: Vec<Write>,
    ) -> Result<Option<User>, RepoError> {
        match self.store.write_with(save, extra).await {
            Ok(()) => Ok(Some(next)),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
