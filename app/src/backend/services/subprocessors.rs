//! Sub-processor registers: the platform's (which clinics may object to)
//! and each clinic's own list of its processors. Entries are recorded as
//! proposed and become active, are replaced or retire through announced
//! changes, which take effect by a job at their date; announcing one sends
//! a change notice. Clinics object to the platform's changes before the
//! objection deadline; operators resolve objections with a note emailed to
//! the clinic.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use super::notices::Publisher;
use super::notices::campaigns::{self, Subject};
use crate::backend::audit::{self, AuditContext, AuditEntry};
use crate::backend::db::schema::{
    clinics, memberships, platform, subprocessor_changes, subprocessor_objections, subprocessors,
    users,
};
use crate::backend::db::{Conn, Db, DbError};
use crate::backend::email::templates::{ObjectionResolved, SubprocessorChangeNotice};
use crate::backend::email::{self, compose};
use crate::backend::error::AppError;
use crate::backend::jobs::{self, NewJob};
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::email::EmailAddress;
use crate::domain::subprocessors::{
    self as rules, ChangeKind, DataCategory, ObjectionStatus, Safeguard, Status, SubprocessorEntry,
    SubprocessorForm,
};

/// Kind of the job that makes due changes effective.
pub const APPLY_DUE_JOB: &str = "subprocessors.apply_due";

/// A register entry.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = subprocessors)]
pub struct SubprocessorRow {
    pub id: Uuid,
    pub clinic_id: Option<Uuid>,
    pub legal_name: String,
    pub service: String,
    pub purpose: String,
    pub data_categories: Vec<String>,
    pub countries: Vec<String>,
    pub safeguard: String,
    pub website: Option<String>,
    pub terms_url: Option<String>,
    pub status: String,
    pub active_since: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SubprocessorRow {
    pub fn status(&self) -> Status {
        self.status.parse().unwrap_or(Status::Proposed)
    }

    pub fn safeguard(&self) -> Safeguard {
        self.safeguard.parse().unwrap_or(Safeguard::NotNeeded)
    }

    /// The entry as its edit form shows it.
    pub fn form(&self) -> SubprocessorForm {
        SubprocessorForm {
            legal_name: self.legal_name.clone(),
            service: self.service.clone(),
            purpose: self.purpose.clone(),
            categories: self.data_categories.clone(),
            countries: self.countries.join(", "),
            safeguard: self.safeguard.clone(),
            website: self.website.clone().unwrap_or_default(),
            terms_url: self.terms_url.clone().unwrap_or_default(),
        }
    }

    pub fn categories(&self) -> Vec<DataCategory> {
        self.data_categories
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect()
    }
}

/// An announced change.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = subprocessor_changes)]
pub struct ChangeRow {
    pub id: Uuid,
    pub clinic_id: Option<Uuid>,
    pub kind: String,
    pub subprocessor_id: Uuid,
    pub replaces_id: Option<Uuid>,
    pub summary: String,
    pub status: String,
    pub objection_deadline: DateTime<Utc>,
    pub effective_at: DateTime<Utc>,
    pub announced_at: DateTime<Utc>,
    pub applied_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl ChangeRow {
    pub fn kind(&self) -> ChangeKind {
        self.kind.parse().unwrap_or(ChangeKind::Add)
    }

    /// Announced and not yet in effect at `now`.
    pub fn is_upcoming(&self, now: DateTime<Utc>) -> bool {
        self.status == "announced" && self.effective_at > now
    }

    /// In effect at `now`: applied, or announced and its date has come
    /// (the job runs shortly after).
    pub fn is_in_effect(&self, now: DateTime<Utc>) -> bool {
        self.status == "effective" || (self.status == "announced" && self.effective_at <= now)
    }
}

/// A change with the entries it concerns.
#[derive(Clone, Debug)]
pub struct ChangeView {
    pub change: ChangeRow,
    pub subprocessor: SubprocessorRow,
    pub replaces: Option<SubprocessorRow>,
}

impl ChangeView {
    /// One line saying what the change does.
    pub fn headline(&self) -> String {
        let name = &self.subprocessor.legal_name;
        match (self.change.kind(), &self.replaces) {
            (ChangeKind::Add, _) => format!("{name} is added as a sub-processor"),
            (ChangeKind::Replace, Some(old)) => format!("{name} replaces {}", old.legal_name),
            (ChangeKind::Replace, None) => format!("{name} replaces another sub-processor"),
            (ChangeKind::Retire, _) => format!("{name} stops processing data"),
        }
    }
}

/// A publisher's whole register.
#[derive(Clone, Debug)]
pub struct Register {
    pub publisher_name: String,
    pub entries: Vec<SubprocessorRow>,
    /// Newest first, cancelled ones included.
    pub changes: Vec<ChangeView>,
    pub window_days: u32,
}

impl Register {
    /// The entries in force at `now`, by purpose (sorted), each group by
    /// name: the stored statuses with the changes whose date has come
    /// applied, so the list is right even before the job has run.
    pub fn in_force(&self, now: DateTime<Utc>) -> Vec<(String, Vec<SubprocessorRow>)> {
        let mut status: HashMap<Uuid, Status> =
            self.entries.iter().map(|e| (e.id, e.status())).collect();
        let mut since: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
        // Applied changes are in the stored statuses already.
        let due = self.by_date(|c| c.status == "announced" && c.effective_at <= now);
        for view in due {
            let (new, old) = rules::outcome(view.change.kind());
            status.insert(view.change.subprocessor_id, new);
            since.insert(view.change.subprocessor_id, view.change.effective_at);
            if let (Some(replaced), Some(old)) = (view.change.replaces_id, old) {
                status.insert(replaced, old);
            }
        }
        let mut groups: Vec<(String, Vec<SubprocessorRow>)> = Vec::new();
        let mut active: Vec<SubprocessorRow> = self
            .entries
            .iter()
            .filter(|e| status.get(&e.id) == Some(&Status::Active))
            .cloned()
            .map(|mut e| {
                if e.active_since.is_none() {
                    e.active_since = since.get(&e.id).copied();
                }
                e
            })
            .collect();
        active.sort_by(|a, b| {
            (a.purpose.to_lowercase(), a.legal_name.to_lowercase())
                .cmp(&(b.purpose.to_lowercase(), b.legal_name.to_lowercase()))
        });
        for entry in active {
            match groups.last_mut() {
                Some((purpose, list)) if purpose.eq_ignore_ascii_case(&entry.purpose) => {
                    list.push(entry);
                }
                _ => groups.push((entry.purpose.clone(), vec![entry])),
            }
        }
        groups
    }

