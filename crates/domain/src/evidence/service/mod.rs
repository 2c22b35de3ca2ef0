//! The evidence service: every function takes the caller's session, checks
//! [`crate::access`] and the object, and reads or writes in a transaction scoped to the
//! caller's tenant (SEC-34). Objects the caller may not see answer
//! [`EvidenceError::NotFound`], like missing ones (SEC-32), and such refusals are audited.

use std::sync::Arc;

use attest_crypto::Zeroizing;
use attest_crypto::stream::FileKey;
use attest_db::evidence::{self as store, EvidenceRow, ListQuery, NewEvidence, NewVersion};
use attest_db::evidence::{MetaUpdate, StoredFile, VersionRow};
use attest_db::{Db, DbError, Tx};
use attest_storage::scan::{Scanner, Verdict};
use attest_storage::{BlobKey, BlobStore, Sealing, StorageError};
use attest_types::{Actor, Classification, Clock, EvidenceId, ShareId, TenantId, UserId};
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::archive;
use super::file_name;
use super::file_type::{self, FileType};
use super::input::{self, EvidenceInput, Period, VersionInput, invalid};
use super::transfer::{self, Download, RangeWanted, Tail, Upload};
use super::{
    DEFAULT_PAGE, EvidenceDetail, EvidenceError, EvidencePage, EvidenceView, KIND, ListRequest,
    MAX_PAGE, ScanStatus, SweepReport, VersionContent, VersionView,
};
use crate::access::{Caller, Granted, Permission, Visibility};
use crate::audit::{AuditLog, AuditRecord, Outcome};
use crate::authn::sessions::VerifiedSession;
use crate::identity::Origin;
use crate::keys::KeyService;
use crate::ownership::{OwnerRefusal, new_owner};
use crate::sharing::{self, SharesAndRecipients};

mod download;
mod sweep;
mod writes;

/// The limits of the store (SEC-55) and the sweeper's grace period.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file, bytes.
    pub max_file_bytes: u64,
    /// What one tenant may store, bytes.
    pub tenant_quota_bytes: u64,
    /// Blobs of uploads that never became a record are removed after this long (longer
    /// than any upload may take).
    pub orphan_grace: Duration,
}

/// The evidence service.
#[derive(Clone)]
pub struct Evidence {
    db: Db,
    keys: Arc<KeyService>,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
    blobs: BlobStore,
    scanner: Option<Scanner>,
    limits: Limits,
}

impl std::fmt::Debug for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evidence")
            .field("blobs", &self.blobs)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A file stored and checked, not yet part of a record.
struct Stored {
    key: BlobKey,
    name: String,
    media_type: &'static str,
    size: u64,
    sha256: [u8; 32],
    status: ScanStatus,
    signature: Option<String>,
}

/// The id of the key that wraps a file key: the tenant's DEK for a classification.
fn key_id(tenant: TenantId, class: Classification) -> String {
    format!("dek/{tenant}/{}", class.as_str())
}

/// Associated data of a wrapped file key: bound to its blob, so a key moved to another blob
/// does not open.
fn file_aad(key: &BlobKey) -> Vec<u8> {
    let mut a = b"evidence-file:".to_vec();
    a.extend_from_slice(key.as_str().as_bytes());
    a
}

pub(crate) fn description_aad(id: Uuid) -> Vec<u8> {
    let mut a = b"evidence:".to_vec();
    a.extend_from_slice(id.as_bytes());
    a
}

pub(crate) fn link_aad(id: Uuid, version: i64) -> Vec<u8> {
    let mut a = b"evidence-link:".to_vec();
    a.extend_from_slice(id.as_bytes());
    a.extend_from_slice(&version.to_be_bytes());
    a
}

fn parse_id(text: &str) -> Result<Uuid, EvidenceError> {
    // A malformed id is answered like a missing one (SEC-32, SEC-33).
    Uuid::parse_str(text.trim()).map_err(|_| EvidenceError::NotFound)
}

fn corrupt(what: &'static str) -> EvidenceError {
    EvidenceError::Db(DbError::Corrupt(what))
}

