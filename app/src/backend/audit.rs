//! Appending to and verifying the hash-chained audit log.

use std::collections::BTreeSet;

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::backend::db::schema::{audit_anchors, audit_events, audit_queue};
use crate::backend::db::{Conn, Db, DbError, FixedSql};
use crate::backend::models::audit::{AuditEventRow, NewAuditEventRow, QueuedEventRow};
use crate::backend::tenancy::{Scope, set_scope};
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

/// Records `entry` inside the caller's transaction, so the event commits or
/// rolls back with the change it describes.
///
/// The event is queued, not chained: concurrent changes of one clinic then
/// commit side by side instead of one after another under the chain's lock.
/// When the transaction was opened by [`Db`], the chain is sealed right
/// after the commit, before [`Db::scoped`] returns (see [`seal`]); on any
/// other connection it is sealed here, before the caller commits.
pub async fn record(
    mut conn: &Conn,
    ctx: &AuditContext,
    entry: AuditEntry<'_>,
) -> QueryResult<i64> {
    let clinic = entry.clinic_id.map(|c| c.0);
    // Postgres keeps microseconds; the hash covers exactly what is stored.
    let occurred_at: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let (actor_kind, actor_id, actor_label) = ctx.actor.columns();
    let row = QueuedEventRow {
        id: 0,
        clinic_id: clinic,
        occurred_at,
        actor_kind: actor_kind.to_owned(),
        actor_id,
        actor_label,
        action: entry.action.to_owned(),
        subject_kind: entry.subject_kind.to_owned(),
        subject_id: entry.subject_id,
        details: entry.details,
        request_id: ctx.request_id.clone(),
    };
    let id = diesel::insert_into(audit_queue::table)
        .values(&row)
        .returning(audit_queue::id)
        .get_result(&mut conn)
        .await?;
    if !crate::backend::db::seal_after_commit(clinic) {
        seal_chain(conn, clinic).await?;
    }
    Ok(id)
}

/// Queued events moved into a chain per transaction round, bounding memory
/// after a long backlog.
const SEAL_BATCH: i64 = 2000;

/// Moves every committed event queued for the chain of `clinic` (`None`: the
/// platform's) into the chain, in the order they were queued. Takes the
/// chain's transaction-level advisory lock, so sealers on every app node
/// append one at a time; the caller commits. Returns how many were sealed.
pub async fn seal_chain(mut conn: &Conn, clinic: Option<Uuid>) -> QueryResult<usize> {
    let chain_key = clinic.map_or_else(|| "audit:platform".to_owned(), |c| format!("audit:{c}"));
    FixedSql(
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<Text, _>(chain_key),
    )
    .execute(&mut conn)
    .await?;

    let mut sealed = 0;
    let mut head: Option<(i64, Vec<u8>)> = None;
    loop {
        // `IS NOT DISTINCT FROM` cannot use the (clinic_id, id) index.
        let sql = if clinic.is_some() {
            "DELETE FROM audit_queue WHERE id IN (SELECT id FROM audit_queue \
             WHERE clinic_id = $1 ORDER BY id LIMIT $2) RETURNING *"
        } else {
            "DELETE FROM audit_queue WHERE id IN (SELECT id FROM audit_queue \
             WHERE clinic_id IS NULL AND $1::uuid IS NULL ORDER BY id LIMIT $2) RETURNING *"
        };
        let mut queued: Vec<QueuedEventRow> = FixedSql(
            diesel::sql_query(sql)
                .bind::<Nullable<diesel::sql_types::Uuid>, _>(clinic)
                .bind::<BigInt, _>(SEAL_BATCH),
        )
        .load(&mut conn)
        .await?;
        if queued.is_empty() {
            return Ok(sealed);
        }
        queued.sort_by_key(|row| row.id);
        let (mut seq, mut prev_hash) = match head.take() {
            Some(head) => head,
            None => chain_head(conn, clinic).await?,
        };
        let batch_len = queued.len();
        let mut rows = Vec::with_capacity(batch_len);
        for queued in queued {
            seq += 1;
            let event = ChainedEvent {
                clinic_id: queued.clinic_id,
                seq,
                occurred_at_micros: queued.occurred_at.timestamp_micros(),
                actor_kind: queued.actor_kind,
                actor_id: queued.actor_id,
                actor_label: queued.actor_label,
                action: queued.action,
                subject_kind: queued.subject_kind,
                subject_id: queued.subject_id,
                details: queued.details,
                request_id: queued.request_id,
            };
            let hash = event.chained_hash(&prev_hash).to_vec();
            rows.push(NewAuditEventRow {
                clinic_id: event.clinic_id,
                seq,
                occurred_at: queued.occurred_at,
                actor_kind: event.actor_kind,
                actor_id: event.actor_id,
                actor_label: event.actor_label,
                action: event.action,
                subject_kind: event.subject_kind,
                subject_id: event.subject_id,
                details: event.details,
                request_id: event.request_id,
                prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
                hash,
            });
        }
        diesel::insert_into(audit_events::table)
            .values(&rows)
            .execute(&mut conn)
            .await?;
        sealed += batch_len;
        head = Some((seq, prev_hash));
        if (batch_len as i64) < SEAL_BATCH {
            return Ok(sealed);
        }
    }
}

