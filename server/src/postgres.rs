//! A private Postgres cluster managed by the portal itself: the default
//! database when `DATABASE_URL` is unset, and the per-run cluster of the test
//! suite.
//!
//! The cluster lives in `{state_dir}/postgres`, listens on a free loopback
//! port (no unix socket), and is initialised from the system's Postgres server
//! binaries. Run as root, the cluster belongs to the `postgres` system user
//! and every Postgres command runs through `runuser`.
//!
//! Several processes may use one cluster at once (`serve` and a CLI command
//! started beside it). Each holds a shared lock on `postgres.users.lock`; the
//! last one to leave stops the cluster. Starting and stopping are serialised
//! by an exclusive lock on `postgres.start.lock`. A cluster left running by a
//! process that crashed is adopted by the next one, which then owns stopping it.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::distr::{Alphanumeric, SampleString};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Role and database the portal uses inside a managed cluster. The role owns
/// the schema but is not a superuser, so row-level security applies to it.
pub const APP_ROLE: &str = "portal";
/// Superuser created by `initdb`.
pub const SUPERUSER: &str = "postgres";

/// Why the managed cluster could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "PostgreSQL server binaries were not found (looked for initdb in /usr/lib/postgresql/*/bin \
         and `pg_config --bindir`). Install them (Debian/Ubuntu: `apt-get install postgresql`) \
         or set DATABASE_URL to an existing database."
    )]
    BinariesMissing,
    #[error(
        "running as root needs the `postgres` system user to own the database cluster; it comes \
         with the `postgresql` package. Alternatively set DATABASE_URL."
    )]
    NoPostgresUser,
    #[error(
        "the `postgres` user cannot reach {0}: every parent directory must be searchable by it. \
         Set PORTAL_DATA_DIR to a directory it can reach (for example /var/lib/privacy-portal)."
    )]
    Unreachable(PathBuf),
    #[error(
        "{0} exists but holds no complete database cluster (an interrupted first start?). \
         Remove it to initialise a new one."
    )]
    Incomplete(PathBuf),
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("the database cluster did not become ready within {0:?}; see {1}")]
    NotReady(Duration, PathBuf),
    #[error("setting up the portal's role and database failed: {0}")]
    Bootstrap(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgError {
    let context = context.into();
    move |e| PgError::Io(context, e)
}

/// How the cluster is set up.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Folder for the cluster (`{state_dir}/postgres`), lock files and the
    /// generated credentials.
    pub state_dir: PathBuf,
    /// `false` for throwaway test clusters: no fsync, no synchronous commit.
    pub durable: bool,
    /// Generated passwords (scram-sha-256) or, for test clusters, trust.
    pub password_auth: bool,
    /// Leave the cluster running when this process is done with it (the test
    /// suite shares one cluster across its processes; its script stops it).
    pub keep_running: bool,
    /// `max_connections` of the cluster.
    pub max_connections: u32,
}

