//! Data classification. Every stored field is tagged with one of these levels (SEC-63); the
//! level selects the data-encryption key, and later drives logging, retention and export.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How sensitive a piece of data is, from most to least.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    /// Customer data, credentials' second factors, logs (SECURITY.md C-7).
    Critical,
    /// Audit evidence and internal records (the default for evidence).
    High,
    /// Internal but not sensitive.
    Moderate,
    /// Low impact if disclosed.
    Low,
    /// Meant to be published.
    Public,
}

impl Classification {
    /// All levels, most sensitive first.
    pub const ALL: [Self; 5] = [
        Self::Critical,
        Self::High,
        Self::Moderate,
        Self::Low,
        Self::Public,
    ];

    /// The stable lowercase name used in storage, configuration and APIs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Moderate => "moderate",
            Self::Low => "low",
            Self::Public => "public",
        }
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the five classification levels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown classification (expected one of critical, high, moderate, low, public)")]
pub struct UnknownClassification;

impl FromStr for Classification {
    type Err = UnknownClassification;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownClassification)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Classification::ALL {
            assert_eq!(c.as_str().parse::<Classification>(), Ok(c));
        }
        assert!("secret".parse::<Classification>().is_err());
    }
}
