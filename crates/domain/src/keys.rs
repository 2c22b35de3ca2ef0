//! Data keys for field encryption. One DEK per (tenant, classification), created on first
//! use, stored only wrapped by the current KEK, cached unwrapped in memory for the life of
//! the process (SEC-61, SEC-62).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use attest_crypto::{Dek, KeyScope, Keyring, KeyringError, WrappedDek};
use attest_db::{Db, DbError, data_key};
use attest_types::{Actor, Classification, Clock, TenantId};

use crate::audit::{AuditLog, AuditRecord, Outcome};

/// A key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Unwrapping, sealing or opening failed.
    #[error(transparent)]
    Crypto(#[from] KeyringError),
    /// Recording the audit event failed.
    #[error("audit: {0}")]
    Audit(String),
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// The KEK version now in use.
    pub kek_version: u32,
    /// DEKs re-wrapped under it.
    pub rewrapped: usize,
}

/// Hands out DEKs and seals or opens fields with them.
#[derive(Debug)]
pub struct KeyService {
    db: Db,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<(TenantId, Classification), Arc<Dek>>>,
}

impl KeyService {
    /// A service over a database and a loaded keyring.
    #[must_use]
    pub fn new(db: Db, keyring: Arc<Keyring>, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            keyring,
            clock,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The keyring, for reloads.
    #[must_use]
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The DEK of a scope, created (and stored wrapped) on first use.
    ///
    /// # Errors
    /// On database or key failure.
    pub async fn dek(&self, tenant: TenantId, class: Classification) -> Result<Arc<Dek>, KeyError> {
        if let Some(dek) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant, class))
        {
            return Ok(Arc::clone(dek));
        }
        let scope = KeyScope { tenant, class };
        let stored = match data_key::get(&self.db, tenant, class).await? {
            Some(s) => s,
            None => {
                let (_, wrapped) = self.keyring.generate_dek(scope)?;
                let mut tx = self.db.begin().await?;
                let stored = data_key::insert_or_get(
                    &mut tx,
                    &data_key::StoredDek {
                        tenant,
                        class,
                        kek_version: wrapped.kek_version,
                        wrapped: wrapped.ciphertext,
                    },
                    self.clock.now(),
                )
                .await?;
                tx.commit().await?;
                stored
            }
        };
        let dek = Arc::new(self.keyring.unwrap_dek(
            scope,
            &WrappedDek {
                kek_version: stored.kek_version,
                ciphertext: stored.wrapped,
            },
        )?);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((tenant, class), Arc::clone(&dek));
        Ok(dek)
    }

    /// Seals a field for a tenant under the DEK of its classification.
    ///
    /// # Errors
    /// On database or key failure.
    pub async fn seal(
        &self,
        tenant: TenantId,
        class: Classification,
        associated_data: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        Ok(self
            .dek(tenant, class)
            .await?
            .seal(associated_data, plaintext)?)
    }

    /// Opens what [`KeyService::seal`] produced.
    ///
    /// # Errors
    /// [`KeyError::Crypto`] if the data was altered or belongs to another scope.
    pub async fn open(
        &self,
        tenant: TenantId,
        class: Classification,
        associated_data: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        Ok(self
            .dek(tenant, class)
            .await?
            .open(associated_data, sealed)?)
    }

    /// Re-wraps every stored DEK under the keyring's current KEK, in one transaction with its
    /// audit event. Run after a new KEK version was added to the keyring file; data sealed
    /// before stays readable because the DEKs themselves do not change.
    ///
    /// # Errors
    /// On database or key failure; then nothing changed.
    pub async fn rewrap_all(
        &self,
        audit: &AuditLog,
        actor: Actor,
    ) -> Result<RotationReport, KeyError> {
        self.keyring.reload()?;
        let version = self.keyring.current_version();
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let all = data_key::all(&mut tx).await?;
        let mut rewrapped = 0;
        for stored in all {
            if stored.kek_version == version {
                continue;
            }
            let scope = KeyScope {
                tenant: stored.tenant,
                class: stored.class,
            };
            let fresh = self.keyring.rewrap(
                scope,
                &WrappedDek {
                    kek_version: stored.kek_version,
                    ciphertext: stored.wrapped.clone(),
                },
            )?;
            data_key::rewrap(
                &mut tx,
                &data_key::StoredDek {
                    kek_version: fresh.kek_version,
                    wrapped: fresh.ciphertext,
                    ..stored
                },
                now,
            )
            .await?;
            rewrapped += 1;
        }
        audit
            .record_in(
                &mut tx,
                AuditRecord::system(actor, "keys.rotate", Outcome::Success)
                    .details(serde_json::json!({ "kek_version": version, "rewrapped": rewrapped })),
            )
            .await
            .map_err(|e| KeyError::Audit(e.to_string()))?;
        tx.commit().await?;
        Ok(RotationReport {
            kek_version: version,
            rewrapped,
        })
    }
}
