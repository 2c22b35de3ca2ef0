//! The only code in Attest that touches key material.
//!
//! - [`keyring`]: the key-encryption keys (KEKs) kept in the keyring file outside the database,
//!   data-encryption keys (DEKs) per (tenant, classification) stored only wrapped, and
//!   `seal`/`open` for fields (AES-256-GCM, SEC-61, SEC-62).
//! - [`pepper`]: the password pepper kept in its own file (SEC-02).
//! - [`random`]: tokens and digests from the operating system's generator (SEC-64).
//! - [`tls`]: the self-signed ECDSA certificate for a first run on localhost.
//! - [`stream`]: streaming envelope encryption of files (AES-256-GCM STREAM-BE32, a random key
//!   per file sealed by the caller with a DEK; SEC-61, SEC-62).
//! - [`secret_file`]: writing and checking 0600 files.
//! - [`totp`]: TOTP secrets and codes (RFC 6238) and recovery codes (SEC-14, SEC-16).
//!
//! Nothing here prints a key: every key type has a redacting `Debug` and is zeroized on drop.

pub mod keyring;
pub mod password;
pub mod pepper;
pub mod random;
pub mod secret_file;
pub mod stream;
pub mod tls;
pub mod totp;

pub use keyring::{Dek, KeyScope, Keyring, KeyringError, KeyringSource, WrappedDek};
pub use pepper::{Pepper, PepperError, PepperSet};
pub use zeroize::Zeroizing;
