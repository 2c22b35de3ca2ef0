//! Controls (issue 7): the organisation's own controls, defined once and mapped to the
//! requirements of any number of frameworks; the statement of applicability per framework; and
//! the coverage both yield. Compliance managers and above create and delete controls and keep
//! the statement of applicability; a control's owner (a contributor) edits their own controls.
//! Members who see only shared items see none of this.

use std::sync::Arc;

use attest_db::control::{
    self as store, ControlCursor, ControlData, ControlOrder, ControlQuery, ControlRow,
};
use attest_db::framework as frameworks_store;
use attest_db::{Db, DbError, Tx};
use attest_types::{Actor, Classification, Clock, ControlId, FrameworkId, RequirementId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::{Caller, Denied, Granted, Permission, Visibility};
use crate::activities::status::Effectiveness;
use crate::audit::{AuditError, AuditLog, AuditRecord, Outcome};
use crate::authn::sessions::VerifiedSession;
use crate::identity::Origin;
use crate::keys::{KeyError, KeyService};
use crate::ownership::{OwnerRefusal, new_owner};

/// The object kind's name in the audit trail.
pub const KIND: &str = "control";
/// Largest page.
pub const MAX_PAGE: i64 = 100;
/// Default page.
pub const DEFAULT_PAGE: i64 = 50;

/// A failed control operation.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Missing, in another tenant, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// The caller may not do this.
    #[error("forbidden")]
    Forbidden,
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
    /// Key failure.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Audit failure.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<Denied> for ControlError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotVisible => Self::NotFound,
            Denied::Forbidden => Self::Forbidden,
        }
    }
}

fn invalid(field: &'static str, code: &'static str, message: &str) -> ControlError {
    ControlError::Invalid {
        field,
        code,
        message: message.to_owned(),
    }
}

/// A control's implementation status, as its owner declares it (its effectiveness is computed
/// from its activities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImplementationStatus {
    /// Being defined.
    Draft,
    /// In place.
    Implemented,
    /// Does not apply (with a justification).
    NotApplicable,
}

impl ImplementationStatus {
    /// Stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Implemented => "implemented",
            Self::NotApplicable => "not_applicable",
        }
    }

    /// From the stored or submitted name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim() {
            "draft" => Self::Draft,
            "implemented" => Self::Implemented,
            "not_applicable" => Self::NotApplicable,
            _ => return None,
        })
    }

    /// What people read.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Implemented => "implemented",
            Self::NotApplicable => "not applicable",
        }
    }
}

/// A control's fields. Only these exist (SEC-37).
#[derive(Debug, Clone, Default)]
pub struct ControlInput {
    /// The organisation's reference, e.g. `CTL-012`.
    pub reference: String,
    /// Title.
    pub title: String,
    /// Plain-text description.
    pub description: String,
    /// Classification name (default `high`).
    pub classification: Option<String>,
    /// Owner (compliance managers and above name another member).
    pub owner: Option<String>,
    /// `draft` (default), `implemented` or `not_applicable`.
    pub status: Option<String>,
    /// Why it does not apply (required for `not_applicable`).
    pub justification: Option<String>,
}

/// A control as shown.
#[derive(Debug, Clone)]
pub struct ControlView {
    /// Id.
    pub id: ControlId,
    /// Reference.
    pub reference: String,
    /// Title.
    pub title: String,
    /// Classification.
    pub classification: Classification,
    /// Owner.
    pub owner: Option<(UserId, String)>,
    /// Implementation status.
    pub status: ImplementationStatus,
    /// Why not applicable.
    pub justification: String,
    /// Computed from its activities' runs (as last computed).
    pub effectiveness: Effectiveness,
    /// Why, one line per finding.
    pub effectiveness_reason: String,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// A requirement a control is mapped to.
#[derive(Debug, Clone)]
pub struct MappingView {
    /// Requirement.
    pub requirement: RequirementId,
    /// Its framework.
    pub framework: FrameworkId,
    /// The framework's title.
    pub framework_title: String,
    /// The requirement's label.
    pub label: String,
    /// Its title.
    pub title: String,
    /// No longer in the framework's current version.
    pub withdrawn: bool,
}

/// A control with its description, mappings and what the caller may do.
#[derive(Debug, Clone)]
pub struct ControlDetail {
    /// The control.
    pub control: ControlView,
    /// Its description.
    pub description: String,
    /// The requirements it is mapped to.
    pub mappings: Vec<MappingView>,
    /// May edit it and its mappings.
    pub can_edit: bool,
    /// May delete it.
    pub can_delete: bool,
}

/// A list request.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Only this status.
    pub status: Option<String>,
    /// Only this owner (a user id).
    pub owner: Option<String>,
    /// Only controls mapped to this framework.
    pub framework: Option<String>,
    /// Only controls with this computed effectiveness.
    pub effectiveness: Option<String>,
    /// Title or reference containing this text.
    pub q: Option<String>,
    /// `ref` (default), `title` or `updated`.
    pub sort: Option<String>,
    /// The id of the last control of the previous page.
    pub after: Option<String>,
    /// Page size (1 to [`MAX_PAGE`]).
    pub limit: Option<i64>,
}

