//! Typed configuration from the environment (and an optional `.env` file).
//! Every invalid value stops start-up with a message naming its variable.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use app::backend::crypto::MasterKey;
use app::backend::state::Environment;
use app::domain::session::SessionPolicy;
use secrecy::{ExposeSecret, SecretString};

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

fn invalid(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the binary reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// External Postgres; `None` runs the managed local cluster.
    pub database_url: Option<SecretString>,
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    /// `None` derives `http://{bound address}` once the listener is bound.
    pub base_url: Option<String>,
    pub smtp_url: Option<SecretString>,
    pub master_key: Option<SecretString>,
    pub environment: Environment,
    pub log_format: LogFormat,
    pub mail_from: String,
    /// Jobs one worker runs at once.
    pub worker_concurrency: usize,
    /// How long a worker's claim on a job lasts without renewal; a killed
    /// worker's jobs are taken over after it.
    pub worker_lease: std::time::Duration,
    /// Most change-notice emails sent per second.
    pub campaign_rate: u32,
    /// Consent API requests accepted per minute from one address.
    pub consent_rate_per_minute: u32,
    /// Privacy requests accepted from one IP address per hour.
    pub request_rate_per_hour: u32,
    /// Consent record writers committing batches side by side.
    pub consent_writers: usize,
    /// Maximum pooled database connections of this process.
    pub db_pool_size: usize,
    /// Idle and absolute limits of signed-in sessions.
    pub sessions: SessionPolicy,
    /// Where encrypted backups are written (`PORTAL_BACKUP_DIR`).
    pub backup_dir: Option<PathBuf>,
    /// When set, `/metrics` answers only requests bearing this token.
    pub metrics_token: Option<SecretString>,
    /// When set, `/metrics` is served on this address alone, not beside the
    /// portal's pages.
    pub metrics_bind: Option<SocketAddr>,
}

