//! Runtime configuration, read once from environment variables at cold start.
//!
//! Every setting has a safe local default so `cargo run -p local` works with no
//! environment at all; the AWS deployment sets the values in `template.yaml`.
//! Each variable is declared once, as a field of [`Config`] (its name, its
//! default and its range); the README documents each in a table, and a test
//! keeps the two in step.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

pub use values::{Flag, Limit, Millis, Seconds};

/// Which family of adapters backs the ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite, a blob folder and a mail folder under `data_dir` (the default).
    #[default]
    Embedded,
    /// DynamoDB, S3, SQS and SES (chosen when `STORE=aws`, or when
    /// `AWS_ENDPOINT_URL` or `TABLE_NAME` is set and `STORE` is not).
    Aws,
}

/// The whole configuration of a function or of the local server.
///
/// Declared once, here: each field is one environment variable (its name
/// is the field's serde name), and its type holds its default and the
/// range it accepts (`Seconds<900, 30, 86_400>`: 900 s when unset, 30 s to
/// a day when set). Serde reads the environment into it and writes it back
/// out ([`Config::to_env`]), so the two directions cannot drift apart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Config {
    #[serde(rename = "STORE", default)]
    pub backend: Backend,
    /// Folder for embedded data: `store.sqlite3`, `blobs/`, `mail/`, `keys/`.
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    /// Base URL clients reach the API at; used for the issuer default, the
    /// JWKS URL and embedded presigned URLs.
    #[serde(default = "defaults::public_base_url")]
    pub public_base_url: String,
    /// Whether `PUBLIC_BASE_URL` was set; when not, the AWS functions use the
    /// host API Gateway saw.
    #[serde(skip)]
    pub public_base_url_set: bool,
    /// `iss` claim of issued tokens and the only issuer accepted; the
    /// public base URL when unset.
    #[serde(default)]
    pub jwt_issuer: String,
    /// `aud` claim of issued tokens and the only audience accepted.
    #[serde(default = "defaults::jwt_audience")]
    pub jwt_audience: String,
    /// Access-token lifetime.
    #[serde(rename = "ACCESS_TOKEN_TTL_SECONDS", default)]
    pub access_token_ttl: Seconds<900, 30, 86_400>,
    /// PKCS#8 PEM Ed25519 private key, given directly (`JWT_PRIVATE_KEY`:
    /// the local server, `sam local`). Generated and kept under
    /// `data_dir/keys/` when running embedded with neither this nor a secret.
    #[serde(rename = "JWT_PRIVATE_KEY", default)]
    pub jwt_private_key_pem: Option<String>,
    /// `JWT_PRIVATE_KEY_SECRET`: the name or ARN of the Secrets Manager
    /// secret holding that PEM. What the deployed signing functions get: the
    /// key is read at cold start and kept in the process, never in the
    /// function's configuration, where `lambda:GetFunctionConfiguration`
    /// (AWS's ReadOnlyAccess) would show it.
    #[serde(default)]
    pub jwt_private_key_secret: Option<String>,
    /// Extra public keys (a JWKS JSON document) still accepted after a key
    /// rotation, so tokens signed by the previous key stay valid until expiry.
    #[serde(default)]
    pub jwt_previous_jwks: Option<String>,
    /// The current public key(s) as a JWKS, for the functions that verify
    /// only (they get no private key); ignored where the private key is set.
    #[serde(default)]
    pub jwt_public_jwks: Option<String>,
    /// Emails that become admins when they sign up (bootstrap, comma
    /// separated, case-folded).
    #[serde(default, with = "values::comma_list")]
    pub admin_emails: Vec<String>,
    /// Refresh sessions end after this long unused…
    #[serde(rename = "SESSION_IDLE_TTL_SECONDS", default)]
    pub session_idle_ttl: Seconds<{ 7 * DAY }, 60, { 90 * DAY }>,
    /// …and after this long in any case.
    #[serde(rename = "SESSION_ABSOLUTE_TTL_SECONDS", default)]
    pub session_absolute_ttl: Seconds<{ 30 * DAY }, 60, { 365 * DAY }>,
    /// A refresh token reused within this window after its rotation is
    /// refused without revoking the session (two tabs refreshing at once);
    /// after it, reuse revokes the session (the token was stolen).
    #[serde(rename = "REFRESH_REUSE_GRACE_SECONDS", default)]
    pub refresh_reuse_grace: Seconds<10, 0, 10>,
    /// Failed logins allowed per window: per trusted device, or else per
    /// (account, client address), per account from unknown devices, and
    /// per client address (see `rate_limit`). The last counts failures
    /// only (successes give theirs back), so one address shared by an
    /// office or a carrier's NAT is rarely near it.
    #[serde(default)]
    pub login_max_failures_per_client: Limit<5>,
    #[serde(default)]
    pub login_max_failures_per_account: Limit<10>,
    #[serde(default)]
    pub login_max_failures_per_ip: Limit<100>,
    #[serde(rename = "LOGIN_FAILURE_WINDOW_SECONDS", default)]
    pub login_failure_window: Seconds<900, 10, DAY>,
    /// Per hour: sign-ups per client address, password-reset requests per
    /// address asked for and per client address, mails a user may ask for
    /// (verification resends, email changes).
    #[serde(default)]
    pub signups_per_ip_per_hour: Limit<20>,
    /// `SIGNUP_CONCEALS_EXISTING=true`: sign-up answers a taken address
    /// exactly as a free one (202, "check your mail"), creates nothing and
    /// mails the address's owner; accounts then sign in only once verified
    /// (otherwise a sign-in with the password just chosen would tell).
    /// Off by default: the old services' clients expect 201 and 409.
    #[serde(default)]
    pub signup_conceals_existing: Flag,
    #[serde(default)]
    pub resets_per_email_per_hour: Limit<3>,
    #[serde(default)]
    pub resets_per_ip_per_hour: Limit<10>,
    #[serde(default)]
    pub verification_mails_per_hour: Limit<5>,
    /// `APP_BASE_URL`: the front end that mailed links point at (never a
    /// URL built from a request's `Host`); the public base URL when unset.
    #[serde(default)]
    pub app_base_url: String,
    /// `APP_ORIGIN`: the one web origin allowed to call the API from a
    /// browser (CORS) and to PUT presigned uploads (the bucket's CORS). On
    /// AWS the template's `AppOrigin` configures API Gateway and the bucket;
    /// locally the gateway emulation reads it. Unset: no cross-origin access.
    #[serde(default, with = "values::origin")]
    pub app_origin: Option<String>,
    /// `MAX_SESSIONS_PER_USER`: past it, a login ends the oldest session.
    #[serde(default)]
    pub max_sessions_per_user: Limit<50>,
    /// `OUTBOX_LEASE_SECONDS`: how long a sender owns an outbox record
    /// before another may send it again (after a sender died half-way).
    #[serde(rename = "OUTBOX_LEASE_SECONDS", default)]
    pub outbox_lease: Seconds<30, 1, 900>,
    /// `IDEMPOTENCY_LEASE_SECONDS`: how long a request holding an
    /// `Idempotency-Key` owns it before a retry may take it over (its
    /// process died); longer than the longest function timeout (60 s).
    #[serde(rename = "IDEMPOTENCY_LEASE_SECONDS", default)]
    pub idempotency_lease: Seconds<90, 1, 900>,
    /// AWS resource names (set by the template).
    #[serde(default = "defaults::table_name")]
    pub table_name: String,
    #[serde(default = "defaults::bucket_name")]
    pub bucket_name: String,
    #[serde(default)]
    pub queue_url: Option<String>,
    #[serde(default)]
    pub dead_letter_queue_url: Option<String>,
    #[serde(default = "defaults::mail_from")]
    pub mail_from: String,
    /// `AWS_ENDPOINT_URL`, for emulators such as moto.
    #[serde(default)]
    pub aws_endpoint_url: Option<String>,
    /// `POSTS_API_URL`: where the posts feed reads from. Unset, the local
    /// server starts its own sample upstream and Lambda uses
    /// [`DEFAULT_POSTS_API_URL`].
    #[serde(default)]
    pub posts_api_url: Option<String>,
    /// `POSTS_FRESH_SECONDS`: how long a cached posts snapshot is served
    /// without asking the upstream again (soft expiry).
    #[serde(rename = "POSTS_FRESH_SECONDS", default)]
    pub posts_fresh: Seconds<60, 1, DAY>,
    /// `POSTS_MAX_STALE_SECONDS`: how long a snapshot may still be served
    /// when the upstream fails (hard expiry, the store's TTL).
    #[serde(rename = "POSTS_MAX_STALE_SECONDS", default)]
    pub posts_max_stale: Seconds<DAY, 60, { 30 * DAY }>,
    /// `POSTS_UPSTREAM_TIMEOUT_MS`: connect plus read, for one upstream fetch.
    #[serde(rename = "POSTS_UPSTREAM_TIMEOUT_MS", default)]
    pub posts_upstream_timeout: Millis<2_000, 100, 10_000>,
}

