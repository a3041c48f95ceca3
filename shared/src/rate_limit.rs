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
//! | known client | `RATE#KNOWN#{account}` | `{client}` | a client that logged into the account; TTL 90 days |
//!
//! Logins (see [`LoginLimiter::attempt`]) count per (account, client) —
//! strict, only the client's own failures can block it — per client
//! address, and per account for clients that never logged into it, so a
//! stranger's guesses exhaust the strangers' allowance, never the owner's
//! usual client. A success clears the (account, client) counter and
//! remembers the client; a password reset clears every counter of the
//! account. Password change and account deletion count per user in their
//! own scope, which only the signed-in user can reach.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::config::Config;
/// Why an attempt is not let through.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// A counter is spent; one frees up in `retry_after_secs` (HTTP 429).
    #[error("rate limited for {retry_after_secs} s")]
    Limited { retry_after_secs: u64 },
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
    /// (with the seconds until one is free again) when any is spent.
    pub async fn take(&self, counters: &[Counter], window: i64) -> Result<(), LimitError> {
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
        for write in writes {
            match self.store.write(write).await {
                Ok(_) => {}
                // Others took the last of the allowance meanwhile.
                Err(StoreError::ConditionFailed) => {
                    return Err(LimitError::Limited {
                        retry_after_secs: retry_after,
                    });
                }
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

/// How long a client stays "known" to an account after logging in.
const KNOWN_FOR_SECS: i64 = 90 * 86_400;

fn known_key(account: &str, client: &str) -> Key {
    Key::new(format!("RATE#KNOWN#{account}"), client.to_owned())
}

impl LoginLimiter {
    pub fn new(store: Arc<dyn ItemStore>, config: &Config) -> Self {
        LoginLimiter {
            limits: Limits::new(store.clone()),
            store,
            per_client: i64::from(config.login_max_failures_per_client),
            per_account: i64::from(config.login_max_failures_per_account),
            per_ip: i64::from(config.login_max_failures_per_ip),
            window: config.login_failure_window.as_secs() as i64,
        }
    }

    fn client_counter(&self, account: &str, client: &str) -> Counter {
        Counter::new(
            format!("LOGIN#{account}"),
            format!("CLIENT#{client}"),
            self.per_client,
        )
    }

    /// Takes a login attempt for `account` from `client` (its address),
    /// before the password is verified; 429 when a limit is spent.
    pub async fn attempt(&self, account: &str, client: Option<&str>) -> Result<(), LimitError> {
        let client = client.unwrap_or("unknown");
        let known = self.store.get(&known_key(account, client)).await?.is_some();
        let mut counters = vec![
            self.client_counter(account, client),
            Counter::new(format!("LOGIN_IP#{client}"), "IP", self.per_ip),
        ];
        if !known {
            counters.push(Counter::new(
                format!("LOGIN#{account}"),
                "STRANGERS",
                self.per_account,
            ));
        }
        self.limits.take(&counters, self.window).await
    }

    /// A login succeeded: the client's own counter starts afresh and the
    /// client is known to the account from now on.
    pub async fn succeeded(&self, account: &str, client: Option<&str>) -> Result<(), LimitError> {
        let client = client.unwrap_or("unknown");
        self.limits
            .reset(&self.client_counter(account, client), self.window)
            .await?;
        let key = known_key(account, client);
        let item = json!({"pk": key.pk, "sk": key.sk, "expires_at": now() + KNOWN_FOR_SECS});
        self.store
            .put(item.as_object().cloned().unwrap_or_default(), None)
            .await?;
        Ok(())
    }

    /// Takes a re-authentication attempt (password change, account
    /// deletion) for a signed-in user: their own scope, not the login's.
    pub async fn reauth_attempt(&self, user_id: &str) -> Result<(), LimitError> {
        let counter = Counter::new(format!("REAUTH#{user_id}"), "REAUTH", self.per_client);
        self.limits.take(&[counter], self.window).await
    }

    /// Clears every login counter of the account (a password reset: the
    /// owner proved control of the address, so the lock goes).
    pub async fn clear_account(&self, account: &str) -> Result<(), LimitError> {
        self.limits.clear(&format!("LOGIN#{account}")).await
    }

    /// Forgets everything kept for an account (its deletion).
    pub async fn forget(&self, account: &str, user_id: &str) -> Result<(), LimitError> {
        self.limits.clear(&format!("LOGIN#{account}")).await?;
        self.limits.clear(&format!("KNOWN#{account}")).await?;
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
            signups_per_ip: i64::from(config.signups_per_ip_per_hour),
            resets_per_email: i64::from(config.resets_per_email_per_hour),
            resets_per_ip: i64::from(config.resets_per_ip_per_hour),
            mails_per_user: i64::from(config.verification_mails_per_hour),
        }
    }

    pub async fn signup(&self, client: Option<&str>) -> Result<(), LimitError> {
        let client = client.unwrap_or("unknown");
        let c = Counter::new(format!("SIGNUP#{client}"), "SIGNUP", self.signups_per_ip);
        self.limits.take(&[c], HOUR).await
    }

    /// A reset request: per address asked for and per client. The same
    /// counters whether or not an account has that address.
    pub async fn password_reset(
        &self,
        email: &str,
        client: Option<&str>,
    ) -> Result<(), LimitError> {
        let client = client.unwrap_or("unknown");
        self.limits
            .take(
                &[
                    Counter::new(format!("RESET#{email}"), "RESET", self.resets_per_email),
                    Counter::new(format!("RESET_IP#{client}"), "RESET", self.resets_per_ip),
                ],
                HOUR,
            )
            .await
    }

    /// A mail the user asked for (verification resend, email change).
    pub async fn user_mail(&self, user_id: &str) -> Result<(), LimitError> {
        let c = Counter::new(format!("MAIL#{user_id}"), "MAIL", self.mails_per_user);
        self.limits.take(&[c], HOUR).await
    }
}
