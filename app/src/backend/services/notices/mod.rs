//! Versioned documents of a publisher (the platform or one clinic): drafts,
//! publishing (at once or scheduled after the notice period), the job that
//! makes scheduled versions effective, and the public reading of versions.
//! Submodules send change notices and keep subscriptions.

pub mod campaigns;
pub mod subscriptions;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::backend::audit::{self, AuditContext, AuditEntry};
use crate::backend::db::schema::{
    acknowledgements, clinics, document_versions, documents, platform,
};
use crate::backend::db::{Conn, DbError};
use crate::backend::error::AppError;
use crate::backend::jobs::{self, NewJob};
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::notices::{self as rules, DocumentKind, Draft, VersionAction, VersionState};

/// Kind of the job that makes due scheduled versions effective.
pub const APPLY_DUE_JOB: &str = "notices.apply_due";

/// Who publishes a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publisher {
    Platform,
    Clinic(ClinicId),
}

impl Publisher {
    /// The `clinic_id` of the publisher's rows.
    pub fn clinic_id(self) -> Option<Uuid> {
        match self {
            Self::Platform => None,
            Self::Clinic(id) => Some(id.0),
        }
    }

    /// The database scope that sees the publisher's rows.
    pub fn scope(self) -> Scope {
        match self {
            Self::Platform => Scope::System,
            Self::Clinic(id) => Scope::Clinic(id),
        }
    }

    /// The publisher of rows with `clinic_id`.
    pub fn of(clinic_id: Option<Uuid>) -> Self {
        clinic_id.map_or(Self::Platform, |id| Self::Clinic(ClinicId(id)))
    }
}

/// A stored version.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = document_versions, check_for_backend(diesel::pg::Pg))]
pub struct VersionRow {
    pub id: Uuid,
    pub document_id: Uuid,
    pub clinic_id: Option<Uuid>,
    pub number: Option<i32>,
    pub state: String,
    pub title: String,
    pub body_md: String,
    pub summary: String,
    pub material: bool,
    pub effective_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub published_by: Option<Uuid>,
    pub ended_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl VersionRow {
    /// The stored state.
    pub fn state(&self) -> VersionState {
        self.state.parse().unwrap_or(VersionState::Draft)
    }
}

/// A document's versions, for the editor's overview.
#[derive(Debug, Clone)]
pub struct DocumentOverview {
    pub kind: DocumentKind,
    pub current: Option<VersionRow>,
    pub scheduled: Option<VersionRow>,
    pub draft: Option<VersionRow>,
    pub published: usize,
}

/// The notice period of `publisher`, in days.
pub async fn notice_days(conn: &mut Conn, publisher: Publisher) -> QueryResult<u32> {
    let days: i32 = match publisher {
        Publisher::Platform => {
            platform::table
                .select(platform::notice_period_days)
                .first(conn)
                .await
        }
        Publisher::Clinic(id) => {
            clinics::table
                .find(id.0)
                .select(clinics::notice_period_days)
                .first(conn)
                .await
        }
    }?;
    Ok(days.max(0).unsigned_abs())
}

/// The notice period of `publisher`, in days, in its own transaction.
pub async fn notice_period(state: &AppState, publisher: Publisher) -> Result<u32, DbError> {
    state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move { Ok::<_, DbError>(notice_days(c, publisher).await?) })
        })
        .await
}

async fn document_id(
    conn: &mut Conn,
    publisher: Publisher,
    kind: DocumentKind,
) -> QueryResult<Option<Uuid>> {
    documents::table
        .filter(documents::clinic_id.is_not_distinct_from(publisher.clinic_id()))
        .filter(documents::kind.eq(kind.as_str()))
        .select(documents::id)
        .first(conn)
        .await
        .optional()
}

