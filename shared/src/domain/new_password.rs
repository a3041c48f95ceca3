//! Password rules (NIST SP 800-63B style): 8 to 128 characters, taken exactly
//! as typed (never trimmed, truncated or case-folded), no composition rules,
//! and rejected when zxcvbn rates it guessable (score below 3), counting the
//! user's own email, name and username as known words.

use std::sync::atomic::{AtomicBool, Ordering};

use zxcvbn::{Score, zxcvbn};

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 128;
pub const MIN_SCORE: Score = Score::Three;

/// Whether zxcvbn has estimated once in this process. Its first estimate
/// builds its ranked dictionaries (~12 ms, BENCHMARKS.md "Where the first
/// signup and login go"); later ones take ~0.25 ms.
static ESTIMATOR_READY: AtomicBool = AtomicBool::new(false);

/// A password that passed the rules, ready to hash.
#[derive(Clone)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

impl NewPassword {
    /// `user_inputs` are words an attacker would try first (email, names).
    pub fn parse(raw: &str, user_inputs: &[&str]) -> Result<NewPassword, String> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(format!("must be at least {MIN_CHARS} characters"));
        }
        if chars > MAX_CHARS {
            return Err(format!("must be at most {MAX_CHARS} characters"));
        }
        let estimate = zxcvbn(raw, user_inputs);
        ESTIMATOR_READY.store(true, Ordering::Relaxed);
        if estimate.score() < MIN_SCORE {
            let hint = estimate
                .feedback()
                .and_then(|f| f.warning().map(|w| w.to_string()))
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "it is too easy to guess".into());
            return Err(format!(
                "is too easy to guess ({hint}); a few unrelated words make a strong one"
            ));
        }
        Ok(NewPassword(raw.to_owned()))
    }

    /// Whether a strength estimate in this process would be a fast one
    /// (zxcvbn's dictionaries are built). One atomic load.
    pub fn estimator_ready() -> bool {
        ESTIMATOR_READY.load(Ordering::Relaxed)
    }

    /// Whether `raw` has a length [`NewPassword::parse`] accepts: the part
    /// of the rules that costs nothing to check.
    pub fn length_ok(raw: &str) -> bool {
        (MIN_CHARS..=MAX_CHARS).contains(&raw.chars().count())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters() {
        assert!(
            NewPassword::parse("short", &[])
                .unwrap_err()
                .contains("at least 8")
        );
        assert!(
            NewPassword::parse(&"é".repeat(129), &[])
                .unwrap_err()
                .contains("at most 128")
        );
    }

    #[test]
    fn common_and_personal_passwords_are_rejected() {
        for weak in [
            "password",
            "password123",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
        ] {
            assert!(NewPassword::parse(weak, &[]).is_err(), "{weak}");
        }
        assert!(NewPassword::parse("adalovelace1815", &["adalovelace", "ada"]).is_err());
    }

    #[test]
    fn passphrases_pass_unchanged() {
        let p = NewPassword::parse("  Vivid tundra lantern 47 ", &[]).unwrap();
        assert_eq!(p.expose(), "  Vivid tundra lantern 47 ");
    }
}
