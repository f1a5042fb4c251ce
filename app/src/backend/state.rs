//! What every request handler and page can reach.

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::clock::Clock;
use crate::backend::crypto::Crypto;
use crate::backend::db::Db;
use crate::domain::session::SessionPolicy;

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
    /// Idle and absolute limits of signed-in sessions.
    pub sessions: SessionPolicy,
    /// Privacy requests accepted from one IP address per hour.
    pub request_rate_per_hour: u32,
}

impl Settings {
    /// `base_url` joined with an absolute path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The origin (`scheme://host[:port]`) the portal is served from.
    pub fn origin(&self) -> String {
        crate::domain::security::origin_of(&self.base_url).unwrap_or_else(|| self.base_url.clone())
    }

    /// Host name used on the right of generated `Message-ID`s.
    pub fn message_domain(&self) -> String {
        self.base_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .filter(|host| !host.is_empty())
            .unwrap_or("localhost")
            .to_owned()
    }
}

/// Shared state: the database, settings and the secrets box. Handlers and
/// layers clone it for every request, so it is one shared reference; its
/// parts are reached through it (`state.db`).
#[derive(Clone)]
pub struct AppState(Arc<AppServices>);

impl AppState {
    pub fn new(services: AppServices) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppServices;

    fn deref(&self) -> &AppServices {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppServices {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub crypto: Crypto,
    pub clock: Arc<dyn Clock>,
    /// Caches and record writers of the consent service.
    pub consent: crate::backend::services::consent::Runtime,
    /// Public profiles of active clinics, for public pages and forms.
    pub clinics: crate::backend::services::clinics::PublicClinics,
}
