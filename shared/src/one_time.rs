//! One-time tokens: email verification, password reset, email change,
//! sign-in links.
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | token | `OTT#{sha256}` | `OTT` | `purpose`, `user_id`, `data`, `stamp`; TTL at expiry |
//! | current token | `USER#{id}` | `OTT#{purpose}` | `hash` of the newest token of that purpose; TTL at expiry |
//! | pointer of a token nothing supersedes | `USER#{id}` | `OTT#{purpose}#{sha256}` | `hash`; TTL at expiry (address-change reverts) |
//!
//! A token is 32 random bytes (base64url) shown once, in a mail; only its
//! SHA-256 is stored. Issuing one for a purpose points the user's "current"
//! item at it, so a newer token replaces older ones. Consuming one is a
//! transaction that deletes the token and its "current" pointer on the
//! condition that the pointer still names it, together with the change the
//! token authorises: single use under concurrency, never read-then-write.
//! Unknown, used, superseded, expired and wrong-purpose tokens all get the
//! same answer.
//!
//! A token also records the account's *stamp* when it was asked for
//! ([`User::token_stamp`]: the session cut-off). Every change that ends the
//! account's sessions (password reset or change, logout-all, deactivation,
//! verification, a confirmed address change) moves the stamp, and a token
//! whose stamp is not the account's current one is dead: one write ends every
//! pending link of every purpose, as it ends every session. Without it an
//! attacker's email-change link would outlive the owner's password reset.
//! The change a token authorises is saved on the condition that the account
//! is still at the version read with the token, so a stamp moved meanwhile
//! fails that transaction too.

use std::time::Duration;

use serde_json::{Value, json};

use crate::domain::User;
use crate::ports::item_store::{
    Attrs, Condition, Index, ItemStore, Key, Query, SortKey, StoreError, Write,
};
use crate::repo::{RepoError, from_item};
use crate::secrets::{new_token, token_hash};

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
    /// A sign-in link for an owner locked out by strangers' failures.
    SignIn,
    /// Mailed to the address an account had before a confirmed change:
    /// takes the account back. The one kind no change of the account ends
    /// (it exists to undo what whoever holds the account now did: a
    /// password reset through the new address must not disarm it), and the
    /// one kind without a "current" pointer (a later change must not
    /// replace it either).
    RevertEmail,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::ChangeEmail => "change_email",
            Purpose::SignIn => "sign_in",
            Purpose::RevertEmail => "revert_email",
        }
    }

    /// How long a token of this purpose works.
    pub fn ttl(self) -> Duration {
        match self {
            Purpose::VerifyEmail | Purpose::ChangeEmail => Duration::from_secs(24 * 3600),
            // As long as the hour over which an address's reset mails are
            // limited: past the allowance nothing new is mailed, and the
            // newest link must still work.
            Purpose::ResetPassword => Duration::from_secs(60 * 60),
            Purpose::SignIn => Duration::from_secs(15 * 60),
            Purpose::RevertEmail => Duration::from_secs(7 * 86_400),
        }
    }

    /// Whether a newer token of this purpose replaces the older ones, and
    /// any change that ends the account's sessions ends them.
    fn superseded(self) -> bool {
        self != Purpose::RevertEmail
    }
}

/// The one answer for every token that cannot be used.
pub const INVALID: &str = "The link is invalid, expired or already used; ask for a new one.";

use crate::table_keys::one_time_token as token_key;

fn current_key(user_id: &str, purpose: Purpose) -> Key {
    crate::table_keys::pending_one_time(user_id, purpose.as_str())
}

