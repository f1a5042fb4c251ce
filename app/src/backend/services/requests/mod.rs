//! Patients' privacy requests: the requester's side (submit, verify, follow,
//! answer, withdraw, download), and in submodules the clinic's side and
//! Meta's data-deletion callback.

pub mod meta;
mod notify;
pub mod staff;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::backend::audit::{self, Actor, AuditContext, AuditEntry};
use crate::backend::db::schema::{
    clinics, download_grants, privacy_requests, request_events, request_files,
};
use crate::backend::db::{Conn, DbError};
use crate::backend::services::clinics::PublicClinic;
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::{ClinicId, DeadlineRule};
use crate::domain::deadline;
use crate::domain::locale::Locale;
use crate::domain::requests::{self as rules, Action, NewRequest, RequestKind, RequestStatus};
use crate::domain::security::form_token_matches;
use crate::domain::tokens;

/// How long a verification link works.
pub const VERIFICATION_LIFETIME: Duration = Duration::hours(24);
/// How long an unverified request is kept.
pub const UNVERIFIED_LIFETIME: Duration = Duration::days(7);
/// How long a download link works.
pub const DOWNLOAD_LIFETIME: Duration = Duration::days(7);
/// Purpose under which access tokens are sealed.
const ACCESS_PURPOSE: &str = "request.access";
/// Purpose under which reply files are sealed.
pub(crate) const FILE_PURPOSE: &str = "request.file";

