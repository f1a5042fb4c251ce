//! Who may do what. The permission table itself grows with the admin screens;
//! the roles are fixed by the product.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::clinic::InvalidValue;

/// A member's role inside one clinic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClinicRole {
    /// Everything, including SSO, the team and a request to delete the clinic.
    Owner,
    /// Everything but SSO and managing owners.
    Admin,
    /// Privacy requests, policies, consent, sub-processor objections, retention.
    PrivacyOfficer,
    /// Reads, never changes.
    Viewer,
}

impl ClinicRole {
    /// All roles, most powerful first.
    pub const ALL: [Self; 4] = [Self::Owner, Self::Admin, Self::PrivacyOfficer, Self::Viewer];

    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::PrivacyOfficer => "privacy_officer",
            Self::Viewer => "viewer",
        }
    }

    /// Name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Admin => "Admin",
            Self::PrivacyOfficer => "Privacy Officer",
            Self::Viewer => "Viewer",
        }
    }
}

impl FromStr for ClinicRole {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or(InvalidValue("one of owner, admin, privacy_officer, viewer"))
    }
}

impl fmt::Display for ClinicRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A role on the platform side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformRole {
    /// Runs the platform: notices, sub-processors, clinics.
    Operator,
}

impl PlatformRole {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
        }
    }
}

impl FromStr for PlatformRole {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "operator" => Ok(Self::Operator),
            _ => Err(InvalidValue("operator")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clinic_role_round_trips_through_its_stored_form() {
        for role in ClinicRole::ALL {
            assert_eq!(role.as_str().parse::<ClinicRole>(), Ok(role));
        }
        assert!("superuser".parse::<ClinicRole>().is_err());
        assert_eq!(
            "operator".parse::<PlatformRole>(),
            Ok(PlatformRole::Operator)
        );
    }
}