impl ClusterOptions {
    /// The portal's own database: durable, password-protected, stopped with
    /// the last process using it.
    pub fn managed(state_dir: PathBuf) -> Self {
        Self {
            state_dir,
            durable: true,
            password_auth: true,
            keep_running: false,
            max_connections: 100,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Credentials {
    superuser: String,
    app: String,
}

/// Writes `bytes` to a new file readable only by its owner: this process's
/// user, or the `postgres` user when `for_postgres`.
fn write_private(path: &Path, bytes: &[u8], for_postgres: bool) -> Result<(), PgError> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(format!("writing {}", path.display())))?;
    file.write_all(bytes)
        .map_err(io_err(format!("writing {}", path.display())))?;
    if for_postgres {
        let user = nix::unistd::User::from_name(SUPERUSER)
            .ok()
            .flatten()
            .ok_or(PgError::NoPostgresUser)?;
        std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(
            io_err(format!("handing {} to the postgres user", path.display())),
        )?;
    }
    Ok(())
}

/// A running cluster this process is using.
pub struct ManagedPostgres {
    bin: PathBuf,
    cluster_dir: PathBuf,
    state_dir: PathBuf,
    port: u16,
    run_as_postgres: bool,
    credentials: Option<Credentials>,
    keep_running: bool,
    /// Shared lock held while this process uses the cluster.
    users_lock: Option<File>,
    stopped: bool,
}

impl std::fmt::Debug for ManagedPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedPostgres")
            .field("cluster_dir", &self.cluster_dir)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Finds the directory holding `initdb`, `pg_ctl` and `postgres`: the newest
/// `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`.
pub fn find_binaries() -> Result<PathBuf, PgError> {
    find_binaries_in(Path::new("/usr/lib/postgresql"), "pg_config")
}

fn find_binaries_in(versions_root: &Path, pg_config: &str) -> Result<PathBuf, PgError> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(entries) = std::fs::read_dir(versions_root) {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((version, e.path().join("bin")))
            })
            .filter(|(_, bin)| has_server(bin))
            .collect();
        versions.sort();
        if let Some((_, bin)) = versions.pop() {
            return Ok(bin);
        }
    }
    if let Ok(output) = Command::new(pg_config).arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_server(&dir) {
            return Ok(dir);
        }
    }
    Err(PgError::BinariesMissing)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn open_lock(path: &Path) -> Result<File, PgError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(format!("opening {}", path.display())))
}

fn free_port() -> Result<u16, PgError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io_err("finding a free port"))
}

/// What `postmaster.pid` says about a running server.
struct PidFile {
    pid: i32,
    port: u16,
    status: String,
}

fn read_pid_file(cluster_dir: &Path) -> Option<PidFile> {
    let text = std::fs::read_to_string(cluster_dir.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    Some(PidFile {
        pid: lines.first()?.trim().parse().ok()?,
        port: lines.get(3)?.trim().parse().ok()?,
        status: lines
            .get(7)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
    })
}

/// Whether `pid` is a live Postgres server process.
fn is_postgres_process(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmd| {
            let first = cmd.split(|b| *b == 0).next().unwrap_or_default();
            let name = String::from_utf8_lossy(first);
            name.ends_with("postgres") || name.ends_with("postmaster")
        })
        .unwrap_or(false)
}

impl ManagedPostgres {
    /// Starts the cluster (initialising it on first use) or adopts one that is
    /// already running, and makes sure the portal's role and database exist.
    pub async fn start(options: &ClusterOptions) -> Result<Self, PgError> {
        let bin = find_binaries()?;
        let state_dir = options.state_dir.clone();
        std::fs::create_dir_all(&state_dir)
            .map_err(io_err(format!("creating {}", state_dir.display())))?;
        let cluster_dir = state_dir.join("postgres");
        let run_as_postgres = is_root();
        if run_as_postgres
            && nix::unistd::User::from_name(SUPERUSER)
                .ok()
                .flatten()
                .is_none()
        {
            return Err(PgError::NoPostgresUser);
        }

        let start_lock = open_lock(&state_dir.join("postgres.start.lock"))?;
        let start_lock =
            tokio::task::spawn_blocking(move || start_lock.lock().map(|()| start_lock))
                .await
                .map_err(|e| {
                    PgError::Io(
                        "waiting for the start lock".into(),
                        std::io::Error::other(e),
                    )
                })?
                .map_err(io_err("locking postgres.start.lock"))?;

        let mut pg = Self {
            bin,
            cluster_dir,
            state_dir,
            port: 0,
            run_as_postgres,
            credentials: None,
            keep_running: options.keep_running,
            users_lock: None,
            stopped: false,
        };
        let result = pg.start_locked(options).await;
        drop(start_lock);
        result.map(|()| pg)
    }

