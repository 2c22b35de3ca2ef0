//! The tamper-evident audit trail (SEC-71, SEC-73).
//!
//! Every tenant has its own hash chain, and the server has one more (the *system chain*, keyed
//! by the nil UUID) for start, stop, migrations, key rotation and configuration errors. Entry
//! `n` stores `hash_n = SHA-256(domain ‖ prev_hash ‖ every field of entry n)`, with
//! `prev_hash` the hash of entry `n-1` (32 zero bytes for the first). Changing, removing or
//! reordering any entry breaks the chain, and [`verify`] names the first entry where it breaks.
//!
//! - Changes are audited in the same transaction as the change: [`AuditLog::record_in`].
//! - Reads are queued ([`AuditLog::record_read`]) and appended in batches by one writer task,
//!   so a read never waits on the chain lock. The queue is bounded; when it is full, readers
//!   wait rather than losing events. [`AuditLog::shutdown`] flushes it.
//! - Appends lock the chain head row, so concurrent requests of one tenant never fork it.
//!
//! Details are facts about an action, never secrets: callers pass ids, names of fields that
//! changed and outcomes, never passwords, tokens or document content (SEC-72).

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use attest_db::audit::{self as store, AuditRow, ChainHead};
use attest_db::{Db, DbError, Tx};
use attest_types::{Actor, AuditEventId, Clock, RequestId, TenantId};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

const HASH_DOMAIN: &[u8] = b"attest/audit-event/v1";
const GENESIS: [u8; 32] = [0u8; 32];
const BATCH_MAX: usize = 512;

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was attempted and failed (bad password, invalid input…).
    Failure,
    /// Authorization refused it.
    Denied,
}

impl Outcome {
    /// Stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// One event to record. Build it with [`AuditRecord::tenant`] or [`AuditRecord::system`].
#[derive(Debug, Clone)]
pub struct AuditRecord {
    tenant: Option<TenantId>,
    actor: Actor,
    action: String,
    object: Option<(String, String)>,
    outcome: Outcome,
    source_ip: Option<IpAddr>,
    request_id: Option<RequestId>,
    details: serde_json::Value,
}

impl AuditRecord {
    /// An event in a tenant's chain.
    #[must_use]
    pub fn tenant(tenant: TenantId, actor: Actor, action: &str, outcome: Outcome) -> Self {
        Self::new(Some(tenant), actor, action, outcome)
    }

    /// An event in the system chain.
    #[must_use]
    pub fn system(actor: Actor, action: &str, outcome: Outcome) -> Self {
        Self::new(None, actor, action, outcome)
    }

