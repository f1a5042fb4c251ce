//! Tenant scope of a database transaction.
//!
//! Services choose the scope explicitly; Postgres row-level security enforces
//! it a second time (see `migrations/*_tenancy/up.sql`). A transaction without
//! a scope sees no tenant rows at all.

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::backend::db::FixedSql;
use crate::domain::clinic::ClinicId;

/// Which tenant rows a transaction may read and write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Only the rows of one clinic.
    Clinic(ClinicId),
    /// Every clinic's rows and the platform's: workers, operators, the CLI.
    System,
}

/// Writes the scope into transaction-local settings read by the RLS policies.
pub async fn set_scope(conn: &mut AsyncPgConnection, scope: Scope) -> diesel::QueryResult<()> {
    write_scope(conn, scope, true).await
}

/// Writes the scope into the settings of the whole session. Only for
/// connections of their own that never return to the pool (see
/// [`crate::backend::db::Db::dedicated`]).
pub async fn set_session_scope(
    conn: &mut AsyncPgConnection,
    scope: Scope,
) -> diesel::QueryResult<()> {
    write_scope(conn, scope, false).await
}

async fn write_scope(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    local: bool,
) -> diesel::QueryResult<()> {
    let (kind, clinic) = match scope {
        Scope::Clinic(id) => ("clinic", id.0.to_string()),
        Scope::System => ("system", String::new()),
    };
    FixedSql(
        diesel::sql_query(
            "SELECT set_config('portal.scope', $1, $3), set_config('portal.clinic_id', $2, $3)",
        )
        .bind::<Text, _>(kind)
        .bind::<Text, _>(clinic)
        .bind::<diesel::sql_types::Bool, _>(local),
    )
    .execute(conn)
    .await
    .map(|_| ())
}
