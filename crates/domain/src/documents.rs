//! Documents: the first object kind of the programme (policies and procedures build on it).
//! A document has a title, a body of sanitised rich text (SEC-46), a classification whose
//! tenant key seals the body at rest, an owner, and versions: every save is a new version and
//! old ones stay readable. It can be shared with a member who sees only what is shared with
//! them (SEC-36).
//!
//! Every function takes the caller's session, checks [`crate::access`] and the object, and
//! reads or writes in a transaction scoped to the caller's tenant (SEC-34). An object the
//! caller may not see is reported as [`DocumentError::NotFound`], like a missing one (SEC-32);
//! such refusals are audited.

use std::sync::Arc;

use attest_db::document::{self as store, DocumentRow, ListQuery, NewVersion};
use attest_db::share;
use attest_db::{Db, DbError, Tx};
use attest_types::{Actor, Classification, Clock, DocumentId, ShareId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::{Caller, Denied, Granted, Permission, Visibility};
use crate::audit::{AuditError, AuditLog, AuditRecord, Outcome};
use crate::authn::sessions::VerifiedSession;
use crate::identity::Origin;
use crate::keys::{KeyError, KeyService};
use crate::rich_text;
use crate::sharing::{self, ShareFailure};

/// The object kind's name in shares, the audit trail and URLs.
pub const KIND: &str = "document";
/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Largest page of a list.
pub const MAX_PAGE: i64 = 100;
/// Default page size.
pub const DEFAULT_PAGE: i64 = 50;
pub use crate::sharing::{MAX_SHARE, ShareView, SharesAndRecipients};

/// A failed document operation.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Missing, in another tenant, or not visible to the caller (one answer, SEC-32).
    #[error("not found")]
    NotFound,
    /// Visible, but the caller may not do this.
    #[error("forbidden")]
    Forbidden,
    /// Someone saved a newer version first.
    #[error("the document changed since it was read")]
    Conflict,
    /// Bad input, naming the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Stable code.
        code: &'static str,
        /// What to do.
        message: String,
    },
    /// Storage failure.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Key failure (or a stored body that fails authentication).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Audit failure.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<ShareFailure> for DocumentError {
    fn from(f: ShareFailure) -> Self {
        match f {
            ShareFailure::Invalid {
                field,
                code,
                message,
            } => invalid(field, code, message),
            ShareFailure::NotFound => Self::NotFound,
            ShareFailure::Db(e) => Self::Db(e),
            ShareFailure::Audit(e) => Self::Audit(e),
        }
    }
}

impl From<Denied> for DocumentError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotVisible => Self::NotFound,
            Denied::Forbidden => Self::Forbidden,
        }
    }
}

fn invalid(field: &'static str, code: &'static str, message: &str) -> DocumentError {
    DocumentError::Invalid {
        field,
        code,
        message: message.to_owned(),
    }
}

/// A document as the caller may see it.
#[derive(Debug, Clone)]
pub struct DocumentView {
    /// Id.
    pub id: DocumentId,
    /// Title.
    pub title: String,
    /// Classification.
    pub classification: Classification,
    /// Owner (hidden from callers who see only what is shared with them).
    pub owner: Option<(UserId, String)>,
    /// Current version.
    pub version: i64,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// A document with its body.
#[derive(Debug, Clone)]
pub struct DocumentDetail {
    /// The document.
    pub document: DocumentView,
    /// Sanitised HTML of the shown version.
    pub body_html: String,
    /// What the caller may do with it.
    pub can_edit: bool,
    /// May delete.
    pub can_delete: bool,
    /// May share and see shares.
    pub can_share: bool,
    /// May see the version history.
    pub can_see_history: bool,
}

/// One version as listed.
#[derive(Debug, Clone)]
pub struct VersionView {
    /// Number.
    pub version: i64,
    /// Title then.
    pub title: String,
    /// Classification then.
    pub classification: String,
    /// Author's name.
    pub author: Option<String>,
    /// Written.
    pub created_at: OffsetDateTime,
}

/// What a create or edit carries. Only these fields exist (SEC-37).
#[derive(Debug, Clone, Default)]
pub struct DocumentInput {
    /// Title.
    pub title: String,
    /// Body, untrusted HTML.
    pub body: String,
    /// Classification name (default `high`).
    pub classification: Option<String>,
    /// New owner: compliance managers and above only.
    pub owner: Option<String>,
}

/// A list request.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Only this classification.
    pub classification: Option<String>,
    /// The id of the last document of the previous page.
    pub after: Option<String>,
    /// Page size (1 to [`MAX_PAGE`]).
    pub limit: Option<i64>,
}

