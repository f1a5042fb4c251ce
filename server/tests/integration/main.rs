//! Integration tests: the real binary and library against a real Postgres
//! cluster and a real SMTP listener.

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod backup;
mod cli;
mod consent;
mod cross_tenant;
mod faults;
mod health;
mod hostile;
mod jobs;
mod managed_postgres;
mod meta;
mod migrations;
mod notices;
mod pages;
mod patient_consent;
mod platform;
mod requests;
mod retention;
mod sign_in;
mod sso;
mod subprocessors;
mod team;
mod tenancy;
