//! The integration suite: one binary (STYLE.md habit 1). Every test starts the real server
//! over real TLS on SQLite and on PostgreSQL, or runs the real `attest` executable.

// Tests fail by panicking; helpers here are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access_reviews;
mod activities;
mod api_tokens;
mod audit_trail;
mod authorization;
mod cli;
mod controls;
mod dashboard;
mod documents;
mod evidence;
mod evidence_crash;
mod evidence_scan;
mod evidence_stores;
mod frameworks;
mod http_surface;
mod identity;
mod keys;
mod logging;
mod mfa;
mod migrations;
mod onboarding;
mod operator_access;
mod passkeys;
mod risks;
mod sso;
mod tls;

/// The `attest` executable built for this test run.
pub fn attest_bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_attest"))
}
