//! Runtime configuration, read once from environment variables at cold start.
//!
//! Every setting has a safe local default so `cargo run -p local` works with no
//! environment at all; the AWS deployment sets the values in `template.yaml`.
//! Each variable is declared once, in `SETTINGS` (read, default, write
//! back); the README documents each in a table, and a test keeps the two
//! in step.

use std::path::PathBuf;
use std::time::Duration;

/// Which family of adapters backs the ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// SQLite, a blob folder and a mail folder under `data_dir` (the default).
    #[default]
    Embedded,
    /// DynamoDB, S3, SQS and SES (chosen when `STORE=aws`, or when
    /// `AWS_ENDPOINT_URL` or `TABLE_NAME` is set and `STORE` is not).
    Aws,
}

/// The whole configuration of a function or of the local server.
/// `Default` is only the blank every setting of `SETTINGS` fills in: the
/// real defaults are in that table.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub backend: Backend,
    /// Folder for embedded data: `store.sqlite3`, `blobs/`, `mail/`, `keys/`.
    pub data_dir: PathBuf,
    /// Base URL clients reach the API at; used for the issuer default, the
    /// JWKS URL and embedded presigned URLs.
    pub public_base_url: String,
    /// Whether `PUBLIC_BASE_URL` was set; when not, the AWS functions use the
    /// host API Gateway saw.
    pub public_base_url_set: bool,
    /// `iss` claim of issued tokens and the only issuer accepted.
    pub jwt_issuer: String,
    /// `aud` claim of issued tokens and the only audience accepted.
    pub jwt_audience: String,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// PKCS#8 PEM Ed25519 private key, given directly (`JWT_PRIVATE_KEY`:
    /// the local server, `sam local`). Generated and kept under
    /// `data_dir/keys/` when running embedded with neither this nor a secret.
    pub jwt_private_key_pem: Option<String>,
    /// `JWT_PRIVATE_KEY_SECRET`: the name or ARN of the Secrets Manager
    /// secret holding that PEM. What the deployed signing functions get: the
    /// key is read at cold start and kept in the process, never in the
    /// function's configuration, where `lambda:GetFunctionConfiguration`
    /// (AWS's ReadOnlyAccess) would show it.
    pub jwt_private_key_secret: Option<String>,
    /// Extra public keys (a JWKS JSON document) still accepted after a key
    /// rotation, so tokens signed by the previous key stay valid until expiry.
    pub jwt_previous_jwks: Option<String>,
    /// The current public key(s) as a JWKS, for the functions that verify
    /// only (they get no private key); ignored where the private key is set.
    pub jwt_public_jwks: Option<String>,
    /// Emails that become admins when they sign up (bootstrap, comma separated).
    pub admin_emails: Vec<String>,
    /// Refresh sessions end after this long unused…
    pub session_idle_ttl: Duration,
    /// …and after this long in any case.
    pub session_absolute_ttl: Duration,
    /// A refresh token reused within this window after its rotation is
    /// refused without revoking the session (two tabs refreshing at once);
    /// after it, reuse revokes the session (the token was stolen).
    pub refresh_reuse_grace: Duration,
    /// Failed logins allowed per window: per trusted device, or else per
    /// (account, client address), per account from unknown devices, and
    /// per client address (see `rate_limit`).
    pub login_max_failures_per_client: u32,
    pub login_max_failures_per_account: u32,
    pub login_max_failures_per_ip: u32,
    pub login_failure_window: Duration,
    /// Per hour: sign-ups per client address, password-reset requests per
    /// address asked for and per client address, mails a user may ask for
    /// (verification resends, email changes).
    pub signups_per_ip_per_hour: u32,
    /// `SIGNUP_CONCEALS_EXISTING=true`: sign-up answers a taken address
    /// exactly as a free one (202, "check your mail"), creates nothing and
    /// mails the address's owner; accounts then sign in only once verified
    /// (otherwise a sign-in with the password just chosen would tell).
    /// Off by default: the old services' clients expect 201 and 409.
    pub signup_conceals_existing: bool,
    pub resets_per_email_per_hour: u32,
    pub resets_per_ip_per_hour: u32,
    pub verification_mails_per_hour: u32,
    /// `APP_BASE_URL`: the front end that mailed links point at (never a
    /// URL built from a request's `Host`).
    pub app_base_url: String,
    /// `APP_ORIGIN`: the one web origin allowed to call the API from a
    /// browser (CORS) and to PUT presigned uploads (the bucket's CORS). On
    /// AWS the template's `AppOrigin` configures API Gateway and the bucket;
    /// locally the gateway emulation reads it. Unset: no cross-origin access.
    pub app_origin: Option<String>,
    /// `MAX_SESSIONS_PER_USER`: past it, a login ends the oldest session.
    pub max_sessions_per_user: u32,
    /// `OUTBOX_LEASE_SECONDS`: how long a sender owns an outbox record
    /// before another may send it again (after a sender died half-way).
    pub outbox_lease: Duration,
    /// AWS resource names (set by the template).
    pub table_name: String,
    pub bucket_name: String,
    pub queue_url: Option<String>,
    pub dead_letter_queue_url: Option<String>,
    pub mail_from: String,
    /// `AWS_ENDPOINT_URL`, for emulators such as moto.
    pub aws_endpoint_url: Option<String>,
    /// `POSTS_API_URL`: where the posts feed reads from. Unset, the local
    /// server starts its own sample upstream and Lambda uses
    /// [`DEFAULT_POSTS_API_URL`].
    pub posts_api_url: Option<String>,
    /// `POSTS_FRESH_SECONDS`: how long a cached posts snapshot is served
    /// without asking the upstream again (soft expiry).
    pub posts_fresh: Duration,
    /// `POSTS_MAX_STALE_SECONDS`: how long a snapshot may still be served
    /// when the upstream fails (hard expiry, the store's TTL).
    pub posts_max_stale: Duration,
    /// `POSTS_UPSTREAM_TIMEOUT_MS`: connect plus read, for one upstream fetch.
    pub posts_upstream_timeout: Duration,
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
    pub variable: &'static str,
    pub problem: String,
}

