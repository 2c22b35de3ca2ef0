//! Who did something. Every audit entry names its actor.

use std::fmt;

use crate::ids::UserId;

/// The party on whose behalf an action runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The server itself (start, stop, scheduled jobs).
    System,
    /// The operator at the command line (`attest migrate`, `attest keys rotate`…).
    Operator,
    /// A request from someone not signed in.
    Anonymous,
    /// A signed-in user.
    User(UserId),
}

impl Actor {
    /// The kind of actor, as stored in the audit trail.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Operator => "operator",
            Self::Anonymous => "anonymous",
            Self::User(_) => "user",
        }
    }

    /// The user behind the actor, if any.
    #[must_use]
    pub const fn user_id(&self) -> Option<UserId> {
        match self {
            Self::User(id) => Some(*id),
            _ => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => write!(f, "user:{id}"),
            other => f.write_str(other.kind()),
        }
    }
}