const DAY: u64 = 86_400;

/// The defaults that are text.
mod defaults {
    use std::path::PathBuf;

    pub fn data_dir() -> PathBuf {
        ".data".into()
    }
    pub fn public_base_url() -> String {
        "http://127.0.0.1:3000".into()
    }
    pub fn jwt_audience() -> String {
        "user-platform".into()
    }
    pub fn table_name() -> String {
        "user-platform".into()
    }
    pub fn bucket_name() -> String {
        "user-platform-files".into()
    }
    pub fn mail_from() -> String {
        "User Platform <no-reply@example.com>".into()
    }
}

/// A web origin exactly as browsers send it (`https://app.example.com`,
/// `http://localhost:5173`): no path, no wildcard. `None` for anything else,
/// `*` included: credentials-bearing routes are never open to every origin.
pub fn parse_origin(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    let valid = matches!(scheme, "http" | "https")
        && match rest.rsplit_once(':') {
            Some((host, port)) => host_ok(host) && port.parse::<u16>().is_ok_and(|p| p > 0),
            None => host_ok(rest),
        };
    valid.then(|| text.to_ascii_lowercase())
}

/// JSONPlaceholder, the posts API the replaced system used.
pub const DEFAULT_POSTS_API_URL: &str = "https://jsonplaceholder.typicode.com/posts";