/// What a setting reads its variables through (trimmed; blank is unset).
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One environment variable: how it is read into the configuration (its
/// default when unset) and written back out ([`Config::to_env`]; `None`
/// leaves it unset). Each setting is declared once, in [`SETTINGS`].
struct Setting {
    var: &'static str,
    read: fn(&mut Config, Lookup) -> Result<(), ConfigError>,
    write: fn(&Config) -> Option<String>,
}

/// A whole number in `range`, or `default` when unset.
fn number(
    get: Lookup,
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| ConfigError {
                variable: var,
                problem: format!(
                    "must be a whole number from {} to {} (got {v:?})",
                    range.start(),
                    range.end()
                ),
            }),
    }
}

/// A duration in whole seconds.
macro_rules! secs {
    ($field:ident, $var:literal, $default:expr, $range:expr) => {
        Setting {
            var: $var,
            read: |c, get| {
                c.$field = Duration::from_secs(number(get, $var, $default, $range)?);
                Ok(())
            },
            write: |c| Some(c.$field.as_secs().to_string()),
        }
    };
}

/// A limit: a whole number from 1 to a million.
macro_rules! count {
    ($field:ident, $var:literal, $default:expr) => {
        Setting {
            var: $var,
            read: |c, get| {
                c.$field = number(get, $var, $default, 1..=1_000_000)? as u32;
                Ok(())
            },
            write: |c| Some(c.$field.to_string()),
        }
    };
}

/// Free text with a default.
macro_rules! text {
    ($field:ident, $var:literal, $default:expr) => {
        Setting {
            var: $var,
            read: |c, get| {
                c.$field = get($var).unwrap_or_else(|| $default.to_owned());
                Ok(())
            },
            write: |c| Some(c.$field.clone()),
        }
    };
}

/// Free text, unset by default.
macro_rules! optional {
    ($field:ident, $var:literal) => {
        Setting {
            var: $var,
            read: |c, get| {
                c.$field = get($var);
                Ok(())
            },
            write: |c| c.$field.clone(),
        }
    };
}

