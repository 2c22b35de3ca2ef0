//! The test harness. Integration tests start the **real** server (the same `launch` the
//! binary uses) on an ephemeral port over real TLS, and talk to it with a real HTTP client
//! that trusts only the server's generated certificate.
//!
//! - [`Backend`]: every test runs on SQLite and on PostgreSQL ([`both_backends!`]).
//! - [`TestDb`]: a fresh database per test. SQLite: a file in the test's temporary data
//!   directory. PostgreSQL: a uniquely named database on the server at
//!   `ATTEST_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//!   owned by the `attest_owner` role and used by the server as the `attest_app` role
//!   (no DDL, no BYPASSRLS), dropped when the test ends. If PostgreSQL is unreachable the test
//!   **fails** with instructions; it never skips.
//! - [`TestApp`]: the running server, its manual clock, its state and an HTTP client.
//! - [`binary`]: run the `attest` executable itself for exit codes and log output.
//! - [`OidcProvider`]: a real OpenID Connect provider process (npm `oidc-provider`) with
//!   test modes, for the SSO tests; [`logs`]: the in-process server's log lines.
//! - [`peers`]: real S3 (moto), Azure Blob (Azurite) and ClamAV (clamd) servers for the
//!   evidence tests; [`Multipart`]: upload bodies as browsers send them, broken ones too.

// A test harness fails loudly: a panic here is a failed test, never a served request.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod authenticator;
pub mod binary;
mod browser;
mod db;
pub mod logs;
mod multipart;
pub mod oidc;
mod passkey;
pub mod peers;
mod server;
pub mod smtp;

pub use authenticator::Authenticator;
pub use browser::Browser;
pub use db::{Backend, TestDb};
pub use multipart::Multipart;
pub use oidc::{OidcProvider, OidcUser};
pub use passkey::SoftPasskey;
pub use server::{TestApp, TestAppBuilder, client_trusting as server_client};
pub use smtp::SmtpSink;

/// Defines one test per backend: `both_backends!(name, |backend| async move { … })` expands
/// to `mod name { sqlite(), postgres() }`.
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* $name:ident, |$backend:ident| $body:expr) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $backend = $crate::Backend::Sqlite;
                $body.await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $backend = $crate::Backend::Postgres;
                $body.await
            }
        }
    };
}
