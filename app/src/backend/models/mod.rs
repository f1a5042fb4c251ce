//! Rows as stored. These are not wire types: pages and APIs get DTOs built
//! from them by the services.

pub mod audit;
pub mod clinic;
pub mod job;
pub mod user;
