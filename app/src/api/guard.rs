//! Authorization before any read: who may see or change what.

use axum::response::Response;
use http::StatusCode;
use http::request::Parts;
use leptos::prelude::use_context;

use super::{error_page, see_other};
use crate::backend::auth::visitor::{ClinicAccess, SignedInUser, Visitor};
use crate::domain::permissions::{ClinicPermission, PlatformPermission};

/// Why a request may not go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    /// Not signed in: go to the sign-in page, then back to `next`.
    SignIn { next: String },
    /// Not a member of the clinic (its admin pages do not exist for them).
    NotFound,
    /// A member without the needed role.
    Forbidden,
}

impl Denied {
    /// The response for a form handler.
    pub fn response(&self) -> Response {
        match self {
            Self::SignIn { next } => see_other(&login_url(next)),
            Self::NotFound => error_page(StatusCode::NOT_FOUND, "This page does not exist."),
            Self::Forbidden => error_page(
                StatusCode::FORBIDDEN,
                "Your role does not allow this. Ask an Owner or Admin of the clinic if you need it.",
            ),
        }
    }
}

/// `/login?next=…` for a path inside the portal.
pub fn login_url(next: &str) -> String {
    let next: String = form_urlencoded::byte_serialize(safe_next(next).as_bytes()).collect();
    format!("/login?next={next}")
}

/// Where to go after signing in: only a path of this site, never another
/// origin (`//evil.example`, `/\evil.example`).
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if ok {
        next.to_owned()
    } else {
        "/admin".to_owned()
    }
}

/// The signed-in user, or where to send them.
pub fn user(visitor: &Visitor, path: &str) -> Result<SignedInUser, Denied> {
    visitor.user.clone().ok_or_else(|| Denied::SignIn {
        next: path.to_owned(),
    })
}

/// The signed-in member of clinic `slug` allowed `permission`.
pub fn clinic(
    visitor: &Visitor,
    path: &str,
    slug: &str,
    permission: ClinicPermission,
) -> Result<(SignedInUser, ClinicAccess), Denied> {
    let user = user(visitor, path)?;
    let access = user.access(slug).cloned().ok_or(Denied::NotFound)?;
    if !crate::domain::permissions::allows(access.role, permission) {
        return Err(Denied::Forbidden);
    }
    Ok((user, access))
}

/// The signed-in operator allowed `permission`.
pub fn platform(
    visitor: &Visitor,
    path: &str,
    permission: PlatformPermission,
) -> Result<SignedInUser, Denied> {
    let user = user(visitor, path)?;
    if user.can_on_platform(permission) {
        Ok(user)
    } else {
        Err(Denied::NotFound)
    }
}

/// The visitor of the request being rendered (pages).
pub fn visitor() -> Visitor {
    use_context::<Parts>()
        .and_then(|p| p.extensions.get::<Visitor>().cloned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next("/admin/c/demo/team"), "/admin/c/demo/team");
        for evil in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "",
            "admin",
            "/x\n/y",
        ] {
            assert_eq!(safe_next(evil), "/admin", "{evil:?}");
        }
        assert_eq!(
            login_url("/admin/c/demo?x=1"),
            "/login?next=%2Fadmin%2Fc%2Fdemo%3Fx%3D1"
        );
    }
}
