//! API tokens: random, shown once, stored only as a hash.
//!
//! A token is `kiln_` followed by 32 random bytes in hex. The database keeps
//! its SHA-256: a leaked database does not give anyone a working token, and a
//! lookup by hash is constant-work for every token of the same length.

use sha2::{Digest, Sha256};

use super::error::ServiceError;

/// The prefix of every token, so that secret scanners can find leaked ones.
pub const PREFIX: &str = "kiln_";

/// A fresh token.
pub fn new_token() -> Result<String, ServiceError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ServiceError::Random(e.to_string()))?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// What the database stores of `token`.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (new_token().expect("token"), new_token().expect("token"));
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64);
        assert_eq!(hash(&a), hash(&a));
        assert!(!hash(&a).contains(&a[PREFIX.len()..]));
    }
}
