//! One module per screen.

pub mod clinic;
pub mod error;
pub mod home;
