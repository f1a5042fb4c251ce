//! Wiring: database (managed or external), migrations, state, router, worker.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use app::backend::clock::{Clock, SystemClock};
use app::backend::crypto::Crypto;
use app::backend::db::{Db, PoolOptions};
use app::backend::email::transport::Mailer;
use app::backend::jobs::handlers::JobContext;
use app::backend::services::notices::campaigns::CampaignSettings;
use app::backend::state::{AppServices, AppState, Environment, Settings};
use leptos::config::LeptosOptions;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::middleware::SecurityOptions;
use crate::postgres::{ClusterOptions, ManagedPostgres};
use crate::routes::metrics::{Metrics, MetricsAccess};
use crate::routes::{self, ServerState};
use crate::worker::{self, WorkerOptions};

/// A connected, migrated database, and the managed cluster behind it if any.
pub struct Database {
    pub db: Db,
    pub managed: Option<ManagedPostgres>,
}

/// Why production refuses a role that row-level security does not bind,
/// and what to change.
fn rls_bypass_message(role: &str) -> String {
    format!(
        "the database role `{role}` is a superuser or has BYPASSRLS, so Postgres row-level \
         security would not keep one clinic's rows from another's. Connect with a role that has \
         neither: `ALTER ROLE \"{role}\" NOSUPERUSER NOBYPASSRLS;`, or create one with \
         `CREATE ROLE portal LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '…';`, make it the owner of \
         the portal's database and schema, and put it in DATABASE_URL. PORTAL_ENV=production \
         refuses to start until then (development only warns)."
    )
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts the managed cluster; then applies
    /// pending migrations.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let (url, managed): (SecretString, Option<ManagedPostgres>) = match &config.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let pg = ManagedPostgres::start(&ClusterOptions::managed(config.data_dir.clone()))
                    .await
                    .context("starting the managed Postgres cluster")?;
                (pg.app_url(), Some(pg))
            }
        };
        let db = Db::new(
            url,
            PoolOptions {
                max_size: config.db_pool_size,
                ..PoolOptions::default()
            },
        )?;
        // Before any migration: in production the schema is not touched
        // through a role the tenancy policies do not bind.
        if let Some(role) = db.role_bypassing_rls().await? {
            if config.environment == Environment::Production {
                db.close();
                if let Some(mut pg) = managed {
                    pg.stop().ok();
                }
                anyhow::bail!(rls_bypass_message(&role));
            }
            tracing::warn!(
                role = %role,
                "the database role is a superuser or has BYPASSRLS: row-level security will not \
                 apply; connect as a role that owns the schema but has neither"
            );
        }
        let applied = db.migrate().await.context("applying database migrations")?;
        for name in &applied {
            tracing::info!(migration = %name, "migration applied");
        }
        Ok(Self { db, managed })
    }

    /// Whether this is the managed cluster (which seeds demo data on first start).
    pub fn is_managed(&self) -> bool {
        self.managed.is_some()
    }

    /// Closes the pool and leaves (or stops) the managed cluster.
    pub fn shutdown(mut self) {
        self.db.close();
        if let Some(mut pg) = self.managed.take()
            && let Err(e) = pg.stop()
        {
            tracing::error!(error = %e, "stopping the managed Postgres cluster failed");
        }
    }
}

/// The mail transport from the configuration.
pub fn mailer(config: &Config) -> anyhow::Result<Mailer> {
    Ok(match &config.smtp_url {
        Some(url) => Mailer::smtp(url)?,
        None => Mailer::files(config.outbox_dir())?,
    })
}

/// Application settings and secrets derived from the configuration.
pub fn app_state(config: &Config, db: Db, base_url: String) -> anyhow::Result<AppState> {
    app_state_with_clock(config, db, base_url, Arc::new(SystemClock))
}

