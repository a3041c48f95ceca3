//! Password hashing with argon2id (m = 19456 KiB, t = 2, p = 1, OWASP's
//! minimum), always on the blocking pool: one hash takes tens of
//! milliseconds of pure CPU and must not stall other requests.

use std::sync::{Mutex, PoisonError};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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
    #[error("no memory for argon2's working set: {0}")]
    NoMemory(std::io::Error),
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

/// argon2id's 19 MiB working set, kept between hashes instead of allocated
/// for each one.
///
/// argon2's own `hash_password` allocates the set per call, which either
/// grew the process without bound (glibc kept the freed sets) or doubled a
/// hash's time (a fresh mapping each call; BENCHMARKS.md, "Why the code is
/// the way it is"). A process holds one set per hash running at once (a
/// Lambda: one), and keeps at most [`IDLE_KEPT`] idle ones, so memory stays
/// bounded by concurrency.
///
/// Each set is its own anonymous mapping (memmap2), returned to the OS when
/// dropped. The kernel hands its pages over zero-filled, so a new set is
/// never written by us before argon2 fills it (a `Vec` of zeroed blocks
/// wrote all 19 MiB once more: `Block`'s 64-byte alignment keeps Rust's
/// allocator off `calloc`).
///
/// The sets are not wiped between uses: a set only holds values derived
/// from the password by argon2, and the process that holds it also held the
/// password itself.
mod working_memory {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Idle sets kept for the next hash; more than this are freed.
    pub(super) const IDLE_KEPT: usize = 2;

    static IDLE: Mutex<Vec<Set>> = Mutex::new(Vec::new());
    /// Sets that exist, idle or in use.
    static LIVE: AtomicUsize = AtomicUsize::new(0);

    /// One working set, counted in [`LIVE`] while it exists.
    pub(super) struct Set {
        map: memmap2::MmapMut,
        blocks: usize,
    }

    impl Set {
        /// A set for the current parameters (or `blocks`, when larger),
        /// its pages faulted in up front (see [`fault_in`]).
        fn allocate(blocks: usize) -> Result<Set, PasswordError> {
            let blocks = blocks.max(argon2().params().block_count());
            let len = blocks * std::mem::size_of::<Block>();
            let mut map = memmap2::MmapMut::map_anon(len).map_err(PasswordError::NoMemory)?;
            advise_huge_pages(&map);
            fault_in(&mut map);
            LIVE.fetch_add(1, Ordering::Relaxed);
            Ok(Set { map, blocks })
        }

