//! Versioned documents: the public pages (current version, history, one
//! version, word diff, subscription) and the editors' pages.

pub mod admin;
pub mod public;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// Route parameter `name`, if the route has it.
pub fn param(name: &str) -> Option<String> {
    use_params_map().read_untracked().get(name)
}

/// A date as people read it.
pub fn day(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%-d %B %Y").to_string()
}