/// A stored request.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = privacy_requests, check_for_backend(diesel::pg::Pg))]
pub struct RequestRow {
    pub id: Uuid,
    pub clinic_id: Uuid,
    pub reference: Option<String>,
    pub kind: String,
    pub status: String,
    pub outcome: Option<String>,
    pub outcome_reason: Option<String>,
    pub source: String,
    pub locale: String,
    pub requester_name: String,
    pub requester_email: Option<String>,
    pub requester_phone: Option<String>,
    pub acting_as: String,
    pub subject_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub patient_number: Option<String>,
    pub details: String,
    pub verified_at: Option<DateTime<Utc>>,
    pub base_due_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    pub paused_since: Option<NaiveDate>,
    pub paused_days: i32,
    pub extension_months: Option<i32>,
    pub extension_reason: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl RequestRow {
    /// The status as a value.
    pub fn status(&self) -> RequestStatus {
        self.status.parse().unwrap_or(RequestStatus::Unverified)
    }

    /// The kind as a value.
    pub fn kind(&self) -> RequestKind {
        self.kind.parse().unwrap_or(RequestKind::Other)
    }

    /// The requester's language.
    pub fn locale(&self) -> Locale {
        Locale::from_tag(&self.locale).unwrap_or_default()
    }

    /// The due date without the extension (the date an extension must be
    /// announced by).
    pub fn unextended_due(&self) -> Option<NaiveDate> {
        self.base_due_on
            .map(|base| deadline::unextended_due(base, self.paused_days.max(0).unsigned_abs()))
    }
}

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("This link is not valid.")]
    InvalidLink,
    #[error("{0}")]
    NotAllowed(#[from] rules::NotAllowed),
    #[error("{0}")]
    Extension(#[from] deadline::ExtensionError),
    #[error("{0}")]
    Invalid(String),
    #[error("That request does not exist.")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RequestError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// The clinic facts a request needs.
#[derive(Debug, Clone)]
pub(crate) struct ClinicFacts {
    pub id: ClinicId,
    pub slug: String,
    pub name: String,
    pub authority_name: String,
    pub deadline: DeadlineRule,
}

pub(crate) async fn clinic_facts(c: &mut Conn, clinic: ClinicId) -> QueryResult<ClinicFacts> {
    let (slug, name, authority_name, rule, days): (String, String, String, String, Option<i32>) =
        clinics::table
            .find(clinic.0)
            .select((
                clinics::slug,
                clinics::name,
                clinics::authority_name,
                clinics::deadline_rule,
                clinics::deadline_days,
            ))
            .first(c)
            .await?;
    Ok(ClinicFacts {
        id: clinic,
        slug,
        name,
        authority_name,
        deadline: DeadlineRule::from_columns(&rule, days).unwrap_or(DeadlineRule::CalendarMonth),
    })
}

/// Adds a line to a request's timeline.
pub(crate) async fn add_event(
    mut c: &Conn,
    clinic: ClinicId,
    request: Uuid,
    kind: &str,
    author: (&str, Option<Uuid>),
    body: &str,
    visible_to_requester: bool,
) -> QueryResult<()> {
    diesel::insert_into(request_events::table)
        .values((
            request_events::clinic_id.eq(clinic.0),
            request_events::request_id.eq(request),
            request_events::kind.eq(kind),
            request_events::author_kind.eq(author.0),
            request_events::author_id.eq(author.1),
            request_events::body.eq(body),
            request_events::visible_to_requester.eq(visible_to_requester),
        ))
        .execute(&mut c)
        .await
        .map(|_| ())
}

pub(crate) async fn audit_request(
    c: &Conn,
    ctx: &AuditContext,
    clinic: ClinicId,
    request: Uuid,
    action: &str,
    details: serde_json::Value,
) -> QueryResult<()> {
    audit::record(
        c,
        ctx,
        AuditEntry {
            clinic_id: Some(clinic),
            action,
            subject_kind: "privacy_request",
            subject_id: request.to_string(),
            details,
        },
    )
    .await
    .map(|_| ())
}

/// The requester as an audit actor (their address masked).
fn requester_actor(email: Option<&str>, request_id: Option<String>) -> AuditContext {
    let label = email
        .and_then(|e| crate::domain::email::EmailAddress::parse(e).ok())
        .map_or_else(
            || "requester".to_owned(),
            |e| format!("requester {}", e.masked()),
        );
    AuditContext {
        actor: Actor::Public { label },
        request_id,
    }
}

/// Saves a submitted request (unverified) to the active clinic it was made
/// on and emails the confirmation link.
pub async fn submit(
    state: &AppState,
    public: &PublicClinic,
    locale: Locale,
    request: NewRequest,
    request_id: Option<String>,
) -> Result<Uuid, DbError> {
    let token = tokens::generate();
    let now = state.clock.now();
    let app = state.clone();
    let clinic = public.id;
    let clinic_name = public.name.clone();
    let link = state.settings.url(&format!(
        "/c/{}/requests/verify/{}",
        public.slug, token.text
    ));
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let id = Uuid::now_v7();
                // The four rows go to Postgres in one round trip (pipelined,
                // sent in this order): the request first, so that its event's
                // foreign key finds it.
                let c: &Conn = c;
                let mut conn = c;
                let insert = diesel::insert_into(privacy_requests::table)
                    .values((
                        privacy_requests::id.eq(id),
                        privacy_requests::clinic_id.eq(clinic.0),
                        privacy_requests::kind.eq(request.kind.as_str()),
                        privacy_requests::source.eq("web_form"),
                        privacy_requests::locale.eq(locale.tag()),
                        privacy_requests::requester_name.eq(&request.name),
                        privacy_requests::requester_email.eq(request.email.as_str()),
                        privacy_requests::requester_phone.eq(&request.phone),
                        privacy_requests::acting_as.eq(request.acting_as.as_str()),
                        privacy_requests::subject_name.eq(&request.subject_name),
                        privacy_requests::date_of_birth.eq(request.date_of_birth),
                        privacy_requests::patient_number.eq(&request.patient_number),
                        privacy_requests::details.eq(&request.details),
                        privacy_requests::verification_token_hash.eq(token.hash.to_vec()),
                        privacy_requests::verification_expires_at.eq(now + VERIFICATION_LIFETIME),
                    ))
                    .execute(&mut conn);
                let about = (clinic, clinic_name.as_str());
                let ctx = requester_actor(Some(request.email.as_str()), request_id);
                futures::try_join!(
                    insert,
                    add_event(c, clinic, id, "submitted", ("requester", None), "", true),
                    notify::verification(c, &app, about, locale, &request.email, &link),
                    audit_request(
                        c,
                        &ctx,
                        clinic,
                        id,
                        "request.submitted",
                        json!({ "kind": request.kind.as_str() }),
                    ),
                )?;
                Ok::<_, DbError>(id)
            })
        })
        .await
}

