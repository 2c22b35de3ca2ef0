//! Roles a member holds in a tenant. The stored names are stable; what each role may do is
//! decided in one place, `attest_domain::access`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A member's role in one tenant, most privileged first. The order is the grant order:
/// nobody grants a role that sorts before their own (SEC-35).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Owns the tenant; a tenant always keeps at least one.
    Owner,
    /// Manages members and settings, and everything in the programme.
    Admin,
    /// Compliance manager: runs the programme (creates, edits, deletes, shares) but does not
    /// manage members or settings.
    Manager,
    /// Control or risk owner: reads the programme, creates, and edits what they own.
    Contributor,
    /// Reads the programme and exports it, changes nothing; usually with an end date.
    Auditor,
    /// A client or vendor: sees only what is shared with them, until the share ends.
    External,
}

impl Role {
    /// Every role, most privileged first.
    pub const ALL: [Self; 6] = [
        Self::Owner,
        Self::Admin,
        Self::Manager,
        Self::Contributor,
        Self::Auditor,
        Self::External,
    ];

    /// Stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::Contributor => "contributor",
            Self::Auditor => "auditor",
            Self::External => "external",
        }
    }

    /// The name shown to people.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Admin => "Admin",
            Self::Manager => "Compliance manager",
            Self::Contributor => "Contributor",
            Self::Auditor => "Auditor",
            Self::External => "External",
        }
    }

    /// Whether this role manages members (invites, changes roles, removes, reviews access).
    #[must_use]
    pub const fn manages_members(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// Whether `granter` may give this role: only member managers grant, and never a role
    /// above their own (SEC-35).
    #[must_use]
    pub fn grantable_by(self, granter: Self) -> bool {
        granter.manages_members() && self >= granter
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not a role name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown role (expected owner, admin, manager, contributor, auditor or external)")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownRole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("member".parse::<Role>().is_err());
        assert!("Owner".parse::<Role>().is_err());
    }

    #[test]
    fn nobody_grants_above_their_own_role() {
        assert!(Role::Owner.grantable_by(Role::Owner));
        assert!(!Role::Owner.grantable_by(Role::Admin));
        assert!(Role::Admin.grantable_by(Role::Admin));
        assert!(Role::External.grantable_by(Role::Admin));
        for r in Role::ALL {
            assert!(!r.grantable_by(Role::Manager));
            assert!(!r.grantable_by(Role::Auditor));
            assert!(!r.grantable_by(Role::External));
        }
    }
}
