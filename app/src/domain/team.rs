//! Rules for changing a clinic's team.

use super::permissions::{ClinicPermission, allows};
use super::roles::ClinicRole;

/// Why a team change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamRuleError {
    #[error("A clinic must keep at least one Owner. Make someone else Owner first.")]
    LastOwner,
    #[error("Only an Owner can make, change or remove Owners.")]
    OwnersOnlyByOwners,
    #[error("You do not have permission to manage the team.")]
    NotAllowed,
}

/// Checks that `actor` may move a member from `current` to `new` role, given
/// how many owners the clinic has.
pub fn check_role_change(
    actor: ClinicRole,
    current: ClinicRole,
    new: ClinicRole,
    owners: usize,
) -> Result<(), TeamRuleError> {
    if !allows(actor, ClinicPermission::ManageTeam) {
        return Err(TeamRuleError::NotAllowed);
    }
    let touches_owner = current == ClinicRole::Owner || new == ClinicRole::Owner;
    if touches_owner && !allows(actor, ClinicPermission::ManageOwners) {
        return Err(TeamRuleError::OwnersOnlyByOwners);
    }
    if current == ClinicRole::Owner && new != ClinicRole::Owner && owners <= 1 {
        return Err(TeamRuleError::LastOwner);
    }
    Ok(())
}

/// Checks that `actor` may remove a member who has `role`.
pub fn check_removal(
    actor: ClinicRole,
    role: ClinicRole,
    owners: usize,
) -> Result<(), TeamRuleError> {
    if !allows(actor, ClinicPermission::ManageTeam) {
        return Err(TeamRuleError::NotAllowed);
    }
    if role == ClinicRole::Owner {
        if !allows(actor, ClinicPermission::ManageOwners) {
            return Err(TeamRuleError::OwnersOnlyByOwners);
        }
        if owners <= 1 {
            return Err(TeamRuleError::LastOwner);
        }
    }
    Ok(())
}

/// Checks that `actor` may invite someone as `role`.
pub fn check_invitation(actor: ClinicRole, role: ClinicRole) -> Result<(), TeamRuleError> {
    if !allows(actor, ClinicPermission::ManageTeam) {
        return Err(TeamRuleError::NotAllowed);
    }
    if role == ClinicRole::Owner && !allows(actor, ClinicPermission::ManageOwners) {
        return Err(TeamRuleError::OwnersOnlyByOwners);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClinicRole::*;

    #[test]
    fn the_last_owner_can_be_neither_demoted_nor_removed() {
        assert_eq!(
            check_role_change(Owner, Owner, Admin, 1),
            Err(TeamRuleError::LastOwner)
        );
        assert_eq!(
            check_removal(Owner, Owner, 1),
            Err(TeamRuleError::LastOwner)
        );
        assert_eq!(check_role_change(Owner, Owner, Admin, 2), Ok(()));
        assert_eq!(check_removal(Owner, Owner, 2), Ok(()));
    }

    #[test]
    fn admins_manage_everyone_but_owners() {
        assert_eq!(check_role_change(Admin, Viewer, PrivacyOfficer, 1), Ok(()));
        assert_eq!(
            check_role_change(Admin, Viewer, Owner, 1),
            Err(TeamRuleError::OwnersOnlyByOwners)
        );
        assert_eq!(
            check_role_change(Admin, Owner, Viewer, 3),
            Err(TeamRuleError::OwnersOnlyByOwners)
        );
        assert_eq!(
            check_removal(Admin, Owner, 3),
            Err(TeamRuleError::OwnersOnlyByOwners)
        );
        assert_eq!(
            check_invitation(Admin, Owner),
            Err(TeamRuleError::OwnersOnlyByOwners)
        );
        assert_eq!(check_invitation(Admin, Admin), Ok(()));
    }

    #[test]
    fn privacy_officers_and_viewers_cannot_change_the_team() {
        for actor in [PrivacyOfficer, Viewer] {
            assert_eq!(
                check_role_change(actor, Viewer, Admin, 1),
                Err(TeamRuleError::NotAllowed)
            );
            assert_eq!(
                check_removal(actor, Viewer, 1),
                Err(TeamRuleError::NotAllowed)
            );
            assert_eq!(
                check_invitation(actor, Viewer),
                Err(TeamRuleError::NotAllowed)
            );
        }
    }
}
