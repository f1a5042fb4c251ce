//! What each role may do. Admin routes ask this table before reading anything.

use super::roles::{ClinicRole, PlatformRole};

/// Something a clinic member may be allowed to do inside their clinic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClinicPermission {
    /// See the clinic's admin pages, lists and the audit log.
    View,
    /// Work on patients' privacy requests.
    ManageRequests,
    /// Draft and publish the clinic's notices.
    ManagePolicies,
    /// Purposes, cookie inventory, consent records.
    ManageConsent,
    /// Object to the platform's sub-processor changes.
    ObjectToSubprocessors,
    /// Retention rules and purges.
    ManageRetention,
    /// The clinic's profile, deadline rule, contacts and website origins.
    ManageSettings,
    /// Invite members and change or remove non-owners.
    ManageTeam,
    /// Make, demote or remove owners.
    ManageOwners,
    /// The clinic's single sign-on connection.
    ManageSso,
    /// Ask the platform to offboard and delete the clinic; download its export.
    RequestDeletion,
}

impl ClinicPermission {
    /// Every permission.
    pub const ALL: [Self; 11] = [
        Self::View,
        Self::ManageRequests,
        Self::ManagePolicies,
        Self::ManageConsent,
        Self::ObjectToSubprocessors,
        Self::ManageRetention,
        Self::ManageSettings,
        Self::ManageTeam,
        Self::ManageOwners,
        Self::ManageSso,
        Self::RequestDeletion,
    ];
}

/// Whether `role` grants `permission`.
///
/// Owner: everything. Admin: everything but SSO, owners and deletion.
/// Privacy Officer: requests, policies, consent, sub-processor objections,
/// retention. Viewer: reading only.
pub fn allows(role: ClinicRole, permission: ClinicPermission) -> bool {
    use ClinicPermission as P;
    match role {
        ClinicRole::Owner => true,
        ClinicRole::Admin => !matches!(
            permission,
            P::ManageSso | P::ManageOwners | P::RequestDeletion
        ),
        ClinicRole::PrivacyOfficer => matches!(
            permission,
            P::View
                | P::ManageRequests
                | P::ManagePolicies
                | P::ManageConsent
                | P::ObjectToSubprocessors
                | P::ManageRetention
        ),
        ClinicRole::Viewer => permission == P::View,
    }
}

/// Something the platform's operators may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlatformPermission {
    /// List, create, suspend and offboard clinics.
    ManageClinics,
    /// The platform's notices and DPA.
    ManagePlatformPolicies,
    /// The sub-processor register and its announcements.
    ManageSubprocessors,
    /// The operators' single sign-on connection.
    ManagePlatformSso,
}

/// Whether `role` grants `permission`. Operators run the platform; they do not
/// get into clinics' data, which stays with the clinics (the controllers).
pub fn platform_allows(role: PlatformRole, _permission: PlatformPermission) -> bool {
    match role {
        PlatformRole::Operator => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClinicPermission as P;

    /// The table as the product defines it, written out in full.
    fn expected(role: ClinicRole) -> Vec<ClinicPermission> {
        match role {
            ClinicRole::Owner => P::ALL.to_vec(),
            ClinicRole::Admin => vec![
                P::View,
                P::ManageRequests,
                P::ManagePolicies,
                P::ManageConsent,
                P::ObjectToSubprocessors,
                P::ManageRetention,
                P::ManageSettings,
                P::ManageTeam,
            ],
            ClinicRole::PrivacyOfficer => vec![
                P::View,
                P::ManageRequests,
                P::ManagePolicies,
                P::ManageConsent,
                P::ObjectToSubprocessors,
                P::ManageRetention,
            ],
            ClinicRole::Viewer => vec![P::View],
        }
    }

    #[test]
    fn the_permission_table_matches_the_roles() {
        for role in ClinicRole::ALL {
            let granted: Vec<_> = P::ALL.into_iter().filter(|p| allows(role, *p)).collect();
            assert_eq!(granted, expected(role), "{role:?}");
        }
    }

    #[test]
    fn every_role_can_view_and_only_owners_touch_sso_and_owners() {
        for role in ClinicRole::ALL {
            assert!(allows(role, P::View));
            assert_eq!(allows(role, P::ManageSso), role == ClinicRole::Owner);
            assert_eq!(allows(role, P::ManageOwners), role == ClinicRole::Owner);
        }
    }

    #[test]
    fn operators_run_the_platform() {
        assert!(platform_allows(
            PlatformRole::Operator,
            PlatformPermission::ManageClinics
        ));
        assert!(platform_allows(
            PlatformRole::Operator,
            PlatformPermission::ManagePlatformSso
        ));
    }
}
