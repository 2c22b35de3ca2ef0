//! The evidence library (issue 6): records with a title, a sealed description, a
//! classification, an owner, tags and versions; each version is a file in object storage or
//! an external link, with the date or observation period it shows (separate from when it was
//! uploaded).
//!
//! - [`file_type`] and [`archive`]: which files are accepted (SEC-56): an allowlist checked by
//!   magic bytes, and ZIP containers inspected (never extracted) for size, count, paths,
//!   nesting and bombs.
//! - [`file_name`]: how a user's file name is shown and sent back (SEC-57).
//! - [`input`]: the fields a user sends and their validation.
//! - [`Evidence`]: the service. Uploads stream through type detection, the size limit and
//!   tenant quota (SEC-55), envelope encryption with a fresh file key wrapped by the tenant's
//!   DEK for the version's classification (SEC-61, SEC-62) and, when configured, a clamd scan
//!   (SEC-58), and only then become a record, in one transaction with their audit event.
//!   Downloads are authorized, audited, range-capable and authenticated chunk by chunk.

pub mod archive;
pub mod file_name;
pub mod file_type;
pub mod input;
mod service;
pub(crate) use service::{description_aad, link_aad};
mod transfer;

use attest_storage::StorageError;
use attest_types::{Classification, EvidenceId, UserId};
use time::{Date, OffsetDateTime};

pub use attest_storage::ByteRange;
pub use input::{EvidenceInput, VersionInput};
pub use service::{Evidence, Limits};
pub use transfer::{Download, RangeRequest, RangeWanted, Upload};

use crate::access::{Denied, Granted};
use crate::audit::AuditError;
use crate::keys::KeyError;
use crate::sharing::ShareFailure;

/// The object kind's name in shares, the audit trail and URLs.
pub const KIND: &str = "evidence";
/// Largest page of a list.
pub const MAX_PAGE: i64 = 100;
/// Default page size.
pub const DEFAULT_PAGE: i64 = 50;

/// A failed evidence operation.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// Missing, in another tenant, not visible to the caller, or a version that is not
    /// released (one answer, SEC-32).
    #[error("not found")]
    NotFound,
    /// Visible, but the caller may not do this.
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
    /// The file is larger than the per-file limit (SEC-55).
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// The limit, bytes.
        limit: u64,
    },
    /// The tenant's storage quota would be exceeded (SEC-55).
    #[error("the organisation's storage quota is used up")]
    QuotaExceeded,
    /// The file's type is not accepted, or its content does not match its name (SEC-56).
    #[error(transparent)]
    Type(#[from] file_type::TypeRejection),
    /// An archive was refused (SEC-56).
    #[error(transparent)]
    Archive(#[from] archive::ArchiveRejection),
    /// The upload did not arrive whole (a disconnect, a truncated body, a field after the
    /// file); nothing was kept.
    #[error("the upload was interrupted")]
    Interrupted,
    /// The requested byte range lies outside the file.
    #[error("the range is outside the file")]
    RangeNotSatisfiable {
        /// The file's size, for `Content-Range: bytes */size`.
        size: u64,
    },
    /// A stored file failed its integrity check (altered, truncated or swapped); audited.
    #[error("the stored file failed its integrity check")]
    Integrity,
    /// Storage failure.
    #[error(transparent)]
    Db(#[from] attest_db::DbError),
    /// Key failure.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Audit failure.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Object-store failure.
    #[error("object store: {0}")]
    Storage(StorageError),
}

impl From<Denied> for EvidenceError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotVisible => Self::NotFound,
            Denied::Forbidden => Self::Forbidden,
        }
    }
}

impl From<ShareFailure> for EvidenceError {
    fn from(f: ShareFailure) -> Self {
        match f {
            ShareFailure::Invalid {
                field,
                code,
                message,
            } => input::invalid(field, code, message),
            ShareFailure::NotFound => Self::NotFound,
            ShareFailure::Db(e) => Self::Db(e),
            ShareFailure::Audit(e) => Self::Audit(e),
        }
    }
}

