//! Password hashing with argon2id (m = 19456 KiB, t = 2, p = 1, OWASP's
//! minimum), always on the blocking pool: one hash takes tens of
//! milliseconds of pure CPU and must not stall other requests.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Why a hash could not be made or checked: never the caller's fault (a
/// wrong password is a [`Verdict`], not an error). The HTTP edge answers 500.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("no randomness for a salt")]
    NoRandomness,
    #[error("stored password hash unreadable: {0}")]
    BadStoredHash(String),
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// A hash of a random, forgotten password with the current parameters.
/// Logins for unknown emails verify against it, so they cost the same as
/// logins for known ones and do not reveal which emails exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$nXEkG3b6Ivz9DbdN03eCn2r60LUKDeh2kf9aJ0NsINw";

/// argon2id allocates its 19 MiB working set per hash. glibc's malloc, by
/// default, serves an allocation that size from a thread's arena once an
/// earlier one has been freed (its mmap threshold rises to the largest freed
/// block), and keeps the freed memory: measured here, a process grew to
/// ~200 MB after 11 signups and ~300 MB after 40, enough to kill a 256 MB
/// Lambda. A fixed threshold makes every block of 128 KiB or more its own
/// mapping, unmapped when freed: the same 40 signups stay at ~42 MB, for
/// ~2 ms more per hash (the kernel zero-fills the pages each time). The
/// setting is process-wide and made on the first hash or verification, so
/// only processes that handle passwords get it (not the image or PDF ones,
/// whose large buffers keep glibc's default behaviour).
fn keep_large_allocations_out_of_the_heap() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only sets a malloc parameter; it takes glibc's
        // own lock and has no memory-safety preconditions.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    });
}

fn argon2() -> Argon2<'static> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Right password; `needs_rehash` when the stored hash uses older parameters.
    Valid {
        needs_rehash: bool,
    },
    Invalid,
}

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    keep_large_allocations_out_of_the_heap();
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| PasswordError::NoRandomness)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Argon2(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Argon2(e.to_string()))
}

/// Verifies `password` against `stored`, or against the dummy hash when there
/// is no stored hash (unknown account), which always answers `Invalid`.
pub async fn verify(password: String, stored: Option<String>) -> Result<Verdict, PasswordError> {
    VERIFICATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    keep_large_allocations_out_of_the_heap();
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed =
            PasswordHash::new(&phc).map_err(|e| PasswordError::BadStoredHash(e.to_string()))?;
        // Verification uses the parameters inside the stored hash.
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(match (known, ok) {
            (true, true) => Verdict::Valid {
                needs_rehash: needs_rehash(&parsed),
            },
            _ => Verdict::Invalid,
        })
    })
    .await?
}

/// How many argon2 verifications this process has started: a metric, and
/// how the login-limit test counts what parallel guesses cost.
static VERIFICATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// See [`VERIFICATIONS`].
pub fn verifications() -> u64 {
    VERIFICATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

/// True when the hash was made with another algorithm or weaker parameters.
fn needs_rehash(hash: &PasswordHash<'_>) -> bool {
    if hash.algorithm != Algorithm::Argon2id.ident() || hash.version != Some(Version::V0x13.into())
    {
        return true;
    }
    match Params::try_from(hash) {
        Ok(p) => p.m_cost() < MEMORY_KIB || p.t_cost() < ITERATIONS || p.p_cost() != PARALLELISM,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_carry_current_parameters() {
        let h = hash("correct horse battery staple".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            verify("correct horse battery staple".into(), Some(h.clone()))
                .await
                .unwrap(),
            Verdict::Valid {
                needs_rehash: false
            }
        );
        assert_eq!(
            verify("wrong".into(), Some(h)).await.unwrap(),
            Verdict::Invalid
        );
    }

    #[tokio::test]
    async fn dummy_hash_uses_current_parameters_and_never_matches() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert!(!needs_rehash(&parsed));
        assert_eq!(verify("".into(), None).await.unwrap(), Verdict::Invalid);
    }

    #[tokio::test]
    async fn weaker_hashes_are_flagged_for_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let h = weak.hash_password(b"pw-123456", &salt).unwrap().to_string();
        assert_eq!(
            verify("pw-123456".into(), Some(h)).await.unwrap(),
            Verdict::Valid { needs_rehash: true }
        );
    }
}