/// A setting that is present but unusable. Cold start fails with it rather
/// than fall back silently to a default nobody chose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {variable} {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

/// A variable as the configuration reads it: trimmed, and blank is unset.
fn set(name: String, value: &str) -> Option<(String, String)> {
    let value = value.trim();
    (!value.is_empty()).then(|| (name, value.to_owned()))
}

/// Every variable's name, from the struct's own serde names.
static VARIABLES: LazyLock<Vec<String>> =
    LazyLock::new(|| match serde_json::to_value(Config::embedded(".data")) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().map(|(k, _)| k).collect(),
        _ => unreachable!("Config serializes as a map"),
    });

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // The whole environment: serde takes the variables it knows and
        // ignores the rest.
        Self::from_vars(
            std::env::vars()
                .filter_map(|(name, value)| set(name, &value))
                .collect(),
        )
    }

    /// The environment variables a configuration reads, each once.
    pub fn variables() -> &'static [String] {
        &VARIABLES
    }

    /// Reads configuration through `get`, so tests can supply their own
    /// values. Unset (or blank) settings take their defaults; a set one
    /// that is malformed or out of range is an error naming the variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars: BTreeMap<String, String> = Self::variables()
            .iter()
            .filter_map(|name| set(name.clone(), &get(name)?))
            .collect();
        Self::from_vars(vars)
    }

    fn from_vars(mut vars: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        // The defaults that depend on another variable.
        if !vars.contains_key("STORE")
            && (vars.contains_key("AWS_ENDPOINT_URL") || vars.contains_key("TABLE_NAME"))
        {
            vars.insert("STORE".into(), "aws".into());
        }
        let public_base_url_set = vars.contains_key("PUBLIC_BASE_URL");
        let read = |vars: &mut dyn Iterator<Item = (&String, &String)>| {
            let map = vars
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            Config::deserialize(serde_json::Value::Object(map))
        };
        let mut config = match read(&mut vars.iter()) {
            Ok(config) => config,
            Err(error) => {
                // Which variable: every other one has a default, so it is
                // the one that fails alone. (serde_path_to_error would say
                // so too, but its wrapper around this 40-field struct adds
                // 20 KB to every function; this is the rare path.)
                let variable = vars
                    .iter()
                    .find(|pair| read(&mut std::iter::once(*pair)).is_err())
                    .map_or_else(String::new, |(name, _)| name.clone());
                return Err(ConfigError {
                    variable,
                    problem: error.to_string(),
                });
            }
        };
        config.public_base_url_set = public_base_url_set;
        config.public_base_url = config.public_base_url.trim_end_matches('/').to_owned();
        if config.jwt_issuer.is_empty() {
            config.jwt_issuer = config.public_base_url.clone();
        }
        let app = config.app_base_url.trim_end_matches('/');
        config.app_base_url = match app {
            "" => config.public_base_url.clone(),
            app => app.to_owned(),
        };
        Ok(config)
    }

    /// The environment that reads back as this configuration
    /// ([`Config::from_lookup`] of it gives the same values): what the local
    /// server hands the function processes it runs (`--lambda`), and what
    /// `sam local` gets in its env-vars file, so both run with the settings
    /// the in-process server uses. Serde writes it with the same names and
    /// units it reads; unset settings are left out.
    pub fn to_env(&self) -> Vec<(String, String)> {
        let Ok(serde_json::Value::Object(map)) = serde_json::to_value(self) else {
            unreachable!("Config serializes as a map")
        };
        map.into_iter()
            .filter(|(name, _)| name != "PUBLIC_BASE_URL" || self.public_base_url_set)
            .filter_map(|(name, value)| match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some((name, s)),
                other => Some((name, other.to_string())),
            })
            .collect()
    }

    /// A configuration for tests: embedded, with everything under `data_dir`.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::from_vars(BTreeMap::new()).expect("the defaults are valid");
        config.data_dir = data_dir.into();
        config
    }

    /// Changes the public base URL and, when the issuer was derived from it,
    /// the issuer too (the local server learns its port only after binding).
    pub fn with_public_base_url(mut self, url: &str) -> Self {
        let url = url.trim_end_matches('/').to_owned();
        if self.jwt_issuer == self.public_base_url {
            self.jwt_issuer = url.clone();
        }
        if self.app_base_url == self.public_base_url {
            self.app_base_url = url.clone();
        }
        self.public_base_url = url;
        self
    }

    pub fn is_admin_email(&self, email: &str) -> bool {
        self.admin_emails.iter().any(|e| e == email)
    }
}