pub(crate) async fn ensure_document(
    conn: &mut Conn,
    publisher: Publisher,
    kind: DocumentKind,
) -> QueryResult<Uuid> {
    if let Some(id) = document_id(conn, publisher, kind).await? {
        return Ok(id);
    }
    diesel::insert_into(documents::table)
        .values((
            documents::id.eq(Uuid::now_v7()),
            documents::clinic_id.eq(publisher.clinic_id()),
            documents::kind.eq(kind.as_str()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    document_id(conn, publisher, kind)
        .await?
        .ok_or(diesel::result::Error::NotFound)
}

/// Adds version 1 of a document, in effect since `since`, unless the
/// document has versions already (demo data).
pub(crate) async fn seed_first_version(
    conn: &mut Conn,
    publisher: Publisher,
    kind: DocumentKind,
    title: &str,
    body: &str,
    since: DateTime<Utc>,
) -> QueryResult<bool> {
    let document = ensure_document(conn, publisher, kind).await?;
    let existing: i64 = document_versions::table
        .filter(document_versions::document_id.eq(document))
        .count()
        .get_result(conn)
        .await?;
    if existing > 0 {
        return Ok(false);
    }
    diesel::insert_into(document_versions::table)
        .values((
            document_versions::id.eq(Uuid::now_v7()),
            document_versions::document_id.eq(document),
            document_versions::clinic_id.eq(publisher.clinic_id()),
            document_versions::number.eq(1),
            document_versions::state.eq(VersionState::Effective.as_str()),
            document_versions::title.eq(title),
            document_versions::body_md.eq(body),
            document_versions::effective_at.eq(since),
            document_versions::published_at.eq(since),
        ))
        .execute(conn)
        .await?;
    Ok(true)
}

/// Every version of a document (drafts included), newest first.
async fn load_versions(
    conn: &mut Conn,
    publisher: Publisher,
    kind: DocumentKind,
) -> QueryResult<Vec<VersionRow>> {
    let Some(document) = document_id(conn, publisher, kind).await? else {
        return Ok(Vec::new());
    };
    document_versions::table
        .filter(document_versions::document_id.eq(document))
        .order((
            document_versions::number.desc().nulls_first(),
            document_versions::created_at.desc(),
        ))
        .select(VersionRow::as_select())
        .load(conn)
        .await
}

/// The version in force at `now` among `versions`: the published one with
/// the latest effective date not after `now`. Reading by time makes a
/// scheduled version apply at its exact moment, before the job records it.
pub fn in_force(versions: &[VersionRow], now: DateTime<Utc>) -> Option<&VersionRow> {
    versions
        .iter()
        .filter(|v| matches!(v.state(), VersionState::Effective | VersionState::Scheduled))
        .filter(|v| v.effective_at.is_some_and(|at| at <= now))
        .max_by_key(|v| v.effective_at)
}

/// The scheduled version still to come at `now`.
pub fn upcoming(versions: &[VersionRow], now: DateTime<Utc>) -> Option<&VersionRow> {
    versions
        .iter()
        .filter(|v| v.state() == VersionState::Scheduled)
        .find(|v| v.effective_at.is_some_and(|at| at > now))
}

/// Each kind of document of `publisher` with its draft, current and
/// scheduled versions.
pub async fn overview(
    state: &AppState,
    publisher: Publisher,
) -> Result<Vec<DocumentOverview>, DbError> {
    let now = state.clock.now();
    state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move {
                let mut out = Vec::new();
                for kind in DocumentKind::ALL {
                    let versions = load_versions(c, publisher, kind).await?;
                    out.push(DocumentOverview {
                        kind,
                        current: in_force(&versions, now).cloned(),
                        scheduled: upcoming(&versions, now).cloned(),
                        draft: versions
                            .iter()
                            .find(|v| v.state() == VersionState::Draft)
                            .cloned(),
                        published: versions.iter().filter(|v| v.number.is_some()).count(),
                    });
                }
                Ok::<_, DbError>(out)
            })
        })
        .await
}

/// Every version of one document, newest first (the draft, if any, first).
pub async fn versions(
    state: &AppState,
    publisher: Publisher,
    kind: DocumentKind,
) -> Result<Vec<VersionRow>, DbError> {
    state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move { Ok::<_, DbError>(load_versions(c, publisher, kind).await?) })
        })
        .await
}

fn audit_entry<'a>(
    publisher: Publisher,
    action: &'a str,
    version: Uuid,
    details: serde_json::Value,
) -> AuditEntry<'a> {
    AuditEntry {
        clinic_id: publisher.clinic_id().map(ClinicId),
        action,
        subject_kind: "document_version",
        subject_id: version.to_string(),
        details,
    }
}