    /// The changes `keep` selects, by effective date (earliest first).
    fn by_date(&self, keep: impl Fn(&ChangeRow) -> bool) -> Vec<&ChangeView> {
        let mut list: Vec<&ChangeView> = self.changes.iter().filter(|c| keep(&c.change)).collect();
        list.sort_by_key(|c| c.change.effective_at);
        list
    }

    /// Changes announced and not yet in effect at `now`, soonest first.
    pub fn upcoming(&self, now: DateTime<Utc>) -> Vec<&ChangeView> {
        self.by_date(|c| c.is_upcoming(now))
    }

    /// Changes in effect at `now`, newest first.
    pub fn history(&self, now: DateTime<Utc>) -> Vec<&ChangeView> {
        let mut list = self.by_date(|c| c.is_in_effect(now));
        list.reverse();
        list
    }

    pub fn entry(&self, id: Uuid) -> Option<&SubprocessorRow> {
        self.entries.iter().find(|e| e.id == id)
    }

    pub fn change(&self, id: Uuid) -> Option<&ChangeView> {
        self.changes.iter().find(|c| c.change.id == id)
    }

    /// The open (announced) change concerning entry `id`, if any.
    pub fn open_change_of(&self, id: Uuid) -> Option<&ChangeView> {
        self.changes.iter().find(|c| {
            c.change.status == "announced"
                && (c.change.subprocessor_id == id || c.change.replaces_id == Some(id))
        })
    }
}

/// The objection window of a publisher: the platform's setting; a clinic's
/// own register has nobody who objects, so its changes need no window.
async fn window_days(conn: &mut Conn, publisher: Publisher) -> QueryResult<u32> {
    match publisher {
        Publisher::Platform => {
            let days: i32 = platform::table
                .select(platform::objection_window_days)
                .first(conn)
                .await?;
            Ok(days.max(0).unsigned_abs())
        }
        Publisher::Clinic(_) => Ok(0),
    }
}

async fn load_register(conn: &mut Conn, publisher: Publisher) -> QueryResult<Register> {
    let entries: Vec<SubprocessorRow> = subprocessors::table
        .filter(subprocessors::clinic_id.is_not_distinct_from(publisher.clinic_id()))
        .order((subprocessors::purpose, subprocessors::legal_name))
        .select(SubprocessorRow::as_select())
        .load(conn)
        .await?;
    let rows: Vec<ChangeRow> = subprocessor_changes::table
        .filter(subprocessor_changes::clinic_id.is_not_distinct_from(publisher.clinic_id()))
        .order(subprocessor_changes::announced_at.desc())
        .select(ChangeRow::as_select())
        .load(conn)
        .await?;
    let by_id: HashMap<Uuid, &SubprocessorRow> = entries.iter().map(|e| (e.id, e)).collect();
    let changes = rows
        .into_iter()
        .filter_map(|change| {
            let subprocessor = (*by_id.get(&change.subprocessor_id)?).clone();
            let replaces = change
                .replaces_id
                .and_then(|id| by_id.get(&id).map(|e| (*e).clone()));
            Some(ChangeView {
                change,
                subprocessor,
                replaces,
            })
        })
        .collect();
    Ok(Register {
        publisher_name: super::notices::subscriptions::publisher_name(conn, publisher).await?,
        entries,
        changes,
        window_days: window_days(conn, publisher).await?,
    })
}

/// A publisher's register. The platform's is public: anyone may read it.
pub async fn register(db: &Db, publisher: Publisher) -> Result<Register, DbError> {
    db.scoped(publisher.scope(), move |c| {
        Box::pin(async move { Ok::<_, DbError>(load_register(c, publisher).await?) })
    })
    .await
}

fn audit_entry(
    publisher: Publisher,
    action: &'static str,
    kind: &'static str,
    id: Uuid,
    details: serde_json::Value,
) -> AuditEntry<'static> {
    AuditEntry {
        clinic_id: publisher.clinic_id().map(ClinicId),
        action,
        subject_kind: kind,
        subject_id: id.to_string(),
        details,
    }
}

fn entry_details(entry: &SubprocessorEntry) -> serde_json::Value {
    json!({
        "legal_name": entry.legal_name,
        "purpose": entry.purpose,
        "data_categories": entry.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "countries": entry.countries.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "safeguard": entry.safeguard.as_str(),
    })
}

/// Adds an entry to the register: proposed (to be announced), or, for a
/// sub-processor already in service before the register was kept here,
/// active since `active_since`.
pub async fn create(
    state: &AppState,
    ctx: &AuditContext,
    publisher: Publisher,
    entry: SubprocessorEntry,
    active_since: Option<DateTime<Utc>>,
) -> Result<Uuid, AppError> {
    let ctx = ctx.clone();
    let now = state.clock.now();
    if active_since.is_some_and(|at| at > now) {
        return Err(AppError::BadRequest(
            "A sub-processor already in service needs a date in the past; announce a new one instead."
                .into(),
        ));
    }
    state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move { insert_entry(c, &ctx, publisher, &entry, active_since).await })
        })
        .await
}