    fn new(tenant: Option<TenantId>, actor: Actor, action: &str, outcome: Outcome) -> Self {
        Self {
            tenant,
            actor,
            action: action.to_owned(),
            object: None,
            outcome,
            source_ip: None,
            request_id: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// The object acted on (kind and opaque id).
    #[must_use]
    pub fn object(mut self, kind: &str, id: impl fmt::Display) -> Self {
        self.object = Some((kind.to_owned(), id.to_string()));
        self
    }

    /// The request it came from.
    #[must_use]
    pub const fn request(
        mut self,
        source_ip: Option<IpAddr>,
        request_id: Option<RequestId>,
    ) -> Self {
        self.source_ip = source_ip;
        self.request_id = request_id;
        self
    }

    /// Further facts (never secrets).
    #[must_use]
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// Recording failed; the caller's transaction must not commit.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The batch writer has stopped (the server is shutting down).
    #[error("the audit writer has stopped")]
    WriterStopped,
}

fn chain_of(tenant: Option<TenantId>) -> Uuid {
    tenant.map_or(Uuid::nil(), |t| t.as_uuid())
}

/// PostgreSQL keeps microseconds; the hash must cover what is stored.
fn to_micros(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

fn put_bytes(h: &mut Sha256, b: &[u8]) {
    h.update((b.len() as u64).to_be_bytes());
    h.update(b);
}

fn put_opt(h: &mut Sha256, b: Option<&[u8]>) {
    match b {
        None => h.update([0u8]),
        Some(b) => {
            h.update([1u8]);
            put_bytes(h, b);
        }
    }
}

/// The hash of an entry, over every stored field but `hash` itself.
#[must_use]
pub fn entry_hash(row: &AuditRow) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(HASH_DOMAIN);
    put_bytes(&mut h, &row.prev_hash);
    h.update(row.seq.to_be_bytes());
    h.update(row.id.as_bytes());
    h.update(row.chain_id.as_bytes());
    put_opt(
        &mut h,
        row.tenant_id.as_ref().map(|u| u.as_bytes().as_slice()),
    );
    h.update(row.occurred_at.unix_timestamp_nanos().to_be_bytes());
    put_bytes(&mut h, row.actor_kind.as_bytes());
    put_opt(
        &mut h,
        row.actor_id.as_ref().map(|u| u.as_bytes().as_slice()),
    );
    put_bytes(&mut h, row.action.as_bytes());
    put_opt(&mut h, row.object_kind.as_deref().map(str::as_bytes));
    put_opt(&mut h, row.object_id.as_deref().map(str::as_bytes));
    put_bytes(&mut h, row.outcome.as_bytes());
    put_opt(&mut h, row.source_ip.as_deref().map(str::as_bytes));
    put_opt(
        &mut h,
        row.request_id.as_ref().map(|u| u.as_bytes().as_slice()),
    );
    put_bytes(&mut h, row.details.as_bytes());
    h.finalize().into()
}

fn to_row(record: AuditRecord, now: OffsetDateTime) -> AuditRow {
    let (object_kind, object_id) = record.object.unzip();
    AuditRow {
        id: AuditEventId::new_random().as_uuid(),
        chain_id: chain_of(record.tenant),
        seq: 0,
        tenant_id: record.tenant.map(|t| t.as_uuid()),
        occurred_at: to_micros(now),
        actor_kind: record.actor.kind().to_owned(),
        actor_id: record.actor.user_id().map(|u| u.as_uuid()),
        action: record.action,
        object_kind,
        object_id,
        outcome: record.outcome.as_str().to_owned(),
        source_ip: record.source_ip.map(|ip| ip.to_string()),
        request_id: record.request_id.map(|r| r.as_uuid()),
        details: record.details.to_string(),
        prev_hash: Vec::new(),
        hash: Vec::new(),
    }
}

/// Links rows (all of one chain) after `head` and appends them in `tx`.
async fn link_and_append(tx: &mut Tx, mut rows: Vec<AuditRow>) -> Result<(), DbError> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let ChainHead {
        mut last_seq,
        mut last_hash,
    } = store::lock_head(tx, first.chain_id, &GENESIS).await?;
    for row in &mut rows {
        last_seq += 1;
        row.seq = last_seq;
        row.prev_hash = last_hash;
        row.hash = entry_hash(row).to_vec();
        last_hash = row.hash.clone();
    }
    store::append(tx, &rows).await?;
    metrics::counter!("attest_audit_appends_total").increment(rows.len() as u64);
    Ok(())
}

/// The audit trail of one installation.
#[derive(Clone)]
pub struct AuditLog {
    db: Db,
    clock: Arc<dyn Clock>,
    reads: mpsc::Sender<WriterMsg>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Starts the audit log and its batch writer for read events (`read_buffer` entries may
    /// wait in memory). Must be called inside a Tokio runtime.
    #[must_use]
    pub fn start(db: Db, clock: Arc<dyn Clock>, read_buffer: usize) -> Self {
        let (tx, rx) = mpsc::channel(read_buffer.max(1));
        let writer = tokio::spawn(batch_writer(db.clone(), rx));
        Self {
            db,
            clock,
            reads: tx,
            writer: Arc::new(Mutex::new(Some(writer))),
        }
    }

    /// Records an event inside the caller's transaction: it is stored if and only if the
    /// change it describes is committed.
    ///
    /// # Errors
    /// On database failure; the caller must then roll back.
    pub async fn record_in(
        &self,
        tx: &mut Tx,
        record: AuditRecord,
    ) -> Result<AuditEventId, AuditError> {
        let row = to_row(record, self.clock.now());
        let id = AuditEventId::from_uuid(row.id);
        link_and_append(tx, vec![row]).await?;
        Ok(id)
    }

    /// Records many events of one chain inside the caller's transaction, in order (imports and
    /// the benchmark seed). Returns how many.
    ///
    /// # Errors
    /// On database failure; the caller must then roll back.
    pub async fn record_many_in(
        &self,
        tx: &mut Tx,
        records: Vec<AuditRecord>,
    ) -> Result<usize, AuditError> {
        let now = self.clock.now();
        let rows: Vec<AuditRow> = records.into_iter().map(|r| to_row(r, now)).collect();
        let n = rows.len();
        link_and_append(tx, rows).await?;
        Ok(n)
    }

    /// Records an event in a transaction of its own (security events with no other change,
    /// such as a refused request).
    ///
    /// # Errors
    /// On database failure.
    pub async fn record(&self, record: AuditRecord) -> Result<AuditEventId, AuditError> {
        let mut tx = self.db.begin().await?;
        let id = self.record_in(&mut tx, record).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Queues a read event for the batch writer. Waits only when the queue is full.
    ///
    /// # Errors
    /// [`AuditError::WriterStopped`] after shutdown.
    pub async fn record_read(&self, record: AuditRecord) -> Result<(), AuditError> {
        let row = to_row(record, self.clock.now());
        self.reads
            .send(WriterMsg::Row(Box::new(row)))
            .await
            .map_err(|_| AuditError::WriterStopped)
    }

    /// Waits until every read event queued so far is stored (tests, shutdown).
    pub async fn flush(&self) {
        let (done_tx, done_rx) = oneshot::channel();
        if self.reads.send(WriterMsg::Flush(done_tx)).await.is_ok() {
            let _ = done_rx.await;
        }
    }

    /// Stops the batch writer after it has stored everything queued.
    pub async fn shutdown(&self) {
        self.flush().await;
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            handle.abort();
            let _ = handle.await;
        }
    }
}

/// What the batch writer receives: a read event, or a request to report once everything
/// queued before it is stored.
#[derive(Debug)]
enum WriterMsg {
    Row(Box<AuditRow>),
    Flush(oneshot::Sender<()>),
}

async fn batch_writer(db: Db, mut rx: mpsc::Receiver<WriterMsg>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while rx.recv_many(&mut batch, BATCH_MAX).await > 0 {
        let mut flushers = Vec::new();
        let mut by_chain: Vec<(Uuid, Vec<AuditRow>)> = Vec::new();
        for msg in batch.drain(..) {
            let row = match msg {
                WriterMsg::Row(row) => *row,
                WriterMsg::Flush(done) => {
                    flushers.push(done);
                    continue;
                }
            };
            match by_chain.iter_mut().find(|(c, _)| *c == row.chain_id) {
                Some((_, rows)) => rows.push(row),
                None => by_chain.push((row.chain_id, vec![row])),
            }
        }
        for (chain, rows) in by_chain {
            let n = rows.len();
            if let Err(e) = append_batch(&db, rows).await {
                metrics::counter!("attest_audit_append_failures_total").increment(n as u64);
                tracing::error!(chain = %chain, events = n, error = %e, "could not append read events to the audit trail");
            }
        }
        for done in flushers {
            let _ = done.send(());
        }
    }
}

async fn append_batch(db: &Db, rows: Vec<AuditRow>) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    link_and_append(&mut tx, rows).await?;
    tx.commit().await
}

/// Where a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The chain: `None` for the system chain.
    pub tenant: Option<TenantId>,
    /// The sequence number of the first entry at fault.
    pub seq: i64,
    /// What is wrong.
    pub problem: BreakKind,
}

/// Kinds of tampering [`verify`] detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// The entry's content no longer matches its hash (changed, or moved to another place).
    Changed,
    /// The entry before it is gone (a gap in the sequence).
    Removed,
    /// The entry's link to its predecessor is wrong (reordered or inserted).
    Reordered,
    /// Entries at the end of the chain are gone (the head names a later entry).
    Truncated,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chain = self
            .tenant
            .map_or_else(|| "system chain".to_owned(), |t| format!("tenant {t}"));
        let what = match self.problem {
            BreakKind::Changed => "was changed: its content does not match its hash",
            BreakKind::Removed => "follows a removed entry: the sequence has a gap",
            BreakKind::Reordered => {
                "does not link to the entry before it: entries were reordered or inserted"
            }
            BreakKind::Truncated => "is missing: entries were removed from the end of the chain",
        };
        write!(f, "{chain}: entry {} {what}", self.seq)
    }
}

