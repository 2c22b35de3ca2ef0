//! Typed, validated configuration.
//!
//! Sources, later ones winning: built-in defaults, the TOML file given with `--config`, and
//! environment variables `ATTEST_<SECTION>__<KEY>` (e.g. `ATTEST_DATABASE__URL`,
//! `ATTEST_SERVER__LISTEN`; top-level keys as `ATTEST_MODE`, `ATTEST_DATA_DIR`). The binary hands
//! the environment in as a map: this crate never reads the process environment itself.
//!
//! Every error names the offending key. Secrets (database passwords, the metrics token, the
//! keyring and pepper when given inline) are [`secrecy::SecretString`]s and are masked in
//! [`Config::effective_toml`]. The production self-check (SEC-82) lives in [`checks`].

pub mod checks;
mod model;
mod storage;

pub use checks::{ProductionProblem, production_problems};
pub use model::*;
pub use storage::{Azure, S3, Storage, StorageBackend};