async fn insert_entry(
    c: &mut Conn,
    ctx: &AuditContext,
    publisher: Publisher,
    entry: &SubprocessorEntry,
    active_since: Option<DateTime<Utc>>,
) -> Result<Uuid, AppError> {
    let id = Uuid::now_v7();
    let status = if active_since.is_some() {
        Status::Active
    } else {
        Status::Proposed
    };
    diesel::insert_into(subprocessors::table)
        .values((
            subprocessors::id.eq(id),
            subprocessors::clinic_id.eq(publisher.clinic_id()),
            subprocessors::legal_name.eq(&entry.legal_name),
            subprocessors::service.eq(&entry.service),
            subprocessors::purpose.eq(&entry.purpose),
            subprocessors::data_categories.eq(category_values(entry)),
            subprocessors::countries.eq(country_values(entry)),
            subprocessors::safeguard.eq(entry.safeguard.as_str()),
            subprocessors::website.eq(&entry.website),
            subprocessors::terms_url.eq(&entry.terms_url),
            subprocessors::status.eq(status.as_str()),
            subprocessors::active_since.eq(active_since),
        ))
        .execute(c)
        .await?;
    let mut details = entry_details(entry);
    details["status"] = json!(status.as_str());
    details["active_since"] = json!(active_since.map(|at| at.to_rfc3339()));
    audit::record(
        c,
        ctx,
        audit_entry(
            publisher,
            "subprocessor.created",
            "subprocessor",
            id,
            details,
        ),
    )
    .await?;
    Ok(id)
}

/// Fills an empty register with `entries` (the demo data); a register that
/// has entries is left alone. Returns how many were added.
pub async fn seed_if_empty(
    db: &Db,
    ctx: &AuditContext,
    publisher: Publisher,
    entries: Vec<(SubprocessorEntry, Option<DateTime<Utc>>)>,
) -> Result<usize, AppError> {
    let ctx = ctx.clone();
    db.scoped(publisher.scope(), move |c| {
        Box::pin(async move {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('subprocessors.seed'))")
                .execute(c)
                .await?;
            let existing: i64 = subprocessors::table
                .filter(subprocessors::clinic_id.is_not_distinct_from(publisher.clinic_id()))
                .count()
                .get_result(c)
                .await?;
            if existing > 0 {
                return Ok::<_, AppError>(0);
            }
            for (entry, since) in &entries {
                insert_entry(c, &ctx, publisher, entry, *since).await?;
            }
            Ok(entries.len())
        })
    })
    .await
}

fn category_values(entry: &SubprocessorEntry) -> Vec<String> {
    entry
        .categories
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect()
}