impl Config {
    /// Reads the process environment, after loading `.env` if present.
    pub fn from_env() -> Result<Self, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(invalid(".env", e.to_string())),
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let environment = match get("PORTAL_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "PORTAL_ENV",
                    format!("must be `development` or `production`, not `{other}`"),
                ));
            }
        };

        let database_url = match get("DATABASE_URL") {
            None => None,
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Some(SecretString::from(url))
            }
            Some(_) => {
                return Err(invalid(
                    "DATABASE_URL",
                    "must start with postgres:// or postgresql://",
                ));
            }
        };

        let data_dir = PathBuf::from(get("PORTAL_DATA_DIR").unwrap_or_else(|| ".data".to_owned()));

        let bind = parse_bind(get("PORTAL_BIND").as_deref().unwrap_or("127.0.0.1:3000"))?;

        let base_url = match get("PORTAL_BASE_URL") {
            None => None,
            Some(url) => Some(parse_base_url(&url)?),
        };

        let smtp_url = match get("SMTP_URL") {
            None => None,
            Some(url) if url.starts_with("smtp://") || url.starts_with("smtps://") => {
                Some(SecretString::from(url))
            }
            Some(_) => {
                return Err(invalid(
                    "SMTP_URL",
                    "must start with smtp:// or smtps:// (e.g. smtp://127.0.0.1:2525)",
                ));
            }
        };

        let master_key = get("PORTAL_MASTER_KEY").map(SecretString::from);
        if let Some(key) = &master_key {
            MasterKey::parse(key.expose_secret())
                .map_err(|e| invalid("PORTAL_MASTER_KEY", e.to_string()))?;
        } else if environment == Environment::Production {
            return Err(invalid(
                "PORTAL_MASTER_KEY",
                "is required when PORTAL_ENV=production",
            ));
        }
        if environment == Environment::Production
            && base_url
                .as_deref()
                .is_none_or(|u| !u.starts_with("https://"))
        {
            return Err(invalid(
                "PORTAL_BASE_URL",
                "must be an https:// URL when PORTAL_ENV=production",
            ));
        }

        let log_format = match get("PORTAL_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "PORTAL_LOG_FORMAT",
                    format!("must be `text` or `json`, not `{other}`"),
                ));
            }
        };

        let mail_from = get("PORTAL_MAIL_FROM").unwrap_or_else(|| {
            "Clinic Privacy Portal <no-reply@privacy-portal.localhost>".to_owned()
        });
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "PORTAL_MAIL_FROM",
                "must be an address such as `Privacy Team <privacy@example.org>`",
            ));
        }

        let worker_concurrency = parse_count(&get, "PORTAL_WORKER_CONCURRENCY", 4, 1..=64)?;
        let worker_lease = std::time::Duration::from_secs(parse_count(
            &get,
            "PORTAL_WORKER_LEASE_SECONDS",
            60,
            2..=3600,
        )? as u64);
        let campaign_rate =
            u32::try_from(parse_count(&get, "PORTAL_CAMPAIGN_RATE", 200, 1..=100_000)?)
                .unwrap_or(200);
        let consent_rate_per_minute = u32::try_from(parse_count(
            &get,
            "PORTAL_CONSENT_RATE_PER_MINUTE",
            600,
            1..=10_000_000,
        )?)
        .unwrap_or(600);
        let request_rate_per_hour = u32::try_from(parse_count(
            &get,
            "PORTAL_REQUEST_RATE_PER_HOUR",
            10,
            1..=10_000_000,
        )?)
        .unwrap_or(10);
        let consent_writers = parse_count(
            &get,
            "PORTAL_CONSENT_WRITERS",
            app::backend::services::consent::DEFAULT_WRITERS,
            1..=32,
        )?;
        let db_pool_size = parse_count(&get, "PORTAL_DB_POOL_SIZE", 16, 2..=256)?;
        let idle_minutes = parse_count(&get, "PORTAL_SESSION_IDLE_MINUTES", 30, 5..=1440)?;
        let max_hours = parse_count(&get, "PORTAL_SESSION_MAX_HOURS", 12, 1..=168)?;
        let sessions = SessionPolicy {
            idle: chrono::Duration::minutes(i64::try_from(idle_minutes).unwrap_or(30)),
            absolute: chrono::Duration::hours(i64::try_from(max_hours).unwrap_or(12)),
        };

        let metrics_token = match get("PORTAL_METRICS_TOKEN") {
            None => None,
            Some(token)
                if token.len() >= 16
                    && token.len() <= 256
                    && token.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Some(SecretString::from(token))
            }
            Some(_) => {
                return Err(invalid(
                    "PORTAL_METRICS_TOKEN",
                    "must be 16 to 256 printable characters without spaces",
                ));
            }
        };
        let metrics_bind = match get("PORTAL_METRICS_BIND") {
            None => None,
            Some(text) => {
                Some(parse_bind(&text).map_err(|e| invalid("PORTAL_METRICS_BIND", e.message))?)
            }
        };

        let backup_dir = get("PORTAL_BACKUP_DIR")
            .filter(|dir| !dir.trim().is_empty())
            .map(PathBuf::from);

        Ok(Self {
            database_url,
            data_dir,
            bind,
            base_url,
            smtp_url,
            master_key,
            environment,
            log_format,
            mail_from,
            worker_concurrency,
            worker_lease,
            campaign_rate,
            consent_rate_per_minute,
            request_rate_per_hour,
            consent_writers,
            db_pool_size,
            sessions,
            metrics_token,
            metrics_bind,
            backup_dir,
        })
    }

    /// The master key: from `PORTAL_MASTER_KEY`, or in development a key
    /// generated once into `{data_dir}/master.key` (mode 600).
    pub fn load_master_key(&self) -> Result<MasterKey, ConfigError> {
        if let Some(key) = &self.master_key {
            return MasterKey::parse(key.expose_secret())
                .map_err(|e| invalid("PORTAL_MASTER_KEY", e.to_string()));
        }
        let path = self.data_dir.join("master.key");
        load_or_create_key(&path).map_err(|message| invalid("PORTAL_MASTER_KEY", message))
    }

    /// The folder where emails are written when `SMTP_URL` is unset.
    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }
}

fn parse_count(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ConfigError> {
    match get(variable) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                invalid(
                    variable,
                    format!("must be a number from {} to {}", range.start(), range.end()),
                )
            }),
    }
}

/// `host:port`, `:port` (loopback) or `port`.
fn parse_bind(text: &str) -> Result<SocketAddr, ConfigError> {
    let message =
        || format!("must be an address with a port such as 127.0.0.1:3000 or :0, not `{text}`");
    if let Some(port) = text.strip_prefix(':') {
        let port = port
            .parse::<u16>()
            .map_err(|_| invalid("PORTAL_BIND", message()))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        let port = port
            .parse::<u16>()
            .map_err(|_| invalid("PORTAL_BIND", message()))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| invalid("PORTAL_BIND", message()))
}

