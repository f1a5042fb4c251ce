//! Pure rules of the portal: typed values and the decisions made on them.
//! Nothing here performs I/O, so everything is unit-tested in place.

pub mod audit;
pub mod clinic;
pub mod clinic_profile;
pub mod csv;
pub mod deadline;
pub mod diff;
pub mod email;
pub mod files;
pub mod forms;
pub mod jobs;
pub mod locale;
pub mod markdown;
pub mod meta;
pub mod notices;
pub mod pagination;
pub mod permissions;
pub mod recipients;
pub mod requests;
pub mod roles;
pub mod security;
pub mod session;
pub mod sso;
pub mod subprocessors;
pub mod team;
pub mod text;
pub mod tokens;