fn country_values(entry: &SubprocessorEntry) -> Vec<String> {
    entry
        .countries
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect()
}

/// Corrects an entry's details. Retired entries are history and stay as
/// they were.
pub async fn update(
    state: &AppState,
    ctx: &AuditContext,
    publisher: Publisher,
    id: Uuid,
    entry: SubprocessorEntry,
) -> Result<(), AppError> {
    let ctx = ctx.clone();
    state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move {
                let before: SubprocessorRow = subprocessors::table
                    .find(id)
                    .filter(subprocessors::clinic_id.is_not_distinct_from(publisher.clinic_id()))
                    .select(SubprocessorRow::as_select())
                    .for_update()
                    .first(c)
                    .await
                    .optional()?
                    .ok_or(AppError::NotFound)?;
                if before.status() == Status::Retired {
                    return Err(AppError::Conflict(
                        "A retired sub-processor is kept as it was; it cannot be edited.".into(),
                    ));
                }
                let categories = category_values(&entry);
                let countries = country_values(&entry);
                let mut changed = Vec::new();
                let mut note = |field: &str, differs: bool| {
                    if differs {
                        changed.push(field.to_owned());
                    }
                };
                note("legal_name", before.legal_name != entry.legal_name);
                note("service", before.service != entry.service);
                note("purpose", before.purpose != entry.purpose);
                note("data_categories", before.data_categories != categories);
                note("countries", before.countries != countries);
                note("safeguard", before.safeguard != entry.safeguard.as_str());
                note("website", before.website != entry.website);
                note("terms_url", before.terms_url != entry.terms_url);
                if changed.is_empty() {
                    return Ok(());
                }
                diesel::update(subprocessors::table.find(id))
                    .set((
                        subprocessors::legal_name.eq(&entry.legal_name),
                        subprocessors::service.eq(&entry.service),
                        subprocessors::purpose.eq(&entry.purpose),
                        subprocessors::data_categories.eq(&categories),
                        subprocessors::countries.eq(&countries),
                        subprocessors::safeguard.eq(entry.safeguard.as_str()),
                        subprocessors::website.eq(&entry.website),
                        subprocessors::terms_url.eq(&entry.terms_url),
                    ))
                    .execute(c)
                    .await?;
                let mut details = entry_details(&entry);
                details["changed"] = json!(changed);
                audit::record(
                    c,
                    &ctx,
                    audit_entry(
                        publisher,
                        "subprocessor.updated",
                        "subprocessor",
                        id,
                        details,
                    ),
                )
                .await?;
                Ok::<_, AppError>(())
            })
        })
        .await
}

/// A change as the operator asks for it.
#[derive(Clone, Debug)]
pub struct Announcement {
    pub kind: ChangeKind,
    pub subprocessor: Uuid,
    /// The active entry a replacement takes over from.
    pub replaces: Option<Uuid>,
    pub summary: String,
    pub effective_at: Option<DateTime<Utc>>,
}

/// What an announcement did.
#[derive(Clone, Debug)]
pub struct Announced {
    pub change: Uuid,
    pub objection_deadline: DateTime<Utc>,
    pub effective_at: DateTime<Utc>,
    pub campaign: Uuid,
}

