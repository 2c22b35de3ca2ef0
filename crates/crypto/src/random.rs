//! Randomness and digests. All randomness comes from the operating system (getrandom); there
//! is no user-space generator to seed or misuse (SEC-64).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The operating system could not provide randomness. The server cannot run safely without it.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomError;

/// `N` bytes from the operating system's CSPRNG.
///
/// # Errors
/// Only if the OS generator fails, which means nothing secure can be done.
pub fn bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|_| RandomError)?;
    Ok(buf)
}

/// A 256-bit random token, URL-safe base64 without padding (43 characters). Used for session
/// cookies, one-time links and CSP nonces.
///
/// # Errors
/// Only if the OS generator fails.
pub fn token() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(bytes::<32>()?))
}

/// A 128-bit random value, URL-safe base64 (22 characters): enough for a CSP nonce.
///
/// # Errors
/// Only if the OS generator fails.
pub fn nonce() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(bytes::<16>()?))
}

/// SHA-256 of `data`.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// SEC-64: 10k tokens, no repeats, each from 32 random bytes.
    #[test]
    fn sec_64_tokens_do_not_repeat() -> Result<(), RandomError> {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let t = token()?;
            assert_eq!(t.len(), 43);
            assert!(seen.insert(t));
        }
        Ok(())
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
