//! The password pepper: a 256-bit secret given to Argon2 as its `secret` input (SEC-02). It is
//! kept in its own file (or environment variable), never in the database, so a stolen database
//! alone cannot be attacked offline. Versions allow a new pepper to be introduced while hashes
//! made with an older one still verify until they are upgraded at the next login.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::{Zeroize, Zeroizing};

use crate::{random, secret_file};

const PEPPER_FORMAT: u32 = 1;

/// What went wrong with the pepper. Never contains pepper bytes.
#[derive(Debug, thiserror::Error)]
pub enum PepperError {
    /// The pepper file could not be read or written.
    #[error("pepper file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The content is not a valid pepper document.
    #[error("the pepper is malformed: {0}")]
    Malformed(String),
    /// The OS random generator failed.
    #[error(transparent)]
    Random(#[from] random::RandomError),
}

#[derive(Serialize, Deserialize)]
struct PepperDoc {
    format: u32,
    current: u32,
    peppers: Vec<PepperEntry>,
}

#[derive(Serialize, Deserialize)]
struct PepperEntry {
    version: u32,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    value: String,
}

impl Drop for PepperEntry {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

/// One pepper version. Zeroized on drop, never printed.
pub struct Pepper {
    version: u32,
    bytes: Zeroizing<[u8; 32]>,
}

impl Pepper {
    /// The version recorded beside each password hash.
    #[must_use]
    pub const fn version(&self) -> u32 {
        self.version
    }

    /// The secret bytes, for Argon2's `secret` parameter only.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        self.bytes.as_slice()
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pepper(v{}, [redacted])", self.version)
    }
}

/// All pepper versions; `current` is used for new hashes.
pub struct PepperSet {
    current: u32,
    peppers: BTreeMap<u32, Pepper>,
}

impl fmt::Debug for PepperSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PepperSet")
            .field("current", &self.current)
            .field("versions", &self.peppers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PepperSet {
    /// Creates a new pepper file with one random 256-bit pepper. Refuses to overwrite.
    ///
    /// # Errors
    /// If the file exists or cannot be written.
    pub fn create_file(path: &Path, now: OffsetDateTime) -> Result<(), PepperError> {
        let value = Zeroizing::new(random::bytes::<32>()?);
        let doc = PepperDoc {
            format: PEPPER_FORMAT,
            current: 1,
            peppers: vec![PepperEntry {
                version: 1,
                created: now,
                value: STANDARD.encode(value.as_slice()),
            }],
        };
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&doc)
                .map_err(|e| PepperError::Malformed(e.to_string()))?,
        );
        secret_file::create_new(path, text.as_bytes()).map_err(|source| PepperError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads a pepper file.
    ///
    /// # Errors
    /// If it is missing, unreadable or malformed.
    pub fn load_file(path: &Path) -> Result<Self, PepperError> {
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|source| PepperError::Io {
                path: path.to_owned(),
                source,
            })?;
        Self::parse(&text)
    }

    /// Parses a pepper document (from an environment variable).
    ///
    /// # Errors
    /// If it is malformed.
    pub fn parse(text: &str) -> Result<Self, PepperError> {
        let doc: PepperDoc = serde_json::from_str(text).map_err(|e| {
            PepperError::Malformed(format!("not a pepper document (line {})", e.line()))
        })?;
        if doc.format != PEPPER_FORMAT {
            return Err(PepperError::Malformed(format!(
                "unsupported format {}",
                doc.format
            )));
        }
        let mut peppers = BTreeMap::new();
        for entry in &doc.peppers {
            let bytes = Zeroizing::new(STANDARD.decode(entry.value.as_bytes()).map_err(|_| {
                PepperError::Malformed(format!("pepper {} is not base64", entry.version))
            })?);
            let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                PepperError::Malformed(format!("pepper {} is not 256 bits", entry.version))
            })?;
            peppers.insert(
                entry.version,
                Pepper {
                    version: entry.version,
                    bytes: Zeroizing::new(arr),
                },
            );
        }
        if !peppers.contains_key(&doc.current) {
            return Err(PepperError::Malformed(format!(
                "current pepper version {} is missing",
                doc.current
            )));
        }
        Ok(Self {
            current: doc.current,
            peppers,
        })
    }

    /// The pepper for new hashes.
    #[must_use]
    pub fn current(&self) -> Option<&Pepper> {
        self.peppers.get(&self.current)
    }

    /// The pepper a stored hash was made with.
    #[must_use]
    pub fn get(&self, version: u32) -> Option<&Pepper> {
        self.peppers.get(&version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SEC-02: a fresh pepper is 256 bits, kept in a 0600 file, and never printed.
    #[test]
    fn sec_02_pepper_file_round_trip() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("pepper.json");
        PepperSet::create_file(&path, OffsetDateTime::UNIX_EPOCH)?;
        assert!(!secret_file::is_exposed(&path)?);
        let set = PepperSet::load_file(&path)?;
        let current = set.current().ok_or("no current pepper")?;
        assert_eq!(current.version(), 1);
        assert_eq!(current.expose().len(), 32);
        assert!(format!("{set:?} {current:?}").contains("redacted"));
        let other = tempfile::tempdir()?;
        let path2 = other.path().join("pepper.json");
        PepperSet::create_file(&path2, OffsetDateTime::UNIX_EPOCH)?;
        let set2 = PepperSet::load_file(&path2)?;
        assert_ne!(
            set2.current().map(Pepper::expose),
            set.current().map(Pepper::expose)
        );
        Ok(())
    }

    #[test]
    fn missing_pepper_names_the_file() {
        let err = PepperSet::load_file(Path::new("/nonexistent/pepper.json"));
        assert!(matches!(&err, Err(PepperError::Io { .. })));
        if let Err(e) = err {
            assert!(e.to_string().contains("/nonexistent/pepper.json"));
        }
    }
}