impl From<StorageError> for EvidenceError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Integrity => Self::Integrity,
            StorageError::NotFound => Self::NotFound,
            StorageError::Interrupted => Self::Interrupted,
            e => Self::Storage(e),
        }
    }
}

/// Where a version stands with the malware scanner (SEC-58).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanStatus {
    /// Downloadable: scanned clean, or no scanner is configured.
    Released,
    /// Held until a scan verdict arrives.
    Pending,
    /// A scan found malware; never downloadable.
    Quarantined,
}

impl ScanStatus {
    /// Stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Released => "released",
            Self::Pending => "pending",
            Self::Quarantined => "quarantined",
        }
    }

    fn parse(text: &str) -> Result<Self, EvidenceError> {
        match text {
            "released" => Ok(Self::Released),
            "pending" => Ok(Self::Pending),
            "quarantined" => Ok(Self::Quarantined),
            _ => Err(EvidenceError::Db(attest_db::DbError::Corrupt(
                "evidence_version.status",
            ))),
        }
    }
}

/// A record as the caller may see it.
#[derive(Debug, Clone)]
pub struct EvidenceView {
    /// Id.
    pub id: EvidenceId,
    /// Title.
    pub title: String,
    /// Classification.
    pub classification: Classification,
    /// Owner (hidden from callers who see only what is shared with them).
    pub owner: Option<(UserId, String)>,
    /// The newest version.
    pub version: i64,
    /// The newest version's effective date or period start.
    pub effective_from: Date,
    /// Its period end.
    pub effective_to: Option<Date>,
    /// Tags.
    pub tags: Vec<String>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// A version's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionContent {
    /// A stored file.
    File {
        /// The safe display name.
        name: String,
        /// Its media type.
        media_type: String,
        /// Plaintext bytes.
        size: u64,
        /// SHA-256 of the plaintext, hex.
        sha256: String,
    },
    /// An external link.
    Link(String),
}

/// One version as listed.
#[derive(Debug, Clone)]
pub struct VersionView {
    /// Number.
    pub version: i64,
    /// File or link.
    pub content: VersionContent,
    /// Whose key sealed it.
    pub classification: Classification,
    /// Effective date or period start.
    pub effective_from: Date,
    /// Period end.
    pub effective_to: Option<Date>,
    /// Scan status.
    pub status: ScanStatus,
    /// The signature a scan found (quarantined versions).
    pub scan_result: Option<String>,
    /// Uploader's name (hidden from callers who see only what is shared).
    pub uploaded_by: Option<String>,
    /// Uploaded.
    pub created_at: OffsetDateTime,
}

/// A record with its description, versions and what the caller may do.
#[derive(Debug, Clone)]
pub struct EvidenceDetail {
    /// The record.
    pub evidence: EvidenceView,
    /// The plain-text description.
    pub description: String,
    /// Versions, newest first.
    pub versions: Vec<VersionView>,
    /// May edit the fields and add versions.
    pub can_edit: bool,
    /// May delete it.
    pub can_delete: bool,
    /// May share it and see its shares.
    pub can_share: bool,
}

/// A list request.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Only this classification.
    pub classification: Option<String>,
    /// Only records with this tag.
    pub tag: Option<String>,
    /// Only records owned by this member (id).
    pub owner: Option<String>,
    /// Only records effective on this date (`YYYY-MM-DD`).
    pub effective_on: Option<String>,
    /// The id of the last record of the previous page.
    pub after: Option<String>,
    /// Page size (1 to [`MAX_PAGE`]).
    pub limit: Option<i64>,
}

/// A page of evidence.
#[derive(Debug, Clone)]
pub struct EvidencePage {
    /// The records.
    pub items: Vec<Granted<EvidenceView>>,
    /// The cursor of the next page, when there is one.
    pub next: Option<EvidenceId>,
}

/// What the sweeper did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Blobs of failed uploads and deleted records removed.
    pub orphans: usize,
    /// Half-written staging files removed (local folder).
    pub staging: usize,
    /// Pending versions scanned again.
    pub rescanned: usize,
}
