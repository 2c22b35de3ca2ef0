//! What each role may do: the one table of permissions (SEC-35), and the checked values that
//! only this policy hands out (SEC-32).
//!
//! Routes declare the [`Permission`] they need (`attest_web::router::ROUTES`), and domain
//! services check the object itself: a contributor edits what they own, an external sees
//! only what is shared with them. Objects a caller may not see are reported exactly like
//! missing ones.

use attest_types::{Role, TenantId, UserId};

use crate::authn::sessions::VerifiedSession;

/// A capability in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// See who the members are (everyone but externals, SEC-36).
    ListMembers,
    /// Invite, change roles, remove members, end their sessions, review access; change the
    /// tenant's security settings (owners and admins).
    ManageTenant,
    /// Create objects in the programme and edit those one owns.
    Contribute,
    /// Edit and delete any object, and share objects (compliance managers and above).
    ManageContent,
    /// Export lists and reports (everyone but externals, SEC-36).
    Export,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Self; 5] = [
        Self::ListMembers,
        Self::ManageTenant,
        Self::Contribute,
        Self::ManageContent,
        Self::Export,
    ];

    /// Whether `role` has this permission: the whole role model in one table.
    #[must_use]
    pub const fn granted_to(self, role: Role) -> bool {
        use Role::{Admin, Auditor, Contributor, Manager, Owner};
        match self {
            Self::ListMembers | Self::Export => {
                matches!(role, Owner | Admin | Manager | Contributor | Auditor)
            }
            Self::ManageTenant => matches!(role, Owner | Admin),
            Self::Contribute => matches!(role, Owner | Admin | Manager | Contributor),
            Self::ManageContent => matches!(role, Owner | Admin | Manager),
        }
    }
}

/// Which objects of the tenant a member sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Every object of the tenant.
    Tenant,
    /// Only objects shared with them, while the share lasts (externals always; auditors
    /// limited to an audit scope).
    SharedOnly,
}

/// The caller as the policy sees them in their current tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The tenant.
    pub tenant: TenantId,
    /// The user.
    pub user: UserId,
    /// Their role there.
    pub role: Role,
    /// What they see.
    pub visibility: Visibility,
}

/// A refusal. Services map [`Denied::NotVisible`] to "not found" (SEC-32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No tenant selected, or the object is not visible: the same as missing.
    #[error("not found")]
    NotVisible,
    /// The caller sees the object (or the list) but may not do this.
    #[error("forbidden")]
    Forbidden,
}

impl From<Denied> for crate::identity::IdentityError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotVisible => Self::NotFound,
            Denied::Forbidden => Self::Forbidden,
        }
    }
}

impl Caller {
    /// The caller of a session in its tenant.
    ///
    /// # Errors
    /// [`Denied::NotVisible`] when the session has no tenant.
    pub fn of(session: &VerifiedSession) -> Result<Self, Denied> {
        let (tenant, role) = session.tenant.ok_or(Denied::NotVisible)?;
        Ok(Self {
            tenant,
            user: session.user,
            role,
            visibility: session.visibility,
        })
    }

    /// The caller of a session, who must have `permission` in its tenant.
    ///
    /// # Errors
    /// [`Denied::NotVisible`] without a tenant, [`Denied::Forbidden`] without the permission.
    pub fn with(session: &VerifiedSession, permission: Permission) -> Result<Self, Denied> {
        let c = Self::of(session)?;
        c.require(permission)?;
        Ok(c)
    }

    /// Whether the caller has `permission`.
    #[must_use]
    pub const fn may(&self, permission: Permission) -> bool {
        permission.granted_to(self.role)
    }

    /// `Ok` when the caller has `permission`.
    ///
    /// # Errors
    /// [`Denied::Forbidden`] otherwise.
    pub const fn require(&self, permission: Permission) -> Result<(), Denied> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(Denied::Forbidden)
        }
    }
}

impl Caller {
    /// Records that this caller was refused `action` on object `requested` of `kind` (they saw
    /// 404 or 403, SEC-32): the attempt is in the tenant's audit trail as `access.denied`.
    ///
    /// # Errors
    /// When the audit trail cannot record it.
    pub(crate) async fn audit_denial(
        &self,
        audit: &crate::audit::AuditLog,
        kind: &str,
        requested: &str,
        action: &str,
        origin: crate::identity::Origin,
    ) -> Result<(), crate::audit::AuditError> {
        use crate::audit::{AuditRecord, Outcome};
        let requested: String = requested.chars().take(64).collect();
        let r = AuditRecord::tenant(
            self.tenant,
            attest_types::Actor::User(self.user),
            "access.denied",
            Outcome::Denied,
        )
        .request(origin.ip, origin.request_id)
        .object(kind, requested)
        .details(serde_json::json!({ "action": action }));
        audit.record(r).await.map(|_| ())
    }
}

/// A value the policy let this caller see. Only domain services construct it, after their
/// per-object check, so a handler cannot render an object it has not been allowed
/// (kanidm's "reduced entries" idea).
#[derive(Debug, Clone)]
pub struct Granted<T>(T);

impl<T> Granted<T> {
    /// Wraps a value that passed the policy (domain services only).
    pub(crate) const fn new(value: T) -> Self {
        Self(value)
    }

    /// The value.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Granted<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn externals_list_no_members_and_export_nothing() {
        for p in Permission::ALL {
            assert!(!p.granted_to(Role::External), "{p:?}");
        }
    }

    #[test]
    fn auditors_read_and_export_but_change_nothing() {
        assert!(Permission::Export.granted_to(Role::Auditor));
        assert!(Permission::ListMembers.granted_to(Role::Auditor));
        assert!(!Permission::Contribute.granted_to(Role::Auditor));
        assert!(!Permission::ManageContent.granted_to(Role::Auditor));
        assert!(!Permission::ManageTenant.granted_to(Role::Auditor));
    }

    #[test]
    fn only_owners_and_admins_manage_the_tenant() {
        let managers: Vec<_> = Role::ALL
            .into_iter()
            .filter(|r| Permission::ManageTenant.granted_to(*r))
            .collect();
        assert_eq!(managers, [Role::Owner, Role::Admin]);
        assert!(Permission::ManageContent.granted_to(Role::Manager));
        assert!(!Permission::ManageContent.granted_to(Role::Contributor));
    }
}
