//! Server-side half of the app: persistence, services, email and jobs.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod crypto;
pub mod db;
pub mod email;
pub mod error;
pub mod jobs;
pub mod models;
pub mod ratelimit;
pub mod services;
pub mod state;
pub mod tenancy;
