//! Test harness: one private Postgres cluster per test run, a database per
//! test cloned from a migrated template, the app on port 0, and a real SMTP
//! listener.

#![allow(
    dead_code,
    reason = "each test module uses a different part of the harness"
)]

pub mod oidc;
pub mod portal;
pub mod smtp;

use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use app::backend::clock::ManualClock;
use app::backend::db::{Db, PoolOptions};
use app::backend::state::AppState;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::{ExposeSecret, SecretString};
use server::config::Config;
use server::postgres::{ClusterOptions, ManagedPostgres};
use server::startup::{Application, Database};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

/// Path of the `privacy-portal` binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_privacy-portal");

/// Where the shared test cluster lives: `PORTAL_TEST_PG_DIR` (set by
/// `scripts/test`, which stops it afterwards), else a per-user folder in the
/// temp directory that stays running between runs.
fn cluster_dir() -> PathBuf {
    std::env::var_os("PORTAL_TEST_PG_DIR").map_or_else(
        || std::env::temp_dir().join(format!("privacy-portal-tests-{}", nix::unistd::geteuid())),
        PathBuf::from,
    )
}

/// Connection details of the shared cluster.
pub struct Cluster {
    pg: ManagedPostgres,
}

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();

/// Starts (or joins) the test run's cluster.
pub async fn cluster() -> &'static Cluster {
    CLUSTER
        .get_or_init(|| async {
            let options = ClusterOptions {
                state_dir: cluster_dir(),
                durable: false,
                password_auth: false,
                keep_running: true,
                max_connections: 300,
            };
            let pg = ManagedPostgres::start(&options)
                .await
                .expect("the test Postgres cluster starts");
            Cluster { pg }
        })
        .await
}

impl Cluster {
    /// Superuser URL of `database`.
    pub fn admin_url(&self, database: &str) -> String {
        let url = self.pg.admin_url();
        let (server, _) = url
            .expose_secret()
            .rsplit_once('/')
            .expect("a database in the URL");
        format!("{server}/{database}")
    }

    /// The portal role's URL of `database`.
    pub fn app_url(&self, database: &str) -> SecretString {
        self.pg.app_url_for(database)
    }
}

/// Runs SQL statements as the superuser on `database`.
pub async fn admin_execute(database: &str, sql: &str) -> Result<(), diesel::result::Error> {
    use diesel_async::SimpleAsyncConnection;
    let url = cluster().await.admin_url(database);
    let mut conn = AsyncPgConnection::establish(&url)
        .await
        .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
    conn.batch_execute(sql).await
}

/// Name of the migrated template for the migrations in this build.
fn template_name() -> String {
    use diesel::migration::MigrationSource;
    let migrations = MigrationSource::<diesel::pg::Pg>::migrations(&app::backend::db::MIGRATIONS)
        .expect("embedded migrations");
    let mut names: Vec<String> = migrations.iter().map(|m| m.name().to_string()).collect();
    names.sort();
    let digest = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        names.hash(&mut hasher);
        // Include the SQL itself so that editing a migration rebuilds the template.
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
            .expect("migrations")
        {
            let dir = entry.expect("entry").path();
            for file in ["up.sql", "down.sql"] {
                std::fs::read_to_string(dir.join(file))
                    .unwrap_or_default()
                    .hash(&mut hasher);
            }
        }
        hasher.finish()
    };
    format!("tpl_{digest:016x}")
}

const TEMPLATE_LOCK: i64 = 0x7465_6d70_6c61_7465;

/// Creates the migrated template once per cluster, under an advisory lock
/// shared by all test processes.
async fn ensure_template() -> String {
    let cluster = cluster().await;
    let name = template_name();
    let mut admin = AsyncPgConnection::establish(&cluster.admin_url("postgres"))
        .await
        .expect("admin connection");
    diesel::sql_query(format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})"))
        .execute(&mut admin)
        .await
        .expect("lock");
    let exists = diesel::sql_query(format!(
        "SELECT 1 FROM pg_database WHERE datname = '{name}'"
    ))
    .execute(&mut admin)
    .await
    .expect("query")
        == 1;
    if !exists {
        let building = format!("{name}_building");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .expect("drop");
        diesel::sql_query(format!(
            "CREATE DATABASE {building} OWNER {}",
            server::postgres::APP_ROLE
        ))
        .execute(&mut admin)
        .await
        .expect("create template");
        let db = Db::new(cluster.app_url(&building), PoolOptions::default()).expect("pool");
        db.migrate()
            .await
            .expect("migrations apply to the template");
        db.close();
        drop(db);
        retry_while_in_use(
            &mut admin,
            &format!("ALTER DATABASE {building} RENAME TO {name}"),
        )
        .await;
    }
    diesel::sql_query(format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"))
        .execute(&mut admin)
        .await
        .expect("unlock");
    name
}