/// A page of documents.
#[derive(Debug, Clone)]
pub struct DocumentPage {
    /// The documents.
    pub items: Vec<Granted<DocumentView>>,
    /// The cursor of the next page, when there is one.
    pub next: Option<DocumentId>,
}

/// The documents service.
#[derive(Clone)]
pub struct Documents {
    db: Db,
    keys: Arc<KeyService>,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents").finish_non_exhaustive()
    }
}

fn aad(id: Uuid, version: i64) -> Vec<u8> {
    let mut a = b"document:".to_vec();
    a.extend_from_slice(id.as_bytes());
    a.extend_from_slice(&version.to_be_bytes());
    a
}

fn parse_id(text: &str) -> Result<Uuid, DocumentError> {
    // A malformed id is answered like a missing one (SEC-32, SEC-33).
    Uuid::parse_str(text.trim()).map_err(|_| DocumentError::NotFound)
}

fn classification(text: Option<&str>) -> Result<Classification, DocumentError> {
    match text.map(str::trim) {
        None | Some("") => Ok(Classification::High),
        Some(t) => t.parse().map_err(|_| {
            invalid(
                "classification",
                "invalid_classification",
                "Choose critical, high, moderate, low or public.",
            )
        }),
    }
}

fn title(text: &str) -> Result<String, DocumentError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > MAX_TITLE || t.chars().any(char::is_control) {
        return Err(invalid(
            "title",
            "invalid_title",
            "Enter a title of 1 to 200 characters, on one line.",
        ));
    }
    Ok(t.to_owned())
}

fn body(text: &str) -> Result<String, DocumentError> {
    if text.len() > rich_text::MAX_BYTES {
        return Err(invalid(
            "body",
            "too_long",
            "The text is longer than 200,000 characters.",
        ));
    }
    Ok(rich_text::clean(text))
}

impl Documents {
    /// The service.
    #[must_use]
    pub fn new(db: Db, keys: Arc<KeyService>, audit: AuditLog, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            keys,
            audit,
            clock,
        }
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

    /// Audits a refused access (SEC-32: the caller saw 404 or 403) and returns the error.
    async fn denied(
        &self,
        caller: &Caller,
        requested: &str,
        action: &str,
        err: DocumentError,
        origin: Origin,
    ) -> DocumentError {
        if matches!(err, DocumentError::NotFound | DocumentError::Forbidden)
            && let Err(e) = caller
                .audit_denial(&self.audit, KIND, requested, action, origin)
                .await
        {
            return e.into();
        }
        err
    }

    /// The document if the caller sees it (the per-object check of every read and write).
    async fn visible(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        id: Uuid,
    ) -> Result<DocumentRow, DocumentError> {
        let row = store::get(tx, caller.tenant, id)
            .await?
            .ok_or(DocumentError::NotFound)?;
        if caller.visibility == Visibility::SharedOnly
            && !share::is_shared_with(tx, caller.tenant, KIND, id, caller.user, self.clock.now())
                .await?
        {
            return Err(DocumentError::NotFound);
        }
        Ok(row)
    }

