//! Pure rules of the portal: typed values and the decisions made on them.
//! Nothing here performs I/O, so everything is unit-tested in place.

pub mod audit;
pub mod clinic;
pub mod email;
pub mod jobs;
pub mod locale;
pub mod roles;
pub mod text;