/// [`app_state`] with a given clock (tests move time).
pub fn app_state_with_clock(
    config: &Config,
    db: Db,
    base_url: String,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppState> {
    let key = config.load_master_key()?;
    Ok(AppState::new(AppServices {
        db,
        settings: Arc::new(Settings {
            base_url,
            environment: config.environment,
            data_dir: config.data_dir.clone(),
            mail_from: config.mail_from.clone(),
            sessions: config.sessions,
            request_rate_per_hour: config.request_rate_per_hour,
        }),
        crypto: Crypto::new(&key),
        clock,
        consent: app::backend::services::consent::Runtime::new(
            config.consent_rate_per_minute,
            config.consent_writers,
        ),
        clinics: Default::default(),
    }))
}

/// What jobs need, from the state and configuration.
pub fn job_context(config: &Config, state: &AppState) -> anyhow::Result<JobContext> {
    Ok(JobContext {
        db: state.db.clone(),
        crypto: state.crypto.clone(),
        mailer: Arc::new(mailer(config)?),
        mail_from: config.mail_from.clone(),
        clock: state.clock.clone(),
        settings: state.settings.clone(),
        campaigns: CampaignSettings {
            rate_per_second: config.campaign_rate,
            connections: app::backend::email::transport::SMTP_CONNECTIONS,
            lease: config.worker_lease,
        },
        sent: Default::default(),
    })
}

/// The web server with its in-process worker, bound and ready to run.
pub struct Application {
    listener: TcpListener,
    /// `PORTAL_METRICS_BIND`'s listener, when metrics are served apart.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    config: Config,
    address: SocketAddr,
}

impl Application {
    /// Binds the listener and builds the state on an already connected database.
    pub async fn build(config: Config, db: Db) -> anyhow::Result<Self> {
        Self::build_with_clock(config, db, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with a given clock.
    pub async fn build_with_clock(
        config: Config,
        db: Db,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("PORTAL_BIND: cannot listen on {}", config.bind))?;
        let address = listener.local_addr()?;
        let metrics_listener = match config.metrics_bind {
            Some(bind) => Some(
                TcpListener::bind(bind)
                    .await
                    .with_context(|| format!("PORTAL_METRICS_BIND: cannot listen on {bind}"))?,
            ),
            None => None,
        };
        let base_url = config
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"));
        let state = app_state_with_clock(&config, db, base_url, clock)?;
        Ok(Self {
            listener,
            metrics_listener,
            state,
            config,
            address,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Base URL for links.
    pub fn base_url(&self) -> &str {
        &self.state.settings.base_url
    }

    /// The application state (database, settings, crypto).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then drains connections and
    /// stops the worker.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let job_context = job_context(&self.config, &self.state)?;
        let worker = tokio::spawn(worker::run(
            job_context,
            WorkerOptions::with_concurrency(self.config.worker_concurrency)
                .with_lease(self.config.worker_lease),
            shutdown.clone(),
        ));

        let leptos = LeptosOptions::builder()
            .output_name("app")
            .site_root("target/site")
            .site_addr(self.address)
            .build();
        let state = ServerState {
            app: self.state.clone(),
            leptos,
            metrics: Metrics::install(),
            metrics_access: MetricsAccess {
                token: self.config.metrics_token.clone().map(Arc::new),
                separate_listener: self.metrics_listener.is_some(),
            },
        };
        let metrics_server = match self.metrics_listener {
            Some(listener) => {
                let address = listener.local_addr()?;
                tracing::info!(address = %address, "metrics listening");
                let router = routes::metrics::separate_router(state.clone());
                let stop = shutdown.clone();
                Some(tokio::spawn(async move {
                    axum::serve(listener, router)
                        .with_graceful_shutdown(stop.cancelled_owned())
                        .await
                }))
            }
            None => None,
        };
        let security = SecurityOptions {
            hsts: self.config.environment == Environment::Production,
        };
        let router = routes::router(state, security);

        tracing::info!(address = %self.address, base_url = %self.state.settings.base_url, "listening");
        let serve = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let result = serve.await.context("serving HTTP");
        shutdown.cancel();
        if let Some(metrics_server) = metrics_server {
            match metrics_server.await {
                Ok(Err(e)) => tracing::error!(error = %e, "serving metrics failed"),
                Err(e) => tracing::error!(error = %e, "metrics task failed"),
                Ok(Ok(())) => {}
            }
        }
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "worker task failed");
        }
        result
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested");
}
