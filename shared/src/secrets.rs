//! Random tokens and their hashes: refresh tokens are 256 random bits handed
//! to the client once; only their SHA-256 is stored.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A new opaque token: 32 random bytes, base64url (43 characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a token: hex SHA-256.
pub fn token_hash(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_long_distinct_and_hash_stably() {
        let (a, b) = (super::new_token(), super::new_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(super::token_hash(&a), super::token_hash(&a));
        assert_eq!(
            super::token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
