//! Framework catalogues (issue 7): the requirements a programme answers to, as a tree.
//!
//! - [`tree`]: the one shape every format becomes, its checks and the comparison of two
//!   versions.
//! - [`oscal`]: NIST OSCAL catalogs (JSON), in and out.
//! - [`csv`]: a tenant's own or licensed framework as CSV (`id,title,text,parent`).
//! - [`yaml`]: the same rows as YAML, under `requirements`, with an optional title and version.
//! - `rows`: what the two tabular formats share, rows rebuilt into a tree.
//! - [`Baseline`]: the NIST SP 800-53 rev5 baselines shipped in the binary.

pub mod csv;
pub mod oscal;
mod rows;
pub mod tree;
pub mod yaml;

pub use tree::{Catalog, CatalogError, Changes, Node, NodeKind};

/// A NIST SP 800-53 rev5 baseline shipped in the binary (public domain; see
/// `crates/domain/data/oscal/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The LOW impact baseline.
    Low,
    /// The MODERATE impact baseline.
    Moderate,
    /// The HIGH impact baseline.
    High,
}

impl Baseline {
    /// Every shipped baseline.
    pub const ALL: [Self; 3] = [Self::Low, Self::Moderate, Self::High];

    /// Its short name (`low`, `moderate`, `high`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Moderate => "moderate",
            Self::High => "high",
        }
    }

    /// From its short name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// What people call it.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            Self::Low => "NIST SP 800-53 rev5 — LOW baseline",
            Self::Moderate => "NIST SP 800-53 rev5 — MODERATE baseline",
            Self::High => "NIST SP 800-53 rev5 — HIGH baseline",
        }
    }

    /// The OSCAL file as NIST publishes it.
    #[must_use]
    pub const fn oscal(self) -> &'static [u8] {
        match self {
            Self::Low => include_bytes!(
                "../../data/oscal/NIST_SP-800-53_rev5_LOW-baseline-resolved-profile_catalog-min.json"
            ),
            Self::Moderate => include_bytes!(
                "../../data/oscal/NIST_SP-800-53_rev5_MODERATE-baseline-resolved-profile_catalog-min.json"
            ),
            Self::High => include_bytes!(
                "../../data/oscal/NIST_SP-800-53_rev5_HIGH-baseline-resolved-profile_catalog-min.json"
            ),
        }
    }

    /// The baseline as a catalog, with its licence noted in the provenance.
    ///
    /// # Errors
    /// Never for the shipped files (a test proves it).
    pub fn catalog(self) -> Result<Catalog, CatalogError> {
        let mut c = oscal::import(self.oscal())?;
        if let Some(p) = c.provenance.as_object_mut() {
            p.insert("shipped".into(), self.as_str().into());
            p.insert(
                "licence".into(),
                "Public domain: a work of the United States Government (17 U.S.C. § 105), published by NIST in usnistgov/oscal-content."
                    .into(),
            );
        }
        Ok(c)
    }
}

/// An id made safe as an OSCAL token's tail: letters and digits kept, anything else `-`.
#[must_use]
pub fn slug(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests;