/// Every environment variable, in the order they are read (a default
/// derived from another setting comes after it).
const SETTINGS: &[Setting] = &[
    Setting {
        var: "STORE",
        read: |c, get| {
            c.backend = match get("STORE").as_deref() {
                Some("aws") => Backend::Aws,
                Some("embedded") => Backend::Embedded,
                Some(other) => {
                    return Err(ConfigError {
                        variable: "STORE",
                        problem: format!("must be \"embedded\" or \"aws\" (got {other:?})"),
                    });
                }
                None if get("AWS_ENDPOINT_URL").is_some() || get("TABLE_NAME").is_some() => {
                    Backend::Aws
                }
                None => Backend::Embedded,
            };
            Ok(())
        },
        write: |c| {
            Some(
                match c.backend {
                    Backend::Embedded => "embedded",
                    Backend::Aws => "aws",
                }
                .to_owned(),
            )
        },
    },
    Setting {
        var: "DATA_DIR",
        read: |c, get| {
            c.data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| ".data".to_owned()));
            Ok(())
        },
        write: |c| Some(c.data_dir.display().to_string()),
    },
    // Left unset, the functions use the host API Gateway saw.
    Setting {
        var: "PUBLIC_BASE_URL",
        read: |c, get| {
            let set = get("PUBLIC_BASE_URL");
            c.public_base_url_set = set.is_some();
            c.public_base_url = set
                .unwrap_or_else(|| "http://127.0.0.1:3000".to_owned())
                .trim_end_matches('/')
                .to_owned();
            Ok(())
        },
        write: |c| c.public_base_url_set.then(|| c.public_base_url.clone()),
    },
    Setting {
        var: "JWT_ISSUER",
        read: |c, get| {
            c.jwt_issuer = get("JWT_ISSUER").unwrap_or_else(|| c.public_base_url.clone());
            Ok(())
        },
        write: |c| Some(c.jwt_issuer.clone()),
    },
    text!(jwt_audience, "JWT_AUDIENCE", "user-platform"),
    secs!(
        access_token_ttl,
        "ACCESS_TOKEN_TTL_SECONDS",
        900,
        30..=86_400
    ),
    optional!(jwt_private_key_pem, "JWT_PRIVATE_KEY"),
    optional!(jwt_private_key_secret, "JWT_PRIVATE_KEY_SECRET"),
    optional!(jwt_previous_jwks, "JWT_PREVIOUS_JWKS"),
    optional!(jwt_public_jwks, "JWT_PUBLIC_JWKS"),
    Setting {
        var: "ADMIN_EMAILS",
        read: |c, get| {
            c.admin_emails = get("ADMIN_EMAILS")
                .map(|v| {
                    v.split(',')
                        .map(|e| e.trim().to_lowercase())
                        .filter(|e| !e.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            Ok(())
        },
        write: |c| Some(c.admin_emails.join(",")),
    },
    secs!(
        session_idle_ttl,
        "SESSION_IDLE_TTL_SECONDS",
        7 * 86_400,
        60..=90 * 86_400
    ),
    secs!(
        session_absolute_ttl,
        "SESSION_ABSOLUTE_TTL_SECONDS",
        30 * 86_400,
        60..=365 * 86_400
    ),
    secs!(
        refresh_reuse_grace,
        "REFRESH_REUSE_GRACE_SECONDS",
        10,
        0..=10
    ),
    count!(
        login_max_failures_per_client,
        "LOGIN_MAX_FAILURES_PER_CLIENT",
        5
    ),
    count!(
        login_max_failures_per_account,
        "LOGIN_MAX_FAILURES_PER_ACCOUNT",
        10
    ),
    // Failures only (successes give theirs back), so one address shared by
    // an office or a carrier's NAT is rarely near it.
    count!(login_max_failures_per_ip, "LOGIN_MAX_FAILURES_PER_IP", 100),
    secs!(
        login_failure_window,
        "LOGIN_FAILURE_WINDOW_SECONDS",
        900,
        10..=86_400
    ),
    secs!(outbox_lease, "OUTBOX_LEASE_SECONDS", 30, 1..=900),
    count!(signups_per_ip_per_hour, "SIGNUPS_PER_IP_PER_HOUR", 20),
    Setting {
        var: "SIGNUP_CONCEALS_EXISTING",
        read: |c, get| {
            c.signup_conceals_existing = match get("SIGNUP_CONCEALS_EXISTING").as_deref() {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(ConfigError {
                        variable: "SIGNUP_CONCEALS_EXISTING",
                        problem: format!("must be \"true\" or \"false\" (got {other:?})"),
                    });
                }
            };
            Ok(())
        },
        write: |c| Some(c.signup_conceals_existing.to_string()),
    },
    count!(resets_per_email_per_hour, "RESETS_PER_EMAIL_PER_HOUR", 3),
    count!(resets_per_ip_per_hour, "RESETS_PER_IP_PER_HOUR", 10),
    count!(
        verification_mails_per_hour,
        "VERIFICATION_MAILS_PER_HOUR",
        5
    ),
    Setting {
        var: "APP_BASE_URL",
        read: |c, get| {
            c.app_base_url = get("APP_BASE_URL")
                .unwrap_or_else(|| c.public_base_url.clone())
                .trim_end_matches('/')
                .to_owned();
            Ok(())
        },
        write: |c| Some(c.app_base_url.clone()),
    },
    count!(max_sessions_per_user, "MAX_SESSIONS_PER_USER", 50),
    Setting {
        var: "APP_ORIGIN",
        read: |c, get| {
            c.app_origin = match get("APP_ORIGIN") {
                None => None,
                Some(origin) => Some(parse_origin(&origin).ok_or_else(|| ConfigError {
                    variable: "APP_ORIGIN",
                    problem: format!(
                        "must be one origin, scheme://host[:port], not a pattern (got {origin:?})"
                    ),
                })?),
            };
            Ok(())
        },
        write: |c| c.app_origin.clone(),
    },
    text!(table_name, "TABLE_NAME", "user-platform"),
    text!(bucket_name, "BUCKET_NAME", "user-platform-files"),
    optional!(queue_url, "QUEUE_URL"),
    optional!(dead_letter_queue_url, "DEAD_LETTER_QUEUE_URL"),
    text!(
        mail_from,
        "MAIL_FROM",
        "User Platform <no-reply@example.com>"
    ),
    optional!(aws_endpoint_url, "AWS_ENDPOINT_URL"),
    optional!(posts_api_url, "POSTS_API_URL"),
    secs!(posts_fresh, "POSTS_FRESH_SECONDS", 60, 1..=86_400),
    secs!(
        posts_max_stale,
        "POSTS_MAX_STALE_SECONDS",
        86_400,
        60..=30 * 86_400
    ),
    Setting {
        var: "POSTS_UPSTREAM_TIMEOUT_MS",
        read: |c, get| {
            c.posts_upstream_timeout = Duration::from_millis(number(
                get,
                "POSTS_UPSTREAM_TIMEOUT_MS",
                2_000,
                100..=10_000,
            )?);
            Ok(())
        },
        write: |c| Some(c.posts_upstream_timeout.as_millis().to_string()),
    },
];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `get`, so tests can supply their own
    /// values. Unset (or blank) settings take their defaults; a set one
    /// that is malformed or out of range is an error naming the variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut config = Config::default();
        for setting in SETTINGS {
            (setting.read)(&mut config, &get)?;
        }
        Ok(config)
    }

    /// The environment that reads back as this configuration
    /// ([`Config::from_lookup`] of it gives the same values): what the local
    /// server hands the function processes it runs (`--lambda`), and what
    /// `sam local` gets in its env-vars file, so both run with the settings
    /// the in-process server uses. Durations go in whole seconds (whole
    /// milliseconds for the upstream timeout), as the variables take them.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        SETTINGS
            .iter()
            .filter_map(|s| (s.write)(self).map(|v| (s.var, v)))
            .collect()
    }

    /// A configuration for tests: embedded, with everything under `data_dir`.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::from_lookup(|_| None).expect("the defaults are valid");
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Each variable is declared once, and the README's table documents
    /// every one of them.
    #[test]
    fn every_variable_once_and_documented() {
        let readme = include_str!("../../README.md");
        let mut seen = std::collections::BTreeSet::new();
        for setting in SETTINGS {
            assert!(seen.insert(setting.var), "{} twice", setting.var);
            assert!(
                readme.contains(&format!("`{}`", setting.var)),
                "README.md does not document {}",
                setting.var
            );
        }
        assert!(seen.len() >= 37, "{} settings", seen.len());
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
        let mut changed = with(&[("PUBLIC_BASE_URL", "https://api.example.com")]);
        changed.backend = Backend::Aws;
        changed.data_dir = "/tmp/elsewhere".into();
        changed.jwt_issuer = "https://issuer.example.com".into();
        changed.jwt_audience = "aud".into();
        changed.access_token_ttl = Duration::from_secs(120);
        changed.jwt_private_key_pem = Some("pem".into());
        changed.jwt_private_key_secret = Some("user-platform/jwt-private-key".into());
        changed.jwt_previous_jwks = Some("{}".into());
        changed.jwt_public_jwks = Some("{\"keys\":[]}".into());
        changed.admin_emails = vec!["a@example.com".into(), "b@example.com".into()];
        changed.session_idle_ttl = Duration::from_secs(600);
        changed.session_absolute_ttl = Duration::from_secs(6000);
        changed.refresh_reuse_grace = Duration::from_secs(3);
        changed.login_max_failures_per_client = 7;
        changed.login_max_failures_per_account = 8;
        changed.login_max_failures_per_ip = 9;
        changed.login_failure_window = Duration::from_secs(60);
        changed.outbox_lease = Duration::from_secs(5);
        changed.signups_per_ip_per_hour = 1_000_000;
        changed.signup_conceals_existing = true;
        changed.resets_per_email_per_hour = 4;
        changed.resets_per_ip_per_hour = 5;
        changed.verification_mails_per_hour = 6;
        changed.app_base_url = "https://app.example.com".into();
        changed.max_sessions_per_user = 3;
        changed.app_origin = Some("https://app.example.com".into());
        changed.table_name = "t".into();
        changed.bucket_name = "b".into();
        changed.queue_url = Some("q".into());
        changed.dead_letter_queue_url = Some("dlq".into());
        changed.mail_from = "m@example.com".into();
        changed.aws_endpoint_url = Some("http://127.0.0.1:5000".into());
        changed.posts_api_url = Some("http://127.0.0.1:9/posts".into());
        changed.posts_fresh = Duration::from_secs(7);
        changed.posts_max_stale = Duration::from_secs(700);
        changed.posts_upstream_timeout = Duration::from_millis(250);
        let round = back(&changed);
        assert_eq!(format!("{round:?}"), format!("{changed:?}"));
        assert_ne!(format!("{round:?}"), format!("{default:?}"));
    }

    #[test]
    fn defaults_are_local_and_embedded() {
        let c = with(&[]);
        assert_eq!(c.backend, Backend::Embedded);
        assert_eq!(c.data_dir, PathBuf::from(".data"));
        assert_eq!(c.jwt_issuer, "http://127.0.0.1:3000");
        assert_eq!(c.access_token_ttl, Duration::from_secs(900));
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
        assert!(e.to_string().contains("\"dynamo\""), "{e}");
        for (name, value) in [
            ("ACCESS_TOKEN_TTL_SECONDS", "5"),
            ("ACCESS_TOKEN_TTL_SECONDS", "ten"),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "0"),
            ("POSTS_UPSTREAM_TIMEOUT_MS", "-1"),
            ("OUTBOX_LEASE_SECONDS", "100000"),
            ("REFRESH_REUSE_GRACE_SECONDS", "11"),
        ] {
            let e = error(&[(name, value)]);
            assert_eq!(e.variable, name, "{e}");
            assert!(e.to_string().contains(value), "{e}");
        }
        // Blank is unset: the default.
        assert_eq!(
            with(&[("ACCESS_TOKEN_TTL_SECONDS", " ")]).access_token_ttl,
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
