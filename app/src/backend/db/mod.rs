//! Connection pool, scoped transactions and embedded migrations.

mod migrations;
pub mod schema;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::backend::tenancy::{Scope, set_scope, set_session_scope};

/// The SQL migrations under `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// A pooled async Postgres connection.
pub type Conn = AsyncPgConnection;

/// A raw SQL query whose text never changes, marked so that its prepared
/// statement is kept per connection. Diesel caches the statements its query
/// builder makes, but not `sql_query` text, which it must assume is built at
/// run time; uncached, each run pays a separate parse-and-plan round trip.
/// For hot statements of fixed text (the scope of every transaction, rate
/// limits, job claims), wrap the query in this.
pub struct FixedSql<Q>(pub Q);

impl<Q: diesel::query_builder::QueryFragment<Pg>> diesel::query_builder::QueryFragment<Pg>
    for FixedSql<Q>
{
    fn walk_ast<'b>(&'b self, pass: diesel::query_builder::AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> diesel::query_builder::QueryId for FixedSql<Q> {
    type QueryId = ();
    // Keyed by its SQL text in the statement cache.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for FixedSql<Q> {
    type SqlType = Q::SqlType;
}

/// Errors reaching or using the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("migrations failed: {0}")]
    Migration(String),
    /// A write made for several callers at once failed; each of them is
    /// told its cause.
    #[error("a batched write failed: {0}")]
    Batch(String),
}

/// The portal's handle on Postgres. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Conn>,
    /// Shared, so that cloning the handle (once per request with the
    /// state) neither copies nor wipes the secret.
    url: Arc<SecretString>,
    sealer: Arc<Sealer>,
}

tokio::task_local! {
    /// The audit chains that the transaction [`Db`] runs in this task has
    /// queued events for.
    static QUEUED_CHAINS: RefCell<BTreeSet<Option<Uuid>>>;
}

/// Notes that the current transaction queued an audit event for the chain of
/// `clinic`. Returns whether [`Db`] will seal that chain after the commit;
/// false when the transaction was not opened by [`Db`].
pub(crate) fn seal_after_commit(clinic: Option<Uuid>) -> bool {
    QUEUED_CHAINS
        .try_with(|chains| {
            chains.borrow_mut().insert(clinic);
        })
        .is_ok()
}

/// Seals audit chains after commits, many commits at a time: one caller seals
/// for everyone who committed before it started, while the others wait for
/// their turn and find their events already sealed. Under load one sealing
/// transaction (one WAL flush) serves many requests.
#[derive(Default)]
struct Sealer {
    /// Chains with events queued by committed transactions, not yet sealed.
    dirty: std::sync::Mutex<BTreeSet<Option<Uuid>>>,
    /// Tickets handed to committed transactions, in order.
    issued: AtomicU64,
    /// Every ticket up to this one is sealed.
    sealed: AtomicU64,
    turn: tokio::sync::Mutex<()>,
}

impl Sealer {
    fn dirty(&self) -> std::sync::MutexGuard<'_, BTreeSet<Option<Uuid>>> {
        self.dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Pool sizing.
#[derive(Clone, Copy, Debug)]
pub struct PoolOptions {
    pub max_size: usize,
    pub wait_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 16,
            wait_timeout: Duration::from_secs(10),
        }
    }
}

impl Db {
    /// Builds the pool. Connections are opened lazily, so this does not fail
    /// when Postgres is briefly unreachable.
    pub fn new(url: SecretString, options: PoolOptions) -> Result<Self, DbError> {
        // Fast recycling skips the `SELECT 1` that `Verified` runs on every
        // checkout (see bench/pool); a connection that broke is flagged by
        // diesel-async on its first failed query and then discarded.
        let mut config = ManagerConfig::default();
        config.recycling_method = RecyclingMethod::Fast;
        let manager =
            AsyncDieselConnectionManager::<Conn>::new_with_config(url.expose_secret(), config);
        let pool = Pool::builder(manager)
            .max_size(options.max_size)
            .wait_timeout(Some(options.wait_timeout))
            .create_timeout(Some(options.wait_timeout))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        Ok(Self {
            pool,
            url: Arc::new(url),
            sealer: Arc::default(),
        })
    }

