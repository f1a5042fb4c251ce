//! Appending to and verifying the hash-chained audit log.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use crate::backend::db::schema::{audit_anchors, audit_events};
use crate::backend::db::{Conn, Db, DbError};
use crate::backend::models::audit::{AuditEventRow, NewAuditEventRow};
use crate::backend::tenancy::Scope;
use crate::domain::audit::{ChainBreak, ChainVerifier, ChainedEvent, GENESIS_HASH, StoredLink};
use crate::domain::clinic::ClinicId;

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user.
    User { id: Uuid, label: String },
    /// The portal itself (jobs, schedules).
    System,
    /// Someone on a public page (a patient, a visitor); `label` never holds
    /// personal data beyond what the event is about.
    Public { label: String },
    /// The command-line tool, run by whoever had shell access.
    Cli,
}

impl Actor {
    fn columns(&self) -> (&'static str, Option<Uuid>, String) {
        match self {
            Self::User { id, label } => ("user", Some(*id), label.clone()),
            Self::System => ("system", None, "system".to_owned()),
            Self::Public { label } => ("public", None, label.clone()),
            Self::Cli => ("cli", None, "command line".to_owned()),
        }
    }
}

/// Who acts and on behalf of which HTTP request, passed to every service.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub actor: Actor,
    pub request_id: Option<String>,
}

impl AuditContext {
    /// For the command-line tool.
    pub fn cli() -> Self {
        Self {
            actor: Actor::Cli,
            request_id: None,
        }
    }

    /// For jobs and schedules.
    pub fn system() -> Self {
        Self {
            actor: Actor::System,
            request_id: None,
        }
    }
}

/// One event to append.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// The clinic whose chain receives the event; `None` for the platform's.
    pub clinic_id: Option<ClinicId>,
    pub action: &'a str,
    pub subject_kind: &'a str,
    pub subject_id: String,
    pub details: Value,
}

/// Appends `entry` to its chain inside the caller's transaction, so the event
/// commits or rolls back with the change it describes. Appends to one chain are
/// serialised with a transaction-level advisory lock.
pub async fn record(
    conn: &mut Conn,
    ctx: &AuditContext,
    entry: AuditEntry<'_>,
) -> QueryResult<i64> {
    let clinic = entry.clinic_id.map(|c| c.0);
    let chain_key = clinic.map_or_else(|| "audit:platform".to_owned(), |c| format!("audit:{c}"));
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<Text, _>(chain_key)
        .execute(conn)
        .await?;

    let last: Option<(i64, Vec<u8>)> = audit_events::table
        .filter(audit_events::clinic_id.is_not_distinct_from(clinic))
        .order(audit_events::seq.desc())
        .select((audit_events::seq, audit_events::hash))
        .first(conn)
        .await
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        // A chain the retention purge emptied goes on from its anchor.
        None => match anchor(conn, clinic).await? {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS_HASH.to_vec()),
        },
    };

    // Postgres keeps microseconds; hash exactly what will be stored.
    let occurred_at: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let (actor_kind, actor_id, actor_label) = ctx.actor.columns();
    let event = ChainedEvent {
        clinic_id: clinic,
        seq,
        occurred_at_micros: occurred_at.timestamp_micros(),
        actor_kind: actor_kind.to_owned(),
        actor_id,
        actor_label,
        action: entry.action.to_owned(),
        subject_kind: entry.subject_kind.to_owned(),
        subject_id: entry.subject_id,
        details: entry.details,
        request_id: ctx.request_id.clone(),
    };
    let hash = event.chained_hash(&prev_hash).to_vec();
    let row = NewAuditEventRow {
        clinic_id: event.clinic_id,
        seq,
        occurred_at,
        actor_kind: event.actor_kind,
        actor_id: event.actor_id,
        actor_label: event.actor_label,
        action: event.action,
        subject_kind: event.subject_kind,
        subject_id: event.subject_id,
        details: event.details,
        request_id: event.request_id,
        prev_hash,
        hash,
    };
    diesel::insert_into(audit_events::table)
        .values(&row)
        .returning(audit_events::id)
        .get_result(conn)
        .await
}

/// Where a clinic's chain starts after its oldest events were purged: the
/// sequence number and hash of the last one removed.
pub async fn anchor(conn: &mut Conn, clinic: Option<Uuid>) -> QueryResult<Option<(i64, Vec<u8>)>> {
    let Some(clinic) = clinic else {
        return Ok(None);
    };
    audit_anchors::table
        .find(clinic)
        .select((audit_anchors::seq, audit_anchors::hash))
        .first(conn)
        .await
        .optional()
}