/// Announces a change of the register: checks that it fits the entries'
/// statuses and that the date leaves the objection window, records it,
/// queues the job that applies it at its date and starts its change notice.
pub async fn announce(
    state: &AppState,
    ctx: &AuditContext,
    publisher: Publisher,
    user: Option<Uuid>,
    announcement: Announcement,
) -> Result<Announced, AnnounceFailure> {
    let ctx = ctx.clone();
    let now = state.clock.now();
    // A refused date leaves the transaction with nothing written; it comes
    // out apart so that the form can show it at the date field.
    let outcome: Result<Result<Announced, rules::AnnounceError>, AppError> = state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move {
                // Serialises announcements of one publisher.
                diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('subprocessor_changes'), hashtext(coalesce($1::text, 'platform')))")
                    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Uuid>, _>(publisher.clinic_id())
                    .execute(c)
                    .await?;
                let register = load_register(c, publisher).await?;
                let Announcement { kind, subprocessor, replaces, summary, effective_at } = announcement;
                let entry = register
                    .entry(subprocessor)
                    .ok_or_else(|| AppError::BadRequest("Choose a sub-processor from the register.".into()))?;
                let expected = match kind {
                    ChangeKind::Add | ChangeKind::Replace => Status::Proposed,
                    ChangeKind::Retire => Status::Active,
                };
                if entry.status() != expected {
                    return Err(AppError::BadRequest(match kind {
                        ChangeKind::Retire => format!("{} is not active, so it cannot be retired.", entry.legal_name),
                        _ => format!("{} is {}; only a proposed sub-processor can be added.", entry.legal_name, entry.status().label().to_lowercase()),
                    }));
                }
                let replaced = match (kind, replaces) {
                    (ChangeKind::Replace, None) => {
                        return Err(AppError::BadRequest("Choose the active sub-processor being replaced.".into()));
                    }
                    (ChangeKind::Replace, Some(old)) => {
                        let old = register
                            .entry(old)
                            .filter(|e| e.status() == Status::Active && e.id != subprocessor)
                            .ok_or_else(|| AppError::BadRequest("The sub-processor being replaced must be an active one.".into()))?;
                        Some(old.clone())
                    }
                    (_, _) => None,
                };
                for id in std::iter::once(subprocessor).chain(replaced.as_ref().map(|r| r.id)) {
                    if let Some(open) = register.open_change_of(id) {
                        return Err(AppError::Conflict(format!(
                            "A change concerning {} is already announced (“{}”). Cancel it first.",
                            register.entry(id).map_or("this sub-processor", |e| e.legal_name.as_str()),
                            open.headline()
                        )));
                    }
                }
                let summary = rules::clean_statement(&summary).map_err(AppError::BadRequest)?;
                let (deadline, effective_at) = match rules::announce_dates(effective_at, now, register.window_days) {
                    Ok(dates) => dates,
                    Err(refused) => return Ok(Err(refused)),
                };
                let id = Uuid::now_v7();
                diesel::insert_into(subprocessor_changes::table)
                    .values((
                        subprocessor_changes::id.eq(id),
                        subprocessor_changes::clinic_id.eq(publisher.clinic_id()),
                        subprocessor_changes::kind.eq(kind.as_str()),
                        subprocessor_changes::subprocessor_id.eq(subprocessor),
                        subprocessor_changes::replaces_id.eq(replaced.as_ref().map(|r| r.id)),
                        subprocessor_changes::summary.eq(&summary),
                        subprocessor_changes::objection_deadline.eq(deadline),
                        subprocessor_changes::effective_at.eq(effective_at),
                        subprocessor_changes::announced_by.eq(user),
                        subprocessor_changes::announced_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                let mut job = NewJob::now(APPLY_DUE_JOB, json!({ "change": id }));
                job.run_at = effective_at;
                job.clinic_id = publisher.clinic_id().map(ClinicId);
                job.idempotency_key = Some(format!("{APPLY_DUE_JOB}:{id}"));
                jobs::enqueue(c, job).await?;
                let campaign = campaigns::start(c, publisher, Subject::Change(id)).await?;
                audit::record(
                    c,
                    &ctx,
                    audit_entry(
                        publisher,
                        "subprocessor_change.announced",
                        "subprocessor_change",
                        id,
                        json!({
                            "kind": kind.as_str(),
                            "subprocessor": entry.legal_name,
                            "replaces": replaced.as_ref().map(|r| r.legal_name.clone()),
                            "objection_deadline": deadline.to_rfc3339(),
                            "effective_at": effective_at.to_rfc3339(),
                            "campaign": campaign,
                        }),
                    ),
                )
                .await?;
                Ok(Ok(Announced { change: id, objection_deadline: deadline, effective_at, campaign }))
            })
        })
        .await;
    outcome?.map_err(AnnounceFailure::Date)
}

/// Why a change was not announced.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceFailure {
    /// The effective date does not leave the objection window.
    #[error(transparent)]
    Date(rules::AnnounceError),
    #[error(transparent)]
    App(#[from] AppError),
}

/// Withdraws an announced change before its date: the register stays as
/// it was, open objections to it are closed as withdrawn, and the change
/// notice stops where it is.
pub async fn cancel(
    state: &AppState,
    ctx: &AuditContext,
    publisher: Publisher,
    id: Uuid,
) -> Result<(), AppError> {
    let ctx = ctx.clone();
    let now = state.clock.now();
    state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move {
                let change: ChangeRow = subprocessor_changes::table
                    .find(id)
                    .filter(
                        subprocessor_changes::clinic_id.is_not_distinct_from(publisher.clinic_id()),
                    )
                    .select(ChangeRow::as_select())
                    .for_update()
                    .first(c)
                    .await
                    .optional()?
                    .ok_or(AppError::NotFound)?;
                if change.status != "announced" || change.effective_at <= now {
                    return Err(AppError::Conflict(
                        "This change has already taken effect or was cancelled.".into(),
                    ));
                }
                diesel::update(subprocessor_changes::table.find(id))
                    .set((
                        subprocessor_changes::status.eq("cancelled"),
                        subprocessor_changes::cancelled_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                campaigns::cancel(c, Subject::Change(id)).await?;
                audit::record(
                    c,
                    &ctx,
                    audit_entry(
                        publisher,
                        "subprocessor_change.cancelled",
                        "subprocessor_change",
                        id,
                        json!({ "kind": change.kind }),
                    ),
                )
                .await?;
                Ok::<_, AppError>(())
            })
        })
        .await
}