/// Creates or replaces the document's draft.
pub async fn save_draft(
    state: &AppState,
    ctx: &AuditContext,
    publisher: Publisher,
    kind: DocumentKind,
    author: Option<Uuid>,
    draft: Draft,
) -> Result<Uuid, AppError> {
    let ctx = ctx.clone();
    let id = state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move {
                let document = ensure_document(c, publisher, kind).await?;
                let existing: Option<Uuid> = document_versions::table
                    .filter(document_versions::document_id.eq(document))
                    .filter(document_versions::state.eq("draft"))
                    .select(document_versions::id)
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                let id = match existing {
                    Some(id) => {
                        diesel::update(document_versions::table.find(id))
                            .set((
                                document_versions::title.eq(&draft.title),
                                document_versions::body_md.eq(&draft.body),
                                document_versions::summary.eq(&draft.summary),
                                document_versions::material.eq(draft.material),
                            ))
                            .execute(c)
                            .await?;
                        id
                    }
                    None => {
                        let id = Uuid::now_v7();
                        diesel::insert_into(document_versions::table)
                            .values((
                                document_versions::id.eq(id),
                                document_versions::document_id.eq(document),
                                document_versions::clinic_id.eq(publisher.clinic_id()),
                                document_versions::title.eq(&draft.title),
                                document_versions::body_md.eq(&draft.body),
                                document_versions::summary.eq(&draft.summary),
                                document_versions::material.eq(draft.material),
                                document_versions::created_by.eq(author),
                            ))
                            .execute(c)
                            .await?;
                        id
                    }
                };
                audit::record(
                    c,
                    &ctx,
                    audit_entry(
                        publisher,
                        "document.draft_saved",
                        id,
                        json!({ "kind": kind.as_str(), "material": draft.material, "chars": draft.body.chars().count() }),
                    ),
                )
                .await?;
                Ok::<_, DbError>(id)
            })
        })
        .await?;
    Ok(id)
}

/// Deletes the document's draft.
pub async fn discard_draft(
    state: &AppState,
    ctx: &AuditContext,
    publisher: Publisher,
    kind: DocumentKind,
) -> Result<bool, AppError> {
    let ctx = ctx.clone();
    Ok(state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move {
                let Some(document) = document_id(c, publisher, kind).await? else {
                    return Ok::<_, DbError>(false);
                };
                let removed: Option<Uuid> = diesel::delete(
                    document_versions::table
                        .filter(document_versions::document_id.eq(document))
                        .filter(document_versions::state.eq("draft")),
                )
                .returning(document_versions::id)
                .get_result(c)
                .await
                .optional()?;
                if let Some(id) = removed {
                    audit::record(
                        c,
                        &ctx,
                        audit_entry(
                            publisher,
                            "document.draft_discarded",
                            id,
                            json!({ "kind": kind.as_str() }),
                        ),
                    )
                    .await?;
                }
                Ok(removed.is_some())
            })
        })
        .await?)
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub number: i32,
    pub effective_at: DateTime<Utc>,
    pub scheduled: bool,
    /// The change-notice campaign, for a material change.
    pub campaign: Option<Uuid>,
}

