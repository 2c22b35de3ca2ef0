//! Password hashing: Argon2id with a 16-byte random salt and the pepper as Argon2's secret
//! input (SEC-01, SEC-02). The PHC string records algorithm, version and parameters, and the
//! pepper version is stored beside it, so parameters can be raised and the pepper rotated:
//! [`PasswordHasher::verify`] says when a hash should be replaced at the next login.
//!
//! Hashing is CPU- and memory-heavy by design; callers run it on a bounded blocking pool,
//! never on an async worker (see `attest_domain::authn::hashing`).

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::PasswordVerifier as _;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};

use crate::pepper::PepperSet;
use crate::random;

/// Argon2id cost parameters. The floor is ASVS 5.0 appendix C: m ≥ 19456 KiB with t ≥ 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes (always 1: parallelism would let an attacker's GPU win more than us).
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// A hashing failure (not a wrong password).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Parameters below the floor or malformed.
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    /// The pepper the hash names is not loaded.
    #[error("the pepper version {0} is not loaded")]
    UnknownPepper(u32),
    /// No current pepper.
    #[error("no current pepper is loaded")]
    NoPepper,
    /// The stored hash cannot be parsed.
    #[error("the stored password hash is malformed")]
    Malformed,
    /// Argon2 itself failed.
    #[error("argon2: {0}")]
    Argon2(String),
    /// The OS random generator failed.
    #[error(transparent)]
    Random(#[from] random::RandomError),
}

/// A password hash as stored: the PHC string and the pepper version used.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPassword {
    /// `$argon2id$v=19$m=…,t=…,p=…$salt$hash`
    pub phc: String,
    /// The pepper version.
    pub pepper_version: u32,
}

impl fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "StoredPassword(argon2id, pepper v{}, [redacted])",
            self.pepper_version
        )
    }
}

/// Whether a verified password's hash should be replaced (parameters or pepper are old).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The hash is current.
    Current,
    /// Rehash with the current parameters and pepper.
    NeedsRehash,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password matches.
    Match(Verified),
    /// It does not.
    Mismatch,
}

