//! Failed-login limits: counters per account and per client address in the
//! item store, in fixed windows that expire by TTL.
//!
//! Past `LOGIN_MAX_FAILURES_PER_ACCOUNT` (10) failures for one email, or
//! `LOGIN_MAX_FAILURES_PER_IP` (50) from one address, within
//! `LOGIN_FAILURE_WINDOW_SECONDS` (900), login answers 429 with
//! `Retry-After` until the window ends, whether the password is right or
//! not (so the limit cannot be used to probe passwords). Nothing locks an
//! account for good: every window expires on its own.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::config::Config;
use crate::error::ApiError;
use crate::ports::item_store::{Change, ItemStore, Key};

#[derive(Clone)]
pub struct LoginLimiter {
    store: Arc<dyn ItemStore>,
    per_account: i64,
    per_ip: i64,
    window: i64,
}

impl LoginLimiter {
    pub fn new(store: Arc<dyn ItemStore>, config: &Config) -> Self {
        LoginLimiter {
            store,
            per_account: i64::from(config.login_max_failures_per_account),
            per_ip: i64::from(config.login_max_failures_per_ip),
            window: config.login_failure_window.as_secs() as i64,
        }
    }

    fn keys(&self, account: &str, ip: Option<&str>, now: i64) -> (i64, Vec<(Key, i64)>) {
        let start = now - now.rem_euclid(self.window);
        let mut keys = vec![(
            Key::new(format!("RATE#LOGIN#ACCOUNT#{account}"), start.to_string()),
            self.per_account,
        )];
        if let Some(ip) = ip {
            keys.push((
                Key::new(format!("RATE#LOGIN#IP#{ip}"), start.to_string()),
                self.per_ip,
            ));
        }
        (start + self.window, keys)
    }

    /// 429 when the account or the address is over its limit.
    pub async fn check(&self, account: &str, ip: Option<&str>) -> Result<(), ApiError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (end, keys) = self.keys(account, ip, now);
        for (key, limit) in keys {
            let count = self
                .store
                .get(&key)
                .await?
                .and_then(|i| i.get("count").and_then(Value::as_i64))
                .unwrap_or(0);
            if count >= limit {
                return Err(ApiError::TooManyRequests {
                    retry_after_secs: (end - now).max(1) as u64,
                });
            }
        }
        Ok(())
    }

    /// Drops the account's current counter (used when the account is deleted).
    pub async fn forget(&self, account: &str) -> Result<(), ApiError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (_, keys) = self.keys(account, None, now);
        for (key, _) in keys {
            self.store.delete(key, None).await?;
        }
        Ok(())
    }

    /// Counts one failure against the account and the address.
    pub async fn record_failure(&self, account: &str, ip: Option<&str>) -> Result<(), ApiError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (end, keys) = self.keys(account, ip, now);
        for (key, _) in keys {
            self.store
                .update(
                    key,
                    vec![
                        Change::Add("count".into(), 1),
                        Change::Set("expires_at".into(), json!(end)),
                    ],
                    None,
                )
                .await?;
        }
        Ok(())
    }
}
