//! Abuse limits that hold under concurrency.
//!
//! Every limit is a sliding-window counter: the current fixed window's
//! count plus the previous window's, weighted by how much of it still
//! overlaps the sliding window (so a burst at a window's end cannot be
//! doubled by another at the next one's start). An attempt is *taken*
//! before the work it limits (before the password is verified): each of
//! its counters gets 1 added by a single-item conditional write, on the
//! condition that it is still below its allowance, so N parallel attempts
//! can never pass more than the limit, whatever their timing. (Single-item
//! writes, not one transaction: a flood of transactions on the same items
//! would cancel one another; a refused attempt may leave an earlier counter
//! incremented, which errs on the safe side.)
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | counter | `RATE#{scope}` | `{counter}#{window start}` | `count`; TTL two windows |
//! | trusted device | `RATE#DEVICE#{account}` | SHA-256 of the device token | a device that signed in to the account; TTL 90 days |
//!
//! Logins (see [`LoginLimiter::attempt`]) follow OWASP's device-cookie
//! design. A device the account trusts (it presents the device token a
//! sign-in gave it) counts only its own failures. Any other client counts
//! per (account, address), per address, and in the account's allowance for
//! unknown devices, so a stranger's guesses lock the strangers out, never
//! the owner's devices; a locked owner on a new device gets a sign-in link
//! by mail. Only failures count: a success gives back what it took from
//! the shared counters. A password reset clears every counter of the
//! account. Password change and account deletion count per user in their
//! own scope, which only the signed-in user can reach.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::config::Config;
/// Why an attempt is not let through.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// A counter is spent (`counter`: its name); one frees up in
    /// `retry_after_secs` (HTTP 429).
    #[error("rate limited for {retry_after_secs} s")]
    Limited {
        retry_after_secs: u64,
        counter: String,
    },
    /// The counters could not be read or written (fails closed: HTTP 503).
    #[error(transparent)]
    Store(#[from] StoreError),
}
use crate::ports::item_store::{
    Change, Condition, Index, ItemStore, Key, Query, StoreError, Write,
};

/// One counter an attempt takes from.
#[derive(Debug, Clone)]
pub struct Counter {
    /// The partition (`RATE#{scope}`): [`Limits::clear`] empties it.
    pub scope: String,
    pub name: String,
    pub limit: i64,
}

impl Counter {
    pub fn new(scope: impl Into<String>, name: impl Into<String>, limit: i64) -> Self {
        Counter {
            scope: scope.into(),
            name: name.into(),
            limit,
        }
    }

    fn key(&self, window_start: i64) -> Key {
        Key::new(
            format!("RATE#{}", self.scope),
            format!("{}#{window_start}", self.name),
        )
    }
}

/// What one [`Limits::take`] took: each counter's name and the key of the
/// window it was counted in.
#[derive(Debug, Clone, Default)]
pub struct Taken(Vec<(String, Key)>);

/// Sliding-window counters over the item store.
#[derive(Clone)]
pub struct Limits {
    store: Arc<dyn ItemStore>,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Limits {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Limits { store }
    }