/// An absolute http(s) URL without query or fragment; stored without a
/// trailing slash.
fn parse_base_url(text: &str) -> Result<String, ConfigError> {
    let message = "must be an absolute http:// or https:// URL such as https://privacy.example.org";
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| invalid("PORTAL_BASE_URL", message))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || text.contains(['?', '#', ' ']) {
        return Err(invalid("PORTAL_BASE_URL", message));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn load_or_create_key(path: &Path) -> Result<MasterKey, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => MasterKey::parse(&text).map_err(|e| format!("{} {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
            let key = MasterKey::generate();
            let mut file = std::fs::OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("creating {}: {e}", path.display()))?;
            std::io::Write::write_all(&mut file, key.to_base64().as_bytes())
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a development master key");
            Ok(key)
        }
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    fn error_variable(vars: &[(&str, &str)]) -> &'static str {
        config(vars).expect_err("should be refused").variable
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = config(&[]).expect("defaults are valid");
        assert!(c.database_url.is_none());
        assert_eq!(c.data_dir, PathBuf::from(".data"));
        assert_eq!(c.bind.to_string(), "127.0.0.1:3000");
        assert!(c.base_url.is_none());
        assert!(c.smtp_url.is_none());
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn bind_accepts_the_usual_forms() {
        assert_eq!(
            config(&[("PORTAL_BIND", ":0")])
                .expect("ok")
                .bind
                .to_string(),
            "127.0.0.1:0"
        );
        assert_eq!(
            config(&[("PORTAL_BIND", "0.0.0.0:8080")])
                .expect("ok")
                .bind
                .to_string(),
            "0.0.0.0:8080"
        );
        assert_eq!(
            config(&[("PORTAL_BIND", "localhost:4000")])
                .expect("ok")
                .bind
                .port(),
            4000
        );
        assert_eq!(
            error_variable(&[("PORTAL_BIND", "somewhere")]),
            "PORTAL_BIND"
        );
        assert_eq!(error_variable(&[("PORTAL_BIND", ":99999")]), "PORTAL_BIND");
    }

    #[test]
    fn invalid_values_name_their_variable() {
        assert_eq!(
            error_variable(&[("DATABASE_URL", "mysql://x")]),
            "DATABASE_URL"
        );
        assert_eq!(
            error_variable(&[("SMTP_URL", "mail.example.org")]),
            "SMTP_URL"
        );
        assert_eq!(error_variable(&[("PORTAL_ENV", "staging")]), "PORTAL_ENV");
        assert_eq!(
            error_variable(&[("PORTAL_BASE_URL", "example.org")]),
            "PORTAL_BASE_URL"
        );
        assert_eq!(
            error_variable(&[("PORTAL_MASTER_KEY", "short")]),
            "PORTAL_MASTER_KEY"
        );
        assert_eq!(
            error_variable(&[("PORTAL_LOG_FORMAT", "xml")]),
            "PORTAL_LOG_FORMAT"
        );
        assert_eq!(
            error_variable(&[("PORTAL_WORKER_CONCURRENCY", "0")]),
            "PORTAL_WORKER_CONCURRENCY"
        );
        assert_eq!(
            error_variable(&[("PORTAL_MAIL_FROM", "not an address")]),
            "PORTAL_MAIL_FROM"
        );
    }

    #[test]
    fn production_requires_a_master_key_and_https() {
        assert_eq!(
            error_variable(&[("PORTAL_ENV", "production")]),
            "PORTAL_MASTER_KEY"
        );
        let key = MasterKey::generate().to_base64();
        assert_eq!(
            error_variable(&[("PORTAL_ENV", "production"), ("PORTAL_MASTER_KEY", &key)]),
            "PORTAL_BASE_URL"
        );
        let ok = config(&[
            ("PORTAL_ENV", "production"),
            ("PORTAL_MASTER_KEY", &key),
            ("PORTAL_BASE_URL", "https://privacy.example.org/"),
        ])
        .expect("valid production config");
        assert_eq!(ok.base_url.as_deref(), Some("https://privacy.example.org"));
    }

    #[test]
    fn a_development_key_is_generated_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("portal-key-{}", uuid::Uuid::new_v4()));
        let path = dir.join("master.key");
        let first = load_or_create_key(&path).expect("created");
        let second = load_or_create_key(&path).expect("read back");
        assert_eq!(first.to_base64(), second.to_base64());
        let mode = std::fs::metadata(&path).expect("exists").permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn secrets_are_not_printed_in_debug_output() {
        let c = config(&[
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("SMTP_URL", "smtp://u:pw-secret@m:25"),
        ])
        .expect("valid");
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"));
        assert!(!debug.contains("pw-secret"));
    }
}
