//! Widgets shared by several pages.

pub mod admin_layout;
pub mod forms;
pub mod layout;
pub mod pager;