/// Where a verified requester can follow their request.
pub fn status_url(state: &AppState, slug: &str, reference: &str, token: &str) -> String {
    state
        .settings
        .url(&format!("/c/{slug}/requests/{reference}?t={token}"))
}

/// Confirms a request from its emailed link: assigns the reference, starts
/// the legal clock and emails the acknowledgement with the private status
/// link. Returns that link's path.
pub async fn verify(
    state: &AppState,
    clinic: ClinicId,
    token: &str,
    request_id: Option<String>,
) -> Result<String, RequestError> {
    if !tokens::looks_valid(token) {
        return Err(RequestError::InvalidLink);
    }
    let hash = tokens::hash(token).to_vec();
    let now = state.clock.now();
    let app = state.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let row: Option<RequestRow> = privacy_requests::table
                    .filter(privacy_requests::clinic_id.eq(clinic.0))
                    .filter(privacy_requests::verification_token_hash.eq(hash))
                    .filter(privacy_requests::status.eq(RequestStatus::Unverified.as_str()))
                    .filter(privacy_requests::verification_expires_at.gt(now))
                    .select(RequestRow::as_select())
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                let row = row.ok_or(RequestError::InvalidLink)?;
                let next = rules::transition(row.status(), Action::Verify)?;
                let facts = clinic_facts(c, clinic).await?;
                let today = now.date_naive();
                let base = deadline::base_due(today, facts.deadline);
                let access = tokens::generate();
                let sealed = app.crypto.seal(ACCESS_PURPOSE, access.text.as_bytes());
                // References are random; a collision (rare) just draws again.
                let mut reference = rules::new_reference();
                for _ in 0..5 {
                    let taken: bool = diesel::select(diesel::dsl::exists(
                        privacy_requests::table.filter(privacy_requests::reference.eq(&reference)),
                    ))
                    .get_result(c)
                    .await?;
                    if !taken {
                        break;
                    }
                    reference = rules::new_reference();
                }
                diesel::update(privacy_requests::table.find(row.id))
                    .set((
                        privacy_requests::status.eq(next.as_str()),
                        privacy_requests::reference.eq(&reference),
                        privacy_requests::verified_at.eq(now),
                        privacy_requests::base_due_on.eq(base),
                        privacy_requests::due_on.eq(base),
                        privacy_requests::access_token_sealed.eq(sealed),
                        privacy_requests::verification_token_hash.eq(None::<Vec<u8>>),
                        privacy_requests::verification_expires_at.eq(None::<DateTime<Utc>>),
                    ))
                    .execute(c)
                    .await?;
                add_event(c, clinic, row.id, "verified", ("requester", None), "", true).await?;
                let ctx = requester_actor(row.requester_email.as_deref(), request_id);
                audit_request(
                    c,
                    &ctx,
                    clinic,
                    row.id,
                    "request.verified",
                    json!({ "reference": reference, "due_on": base.to_string() }),
                )
                .await?;
                let link = status_url(&app, &facts.slug, &reference, &access.text);
                let mut updated = row.clone();
                updated.reference = Some(reference.clone());
                updated.due_on = Some(base);
                let received = crate::i18n::t_args(
                    updated.locale(),
                    "mail-received",
                    &[
                        ("clinic", facts.name.clone()),
                        ("reference", reference.clone()),
                        ("due", base.to_string()),
                    ],
                );
                notify::update(c, &app, &facts, &updated, &link, vec![received]).await?;
                Ok(format!(
                    "/c/{}/requests/{reference}?t={}",
                    facts.slug, access.text
                ))
            })
        })
        .await
}