/// The last sequence number and hash of a chain: its newest event, else the
/// anchor the retention purge left, else the genesis.
async fn chain_head(mut conn: &Conn, clinic: Option<Uuid>) -> QueryResult<(i64, Vec<u8>)> {
    // Walks the (clinic_id, seq) index backwards, which `IS NOT DISTINCT
    // FROM` could not use.
    let newest = audit_events::table
        .order(audit_events::seq.desc())
        .select((audit_events::seq, audit_events::hash));
    let last: Option<(i64, Vec<u8>)> = match clinic {
        Some(clinic) => {
            newest
                .filter(audit_events::clinic_id.eq(clinic))
                .first(&mut conn)
                .await
        }
        None => {
            newest
                .filter(audit_events::clinic_id.is_null())
                .first(&mut conn)
                .await
        }
    }
    .optional()?;
    Ok(match last {
        Some(head) => head,
        // A chain the retention purge emptied goes on from its anchor.
        None => anchor(conn, clinic)
            .await?
            .unwrap_or_else(|| (0, GENESIS_HASH.to_vec())),
    })
}

/// Seals the queued events of `chains` in one transaction (one commit for
/// all of them), taking the chains' locks in a fixed order.
pub async fn seal(db: &Db, chains: &BTreeSet<Option<Uuid>>) -> Result<usize, DbError> {
    // Not through `Db::scoped`, which calls this after its commits.
    let mut conn = db.conn().await?;
    let sealed = conn
        .transaction(async |c| {
            set_scope(c, Scope::System).await?;
            let mut sealed = 0;
            for &clinic in chains {
                sealed += seal_chain(c, clinic).await?;
            }
            Ok::<_, DbError>(sealed)
        })
        .await?;
    Ok(sealed)
}

/// Seals whatever is queued on any chain: events a process left behind when
/// it stopped between a commit and its seal. Run by the worker's
/// housekeeping and before `audit verify`.
pub async fn seal_all_queued(db: &Db) -> Result<usize, DbError> {
    let chains: Vec<Option<Uuid>> = db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    audit_queue::table
                        .select(audit_queue::clinic_id)
                        .distinct()
                        .load(c)
                        .await?,
                )
            })
        })
        .await?;
    if chains.is_empty() {
        return Ok(0);
    }
    seal(db, &chains.into_iter().collect()).await
}

/// Where a clinic's chain starts after its oldest events were purged: the
/// sequence number and hash of the last one removed.
pub async fn anchor(mut conn: &Conn, clinic: Option<Uuid>) -> QueryResult<Option<(i64, Vec<u8>)>> {
    let Some(clinic) = clinic else {
        return Ok(None);
    };
    audit_anchors::table
        .find(clinic)
        .select((audit_anchors::seq, audit_anchors::hash))
        .first(&mut conn)
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

/// Seals what is queued, then walks every chain in sequence order, in batches, and reports each chain's
/// first broken row if any.
pub async fn verify_all(db: &Db) -> Result<Vec<ChainReport>, DbError> {
    // Events still queued are sealed first, so that every committed event
    // is checked.
    seal_all_queued(db).await?;
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
