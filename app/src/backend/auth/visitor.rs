//! The person behind a request, as pages and handlers see them.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::backend::db::schema::{clinics, memberships, users};
use crate::backend::db::{Db, DbError};
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::permissions::{self, ClinicPermission, PlatformPermission};
use crate::domain::roles::{ClinicRole, PlatformRole};

/// A clinic the user belongs to, with their role there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClinicAccess {
    pub clinic_id: ClinicId,
    pub slug: String,
    pub name: String,
    pub role: ClinicRole,
}

/// A signed-in user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedInUser {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub platform_role: Option<PlatformRole>,
    /// Active clinics only, by name.
    pub clinics: Vec<ClinicAccess>,
}

impl SignedInUser {
    /// The user's access to the clinic with `slug`, if any.
    pub fn access(&self, slug: &str) -> Option<&ClinicAccess> {
        self.clinics.iter().find(|c| c.slug == slug)
    }

    /// Whether the user may do `permission` in the clinic with `slug`.
    pub fn can(&self, slug: &str, permission: ClinicPermission) -> bool {
        self.access(slug)
            .is_some_and(|a| permissions::allows(a.role, permission))
    }

    /// Whether the user may do `permission` on the platform.
    pub fn can_on_platform(&self, permission: PlatformPermission) -> bool {
        self.platform_role
            .is_some_and(|role| permissions::platform_allows(role, permission))
    }
}

/// Kind of a one-time message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashKind {
    Success,
    Info,
    Error,
}

/// A message shown once on the next page (after a redirect).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

impl Flash {
    /// A success message.
    pub fn success(message: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Success,
            message: message.into(),
        }
    }

    /// An informational message.
    pub fn info(message: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Info,
            message: message.into(),
        }
    }

    /// An error message.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Error,
            message: message.into(),
        }
    }
}

/// Everything known about who made the request; put in the request's
/// extensions by the server before any handler or page runs.
#[derive(Clone, Debug, Default)]
pub struct Visitor {
    pub user: Option<SignedInUser>,
    /// The session's form token, when the session has one.
    pub csrf: Option<String>,
    pub flash: Option<Flash>,
}

/// Loads a user with their active clinics; `None` when the user is gone or
/// disabled.
pub async fn load_user(db: &Db, id: Uuid) -> Result<Option<SignedInUser>, DbError> {
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            let user: Option<(Uuid, String, String, Option<String>)> = users::table
                .filter(users::id.eq(id))
                .filter(users::disabled_at.is_null())
                .select((
                    users::id,
                    users::email,
                    users::display_name,
                    users::platform_role,
                ))
                .first(c)
                .await
                .optional()?;
            let Some((id, email, display_name, platform_role)) = user else {
                return Ok(None);
            };
            let rows: Vec<(Uuid, String, String, String)> = memberships::table
                .inner_join(clinics::table)
                .filter(memberships::user_id.eq(id))
                // An offboarding clinic stays open to its team until its
                // data is deleted, so owners can download the export.
                .filter(clinics::status.eq_any(["active", "offboarding"]))
                .order(clinics::name.asc())
                .select((clinics::id, clinics::slug, clinics::name, memberships::role))
                .load(c)
                .await?;
            let clinics = rows
                .into_iter()
                .filter_map(|(clinic_id, slug, name, role)| {
                    Some(ClinicAccess {
                        clinic_id: ClinicId(clinic_id),
                        slug,
                        name,
                        role: role.parse().ok()?,
                    })
                })
                .collect();
            Ok::<_, DbError>(Some(SignedInUser {
                id,
                email,
                display_name,
                platform_role: platform_role.and_then(|r| r.parse().ok()),
                clinics,
            }))
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> SignedInUser {
        SignedInUser {
            id: Uuid::nil(),
            email: "dpo@clinic.example".into(),
            display_name: "DPO".into(),
            platform_role: None,
            clinics: vec![ClinicAccess {
                clinic_id: ClinicId(Uuid::nil()),
                slug: "north".into(),
                name: "North".into(),
                role: ClinicRole::PrivacyOfficer,
            }],
        }
    }

    #[test]
    fn access_is_per_clinic_and_per_permission() {
        let user = user();
        assert!(user.can("north", ClinicPermission::ManageRequests));
        assert!(!user.can("north", ClinicPermission::ManageTeam));
        assert!(!user.can("south", ClinicPermission::View));
        assert!(!user.can_on_platform(PlatformPermission::ManageClinics));
    }
}