    fn view(caller: &Caller, row: DocumentRow) -> Result<DocumentView, DocumentError> {
        let classification = row
            .classification
            .parse()
            .map_err(|_| DocumentError::Db(DbError::Corrupt("document.classification")))?;
        let owner = match caller.visibility {
            Visibility::Tenant => row
                .owner_id
                .map(|o| (UserId::from_uuid(o), row.owner_name.unwrap_or_default())),
            Visibility::SharedOnly => None,
        };
        Ok(DocumentView {
            id: DocumentId::from_uuid(row.id),
            title: row.title,
            classification,
            owner,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// The per-object check for managing shares: the caller sees the whole tenant and may
    /// manage content.
    async fn shareable(&self, tx: &mut Tx, caller: &Caller, id: Uuid) -> Result<(), DocumentError> {
        self.visible(tx, caller, id).await?;
        if caller.visibility != Visibility::Tenant {
            return Err(DocumentError::NotFound);
        }
        Ok(caller.require(Permission::ManageContent)?)
    }

    fn may_edit(caller: &Caller, row: &DocumentRow) -> bool {
        caller.visibility == Visibility::Tenant
            && (caller.may(Permission::ManageContent)
                || (caller.may(Permission::Contribute)
                    && row.owner_id == Some(caller.user.as_uuid())))
    }

    /// A page of the documents the caller sees.
    ///
    /// # Errors
    /// [`DocumentError::Invalid`] for a bad filter, cursor or page size.
    pub async fn list(
        &self,
        session: &VerifiedSession,
        req: &ListRequest,
    ) -> Result<DocumentPage, DocumentError> {
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
            Some(c) => Some(classification(Some(c))?.as_str()),
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
                after,
                limit: limit + 1,
            },
        )
        .await?;
        tx.commit().await?;
        let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        let items = rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|r| Self::view(&caller, r).map(Granted::new))
            .collect::<Result<Vec<_>, _>>()?;
        let next = more.then(|| items.last().map(|d| d.id)).flatten();
        Ok(DocumentPage { items, next })
    }

