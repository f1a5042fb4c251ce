//! What every request handler and page can reach.

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::crypto::Crypto;
use crate::backend::db::Db;

/// Development or production behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Settings the app needs at run time, already validated by the server's
/// configuration loader.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Absolute base for links in emails, without a trailing slash.
    pub base_url: String,
    pub environment: Environment,
    pub data_dir: PathBuf,
    /// `From:` of every email, e.g. `Clinic Privacy Portal <privacy@example.org>`.
    pub mail_from: String,
}

impl Settings {
    /// `base_url` joined with an absolute path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
}

/// Shared state: the database, settings and the secrets box.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub crypto: Crypto,
}
