//! The operators' pages: `/admin/platform/...`.

pub mod clinics;
pub mod overview;
pub mod sso;