    /// The document list as CSV, every page, with the list's filter (SEC-48: cells a
    /// spreadsheet would run are escaped). Titles and metadata only, never bodies. Needs the
    /// export permission; audited with the row count.
    ///
    /// # Errors
    /// [`DocumentError::Forbidden`] without the permission; [`DocumentError::Invalid`] for a
    /// bad filter.
    pub async fn export_csv(
        &self,
        session: &VerifiedSession,
        req: &ListRequest,
        origin: Origin,
    ) -> Result<Granted<String>, DocumentError> {
        let caller = Caller::of(session)?;
        caller.require(Permission::Export)?;
        let mut table = crate::csv_out::Table::new(&[
            "title",
            "classification",
            "owner",
            "version",
            "created (UTC)",
            "updated (UTC)",
        ]);
        let rfc3339 = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
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
                        Ok::<_, DocumentError>((p.items, p.next.map(|n| n.to_string())))
                    }
                },
                |d| {
                    vec![
                        d.title.clone(),
                        d.classification.as_str().to_owned(),
                        d.owner.as_ref().map(|o| o.1.clone()).unwrap_or_default(),
                        d.version.to_string(),
                        rfc3339(d.created_at),
                        rfc3339(d.updated_at),
                    ]
                },
            )
            .await?;
        let rows = table.rows();
        self.audit
            .record_read(
                Self::record(&caller, "document.export", Outcome::Success, origin)
                    .details(serde_json::json!({ "rows": rows })),
            )
            .await?;
        Ok(Granted::new(table.finish()))
    }

    /// Creates a document (contributors and above); the caller owns it.
    ///
    /// # Errors
    /// [`DocumentError::Forbidden`] or [`DocumentError::Invalid`].
    pub async fn create(
        &self,
        session: &VerifiedSession,
        input: &DocumentInput,
        origin: Origin,
    ) -> Result<DocumentId, DocumentError> {
        let caller = Caller::of(session)?;
        if let Err(d) = caller.require(Permission::Contribute) {
            return Err(self
                .denied(&caller, "new", "create", d.into(), origin)
                .await);
        }
        let title = title(&input.title)?;
        let class = classification(input.classification.as_deref())?;
        let html = body(&input.body)?;
        let owner = match input.owner.as_deref().map(str::trim) {
            None | Some("") => caller.user,
            Some(o) => self.owner_for(&caller, o).await?,
        };
        let id = Uuid::new_v4();
        let sealed = self
            .keys
            .seal(caller.tenant, class, &aad(id, 1), html.as_bytes())
            .await?;
        let now = self.clock.now();
        let mut tx = self.db.begin_for(caller.tenant).await?;
        store::insert(
            &mut tx,
            caller.tenant,
            &NewVersion {
                id,
                version: 1,
                title: &title,
                classification: class.as_str(),
                owner: Some(owner),
                body: &sealed,
                author: caller.user,
                now,
            },
        )
        .await?;
        self.audit
            .record_in(
                &mut tx,
                Self::record(&caller, "document.create", Outcome::Success, origin)
                    .object(KIND, id)
                    .details(serde_json::json!({ "classification": class.as_str() })),
            )
            .await?;
        tx.commit().await?;
        Ok(DocumentId::from_uuid(id))
    }

    /// A new owner named by id: only compliance managers and above hand documents over, and
    /// only to a live member who may contribute (SEC-37).
    async fn owner_for(&self, caller: &Caller, owner: &str) -> Result<UserId, DocumentError> {
        use crate::ownership::{OwnerRefusal, new_owner};
        match new_owner(&self.db, caller, owner, self.clock.now()).await {
            Ok(u) => Ok(u),
            Err(OwnerRefusal::NotAllowed) => Err(invalid(
                "owner",
                "field_not_allowed",
                "Your role cannot change a document's owner.",
            )),
            Err(OwnerRefusal::NotEligible) => Err(invalid(
                "owner",
                "invalid_owner",
                "The owner must be a member who can edit documents.",
            )),
            Err(OwnerRefusal::Db(e)) => Err(e.into()),
        }
    }

    /// A document with its current body, and what the caller may do with it. Audited as a
    /// read.
    ///
    /// # Errors
    /// [`DocumentError::NotFound`] when the caller does not see it.
    pub async fn get(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<Granted<DocumentDetail>, DocumentError> {
        self.get_version(session, id, None, origin).await
    }

    /// A document as it was at a version (the current one for `None`). Callers who see only
    /// what is shared with them see only the current version.
    ///
    /// # Errors
    /// [`DocumentError::NotFound`] when the caller does not see it or the version.
    pub async fn get_version(
        &self,
        session: &VerifiedSession,
        id: &str,
        version: Option<i64>,
        origin: Origin,
    ) -> Result<Granted<DocumentDetail>, DocumentError> {
        let caller = Caller::of(session)?;
        match self.read_detail(&caller, id, version).await {
            Ok(d) => {
                self.audit
                    .record_read(
                        Self::record(&caller, "document.read", Outcome::Success, origin)
                            .object(KIND, d.document.id)
                            .details(serde_json::json!({ "version": version })),
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
        version: Option<i64>,
    ) -> Result<DocumentDetail, DocumentError> {
        let id = parse_id(id)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        let row = self.visible(&mut tx, caller, id).await?;
        let history = caller.visibility == Visibility::Tenant;
        let number = match version {
            Some(n) if history => n,
            Some(_) => return Err(DocumentError::NotFound),
            None => row.version,
        };
        let v = store::version(&mut tx, caller.tenant, id, number)
            .await?
            .ok_or(DocumentError::NotFound)?;
        tx.commit().await?;
        let class: Classification = v
            .classification
            .parse()
            .map_err(|_| DocumentError::Db(DbError::Corrupt("document_version.classification")))?;
        let plain = self
            .keys
            .open(caller.tenant, class, &aad(id, v.version), &v.body)
            .await?;
        let html = rich_text::clean(&String::from_utf8_lossy(&plain));
        let can_edit = Self::may_edit(caller, &row);
        let mut document = Self::view(caller, row)?;
        if version.is_some() {
            document.title = v.title;
            document.classification = class;
        }
        Ok(DocumentDetail {
            document,
            body_html: html,
            can_edit,
            can_delete: can_edit,
            can_share: caller.may(Permission::ManageContent) && history,
            can_see_history: history,
        })
    }

    /// The document's versions, newest first (not for callers who see only what is shared).
    ///
    /// # Errors
    /// [`DocumentError::NotFound`].
    pub async fn versions(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<Granted<Vec<VersionView>>, DocumentError> {
        let caller = Caller::of(session)?;
        let result = async {
            let doc = parse_id(id)?;
            let mut tx = self.db.read_for(caller.tenant).await?;
            self.visible(&mut tx, &caller, doc).await?;
            if caller.visibility != Visibility::Tenant {
                return Err(DocumentError::NotFound);
            }
            let rows = store::versions(&mut tx, caller.tenant, doc).await?;
            tx.commit().await?;
            Ok(rows
                .into_iter()
                .map(|v| VersionView {
                    version: v.version,
                    title: v.title,
                    classification: v.classification,
                    author: v.author_name,
                    created_at: v.created_at,
                })
                .collect())
        }
        .await;
        match result {
            Ok(v) => Ok(Granted::new(v)),
            Err(e) => Err(self.denied(&caller, id, "versions", e, origin).await),
        }
    }

    /// Saves a new version. `expected_version` is the version the editor started from (it
    /// is required, and checked after the caller's rights): a newer one answers
    /// [`DocumentError::Conflict`] and changes nothing.
    ///
    /// # Errors
    /// [`DocumentError::NotFound`], [`DocumentError::Forbidden`],
    /// [`DocumentError::Conflict`] or [`DocumentError::Invalid`].
    pub async fn update(
        &self,
        session: &VerifiedSession,
        id: &str,
        input: &DocumentInput,
        expected_version: Option<i64>,
        origin: Origin,
    ) -> Result<i64, DocumentError> {
        let caller = Caller::of(session)?;
        match self
            .update_inner(&caller, id, input, expected_version, origin)
            .await
        {
            Ok(v) => Ok(v),
            Err(e) => Err(self.denied(&caller, id, "update", e, origin).await),
        }
    }

    async fn update_inner(
        &self,
        caller: &Caller,
        id: &str,
        input: &DocumentInput,
        expected_version: Option<i64>,
        origin: Origin,
    ) -> Result<i64, DocumentError> {
        let id = parse_id(id)?;
        let current = {
            let mut tx = self.db.read_for(caller.tenant).await?;
            let row = self.visible(&mut tx, caller, id).await?;
            tx.commit().await?;
            row
        };
        if !Self::may_edit(caller, &current) {
            return Err(DocumentError::Forbidden);
        }
        let expected_version = expected_version.ok_or_else(|| {
            invalid(
                "version",
                "version_required",
                "Send the version you edited, so a newer one is not overwritten.",
            )
        })?;
        let title = title(&input.title)?;
        let class = match input.classification.as_deref().map(str::trim) {
            None | Some("") => current
                .classification
                .parse()
                .map_err(|_| DocumentError::Db(DbError::Corrupt("document.classification")))?,
            Some(c) => classification(Some(c))?,
        };
        let html = body(&input.body)?;
        let owner = match input.owner.as_deref().map(str::trim) {
            None | Some("") => current.owner_id.map(UserId::from_uuid),
            Some(o) => Some(self.owner_for(caller, o).await?),
        };
        if expected_version != current.version {
            return Err(DocumentError::Conflict);
        }
        let next = current.version + 1;
        let sealed = self
            .keys
            .seal(caller.tenant, class, &aad(id, next), html.as_bytes())
            .await?;
        let now = self.clock.now();
        let mut tx = self.db.begin_for(caller.tenant).await?;
        let moved = store::update(
            &mut tx,
            caller.tenant,
            &NewVersion {
                id,
                version: next,
                title: &title,
                classification: class.as_str(),
                owner,
                body: &sealed,
                author: caller.user,
                now,
            },
            expected_version,
        )
        .await?;
        if !moved {
            return Err(DocumentError::Conflict);
        }
        self.audit
            .record_in(
                &mut tx,
                Self::record(caller, "document.update", Outcome::Success, origin)
                    .object(KIND, id)
                    .details(serde_json::json!({
                        "version": next,
                        "classification": class.as_str(),
                        "owner_changed": owner.map(|o| o.as_uuid()) != current.owner_id,
                    })),
            )
            .await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Deletes a document with its versions and shares.
    ///
    /// # Errors
    /// [`DocumentError::NotFound`] or [`DocumentError::Forbidden`].
    pub async fn delete(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<(), DocumentError> {
        let caller = Caller::of(session)?;
        let result = async {
            let doc = parse_id(id)?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let row = self.visible(&mut tx, &caller, doc).await?;
            if !Self::may_edit(&caller, &row) {
                return Err(DocumentError::Forbidden);
            }
            store::delete(&mut tx, caller.tenant, doc).await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "document.delete", Outcome::Success, origin)
                        .object(KIND, doc)
                        .details(serde_json::json!({ "versions": row.version })),
                )
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.denied(&caller, id, "delete", e, origin).await),
        }
    }

    /// The document's shares and who it can be shared with (compliance managers and above).
    ///
    /// # Errors
    /// [`DocumentError::NotFound`] or [`DocumentError::Forbidden`].
    pub async fn shares(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<Granted<SharesAndRecipients>, DocumentError> {
        let caller = Caller::of(session)?;
        let result = async {
            let doc = parse_id(id)?;
            let mut tx = self.db.read_for(caller.tenant).await?;
            self.shareable(&mut tx, &caller, doc).await?;
            let v = sharing::list(&mut tx, &caller, KIND, doc, self.clock.now()).await?;
            tx.commit().await?;
            Ok(v)
        }
        .await;
        match result {
            Ok(v) => Ok(Granted::new(v)),
            Err(e) => Err(self.denied(&caller, id, "shares", e, origin).await),
        }
    }

    /// Shares the document with a member who sees only what is shared with them, until a
    /// date at most a year ahead (SEC-36).
    ///
    /// # Errors
    /// [`DocumentError::NotFound`], [`DocumentError::Forbidden`] or
    /// [`DocumentError::Invalid`].
    pub async fn share(
        &self,
        session: &VerifiedSession,
        id: &str,
        with: &str,
        until: Option<OffsetDateTime>,
        origin: Origin,
    ) -> Result<ShareId, DocumentError> {
        let caller = Caller::of(session)?;
        let result = async {
            let doc = parse_id(id)?;
            let now = self.clock.now();
            let mut tx = self.db.begin_for(caller.tenant).await?;
            self.shareable(&mut tx, &caller, doc).await?;
            let share_id =
                sharing::create(&mut tx, self.target(&caller, origin, doc), with, until, now)
                    .await?;
            tx.commit().await?;
            Ok(share_id)
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
    /// [`DocumentError::NotFound`] or [`DocumentError::Forbidden`].
    pub async fn revoke_share(
        &self,
        session: &VerifiedSession,
        id: &str,
        share_id: &str,
        origin: Origin,
    ) -> Result<(), DocumentError> {
        let caller = Caller::of(session)?;
        let result = async {
            let doc = parse_id(id)?;
            let sid = parse_id(share_id)?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            self.shareable(&mut tx, &caller, doc).await?;
            sharing::revoke(
                &mut tx,
                self.target(&caller, origin, doc),
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