/// Loads a request by reference when `token` is its status link's token.
async fn by_status_link(
    c: &mut Conn,
    state: &AppState,
    clinic: ClinicId,
    reference: &str,
    token: &str,
) -> Result<RequestRow, RequestError> {
    let reference = rules::parse_reference(reference).ok_or(RequestError::InvalidLink)?;
    let found: Option<(RequestRow, Option<Vec<u8>>)> = privacy_requests::table
        .filter(privacy_requests::clinic_id.eq(clinic.0))
        .filter(privacy_requests::reference.eq(reference))
        .select((
            RequestRow::as_select(),
            privacy_requests::access_token_sealed,
        ))
        .first(c)
        .await
        .optional()?;
    let (row, sealed) = found.ok_or(RequestError::InvalidLink)?;
    let expected = sealed
        .and_then(|s| state.crypto.open(ACCESS_PURPOSE, &s).ok())
        .and_then(|t| String::from_utf8(t).ok())
        .ok_or(RequestError::InvalidLink)?;
    if form_token_matches(&expected, token) {
        Ok(row)
    } else {
        Err(RequestError::InvalidLink)
    }
}

/// The request's private link for emails, when it has one.
pub(crate) fn access_link(
    state: &AppState,
    slug: &str,
    row: &RequestRow,
    sealed: Option<&[u8]>,
) -> Option<String> {
    let token = String::from_utf8(state.crypto.open(ACCESS_PURPOSE, sealed?).ok()?).ok()?;
    Some(status_url(state, slug, row.reference.as_deref()?, &token))
}

/// One line of the requester's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub body: String,
    pub author_kind: String,
}

/// A file sent in reply, as listed to the requester.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileListing {
    pub id: Uuid,
    pub filename: String,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
}

/// What the requester's status page shows.
#[derive(Debug, Clone)]
pub struct StatusView {
    pub request: RequestRow,
    pub timeline: Vec<TimelineEntry>,
    pub files: Vec<FileListing>,
}

async fn files_of(c: &mut Conn, request: Uuid) -> QueryResult<Vec<FileListing>> {
    let rows: Vec<(Uuid, String, i64, DateTime<Utc>)> = request_files::table
        .filter(request_files::request_id.eq(request))
        .order(request_files::created_at.asc())
        .select((
            request_files::id,
            request_files::filename,
            request_files::size_bytes,
            request_files::created_at,
        ))
        .load(c)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, filename, size_bytes, created_at)| FileListing {
            id,
            filename,
            size_bytes,
            created_at,
        })
        .collect())
}

/// The status page's content for a valid link.
pub async fn status(
    state: &AppState,
    clinic: ClinicId,
    reference: &str,
    token: &str,
) -> Result<StatusView, RequestError> {
    let app = state.clone();
    let (reference, token) = (reference.to_owned(), token.to_owned());
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let request = by_status_link(c, &app, clinic, &reference, &token).await?;
                let rows: Vec<(DateTime<Utc>, String, String, String)> = request_events::table
                    .filter(request_events::request_id.eq(request.id))
                    .filter(request_events::visible_to_requester.eq(true))
                    .order(request_events::id.asc())
                    .select((
                        request_events::created_at,
                        request_events::kind,
                        request_events::body,
                        request_events::author_kind,
                    ))
                    .load(c)
                    .await?;
                let timeline = rows
                    .into_iter()
                    .map(|(at, kind, body, author_kind)| TimelineEntry {
                        at,
                        kind,
                        body,
                        author_kind,
                    })
                    .collect();
                let files = files_of(c, request.id).await?;
                Ok(StatusView {
                    request,
                    timeline,
                    files,
                })
            })
        })
        .await
}

