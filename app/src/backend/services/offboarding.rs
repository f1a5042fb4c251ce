//! Offboarding: the operator closes a clinic's account. Its owners and admins
//! are emailed, an export is built and stays downloadable for the window;
//! when the window ends, every row the clinic has in any tenant table (found
//! from the live schema) is deleted, leaving a tombstone in the platform's
//! audit chain.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::backend::audit::{self, AuditContext, AuditEntry};
use crate::backend::db::schema::{clinics, memberships, platform, users};
use crate::backend::db::{Conn, DbError};
use crate::backend::email::templates::OffboardingNotice;
use crate::backend::email::{self, compose};
use crate::backend::services::clinics::forget_public;
use crate::backend::services::exports::{self, Reason};
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::email::EmailAddress;

/// Kind of the nightly job that deletes clinics whose window has ended.
pub const DELETE_DUE_JOB: &str = "clinics.delete_offboarded";

/// Why offboarding could not start.
#[derive(Debug, thiserror::Error)]
pub enum OffboardError {
    #[error("no such clinic")]
    NotFound,
    #[error("this clinic is already being offboarded")]
    AlreadyOffboarding,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for OffboardError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

/// Starts offboarding: status, dates, export, emails and audit in one
/// transaction. Returns when the data will be deleted.
pub async fn start(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    window_days: i64,
) -> Result<DateTime<Utc>, OffboardError> {
    let now = state.clock.now();
    let delete_after = now + Duration::days(window_days);
    let ctx = ctx.clone();
    let crypto = state.crypto.clone();
    let settings = state.settings.clone();
    let started = state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let found: Option<(String, String, String)> = clinics::table
                    .find(clinic.0)
                    .select((clinics::slug, clinics::name, clinics::status))
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                let Some((slug, name, status)) = found else {
                    return Err(OffboardError::NotFound);
                };
                if status == "offboarding" {
                    return Err(OffboardError::AlreadyOffboarding);
                }
                diesel::update(clinics::table.find(clinic.0))
                    .set((
                        clinics::status.eq("offboarding"),
                        clinics::offboarding_started_at.eq(now),
                        clinics::delete_after.eq(delete_after),
                    ))
                    .execute(c)
                    .await?;
                exports::queue(c, &ctx, clinic, None, Reason::Offboarding, delete_after).await?;
                let publisher: String = platform::table
                    .select(platform::name)
                    .first(c)
                    .await
                    .optional()?
                    .unwrap_or_else(|| "The platform".to_owned());
                let mut recipients: Vec<String> = memberships::table
                    .inner_join(users::table)
                    .filter(memberships::clinic_id.eq(clinic.0))
                    .filter(users::disabled_at.is_null())
                    .filter(memberships::role.eq_any(["owner", "admin"]))
                    .select(users::email)
                    .load(c)
                    .await?;
                recipients.sort_by_key(|e| e.to_lowercase());
                recipients.dedup_by_key(|e| e.to_lowercase());
                let message = OffboardingNotice {
                    publisher,
                    clinic: name,
                    delete_on: delete_after.format("%-d %B %Y").to_string(),
                    url: settings.url(&format!("/admin/c/{slug}/export")),
                };
                let domain = settings.message_domain();
                for address in &recipients {
                    let Ok(to) = EmailAddress::parse(address) else {
                        continue;
                    };
                    let outgoing = compose(&message, to, &domain).map_err(|e| {
                        OffboardError::Db(DbError::Unavailable(format!("offboarding email: {e}")))
                    })?;
                    // Not tied to the clinic: the notice must outlive its data.
                    email::enqueue(c, &crypto, None, &outgoing, None).await?;
                }
                for chain in [None, Some(clinic)] {
                    audit::record(
                        c,
                        &ctx,
                        AuditEntry {
                            clinic_id: chain,
                            action: "clinic.offboarding_started",
                            subject_kind: "clinic",
                            subject_id: clinic.0.to_string(),
                            details: json!({
                                "slug": slug,
                                "delete_after": delete_after,
                                "notified": recipients.len(),
                            }),
                        },
                    )
                    .await?;
                }
                Ok(delete_after)
            })
        })
        .await;
    // The clinic's public pages go offline on this node at once.
    forget_public(state);
    started
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Edge {
    #[diesel(sql_type = Text)]
    child: String,
    #[diesel(sql_type = Text)]
    parent: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every table with a `clinic_id` column, children before the tables they
/// reference, so deleting in this order never trips a foreign key.
pub async fn tenant_tables_in_delete_order(conn: &mut Conn) -> QueryResult<Vec<String>> {
    let tables: Vec<TableName> = diesel::sql_query(
        "SELECT table_name::text AS name FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name = 'clinic_id' ORDER BY table_name",
    )
    .load(conn)
    .await?;
    let edges: Vec<Edge> = diesel::sql_query(
        "SELECT DISTINCT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent \
         FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace \
         AND c.conrelid <> c.confrelid",
    )
    .load(conn)
    .await?;
    let tables: BTreeSet<String> = tables.into_iter().map(|t| t.name).collect();
    let mut parents: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for edge in &edges {
        if tables.contains(&edge.child) && tables.contains(&edge.parent) {
            parents
                .entry(edge.parent.as_str())
                .or_default()
                .insert(edge.child.as_str());
        }
    }
    // A table is deleted once every table referencing it has been.
    let mut order = Vec::with_capacity(tables.len());
    let mut left: BTreeSet<&str> = tables.iter().map(String::as_str).collect();
    while !left.is_empty() {
        let ready: Vec<&str> = left
            .iter()
            .copied()
            .filter(|t| {
                parents
                    .get(t)
                    .is_none_or(|children| children.iter().all(|c| !left.contains(c)))
            })
            .collect();
        // A cycle would leave nothing ready: take the rest as they are and
        // let cascading keys sort them out.
        let ready = if ready.is_empty() {
            left.iter().copied().collect()
        } else {
            ready
        };
        for table in ready {
            left.remove(table);
            order.push(table.to_owned());
        }
    }
    Ok(order)
}

/// Deletes every row of the clinic, then the clinic, then users left without
/// any clinic or platform role; writes the tombstone. Returns rows deleted
/// per table.
pub async fn delete_clinic(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
) -> Result<BTreeMap<String, i64>, DbError> {
    let ctx = ctx.clone();
    let deleted = state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let slug: Option<String> = clinics::table
                    .find(clinic.0)
                    .select(clinics::slug)
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                let Some(slug) = slug else {
                    return Ok(BTreeMap::new());
                };
                diesel::sql_query(
                    "SELECT set_config('portal.purge', 'on', true), \
                     set_config('portal.audit_purge', 'on', true)",
                )
                .execute(c)
                .await?;
                let members: Vec<Uuid> = memberships::table
                    .filter(memberships::clinic_id.eq(clinic.0))
                    .select(memberships::user_id)
                    .load(c)
                    .await?;
                let mut counts = BTreeMap::new();
                for table in tenant_tables_in_delete_order(c).await? {
                    let n = diesel::sql_query(format!(
                        "WITH gone AS (DELETE FROM {} WHERE clinic_id = $1 RETURNING 1) \
                         SELECT count(*) AS n FROM gone",
                        quote_ident(&table)
                    ))
                    .bind::<SqlUuid, _>(clinic.0)
                    .get_result::<Count>(c)
                    .await?
                    .n;
                    if n > 0 {
                        counts.insert(table, n);
                    }
                }
                diesel::delete(clinics::table.find(clinic.0))
                    .execute(c)
                    .await?;
                // Team members who belonged to no other clinic and run no
                // part of the platform have no reason to stay.
                let orphans = diesel::delete(
                    users::table
                        .filter(users::id.eq_any(&members))
                        .filter(users::platform_role.is_null())
                        .filter(diesel::dsl::not(diesel::dsl::exists(
                            memberships::table.filter(memberships::user_id.eq(users::id)),
                        ))),
                )
                .execute(c)
                .await?;
                counts.insert("users".to_owned(), orphans as i64);
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: None,
                        action: "clinic.deleted",
                        subject_kind: "clinic",
                        subject_id: clinic.0.to_string(),
                        details: json!({ "slug": slug, "deleted": counts }),
                    },
                )
                .await?;
                Ok::<_, DbError>(counts)
            })
        })
        .await;
    forget_public(state);
    deleted
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Deletes every clinic whose export window has ended; returns their slugs.
pub async fn delete_due(state: &AppState, ctx: &AuditContext) -> Result<Vec<String>, DbError> {
    let now = state.clock.now();
    let due: Vec<(Uuid, String)> = state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    clinics::table
                        .filter(clinics::status.eq("offboarding"))
                        .filter(clinics::delete_after.le(now))
                        .select((clinics::id, clinics::slug))
                        .load(c)
                        .await?,
                )
            })
        })
        .await?;
    let mut deleted = Vec::with_capacity(due.len());
    for (id, slug) in due {
        let counts = delete_clinic(state, ctx, ClinicId(id)).await?;
        tracing::info!(clinic = %slug, ?counts, "deleted an offboarded clinic");
        deleted.push(slug);
    }
    Ok(deleted)
}
