//! One module per screen.

pub mod admin;
pub mod auth;
pub mod clinic;
pub mod consent;
pub mod error;
pub mod home;
pub mod notices;
pub mod patient_consent;
pub mod platform;
pub mod requests;
pub mod subprocessors;
