//! A clinic's admin pages: `/admin/c/{clinic}/...`.

pub mod audit;
pub mod dashboard;
pub mod meta;
pub mod requests;
pub mod retention;
pub mod settings;
pub mod sso;
pub mod team;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// The `{clinic}` of the current route.
pub fn clinic_slug() -> String {
    use_params_map()
        .read_untracked()
        .get("clinic")
        .unwrap_or_default()
}

/// A date and time as people read it (UTC).
pub fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}
