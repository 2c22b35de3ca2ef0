//! Downloads: released files only, opened under the tenant key the header names, every chunk
//! authenticated, integrity failures audited.

use super::*;

impl Evidence {
    /// A version's file (the newest for `None`), or the part of it `range` asks for. Only
    /// released files are served; the wrapped file key must carry the id of this tenant's key
    /// for the version's classification and open under it; every chunk is authenticated.
    /// Audited as `evidence.download`; an integrity failure is audited as
    /// `evidence.integrity_failure`, whether found before the first byte (then it is the
    /// error) or part-way (then the body ends with an error).
    ///
    /// # Errors
    /// [`EvidenceError::NotFound`], [`EvidenceError::RangeNotSatisfiable`] or
    /// [`EvidenceError::Integrity`].
    pub async fn download(
        &self,
        session: &VerifiedSession,
        id: &str,
        version: Option<i64>,
        range: Option<RangeWanted>,
        origin: Origin,
    ) -> Result<Granted<Download>, EvidenceError> {
        let caller = Caller::of(session)?;
        match self
            .download_inner(&caller, id, version, range, origin)
            .await
        {
            Ok(d) => Ok(Granted::new(d)),
            Err(e) => Err(self.denied(&caller, id, "download", e, origin).await),
        }
    }

    async fn download_inner(
        &self,
        caller: &Caller,
        id: &str,
        version: Option<i64>,
        range: Option<RangeWanted>,
        origin: Origin,
    ) -> Result<Download, EvidenceError> {
        let eid = parse_id(id)?;
        let v = {
            let mut tx = self.db.read_for(caller.tenant).await?;
            let row = self.visible(&mut tx, caller, eid).await?;
            let number = version.unwrap_or(row.version);
            let v = store::version(&mut tx, caller.tenant, eid, number)
                .await?
                .ok_or(EvidenceError::NotFound)?;
            tx.commit().await?;
            v
        };
        if v.kind != "file" || v.status != ScanStatus::Released.as_str() {
            return Err(EvidenceError::NotFound);
        }
        let (Some(blob), Some(size)) = (v.blob_key.as_deref(), v.size_bytes) else {
            return Err(corrupt("evidence_version.blob_key"));
        };
        let size = u64::try_from(size).map_err(|_| corrupt("evidence_version.size_bytes"))?;
        let sha256 = v.sha256.as_deref().map(hex::encode).unwrap_or_default();
        let range = range
            .filter(|w| w.if_sha256.as_ref().is_none_or(|t| *t == sha256))
            .map(|w| w.range.resolve(size))
            .transpose()?;
        let class: Classification = v
            .classification
            .parse()
            .map_err(|_| corrupt("evidence_version.classification"))?;
        let blob = BlobKey::from_stored(blob);
        let failure = Self::record(
            caller,
            "evidence.integrity_failure",
            Outcome::Failure,
            origin,
        )
        .object(KIND, eid)
        .details(serde_json::json!({ "version": v.version }));
        let mut body = match self
            .open_blob(caller.tenant, class, &blob, size, range)
            .await
        {
            Ok(b) => b,
            Err(EvidenceError::Integrity) => return Err(self.integrity_failure(failure).await),
            Err(e) => return Err(e),
        };
        // The first chunk is opened before answering, so a damaged start is an error status
        // rather than a cut-off body.
        let first = match body.next().await {
            Some(Err(StorageError::Integrity)) => {
                return Err(self.integrity_failure(failure).await);
            }
            Some(Err(e)) => return Err(e.into()),
            other => other,
        };
        let audit = self.audit.clone();
        let rest = body.map(move |item| {
            if matches!(item, Err(StorageError::Integrity)) {
                tracing::error!(
                    "a stored evidence file failed its integrity check during a download"
                );
                let audit = audit.clone();
                let record = failure.clone();
                tokio::spawn(async move {
                    if let Err(e) = audit.record(record).await {
                        tracing::error!(error = %e, "could not audit an integrity failure");
                    }
                });
            }
            item
        });
        let body = futures_util::stream::iter(first).chain(rest).boxed();
        self.audit
            .record_read(
                Self::record(caller, "evidence.download", Outcome::Success, origin)
                    .object(KIND, eid)
                    .details(serde_json::json!({
                        "version": v.version,
                        "range": range.map(|r| [r.start, r.end]),
                    })),
            )
            .await?;
        Ok(Download {
            file_name: v.file_name.unwrap_or_else(|| "file".to_owned()),
            media_type: v
                .media_type
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            size,
            sha256,
            range,
            body,
        })
    }

    /// Opens a stored file under the tenant's key for its classification.
    pub(super) async fn open_blob(
        &self,
        tenant: TenantId,
        class: Classification,
        blob: &BlobKey,
        size: u64,
        range: Option<attest_storage::ByteRange>,
    ) -> Result<attest_storage::PlainStream, EvidenceError> {
        let dek = self.keys.dek(tenant, class).await?;
        let expected = key_id(tenant, class);
        let aad = file_aad(blob);
        let opened = self
            .blobs
            .download(blob, size, range, move |header| {
                if header.key_id != expected {
                    return Err(StorageError::Integrity);
                }
                let raw = Zeroizing::new(
                    dek.open(&aad, &header.wrapped_key)
                        .map_err(|_| StorageError::Integrity)?,
                );
                Ok(FileKey::from_bytes(&raw)?)
            })
            .await;
        match opened {
            Ok(b) => Ok(b),
            // A record whose blob is gone is damaged storage, not a missing object.
            Err(StorageError::NotFound | StorageError::Integrity) => Err(EvidenceError::Integrity),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn integrity_failure(&self, record: AuditRecord) -> EvidenceError {
        tracing::error!("a stored evidence file failed its integrity check");
        match self.audit.record(record).await {
            Ok(_) => EvidenceError::Integrity,
            Err(e) => e.into(),
        }
    }
}
