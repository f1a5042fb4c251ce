//! Applying the embedded migrations. Diesel's migration harness is
//! synchronous, so this runs on a blocking thread through
//! `AsyncConnectionWrapper`.

use diesel::{Connection, RunQueryDsl};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::MigrationHarness;

use super::{DbError, MIGRATIONS};

/// Key of the advisory lock that serialises migration runs across processes.
const MIGRATION_LOCK_KEY: i64 = 0x7072_6976_6163_7931;

type SyncConn = AsyncConnectionWrapper<AsyncPgConnection>;

fn connect(url: &str) -> Result<SyncConn, DbError> {
    <SyncConn as Connection>::establish(url).map_err(|e| DbError::Unavailable(e.to_string()))
}

/// Applies pending migrations while holding a session advisory lock, so two
/// processes starting together do not both run them.
pub(super) fn run_pending(url: &str) -> Result<Vec<String>, DbError> {
    let mut conn = connect(url)?;
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .execute(&mut conn)?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|applied| applied.iter().map(ToString::to_string).collect())
        .map_err(|e| DbError::Migration(e.to_string()));
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
        .execute(&mut conn)?;
    result
}

/// Reverts all migrations, then applies them again.
pub(super) fn redo_all(url: &str) -> Result<(), DbError> {
    let mut conn = connect(url)?;
    conn.revert_all_migrations(MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(())
}