/// Applies every announced change whose date has come (by the portal's
/// clock): an added sub-processor becomes active, a replaced one retires,
/// a retired one ends. Returns how many changes took effect.
pub async fn apply_due(state: &AppState) -> Result<usize, DbError> {
    let now = state.clock.now();
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let due: Vec<ChangeRow> = subprocessor_changes::table
                    .filter(subprocessor_changes::status.eq("announced"))
                    .filter(subprocessor_changes::effective_at.le(now))
                    .order(subprocessor_changes::effective_at)
                    .select(ChangeRow::as_select())
                    .for_update()
                    .skip_locked()
                    .load(c)
                    .await?;
                for change in &due {
                    let at = change.effective_at;
                    let (new, old) = rules::outcome(change.kind());
                    set_status(c, change.subprocessor_id, new, at).await?;
                    if let (Some(replaced), Some(old)) = (change.replaces_id, old) {
                        set_status(c, replaced, old, at).await?;
                    }
                    diesel::update(subprocessor_changes::table.find(change.id))
                        .set((
                            subprocessor_changes::status.eq("effective"),
                            subprocessor_changes::applied_at.eq(now),
                        ))
                        .execute(c)
                        .await?;
                    audit::record(
                        c,
                        &AuditContext::system(),
                        audit_entry(
                            Publisher::of(change.clinic_id),
                            "subprocessor_change.took_effect",
                            "subprocessor_change",
                            change.id,
                            json!({ "kind": change.kind, "effective_at": at.to_rfc3339() }),
                        ),
                    )
                    .await?;
                }
                Ok::<_, DbError>(due.len())
            })
        })
        .await
}

async fn set_status(
    conn: &mut Conn,
    id: Uuid,
    status: Status,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    match status {
        Status::Active => {
            diesel::update(subprocessors::table.find(id))
                .set((
                    subprocessors::status.eq(status.as_str()),
                    subprocessors::active_since.eq(at),
                ))
                .execute(conn)
                .await
        }
        // Only an active entry retires (a retirement or a replacement), so
        // it keeps its start date.
        Status::Retired => {
            diesel::update(subprocessors::table.find(id))
                .set((
                    subprocessors::status.eq(status.as_str()),
                    subprocessors::retired_at.eq(at),
                ))
                .execute(conn)
                .await
        }
        Status::Proposed => Ok(0),
    }
}

// ---------------------------------------------------------------------------
// Change notices.

/// The change notice of change `id`, with `unsubscribe_url` as given (the
/// campaign's slot), for the campaign's sender.
pub async fn change_notice(
    conn: &mut Conn,
    settings: &crate::backend::state::Settings,
    id: Uuid,
    unsubscribe_url: &str,
) -> QueryResult<Option<SubprocessorChangeNotice>> {
    let clinic: Option<Option<Uuid>> = subprocessor_changes::table
        .find(id)
        .select(subprocessor_changes::clinic_id)
        .first(conn)
        .await
        .optional()?;
    let Some(clinic) = clinic else {
        return Ok(None);
    };
    let publisher = Publisher::of(clinic);
    let register = load_register(conn, publisher).await?;
    let Some(view) = register.change(id) else {
        return Ok(None);
    };
    let slug: Option<String> = match clinic {
        Some(clinic) => Some(
            clinics::table
                .find(clinic)
                .select(clinics::slug)
                .first(conn)
                .await?,
        ),
        None => None,
    };
    let public = public_path(slug.as_deref());
    let sub = &view.subprocessor;
    Ok(Some(SubprocessorChangeNotice {
        publisher: register.publisher_name.clone(),
        headline: view.headline(),
        kind: view.change.kind().label().to_owned(),
        legal_name: sub.legal_name.clone(),
        service: sub.service.clone(),
        purpose: sub.purpose.clone(),
        categories: sub
            .categories()
            .iter()
            .map(|c| c.label())
            .collect::<Vec<_>>()
            .join(", "),
        countries: sub.countries.join(", "),
        safeguard: sub.safeguard().label().to_owned(),
        summary: view.change.summary.clone(),
        effective_date: day(view.change.effective_at),
        objection_deadline: (clinic.is_none()).then(|| day(view.change.objection_deadline)),
        change_url: settings.url(&format!("{public}#change-{}", id.simple())),
        object_url: clinic
            .is_none()
            .then(|| settings.url(&format!("/admin/subprocessor-changes/{id}"))),
        unsubscribe_url: unsubscribe_url.to_owned(),
        contacts_url: None,
    }))
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%-d %B %Y").to_string()
}