/// A page of controls.
#[derive(Debug, Clone)]
pub struct ControlPage {
    /// The controls.
    pub items: Vec<Granted<ControlView>>,
    /// The cursor of the next page.
    pub next: Option<ControlId>,
}

/// A requirement in the statement of applicability.
#[derive(Debug, Clone)]
pub struct SoaLine {
    /// Requirement.
    pub requirement: RequirementId,
    /// Label.
    pub label: String,
    /// Title.
    pub title: String,
    /// A section heading, not a requirement.
    pub group: bool,
    /// Depth in the tree.
    pub depth: i64,
    /// Applicable (the default).
    pub applicable: bool,
    /// Why (required when not applicable).
    pub reason: String,
    /// Controls mapped to it.
    pub mapped: i64,
    /// Of which implemented.
    pub implemented: i64,
}

/// A framework's coverage by the tenant's controls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Applicable current requirements.
    pub applicable: i64,
    /// Of those, mapped to at least one control.
    pub mapped: i64,
    /// Of those, mapped to at least one implemented control.
    pub implemented: i64,
}

impl Coverage {
    /// Mapped share, in whole percent.
    #[must_use]
    pub fn mapped_percent(&self) -> i64 {
        percent(self.mapped, self.applicable)
    }

    /// Implemented share, in whole percent.
    #[must_use]
    pub fn implemented_percent(&self) -> i64 {
        percent(self.implemented, self.applicable)
    }
}

/// `part` of `whole` in whole percent, rounded down, but never 0 % when `part` is not 0 (one
/// requirement in 149 is not nothing).
fn percent(part: i64, whole: i64) -> i64 {
    if whole <= 0 || part <= 0 {
        0
    } else {
        (part * 100 / whole).max(1)
    }
}

/// A control's checked fields.
struct Valid {
    reference: String,
    title: String,
    description: String,
    class: Classification,
    owner: Option<UserId>,
    status: ImplementationStatus,
    justification: String,
}

/// The controls service.
#[derive(Clone)]
pub struct Controls {
    db: Db,
    keys: Arc<KeyService>,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Controls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controls").finish_non_exhaustive()
    }
}

fn parse_id(text: &str) -> Result<Uuid, ControlError> {
    Uuid::parse_str(text.trim()).map_err(|_| ControlError::NotFound)
}

pub(crate) fn aad(id: Uuid) -> Vec<u8> {
    let mut a = b"control:".to_vec();
    a.extend_from_slice(id.as_bytes());
    a
}

fn corrupt(what: &'static str) -> ControlError {
    ControlError::Db(DbError::Corrupt(what))
}

fn line(
    field: &'static str,
    text: &str,
    max: usize,
    message: &str,
) -> Result<String, ControlError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(invalid(field, "invalid", message));
    }
    Ok(t.to_owned())
}

fn plain(field: &'static str, text: &str, max: usize) -> Result<String, ControlError> {
    let t = text.trim();
    if t.chars().count() > max
        || t.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid(
            field,
            "invalid",
            &format!("Plain text of at most {max} characters."),
        ));
    }
    Ok(t.replace("\r\n", "\n"))
}

