//! Password hashing off the async workers: Argon2id runs on Tokio's blocking threads, at most
//! as many at once as there are cores, so a login flood queues here instead of starving every
//! other request.

use std::sync::Arc;

use attest_crypto::Zeroizing;
use attest_crypto::password::{PasswordError, PasswordHasher, StoredPassword, Verification};
use tokio::sync::Semaphore;

/// The bounded hashing pool.
#[derive(Debug, Clone)]
pub struct HashingPool {
    hasher: Arc<PasswordHasher>,
    permits: Arc<Semaphore>,
}

impl HashingPool {
    /// A pool with one slot per available core.
    #[must_use]
    pub fn new(hasher: PasswordHasher) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self {
            hasher: Arc::new(hasher),
            permits: Arc::new(Semaphore::new(cores)),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Argon2("hashing pool closed".to_owned()))?;
        let hasher = Arc::clone(&self.hasher);
        tokio::task::spawn_blocking(move || job(&hasher))
            .await
            .map_err(|_| PasswordError::Argon2("hashing task failed".to_owned()))
    }

    /// Hashes a new password.
    ///
    /// # Errors
    /// Only on internal failure.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<StoredPassword, PasswordError> {
        self.run(move |h| h.hash(password.as_bytes())).await?
    }

    /// Verifies a password; `None` for an unknown account spends the same time on a dummy.
    ///
    /// # Errors
    /// Only when the stored hash is unusable.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        stored: Option<StoredPassword>,
    ) -> Result<Verification, PasswordError> {
        self.run(move |h| match stored {
            Some(s) => h.verify(password.as_bytes(), &s),
            None => {
                h.verify_dummy(password.as_bytes());
                Ok(Verification::Mismatch)
            }
        })
        .await?
    }
}