    async fn start_locked(&mut self, options: &ClusterOptions) -> Result<(), PgError> {
        let users_lock = open_lock(&self.state_dir.join("postgres.users.lock"))?;
        users_lock
            .lock_shared()
            .map_err(io_err("locking postgres.users.lock"))?;
        self.users_lock = Some(users_lock);

        let fresh = !self.cluster_dir.join("PG_VERSION").is_file();
        if fresh {
            self.init(options)?;
        } else if options.password_auth {
            self.credentials = Some(self.read_credentials()?);
        }

        match self.running_server() {
            Some(pid_file) => {
                tracing::info!(
                    port = pid_file.port,
                    "using the database cluster that is already running"
                );
                self.port = pid_file.port;
                self.wait_ready(Duration::from_secs(60)).await?;
            }
            None => self.launch().await?,
        }
        self.bootstrap().await
    }

    fn read_credentials(&self) -> Result<Credentials, PgError> {
        let path = self.state_dir.join("postgres-credentials.json");
        let text = std::fs::read_to_string(&path)
            .map_err(io_err(format!("reading {}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| PgError::Io(path.display().to_string(), std::io::Error::other(e)))
    }

    /// `initdb`, then the portal's settings appended to `postgresql.conf`.
    fn init(&mut self, options: &ClusterOptions) -> Result<(), PgError> {
        if self.cluster_dir.exists()
            && std::fs::read_dir(&self.cluster_dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            return Err(PgError::Incomplete(self.cluster_dir.clone()));
        }
        std::fs::create_dir_all(&self.cluster_dir)
            .map_err(io_err(format!("creating {}", self.cluster_dir.display())))?;
        std::fs::set_permissions(&self.cluster_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err("restricting the cluster folder"))?;
        if self.run_as_postgres {
            let user = nix::unistd::User::from_name(SUPERUSER)
                .ok()
                .flatten()
                .ok_or(PgError::NoPostgresUser)?;
            std::os::unix::fs::chown(
                &self.cluster_dir,
                Some(user.uid.as_raw()),
                Some(user.gid.as_raw()),
            )
            .map_err(io_err("giving the cluster folder to the postgres user"))?;
            let reachable = Command::new("runuser")
                .args(["-u", SUPERUSER, "--", "test", "-w"])
                .arg(&self.cluster_dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !reachable {
                let _ = std::fs::remove_dir(&self.cluster_dir);
                return Err(PgError::Unreachable(self.cluster_dir.clone()));
            }
        }

        let mut args: Vec<String> = vec![
            "-D".into(),
            self.cluster_dir.display().to_string(),
            "-U".into(),
            SUPERUSER.into(),
            "-E".into(),
            "UTF8".into(),
            "--no-locale".into(),
        ];
        let mut pwfile = None;
        if options.password_auth {
            let credentials = Credentials {
                superuser: Alphanumeric.sample_string(&mut rand::rng(), 32),
                app: Alphanumeric.sample_string(&mut rand::rng(), 32),
            };
            let path = self.state_dir.join("postgres-credentials.json");
            let json = serde_json::to_vec(&credentials).unwrap_or_default();
            write_private(&path, &json, false)?;
            // initdb reads the superuser's password from a file; it exists
            // only while initdb runs and is readable only by the cluster's owner.
            let path = self.state_dir.join("postgres-initdb.pw");
            write_private(
                &path,
                credentials.superuser.as_bytes(),
                self.run_as_postgres,
            )?;
            args.extend([
                "--auth=scram-sha-256".into(),
                format!("--pwfile={}", path.display()),
            ]);
            pwfile = Some(path);
            self.credentials = Some(credentials);
        } else {
            args.push("--auth=trust".into());
        }
        if !options.durable {
            args.push("--no-sync".into());
        }
        tracing::info!(dir = %self.cluster_dir.display(), "initialising a new database cluster");
        let result = self.run("initdb", &args);
        if let Some(path) = pwfile {
            let _ = std::fs::remove_file(path);
        }
        result?;

        let mut settings = String::from(
            "\n# Managed by privacy-portal\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n",
        );
        settings.push_str(&format!("max_connections = {}\n", options.max_connections));
        // Room for bursts of writes (consent records carry their receipts)
        // between timed checkpoints, instead of checkpoints forced by WAL
        // volume in the middle of a burst.
        settings.push_str("max_wal_size = '4GB'\nshared_buffers = '256MB'\n");
        if !options.durable {
            settings.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let conf = self.cluster_dir.join("postgresql.conf");
        let mut file = OpenOptions::new()
            .append(true)
            .open(&conf)
            .map_err(io_err(format!("opening {}", conf.display())))?;
        file.write_all(settings.as_bytes())
            .map_err(io_err(format!("writing {}", conf.display())))?;
        Ok(())
    }

    /// A server already running on this cluster, if any. A stale pid file
    /// (left by a crash, possibly naming a pid now used by another process)
    /// is removed.
    fn running_server(&self) -> Option<PidFile> {
        let pid_file = read_pid_file(&self.cluster_dir)?;
        if is_postgres_process(pid_file.pid) && pid_file.status != "stopping" {
            return Some(pid_file);
        }
        tracing::warn!(
            pid = pid_file.pid,
            "removing a stale postmaster.pid left by an earlier crash"
        );
        let _ = std::fs::remove_file(self.cluster_dir.join("postmaster.pid"));
        None
    }

    /// `pg_ctl start` on a free port, retried if the port was taken meanwhile.
    async fn launch(&mut self) -> Result<(), PgError> {
        let log = self.cluster_dir.join("server.log");
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            let args: Vec<String> = vec![
                "start".into(),
                "-w".into(),
                "-t".into(),
                "60".into(),
                "-D".into(),
                self.cluster_dir.display().to_string(),
                "-l".into(),
                log.display().to_string(),
                "-o".into(),
                format!("-p {port}"),
            ];
            match self.run("pg_ctl", &args) {
                Ok(()) => {
                    self.port = port;
                    tracing::info!(port, "database cluster started");
                    return self.wait_ready(Duration::from_secs(60)).await;
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| PgError::NotReady(Duration::from_secs(60), log)))
    }

    async fn wait_ready(&self, timeout: Duration) -> Result<(), PgError> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            let ready = read_pid_file(&self.cluster_dir).is_some_and(|p| p.status == "ready");
            if ready
                && tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(PgError::NotReady(
            timeout,
            self.cluster_dir.join("server.log"),
        ))
    }

    /// Creates the portal's role and database when missing.
    async fn bootstrap(&self) -> Result<(), PgError> {
        use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
        let mut conn = AsyncPgConnection::establish(self.admin_url().expose_secret())
            .await
            .map_err(|e| PgError::Bootstrap(e.to_string()))?;
        #[derive(diesel::QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
        }
        let role = diesel::sql_query(format!(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') AS exists"
        ))
        .get_result::<Exists>(&mut conn)
        .await
        .map_err(|e| PgError::Bootstrap(e.to_string()))?;
        if !role.exists {
            let password = match &self.credentials {
                Some(c) => format!(" PASSWORD '{}'", c.app),
                None => String::new(),
            };
            diesel::sql_query(format!(
                "CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS{password}"
            ))
            .execute(&mut conn)
            .await
            .map_err(|e| PgError::Bootstrap(e.to_string()))?;
        }
        let database = diesel::sql_query(format!(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{APP_ROLE}') AS exists"
        ))
        .get_result::<Exists>(&mut conn)
        .await
        .map_err(|e| PgError::Bootstrap(e.to_string()))?;
        if !database.exists {
            diesel::sql_query(format!("CREATE DATABASE {APP_ROLE} OWNER {APP_ROLE}"))
                .execute(&mut conn)
                .await
                .map_err(|e| PgError::Bootstrap(e.to_string()))?;
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", SUPERUSER, "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        // Own process group: a Ctrl-C in the terminal reaches the portal,
        // which then stops the cluster in order, not the cluster directly.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
    }

    fn run(&self, program: &str, args: &[String]) -> Result<(), PgError> {
        let output = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(io_err(format!("running {program}")))?;
        if output.status.success() {
            Ok(())
        } else {
            let mut detail = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            if detail.is_empty() {
                detail = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            }
            Err(PgError::Command {
                what: program.to_owned(),
                detail,
            })
        }
    }

    fn url(&self, user: &str, password: Option<&str>, database: &str) -> SecretString {
        let auth = match password {
            Some(p) => format!("{user}:{p}"),
            None => user.to_owned(),
        };
        SecretString::from(format!(
            "postgres://{auth}@127.0.0.1:{}/{database}",
            self.port
        ))
    }

    /// URL for the portal's own role and database.
    pub fn app_url(&self) -> SecretString {
        self.url(
            APP_ROLE,
            self.credentials.as_ref().map(|c| c.app.as_str()),
            APP_ROLE,
        )
    }

    /// URL for the superuser, on the `postgres` maintenance database.
    pub fn admin_url(&self) -> SecretString {
        self.url(
            SUPERUSER,
            self.credentials.as_ref().map(|c| c.superuser.as_str()),
            "postgres",
        )
    }

    /// URL of `database` as the portal's role.
    pub fn app_url_for(&self, database: &str) -> SecretString {
        self.url(
            APP_ROLE,
            self.credentials.as_ref().map(|c| c.app.as_str()),
            database,
        )
    }

    /// The loopback port the cluster listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data folder.
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// Leaves the cluster; stops it when no other process uses it (and it is
    /// not a kept-running test cluster).
    pub fn stop(&mut self) -> Result<(), PgError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let start_lock = open_lock(&self.state_dir.join("postgres.start.lock"))?;
        start_lock
            .lock()
            .map_err(io_err("locking postgres.start.lock"))?;
        drop(self.users_lock.take());
        if self.keep_running {
            return Ok(());
        }
        let users = open_lock(&self.state_dir.join("postgres.users.lock"))?;
        match users.try_lock() {
            Ok(()) => {
                if self.running_server().is_some() {
                    let args: Vec<String> = vec![
                        "stop".into(),
                        "-m".into(),
                        "fast".into(),
                        "-w".into(),
                        "-t".into(),
                        "60".into(),
                        "-D".into(),
                        self.cluster_dir.display().to_string(),
                    ];
                    self.run("pg_ctl", &args)?;
                    tracing::info!("database cluster stopped");
                }
                Ok(())
            }
            Err(_) => {
                tracing::info!("database cluster left running for the other processes using it");
                Ok(())
            }
        }
    }
}

impl Drop for ManagedPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "stopping the database cluster failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_are_reported_with_the_package_to_install() {
        let empty = std::env::temp_dir().join(format!("no-postgres-{}", std::process::id()));
        let error =
            find_binaries_in(&empty, "/nonexistent/pg_config").expect_err("nothing to find");
        let message = error.to_string();
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(message.contains("DATABASE_URL"), "{message}");
    }

    #[test]
    fn the_newest_installed_version_is_chosen() {
        let root = std::env::temp_dir().join(format!("pg-versions-{}", std::process::id()));
        for version in ["13", "16", "9"] {
            let bin = root.join(version).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            for tool in ["initdb", "pg_ctl"] {
                std::fs::write(bin.join(tool), "").expect("touch");
            }
        }
        std::fs::create_dir_all(root.join("17")).expect("a version without binaries");
        let found = find_binaries_in(&root, "/nonexistent/pg_config").expect("found");
        assert_eq!(found, root.join("16").join("bin"));
        std::fs::remove_dir_all(root).expect("cleanup");
    }

    #[test]
    fn pid_files_are_read_for_pid_port_and_status() {
        let dir = std::env::temp_dir().join(format!("pidfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("postmaster.pid"),
            "4242\n/data\n1700000000\n54321\n\n127.0.0.1\n  1234    5678\nready   \n",
        )
        .expect("write");
        let pid = read_pid_file(&dir).expect("parsed");
        assert_eq!(
            (pid.pid, pid.port, pid.status.as_str()),
            (4242, 54321, "ready")
        );
        assert!(
            !is_postgres_process(std::process::id() as i32),
            "this test process is not postgres"
        );
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
}
