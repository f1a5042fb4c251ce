//! The requester's pages: `/c/{clinic}/requests/...`.

pub mod form;
pub mod status;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// The `{clinic}` of the current route.
pub fn clinic_slug() -> String {
    use_params_map()
        .read_untracked()
        .get("clinic")
        .unwrap_or_default()
}

/// A route parameter.
pub fn param(name: &str) -> String {
    use_params_map()
        .read_untracked()
        .get(name)
        .unwrap_or_default()
}
