//! Writes: uploads (checked before the body is read, then typed, limited, encrypted, inspected
//! and scanned while streaming), versions, edits and deletion.

use super::*;

impl Evidence {
    /// Whether the caller may upload now: a new record (`None`), or a version of record `id`.
    /// Handlers ask before reading a request body, so a refusal costs no upload; the write
    /// itself checks again.
    ///
    /// # Errors
    /// [`EvidenceError::Forbidden`] or [`EvidenceError::NotFound`] (audited).
    pub async fn authorize_upload(
        &self,
        session: &VerifiedSession,
        id: Option<&str>,
        origin: Origin,
    ) -> Result<(), EvidenceError> {
        let caller = Caller::of(session)?;
        let check = async {
            match id {
                None => {
                    if caller.visibility != Visibility::Tenant
                        || !caller.may(Permission::Contribute)
                    {
                        return Err(EvidenceError::Forbidden);
                    }
                    Ok(())
                }
                Some(id) => {
                    let eid = parse_id(id)?;
                    let mut tx = self.db.read_for(caller.tenant).await?;
                    let row = self.visible(&mut tx, &caller, eid).await?;
                    tx.commit().await?;
                    if Self::may_edit(&caller, &row) {
                        Ok(())
                    } else {
                        Err(EvidenceError::Forbidden)
                    }
                }
            }
        }
        .await;
        match check {
            Ok(()) => Ok(()),
            Err(e) => {
                let (requested, action) = id.map_or(("new", "create"), |i| (i, "add_version"));
                Err(self.denied(&caller, requested, action, e, origin).await)
            }
        }
    }

    /// Creates a record with its first version: `file`, or a link in `version.link` (one of
    /// the two). Contributors and above; the caller owns it unless a manager names another
    /// owner. The file is stored, checked and scanned before the record exists; on any
    /// failure nothing remains.
    ///
    /// # Errors
    /// [`EvidenceError::Forbidden`], [`EvidenceError::Invalid`], the upload's refusals.
    pub async fn create<S, E>(
        &self,
        session: &VerifiedSession,
        fields: &EvidenceInput,
        version: &VersionInput,
        file: Option<Upload<S>>,
        origin: Origin,
    ) -> Result<EvidenceId, EvidenceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    {
        let caller = Caller::of(session)?;
        if caller.visibility != Visibility::Tenant || !caller.may(Permission::Contribute) {
            return Err(self
                .denied(&caller, "new", "create", EvidenceError::Forbidden, origin)
                .await);
        }
        let title = input::title(&fields.title)?;
        let description = input::description(&fields.description)?;
        let class = input::classification(fields.classification.as_deref())?;
        let tags = input::tags(fields.tags.as_deref())?;
        let owner = match fields.owner.as_deref().map(str::trim) {
            None | Some("") => caller.user,
            Some(o) => self.owner_for(&caller, o).await?,
        };
        let now = self.clock.now();
        let period = input::period(version, now)?;
        let link = Self::link_or_file(version, file.is_some())?;
        let id = Uuid::new_v4();
        let sealed_description = self
            .keys
            .seal(
                caller.tenant,
                class,
                &description_aad(id),
                description.as_bytes(),
            )
            .await?;
        let stored = match file {
            Some(f) => Some(self.store_file(&caller, class, f).await?),
            None => None,
        };
        let result = async {
            let sealed_link = match &link {
                Some(l) => Some(
                    self.keys
                        .seal(caller.tenant, class, &link_aad(id, 1), l.as_bytes())
                        .await?,
                ),
                None => None,
            };
            let mut tx = self.db.begin_for(caller.tenant).await?;
            store::insert(
                &mut tx,
                caller.tenant,
                &NewEvidence {
                    id,
                    title: &title,
                    description: &sealed_description,
                    classification: class.as_str(),
                    owner: Some(owner),
                    effective_from: period.from,
                    effective_to: period.to,
                    by: caller.user,
                    now,
                },
            )
            .await?;
            store::set_tags(&mut tx, caller.tenant, id, &tags).await?;
            self.add_version_in(
                &mut tx,
                &caller,
                id,
                1,
                class,
                period,
                stored.as_ref(),
                sealed_link.as_deref(),
                origin,
                "evidence.create",
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            if let Some(s) = &stored {
                self.discard(&s.key).await;
            }
            return Err(e);
        }
        Ok(EvidenceId::from_uuid(id))
    }

    /// Adds a version (a new file, or a link) to a record the caller may edit; older
    /// versions stay readable. Returns the new version's number.
    ///
    /// # Errors
    /// [`EvidenceError::NotFound`], [`EvidenceError::Forbidden`], [`EvidenceError::Invalid`],
    /// the upload's refusals.
    pub async fn add_version<S, E>(
        &self,
        session: &VerifiedSession,
        id: &str,
        version: &VersionInput,
        file: Option<Upload<S>>,
        origin: Origin,
    ) -> Result<i64, EvidenceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    {
        let caller = Caller::of(session)?;
        match self
            .add_version_inner(&caller, id, version, file, origin)
            .await
        {
            Ok(n) => Ok(n),
            Err(e) => Err(self.denied(&caller, id, "add_version", e, origin).await),
        }
    }

    async fn add_version_inner<S, E>(
        &self,
        caller: &Caller,
        id: &str,
        version: &VersionInput,
        file: Option<Upload<S>>,
        origin: Origin,
    ) -> Result<i64, EvidenceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    {
        let eid = parse_id(id)?;
        let current = {
            let mut tx = self.db.read_for(caller.tenant).await?;
            let row = self.visible(&mut tx, caller, eid).await?;
            tx.commit().await?;
            row
        };
        if !Self::may_edit(caller, &current) {
            return Err(EvidenceError::Forbidden);
        }
        let now = self.clock.now();
        let period = input::period(version, now)?;
        let link = Self::link_or_file(version, file.is_some())?;
        let class: Classification = current
            .classification
            .parse()
            .map_err(|_| corrupt("evidence.classification"))?;
        let stored = match file {
            Some(f) => Some(self.store_file(caller, class, f).await?),
            None => None,
        };
        let result = async {
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let number =
                store::next_version(&mut tx, caller.tenant, eid, period.from, period.to, now)
                    .await?
                    .ok_or(EvidenceError::NotFound)?;
            let sealed_link = match &link {
                Some(l) => Some(
                    self.keys
                        .seal(caller.tenant, class, &link_aad(eid, number), l.as_bytes())
                        .await?,
                ),
                None => None,
            };
            self.add_version_in(
                &mut tx,
                caller,
                eid,
                number,
                class,
                period,
                stored.as_ref(),
                sealed_link.as_deref(),
                origin,
                "evidence.version",
            )
            .await?;
            tx.commit().await?;
            Ok(number)
        }
        .await;
        if result.is_err()
            && let Some(s) = &stored
        {
            self.discard(&s.key).await;
        }
        result
    }

    /// A version needs a file or a link, never both.
    fn link_or_file(
        version: &VersionInput,
        has_file: bool,
    ) -> Result<Option<String>, EvidenceError> {
        match (
            version
                .link
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty()),
            has_file,
        ) {
            (Some(_), true) => Err(invalid(
                "link",
                "file_and_link",
                "Give a file or a link, not both.",
            )),
            (Some(l), false) => Ok(Some(input::link(l)?)),
            (None, true) => Ok(None),
            (None, false) => Err(invalid(
                "file",
                "file_required",
                "Choose a file to upload, or give a link.",
            )),
        }
    }

