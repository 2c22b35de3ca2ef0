//! The database layer: SQLite (embedded default) and PostgreSQL behind one API.
//!
//! - [`Db`] is a pool for either engine, chosen by the URL; [`Tx`] a transaction on it. Every
//!   state change runs in a `Tx`; on SQLite a write transaction starts with `BEGIN IMMEDIATE`
//!   so concurrent writers queue instead of failing half-way.
//! - SQL is written once, in the subset both engines accept, with `$1` placeholders; the
//!   `on_tx!`/`on_pool!` macros run the same statement on whichever engine is in use.
//! - [`migrate`] embeds the two migration folders (kept in step by the build script) and
//!   applies them; [`audit`] and [`data_key`] are the stores of the foundation's aggregates.
//!
//! All SQL of Attest lives in this crate, and every value is a bound parameter (SEC-44).

/// Runs `$body` with `$conn` bound to the transaction's connection, for either engine.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx.inner_mut() {
            crate::pool::TxInner::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            crate::pool::TxInner::Pg(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

/// Runs `$body` with `$pool` bound to the engine's pool (for reads outside a transaction).
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db.inner() {
            crate::pool::DbInner::Sqlite($pool) => $body,
            crate::pool::DbInner::Pg($pool) => $body,
        }
    };
}

pub mod access_review;
pub mod activity;
pub mod api_token;
pub mod audit;
pub mod control;
pub mod data_key;
pub mod document;
pub mod evidence;
pub mod framework;
pub mod identity;
pub mod mfa;
pub mod migrate;
pub mod operator_grant;
pub mod outbox;
pub mod passkey;
mod pool;
pub mod risk;
pub mod share;
pub mod sso;
pub mod tally;

pub use pool::{ConnectOptions, Db, DbError, Engine, Tx};