/// A `LIKE` pattern matching text that contains `q` (wildcards escaped; the database
/// compares both sides lowercased).
fn contains_pattern(q: &str) -> String {
    let mut p = String::from("%");
    for c in q.trim().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The caller, who must see the whole tenant.
fn reader(session: &VerifiedSession) -> Result<Caller, ControlError> {
    let caller = Caller::of(session)?;
    if caller.visibility != Visibility::Tenant {
        return Err(ControlError::NotFound);
    }
    Ok(caller)
}

impl Controls {
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

    fn record(caller: &Caller, action: &str, origin: Origin) -> AuditRecord {
        AuditRecord::tenant(
            caller.tenant,
            Actor::User(caller.user),
            action,
            Outcome::Success,
        )
        .request(origin.ip, origin.request_id)
    }

    async fn denied(
        &self,
        caller: &Caller,
        requested: &str,
        action: &str,
        err: ControlError,
        origin: Origin,
    ) -> ControlError {
        if matches!(err, ControlError::NotFound | ControlError::Forbidden)
            && let Err(e) = caller
                .audit_denial(&self.audit, KIND, requested, action, origin)
                .await
        {
            return e.into();
        }
        err
    }

    fn may_edit(caller: &Caller, row: &ControlRow) -> bool {
        caller.may(Permission::ManageContent)
            || (caller.may(Permission::Contribute) && row.owner_id == Some(caller.user.as_uuid()))
    }

    fn view(row: ControlRow) -> Result<ControlView, ControlError> {
        Ok(ControlView {
            id: ControlId::from_uuid(row.id),
            reference: row.reference,
            title: row.title,
            classification: row
                .classification
                .parse()
                .map_err(|_| corrupt("control.classification"))?,
            owner: row
                .owner_id
                .map(|o| (UserId::from_uuid(o), row.owner_name.unwrap_or_default())),
            status: ImplementationStatus::parse(&row.status)
                .ok_or_else(|| corrupt("control.status"))?,
            justification: row.justification,
            effectiveness: Effectiveness::parse(&row.effectiveness)
                .ok_or_else(|| corrupt("control.effectiveness"))?,
            effectiveness_reason: row.effectiveness_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    async fn visible(tx: &mut Tx, caller: &Caller, id: Uuid) -> Result<ControlRow, ControlError> {
        store::get(tx, caller.tenant, id)
            .await?
            .ok_or(ControlError::NotFound)
    }

    /// A page of controls: filtered by status, owner, framework and text, sorted by one of the
    /// allowlisted orders (`ref`, `title`, `updated`), keyset-paged.
    ///
    /// # Errors
    /// [`ControlError::Invalid`] for a bad filter, order, cursor or page size.
    pub async fn list(
        &self,
        session: &VerifiedSession,
        req: &ListRequest,
    ) -> Result<ControlPage, ControlError> {
        let caller = reader(session)?;
        let limit = req.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(invalid(
                "limit",
                "invalid_limit",
                "The page size must be between 1 and 100.",
            ));
        }
        let order = match req.sort.as_deref().map(str::trim) {
            None | Some("" | "ref") => ControlOrder::Reference,
            Some("title") => ControlOrder::Title,
            Some("updated") => ControlOrder::Updated,
            Some(_) => {
                return Err(invalid(
                    "sort",
                    "invalid_sort",
                    "Sort by ref, title or updated.",
                ));
            }
        };
        let status = match req.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(
                ImplementationStatus::parse(s)
                    .ok_or_else(|| {
                        invalid(
                            "status",
                            "invalid_status",
                            "The status is draft, implemented or not_applicable.",
                        )
                    })?
                    .as_str(),
            ),
        };
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
        let framework = match req.framework.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(Uuid::parse_str(f).map_err(|_| {
                invalid(
                    "framework",
                    "invalid_framework",
                    "The framework filter is not a framework.",
                )
            })?),
        };
        let effectiveness = match req.effectiveness.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(e) => Some(
                Effectiveness::parse(e)
                    .ok_or_else(|| {
                        invalid(
                            "effectiveness",
                            "invalid_effectiveness",
                            "Effectiveness is effective, overdue, deficient or not_tested.",
                        )
                    })?
                    .as_str(),
            ),
        };
        let search = match req.q.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(q) if q.chars().count() > 100 => {
                return Err(invalid(
                    "q",
                    "invalid_search",
                    "Search for at most 100 characters.",
                ));
            }
            Some(q) => Some(contains_pattern(q)),
        };
        let mut tx = self.db.read_for(caller.tenant).await?;
        let after = match req.after.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => {
                let bad = || invalid("after", "invalid_cursor", "The page cursor is not valid.");
                let id = Uuid::parse_str(a).map_err(|_| bad())?;
                let row = store::get(&mut tx, caller.tenant, id)
                    .await?
                    .ok_or_else(bad)?;
                Some(match order {
                    ControlOrder::Reference => ControlCursor::Reference(row.reference, row.id),
                    ControlOrder::Title => ControlCursor::Title(row.title_key, row.id),
                    ControlOrder::Updated => ControlCursor::Updated(row.updated_at, row.id),
                })
            }
        };
        let rows = store::list(
            &mut tx,
            caller.tenant,
            &ControlQuery {
                status,
                owner,
                framework,
                effectiveness,
                search,
                order,
                after,
                limit: limit + 1,
            },
        )
        .await?;
        tx.commit().await?;
        let keep = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > keep;
        let items = rows
            .into_iter()
            .take(keep)
            .map(|r| Self::view(r).map(Granted::new))
            .collect::<Result<Vec<_>, _>>()?;
        let next = more.then(|| items.last().map(|c| c.id)).flatten();
        Ok(ControlPage { items, next })
    }

    /// A control with its description and mappings. Audited as a read.
    ///
    /// # Errors
    /// [`ControlError::NotFound`].
    pub async fn get(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<Granted<ControlDetail>, ControlError> {
        let caller = reader(session)?;
        let result = async {
            let cid = parse_id(id)?;
            let mut tx = self.db.read_for(caller.tenant).await?;
            let row = Self::visible(&mut tx, &caller, cid).await?;
            let mappings = store::mappings(&mut tx, caller.tenant, cid).await?;
            tx.commit().await?;
            let class: Classification = row
                .classification
                .parse()
                .map_err(|_| corrupt("control.classification"))?;
            let description = self
                .keys
                .open(caller.tenant, class, &aad(cid), &row.description)
                .await?;
            let can_edit = Self::may_edit(&caller, &row);
            Ok(ControlDetail {
                control: Self::view(row)?,
                description: String::from_utf8_lossy(&description).into_owned(),
                mappings: mappings
                    .into_iter()
                    .map(|m| MappingView {
                        requirement: RequirementId::from_uuid(m.requirement_id),
                        framework: FrameworkId::from_uuid(m.framework_id),
                        framework_title: m.framework_title,
                        label: m.label,
                        title: m.title,
                        withdrawn: m.withdrawn_at.is_some(),
                    })
                    .collect(),
                can_edit,
                can_delete: caller.may(Permission::ManageContent),
            })
        }
        .await;
        match result {
            Ok(d) => {
                self.audit
                    .record_read(
                        Self::record(&caller, "control.read", origin).object(KIND, d.control.id),
                    )
                    .await?;
                Ok(Granted::new(d))
            }
            Err(e) => Err(self.denied(&caller, id, "read", e, origin).await),
        }
    }

    async fn owner_for(&self, caller: &Caller, owner: &str) -> Result<UserId, ControlError> {
        match new_owner(&self.db, caller, owner, self.clock.now()).await {
            Ok(u) => Ok(u),
            Err(OwnerRefusal::NotAllowed) => Err(invalid(
                "owner",
                "field_not_allowed",
                "Your role cannot change a control's owner.",
            )),
            Err(OwnerRefusal::NotEligible) => Err(invalid(
                "owner",
                "invalid_owner",
                "The owner must be a member who can edit.",
            )),
            Err(OwnerRefusal::Db(e)) => Err(e.into()),
        }
    }

    /// Validates a control's fields; `current_owner` is kept when none is given.
    async fn validated(
        &self,
        caller: &Caller,
        input: &ControlInput,
        current_owner: Option<UserId>,
    ) -> Result<Valid, ControlError> {
        let reference = line(
            "reference",
            &input.reference,
            40,
            "Give a reference of 1 to 40 characters, e.g. CTL-012.",
        )?;
        let title = line(
            "title",
            &input.title,
            200,
            "Enter a title of 1 to 200 characters, on one line.",
        )?;
        let description = plain("description", &input.description, 20_000)?;
        let class = match input.classification.as_deref().map(str::trim) {
            None | Some("") => Classification::High,
            Some(c) => c.parse().map_err(|_| {
                invalid(
                    "classification",
                    "invalid_classification",
                    "Choose critical, high, moderate, low or public.",
                )
            })?,
        };
        let status = match input.status.as_deref().map(str::trim) {
            None | Some("") => ImplementationStatus::Draft,
            Some(s) => ImplementationStatus::parse(s).ok_or_else(|| {
                invalid(
                    "status",
                    "invalid_status",
                    "The status is draft, implemented or not_applicable.",
                )
            })?,
        };
        let justification = plain(
            "justification",
            input.justification.as_deref().unwrap_or_default(),
            2_000,
        )?;
        if status == ImplementationStatus::NotApplicable && justification.is_empty() {
            return Err(invalid(
                "justification",
                "justification_required",
                "Say why the control does not apply.",
            ));
        }
        let owner = match input.owner.as_deref().map(str::trim) {
            None | Some("") => current_owner.or(Some(caller.user)),
            Some(o) if current_owner.is_some_and(|c| c.to_string() == o) => current_owner,
            Some(o) => Some(self.owner_for(caller, o).await?),
        };
        Ok(Valid {
            reference,
            title,
            description,
            class,
            owner,
            status,
            justification,
        })
    }

    /// Creates a control (compliance managers and above).
    ///
    /// # Errors
    /// [`ControlError::Forbidden`] or [`ControlError::Invalid`] (a reference already used
    /// included).
    pub async fn create(
        &self,
        session: &VerifiedSession,
        input: &ControlInput,
        origin: Origin,
    ) -> Result<ControlId, ControlError> {
        let caller = reader(session)?;
        if let Err(d) = caller.require(Permission::ManageContent) {
            return Err(self
                .denied(&caller, "new", "create", d.into(), origin)
                .await);
        }
        let Valid {
            reference,
            title,
            description,
            class,
            owner,
            status,
            justification,
        } = self.validated(&caller, input, None).await?;
        let id = Uuid::new_v4();
        let sealed = self
            .keys
            .seal(caller.tenant, class, &aad(id), description.as_bytes())
            .await?;
        let mut tx = self.db.begin_for(caller.tenant).await?;
        let stored = store::insert(
            &mut tx,
            caller.tenant,
            &ControlData {
                id,
                reference: &reference,
                title: &title,
                description: &sealed,
                classification: class.as_str(),
                owner,
                status: status.as_str(),
                justification: &justification,
                by: caller.user,
                now: self.clock.now(),
            },
        )
        .await;
        if let Err(e) = stored {
            return Err(if e.is_unique_violation() {
                invalid(
                    "reference",
                    "reference_taken",
                    "Another control already has this reference.",
                )
            } else {
                e.into()
            });
        }
        self.audit
            .record_in(
                &mut tx,
                Self::record(&caller, "control.create", origin)
                    .object(KIND, id)
                    .details(
                        serde_json::json!({ "reference": reference, "status": status.as_str() }),
                    ),
            )
            .await?;
        tx.commit().await?;
        Ok(ControlId::from_uuid(id))
    }

    /// Changes a control's fields (compliance managers and above, or its owner).
    ///
    /// # Errors
    /// [`ControlError::NotFound`], [`ControlError::Forbidden`] or [`ControlError::Invalid`].
    pub async fn update(
        &self,
        session: &VerifiedSession,
        id: &str,
        input: &ControlInput,
        origin: Origin,
    ) -> Result<(), ControlError> {
        let caller = reader(session)?;
        let result = async {
            let cid = parse_id(id)?;
            let current = {
                let mut tx = self.db.read_for(caller.tenant).await?;
                let row = Self::visible(&mut tx, &caller, cid).await?;
                tx.commit().await?;
                row
            };
            if !Self::may_edit(&caller, &current) {
                return Err(ControlError::Forbidden);
            }
            let Valid {
                reference,
                title,
                description,
                class,
                owner,
                status,
                justification,
            } = self
                .validated(&caller, input, current.owner_id.map(UserId::from_uuid))
                .await?;
            let sealed = self
                .keys
                .seal(caller.tenant, class, &aad(cid), description.as_bytes())
                .await?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let updated = store::update(
                &mut tx,
                caller.tenant,
                &ControlData {
                    id: cid,
                    reference: &reference,
                    title: &title,
                    description: &sealed,
                    classification: class.as_str(),
                    owner,
                    status: status.as_str(),
                    justification: &justification,
                    by: caller.user,
                    now: self.clock.now(),
                },
            )
            .await;
            match updated {
                Ok(true) => {}
                Ok(false) => return Err(ControlError::NotFound),
                Err(e) if e.is_unique_violation() => {
                    return Err(invalid(
                        "reference",
                        "reference_taken",
                        "Another control already has this reference.",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "control.update", origin)
                        .object(KIND, cid)
                        .details(serde_json::json!({
                            "reference": reference,
                            "status": status.as_str(),
                            "previous_status": current.status,
                            "owner_changed": owner.map(|o| o.as_uuid()) != current.owner_id,
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

    /// Deletes a control with its mappings (compliance managers and above).
    ///
    /// # Errors
    /// [`ControlError::NotFound`] or [`ControlError::Forbidden`].
    pub async fn delete(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<(), ControlError> {
        let caller = reader(session)?;
        let result = async {
            let cid = parse_id(id)?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let row = Self::visible(&mut tx, &caller, cid).await?;
            caller.require(Permission::ManageContent)?;
            store::delete(&mut tx, caller.tenant, cid).await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "control.delete", origin)
                        .object(KIND, cid)
                        .details(serde_json::json!({ "reference": row.reference })),
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

    /// Maps a control to a requirement, named by its id, or by its label or source id within
    /// `framework`. Returns the requirement's id.
    ///
    /// # Errors
    /// [`ControlError::NotFound`], [`ControlError::Forbidden`], or
    /// [`ControlError::Invalid`] when the requirement cannot be found.
    pub async fn map(
        &self,
        session: &VerifiedSession,
        id: &str,
        framework: Option<&str>,
        requirement: &str,
        origin: Origin,
    ) -> Result<RequirementId, ControlError> {
        let caller = reader(session)?;
        let result = async {
            let cid = parse_id(id)?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let row = Self::visible(&mut tx, &caller, cid).await?;
            if !Self::may_edit(&caller, &row) {
                return Err(ControlError::Forbidden);
            }
            let unknown = || {
                invalid(
                    "requirement",
                    "unknown_requirement",
                    "No current requirement of this framework has that id or label.",
                )
            };
            let target = match framework.map(str::trim).filter(|f| !f.is_empty()) {
                Some(f) => {
                    let fid = Uuid::parse_str(f).map_err(|_| {
                        invalid("framework", "invalid_framework", "Choose a framework.")
                    })?;
                    frameworks_store::find_requirement(
                        &mut tx,
                        caller.tenant,
                        fid,
                        requirement.trim(),
                    )
                    .await?
                    .ok_or_else(unknown)?
                }
                None => {
                    let rid = Uuid::parse_str(requirement.trim()).map_err(|_| unknown())?;
                    frameworks_store::requirement(&mut tx, caller.tenant, rid)
                        .await?
                        .filter(|r| r.withdrawn_at.is_none() && r.kind != "group")
                        .ok_or_else(unknown)?
                }
            };
            if store::map(
                &mut tx,
                caller.tenant,
                cid,
                target.id,
                caller.user,
                self.clock.now(),
            )
            .await?
            {
                self.audit
                    .record_in(
                        &mut tx,
                        Self::record(&caller, "control.map", origin)
                            .object(KIND, cid)
                            .details(serde_json::json!({
                                "requirement": target.id,
                                "framework": target.framework_id,
                                "label": target.label,
                            })),
                    )
                    .await?;
            }
            tx.commit().await?;
            Ok(RequirementId::from_uuid(target.id))
        }
        .await;
        match result {
            Ok(r) => Ok(r),
            Err(e) => Err(self.denied(&caller, id, "map", e, origin).await),
        }
    }

    /// Removes a mapping.
    ///
    /// # Errors
    /// [`ControlError::NotFound`] (also when there was no such mapping) or
    /// [`ControlError::Forbidden`].
    pub async fn unmap(
        &self,
        session: &VerifiedSession,
        id: &str,
        requirement: &str,
        origin: Origin,
    ) -> Result<(), ControlError> {
        let caller = reader(session)?;
        let result = async {
            let cid = parse_id(id)?;
            let rid = parse_id(requirement)?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let row = Self::visible(&mut tx, &caller, cid).await?;
            if !Self::may_edit(&caller, &row) {
                return Err(ControlError::Forbidden);
            }
            if !store::unmap(&mut tx, caller.tenant, cid, rid).await? {
                return Err(ControlError::NotFound);
            }
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "control.unmap", origin)
                        .object(KIND, cid)
                        .details(serde_json::json!({ "requirement": rid })),
                )
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.denied(&caller, id, "unmap", e, origin).await),
        }
    }

    /// The controls mapped to a requirement: `(id, reference, title, status)`.
    ///
    /// # Errors
    /// [`ControlError::NotFound`].
    pub async fn covering(
        &self,
        session: &VerifiedSession,
        requirement: &str,
    ) -> Result<Granted<Vec<(ControlId, String, String, String)>>, ControlError> {
        let caller = reader(session)?;
        let rid = parse_id(requirement)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        let rows = store::covering(&mut tx, caller.tenant, rid).await?;
        tx.commit().await?;
        Ok(Granted::new(
            rows.into_iter()
                .map(|(id, r, t, s)| (ControlId::from_uuid(id), r, t, s))
                .collect(),
        ))
    }

    /// A framework's statement of applicability: every current requirement, whether it
    /// applies and why, and how many controls (implemented ones apart) cover it.
    ///
    /// # Errors
    /// [`ControlError::NotFound`].
    pub async fn soa(
        &self,
        session: &VerifiedSession,
        framework: &str,
    ) -> Result<Granted<Vec<SoaLine>>, ControlError> {
        let caller = reader(session)?;
        let fid = parse_id(framework)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        frameworks_store::get(&mut tx, caller.tenant, fid)
            .await?
            .ok_or(ControlError::NotFound)?;
        let rows = store::soa(&mut tx, caller.tenant, fid).await?;
        tx.commit().await?;
        Ok(Granted::new(
            rows.into_iter()
                .map(|r| SoaLine {
                    requirement: RequirementId::from_uuid(r.id),
                    label: r.label,
                    title: r.title,
                    group: r.kind == "group",
                    depth: r.depth,
                    applicable: r.applicable.unwrap_or(true),
                    reason: r.reason.unwrap_or_default(),
                    mapped: r.mapped,
                    implemented: r.implemented,
                })
                .collect(),
        ))
    }

    /// A framework's statement of applicability as CSV: every current requirement, whether it
    /// applies and why, and the references of the controls that meet it (SEC-48). Needs the
    /// export permission; audited.
    ///
    /// # Errors
    /// [`ControlError::NotFound`] or [`ControlError::Forbidden`].
    pub async fn soa_csv(
        &self,
        session: &VerifiedSession,
        framework: &str,
        origin: Origin,
    ) -> Result<Granted<(String, String)>, ControlError> {
        let caller = reader(session)?;
        let result = async {
            let fid = parse_id(framework)?;
            let mut tx = self.db.read_for(caller.tenant).await?;
            let fw = frameworks_store::get(&mut tx, caller.tenant, fid)
                .await?
                .ok_or(ControlError::NotFound)?;
            caller.require(Permission::Export)?;
            let rows = store::soa(&mut tx, caller.tenant, fid).await?;
            let refs = store::mapped_refs(&mut tx, caller.tenant, fid).await?;
            tx.commit().await?;
            let mut table = crate::csv_out::Table::new(&[
                "requirement",
                "title",
                "applies",
                "reason",
                "controls",
                "implemented controls",
            ]);
            for r in rows.iter().filter(|r| r.kind != "group") {
                let controls: Vec<&str> = refs
                    .iter()
                    .filter(|m| m.0 == r.id)
                    .map(|m| m.1.as_str())
                    .collect();
                let applies = r.applicable.unwrap_or(true);
                table.row(&[
                    &r.label,
                    &r.title,
                    if applies { "yes" } else { "no" },
                    r.reason.as_deref().unwrap_or_default(),
                    &controls.join(" "),
                    &r.implemented.to_string(),
                ]);
            }
            self.audit
                .record_read(
                    Self::record(&caller, "framework.soa_export", origin)
                        .object(crate::frameworks::KIND, fid)
                        .details(serde_json::json!({ "rows": table.rows() })),
                )
                .await?;
            Ok((fw.title, table.finish()))
        }
        .await;
        match result {
            Ok(x) => Ok(Granted::new(x)),
            Err(e) => Err(self
                .denied(&caller, framework, "soa_export", e, origin)
                .await),
        }
    }

    /// Records whether a requirement of a framework applies (compliance managers and above);
    /// a requirement that does not apply needs a reason. `applicable` is required; it is an
    /// option so that a missing answer is refused only once the requirement is known to exist.
    ///
    /// # Errors
    /// [`ControlError::NotFound`], [`ControlError::Forbidden`] or [`ControlError::Invalid`].
    pub async fn set_applicability(
        &self,
        session: &VerifiedSession,
        framework: &str,
        requirement: &str,
        applicable: Option<bool>,
        reason: &str,
        origin: Origin,
    ) -> Result<(), ControlError> {
        let caller = reader(session)?;
        let result = async {
            let fid = parse_id(framework)?;
            let rid = parse_id(requirement)?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let req = frameworks_store::requirement(&mut tx, caller.tenant, rid)
                .await?
                .filter(|r| r.framework_id == fid && r.kind != "group")
                .ok_or(ControlError::NotFound)?;
            caller.require(Permission::ManageContent)?;
            let applicable = applicable.ok_or_else(|| {
                invalid("applicable", "applicable_required", "Say whether the requirement applies.")
            })?;
            let reason = plain("reason", reason, 2_000)?;
            if !applicable && reason.is_empty() {
                return Err(invalid("reason", "reason_required", "Say why the requirement does not apply."));
            }
            store::set_applicability(&mut tx, caller.tenant, rid, applicable, &reason, caller.user, self.clock.now()).await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "framework.applicability", origin)
                        .object(crate::frameworks::KIND, fid)
                        .details(serde_json::json!({ "requirement": rid, "label": req.label, "applicable": applicable })),
                )
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self
                .denied(&caller, requirement, "applicability", e, origin)
                .await),
        }
    }

    /// Each framework's coverage, by framework id.
    ///
    /// # Errors
    /// [`ControlError::NotFound`] for members who see only shared items.
    pub async fn coverage(
        &self,
        session: &VerifiedSession,
    ) -> Result<Granted<Vec<(FrameworkId, Coverage)>>, ControlError> {
        let caller = reader(session)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        let rows = store::coverage(&mut tx, caller.tenant).await?;
        tx.commit().await?;
        Ok(Granted::new(
            rows.into_iter()
                .map(|r| {
                    (
                        FrameworkId::from_uuid(r.framework_id),
                        Coverage {
                            applicable: r.applicable,
                            mapped: r.mapped,
                            implemented: r.implemented,
                        },
                    )
                })
                .collect(),
        ))
    }

    /// The controls of a list request as CSV (every page), with formula escaping (SEC-48).
    /// Needs the export permission; audited.
    ///
    /// # Errors
    /// [`ControlError::Forbidden`] or [`ControlError::Invalid`].
    pub async fn export_csv(
        &self,
        session: &VerifiedSession,
        req: &ListRequest,
        origin: Origin,
    ) -> Result<Granted<String>, ControlError> {
        let caller = reader(session)?;
        caller.require(Permission::Export)?;
        let mut table = crate::csv_out::Table::new(&[
            "reference",
            "title",
            "status",
            "effectiveness",
            "owner",
            "classification",
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
                        Ok::<_, ControlError>((p.items, p.next.map(|n| n.to_string())))
                    }
                },
                |c| {
                    vec![
                        c.reference.clone(),
                        c.title.clone(),
                        c.status.label().to_owned(),
                        c.effectiveness.label().to_owned(),
                        c.owner.as_ref().map(|o| o.1.clone()).unwrap_or_default(),
                        c.classification.as_str().to_owned(),
                        c.updated_at
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default(),
                    ]
                },
            )
            .await?;
        let rows = table.rows();
        self.audit
            .record_read(
                AuditRecord::tenant(
                    caller.tenant,
                    Actor::User(caller.user),
                    "control.export",
                    Outcome::Success,
                )
                .request(origin.ip, origin.request_id)
                .details(serde_json::json!({ "rows": rows })),
            )
            .await?;
        Ok(Granted::new(table.finish()))
    }
}