    /// Stores version `number` in the caller's transaction: the quota is taken, the blob's
    /// pending mark cleared, and the change audited, all or nothing.
    #[allow(clippy::too_many_arguments)]
    async fn add_version_in(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        id: Uuid,
        number: i64,
        class: Classification,
        period: Period,
        stored: Option<&Stored>,
        sealed_link: Option<&[u8]>,
        origin: Origin,
        action: &str,
    ) -> Result<(), EvidenceError> {
        let now = self.clock.now();
        let file = stored.map(|s| StoredFile {
            blob_key: s.key.as_str(),
            file_name: &s.name,
            media_type: s.media_type,
            size: size_of(s.size),
            sha256: &s.sha256,
        });
        let status = stored.map_or(ScanStatus::Released, |s| s.status);
        store::insert_version(
            tx,
            caller.tenant,
            &NewVersion {
                evidence: id,
                version: number,
                file,
                link: sealed_link,
                classification: class.as_str(),
                effective_from: period.from,
                effective_to: period.to,
                status: status.as_str(),
                scan_result: stored.and_then(|s| s.signature.as_deref()),
                scanned_at: stored
                    .filter(|s| self.scanner.is_some() && s.status != ScanStatus::Pending)
                    .map(|_| now),
                by: caller.user,
                now,
            },
        )
        .await?;
        if let Some(s) = stored {
            let quota = size_of(self.limits.tenant_quota_bytes);
            if !store::reserve(tx, caller.tenant, size_of(s.size), quota).await? {
                return Err(EvidenceError::QuotaExceeded);
            }
            store::clear_pending_blob(tx, s.key.as_str()).await?;
            if s.status == ScanStatus::Quarantined {
                self.audit
                    .record_in(
                        tx,
                        Self::record(caller, "evidence.quarantined", Outcome::Failure, origin)
                            .object(KIND, id)
                            .details(serde_json::json!({
                                "version": number,
                                "signature": s.signature,
                            })),
                    )
                    .await?;
            }
        }
        self.audit
            .record_in(
                tx,
                Self::record(caller, action, Outcome::Success, origin)
                    .object(KIND, id)
                    .details(serde_json::json!({
                        "version": number,
                        "kind": if stored.is_some() { "file" } else { "link" },
                        "classification": class.as_str(),
                        "size": stored.map(|s| s.size),
                        "sha256": stored.map(|s| hex::encode(s.sha256)),
                        "media_type": stored.map(|s| s.media_type),
                        "status": status.as_str(),
                        "effective_from": period.from.to_string(),
                        "effective_to": period.to.map(|d| d.to_string()),
                    })),
            )
            .await?;
        Ok(())
    }

