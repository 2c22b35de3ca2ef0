//! Frameworks (issue 7): a tenant's catalogues of requirements. Compliance managers and above
//! import them (a shipped NIST baseline, an OSCAL catalog or a CSV file) and import newer
//! versions, which update requirements in place by their source id, withdraw the ones that
//! left (kept, so what was mapped to them stays visible) and record what changed. Every member
//! who sees the whole tenant reads them; members who see only shared items see none. Each
//! import is one transaction with its audit event: nothing is ever half-imported.

use std::collections::HashMap;
use std::sync::Arc;

use attest_db::framework::{
    self as store, FrameworkRow, NewFramework, RequirementData, RequirementRow,
};
use attest_db::{Db, DbError, Tx};
use attest_types::{Actor, Clock, FrameworkId, RequirementId, TenantId, UserId};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::{Caller, Denied, Granted, Permission, Visibility};
use crate::audit::{AuditError, AuditLog, AuditRecord, Outcome};
use crate::authn::sessions::VerifiedSession;
use crate::catalog::{self, Baseline, Catalog, CatalogError, Changes, NodeKind, tree::Row};
use crate::identity::Origin;

/// The object kind's name in the audit trail.
pub const KIND: &str = "framework";

/// A failed framework operation.
#[derive(Debug, thiserror::Error)]
pub enum FrameworkError {
    /// Missing, in another tenant, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// The caller may not do this.
    #[error("forbidden")]
    Forbidden,
    /// The file was refused; nothing was stored.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
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
    /// Audit failure.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<Denied> for FrameworkError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotVisible => Self::NotFound,
            Denied::Forbidden => Self::Forbidden,
        }
    }
}

/// Where a framework comes from.
#[derive(Debug, Clone)]
pub enum ImportSource {
    /// A shipped NIST baseline.
    Baseline(Baseline),
    /// An OSCAL catalog (JSON).
    Oscal(Vec<u8>),
    /// A CSV file, with the title and version the user gives it.
    Csv {
        /// The file.
        bytes: Vec<u8>,
        /// The framework's title.
        title: String,
        /// Its version.
        version: String,
        /// The file's name, for provenance.
        file_name: String,
    },
    /// A YAML file (the CSV rows under `requirements`); an empty title or version is taken
    /// from the file.
    Yaml {
        /// The file.
        bytes: Vec<u8>,
        /// The framework's title, or empty.
        title: String,
        /// Its version, or empty.
        version: String,
        /// The file's name, for provenance.
        file_name: String,
    },
}

impl ImportSource {
    const fn source(&self) -> &'static str {
        match self {
            Self::Baseline(_) => "baseline",
            Self::Oscal(_) => "oscal",
            Self::Csv { .. } => "csv",
            Self::Yaml { .. } => "yaml",
        }
    }

    /// Parses the source on the blocking pool (a large catalog takes a moment).
    async fn parse(self) -> Result<Catalog, FrameworkError> {
        let parsed = tokio::task::spawn_blocking(move || match self {
            Self::Baseline(b) => b.catalog(),
            Self::Oscal(bytes) => catalog::oscal::import(&bytes),
            Self::Csv {
                bytes,
                title,
                version,
                file_name,
            } => {
                if title.trim().is_empty() {
                    return Err(CatalogError::Invalid {
                        at: "the form".to_owned(),
                        message: "a CSV framework needs a title".to_owned(),
                    });
                }
                catalog::csv::import(&bytes, &title, &version, &file_name)
            }
            Self::Yaml {
                bytes,
                title,
                version,
                file_name,
            } => catalog::yaml::import(&bytes, &title, &version, &file_name),
        })
        .await
        .map_err(|e| CatalogError::TooLarge(format!("the import failed: {e}")))?;
        Ok(parsed?)
    }
}

/// A framework as listed.
#[derive(Debug, Clone)]
pub struct FrameworkView {
    /// Id.
    pub id: FrameworkId,
    /// Title.
    pub title: String,
    /// Version.
    pub version: String,
    /// `oscal`, `csv` or `baseline`.
    pub source: String,
    /// Requirements (not groups) in the current version.
    pub requirement_count: i64,
    /// The source's metadata and licence.
    pub provenance: Value,
    /// Added.
    pub created_at: OffsetDateTime,
    /// Last imported.
    pub updated_at: OffsetDateTime,
}