/// The types of the settings that are more than text: each reads its
/// variable's text, checks it, and writes it back the same way.
mod values {
    use std::fmt;
    use std::ops::Deref;
    use std::time::Duration;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// A whole number from the variable's text, within `min..=max`.
    fn whole<'de, D: Deserializer<'de>>(d: D, min: u64, max: u64) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "must be a whole number from {min} to {max} (got {text:?})"
                ))
            })
    }

    /// A duration in whole seconds: `DEFAULT` when unset, `MIN..=MAX` when
    /// set. Reads as the [`Duration`] it holds.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub struct Seconds<const DEFAULT: u64, const MIN: u64, const MAX: u64>(Duration);

    /// A duration in whole milliseconds, likewise.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub struct Millis<const DEFAULT: u64, const MIN: u64, const MAX: u64>(Duration);

    /// A limit: a whole number from 1 to a million, `DEFAULT` when unset.
    /// Reads as the `u32` it holds.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub struct Limit<const DEFAULT: u32>(u32);

    /// `true` or `false`, off when unset. Reads as the `bool` it holds.
    #[derive(Clone, Copy, PartialEq, Eq, Default)]
    pub struct Flag(bool);

    macro_rules! duration {
        ($name:ident, $from:ident, $as:ident) => {
            impl<const DEFAULT: u64, const MIN: u64, const MAX: u64> $name<DEFAULT, MIN, MAX> {
                /// Any duration, in range or not (tests shorten lifetimes
                /// below what a deployment may set).
                pub fn new(value: Duration) -> Self {
                    Self(value)
                }
            }
            impl<const DEFAULT: u64, const MIN: u64, const MAX: u64> From<Duration>
                for $name<DEFAULT, MIN, MAX>
            {
                fn from(value: Duration) -> Self {
                    Self::new(value)
                }
            }
            impl<const DEFAULT: u64, const MIN: u64, const MAX: u64> Default
                for $name<DEFAULT, MIN, MAX>
            {
                fn default() -> Self {
                    Self(Duration::$from(DEFAULT))
                }
            }
            impl<const DEFAULT: u64, const MIN: u64, const MAX: u64> Deref
                for $name<DEFAULT, MIN, MAX>
            {
                type Target = Duration;
                fn deref(&self) -> &Duration {
                    &self.0
                }
            }
            impl<const DEFAULT: u64, const MIN: u64, const MAX: u64> fmt::Debug
                for $name<DEFAULT, MIN, MAX>
            {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    self.0.fmt(f)
                }
            }
            impl<'de, const DEFAULT: u64, const MIN: u64, const MAX: u64> Deserialize<'de>
                for $name<DEFAULT, MIN, MAX>
            {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    whole(d, MIN, MAX).map(|n| Self(Duration::$from(n)))
                }
            }
            impl<const DEFAULT: u64, const MIN: u64, const MAX: u64> Serialize
                for $name<DEFAULT, MIN, MAX>
            {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.collect_str(&self.0.$as())
                }
            }
        };
    }
    duration!(Seconds, from_secs, as_secs);
    duration!(Millis, from_millis, as_millis);

    impl<const DEFAULT: u32> Limit<DEFAULT> {
        /// Any limit (tests use ones a deployment may not set).
        pub fn new(value: u32) -> Self {
            Self(value)
        }
    }
    impl<const DEFAULT: u32> From<u32> for Limit<DEFAULT> {
        fn from(value: u32) -> Self {
            Self::new(value)
        }
    }
    impl<const DEFAULT: u32> Default for Limit<DEFAULT> {
        fn default() -> Self {
            Self(DEFAULT)
        }
    }
    impl<const DEFAULT: u32> Deref for Limit<DEFAULT> {
        type Target = u32;
        fn deref(&self) -> &u32 {
            &self.0
        }
    }
    impl<const DEFAULT: u32> fmt::Debug for Limit<DEFAULT> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt(f)
        }
    }
    impl<'de, const DEFAULT: u32> Deserialize<'de> for Limit<DEFAULT> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            whole(d, 1, 1_000_000).map(|n| Self(n as u32))
        }
    }
    impl<const DEFAULT: u32> Serialize for Limit<DEFAULT> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(&self.0)
        }
    }

    impl Flag {
        pub fn new(value: bool) -> Self {
            Self(value)
        }
    }
    impl From<bool> for Flag {
        fn from(value: bool) -> Self {
            Self::new(value)
        }
    }
    impl Deref for Flag {
        type Target = bool;
        fn deref(&self) -> &bool {
            &self.0
        }
    }
    impl fmt::Debug for Flag {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt(f)
        }
    }
    impl<'de> Deserialize<'de> for Flag {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            match String::deserialize(d)?.as_str() {
                "true" => Ok(Self(true)),
                "false" => Ok(Self(false)),
                other => Err(D::Error::custom(format!(
                    "must be \"true\" or \"false\" (got {other:?})"
                ))),
            }
        }
    }
    impl Serialize for Flag {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(&self.0)
        }
    }

    /// Comma-separated addresses, trimmed and case-folded.
    pub mod comma_list {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
            Ok(String::deserialize(d)?
                .split(',')
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty())
                .collect())
        }

        pub fn serialize<S: Serializer>(list: &[String], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&list.join(","))
        }
    }

    /// One web origin (see [`super::parse_origin`]).
    pub mod origin {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
            let text = String::deserialize(d)?;
            super::super::parse_origin(&text).map(Some).ok_or_else(|| {
                D::Error::custom(format!(
                    "must be one origin, scheme://host[:port], not a pattern (got {text:?})"
                ))
            })
        }

        pub fn serialize<S: Serializer>(origin: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
            origin.serialize(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn with(pairs: &[(&str, &str)]) -> Config {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .unwrap()
    }

    fn error(pairs: &[(&str, &str)]) -> ConfigError {
        Config::from_lookup(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap_err()
    }

    /// The README's table documents every variable.
    #[test]
    fn every_variable_documented() {
        let readme = include_str!("../../README.md");
        for var in Config::variables() {
            assert!(
                readme.contains(&format!("`{var}`")),
                "README.md does not document {var}"
            );
        }
        assert!(Config::variables().len() >= 37, "{:?}", Config::variables());
        assert!(
            Config::variables()
                .iter()
                .any(|v| v == "ACCESS_TOKEN_TTL_SECONDS")
        );
    }

    /// `to_env` is the inverse of `from_lookup`: every field survives the
    /// trip (the default configuration, and one with every field changed).
    #[test]
    fn the_environment_reads_back_as_the_same_configuration() {
        let back = |c: &Config| {
            let env = c.to_env();
            Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
                .unwrap()
        };
        let default = with(&[]);
        assert_eq!(format!("{:?}", back(&default)), format!("{default:?}"));
        assert!(
            !default.to_env().iter().any(|(n, _)| n == "PUBLIC_BASE_URL"),
            "an unset base URL stays unset"
        );
        fn secs<const D: u64, const A: u64, const B: u64>(n: u64) -> Seconds<D, A, B> {
            Duration::from_secs(n).into()
        }
        let mut changed = with(&[("PUBLIC_BASE_URL", "https://api.example.com")]);
        changed.backend = Backend::Aws;
        changed.data_dir = "/tmp/elsewhere".into();
        changed.jwt_issuer = "https://issuer.example.com".into();
        changed.jwt_audience = "aud".into();
        changed.access_token_ttl = secs(120);
        changed.jwt_private_key_pem = Some("pem".into());
        changed.jwt_private_key_secret = Some("user-platform/jwt-private-key".into());
        changed.jwt_previous_jwks = Some("{}".into());
        changed.jwt_public_jwks = Some("{\"keys\":[]}".into());
        changed.admin_emails = vec!["a@example.com".into(), "b@example.com".into()];
        changed.session_idle_ttl = secs(600);
        changed.session_absolute_ttl = secs(6000);
        changed.refresh_reuse_grace = secs(3);
        changed.login_max_failures_per_client = Limit::new(7);
        changed.login_max_failures_per_account = Limit::new(8);
        changed.login_max_failures_per_ip = Limit::new(9);
        changed.login_failure_window = secs(60);
        changed.outbox_lease = secs(5);
        changed.idempotency_lease = secs(7);
        changed.signups_per_ip_per_hour = Limit::new(1_000_000);
        changed.signup_conceals_existing = Flag::new(true);
        changed.resets_per_email_per_hour = Limit::new(4);
        changed.resets_per_ip_per_hour = Limit::new(5);
        changed.verification_mails_per_hour = Limit::new(6);
        changed.app_base_url = "https://app.example.com".into();
        changed.max_sessions_per_user = Limit::new(3);
        changed.app_origin = Some("https://app.example.com".into());
        changed.table_name = "t".into();
        changed.bucket_name = "b".into();
        changed.queue_url = Some("q".into());
        changed.dead_letter_queue_url = Some("dlq".into());
        changed.mail_from = "m@example.com".into();
        changed.aws_endpoint_url = Some("http://127.0.0.1:5000".into());
        changed.posts_api_url = Some("http://127.0.0.1:9/posts".into());
        changed.posts_fresh = secs(7);
        changed.posts_max_stale = secs(700);
        changed.posts_upstream_timeout = Millis::new(Duration::from_millis(250));
        let round = back(&changed);
        assert_eq!(format!("{round:?}"), format!("{changed:?}"));
        // Every field was changed: none reads as its default.
        let fields = |c: &Config| {
            let serde_json::Value::Object(map) = serde_json::to_value(c).unwrap() else {
                unreachable!()
            };
            map
        };
        let (d, r) = (fields(&default), fields(&round));
        for var in Config::variables() {
            assert_ne!(
                d[var], r[var],
                "{var} was not changed by the round trip test"
            );
        }
    }

    #[test]
    fn defaults_are_local_and_embedded() {
        let c = with(&[]);
        assert_eq!(c.backend, Backend::Embedded);
        assert_eq!(c.data_dir, PathBuf::from(".data"));
        assert_eq!(c.jwt_issuer, "http://127.0.0.1:3000");
        assert_eq!(*c.access_token_ttl, Duration::from_secs(900));
    }

    #[test]
    fn endpoint_or_table_selects_aws_unless_store_says_otherwise() {
        assert_eq!(
            with(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]).backend,
            Backend::Aws
        );
        assert_eq!(with(&[("TABLE_NAME", "t")]).backend, Backend::Aws);
        assert_eq!(
            with(&[("TABLE_NAME", "t"), ("STORE", "embedded")]).backend,
            Backend::Embedded
        );
        assert_eq!(with(&[("STORE", "aws")]).backend, Backend::Aws);
    }

    #[test]
    fn the_app_origin_is_one_origin_never_a_pattern() {
        assert_eq!(
            with(&[("APP_ORIGIN", "http://localhost:5173")]).app_origin,
            Some("http://localhost:5173".into())
        );
        assert_eq!(
            with(&[("APP_ORIGIN", "https://App.Example.com")]).app_origin,
            Some("https://app.example.com".into())
        );
        assert_eq!(with(&[]).app_origin, None);
        for bad in [
            "*",
            "https://*",
            "https://app.example.com/",
            "app.example.com",
            "ftp://x",
            "https://a.b:0",
            "https://a b",
        ] {
            assert_eq!(
                error(&[("APP_ORIGIN", bad)]).variable,
                "APP_ORIGIN",
                "{bad}"
            );
        }
    }

    #[test]
    fn admins_are_case_folded() {
        let c = with(&[("ADMIN_EMAILS", " A@x.io, b@y.io ,")]);
        assert_eq!(c.admin_emails, vec!["a@x.io", "b@y.io"]);
    }

    #[test]
    fn bad_values_fail_loudly_naming_the_variable() {
        let e = error(&[("STORE", "dynamo")]);
        assert_eq!(e.variable, "STORE");
        assert!(e.to_string().contains("dynamo"), "{e}");
        for (name, value) in [
            ("ACCESS_TOKEN_TTL_SECONDS", "5"),
            ("ACCESS_TOKEN_TTL_SECONDS", "ten"),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "0"),
            ("POSTS_UPSTREAM_TIMEOUT_MS", "-1"),
            ("OUTBOX_LEASE_SECONDS", "100000"),
            ("REFRESH_REUSE_GRACE_SECONDS", "11"),
            ("SIGNUP_CONCEALS_EXISTING", "yes"),
        ] {
            let e = error(&[(name, value)]);
            assert_eq!(e.variable, name, "{e}");
            assert!(e.to_string().contains(value), "{e}");
        }
        // Blank is unset: the default.
        assert_eq!(
            *with(&[("ACCESS_TOKEN_TTL_SECONDS", " ")]).access_token_ttl,
            Duration::from_secs(900)
        );
    }

    #[test]
    fn issuer_follows_the_base_url_unless_set() {
        let c = with(&[]).with_public_base_url("http://127.0.0.1:4555/");
        assert_eq!(c.jwt_issuer, "http://127.0.0.1:4555");
        let c = with(&[("JWT_ISSUER", "https://id.example")]).with_public_base_url("http://x");
        assert_eq!(c.jwt_issuer, "https://id.example");
    }
}