/// Publishes the document's draft: at once when the change is not material
/// (or the date allows), else scheduled for `requested`, which must respect
/// the publisher's notice period. A material change starts a campaign.
pub async fn publish(
    state: &AppState,
    ctx: &AuditContext,
    publisher: Publisher,
    kind: DocumentKind,
    user: Option<Uuid>,
    requested: Option<DateTime<Utc>>,
) -> Result<Published, AppError> {
    let ctx = ctx.clone();
    let now = state.clock.now();
    state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move {
                let document = document_id(c, publisher, kind)
                    .await?
                    .ok_or_else(|| AppError::Conflict("There is no draft to publish.".into()))?;
                // Serialises publishing of one document.
                documents::table.find(document).select(documents::id).for_update().first::<Uuid>(c).await?;
                let draft: VersionRow = document_versions::table
                    .filter(document_versions::document_id.eq(document))
                    .filter(document_versions::state.eq("draft"))
                    .select(VersionRow::as_select())
                    .first(c)
                    .await
                    .optional()?
                    .ok_or_else(|| AppError::Conflict("There is no draft to publish.".into()))?;
                let days = notice_days(c, publisher).await?;
                let (effective_at, action) = rules::effective_at(draft.material, requested, now, days)
                    .map_err(|e| AppError::BadRequest(e.to_string()))?;
                let next_state = rules::transition(VersionState::Draft, action)
                    .map_err(|e| AppError::Conflict(e.to_string()))?;
                if action == VersionAction::Schedule {
                    let pending: i64 = document_versions::table
                        .filter(document_versions::document_id.eq(document))
                        .filter(document_versions::state.eq("scheduled"))
                        .count()
                        .get_result(c)
                        .await?;
                    if pending > 0 {
                        return Err(AppError::Conflict(
                            "Another version is already scheduled. Cancel it before scheduling this one.".into(),
                        ));
                    }
                }
                let number: i32 = document_versions::table
                    .filter(document_versions::document_id.eq(document))
                    .select(diesel::dsl::max(document_versions::number))
                    .first::<Option<i32>>(c)
                    .await?
                    .unwrap_or(0)
                    + 1;
                if next_state == VersionState::Effective {
                    supersede_current(c, document, effective_at).await?;
                }
                diesel::update(document_versions::table.find(draft.id))
                    .set((
                        document_versions::state.eq(next_state.as_str()),
                        document_versions::number.eq(number),
                        document_versions::effective_at.eq(effective_at),
                        document_versions::published_at.eq(now),
                        document_versions::published_by.eq(user),
                    ))
                    .execute(c)
                    .await?;
                let scheduled = next_state == VersionState::Scheduled;
                if scheduled {
                    let mut job = NewJob::now(APPLY_DUE_JOB, json!({ "version": draft.id }));
                    job.run_at = effective_at;
                    job.clinic_id = publisher.clinic_id().map(ClinicId);
                    job.idempotency_key = Some(format!("{APPLY_DUE_JOB}:{}", draft.id));
                    jobs::enqueue(c, job).await?;
                }
                let campaign = if draft.material {
                    Some(campaigns::start(c, publisher, campaigns::Subject::Version(draft.id)).await?)
                } else {
                    None
                };
                audit::record(
                    c,
                    &ctx,
                    audit_entry(
                        publisher,
                        if scheduled { "document.scheduled" } else { "document.published" },
                        draft.id,
                        json!({
                            "kind": kind.as_str(),
                            "number": number,
                            "material": draft.material,
                            "effective_at": effective_at.to_rfc3339(),
                            "campaign": campaign,
                        }),
                    ),
                )
                .await?;
                Ok::<_, AppError>(Published { number, effective_at, scheduled, campaign })
            })
        })
        .await
}

/// Marks the document's effective version superseded as of `at`.
async fn supersede_current(
    conn: &mut Conn,
    document: Uuid,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        document_versions::table
            .filter(document_versions::document_id.eq(document))
            .filter(document_versions::state.eq(VersionState::Effective.as_str())),
    )
    .set((
        document_versions::state.eq(VersionState::Superseded.as_str()),
        document_versions::ended_at.eq(at),
    ))
    .execute(conn)
    .await
}

/// Cancels the document's scheduled version (before it takes effect) and
/// stops its change notice.
pub async fn cancel_scheduled(
    state: &AppState,
    ctx: &AuditContext,
    publisher: Publisher,
    kind: DocumentKind,
) -> Result<i32, AppError> {
    let ctx = ctx.clone();
    let now = state.clock.now();
    state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move {
                let document = document_id(c, publisher, kind)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let version: VersionRow = document_versions::table
                    .filter(document_versions::document_id.eq(document))
                    .filter(document_versions::state.eq("scheduled"))
                    .select(VersionRow::as_select())
                    .for_update()
                    .first(c)
                    .await
                    .optional()?
                    .ok_or_else(|| AppError::Conflict("No version is scheduled.".into()))?;
                if version.effective_at.is_some_and(|at| at <= now) {
                    return Err(AppError::Conflict(
                        "This version has already taken effect and can no longer be cancelled."
                            .into(),
                    ));
                }
                let next = rules::transition(VersionState::Scheduled, VersionAction::Cancel)
                    .map_err(|e| AppError::Conflict(e.to_string()))?;
                diesel::update(document_versions::table.find(version.id))
                    .set((
                        document_versions::state.eq(next.as_str()),
                        document_versions::ended_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                campaigns::cancel(c, campaigns::Subject::Version(version.id)).await?;
                audit::record(
                    c,
                    &ctx,
                    audit_entry(
                        publisher,
                        "document.cancelled",
                        version.id,
                        json!({ "kind": kind.as_str(), "number": version.number }),
                    ),
                )
                .await?;
                Ok::<_, AppError>(version.number.unwrap_or_default())
            })
        })
        .await
}