impl From<AuditEventRow> for StoredLink {
    fn from(row: AuditEventRow) -> Self {
        Self {
            id: row.id,
            event: ChainedEvent {
                clinic_id: row.clinic_id,
                seq: row.seq,
                occurred_at_micros: row.occurred_at.timestamp_micros(),
                actor_kind: row.actor_kind,
                actor_id: row.actor_id,
                actor_label: row.actor_label,
                action: row.action,
                subject_kind: row.subject_kind,
                subject_id: row.subject_id,
                details: row.details,
                request_id: row.request_id,
            },
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

/// The result of verifying one chain.
#[derive(Debug, Clone)]
pub struct ChainReport {
    pub clinic_id: Option<Uuid>,
    /// The clinic's slug, or `None` for the platform chain.
    pub clinic_slug: Option<String>,
    pub events_checked: u64,
    pub broken: Option<ChainBreak>,
}

impl ChainReport {
    /// "platform" or "clinic demo".
    pub fn chain_name(&self) -> String {
        match (&self.clinic_slug, self.clinic_id) {
            (Some(slug), _) => format!("clinic {slug}"),
            (None, Some(id)) => format!("clinic {id}"),
            (None, None) => "platform".to_owned(),
        }
    }
}

const VERIFY_BATCH: i64 = 1000;

/// Walks every chain in sequence order, in batches, and reports each chain's
/// first broken row if any.
pub async fn verify_all(db: &Db) -> Result<Vec<ChainReport>, DbError> {
    #[derive(QueryableByName)]
    struct Chain {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
        clinic_id: Option<Uuid>,
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        slug: Option<String>,
    }
    let chains: Vec<Chain> = db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                let chains = diesel::sql_query(
                    "SELECT DISTINCT a.clinic_id, c.slug FROM audit_events a \
                     LEFT JOIN clinics c ON c.id = a.clinic_id ORDER BY c.slug NULLS FIRST",
                )
                .load::<Chain>(c)
                .await?;
                Ok::<_, DbError>(chains)
            })
        })
        .await?;

    let mut reports = Vec::with_capacity(chains.len());
    for chain in chains {
        let clinic = chain.clinic_id;
        let start = db
            .scoped(Scope::System, move |c| {
                Box::pin(async move { Ok::<_, DbError>(anchor(c, clinic).await?) })
            })
            .await?;
        let mut verifier = start.map_or_else(ChainVerifier::default, |(seq, hash)| {
            ChainVerifier::from_anchor(seq, hash)
        });
        let mut after_seq = 0_i64;
        let mut broken = None;
        loop {
            let clinic = chain.clinic_id;
            let rows: Vec<AuditEventRow> = db
                .scoped(Scope::System, move |c| {
                    Box::pin(async move {
                        let rows = audit_events::table
                            .filter(audit_events::clinic_id.is_not_distinct_from(clinic))
                            .filter(audit_events::seq.gt(after_seq))
                            .order(audit_events::seq.asc())
                            .limit(VERIFY_BATCH)
                            .select(AuditEventRow::as_select())
                            .load(c)
                            .await?;
                        Ok::<_, DbError>(rows)
                    })
                })
                .await?;
            let done = (rows.len() as i64) < VERIFY_BATCH;
            for row in rows {
                after_seq = row.seq;
                if let Err(e) = verifier.push(&row.into()) {
                    broken = Some(e);
                    break;
                }
            }
            if done || broken.is_some() {
                break;
            }
        }
        reports.push(ChainReport {
            clinic_id: chain.clinic_id,
            clinic_slug: chain.slug,
            events_checked: verifier.checked(),
            broken,
        });
    }
    Ok(reports)
}

/// Number of events in a clinic's chain (tests and dashboards).
pub async fn count_for_clinic(db: &Db, clinic: ClinicId) -> Result<i64, DbError> {
    db.scoped(Scope::Clinic(clinic), |c| {
        Box::pin(async move {
            Ok::<_, DbError>(audit_events::table.count().get_result::<i64>(c).await?)
        })
    })
    .await
}

/// An event as the audit log page lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditListItem {
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: String,
}

/// A clinic's events, newest first, one page at a time.
pub async fn list_for_clinic(
    db: &Db,
    clinic: ClinicId,
    page: crate::domain::pagination::PageRequest,
) -> Result<crate::domain::pagination::Page<AuditListItem>, DbError> {
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            let total: i64 = audit_events::table
                .filter(audit_events::clinic_id.eq(clinic.0))
                .count()
                .get_result(c)
                .await?;
            let rows: Vec<AuditEventRow> = audit_events::table
                .filter(audit_events::clinic_id.eq(clinic.0))
                .order(audit_events::seq.desc())
                .offset(page.offset())
                .limit(page.limit())
                .select(AuditEventRow::as_select())
                .load(c)
                .await?;
            let items = rows
                .into_iter()
                .map(|row| {
                    let mut details = String::new();
                    crate::domain::audit::write_canonical(&row.details, &mut details);
                    AuditListItem {
                        seq: row.seq,
                        occurred_at: row.occurred_at,
                        actor: row.actor_label,
                        action: row.action,
                        subject: format!("{} {}", row.subject_kind, row.subject_id),
                        details,
                    }
                })
                .collect();
            Ok::<_, DbError>(crate::domain::pagination::Page {
                items,
                page: page.page,
                per_page: page.per_page,
                total,
            })
        })
    })
    .await
}