/// The result of verifying chains.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Chains checked.
    pub chains: usize,
    /// Entries checked.
    pub entries: u64,
    /// The first break of each broken chain.
    pub breaks: Vec<ChainBreak>,
}

/// Walks every chain (or one tenant's) and reports the first break of each.
///
/// # Errors
/// On database failure.
pub async fn verify(db: &Db, only: Option<Option<TenantId>>) -> Result<VerifyReport, DbError> {
    let mut report = VerifyReport::default();
    for (chain_id, head) in store::chains(db).await? {
        let tenant = (!chain_id.is_nil()).then(|| TenantId::from_uuid(chain_id));
        if only.is_some_and(|o| o != tenant) {
            continue;
        }
        report.chains += 1;
        if let Some(b) = verify_chain(db, chain_id, tenant, &head, &mut report.entries).await? {
            report.breaks.push(b);
        }
    }
    Ok(report)
}

async fn verify_chain(
    db: &Db,
    chain_id: Uuid,
    tenant: Option<TenantId>,
    head: &ChainHead,
    entries: &mut u64,
) -> Result<Option<ChainBreak>, DbError> {
    let brk = |seq, problem| {
        Ok(Some(ChainBreak {
            tenant,
            seq,
            problem,
        }))
    };
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS.to_vec();
    loop {
        let page = store::page(db, chain_id, expected_seq - 1, 1000).await?;
        if page.is_empty() {
            break;
        }
        for row in page {
            *entries += 1;
            if row.seq != expected_seq {
                return brk(row.seq, BreakKind::Removed);
            }
            if entry_hash(&row).as_slice() != row.hash.as_slice() {
                return brk(row.seq, BreakKind::Changed);
            }
            if row.prev_hash != prev_hash {
                return brk(row.seq, BreakKind::Reordered);
            }
            prev_hash = row.hash;
            expected_seq += 1;
        }
    }
    let last = expected_seq - 1;
    if head.last_seq > last {
        return brk(last + 1, BreakKind::Truncated);
    }
    if head.last_seq < last || head.last_hash != prev_hash {
        return brk(last, BreakKind::Changed);
    }
    Ok(None)
}