    /// Takes one from every counter, all or none. `Err(TooManyRequests)`
    /// (with the seconds until one is free again) when any is spent; what
    /// was taken, to give back with [`Limits::refund`].
    pub async fn take(&self, counters: &[Counter], window: i64) -> Result<Taken, LimitError> {
        let now = now();
        let current = now - now.rem_euclid(window);
        let previous = current - window;
        let elapsed = (now - current) as f64 / window as f64;
        let retry_after = ((current + window - now).max(1)) as u64;
        let reads = counters.iter().flat_map(|c| {
            [c.key(current), c.key(previous)].map(|k| async move { self.store.get(&k).await })
        });
        let counts: Vec<i64> = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .map(|i| {
                i.and_then(|i| i.get("count").and_then(Value::as_i64))
                    .unwrap_or(0)
            })
            .collect();
        let mut writes = Vec::with_capacity(counters.len());
        for (i, c) in counters.iter().enumerate() {
            // (All allowances are checked before anything is written.)
            let (cur, prev) = (counts[2 * i], counts[2 * i + 1]);
            // What the previous window still weighs in the sliding window.
            let carried = (prev as f64 * (1.0 - elapsed)).floor() as i64;
            let allowance = c.limit - carried;
            if cur >= allowance {
                return Err(LimitError::Limited {
                    retry_after_secs: retry_after,
                    counter: c.name.clone(),
                });
            }
            writes.push(Write::Update {
                key: c.key(current),
                changes: vec![
                    Change::Add("count".into(), 1),
                    Change::Set("expires_at".into(), json!(current + 2 * window)),
                ],
                condition: Some(Condition::Below("count".into(), allowance)),
            });
        }
        let mut taken = Taken::default();
        for (write, c) in writes.into_iter().zip(counters) {
            match self.store.write(write).await {
                Ok(_) => taken.0.push((c.name.clone(), c.key(current))),
                // Others took the last of the allowance meanwhile.
                Err(StoreError::ConditionFailed) => {
                    return Err(LimitError::Limited {
                        retry_after_secs: retry_after,
                        counter: c.name.clone(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(taken)
    }

    /// Gives back what [`Limits::take`] took from the counters named
    /// `names` (an attempt that turned out not to count: a successful
    /// login), in the window it was taken in (which still weighs in the
    /// sliding window after it ends).
    pub async fn refund(&self, taken: &Taken, names: &[&str]) -> Result<(), LimitError> {
        for (name, key) in &taken.0 {
            if !names.contains(&name.as_str()) {
                continue;
            }
            let refund = Write::Update {
                key: key.clone(),
                changes: vec![Change::Add("count".into(), -1)],
                condition: Some(Condition::AtLeast("count".into(), 1)),
            };
            match self.store.write(refund).await {
                Ok(_) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Forgets one counter (both windows).
    pub async fn reset(&self, counter: &Counter, window: i64) -> Result<(), LimitError> {
        let now = now();
        let current = now - now.rem_euclid(window);
        for start in [current, current - window] {
            self.store.delete(counter.key(start), None).await?;
        }
        Ok(())
    }

    /// Forgets every counter of a scope.
    pub async fn clear(&self, scope: &str) -> Result<(), LimitError> {
        Ok(self
            .store
            .delete_all(Query::new(Index::Primary, format!("RATE#{scope}")))
            .await?)
    }
}

/// The login limits (see the module docs).
#[derive(Clone)]
pub struct LoginLimiter {
    limits: Limits,
    store: Arc<dyn ItemStore>,
    per_client: i64,
    per_account: i64,
    per_ip: i64,
    window: i64,
}

/// How long a device token keeps a device trusted by an account.
pub const DEVICE_FOR_SECS: i64 = 90 * 86_400;

/// How long a sign-in link works (`one_time::Purpose::SignIn`).
const SIGN_IN_LINK_SECS: i64 = 15 * 60;

/// The counter a stranger's failures spend: the one whose 429 offers the
/// owner a sign-in link.
pub const STRANGERS: &str = "STRANGERS";
const PER_IP: &str = "IP";

fn device_key(account: &str, token: &str) -> Key {
    Key::new(
        format!("RATE#DEVICE#{account}"),
        crate::secrets::token_hash(token),
    )
}

/// One login attempt let through: what it took, and whose it is.
pub struct LoginAttempt {
    taken: Taken,
    own: Counter,
    /// The device token presented, when it is one this account issued.
    device: Option<String>,
}

impl LoginLimiter {
    pub fn new(store: Arc<dyn ItemStore>, config: &Config) -> Self {
        LoginLimiter {
            limits: Limits::new(store.clone()),
            store,
            per_client: i64::from(*config.login_max_failures_per_client),
            per_account: i64::from(*config.login_max_failures_per_account),
            per_ip: i64::from(*config.login_max_failures_per_ip),
            window: config.login_failure_window.as_secs() as i64,
        }
    }

    /// Takes a login attempt for `account` from `client` (its address)
    /// presenting `device` (a device token, if any), before the password is
    /// verified; 429 when a limit is spent.
    ///
    /// OWASP's device-cookie design: a device this account trusts (it
    /// signed in before and kept the token it got) counts only its own
    /// failures, so no one else's can lock it. Every other client counts
    /// per (account, address), per address, and in the account's shared
    /// allowance for unknown devices ([`STRANGERS`]).
    pub async fn attempt(
        &self,
        account: &str,
        client: Option<&str>,
        device: Option<&str>,
    ) -> Result<LoginAttempt, LimitError> {
        let client = client.unwrap_or("unknown");
        let device = match device.filter(|d| !d.is_empty() && d.len() <= 64) {
            Some(d) if self.store.get(&device_key(account, d)).await?.is_some() => {
                Some(d.to_owned())
            }
            _ => None,
        };
        let (own, counters) = match &device {
            Some(d) => {
                let own = Counter::new(
                    format!("LOGIN#{account}"),
                    format!("DEVICE#{}", crate::secrets::token_hash(d)),
                    self.per_client,
                );
                (own.clone(), vec![own])
            }
            None => {
                let own = Counter::new(
                    format!("LOGIN#{account}"),
                    format!("CLIENT#{client}"),
                    self.per_client,
                );
                let counters = vec![
                    own.clone(),
                    Counter::new(format!("LOGIN_IP#{client}"), PER_IP, self.per_ip),
                    Counter::new(format!("LOGIN#{account}"), STRANGERS, self.per_account),
                ];
                (own, counters)
            }
        };
        let taken = self.limits.take(&counters, self.window).await?;
        Ok(LoginAttempt { taken, own, device })
    }

    /// The attempt succeeded, so it does not count: its own counter starts
    /// afresh and what it took from the shared ones is given back (an
    /// office behind one address signs in as often as it likes; only
    /// failures add up). Returns the device token the client keeps: the one
    /// it presented, or a new one this account trusts from now on.
    pub async fn succeeded(
        &self,
        account: &str,
        attempt: LoginAttempt,
    ) -> Result<String, LimitError> {
        self.limits.reset(&attempt.own, self.window).await?;
        self.limits
            .refund(&attempt.taken, &[PER_IP, STRANGERS])
            .await?;
        match attempt.device {
            Some(device) => Ok(device),
            None => self.trust_device(account).await,
        }
    }

    /// A new device token for `account` (a login, or a sign-in link).
    pub async fn trust_device(&self, account: &str) -> Result<String, LimitError> {
        let token = crate::secrets::new_token();
        let key = device_key(account, &token);
        let item = json!({"pk": key.pk, "sk": key.sk, "expires_at": now() + DEVICE_FOR_SECS});
        self.store
            .put(item.as_object().cloned().unwrap_or_default(), None)
            .await?;
        Ok(token)
    }

    /// Whether a sign-in link may be mailed for `account` now: one per
    /// window, so a stranger hammering the lock cannot flood the owner's
    /// mailbox, nor replace the owner's link faster than it expires.
    pub async fn sign_in_link(&self, account: &str) -> Result<bool, LimitError> {
        let counter = Counter::new(format!("LOGIN#{account}"), "LINK", 1);
        // At least the link's own lifetime, whatever the lock's window.
        let window = self.window.max(SIGN_IN_LINK_SECS);
        match self.limits.take(&[counter], window).await {
            Ok(_) => Ok(true),
            Err(LimitError::Limited { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Takes a re-authentication attempt (password change, account
    /// deletion) for a signed-in user: their own scope, not the login's.
    pub async fn reauth_attempt(&self, user_id: &str) -> Result<(), LimitError> {
        let counter = Counter::new(format!("REAUTH#{user_id}"), "REAUTH", self.per_client);
        self.limits.take(&[counter], self.window).await.map(|_| ())
    }

    /// Clears every login counter of the account and the devices it
    /// trusted (a password reset, a new password at verification, an
    /// address that moves): the owner proved control of the address, so the
    /// lock goes, and so does any device trusted before: a device that
    /// signed in with the old password, or under the address, is a stranger
    /// from now on until it signs in again.
    pub async fn clear_account(&self, account: &str) -> Result<(), LimitError> {
        self.limits.clear(&format!("LOGIN#{account}")).await?;
        self.limits.clear(&format!("DEVICE#{account}")).await
    }

    /// Whether `device` is a token this account trusts.
    pub async fn trusts(&self, account: &str, device: Option<&str>) -> Result<bool, LimitError> {
        match device.filter(|d| !d.is_empty() && d.len() <= 64) {
            Some(d) => Ok(self.store.get(&device_key(account, d)).await?.is_some()),
            None => Ok(false),
        }
    }

    /// Forgets everything kept for an account (its deletion).
    pub async fn forget(&self, account: &str, user_id: &str) -> Result<(), LimitError> {
        self.limits.clear(&format!("LOGIN#{account}")).await?;
        self.limits.clear(&format!("DEVICE#{account}")).await?;
        self.limits.clear(&format!("REAUTH#{user_id}")).await
    }
}

/// The other limits: sign-ups and password-reset requests per client
/// address (and per address mailed), verification mails per user; each per
/// hour.
#[derive(Clone)]
pub struct AbuseLimits {
    limits: Limits,
    signups_per_ip: i64,
    resets_per_email: i64,
    resets_per_ip: i64,
    mails_per_user: i64,
}

const HOUR: i64 = 3600;

impl AbuseLimits {
    pub fn new(store: Arc<dyn ItemStore>, config: &Config) -> Self {
        AbuseLimits {
            limits: Limits::new(store),
            signups_per_ip: i64::from(*config.signups_per_ip_per_hour),
            resets_per_email: i64::from(*config.resets_per_email_per_hour),
            resets_per_ip: i64::from(*config.resets_per_ip_per_hour),
            mails_per_user: i64::from(*config.verification_mails_per_hour),
        }
    }

    pub async fn signup(&self, client: Option<&str>) -> Result<(), LimitError> {
        let client = client.unwrap_or("unknown");
        let c = Counter::new(format!("SIGNUP#{client}"), "SIGNUP", self.signups_per_ip);
        self.limits.take(&[c], HOUR).await.map(|_| ())
    }

    /// A reset request: per client (429 when spent), then per address
    /// asked for, the same counters whether or not an account has that
    /// address. `Ok(false)` when the address's allowance is spent: the
    /// request is answered as usual and nothing is mailed, so a stranger
    /// spending it neither floods the owner's mailbox nor replaces the links
    /// already in it (they stay valid: the owner can still recover). A
    /// `trusted` device (one the account signed in from) has its own
    /// allowance, out of strangers' reach.
    pub async fn password_reset(
        &self,
        email: &str,
        client: Option<&str>,
        trusted: Option<&str>,
    ) -> Result<bool, LimitError> {
        let client = client.unwrap_or("unknown");
        let per_client = Counter::new(format!("RESET_IP#{client}"), "RESET", self.resets_per_ip);
        self.limits.take(&[per_client], HOUR).await?;
        let name = match trusted {
            Some(device) => format!("DEVICE#{}", crate::secrets::token_hash(device)),
            None => "RESET".to_owned(),
        };
        let per_address = Counter::new(format!("RESET#{email}"), name, self.resets_per_email);
        match self.limits.take(&[per_address], HOUR).await {
            Ok(_) => Ok(true),
            Err(LimitError::Limited { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A notice that someone tried to sign up with an address an account
    /// has (taken in the consumer, so the request does the same work either
    /// way): `false` when the address had its share this hour, and the
    /// mail is skipped (no mailbox flooding, and the verification link in
    /// the last one stays the current one).
    pub async fn existing_address_notice(&self, email: &str) -> Result<bool, LimitError> {
        let c = Counter::new(format!("NOTICE#{email}"), "NOTICE", self.resets_per_email);
        match self.limits.take(&[c], HOUR).await {
            Ok(_) => Ok(true),
            Err(LimitError::Limited { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A mail the user asked for (verification resend, email change).
    pub async fn user_mail(&self, user_id: &str) -> Result<(), LimitError> {
        let c = Counter::new(format!("MAIL#{user_id}"), "MAIL", self.mails_per_user);
        self.limits.take(&[c], HOUR).await.map(|_| ())
    }
}