/// Statements on template databases fail while a just-closed connection is
/// still winding down on the server; retry briefly.
async fn retry_while_in_use(admin: &mut AsyncPgConnection, sql: &str) {
    let mut attempts = 0;
    loop {
        match diesel::sql_query(sql).execute(admin).await {
            Ok(_) => return,
            Err(e) if attempts < 50 && e.to_string().contains("being accessed by other users") => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

/// A database for one test, dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: SecretString,
}

impl TestDb {
    /// A fresh, migrated database.
    pub async fn new() -> Self {
        let template = ensure_template().await;
        let cluster = cluster().await;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&cluster.admin_url("postgres"))
            .await
            .expect("admin connection");
        retry_while_in_use(
            &mut admin,
            &format!(
                "CREATE DATABASE {name} TEMPLATE {template} OWNER {}",
                server::postgres::APP_ROLE
            ),
        )
        .await;
        Self {
            url: cluster.app_url(&name),
            name,
        }
    }

    /// A pool on this database as the portal's role.
    pub fn db(&self) -> Db {
        Db::new(
            self.url.clone(),
            PoolOptions {
                max_size: 8,
                ..PoolOptions::default()
            },
        )
        .expect("pool")
    }

    /// Runs SQL as the superuser (bypasses row-level security and triggers
    /// only when the statement says so).
    pub async fn admin_execute(&self, sql: &str) -> Result<(), diesel::result::Error> {
        admin_execute(&self.name, sql).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let Some(cluster) = CLUSTER.get() else { return };
        let url = cluster.admin_url("postgres");
        // Dropping needs async I/O; use a throwaway runtime on its own thread so
        // this works whether or not the test's runtime is still running.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut admin) = AsyncPgConnection::establish(&url).await {
                        let _ = diesel::sql_query(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        ))
                        .execute(&mut admin)
                        .await;
                    }
                });
            }
        })
        .join();
    }
}

/// Configuration for an app on `db`: port 0, a private data folder, and
/// `extra` variables on top.
pub fn test_config(db: &TestDb, data_dir: &std::path::Path, extra: &[(&str, String)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), db.url.expose_secret().to_owned()),
        ("PORTAL_DATA_DIR".into(), data_dir.display().to_string()),
        ("PORTAL_BIND".into(), "127.0.0.1:0".into()),
        ("PORTAL_DB_POOL_SIZE".into(), "6".into()),
    ];
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Config::from_lookup(|name| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("test configuration is valid")
}

/// A running portal for one test.
pub struct TestApp {
    pub address: String,
    pub db: Db,
    pub state: AppState,
    /// The app's clock; tests move it to cross expiries.
    pub clock: Arc<ManualClock>,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    pub test_db: TestDb,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Starts the portal on a fresh database, emails written to files.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the portal with extra configuration variables.
pub async fn spawn_app_with(extra: &[(&str, String)]) -> TestApp {
    let test_db = TestDb::new().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let config = test_config(&test_db, data_dir.path(), extra);
    let database = Database::connect(&config).await.expect("database connects");
    let clock = ManualClock::new();
    let app = Application::build_with_clock(config, database.db.clone(), clock.clone())
        .await
        .expect("app builds");
    let address = format!("http://{}", app.address());
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run(shutdown.clone()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("http client");
    TestApp {
        address,
        db: database.db,
        state,
        clock,
        client,
        data_dir,
        test_db,
        shutdown,
        task: Some(task),
    }
}

impl TestApp {
    /// Absolute URL of `path` on this app.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// The body of GET `path`.
    pub async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    /// The form token of this client's session, read from a form on `page`.
    pub async fn csrf_on(&self, page: &str) -> String {
        let html = self.get(page).await.text().await.expect("body");
        csrf_in(&html).unwrap_or_else(|| panic!("no form token on {page}"))
    }

    /// POSTs `fields` as a browser would from this site: same `Origin`, with
    /// the form token of the session.
    pub async fn post_form(
        &self,
        path: &str,
        csrf: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf", csrf)];
        form.extend_from_slice(fields);
        self.client
            .post(self.url(path))
            .header("origin", &self.address)
            .form(&form)
            .send()
            .await
            .expect("request")
    }

    /// Signs this client in as `email` through a one-time link.
    pub async fn sign_in(&self, email: &str) {
        let email = app::domain::email::EmailAddress::parse(email).expect("address");
        let link = app::backend::services::auth::create_link(&self.state, &email)
            .await
            .expect("link")
            .expect("an active user");
        let path = link.trim_start_matches(&self.address).to_owned();
        let csrf = self.csrf_on(&path).await;
        let response = self.post_form(&path, &csrf, &[]).await;
        assert_eq!(response.status(), 303, "signing in as {email}");
    }

    /// A second client on the same app, with its own cookies.
    pub fn new_client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("http client")
    }

    /// Stops the server and its worker and waits for both.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The portal with the demo clinic, emails sent to `sink` when given.
pub async fn demo_app(sink: Option<&smtp::SmtpSink>) -> TestApp {
    let app = match sink {
        Some(sink) => spawn_app_with(&[("SMTP_URL", sink.url())]).await,
        None => spawn_app().await,
    };
    app::backend::services::demo::seed(&app.db, &app::backend::audit::AuditContext::system())
        .await
        .expect("demo data");
    app
}

/// The first link containing `needle` in the newest email to `to`.
pub fn link_in_mail(sink: &smtp::SmtpSink, to: &str, needle: &str) -> Option<String> {
    sink.messages()
        .iter()
        .rev()
        .find(|m| m.to.iter().any(|t| t == to))
        .and_then(|m| {
            m.text()
                .split_whitespace()
                .find(|w| w.contains(needle))
                .map(str::to_owned)
        })
}

/// The value of the hidden `csrf` field in `html`.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf""#)?;
    let rest = &html[at..];
    let value = rest.split(r#"value=""#).nth(1)?;
    Some(value.split('"').next()?.to_owned())
}

/// The `Location` header of a redirect.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < timeout {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Runs the binary with a clean environment plus `vars`, and waits for it.
pub fn run_cli(args: &[&str], vars: &[(&str, String)]) -> std::process::Output {
    cli_command(args, vars).output().expect("the binary runs")
}

/// The binary as a command with a clean environment plus `vars`.
pub fn cli_command(args: &[&str], vars: &[(&str, String)]) -> std::process::Command {
    let mut command = std::process::Command::new(BINARY);
    command
        .args(args)
        .env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        )
        .env("PORTAL_LOG", "warn")
        .current_dir(std::env::temp_dir());
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}
