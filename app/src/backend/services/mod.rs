//! Use cases. Each does its whole effect in one transaction: the change, its
//! audit event and any job it causes.

pub mod auth;
pub mod clinics;
pub mod consent;
pub mod demo;
pub mod exports;
pub mod notices;
pub mod offboarding;
pub mod patient_consent;
pub mod platform;
pub mod requests;
pub mod retention;
pub mod sso;
pub mod subprocessors;
pub mod team;