/// The pointer that keeps a token usable: the purpose's one "current"
/// pointer, or (a kind nothing supersedes) one of the token's own.
fn pointer_key(user_id: &str, purpose: Purpose, hash: &str) -> Key {
    if purpose.superseded() {
        current_key(user_id, purpose)
    } else {
        crate::table_keys::pending_one_time(user_id, &format!("{}#{hash}", purpose.as_str()))
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A new token for `user` as read (its stamp is recorded): the secret to
/// mail, and the writes that store its hash.
pub fn issue(purpose: Purpose, user: &User, data: Value) -> (String, Vec<Write>) {
    let token = new_token();
    let hash = token_hash(&token);
    let expires = now() + purpose.ttl().as_secs() as i64;
    let token_item = json!({
        "pk": token_key(&hash).pk, "sk": "OTT", "purpose": purpose.as_str(),
        "user_id": user.id, "data": data, "expires_at": expires,
        "stamp": user.token_stamp(),
    });
    let current = pointer_key(&user.id, purpose, &hash);
    let current_item = json!({
        "pk": current.pk, "sk": current.sk, "hash": hash, "expires_at": expires,
        "issued_ms": now_ms(),
    });
    let put = |v: Value| Write::Put {
        item: v.as_object().cloned().unwrap_or_default(),
        condition: None,
    };
    (token, vec![put(token_item), put(current_item)])
}

/// A token that may be used: its account (active, as read now) and what
/// it carries.
#[derive(Debug, Clone)]
pub struct Valid {
    pub user: User,
    pub data: Value,
    hash: String,
    purpose: Purpose,
    /// When it was issued (epoch ms; 0 for tokens from before this was kept).
    issued_ms: i64,
}

impl Valid {
    /// The writes that use the token up; put them in the transaction of the
    /// change it authorises (they fail it if the token was used meanwhile).
    pub fn consume(&self) -> Vec<Write> {
        vec![
            Write::Delete {
                key: token_key(&self.hash),
                condition: Some(Condition::Exists),
            },
            Write::Delete {
                key: pointer_key(&self.user.id, self.purpose, &self.hash),
                condition: Some(Condition::Equals("hash".into(), json!(self.hash))),
            },
        ]
    }
}

/// Looks a presented token up: `Ok(None)` for every token that cannot be
/// used (unknown, used, superseded, expired, another purpose, malformed,
/// ended by a change of the account, or of an inactive or deleted account).
pub async fn find(
    store: &dyn ItemStore,
    purpose: Purpose,
    token: &str,
) -> Result<Option<Valid>, RepoError> {
    let token = token.trim();
    if token.len() != 43
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(None);
    }
    let hash = token_hash(token);
    let Some(item) = store.get(&token_key(&hash)).await? else {
        return Ok(None);
    };
    if item.get("purpose").and_then(Value::as_str) != Some(purpose.as_str()) {
        return Ok(None);
    }
    let Some(user_id) = item.get("user_id").and_then(Value::as_str) else {
        return Ok(None);
    };
    // The pointer and the account share a partition: one read for both.
    let keys = [
        pointer_key(user_id, purpose, &hash),
        crate::table_keys::user(user_id),
    ];
    let mut found = store.get_many(&keys).await?.into_iter();
    let (current, user) = (found.next().flatten(), found.next().flatten());
    if current
        .as_ref()
        .and_then(|c| c.get("hash"))
        .and_then(Value::as_str)
        != Some(hash.as_str())
    {
        return Ok(None);
    }
    let Some(user) = user.map(from_item::<User>).transpose()? else {
        return Ok(None);
    };
    let stamp = item.get("stamp").and_then(Value::as_i64);
    if !user.active || (purpose.superseded() && stamp != Some(user.token_stamp())) {
        return Ok(None);
    }
    let issued_ms = current
        .as_ref()
        .and_then(|c| c.get("issued_ms"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok(Some(Valid {
        user,
        data: item.get("data").cloned().unwrap_or(Value::Null),
        hash,
        purpose,
        issued_ms,
    }))
}

/// The pointers of an account's revert links.
async fn revert_pointers(store: &dyn ItemStore, user_id: &str) -> Result<Vec<Attrs>, StoreError> {
    let prefix = format!("OTT#{}#", Purpose::RevertEmail.as_str());
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .query(
                Query::new(Index::Primary, crate::table_keys::user_partition(user_id))
                    .sk(SortKey::BeginsWith(prefix.clone()))
                    .limit(100)
                    .cursor(cursor),
            )
            .await?;
        found.extend(page.items);
        cursor = page.cursor;
        if cursor.is_none() {
            return Ok(found);
        }
    }
}

/// The writes that end every revert link of the account issued after
/// `valid` (one being used): whoever moved the address again after the
/// owner's link was sent holds those, and the owner's revert must not be
/// undone with them. Older links survive any revert, so a later link used
/// first cannot disarm the owner's either: the oldest one always wins.
pub async fn end_newer_reverts(
    store: &dyn ItemStore,
    valid: &Valid,
) -> Result<Vec<Write>, StoreError> {
    let mut writes = Vec::new();
    for pointer in revert_pointers(store, &valid.user.id).await? {
        let issued = pointer
            .get("issued_ms")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let hash = pointer
            .get("hash")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if issued <= valid.issued_ms || hash == valid.hash {
            continue;
        }
        writes.push(Write::Delete {
            key: token_key(hash),
            condition: None,
        });
        if let (Some(pk), Some(sk)) = (
            pointer.get("pk").and_then(Value::as_str),
            pointer.get("sk").and_then(Value::as_str),
        ) {
            writes.push(Write::Delete {
                key: Key::new(pk, sk),
                condition: None,
            });
        }
    }
    Ok(writes)
}

/// Forgets every token of a user (account deletion); safe to repeat.
pub async fn forget_user(store: &dyn ItemStore, user_id: &str) -> Result<(), StoreError> {
    for purpose in [
        Purpose::VerifyEmail,
        Purpose::ResetPassword,
        Purpose::ChangeEmail,
        Purpose::SignIn,
    ] {
        let key = current_key(user_id, purpose);
        if let Some(current) = store.get(&key).await? {
            if let Some(hash) = current.get("hash").and_then(Value::as_str) {
                store.delete(token_key(hash), None).await?;
            }
            store.delete(key, None).await?;
        }
    }
    // The kinds with a pointer per token: every one of them.
    for pointer in revert_pointers(store, user_id).await? {
        if let Some(hash) = pointer.get("hash").and_then(Value::as_str) {
            store.delete(token_key(hash), None).await?;
        }
        if let (Some(pk), Some(sk)) = (
            pointer.get("pk").and_then(Value::as_str),
            pointer.get("sk").and_then(Value::as_str),
        ) {
            store.delete(Key::new(pk, sk), None).await?;
        }
    }
    Ok(())
}