/// The public list of a publisher.
pub fn public_path(clinic_slug: Option<&str>) -> String {
    clinic_slug.map_or_else(
        || "/subprocessors".to_owned(),
        |slug| format!("/c/{slug}/subprocessors"),
    )
}

// ---------------------------------------------------------------------------
// Objections.

/// A clinic's objection.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = subprocessor_objections)]
pub struct ObjectionRow {
    pub id: Uuid,
    pub change_id: Uuid,
    pub clinic_id: Uuid,
    pub reason: String,
    pub status: String,
    pub raised_at: DateTime<Utc>,
    pub resolution: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl ObjectionRow {
    pub fn status(&self) -> ObjectionStatus {
        self.status.parse().unwrap_or(ObjectionStatus::Open)
    }
}

/// An objection with its clinic's name, for the operator.
#[derive(Clone, Debug)]
pub struct ClinicObjection {
    pub objection: ObjectionRow,
    pub clinic_name: String,
}

/// The objections to change `change`, newest first, with the clinic that
/// raised each.
pub async fn objections_to(db: &Db, change: Uuid) -> Result<Vec<ClinicObjection>, DbError> {
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            let rows: Vec<(ObjectionRow, String)> = subprocessor_objections::table
                .inner_join(clinics::table)
                .filter(subprocessor_objections::change_id.eq(change))
                .order(subprocessor_objections::raised_at.desc())
                .select((ObjectionRow::as_select(), clinics::name))
                .load(c)
                .await?;
            Ok::<_, DbError>(
                rows.into_iter()
                    .map(|(objection, clinic_name)| ClinicObjection {
                        objection,
                        clinic_name,
                    })
                    .collect(),
            )
        })
    })
    .await
}

/// How many objections to the platform's changes wait for an answer.
pub async fn open_objections(db: &Db) -> Result<i64, DbError> {
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                subprocessor_objections::table
                    .filter(subprocessor_objections::status.eq("open"))
                    .count()
                    .get_result(c)
                    .await?,
            )
        })
    })
    .await
}

/// A clinic's objections, newest first.
pub async fn clinic_objections(db: &Db, clinic: ClinicId) -> Result<Vec<ObjectionRow>, DbError> {
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                subprocessor_objections::table
                    .filter(subprocessor_objections::clinic_id.eq(clinic.0))
                    .order(subprocessor_objections::raised_at.desc())
                    .select(ObjectionRow::as_select())
                    .load(c)
                    .await?,
            )
        })
    })
    .await
}

/// Records a clinic's objection to a change of the platform's register,
/// while the window is open. One open objection per clinic and change.
pub async fn object(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    user: Option<Uuid>,
    change: Uuid,
    reason: &str,
) -> Result<Uuid, AppError> {
    let reason = rules::clean_statement(reason).map_err(AppError::BadRequest)?;
    let ctx = ctx.clone();
    let now = state.clock.now();
    // The platform's change is not a clinic row: it is read, and the
    // objection written, with every filter naming the clinic.
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let found: Option<ChangeRow> = subprocessor_changes::table
                    .find(change)
                    .filter(subprocessor_changes::clinic_id.is_null())
                    .select(ChangeRow::as_select())
                    .for_share()
                    .first(c)
                    .await
                    .optional()?;
                let found = found.ok_or(AppError::NotFound)?;
                if found.status == "effective" {
                    return Err(AppError::Conflict(
                        "This change has already taken effect; objections are closed.".into(),
                    ));
                }
                rules::may_object(found.objection_deadline, found.status == "cancelled", now)
                    .map_err(|e| AppError::Conflict(e.to_string()))?;
                let open: i64 = subprocessor_objections::table
                    .filter(subprocessor_objections::change_id.eq(change))
                    .filter(subprocessor_objections::clinic_id.eq(clinic.0))
                    .filter(subprocessor_objections::status.eq("open"))
                    .count()
                    .get_result(c)
                    .await?;
                if open > 0 {
                    return Err(AppError::Conflict(
                        "Your clinic already has an open objection to this change.".into(),
                    ));
                }
                let id = Uuid::now_v7();
                diesel::insert_into(subprocessor_objections::table)
                    .values((
                        subprocessor_objections::id.eq(id),
                        subprocessor_objections::change_id.eq(change),
                        subprocessor_objections::clinic_id.eq(clinic.0),
                        subprocessor_objections::reason.eq(&reason),
                        subprocessor_objections::raised_by.eq(user),
                        subprocessor_objections::raised_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "subprocessor_objection.raised",
                        subject_kind: "subprocessor_objection",
                        subject_id: id.to_string(),
                        details: json!({ "change": change, "reason_length": reason.chars().count() }),
                    },
                )
                .await?;
                Ok::<_, AppError>(id)
            })
        })
        .await
}