/// A requirement or group as shown.
#[derive(Debug, Clone)]
pub struct RequirementView {
    /// Id.
    pub id: RequirementId,
    /// Id in the source.
    pub source_ref: String,
    /// Parent.
    pub parent: Option<RequirementId>,
    /// Kind.
    pub kind: NodeKind,
    /// Label.
    pub label: String,
    /// Title.
    pub title: String,
    /// Text.
    pub statement: String,
    /// Guidance.
    pub guidance: String,
    /// Nesting depth.
    pub depth: i64,
    /// No longer in the current version.
    pub withdrawn: bool,
}

/// One imported version and what it changed.
#[derive(Debug, Clone)]
pub struct VersionView {
    /// 1 for the first import.
    pub number: i64,
    /// The version the source states.
    pub version: String,
    /// Ids added, changed and removed (empty for the first import).
    pub changes: Changes,
    /// Who imported it.
    pub imported_by: Option<String>,
    /// When.
    pub imported_at: OffsetDateTime,
}

/// A framework with its requirements and history.
#[derive(Debug, Clone)]
pub struct FrameworkDetail {
    /// The framework.
    pub framework: FrameworkView,
    /// Its requirements and groups in document order, current ones first.
    pub requirements: Vec<RequirementView>,
    /// Its versions, newest first.
    pub versions: Vec<VersionView>,
    /// May import versions and delete.
    pub can_manage: bool,
}

/// The frameworks service.
#[derive(Clone)]
pub struct Frameworks {
    db: Db,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Frameworks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frameworks").finish_non_exhaustive()
    }
}

fn parse_id(text: &str) -> Result<Uuid, FrameworkError> {
    Uuid::parse_str(text.trim()).map_err(|_| FrameworkError::NotFound)
}

