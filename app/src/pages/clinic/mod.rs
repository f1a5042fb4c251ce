//! Public pages of one clinic: `/c/{clinic}/...`.

pub mod privacy;