/// Makes every scheduled version whose time has come (by the portal's
/// clock) effective, superseding the one before. Returns how many flipped.
pub async fn apply_due(state: &AppState) -> Result<usize, DbError> {
    let now = state.clock.now();
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let due: Vec<VersionRow> = document_versions::table
                    .filter(document_versions::state.eq("scheduled"))
                    .filter(document_versions::effective_at.le(now))
                    .order(document_versions::effective_at)
                    .select(VersionRow::as_select())
                    .for_update()
                    .skip_locked()
                    .load(c)
                    .await?;
                for version in &due {
                    let at = version.effective_at.unwrap_or(now);
                    supersede_current(c, version.document_id, at).await?;
                    diesel::update(document_versions::table.find(version.id))
                        .set(document_versions::state.eq(VersionState::Effective.as_str()))
                        .execute(c)
                        .await?;
                    audit::record(
                        c,
                        &AuditContext::system(),
                        audit_entry(
                            Publisher::of(version.clinic_id),
                            "document.took_effect",
                            version.id,
                            json!({ "number": version.number, "effective_at": at.to_rfc3339() }),
                        ),
                    )
                    .await?;
                }
                Ok::<_, DbError>(due.len())
            })
        })
        .await
}

/// A published version as the public pages show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublicVersion {
    pub number: i32,
    pub title: String,
    pub state: String,
    pub summary: String,
    pub material: bool,
    pub effective_at: DateTime<Utc>,
    pub published_at: DateTime<Utc>,
    pub body_markdown: String,
}

impl PublicVersion {
    fn from_row(row: &VersionRow, now: DateTime<Utc>) -> Option<Self> {
        let effective_at = row.effective_at?;
        // Report the state as of `now`, so that a version past its time reads
        // as effective even before the job has recorded it.
        let state = match row.state() {
            VersionState::Scheduled if effective_at <= now => VersionState::Effective,
            other => other,
        };
        Some(Self {
            number: row.number?,
            title: row.title.clone(),
            state: state.as_str().to_owned(),
            summary: row.summary.clone(),
            material: row.material,
            effective_at,
            published_at: row.published_at?,
            body_markdown: row.body_md.clone(),
        })
    }
}

/// A document as the public sees it at `now`.
#[derive(Debug, Clone)]
pub struct PublicDocument {
    pub current: Option<PublicVersion>,
    pub upcoming: Option<PublicVersion>,
    /// Every published version, newest first.
    pub history: Vec<PublicVersion>,
}

impl PublicDocument {
    /// Version `number`, if published.
    pub fn version(&self, number: i32) -> Option<&PublicVersion> {
        self.history.iter().find(|v| v.number == number)
    }
}

/// The published versions of a document, read at the portal's clock.
pub async fn public_document(
    state: &AppState,
    publisher: Publisher,
    kind: DocumentKind,
) -> Result<PublicDocument, DbError> {
    let now = state.clock.now();
    let rows = versions(state, publisher, kind).await?;
    let current = in_force(&rows, now).and_then(|r| PublicVersion::from_row(r, now));
    let upcoming = upcoming(&rows, now).and_then(|r| PublicVersion::from_row(r, now));
    // A superseded version shows as such once its successor applies.
    let history = rows
        .iter()
        .filter_map(|r| PublicVersion::from_row(r, now))
        .map(|mut v| {
            if v.state == "effective" && current.as_ref().is_some_and(|c| c.number != v.number) {
                v.state = VersionState::Superseded.as_str().to_owned();
            }
            v
        })
        .collect();
    Ok(PublicDocument {
        current,
        upcoming,
        history,
    })
}

/// Id, kind, number, title, summary or state, effective date.
type VersionHeader = (
    Uuid,
    String,
    Option<i32>,
    String,
    String,
    Option<DateTime<Utc>>,
);

/// A platform version that clinic admins are asked to acknowledge.
#[derive(Debug, Clone)]
pub struct PendingAcknowledgement {
    pub version_id: Uuid,
    pub kind: DocumentKind,
    pub number: i32,
    pub title: String,
    pub summary: String,
    pub effective_at: DateTime<Utc>,
}

/// Platform versions published (scheduled or effective, not yet
/// superseded) that `user` has not acknowledged for `clinic`.
pub async fn pending_acknowledgements(
    state: &AppState,
    clinic: ClinicId,
    user: Uuid,
) -> Result<Vec<PendingAcknowledgement>, DbError> {
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let rows: Vec<VersionHeader> = document_versions::table
                    .inner_join(documents::table)
                    .filter(document_versions::clinic_id.is_null())
                    .filter(document_versions::state.eq_any(["scheduled", "effective"]))
                    .filter(diesel::dsl::not(diesel::dsl::exists(
                        acknowledgements::table
                            .filter(acknowledgements::version_id.eq(document_versions::id))
                            .filter(acknowledgements::clinic_id.eq(clinic.0))
                            .filter(acknowledgements::user_id.eq(user)),
                    )))
                    .order(document_versions::published_at.asc())
                    .select((
                        document_versions::id,
                        documents::kind,
                        document_versions::number,
                        document_versions::title,
                        document_versions::summary,
                        document_versions::effective_at,
                    ))
                    .load(c)
                    .await?;
                Ok::<_, DbError>(
                    rows.into_iter()
                        .filter_map(|(version_id, kind, number, title, summary, effective_at)| {
                            Some(PendingAcknowledgement {
                                version_id,
                                kind: kind.parse().ok()?,
                                number: number?,
                                title,
                                summary,
                                effective_at: effective_at?,
                            })
                        })
                        .collect(),
                )
            })
        })
        .await
}

