//! Password hashing off the async workers: Argon2id runs on a few long-lived threads, one per
//! core, fed by a bounded queue. A login flood queues here instead of starving every other
//! request, and each hash starts without spawning or waking a fresh blocking thread.

use std::sync::{Arc, Mutex, PoisonError};

use attest_crypto::Zeroizing;
use attest_crypto::password::{PasswordError, PasswordHasher, StoredPassword, Verification};
use tokio::sync::{mpsc, oneshot};

/// Hashes waiting for a thread; callers beyond this wait (asynchronously) to enqueue.
const QUEUE: usize = 1024;

type Job = Box<dyn FnOnce(&PasswordHasher) + Send>;

/// The bounded hashing pool.
#[derive(Debug, Clone)]
pub struct HashingPool {
    jobs: mpsc::Sender<Job>,
}

impl HashingPool {
    /// A pool with one thread per available core. The threads end when the last clone of the
    /// pool is dropped.
    #[must_use]
    pub fn new(hasher: PasswordHasher) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let hasher = Arc::new(hasher);
        for n in 0..cores {
            let rx = Arc::clone(&rx);
            let hasher = Arc::clone(&hasher);
            let spawned = std::thread::Builder::new()
                .name(format!("attest-hash-{n}"))
                .spawn(move || {
                    loop {
                        // One thread waits on the queue at a time; the others wait for the lock.
                        let job = rx
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .blocking_recv();
                        match job {
                            // A panicking job loses its answer (the caller gets an error), not
                            // the thread.
                            Some(job) => {
                                let _ =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        job(&hasher)
                                    }));
                            }
                            None => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password-hashing thread");
            }
        }
        Self { jobs: tx }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Box::new(move |h: &PasswordHasher| {
                let _ = done.send(job(h));
            }))
            .await
            .map_err(|_| PasswordError::Argon2("hashing pool closed".to_owned()))?;
        result
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