/// The requester answers a request for information: the clock resumes, with
/// the days of waiting added to the deadline.
pub async fn reply(
    state: &AppState,
    clinic: ClinicId,
    reference: &str,
    token: &str,
    body: &str,
    request_id: Option<String>,
) -> Result<(), RequestError> {
    let body = crate::domain::text::clean_text(body, rules::MAX_DETAILS, true)
        .map_err(|_| RequestError::Invalid("status-reply-required".into()))?;
    let app = state.clone();
    let today = state.clock.now().date_naive();
    let (reference, token) = (reference.to_owned(), token.to_owned());
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let row = by_status_link(c, &app, clinic, &reference, &token).await?;
                let next = rules::transition(row.status(), Action::RequesterReplied)?;
                let paused = row
                    .paused_since
                    .map_or(0, |since| deadline::pause_days(since, today));
                let paused_days = row.paused_days.max(0).unsigned_abs() + paused;
                let due = row.base_due_on.map(|base| {
                    deadline::due(
                        base,
                        paused_days,
                        row.extension_months.map(|m| u8::try_from(m).unwrap_or(2)),
                    )
                });
                diesel::update(privacy_requests::table.find(row.id))
                    .set((
                        privacy_requests::status.eq(next.as_str()),
                        privacy_requests::paused_since.eq(None::<NaiveDate>),
                        privacy_requests::paused_days
                            .eq(i32::try_from(paused_days).unwrap_or(i32::MAX)),
                        privacy_requests::due_on.eq(due),
                    ))
                    .execute(c)
                    .await?;
                add_event(
                    c,
                    clinic,
                    row.id,
                    "message_from_requester",
                    ("requester", None),
                    &body,
                    true,
                )
                .await?;
                let ctx = requester_actor(row.requester_email.as_deref(), request_id);
                audit_request(
                    c,
                    &ctx,
                    clinic,
                    row.id,
                    "request.requester_replied",
                    json!({ "paused_days": paused }),
                )
                .await?;
                Ok(())
            })
        })
        .await
}

/// The requester withdraws an open request.
pub async fn withdraw(
    state: &AppState,
    clinic: ClinicId,
    reference: &str,
    token: &str,
    request_id: Option<String>,
) -> Result<(), RequestError> {
    let app = state.clone();
    let (reference, token) = (reference.to_owned(), token.to_owned());
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let row = by_status_link(c, &app, clinic, &reference, &token).await?;
                let next = rules::transition(row.status(), Action::Withdraw)?;
                diesel::update(privacy_requests::table.find(row.id))
                    .set((
                        privacy_requests::status.eq(next.as_str()),
                        privacy_requests::paused_since.eq(None::<NaiveDate>),
                    ))
                    .execute(c)
                    .await?;
                add_event(
                    c,
                    clinic,
                    row.id,
                    "withdrawn",
                    ("requester", None),
                    "",
                    true,
                )
                .await?;
                let ctx = requester_actor(row.requester_email.as_deref(), request_id);
                audit_request(c, &ctx, clinic, row.id, "request.withdrawn", json!({})).await?;
                let facts = clinic_facts(c, clinic).await?;
                let link = status_url(
                    &app,
                    &facts.slug,
                    row.reference.as_deref().unwrap_or_default(),
                    &token,
                );
                let text = crate::i18n::t_args(
                    row.locale(),
                    "mail-withdrawn",
                    &[
                        ("clinic", facts.name.clone()),
                        ("reference", row.reference.clone().unwrap_or_default()),
                    ],
                );
                notify::update(c, &app, &facts, &row, &link, vec![text]).await?;
                Ok(())
            })
        })
        .await
}

/// Emails the requester a 7-day link to the reply files; getting it proves
/// again that they hold the address.
pub async fn send_download_link(
    state: &AppState,
    clinic: ClinicId,
    reference: &str,
    token: &str,
) -> Result<(), RequestError> {
    let app = state.clone();
    let now = state.clock.now();
    let (reference, token) = (reference.to_owned(), token.to_owned());
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let row = by_status_link(c, &app, clinic, &reference, &token).await?;
                if files_of(c, row.id).await?.is_empty() {
                    return Err(RequestError::Invalid(
                        "There are no files for this request yet.".into(),
                    ));
                }
                let grant = tokens::generate();
                diesel::insert_into(download_grants::table)
                    .values((
                        download_grants::id.eq(Uuid::now_v7()),
                        download_grants::clinic_id.eq(clinic.0),
                        download_grants::request_id.eq(row.id),
                        download_grants::token_hash.eq(grant.hash.to_vec()),
                        download_grants::expires_at.eq(now + DOWNLOAD_LIFETIME),
                    ))
                    .execute(c)
                    .await?;
                let facts = clinic_facts(c, clinic).await?;
                let link = app.settings.url(&format!(
                    "/c/{}/requests/downloads/{}",
                    facts.slug, grant.text
                ));
                notify::download_link(c, &app, &facts, &row, &link).await?;
                Ok(())
            })
        })
        .await
}