        /// The set's first `blocks` blocks.
        fn blocks(&mut self, blocks: usize) -> &mut [Block] {
            assert!(blocks <= self.blocks, "a set is never lent beyond its size");
            // SAFETY: the mapping is page-aligned (more than `Block`'s 64
            // bytes), `self.blocks` blocks long, and readable and writable;
            // its bytes started as the kernel's zeros and a `Block` is
            // plain `u64`s, valid for any bits. The slice borrows `self`
            // mutably, so nothing else reaches the mapping meanwhile, and
            // the mapping lives as long as `self`.
            unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast::<Block>(), blocks) }
        }
    }

    /// Asks Linux to back a set with 2 MiB pages (transparent huge pages)
    /// before it is first written. 19 MiB in 4 KiB pages is 4,864 page
    /// faults, which a fresh process's first hash paid; in 2 MiB pages it is
    /// ten, and argon2's data-dependent reads across the set then miss the
    /// TLB less (faster hashes and first verifications: BENCHMARKS.md, "Why
    /// the code is the way it is"). Where the kernel does not honour the
    /// hint nothing changes, and a refusal is no reason not to hash.
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
    fn advise_huge_pages(map: &memmap2::MmapMut) {
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
    }

    /// Writes one byte per 4 KiB, so every page of the set is faulted in
    /// (and zeroed by the kernel) now: [`prepare`] does this on the
    /// blocking pool while a request's other work runs, instead of inside
    /// its hash.
    fn fault_in(map: &mut memmap2::MmapMut) {
        let base = map.as_mut_ptr();
        for offset in (0..map.len()).step_by(4096) {
            // SAFETY: `offset` is inside the mapping, which is writable and
            // not yet shared with anyone; the byte written is the zero the
            // kernel put there, through a volatile write so it is not
            // optimised away.
            unsafe { base.add(offset).write_volatile(0) };
        }
    }

    impl Drop for Set {
        fn drop(&mut self) {
            LIVE.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn idle_sets() -> std::sync::MutexGuard<'static, Vec<Set>> {
        IDLE.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` with at least `blocks` 1 KiB blocks, reusing an idle set.
    pub(super) fn with<R>(
        blocks: usize,
        f: impl FnOnce(&mut [Block]) -> R,
    ) -> Result<R, PasswordError> {
        let idle = idle_sets().pop();
        let mut set = match idle {
            Some(set) if set.blocks >= blocks => set,
            // Sized for today's parameters at least, so one stronger stored
            // hash does not leave a set too small for everyone else.
            _ => Set::allocate(blocks)?,
        };
        let result = f(set.blocks(blocks));
        let mut idle = idle_sets();
        if idle.len() < IDLE_KEPT {
            idle.push(set);
        }
        Ok(result)
    }

    /// Allocates the first set unless one exists. The pool's lock is held
    /// while it is allocated, so a hash that starts meanwhile waits for this
    /// set instead of allocating a second one (a cold Lambda's first login
    /// would otherwise hold two). A failure here is left for that hash to
    /// meet and report.
    pub(super) fn prepare() {
        let mut idle = idle_sets();
        if LIVE.load(Ordering::Relaxed) == 0
            && let Ok(set) = Set::allocate(0)
        {
            idle.push(set);
        }
    }

    /// How many sets exist, idle or in use (no lock).
    pub(super) fn live() -> usize {
        LIVE.load(Ordering::Relaxed)
    }

    /// How many sets are idle now, and how many exist.
    pub(super) fn counts() -> (usize, usize) {
        (idle_sets().len(), LIVE.load(Ordering::Relaxed))
    }
}

fn argon2() -> Argon2<'static> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Starts allocating argon2's working set on the blocking pool, unless one
/// exists, and returns at once. Login and signup call it first thing, so a
/// process's first set (19 MiB mapped and faulted in) overlaps the request's
/// other work (the strength check, the store reads) instead of delaying its
/// hash; a hash that starts meanwhile waits for that set rather than
/// allocating a second. Once a set exists this is one atomic load. Call it
/// inside a Tokio runtime (a handler always is).
///
/// Not done at init on purpose: it would be a cost for every route of the
/// function, not just the ones that hash (it made init several times
/// hello-world's; BENCHMARKS.md, "Why the code is the way it is").
pub fn prepare_working_set() {
    if working_memory::live() == 0 {
        drop(tokio::task::spawn_blocking(working_memory::prepare));
    }
}

/// How many argon2 working sets this process holds: (idle, in existence).
/// A metric, and how the tests check that memory stays bounded.
pub fn working_sets() -> (usize, usize) {
    working_memory::counts()
}

/// argon2 over the reused working memory; `out` sets the output length.
fn argon2_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), PasswordError> {
    working_memory::with(argon2.params().block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password, salt, out, blocks)
    })?
    .map_err(|e| PasswordError::Argon2(e.to_string()))
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
    start_hash(password).finish().await
}

/// Starts hashing `password` on the blocking pool at once (no polling
/// needed), so the caller can do other work meanwhile. Dropping the
/// returned handle discards the hash, which still runs to its end.
/// Call it inside a Tokio runtime (a handler always is).
pub fn start_hash(password: String) -> PendingHash {
    PendingHash(tokio::task::spawn_blocking(move || {
        hash_blocking(&password)
    }))
}

/// A hash started by [`start_hash`].
pub struct PendingHash(tokio::task::JoinHandle<Result<String, PasswordError>>);

impl PendingHash {
    /// The PHC string, once the hash is done.
    pub async fn finish(self) -> Result<String, PasswordError> {
        self.0.await?
    }
}

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    let argon2_err = |e: &dyn std::fmt::Display| PasswordError::Argon2(e.to_string());
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| PasswordError::NoRandomness)?;
    let argon2 = argon2();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon2, password.as_bytes(), &salt, &mut out)?;
    // The PHC string argon2's own `hash_password` would build.
    let salt = SaltString::encode_b64(&salt).map_err(|e| argon2_err(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|e| argon2_err(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| argon2_err(&e))?),
    };
    Ok(phc.to_string())
}

/// Verifies `password` against `stored`, or against the dummy hash when there
/// is no stored hash (unknown account), which always answers `Invalid`.
pub async fn verify(password: String, stored: Option<String>) -> Result<Verdict, PasswordError> {
    VERIFICATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed =
            PasswordHash::new(&phc).map_err(|e| PasswordError::BadStoredHash(e.to_string()))?;
        let ok = matches_stored(password.as_bytes(), &parsed)?;
        Ok(match (known, ok) {
            (true, true) => Verdict::Valid {
                needs_rehash: needs_rehash(&parsed),
            },
            _ => Verdict::Invalid,
        })
    })
    .await?
}

/// Recomputes the stored hash with the algorithm, version, parameters and
/// salt inside it, and compares in constant time (`Output`'s `==`), as
/// argon2's own `verify_password` does, over the reused working memory.
fn matches_stored(password: &[u8], stored: &PasswordHash<'_>) -> Result<bool, PasswordError> {
    let bad = |e: &dyn std::fmt::Display| PasswordError::BadStoredHash(e.to_string());
    let (Some(salt), Some(expected)) = (stored.salt, &stored.hash) else {
        return Err(PasswordError::BadStoredHash("no salt or no hash".into()));
    };
    let algorithm = Algorithm::try_from(stored.algorithm).map_err(|e| bad(&e))?;
    let version = match stored.version {
        Some(v) => Version::try_from(v).map_err(|e| bad(&e))?,
        None => Version::default(),
    };
    // Includes the output length, from the stored hash's.
    let params = Params::try_from(stored).map_err(|e| bad(&e))?;
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| bad(&e))?;
    let mut out = vec![0u8; expected.len()];
    argon2_into(
        &Argon2::new(algorithm, version, params),
        password,
        salt_bytes,
        &mut out,
    )?;
    let computed = Output::new(&out).map_err(|e| PasswordError::Argon2(e.to_string()))?;
    Ok(computed == *expected)
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
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

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

    /// Hashes stored before the working memory was reused came from argon2's
    /// own `hash_password`: both ways must agree with argon2's own code.
    #[tokio::test]
    async fn agrees_with_argon2s_own_hashing_and_verification() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = argon2()
            .hash_password(b"vivid tundra lantern 47", &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            verify("vivid tundra lantern 47".into(), Some(theirs.clone()))
                .await
                .unwrap(),
            Verdict::Valid {
                needs_rehash: false
            }
        );
        assert_eq!(
            verify("vivid tundra lantern 48".into(), Some(theirs))
                .await
                .unwrap(),
            Verdict::Invalid
        );
        let ours = hash("vivid tundra lantern 47".into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"vivid tundra lantern 47", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"vivid tundra lantern 48", &parsed)
                .is_err()
        );
    }

    #[tokio::test]
    async fn unreadable_stored_hashes_are_errors_not_verdicts() {
        for stored in [
            "not a hash",
            // No salt.
            "$argon2id$v=19$m=19456,t=2,p=1",
            // An algorithm argon2 does not know.
            "$scrypt$ln=15,r=8,p=1$c29tZXNhbHRzb21lc2FsdA$nXEkG3b6Ivz9DbdN03eCn2r60LUKDeh2kf9aJ0NsINw",
        ] {
            let got = verify("vivid tundra lantern 47".into(), Some(stored.into())).await;
            assert!(
                matches!(got, Err(PasswordError::BadStoredHash(_))),
                "{stored}: {got:?}"
            );
        }
    }

    /// A burst of concurrent hashes allocates a set each, but only
    /// `IDLE_KEPT` stay afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_working_memory_is_bounded() {
        let burst: Vec<_> = (0..4)
            .map(|i| tokio::spawn(hash(format!("vivid tundra lantern {i}"))))
            .collect();
        for h in burst {
            h.await.unwrap().unwrap();
        }
        let (idle, _) = working_memory::counts();
        assert!(
            (1..=working_memory::IDLE_KEPT).contains(&idle),
            "{idle} idle sets"
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
