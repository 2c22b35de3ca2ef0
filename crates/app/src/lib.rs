//! The `attest` binary's library half: command-line interface, first-run preparation,
//! wiring of every layer, and the operator commands. `main.rs` only parses the command line
//! and calls in here; the test harness calls [`launch::launch`] directly to run the real
//! server in-process.
//!
//! This is the only crate that reads the process environment (it hands a copy to the
//! configuration loader).

pub mod cli;
pub mod commands;
pub mod launch;
pub mod mailer;
pub mod prepare;
pub mod storage;
pub mod telemetry;