/// Withdraws a clinic's open objection.
pub async fn withdraw(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    objection: Uuid,
) -> Result<(), AppError> {
    let ctx = ctx.clone();
    let now = state.clock.now();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let updated = diesel::update(
                    subprocessor_objections::table
                        .find(objection)
                        .filter(subprocessor_objections::clinic_id.eq(clinic.0))
                        .filter(subprocessor_objections::status.eq("open")),
                )
                .set((
                    subprocessor_objections::status.eq("withdrawn"),
                    subprocessor_objections::withdrawn_at.eq(now),
                ))
                .execute(c)
                .await?;
                if updated == 0 {
                    return Err(AppError::Conflict(
                        "This objection is no longer open.".into(),
                    ));
                }
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "subprocessor_objection.withdrawn",
                        subject_kind: "subprocessor_objection",
                        subject_id: objection.to_string(),
                        details: json!({}),
                    },
                )
                .await?;
                Ok::<_, AppError>(())
            })
        })
        .await
}

/// Resolves an open objection with a note, which is emailed to the clinic's
/// Owners and Privacy Officers and to whoever raised it.
pub async fn resolve(
    state: &AppState,
    ctx: &AuditContext,
    user: Option<Uuid>,
    objection: Uuid,
    resolution: &str,
) -> Result<(), AppError> {
    let resolution = rules::clean_statement(resolution).map_err(AppError::BadRequest)?;
    let ctx = ctx.clone();
    let now = state.clock.now();
    let crypto = state.crypto.clone();
    let settings = state.settings.clone();
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let found: Option<ObjectionRow> = subprocessor_objections::table
                    .find(objection)
                    .select(ObjectionRow::as_select())
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                let found = found.ok_or(AppError::NotFound)?;
                if found.status() != ObjectionStatus::Open {
                    return Err(AppError::Conflict(format!(
                        "This objection is {} already.",
                        found.status().label().to_lowercase()
                    )));
                }
                diesel::update(subprocessor_objections::table.find(objection))
                    .set((
                        subprocessor_objections::status.eq("resolved"),
                        subprocessor_objections::resolution.eq(&resolution),
                        subprocessor_objections::resolved_by.eq(user),
                        subprocessor_objections::resolved_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                let register = load_register(c, Publisher::Platform).await?;
                let headline = register
                    .change(found.change_id)
                    .map(ChangeView::headline)
                    .unwrap_or_default();
                let (clinic_name, slug): (String, String) = clinics::table
                    .find(found.clinic_id)
                    .select((clinics::name, clinics::slug))
                    .first(c)
                    .await?;
                let raised_by: Option<Uuid> = subprocessor_objections::table
                    .find(objection)
                    .select(subprocessor_objections::raised_by)
                    .first(c)
                    .await?;
                let mut recipients: Vec<String> = memberships::table
                    .inner_join(users::table)
                    .filter(memberships::clinic_id.eq(found.clinic_id))
                    .filter(users::disabled_at.is_null())
                    .filter(
                        memberships::role
                            .eq_any(["owner", "privacy_officer"])
                            .or(users::id.nullable().eq(raised_by)),
                    )
                    .select(users::email)
                    .load(c)
                    .await?;
                recipients.sort_by_key(|e| e.to_lowercase());
                recipients.dedup_by_key(|e| e.to_lowercase());
                let message = ObjectionResolved {
                    publisher: register.publisher_name.clone(),
                    clinic: clinic_name,
                    headline,
                    reason: found.reason.clone(),
                    resolution: resolution.clone(),
                    url: settings.url(&format!(
                        "/admin/c/{slug}/subprocessors/changes/{}",
                        found.change_id
                    )),
                };
                let domain = settings.message_domain();
                for address in &recipients {
                    let Ok(to) = EmailAddress::parse(address) else {
                        continue;
                    };
                    let outgoing = compose(&message, to, &domain)
                        .map_err(|e| AppError::Internal(format!("objection email: {e}")))?;
                    email::enqueue(c, &crypto, Some(ClinicId(found.clinic_id)), &outgoing, None)
                        .await?;
                }
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(ClinicId(found.clinic_id)),
                        action: "subprocessor_objection.resolved",
                        subject_kind: "subprocessor_objection",
                        subject_id: objection.to_string(),
                        details: json!({ "change": found.change_id, "notified": recipients.len() }),
                    },
                )
                .await?;
                Ok::<_, AppError>(())
            })
        })
        .await
}

/// The clinic to open an emailed objection link in: the first of the
/// user's clinics (by name) where their role may object.
pub fn objecting_clinic(
    user: &crate::backend::auth::visitor::SignedInUser,
) -> Option<&crate::backend::auth::visitor::ClinicAccess> {
    use crate::domain::permissions::{ClinicPermission, allows};
    user.clinics
        .iter()
        .find(|a| allows(a.role, ClinicPermission::ObjectToSubprocessors))
}
