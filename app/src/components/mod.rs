//! Widgets shared by several pages.

pub mod admin_layout;
pub mod chart;
pub mod forms;
pub mod layout;
pub mod pager;
