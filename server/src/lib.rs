//! The `privacy-portal` binary's library: configuration, the managed
//! Postgres cluster, HTTP wiring, the job worker and the CLI commands.

pub mod auth_layer;
pub mod backup;
pub mod cli;
pub mod config;
pub mod middleware;
pub mod page_cache;
pub mod postgres;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod worker;
