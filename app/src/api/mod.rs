//! Thin entry points between pages and services: read the request's state,
//! authorize, call one service, map errors.

pub mod public;