fn view(row: FrameworkRow) -> FrameworkView {
    FrameworkView {
        id: FrameworkId::from_uuid(row.id),
        title: row.title,
        version: row.version,
        source: row.source,
        requirement_count: row.requirement_count,
        provenance: serde_json::from_str(&row.provenance).unwrap_or(Value::Null),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn requirement_view(r: RequirementRow) -> Result<RequirementView, FrameworkError> {
    Ok(RequirementView {
        id: RequirementId::from_uuid(r.id),
        source_ref: r.source_ref,
        parent: r.parent_id.map(RequirementId::from_uuid),
        kind: NodeKind::parse(&r.kind).ok_or(DbError::Corrupt("requirement.kind"))?,
        label: r.label,
        title: r.title,
        statement: r.statement,
        guidance: r.guidance,
        depth: r.depth,
        withdrawn: r.withdrawn_at.is_some(),
    })
}

fn changes_json(c: &Changes) -> String {
    serde_json::json!({ "added": c.added, "changed": c.changed, "removed": c.removed }).to_string()
}

fn changes_of(text: &str) -> Changes {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let list = |k: &str| {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Changes {
        added: list("added"),
        changed: list("changed"),
        removed: list("removed"),
    }
}

impl Frameworks {
    /// The service.
    #[must_use]
    pub fn new(db: Db, audit: AuditLog, clock: Arc<dyn Clock>) -> Self {
        Self { db, audit, clock }
    }

    /// The caller, who must see the whole tenant (frameworks are never shared items).
    fn reader(session: &VerifiedSession) -> Result<Caller, FrameworkError> {
        let caller = Caller::of(session)?;
        if caller.visibility != Visibility::Tenant {
            return Err(FrameworkError::NotFound);
        }
        Ok(caller)
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

    /// The tenant's frameworks.
    ///
    /// # Errors
    /// [`FrameworkError::NotFound`] for members who see only shared items.
    pub async fn list(
        &self,
        session: &VerifiedSession,
    ) -> Result<Granted<Vec<FrameworkView>>, FrameworkError> {
        let caller = Self::reader(session)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        let rows = store::list(&mut tx, caller.tenant).await?;
        tx.commit().await?;
        Ok(Granted::new(rows.into_iter().map(view).collect()))
    }

    /// A framework with its requirements and versions.
    ///
    /// # Errors
    /// [`FrameworkError::NotFound`].
    pub async fn get(
        &self,
        session: &VerifiedSession,
        id: &str,
    ) -> Result<Granted<FrameworkDetail>, FrameworkError> {
        let caller = Self::reader(session)?;
        let id = parse_id(id)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        let row = store::get(&mut tx, caller.tenant, id)
            .await?
            .ok_or(FrameworkError::NotFound)?;
        let requirements = store::requirements(&mut tx, caller.tenant, id).await?;
        let versions = store::versions(&mut tx, caller.tenant, id).await?;
        tx.commit().await?;
        Ok(Granted::new(FrameworkDetail {
            framework: view(row),
            requirements: requirements
                .into_iter()
                .map(requirement_view)
                .collect::<Result<_, _>>()?,
            versions: versions
                .into_iter()
                .map(|(number, version, changes, by, at)| VersionView {
                    number,
                    version,
                    changes: changes_of(&changes),
                    imported_by: by,
                    imported_at: at,
                })
                .collect(),
            can_manage: caller.may(Permission::ManageContent),
        }))
    }

    /// One requirement of a framework.
    ///
    /// # Errors
    /// [`FrameworkError::NotFound`].
    pub async fn requirement(
        &self,
        session: &VerifiedSession,
        framework: &str,
        id: &str,
    ) -> Result<Granted<(FrameworkView, RequirementView)>, FrameworkError> {
        let caller = Self::reader(session)?;
        let framework = parse_id(framework)?;
        let id = parse_id(id)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        let f = store::get(&mut tx, caller.tenant, framework)
            .await?
            .ok_or(FrameworkError::NotFound)?;
        let r = store::requirement(&mut tx, caller.tenant, id)
            .await?
            .filter(|r| r.framework_id == framework)
            .ok_or(FrameworkError::NotFound)?;
        tx.commit().await?;
        Ok(Granted::new((view(f), requirement_view(r)?)))
    }

    /// Whether the caller may import now: a new framework (`None`) or a version of `id`.
    /// Handlers ask before they read an uploaded file; the import checks again.
    ///
    /// # Errors
    /// [`FrameworkError::Forbidden`] or [`FrameworkError::NotFound`] (audited).
    pub async fn authorize_import(
        &self,
        session: &VerifiedSession,
        id: Option<&str>,
        origin: Origin,
    ) -> Result<(), FrameworkError> {
        let caller = Self::reader(session)?;
        let check = async {
            if let Some(id) = id {
                let framework = parse_id(id)?;
                let mut tx = self.db.read_for(caller.tenant).await?;
                store::get(&mut tx, caller.tenant, framework)
                    .await?
                    .ok_or(FrameworkError::NotFound)?;
                tx.commit().await?;
            }
            Ok::<_, FrameworkError>(caller.require(Permission::ManageContent)?)
        }
        .await;
        match check {
            Err(e @ (FrameworkError::NotFound | FrameworkError::Forbidden)) => {
                caller
                    .audit_denial(&self.audit, KIND, id.unwrap_or("new"), "import", origin)
                    .await?;
                Err(e)
            }
            other => other,
        }
    }

    /// Imports a new framework (compliance managers and above). Returns its id.
    ///
    /// # Errors
    /// [`FrameworkError::Forbidden`], or [`FrameworkError::Catalog`] naming what is wrong
    /// with the file; then nothing was stored.
    pub async fn import(
        &self,
        session: &VerifiedSession,
        source: ImportSource,
        origin: Origin,
    ) -> Result<FrameworkId, FrameworkError> {
        let caller = Self::reader(session)?;
        if let Err(d) = caller.require(Permission::ManageContent) {
            let e = FrameworkError::from(d);
            if let Err(a) = caller
                .audit_denial(&self.audit, KIND, "new", "import", origin)
                .await
            {
                return Err(a.into());
            }
            return Err(e);
        }
        let kind = source.source();
        let catalog = source.parse().await?;
        let record = Self::record(&caller, "framework.import", origin);
        self.store_new(caller.tenant, &catalog, kind, Some(caller.user), record)
            .await
    }

    /// Imports a framework into a tenant as the operator (`attest catalog import`), audited
    /// in the tenant's chain.
    ///
    /// # Errors
    /// [`FrameworkError::Catalog`] or storage failures; then nothing was stored.
    pub async fn import_as_operator(
        &self,
        tenant: TenantId,
        source: ImportSource,
    ) -> Result<(FrameworkId, usize), FrameworkError> {
        let kind = source.source();
        let catalog = source.parse().await?;
        let record = AuditRecord::tenant(
            tenant,
            Actor::Operator,
            "framework.import",
            Outcome::Success,
        );
        let requirements = catalog
            .nodes
            .iter()
            .filter(|n| n.kind.is_requirement())
            .count();
        let id = self.store_new(tenant, &catalog, kind, None, record).await?;
        Ok((id, requirements))
    }

    async fn store_new(
        &self,
        tenant: TenantId,
        catalog: &Catalog,
        source: &str,
        by: Option<UserId>,
        record: AuditRecord,
    ) -> Result<FrameworkId, FrameworkError> {
        let id = Uuid::new_v4();
        let now = self.clock.now();
        let count = catalog
            .nodes
            .iter()
            .filter(|n| n.kind.is_requirement())
            .count();
        let provenance = catalog.provenance.to_string();
        let mut tx = self.db.begin_for(tenant).await?;
        store::insert(
            &mut tx,
            tenant,
            &NewFramework {
                id,
                title: &catalog.title,
                version: &catalog.version,
                source,
                oscal_uuid: catalog.oscal_uuid.as_deref(),
                provenance: &provenance,
                requirement_count: i64::try_from(count).unwrap_or(i64::MAX),
                by,
                now,
            },
        )
        .await?;
        Self::write_nodes(&mut tx, tenant, id, catalog, &HashMap::new()).await?;
        let changes = Changes::default();
        store::insert_version(
            &mut tx,
            tenant,
            id,
            1,
            &catalog.version,
            &changes_json(&changes),
            by,
            now,
        )
        .await?;
        self.audit
            .record_in(
                &mut tx,
                record.object(KIND, id).details(serde_json::json!({
                    "title": catalog.title,
                    "version": catalog.version,
                    "source": source,
                    "requirements": count,
                    "groups": catalog.count(NodeKind::Group),
                })),
            )
            .await?;
        tx.commit().await?;
        Ok(FrameworkId::from_uuid(id))
    }

    /// Writes a catalog's nodes: existing ids (by source id) are rewritten, others inserted.
    async fn write_nodes(
        tx: &mut Tx,
        tenant: TenantId,
        framework: Uuid,
        catalog: &Catalog,
        existing: &HashMap<String, Uuid>,
    ) -> Result<(), FrameworkError> {
        let mut ids: Vec<Uuid> = Vec::with_capacity(catalog.nodes.len());
        let mut depth: Vec<i64> = Vec::with_capacity(catalog.nodes.len());
        for (i, n) in catalog.nodes.iter().enumerate() {
            let known = existing.get(&n.id).copied();
            let id = known.unwrap_or_else(Uuid::new_v4);
            let d = n.parent.map_or(0, |p| depth[p] + 1);
            let data = RequirementData {
                id,
                framework_id: framework,
                source_ref: &n.id,
                parent_id: n.parent.map(|p| ids[p]),
                kind: n.kind.as_str(),
                label: &n.label,
                title: &n.title,
                statement: &n.statement,
                guidance: &n.guidance,
                position: i64::try_from(i).unwrap_or(i64::MAX),
                depth: d,
            };
            if known.is_some() {
                store::update_requirement(tx, tenant, &data).await?;
            } else {
                store::insert_requirement(tx, tenant, &data).await?;
            }
            ids.push(id);
            depth.push(d);
        }
        Ok(())
    }

    /// Imports a newer version of a framework: requirements are matched by their source id,
    /// updated or added; those no longer present are withdrawn. Returns what changed.
    ///
    /// # Errors
    /// [`FrameworkError::NotFound`], [`FrameworkError::Forbidden`] or
    /// [`FrameworkError::Catalog`]; then nothing changed.
    pub async fn import_version(
        &self,
        session: &VerifiedSession,
        id: &str,
        source: ImportSource,
        origin: Origin,
    ) -> Result<Changes, FrameworkError> {
        let caller = Self::reader(session)?;
        let result = async {
            let framework = parse_id(id)?;
            {
                let mut tx = self.db.read_for(caller.tenant).await?;
                store::get(&mut tx, caller.tenant, framework)
                    .await?
                    .ok_or(FrameworkError::NotFound)?;
                tx.commit().await?;
            }
            caller.require(Permission::ManageContent)?;
            let kind = source.source();
            let catalog = source.parse().await?;
            let now = self.clock.now();
            let mut tx = self.db.begin_for(caller.tenant).await?;
            store::get(&mut tx, caller.tenant, framework)
                .await?
                .ok_or(FrameworkError::NotFound)?;
            let existing = store::requirements(&mut tx, caller.tenant, framework).await?;
            let by_uuid: HashMap<Uuid, &RequirementRow> =
                existing.iter().map(|r| (r.id, r)).collect();
            let current: Vec<Row> = existing
                .iter()
                .filter(|r| r.withdrawn_at.is_none())
                .map(|r| -> Result<Row, FrameworkError> {
                    Ok((
                        r.source_ref.clone(),
                        r.parent_id
                            .and_then(|p| by_uuid.get(&p))
                            .map(|p| p.source_ref.clone()),
                        NodeKind::parse(&r.kind).ok_or(DbError::Corrupt("requirement.kind"))?,
                        r.label.clone(),
                        r.title.clone(),
                        r.statement.clone(),
                        r.guidance.clone(),
                    ))
                })
                .collect::<Result<_, _>>()?;
            let changes = catalog::tree::compare(&current, &catalog);
            let ids: HashMap<String, Uuid> = existing
                .iter()
                .map(|r| (r.source_ref.clone(), r.id))
                .collect();
            Self::write_nodes(&mut tx, caller.tenant, framework, &catalog, &ids).await?;
            for removed in &changes.removed {
                if let Some(rid) = ids.get(removed) {
                    store::withdraw(&mut tx, caller.tenant, *rid, now).await?;
                }
            }
            let count = catalog
                .nodes
                .iter()
                .filter(|n| n.kind.is_requirement())
                .count();
            let provenance = catalog.provenance.to_string();
            store::update(
                &mut tx,
                caller.tenant,
                &NewFramework {
                    id: framework,
                    title: &catalog.title,
                    version: &catalog.version,
                    source: kind,
                    oscal_uuid: catalog.oscal_uuid.as_deref(),
                    provenance: &provenance,
                    requirement_count: i64::try_from(count).unwrap_or(i64::MAX),
                    by: Some(caller.user),
                    now,
                },
            )
            .await?;
            let number = store::versions(&mut tx, caller.tenant, framework)
                .await?
                .first()
                .map_or(1, |v| v.0 + 1);
            store::insert_version(
                &mut tx,
                caller.tenant,
                framework,
                number,
                &catalog.version,
                &changes_json(&changes),
                Some(caller.user),
                now,
            )
            .await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "framework.version", origin)
                        .object(KIND, framework)
                        .details(serde_json::json!({
                            "number": number,
                            "version": catalog.version,
                            "added": changes.added.len(),
                            "changed": changes.changed.len(),
                            "removed": changes.removed.len(),
                        })),
                )
                .await?;
            tx.commit().await?;
            Ok(changes)
        }
        .await;
        match result {
            Err(e @ (FrameworkError::NotFound | FrameworkError::Forbidden)) => {
                caller
                    .audit_denial(&self.audit, KIND, id, "import_version", origin)
                    .await?;
                Err(e)
            }
            other => other,
        }
    }

    /// The framework as an OSCAL catalog (JSON), its current requirements only. Audited.
    ///
    /// # Errors
    /// [`FrameworkError::NotFound`] or [`FrameworkError::Forbidden`] (the export permission).
    pub async fn export(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<Granted<(String, Value)>, FrameworkError> {
        let caller = Self::reader(session)?;
        caller.require(Permission::Export)?;
        let framework = parse_id(id)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        let row = store::get(&mut tx, caller.tenant, framework)
            .await?
            .ok_or(FrameworkError::NotFound)?;
        let rows = store::requirements(&mut tx, caller.tenant, framework).await?;
        tx.commit().await?;
        let current: Vec<&RequirementRow> =
            rows.iter().filter(|r| r.withdrawn_at.is_none()).collect();
        let index: HashMap<Uuid, usize> =
            current.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        let mut nodes = Vec::with_capacity(current.len());
        for r in &current {
            nodes.push(catalog::Node {
                id: r.source_ref.clone(),
                parent: r.parent_id.and_then(|p| index.get(&p).copied()),
                kind: NodeKind::parse(&r.kind).ok_or(DbError::Corrupt("requirement.kind"))?,
                label: r.label.clone(),
                title: r.title.clone(),
                statement: r.statement.clone(),
                guidance: r.guidance.clone(),
            });
        }
        let title = row.title.clone();
        let catalog = Catalog {
            title: row.title,
            version: row.version,
            oscal_uuid: row.oscal_uuid,
            provenance: serde_json::from_str(&row.provenance).unwrap_or(Value::Null),
            nodes,
        };
        let now = self.clock.now();
        let stamp = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let doc = catalog::oscal::export(&catalog, &Uuid::new_v4().to_string(), &stamp);
        self.audit
            .record_read(Self::record(&caller, "framework.export", origin).object(KIND, framework))
            .await?;
        Ok(Granted::new((title, doc)))
    }

    /// Deletes a framework with its requirements and history (compliance managers and above).
    ///
    /// # Errors
    /// [`FrameworkError::NotFound`] or [`FrameworkError::Forbidden`].
    pub async fn delete(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<(), FrameworkError> {
        let caller = Self::reader(session)?;
        let framework = parse_id(id)?;
        let mut tx = self.db.begin_for(caller.tenant).await?;
        let row = store::get(&mut tx, caller.tenant, framework)
            .await?
            .ok_or(FrameworkError::NotFound)?;
        caller.require(Permission::ManageContent)?;
        store::delete(&mut tx, caller.tenant, framework).await?;
        self.audit
            .record_in(
                &mut tx,
                Self::record(&caller, "framework.delete", origin)
                    .object(KIND, framework)
                    .details(serde_json::json!({ "title": row.title })),
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
