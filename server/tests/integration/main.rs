//! Integration tests: the real binary and library against a real Postgres
//! cluster and a real SMTP listener.

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod cli;
mod health;
mod jobs;
mod managed_postgres;
mod migrations;
mod pages;
mod tenancy;