/// Records that `user` of `clinic` acknowledged platform version `version`.
pub async fn acknowledge(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    user: Uuid,
    version: Uuid,
) -> Result<(), AppError> {
    let ctx = ctx.clone();
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let number: Option<i32> = document_versions::table
                    .find(version)
                    .filter(document_versions::clinic_id.is_null())
                    .filter(document_versions::state.ne("draft"))
                    .select(document_versions::number)
                    .first::<Option<i32>>(c)
                    .await
                    .optional()?
                    .ok_or(AppError::NotFound)?;
                let added = diesel::insert_into(acknowledgements::table)
                    .values((
                        acknowledgements::version_id.eq(version),
                        acknowledgements::clinic_id.eq(clinic.0),
                        acknowledgements::user_id.eq(user),
                    ))
                    .on_conflict_do_nothing()
                    .execute(c)
                    .await?;
                if added > 0 {
                    audit::record(
                        c,
                        &ctx,
                        AuditEntry {
                            clinic_id: Some(clinic),
                            action: "platform_document.acknowledged",
                            subject_kind: "document_version",
                            subject_id: version.to_string(),
                            details: json!({ "number": number }),
                        },
                    )
                    .await?;
                }
                Ok::<_, AppError>(())
            })
        })
        .await
}

/// Acknowledgement coverage of one platform version.
#[derive(Debug, Clone)]
pub struct Coverage {
    pub kind: DocumentKind,
    pub number: i32,
    pub title: String,
    pub state: String,
    pub effective_at: DateTime<Utc>,
    /// Active clinics with at least one acknowledgement.
    pub acknowledged: i64,
    pub active_clinics: i64,
    /// Clinics still to acknowledge (slug, name).
    pub missing: Vec<(String, String)>,
}

/// Coverage of every published platform version, newest first.
pub async fn acknowledgement_coverage(state: &AppState) -> Result<Vec<Coverage>, DbError> {
    state
        .db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                let versions: Vec<VersionHeader> = document_versions::table
                    .inner_join(documents::table)
                    .filter(document_versions::clinic_id.is_null())
                    .filter(document_versions::state.eq_any([
                        "scheduled",
                        "effective",
                        "superseded",
                    ]))
                    .order(document_versions::published_at.desc())
                    .select((
                        document_versions::id,
                        documents::kind,
                        document_versions::number,
                        document_versions::title,
                        document_versions::state,
                        document_versions::effective_at,
                    ))
                    .load(c)
                    .await?;
                let active: Vec<(Uuid, String, String)> = clinics::table
                    .filter(clinics::status.eq("active"))
                    .order(clinics::name)
                    .select((clinics::id, clinics::slug, clinics::name))
                    .load(c)
                    .await?;
                let mut out = Vec::new();
                for (id, kind, number, title, state, effective_at) in versions {
                    let acked: Vec<Uuid> = acknowledgements::table
                        .filter(acknowledgements::version_id.eq(id))
                        .select(acknowledgements::clinic_id)
                        .distinct()
                        .load(c)
                        .await?;
                    let missing: Vec<(String, String)> = active
                        .iter()
                        .filter(|(clinic, _, _)| !acked.contains(clinic))
                        .map(|(_, slug, name)| (slug.clone(), name.clone()))
                        .collect();
                    let (Ok(kind), Some(number), Some(effective_at)) =
                        (kind.parse(), number, effective_at)
                    else {
                        continue;
                    };
                    out.push(Coverage {
                        kind,
                        number,
                        title,
                        state,
                        effective_at,
                        acknowledged: active.len() as i64 - missing.len() as i64,
                        active_clinics: active.len() as i64,
                        missing,
                    });
                }
                Ok::<_, DbError>(out)
            })
        })
        .await
}
