//! Housekeeping: unclaimed and deleted blobs, half-written files, and rescans of files still
//! waiting for a verdict.

use super::*;

impl Evidence {
    /// Removes blobs that no record claims once their grace period has passed (uploads cut
    /// off by a crash) and blobs of deleted records, half-written staging files of the local
    /// folder, and scans again the versions still waiting for a verdict. Run at start and
    /// every few minutes.
    ///
    /// # Errors
    /// On database failure (each blob's failure is logged and retried next time).
    pub async fn sweep(&self) -> Result<SweepReport, EvidenceError> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        for key in
            store::pending_blobs_before(&self.db, now - self.limits.orphan_grace, 500).await?
        {
            let blob = BlobKey::from_stored(&key);
            match self.blobs.delete(&blob).await {
                Ok(()) => {
                    let mut tx = self.db.begin().await?;
                    store::clear_pending_blob(&mut tx, &key).await?;
                    tx.commit().await?;
                    report.orphans += 1;
                }
                Err(e) => tracing::warn!(error = %e, "could not remove an unclaimed blob"),
            }
        }
        let grace = std::time::Duration::from_secs(
            u64::try_from(self.limits.orphan_grace.whole_seconds()).unwrap_or(0),
        );
        match self.blobs.sweep_staging(now.into(), grace).await {
            Ok(n) => report.staging = n,
            Err(e) => tracing::warn!(error = %e, "could not sweep half-written files"),
        }
        if let Some(scanner) = &self.scanner {
            for tenant in store::tenants(&self.db).await? {
                report.rescanned += self.rescan(tenant, scanner).await?;
            }
        }
        Ok(report)
    }

    /// Scans a tenant's pending versions again and records each verdict.
    async fn rescan(&self, tenant: TenantId, scanner: &Scanner) -> Result<usize, EvidenceError> {
        let pending = {
            let mut tx = self.db.read_for(tenant).await?;
            let p = store::pending_scans(&mut tx, tenant, 100).await?;
            tx.commit().await?;
            p
        };
        let mut done = 0;
        for (eid, number, blob, size, class) in pending {
            let class: Classification = class
                .parse()
                .map_err(|_| corrupt("evidence_version.classification"))?;
            let size = u64::try_from(size).map_err(|_| corrupt("evidence_version.size_bytes"))?;
            let record = |action: &str, outcome| {
                AuditRecord::tenant(tenant, Actor::System, action, outcome).object(KIND, eid)
            };
            let blob = BlobKey::from_stored(&blob);
            let plain = match self.open_blob(tenant, class, &blob, size, None).await {
                Ok(p) => p,
                Err(EvidenceError::Integrity) => {
                    let r = record("evidence.integrity_failure", Outcome::Failure)
                        .details(serde_json::json!({ "version": number }));
                    let _ = self.integrity_failure(r).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let verdict = match transfer::scan_stream(plain, scanner).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the rescan got no verdict; trying again later");
                    break;
                }
                Err(EvidenceError::Integrity) => {
                    let r = record("evidence.integrity_failure", Outcome::Failure)
                        .details(serde_json::json!({ "version": number }));
                    let _ = self.integrity_failure(r).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (status, signature) = match verdict {
                Verdict::Clean => (ScanStatus::Released, None),
                Verdict::Infected(s) => (ScanStatus::Quarantined, Some(s)),
            };
            let mut tx = self.db.begin_for(tenant).await?;
            if store::set_scanned(
                &mut tx,
                tenant,
                eid,
                number,
                status.as_str(),
                signature.as_deref(),
                self.clock.now(),
            )
            .await?
            {
                let action = if status == ScanStatus::Quarantined {
                    "evidence.quarantined"
                } else {
                    "evidence.scanned"
                };
                self.audit
                    .record_in(
                        &mut tx,
                        record(
                            action,
                            if status == ScanStatus::Quarantined {
                                Outcome::Failure
                            } else {
                                Outcome::Success
                            },
                        )
                        .details(serde_json::json!({
                            "version": number,
                            "status": status.as_str(),
                            "signature": signature,
                        })),
                    )
                    .await?;
                done += 1;
            }
            tx.commit().await?;
        }
        Ok(done)
    }
}