/// Hashes and verifies passwords with the installation's pepper.
#[derive(Clone)]
pub struct PasswordHasher {
    params: PasswordParams,
    argon_params: Params,
    peppers: Arc<PepperSet>,
    dummy: StoredPassword,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher; refuses parameters under the ASVS floor.
    ///
    /// # Errors
    /// Weak or malformed parameters, or no current pepper.
    pub fn new(params: PasswordParams, peppers: Arc<PepperSet>) -> Result<Self, PasswordError> {
        let strong_enough = params.parallelism == 1
            && ((params.iterations >= 2 && params.memory_kib >= 19_456)
                || (params.iterations == 1 && params.memory_kib >= 47_104));
        if !strong_enough {
            return Err(PasswordError::Params(format!(
                "m={} KiB, t={}, p={} is below the floor (m ≥ 19456 KiB with t ≥ 2, p = 1)",
                params.memory_kib, params.iterations, params.parallelism
            )));
        }
        let argon_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| PasswordError::Params(e.to_string()))?;
        let mut hasher = Self {
            params,
            argon_params,
            peppers,
            dummy: StoredPassword {
                phc: String::new(),
                pepper_version: 0,
            },
        };
        // A real hash of a random password, verified against for unknown accounts so that
        // they cost the same time as known ones (SEC-08).
        let random_password = random::token()?;
        hasher.dummy = hasher.hash(random_password.as_bytes())?;
        Ok(hasher)
    }

    /// The parameters new hashes use.
    #[must_use]
    pub const fn params(&self) -> PasswordParams {
        self.params
    }

    fn argon<'a>(&'a self, pepper: &'a [u8]) -> Result<Argon2<'a>, PasswordError> {
        Argon2::new_with_secret(
            pepper,
            Algorithm::Argon2id,
            Version::V0x13,
            self.argon_params.clone(),
        )
        .map_err(|e| PasswordError::Argon2(e.to_string()))
    }

    /// Hashes a password with a fresh 16-byte salt and the current pepper.
    ///
    /// # Errors
    /// Only on internal failure.
    pub fn hash(&self, password: &[u8]) -> Result<StoredPassword, PasswordError> {
        let pepper = self.peppers.current().ok_or(PasswordError::NoPepper)?;
        let salt = random::bytes::<16>()?;
        let phc = self
            .argon(pepper.expose())?
            .hash_password_with_salt(password, &salt)
            .map_err(|e| PasswordError::Argon2(e.to_string()))?
            .to_string();
        Ok(StoredPassword {
            phc,
            pepper_version: pepper.version(),
        })
    }

    /// Verifies a password against a stored hash, with the pepper version it names.
    ///
    /// # Errors
    /// Only when the stored hash cannot be used at all (malformed, unknown pepper).
    pub fn verify(
        &self,
        password: &[u8],
        stored: &StoredPassword,
    ) -> Result<Verification, PasswordError> {
        let pepper = self
            .peppers
            .get(stored.pepper_version)
            .ok_or(PasswordError::UnknownPepper(stored.pepper_version))?;
        let parsed = PasswordHash::new(&stored.phc).map_err(|_| PasswordError::Malformed)?;
        // The stored parameters are honoured (the hash was made with them); the context's own
        // parameters are only the default for new hashes.
        let params = Params::try_from(&parsed).map_err(|_| PasswordError::Malformed)?;
        let argon = Argon2::new_with_secret(
            pepper.expose(),
            Algorithm::Argon2id,
            Version::V0x13,
            params.clone(),
        )
        .map_err(|e| PasswordError::Argon2(e.to_string()))?;
        if argon.verify_password(password, &parsed).is_err() {
            return Ok(Verification::Mismatch);
        }
        let current_pepper = self.peppers.current().map(crate::pepper::Pepper::version);
        let outdated = parsed.algorithm.as_str() != "argon2id"
            || params.m_cost() < self.params.memory_kib
            || params.t_cost() < self.params.iterations
            || Some(stored.pepper_version) != current_pepper;
        Ok(Verification::Match(if outdated {
            Verified::NeedsRehash
        } else {
            Verified::Current
        }))
    }

    /// Spends the time of one verification on nothing: for unknown accounts (SEC-08).
    pub fn verify_dummy(&self, password: &[u8]) {
        let _ = self.verify(password, &self.dummy);
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn peppers() -> Result<Arc<PepperSet>, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.json");
        PepperSet::create_file(&path, OffsetDateTime::UNIX_EPOCH)?;
        Ok(Arc::new(PepperSet::load_file(&path)?))
    }

    /// SEC-01: Argon2id, recorded parameters, a different salt every time.
    #[test]
    fn sec_01_same_password_different_hashes() -> Result<(), Box<dyn std::error::Error>> {
        let h = PasswordHasher::new(PasswordParams::default(), peppers()?)?;
        let a = h.hash(b"correct horse battery staple")?;
        let b = h.hash(b"correct horse battery staple")?;
        assert_ne!(a.phc, b.phc);
        assert!(
            a.phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            a.phc
        );
        assert_eq!(
            h.verify(b"correct horse battery staple", &a)?,
            Verification::Match(Verified::Current)
        );
        assert_eq!(
            h.verify(b"correct horse battery stapl", &a)?,
            Verification::Mismatch
        );
        assert!(!format!("{a:?}").contains(&a.phc));
        Ok(())
    }

    /// SEC-02: the same hash under another installation's pepper never verifies.
    #[test]
    fn sec_02_another_pepper_verifies_nothing() -> Result<(), Box<dyn std::error::Error>> {
        let h1 = PasswordHasher::new(PasswordParams::default(), peppers()?)?;
        let h2 = PasswordHasher::new(PasswordParams::default(), peppers()?)?;
        let stored = h1.hash(b"correct horse battery staple")?;
        assert_eq!(
            h2.verify(b"correct horse battery staple", &stored)?,
            Verification::Mismatch
        );
        Ok(())
    }

    #[test]
    fn weaker_hashes_are_upgraded_and_weak_parameters_refused()
    -> Result<(), Box<dyn std::error::Error>> {
        let p = peppers()?;
        assert!(
            PasswordHasher::new(
                PasswordParams {
                    memory_kib: 4096,
                    iterations: 2,
                    parallelism: 1
                },
                Arc::clone(&p)
            )
            .is_err()
        );
        assert!(
            PasswordHasher::new(
                PasswordParams {
                    memory_kib: 19_456,
                    iterations: 2,
                    parallelism: 4
                },
                Arc::clone(&p)
            )
            .is_err()
        );
        let old = PasswordHasher::new(PasswordParams::default(), Arc::clone(&p))?;
        let stored = old.hash(b"correct horse battery staple")?;
        let stronger = PasswordHasher::new(
            PasswordParams {
                memory_kib: 24_576,
                iterations: 2,
                parallelism: 1,
            },
            p,
        )?;
        assert_eq!(
            stronger.verify(b"correct horse battery staple", &stored)?,
            Verification::Match(Verified::NeedsRehash)
        );
        Ok(())
    }
}