    /// A connection outside any transaction (no tenant rows are visible).
    pub async fn conn(&self) -> Result<Object<Conn>, DbError> {
        self.pool
            .get()
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// A connection of its own, outside the pool, whose whole session is
    /// limited to `scope`: each statement on it commits by itself, with no
    /// `BEGIN`, scope setting and `COMMIT` around it. For a long-lived
    /// writer that owns it; it never returns to the pool, so its scope
    /// cannot leak to other work.
    pub async fn dedicated(&self, scope: Scope) -> Result<Conn, DbError> {
        let mut conn = Conn::establish(self.url.expose_secret())
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        set_session_scope(&mut conn, scope).await?;
        Ok(conn)
    }

    /// Runs `f` in one transaction limited to `scope`; commits when it returns
    /// `Ok`, rolls back otherwise.
    pub async fn scoped<R, E, F>(&self, scope: Scope, f: F) -> Result<R, E>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R, E>> + Send,
        R: Send,
        E: From<DbError> + From<diesel::result::Error> + Send,
    {
        self.transaction(Some(scope), f).await
    }

    /// Runs `f` in one transaction that sees platform tables but no tenant rows.
    pub async fn unscoped<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R, E>> + Send,
        R: Send,
        E: From<DbError> + From<diesel::result::Error> + Send,
    {
        self.transaction(None, f).await
    }

    async fn transaction<R, E, F>(&self, scope: Option<Scope>, f: F) -> Result<R, E>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<R, E>> + Send,
        R: Send,
        E: From<DbError> + From<diesel::result::Error> + Send,
    {
        let (result, queued) = QUEUED_CHAINS
            .scope(RefCell::default(), async move {
                let result = match self.conn().await {
                    Ok(mut pooled) => {
                        let conn: &mut Conn = &mut pooled;
                        conn.transaction(async move |c| {
                            if let Some(scope) = scope {
                                set_scope(c, scope).await?;
                            }
                            f(c).await
                        })
                        .await
                    }
                    Err(e) => Err(e.into()),
                };
                (result, QUEUED_CHAINS.with(RefCell::take))
            })
            .await;
        if result.is_ok() && !queued.is_empty() {
            self.seal_committed(queued).await;
        }
        result
    }

    /// Seals the audit chains a committed transaction queued events for,
    /// together with those of every transaction that committed meanwhile.
    /// A failure is logged, not returned: the change is committed, and its
    /// events are sealed by the next seal of their chain or the worker's
    /// sweep. The sealing runs in a task of its own, so that a request whose
    /// client went away (its future dropped) does not stop it halfway for
    /// the others waiting on it.
    async fn seal_committed(&self, chains: BTreeSet<Option<Uuid>>) {
        let sealer = self.sealer.clone();
        sealer.dirty().extend(chains);
        let ticket = sealer.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let db = self.clone();
        let sealing = tokio::spawn(async move {
            let _turn = sealer.turn.lock().await;
            if AtomicU64::load(&sealer.sealed, Ordering::SeqCst) >= ticket {
                return;
            }
            // Every ticket issued so far has put its chains in `dirty` first.
            let upto = AtomicU64::load(&sealer.issued, Ordering::SeqCst);
            let chains = std::mem::take(&mut *sealer.dirty());
            if !chains.is_empty()
                && let Err(e) = crate::backend::audit::seal(&db, &chains).await
            {
                sealer.dirty().extend(chains);
                tracing::warn!(error = %e, "sealing audit events failed; they stay queued");
                return;
            }
            sealer.sealed.fetch_max(upto, Ordering::SeqCst);
        });
        if let Err(e) = sealing.await {
            tracing::warn!(error = %e, "sealing audit events stopped; they stay queued");
        }
    }

    /// `SELECT 1`: the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        let mut conn = self.conn().await?;
        diesel::select(1.into_sql::<diesel::sql_types::Integer>())
            .get_result::<i32>(&mut conn)
            .await?;
        Ok(())
    }

    /// Applies pending migrations, one process at a time. Returns the names of
    /// the migrations applied.
    pub async fn migrate(&self) -> Result<Vec<String>, DbError> {
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || migrations::run_pending(url.expose_secret()))
            .await
            .map_err(|e| DbError::Migration(e.to_string()))?
    }

    /// Migrations embedded in this binary that the database has not applied.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, DbError> {
        #[derive(QueryableByName)]
        struct Applied {
            #[diesel(sql_type = diesel::sql_types::Text)]
            version: String,
        }
        let mut conn = self.conn().await?;
        let applied: BTreeSet<String> =
            match diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
                .load::<Applied>(&mut conn)
                .await
            {
                Ok(rows) => rows.into_iter().map(|r| r.version).collect(),
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::Unknown,
                    info,
                )) if info.message().contains("does not exist") => BTreeSet::new(),
                Err(e) => return Err(e.into()),
            };
        Ok(embedded_versions()?
            .into_iter()
            .filter(|(version, _)| !applied.contains(version))
            .map(|(_, name)| name)
            .collect())
    }

    /// The connected role's name when it bypasses row-level security (a
    /// superuser or `BYPASSRLS`), which would leave only the application's
    /// own checks between clinics; `None` when the policies apply to it.
    pub async fn role_bypassing_rls(&self) -> Result<Option<String>, DbError> {
        #[derive(QueryableByName)]
        struct Bypass {
            #[diesel(sql_type = diesel::sql_types::Text)]
            role: String,
            #[diesel(sql_type = diesel::sql_types::Bool)]
            bypass: bool,
        }
        let mut conn = self.conn().await?;
        let row = diesel::sql_query(
            "SELECT rolname::text AS role, rolsuper OR rolbypassrls AS bypass \
             FROM pg_roles WHERE rolname = current_user",
        )
        .get_result::<Bypass>(&mut conn)
        .await?;
        Ok(row.bypass.then_some(row.role))
    }

    /// The connection URL (with its password): for tools such as `pg_dump`
    /// that connect on their own.
    pub fn url(&self) -> &SecretString {
        &self.url
    }

    /// Connections in use and idle, for metrics.
    pub fn pool_status(&self) -> (usize, usize) {
        let status = self.pool.status();
        (
            status.size.saturating_sub(status.available),
            status.available,
        )
    }

    /// Closes the pool; later calls fail at once.
    pub fn close(&self) {
        self.pool.close();
    }
}

/// The newest migration this binary embeds: the schema version of every
/// database it has migrated.
pub fn schema_version() -> Result<String, DbError> {
    Ok(embedded_versions()?
        .into_iter()
        .map(|(version, _)| version)
        .max()
        .unwrap_or_default())
}

/// `(version, name)` of every embedded migration.
fn embedded_versions() -> Result<Vec<(String, String)>, DbError> {
    let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(migrations
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect())
}

/// Reverts every migration and applies them again: proves each `down.sql`
/// really undoes its `up.sql`.
pub async fn redo_all_migrations(url: SecretString) -> Result<(), DbError> {
    tokio::task::spawn_blocking(move || migrations::redo_all(url.expose_secret()))
        .await
        .map_err(|e| DbError::Migration(e.to_string()))?
}
