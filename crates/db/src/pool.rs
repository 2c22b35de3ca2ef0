//! Connection pools and transactions for both engines.

use std::str::FromStr as _;
use std::time::Duration;

use attest_types::TenantId;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// A database failure. The message is for operators and logs; the web layer answers users
/// with a generic error and the request id only.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no supported engine.
    #[error("unsupported database URL (expected sqlite: or postgres://)")]
    UnsupportedUrl,
    /// A driver or connection error.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed or is inconsistent.
    #[error("{0}")]
    Migration(String),
    /// Stored data violates an invariant (e.g. a classification name that does not exist).
    #[error("corrupt data in {0}")]
    Corrupt(&'static str),
}

impl DbError {
    /// True for a unique-constraint violation (a concurrent insert won).
    #[must_use]
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Sqlx(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// True when the database cannot serve now but may soon: every pooled connection stayed
    /// busy past the acquire timeout, the pool is closing, or the connection failed. The web
    /// layer answers these with 503 and `Retry-After`, not 500.
    #[must_use]
    pub const fn is_unavailable(&self) -> bool {
        matches!(self, Self::Sqlx(e) if driver_unavailable(e))
    }

    /// Whether `error` or anything in its source chain is a database that cannot serve now
    /// (see [`DbError::is_unavailable`]). Errors that wrap a `DbError` transparently forward
    /// its source, so the driver's error is looked for as well as ours.
    #[must_use]
    pub fn unavailable_in_chain(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut cause = Some(error);
        while let Some(e) = cause {
            if e.downcast_ref::<Self>().is_some_and(Self::is_unavailable)
                || e.downcast_ref::<sqlx::Error>()
                    .is_some_and(driver_unavailable)
            {
                return true;
            }
            cause = e.source();
        }
        false
    }
}

const fn driver_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The engine-specific pool; use the `on_pool!` macro rather than matching by hand.
#[derive(Debug, Clone)]
pub(crate) enum DbInner {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// A pool of connections to SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct Db {
    inner: DbInner,
}

/// The engine-specific transaction; use the `on_tx!` macro.
#[derive(Debug)]
pub(crate) enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Pg(Transaction<'static, Postgres>),
}

/// A transaction. Dropped without [`Tx::commit`], it rolls back: nothing is half-written.
#[derive(Debug)]
pub struct Tx {
    inner: TxInner,
}

/// How to open the database.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// Pool size.
    pub max_connections: u32,
    /// SQLite only: create the file when it does not exist (first run).
    pub create_if_missing: bool,
    /// How long a request waits for a free connection before it is refused as unavailable.
    pub acquire_timeout: Duration,
}

impl ConnectOptions {
    /// The wait for a free connection unless configured otherwise.
    pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

    /// A pool of `max_connections` with the default acquire timeout, for an existing database.
    #[must_use]
    pub const fn sized(max_connections: u32) -> Self {
        Self {
            max_connections,
            create_if_missing: false,
            acquire_timeout: Self::DEFAULT_ACQUIRE_TIMEOUT,
        }
    }
}

impl Db {
    /// Opens a pool. SQLite runs in WAL mode with foreign keys on.
    ///
    /// # Errors
    /// If the URL is unsupported or the database unreachable.
    pub async fn connect(url: &str, opts: ConnectOptions) -> Result<Self, DbError> {
        let inner = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(opts.create_if_missing)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(options)
                .await?;
            DbInner::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?.application_name("attest");
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(options)
                .await?;
            DbInner::Pg(pool)
        } else {
            return Err(DbError::UnsupportedUrl);
        };
        Ok(Self { inner })
    }

    pub(crate) const fn inner(&self) -> &DbInner {
        &self.inner
    }

    /// The engine in use.
    #[must_use]
    pub const fn engine(&self) -> Engine {
        match self.inner {
            DbInner::Sqlite(_) => Engine::Sqlite,
            DbInner::Pg(_) => Engine::Postgres,
        }
    }

    /// Starts a write transaction (on SQLite `BEGIN IMMEDIATE`, taking the write lock at once).
    ///
    /// # Errors
    /// If no connection can be had.
    pub async fn begin(&self) -> Result<Tx, DbError> {
        let inner = match &self.inner {
            DbInner::Sqlite(p) => TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            DbInner::Pg(p) => TxInner::Pg(p.begin().await?),
        };
        Ok(Tx { inner })
    }

    /// Starts a transaction scoped to one tenant: on PostgreSQL it sets `app.tenant_id` for
    /// this transaction only, which row-level security policies read (SEC-34).
    ///
    /// # Errors
    /// If no connection can be had.
    pub async fn begin_for(&self, tenant: TenantId) -> Result<Tx, DbError> {
        let mut tx = self.begin().await?;
        if let TxInner::Pg(t) = &mut tx.inner {
            sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                .bind(tenant.to_string())
                .execute(&mut **t)
                .await?;
        }
        Ok(tx)
    }

    /// Starts a read transaction scoped to one tenant: like [`Db::begin_for`], but on SQLite
    /// a deferred `BEGIN`, so readers do not queue behind the write lock.
    ///
    /// # Errors
    /// If no connection can be had.
    pub async fn read_for(&self, tenant: TenantId) -> Result<Tx, DbError> {
        let inner = match &self.inner {
            DbInner::Sqlite(p) => TxInner::Sqlite(p.begin().await?),
            DbInner::Pg(p) => {
                let mut t = p.begin().await?;
                sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                    .bind(tenant.to_string())
                    .execute(&mut *t)
                    .await?;
                TxInner::Pg(t)
            }
        };
        Ok(Tx { inner })
    }

    /// A trivial round trip, for readiness.
    ///
    /// # Errors
    /// If the database does not answer.
    pub async fn ping(&self) -> Result<(), DbError> {
        on_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Connections open and idle, for metrics.
    #[must_use]
    pub fn pool_stats(&self) -> (u32, usize) {
        match &self.inner {
            DbInner::Sqlite(p) => (p.size(), p.num_idle()),
            DbInner::Pg(p) => (p.size(), p.num_idle()),
        }
    }

    /// Closes every connection (shutdown).
    pub async fn close(&self) {
        match &self.inner {
            DbInner::Sqlite(p) => p.close().await,
            DbInner::Pg(p) => p.close().await,
        }
    }
}

impl Tx {
    pub(crate) const fn inner_mut(&mut self) -> &mut TxInner {
        &mut self.inner
    }

    /// Makes every change of the transaction durable.
    ///
    /// # Errors
    /// If the commit fails; then nothing was written.
    pub async fn commit(self) -> Result<(), DbError> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Pg(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Discards every change of the transaction.
    ///
    /// # Errors
    /// If the rollback fails (the connection is then discarded).
    pub async fn rollback(self) -> Result<(), DbError> {
        match self.inner {
            TxInner::Sqlite(t) => t.rollback().await?,
            TxInner::Pg(t) => t.rollback().await?,
        }
        Ok(())
    }
}