/// The files behind a download link, if it is valid.
pub async fn downloads(
    state: &AppState,
    clinic: ClinicId,
    grant: &str,
) -> Result<(RequestRow, Vec<FileListing>), RequestError> {
    if !tokens::looks_valid(grant) {
        return Err(RequestError::InvalidLink);
    }
    let hash = tokens::hash(grant).to_vec();
    let now = state.clock.now();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let request: Option<Uuid> = download_grants::table
                    .filter(download_grants::token_hash.eq(hash))
                    .filter(download_grants::clinic_id.eq(clinic.0))
                    .filter(download_grants::expires_at.gt(now))
                    .select(download_grants::request_id)
                    .first(c)
                    .await
                    .optional()?;
                let request = request.ok_or(RequestError::InvalidLink)?;
                let row: RequestRow = privacy_requests::table
                    .find(request)
                    .select(RequestRow::as_select())
                    .first(c)
                    .await?;
                Ok((row, files_of(c, request).await?))
            })
        })
        .await
}

/// A decrypted reply file.
#[derive(Debug, Clone)]
pub struct FileContent {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Opens one file through a download link and records the download.
pub async fn download(
    state: &AppState,
    clinic: ClinicId,
    grant: &str,
    file: Uuid,
    request_id: Option<String>,
) -> Result<FileContent, RequestError> {
    let (request, files) = downloads(state, clinic, grant).await?;
    if !files.iter().any(|f| f.id == file) {
        return Err(RequestError::NotFound);
    }
    let app = state.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let (filename, content_type, sealed, digest): (String, String, Vec<u8>, Vec<u8>) =
                    request_files::table
                        .find(file)
                        .select((
                            request_files::filename,
                            request_files::content_type,
                            request_files::sealed,
                            request_files::sha256,
                        ))
                        .first(c)
                        .await?;
                let bytes = app.crypto.open(FILE_PURPOSE, &sealed).map_err(|e| {
                    RequestError::Db(DbError::Unavailable(format!("file {file}: {e}")))
                })?;
                use sha2::Digest as _;
                if sha2::Sha256::digest(&bytes).as_slice() != digest.as_slice() {
                    return Err(RequestError::Db(DbError::Unavailable(format!(
                        "file {file} does not match its digest"
                    ))));
                }
                add_event(
                    c,
                    clinic,
                    request.id,
                    "file_downloaded",
                    ("requester", None),
                    &filename,
                    false,
                )
                .await?;
                let ctx = requester_actor(request.requester_email.as_deref(), request_id);
                audit_request(
                    c,
                    &ctx,
                    clinic,
                    request.id,
                    "request.file_downloaded",
                    json!({ "file": file.to_string(), "filename": filename }),
                )
                .await?;
                Ok(FileContent {
                    filename,
                    content_type,
                    bytes,
                })
            })
        })
        .await
}

/// Deletes requests never verified within their clinic's retention period
/// (7 days unless the clinic set more). Returns how many.
pub async fn purge_unverified(state: &AppState) -> Result<usize, DbError> {
    let now = state.clock.now();
    let default_days = i32::try_from(UNVERIFIED_LIFETIME.num_days()).unwrap_or(7);
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                // Each clinic's retention rule for unverified requests, or
                // the link's lifetime.
                Ok::<_, DbError>(
                    diesel::sql_query(
                        "DELETE FROM privacy_requests p WHERE p.status = 'unverified' \
                         AND p.created_at < $1 - make_interval(days => coalesce((SELECT r.period_days \
                         FROM retention_rules r WHERE r.clinic_id = p.clinic_id \
                         AND r.category = 'unverified_requests'), $2))",
                    )
                    .bind::<diesel::sql_types::Timestamptz, _>(now)
                    .bind::<diesel::sql_types::Integer, _>(default_days)
                    .execute(c)
                    .await?,
                )
            })
        })
        .await
}
