//! Typed identifiers. Each kind of id is its own type so that a `TenantId` can never be passed
//! where a `UserId` is expected. Ids are random UUIDv4 (122 random bits): they reveal no order,
//! time or creator (SEC-33).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Defines a UUID newtype with parsing, display and serde support.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random id (UUIDv4, 122 random bits from the OS generator).
            #[must_use]
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps a UUID read from storage.
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID, for storage.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId)
            }
        }
    };
}

/// A string that is not a well-formed id. Carries no detail on purpose: the caller answers
/// "not found", exactly as for an id that does not exist (SEC-32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid identifier")]
pub struct InvalidId;

uuid_id!(
    /// A tenant (organisation).
    TenantId
);
uuid_id!(
    /// A user identity (one per email address, member of any number of tenants).
    UserId
);
uuid_id!(
    /// A sign-in session (its id, shown in the session list; never the cookie token).
    SessionId
);
uuid_id!(
    /// One entry of the audit trail.
    AuditEventId
);
uuid_id!(
    /// A document.
    DocumentId
);
uuid_id!(
    /// A share of one object with one member.
    ShareId
);
uuid_id!(
    /// An evidence record of the evidence library.
    EvidenceId
);
uuid_id!(
    /// A framework (a catalogue of requirements).
    FrameworkId
);
uuid_id!(
    /// A requirement (or a group of them) of a framework.
    RequirementId
);
uuid_id!(
    /// A control of the organisation.
    ControlId
);
uuid_id!(
    /// A recurring activity that tests a control.
    ActivityId
);
uuid_id!(
    /// One run of an activity (one period).
    RunId
);
uuid_id!(
    /// A risk in the register.
    RiskId
);
uuid_id!(
    /// The correlation id of one HTTP request; shown in error bodies and written to logs and
    /// the audit trail so that an operator can find the matching entries.
    RequestId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() -> Result<(), InvalidId> {
        let id = TenantId::new_random();
        let parsed: TenantId = id.to_string().parse()?;
        assert_eq!(id, parsed);
        Ok(())
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert_eq!("not-an-id".parse::<UserId>(), Err(InvalidId));
        assert_eq!("".parse::<UserId>(), Err(InvalidId));
    }

    #[test]
    fn random_ids_are_version_4() {
        assert_eq!(UserId::new_random().as_uuid().get_version_num(), 4);
    }
}
