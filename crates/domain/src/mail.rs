//! Email. Use cases queue messages with [`Mailer::prepare`] (seals the body with the
//! installation's Critical key, outside any transaction) and [`Mailer::enqueue`] (inside the
//! transaction of the action, so a message exists if and only if the action happened).
//! [`Mailer::deliver_due`] sends queued messages through a [`MailTransport`] with backoff.
//! Messages never contain a password; one-time links are the only secrets they carry, and
//! their bodies are dropped once sent.

use std::fmt;
use std::sync::Arc;

use attest_db::outbox;
use attest_db::{Db, Tx};
use attest_types::{Classification, Clock, TenantId};
use time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::keys::{KeyError, KeyService};

/// The key scope of installation-level data (not owned by a tenant).
fn system_scope() -> TenantId {
    TenantId::from_uuid(Uuid::nil())
}

/// Something that can deliver a message (SMTP in production).
pub trait MailTransport: Send + Sync + fmt::Debug {
    /// Sends one message.
    ///
    /// # Errors
    /// A description of the failure (never credentials).
    fn send<'a>(
        &'a self,
        to: &'a str,
        subject: &'a str,
        body: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// A message ready to be queued.
#[derive(Debug)]
pub struct PreparedMail {
    id: Uuid,
    to: String,
    subject: String,
    sealed: Vec<u8>,
}

/// Queues and delivers mail.
#[derive(Debug, Clone)]
pub struct Mailer {
    db: Db,
    keys: Arc<KeyService>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

/// A subject or address with a line break would inject headers (SEC-45).
fn single_line(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

impl Mailer {
    /// A mailer.
    #[must_use]
    pub fn new(db: Db, keys: Arc<KeyService>, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            keys,
            clock,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Seals a message for queueing. Call before opening the action's transaction.
    ///
    /// # Errors
    /// If sealing fails.
    pub async fn prepare(
        &self,
        to: &str,
        subject: &str,
        body: &str,
    ) -> Result<PreparedMail, KeyError> {
        let id = Uuid::new_v4();
        let sealed = self
            .keys
            .seal(
                system_scope(),
                Classification::Critical,
                id.as_bytes(),
                body.as_bytes(),
            )
            .await?;
        Ok(PreparedMail {
            id,
            to: single_line(to),
            subject: single_line(subject),
            sealed,
        })
    }

    /// Queues a prepared message inside the action's transaction.
    ///
    /// # Errors
    /// On database failure (the caller rolls back).
    pub async fn enqueue(&self, tx: &mut Tx, mail: PreparedMail) -> Result<(), attest_db::DbError> {
        outbox::insert(
            tx,
            mail.id,
            &mail.to,
            &mail.subject,
            &mail.sealed,
            self.clock.now(),
        )
        .await
    }

    /// Asks the delivery task to look now (after a commit).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Tries every due message once. Returns how many were sent.
    pub async fn deliver_due(&self, transport: &dyn MailTransport) -> usize {
        let now = self.clock.now();
        let Ok(due) = outbox::due(&self.db, now, 50).await else {
            return 0;
        };
        let mut sent = 0;
        for m in due {
            let body = match self
                .keys
                .open(
                    system_scope(),
                    Classification::Critical,
                    m.id.as_bytes(),
                    &m.body,
                )
                .await
            {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => {
                    tracing::error!(mail = %m.id, error = %e, "queued mail cannot be opened");
                    let _ = outbox::mark_failed(
                        &self.db,
                        m.id,
                        m.attempts + 1,
                        now + Duration::days(365),
                        "cannot be opened",
                    )
                    .await;
                    continue;
                }
            };
            match transport.send(&m.recipient, &m.subject, &body).await {
                Ok(()) => {
                    let _ = outbox::mark_sent(&self.db, m.id, now).await;
                    metrics::counter!("attest_mail_sent_total").increment(1);
                    sent += 1;
                }
                Err(e) => {
                    let attempts = m.attempts + 1;
                    // 30 s, 1 min, 2 min … capped at one hour; never given up.
                    let backoff = Duration::seconds(30 * (1_i64 << attempts.clamp(0, 7)))
                        .min(Duration::hours(1));
                    tracing::warn!(mail = %m.id, attempts, error = %e, "mail delivery failed; will retry");
                    metrics::counter!("attest_mail_failures_total").increment(1);
                    let _ = outbox::mark_failed(
                        &self.db,
                        m.id,
                        attempts,
                        now + backoff,
                        &e.chars().take(500).collect::<String>(),
                    )
                    .await;
                }
            }
        }
        sent
    }

    /// Runs delivery forever: every few seconds, and at once when woken.
    pub async fn run(self, transport: Arc<dyn MailTransport>, every: std::time::Duration) {
        loop {
            self.deliver_due(transport.as_ref()).await;
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = self.wake.notified() => {}
            }
        }
    }
}