    /// Streams an upload into the object store: the type is decided from the name and the
    /// first bytes before anything is stored; the size limit and the tenant's free quota are
    /// enforced while streaming; archives are inspected from their tail; the copy to clamd
    /// decides the status. On any refusal or failure the blob is removed (and the sweeper
    /// removes it if this process dies first).
    async fn store_file<S, E>(
        &self,
        caller: &Caller,
        class: Classification,
        upload: Upload<S>,
    ) -> Result<Stored, EvidenceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    {
        let name = file_name::display_name(&upload.file_name);
        let (head, body) = transfer::sniff(upload.body).await?;
        let kind = file_type::detect(&name, &head)?;
        let used = {
            let mut tx = self.db.read_for(caller.tenant).await?;
            let used = store::usage(&mut tx, caller.tenant).await?;
            tx.commit().await?;
            u64::try_from(used).unwrap_or(0)
        };
        let free = self.limits.tenant_quota_bytes.saturating_sub(used);
        if free == 0 {
            return Err(EvidenceError::QuotaExceeded);
        }
        let limit = self.limits.max_file_bytes.min(free);
        let key = BlobKey::new(caller.tenant);
        let file_key = FileKey::generate().map_err(|e| EvidenceError::Storage(e.into()))?;
        let wrapped = self
            .keys
            .seal(caller.tenant, class, &file_aad(&key), file_key.expose())
            .await?;
        {
            let mut tx = self.db.begin().await?;
            store::mark_pending_blob(
                &mut tx,
                caller.tenant,
                key.as_str(),
                "upload",
                self.clock.now(),
            )
            .await?;
            tx.commit().await?;
        }
        let tail = Tail::default();
        let mut body = body;
        if kind.is_zip() {
            body = tail.keep(body, archive::TAIL);
        }
        let mut scan = None;
        if let Some(scanner) = &self.scanner {
            let (b, task) = transfer::tee_to_scanner(body, scanner);
            body = b;
            scan = Some(task);
        }
        let id = key_id(caller.tenant, class);
        let uploaded = self
            .blobs
            .upload(
                &key,
                &Sealing {
                    file_key: &file_key,
                    key_id: &id,
                    wrapped_key: &wrapped,
                },
                body,
                limit,
            )
            .await;
        let refused = match uploaded {
            Ok(u) => {
                let checked = if kind.is_zip() {
                    archive::inspect(
                        &tail.bytes(archive::TAIL),
                        u.size,
                        matches!(kind, FileType::Office(_)),
                    )
                    .map(|_| u)
                    .map_err(EvidenceError::from)
                } else {
                    Ok(u)
                };
                match checked {
                    Ok(u) => {
                        let (status, signature) = match scan {
                            None => (ScanStatus::Released, None),
                            Some(task) => match task.await {
                                Ok(Ok(Verdict::Clean)) => (ScanStatus::Released, None),
                                Ok(Ok(Verdict::Infected(sig))) => {
                                    (ScanStatus::Quarantined, Some(sig))
                                }
                                Ok(Err(e)) => {
                                    tracing::warn!(error = %e, "no scan verdict; the file is held until a rescan");
                                    (ScanStatus::Pending, None)
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "the scan task failed; the file is held until a rescan");
                                    (ScanStatus::Pending, None)
                                }
                            },
                        };
                        return Ok(Stored {
                            key,
                            name,
                            media_type: kind.media_type(),
                            size: u.size,
                            sha256: u.sha256,
                            status,
                            signature,
                        });
                    }
                    Err(e) => e,
                }
            }
            Err(StorageError::TooLarge) if limit < self.limits.max_file_bytes => {
                EvidenceError::QuotaExceeded
            }
            Err(StorageError::TooLarge) => EvidenceError::TooLarge {
                limit: self.limits.max_file_bytes,
            },
            Err(e) => e.into(),
        };
        if let Some(task) = scan {
            task.abort();
        }
        self.discard(&key).await;
        Err(refused)
    }

    /// Removes a blob that no record claims; if that fails, its pending mark stays and the
    /// sweeper tries again.
    async fn discard(&self, key: &BlobKey) {
        match self.blobs.delete(key).await {
            Ok(()) => {
                let cleared = async {
                    let mut tx = self.db.begin().await?;
                    store::clear_pending_blob(&mut tx, key.as_str()).await?;
                    tx.commit().await
                }
                .await;
                if let Err(e) = cleared {
                    tracing::warn!(error = %e, "could not clear a pending blob mark; the sweeper will");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not remove an unclaimed blob; the sweeper will")
            }
        }
    }

    /// Changes a record's title, description, classification, owner and tags. A new
    /// classification applies to the description and to later versions; stored versions
    /// keep the key they were sealed with (their own classification is listed).
    ///
    /// # Errors
    /// [`EvidenceError::NotFound`], [`EvidenceError::Forbidden`] or
    /// [`EvidenceError::Invalid`].
    pub async fn update(
        &self,
        session: &VerifiedSession,
        id: &str,
        fields: &EvidenceInput,
        origin: Origin,
    ) -> Result<(), EvidenceError> {
        let caller = Caller::of(session)?;
        let result = async {
            let eid = parse_id(id)?;
            let current = {
                let mut tx = self.db.read_for(caller.tenant).await?;
                let row = self.visible(&mut tx, &caller, eid).await?;
                tx.commit().await?;
                row
            };
            if !Self::may_edit(&caller, &current) {
                return Err(EvidenceError::Forbidden);
            }
            let title = input::title(&fields.title)?;
            let description = input::description(&fields.description)?;
            let class = match fields.classification.as_deref().map(str::trim) {
                None | Some("") => current
                    .classification
                    .parse()
                    .map_err(|_| corrupt("evidence.classification"))?,
                Some(c) => input::classification(Some(c))?,
            };
            let tags = input::tags(fields.tags.as_deref())?;
            let owner = match fields.owner.as_deref().map(str::trim) {
                None | Some("") => current.owner_id.map(UserId::from_uuid),
                Some(o) => Some(self.owner_for(&caller, o).await?),
            };
            let sealed = self
                .keys
                .seal(
                    caller.tenant,
                    class,
                    &description_aad(eid),
                    description.as_bytes(),
                )
                .await?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            if !store::update_meta(
                &mut tx,
                caller.tenant,
                eid,
                &MetaUpdate {
                    title: &title,
                    description: &sealed,
                    classification: class.as_str(),
                    owner,
                    now: self.clock.now(),
                },
            )
            .await?
            {
                return Err(EvidenceError::NotFound);
            }
            store::set_tags(&mut tx, caller.tenant, eid, &tags).await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "evidence.update", Outcome::Success, origin)
                        .object(KIND, eid)
                        .details(serde_json::json!({
                            "classification": class.as_str(),
                            "owner_changed": owner.map(|o| o.as_uuid()) != current.owner_id,
                            "tags": tags,
                        })),
                )
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.denied(&caller, id, "update", e, origin).await),
        }
    }

    /// Deletes a record with every version, its tags and shares (compliance managers and
    /// above: evidence is the programme's proof). Its blobs are removed after the commit; any
    /// that cannot be removed now stay marked for the sweeper.
    ///
    /// # Errors
    /// [`EvidenceError::NotFound`] or [`EvidenceError::Forbidden`].
    pub async fn delete(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<(), EvidenceError> {
        let caller = Caller::of(session)?;
        let result = async {
            let eid = parse_id(id)?;
            let now = self.clock.now();
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let row = self.visible(&mut tx, &caller, eid).await?;
            if !Self::may_manage(&caller) {
                return Err(EvidenceError::Forbidden);
            }
            let (keys, bytes) = store::delete(&mut tx, caller.tenant, eid).await?;
            store::release(&mut tx, caller.tenant, bytes).await?;
            for k in &keys {
                store::mark_pending_blob(&mut tx, caller.tenant, k, "delete", now).await?;
            }
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "evidence.delete", Outcome::Success, origin)
                        .object(KIND, eid)
                        .details(serde_json::json!({
                            "versions": row.version,
                            "files": keys.len(),
                            "bytes": bytes,
                        })),
                )
                .await?;
            tx.commit().await?;
            Ok(keys)
        }
        .await;
        match result {
            Ok(keys) => {
                for k in keys {
                    self.discard(&BlobKey::from_stored(&k)).await;
                }
                Ok(())
            }
            Err(e) => Err(self.denied(&caller, id, "delete", e, origin).await),
        }
    }
}