fn size_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Evidence {
    /// The service.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        keys: Arc<KeyService>,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
        blobs: BlobStore,
        scanner: Option<Scanner>,
        limits: Limits,
    ) -> Self {
        Self {
            db,
            keys,
            audit,
            clock,
            blobs,
            scanner,
            limits,
        }
    }

    /// The limits in force.
    #[must_use]
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether uploads are scanned for malware.
    #[must_use]
    pub const fn scanning(&self) -> bool {
        self.scanner.is_some()
    }

    fn record(caller: &Caller, action: &str, outcome: Outcome, origin: Origin) -> AuditRecord {
        AuditRecord::tenant(caller.tenant, Actor::User(caller.user), action, outcome)
            .request(origin.ip, origin.request_id)
    }

    fn target<'a>(
        &'a self,
        caller: &'a Caller,
        origin: Origin,
        object: Uuid,
    ) -> sharing::Target<'a> {
        sharing::Target {
            audit: &self.audit,
            caller,
            origin,
            kind: KIND,
            object,
        }
    }

    /// Audits a refused access (the caller saw 404 or 403) and returns the error.
    async fn denied(
        &self,
        caller: &Caller,
        requested: &str,
        action: &str,
        err: EvidenceError,
        origin: Origin,
    ) -> EvidenceError {
        if matches!(err, EvidenceError::NotFound | EvidenceError::Forbidden)
            && let Err(e) = caller
                .audit_denial(&self.audit, KIND, requested, action, origin)
                .await
        {
            return e.into();
        }
        err
    }

    /// The record if the caller sees it (the per-object check of every read and write).
    async fn visible(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        id: Uuid,
    ) -> Result<EvidenceRow, EvidenceError> {
        let row = store::get(tx, caller.tenant, id)
            .await?
            .ok_or(EvidenceError::NotFound)?;
        if caller.visibility == Visibility::SharedOnly
            && !attest_db::share::is_shared_with(
                tx,
                caller.tenant,
                KIND,
                id,
                caller.user,
                self.clock.now(),
            )
            .await?
        {
            return Err(EvidenceError::NotFound);
        }
        Ok(row)
    }

    fn may_edit(caller: &Caller, row: &EvidenceRow) -> bool {
        caller.visibility == Visibility::Tenant
            && (caller.may(Permission::ManageContent)
                || (caller.may(Permission::Contribute)
                    && row.owner_id == Some(caller.user.as_uuid())))
    }

    fn may_manage(caller: &Caller) -> bool {
        caller.visibility == Visibility::Tenant && caller.may(Permission::ManageContent)
    }

    fn view(
        caller: &Caller,
        row: EvidenceRow,
        tags: Vec<String>,
    ) -> Result<EvidenceView, EvidenceError> {
        let classification = row
            .classification
            .parse()
            .map_err(|_| corrupt("evidence.classification"))?;
        let owner = match caller.visibility {
            Visibility::Tenant => row
                .owner_id
                .map(|o| (UserId::from_uuid(o), row.owner_name.unwrap_or_default())),
            Visibility::SharedOnly => None,
        };
        Ok(EvidenceView {
            id: EvidenceId::from_uuid(row.id),
            title: row.title,
            classification,
            owner,
            version: row.version,
            effective_from: row.effective_from,
            effective_to: row.effective_to,
            tags,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    async fn version_view(
        &self,
        caller: &Caller,
        id: Uuid,
        v: VersionRow,
    ) -> Result<VersionView, EvidenceError> {
        let classification: Classification = v
            .classification
            .parse()
            .map_err(|_| corrupt("evidence_version.classification"))?;
        let content = match (v.kind.as_str(), v.link) {
            ("link", Some(sealed)) => {
                let plain = self
                    .keys
                    .open(
                        caller.tenant,
                        classification,
                        &link_aad(id, v.version),
                        &sealed,
                    )
                    .await?;
                VersionContent::Link(String::from_utf8_lossy(&plain).into_owned())
            }
            ("file", _) => VersionContent::File {
                name: v.file_name.unwrap_or_default(),
                media_type: v.media_type.unwrap_or_default(),
                size: v
                    .size_bytes
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0),
                sha256: v.sha256.map(hex::encode).unwrap_or_default(),
            },
            _ => return Err(corrupt("evidence_version.kind")),
        };
        Ok(VersionView {
            version: v.version,
            content,
            classification,
            effective_from: v.effective_from,
            effective_to: v.effective_to,
            status: ScanStatus::parse(&v.status)?,
            scan_result: v.scan_result,
            uploaded_by: (caller.visibility == Visibility::Tenant)
                .then_some(v.uploader_name)
                .flatten(),
            created_at: v.created_at,
        })
    }

    async fn owner_for(&self, caller: &Caller, owner: &str) -> Result<UserId, EvidenceError> {
        match new_owner(&self.db, caller, owner, self.clock.now()).await {
            Ok(u) => Ok(u),
            Err(OwnerRefusal::NotAllowed) => Err(invalid(
                "owner",
                "field_not_allowed",
                "Your role cannot change the owner of evidence.",
            )),
            Err(OwnerRefusal::NotEligible) => Err(invalid(
                "owner",
                "invalid_owner",
                "The owner must be a member who can edit evidence.",
            )),
            Err(OwnerRefusal::Db(e)) => Err(e.into()),
        }
    }

    // -------------------------------------------------------------------------------
    // Reads.

    /// A page of the evidence the caller sees.
    ///
    /// # Errors
    /// [`EvidenceError::Invalid`] for a bad filter, cursor or page size.
    pub async fn list(
        &self,
        session: &VerifiedSession,
        req: &ListRequest,
    ) -> Result<EvidencePage, EvidenceError> {
        let caller = Caller::of(session)?;
        let limit = req.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(invalid(
                "limit",
                "invalid_limit",
                "The page size must be between 1 and 100.",
            ));
        }
        let class = match req.classification.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(input::classification(Some(c))?.as_str()),
        };
        let tag = input::filter_tag(req.tag.as_deref())?;
        let owner = match req.owner.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(o) => Some(Uuid::parse_str(o).map_err(|_| {
                invalid(
                    "owner",
                    "invalid_owner",
                    "The owner filter is not a member.",
                )
            })?),
        };
        let effective_on = match req.effective_on.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(d) => Some(input::date("effective_on", d)?),
        };
        let mut tx = self.db.read_for(caller.tenant).await?;
        let after = match req.after.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => {
                let bad = || invalid("after", "invalid_cursor", "The page cursor is not valid.");
                let id = Uuid::parse_str(a).map_err(|_| bad())?;
                let row = self
                    .visible(&mut tx, &caller, id)
                    .await
                    .map_err(|_| bad())?;
                Some((row.updated_at, row.id))
            }
        };
        let rows = store::list(
            &mut tx,
            caller.tenant,
            ListQuery {
                shared_with: (caller.visibility == Visibility::SharedOnly).then_some(caller.user),
                now: self.clock.now(),
                classification: class,
                tag: tag.as_deref(),
                owner,
                effective_on,
                after,
                limit: limit + 1,
            },
        )
        .await?;
        let keep = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > keep;
        let rows: Vec<EvidenceRow> = rows.into_iter().take(keep).collect();
        let tags = match (rows.first(), rows.last()) {
            (Some(f), Some(l)) => {
                store::tags_between(
                    &mut tx,
                    caller.tenant,
                    (f.updated_at, f.id),
                    (l.updated_at, l.id),
                )
                .await?
            }
            _ => Vec::new(),
        };
        tx.commit().await?;
        let items = rows
            .into_iter()
            .map(|r| {
                let mine = tags
                    .iter()
                    .filter(|(e, _)| *e == r.id)
                    .map(|(_, t)| t.clone())
                    .collect();
                Self::view(&caller, r, mine).map(Granted::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = more.then(|| items.last().map(|d| d.id)).flatten();
        Ok(EvidencePage { items, next })
    }

    /// The library as CSV, every page, with the list's filters (SEC-48: cells a spreadsheet
    /// would run are escaped). Needs the export permission; audited with the row count.
    ///
    /// # Errors
    /// [`EvidenceError::Forbidden`] without the permission; [`EvidenceError::Invalid`] for a
    /// bad filter.
    pub async fn export_csv(
        &self,
        session: &VerifiedSession,
        req: &ListRequest,
        origin: Origin,
    ) -> Result<Granted<String>, EvidenceError> {
        let caller = Caller::of(session)?;
        caller.require(Permission::Export)?;
        let mut table = crate::csv_out::Table::new(&[
            "title",
            "classification",
            "owner",
            "tags",
            "effective from",
            "effective to",
            "version",
            "updated (UTC)",
        ]);
        table
            .all_pages(
                |after| {
                    let page = ListRequest {
                        limit: Some(MAX_PAGE),
                        after,
                        ..req.clone()
                    };
                    async move {
                        let p = self.list(session, &page).await?;
                        Ok::<_, EvidenceError>((p.items, p.next.map(|n| n.to_string())))
                    }
                },
                |e| {
                    vec![
                        e.title.clone(),
                        e.classification.as_str().to_owned(),
                        e.owner.as_ref().map(|o| o.1.clone()).unwrap_or_default(),
                        e.tags.join(", "),
                        e.effective_from.to_string(),
                        e.effective_to.map(|d| d.to_string()).unwrap_or_default(),
                        e.version.to_string(),
                        e.updated_at
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default(),
                    ]
                },
            )
            .await?;
        let rows = table.rows();
        self.audit
            .record_read(
                Self::record(&caller, "evidence.export", Outcome::Success, origin)
                    .details(serde_json::json!({ "rows": rows })),
            )
            .await?;
        Ok(Granted::new(table.finish()))
    }

    /// A record with its description and versions, and what the caller may do. Audited as a
    /// read.
    ///
    /// # Errors
    /// [`EvidenceError::NotFound`] when the caller does not see it.
    pub async fn get(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<Granted<EvidenceDetail>, EvidenceError> {
        let caller = Caller::of(session)?;
        match self.read_detail(&caller, id).await {
            Ok(d) => {
                self.audit
                    .record_read(
                        Self::record(&caller, "evidence.read", Outcome::Success, origin)
                            .object(KIND, d.evidence.id),
                    )
                    .await?;
                Ok(Granted::new(d))
            }
            Err(e) => Err(self.denied(&caller, id, "read", e, origin).await),
        }
    }

    async fn read_detail(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<EvidenceDetail, EvidenceError> {
        let id = parse_id(id)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        let row = self.visible(&mut tx, caller, id).await?;
        let rows = store::versions(&mut tx, caller.tenant, id).await?;
        let tags = store::tags(&mut tx, caller.tenant, id).await?;
        tx.commit().await?;
        let class: Classification = row
            .classification
            .parse()
            .map_err(|_| corrupt("evidence.classification"))?;
        let description = self
            .keys
            .open(caller.tenant, class, &description_aad(id), &row.description)
            .await?;
        let mut versions = Vec::with_capacity(rows.len());
        for v in rows {
            // Members who see only what is shared with them see only released versions.
            if caller.visibility == Visibility::SharedOnly && v.status != "released" {
                continue;
            }
            versions.push(self.version_view(caller, id, v).await?);
        }
        let can_edit = Self::may_edit(caller, &row);
        Ok(EvidenceDetail {
            evidence: Self::view(caller, row, tags)?,
            description: String::from_utf8_lossy(&description).into_owned(),
            versions,
            can_edit,
            can_delete: Self::may_manage(caller),
            can_share: Self::may_manage(caller),
        })
    }

    // -------------------------------------------------------------------------------
    // Shares.

    /// The per-object check for managing shares: the caller sees the whole tenant and may
    /// manage content.
    async fn shareable(&self, tx: &mut Tx, caller: &Caller, id: Uuid) -> Result<(), EvidenceError> {
        self.visible(tx, caller, id).await?;
        if caller.visibility != Visibility::Tenant {
            return Err(EvidenceError::NotFound);
        }
        Ok(caller.require(Permission::ManageContent)?)
    }

    /// The record's shares and who it can be shared with (compliance managers and above).
    ///
    /// # Errors
    /// [`EvidenceError::NotFound`] or [`EvidenceError::Forbidden`].
    pub async fn shares(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<Granted<SharesAndRecipients>, EvidenceError> {
        let caller = Caller::of(session)?;
        let result = async {
            let eid = parse_id(id)?;
            let mut tx = self.db.read_for(caller.tenant).await?;
            self.shareable(&mut tx, &caller, eid).await?;
            let v = sharing::list(&mut tx, &caller, KIND, eid, self.clock.now()).await?;
            tx.commit().await?;
            Ok(v)
        }
        .await;
        match result {
            Ok(v) => Ok(Granted::new(v)),
            Err(e) => Err(self.denied(&caller, id, "shares", e, origin).await),
        }
    }

    /// Shares the record (all its released versions) with a member who sees only what is
    /// shared with them, until a date at most a year ahead (SEC-36).
    ///
    /// # Errors
    /// [`EvidenceError::NotFound`], [`EvidenceError::Forbidden`] or
    /// [`EvidenceError::Invalid`].
    pub async fn share(
        &self,
        session: &VerifiedSession,
        id: &str,
        with: &str,
        until: Option<OffsetDateTime>,
        origin: Origin,
    ) -> Result<ShareId, EvidenceError> {
        let caller = Caller::of(session)?;
        let result = async {
            let eid = parse_id(id)?;
            let now = self.clock.now();
            let mut tx = self.db.begin_for(caller.tenant).await?;
            self.shareable(&mut tx, &caller, eid).await?;
            let share =
                sharing::create(&mut tx, self.target(&caller, origin, eid), with, until, now)
                    .await?;
            tx.commit().await?;
            Ok(share)
        }
        .await;
        match result {
            Ok(v) => Ok(v),
            Err(e) => Err(self.denied(&caller, id, "share", e, origin).await),
        }
    }

    /// Revokes a share; it stops working on the recipient's next request.
    ///
    /// # Errors
    /// [`EvidenceError::NotFound`] or [`EvidenceError::Forbidden`].
    pub async fn revoke_share(
        &self,
        session: &VerifiedSession,
        id: &str,
        share_id: &str,
        origin: Origin,
    ) -> Result<(), EvidenceError> {
        let caller = Caller::of(session)?;
        let result = async {
            let eid = parse_id(id)?;
            let sid = parse_id(share_id)?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            self.shareable(&mut tx, &caller, eid).await?;
            sharing::revoke(
                &mut tx,
                self.target(&caller, origin, eid),
                sid,
                self.clock.now(),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.denied(&caller, id, "share_revoke", e, origin).await),
        }
    }
}
