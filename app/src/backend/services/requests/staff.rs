//! The clinic's side of privacy requests: the queue, a request's detail, the
//! actions of the state machine, reply files, statistics, export and
//! deadline reminders.

use chrono::{DateTime, Days, NaiveDate, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Double, Nullable as SqlNullable};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use super::{
    FILE_PURPOSE, FileListing, RequestError, RequestRow, access_link, add_event, audit_request,
    clinic_facts, files_of, notify,
};
use crate::backend::audit::AuditContext;
use crate::backend::db::schema::{
    clinics, memberships, privacy_requests, request_events, request_files, users,
};
use crate::backend::db::{Conn, DbError};
use crate::backend::email::templates::RequestReminder;
use crate::backend::email::{self, compose};
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::deadline;
use crate::domain::email::EmailAddress;
use crate::domain::files::{self, FileError};
use crate::domain::pagination::{Page, PageRequest};
use crate::domain::permissions::{ClinicPermission, allows};
use crate::domain::requests::{self as rules, Action, Outcome, RequestKind, RequestStatus};
use crate::domain::roles::ClinicRole;
use crate::i18n::t_args;

/// Which requests the queue shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// `None`: every open request.
    pub status: Option<RequestStatus>,
    pub kind: Option<RequestKind>,
    pub assignee: AssigneeFilter,
    pub overdue: bool,
    pub due_soon: bool,
    /// A reference or part of an email address.
    pub search: String,
    pub sort: QueueSort,
}

/// Filter by assignee.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AssigneeFilter {
    #[default]
    Anyone,
    Unassigned,
    User(Uuid),
}

/// Order of the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueSort {
    /// Soonest deadline first.
    #[default]
    DueDate,
    /// Newest first.
    Newest,
}

/// A row of the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueItem {
    pub id: Uuid,
    pub reference: Option<String>,
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub requester_name: String,
    pub requester_email: Option<String>,
    pub due_on: Option<NaiveDate>,
    pub assignee: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The queue's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub open: i64,
    pub overdue: i64,
    pub due_soon: i64,
    pub awaiting_requester: i64,
    pub unassigned: i64,
}

fn like_pattern(search: &str) -> String {
    format!(
        "%{}%",
        search
            .trim()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

const OPEN: [&str; 3] = ["new", "in_progress", "awaiting_requester"];

/// One page of the queue and its counters.
pub async fn queue(
    state: &AppState,
    clinic: ClinicId,
    filter: QueueFilter,
    page: PageRequest,
) -> Result<(Page<QueueItem>, QueueCounts), DbError> {
    let today = state.clock.now().date_naive();
    let soon = today.checked_add_days(Days::new(7)).unwrap_or(today);
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let base = || {
                    let mut q = privacy_requests::table
                        .left_join(users::table)
                        .filter(privacy_requests::clinic_id.eq(clinic.0))
                        .into_boxed();
                    q = match filter.status {
                        Some(status) => q.filter(privacy_requests::status.eq(status.as_str())),
                        None => q.filter(privacy_requests::status.eq_any(OPEN)),
                    };
                    if let Some(kind) = filter.kind {
                        q = q.filter(privacy_requests::kind.eq(kind.as_str()));
                    }
                    q = match filter.assignee {
                        AssigneeFilter::Anyone => q,
                        AssigneeFilter::Unassigned => {
                            q.filter(privacy_requests::assignee_id.is_null())
                        }
                        AssigneeFilter::User(user) => {
                            q.filter(privacy_requests::assignee_id.eq(user))
                        }
                    };
                    if filter.overdue {
                        q = q
                            .filter(privacy_requests::due_on.lt(today))
                            .filter(privacy_requests::status.eq_any(OPEN));
                    }
                    if filter.due_soon {
                        q = q
                            .filter(privacy_requests::due_on.ge(today))
                            .filter(privacy_requests::due_on.le(soon))
                            .filter(privacy_requests::status.eq_any(OPEN));
                    }
                    let search = filter.search.trim();
                    if !search.is_empty() {
                        let by_reference =
                            rules::parse_reference(search).unwrap_or_else(|| search.to_uppercase());
                        q = q.filter(
                            privacy_requests::reference
                                .eq(by_reference)
                                .or(privacy_requests::requester_email.ilike(like_pattern(search))),
                        );
                    }
                    q
                };
                let total: i64 = base().count().get_result(c).await?;
                let mut q = base();
                q = match filter.sort {
                    QueueSort::DueDate => q.order((
                        privacy_requests::due_on.asc().nulls_last(),
                        privacy_requests::created_at.asc(),
                    )),
                    QueueSort::Newest => q.order(privacy_requests::created_at.desc()),
                };
                let rows: Vec<(RequestRow, Option<String>)> = q
                    .offset(page.offset())
                    .limit(page.limit())
                    .select((RequestRow::as_select(), users::display_name.nullable()))
                    .load(c)
                    .await?;
                let items = rows
                    .into_iter()
                    .map(|(r, assignee)| QueueItem {
                        id: r.id,
                        kind: r.kind(),
                        status: r.status(),
                        reference: r.reference,
                        requester_name: r.requester_name,
                        requester_email: r.requester_email,
                        due_on: r.due_on,
                        assignee,
                        created_at: r.created_at,
                    })
                    .collect();
                let open = || {
                    privacy_requests::table
                        .filter(privacy_requests::clinic_id.eq(clinic.0))
                        .filter(privacy_requests::status.eq_any(OPEN))
                        .into_boxed()
                };
                let counts = QueueCounts {
                    open: open().count().get_result(c).await?,
                    overdue: open()
                        .filter(privacy_requests::due_on.lt(today))
                        .count()
                        .get_result(c)
                        .await?,
                    due_soon: open()
                        .filter(privacy_requests::due_on.ge(today))
                        .filter(privacy_requests::due_on.le(soon))
                        .count()
                        .get_result(c)
                        .await?,
                    awaiting_requester: open()
                        .filter(
                            privacy_requests::status.eq(RequestStatus::AwaitingRequester.as_str()),
                        )
                        .count()
                        .get_result(c)
                        .await?,
                    unassigned: open()
                        .filter(privacy_requests::assignee_id.is_null())
                        .count()
                        .get_result(c)
                        .await?,
                };
                Ok::<_, DbError>((
                    Page {
                        items,
                        page: page.page,
                        per_page: page.per_page,
                        total,
                    },
                    counts,
                ))
            })
        })
        .await
}

/// A line of the staff timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffEvent {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub author: String,
    pub body: String,
    pub visible_to_requester: bool,
}

/// Someone a request can be assigned to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignable {
    pub user_id: Uuid,
    pub name: String,
}

/// The members who handle requests.
pub async fn assignable(state: &AppState, clinic: ClinicId) -> Result<Vec<Assignable>, DbError> {
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move { Ok::<_, DbError>(assignable_in(c, clinic).await?) })
        })
        .await
}

async fn assignable_in(c: &mut Conn, clinic: ClinicId) -> QueryResult<Vec<Assignable>> {
    let members: Vec<(Uuid, String, String)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::clinic_id.eq(clinic.0))
        .order(users::display_name.asc())
        .select((users::id, users::display_name, memberships::role))
        .load(c)
        .await?;
    Ok(members
        .into_iter()
        .filter(|(_, _, role)| {
            role.parse::<ClinicRole>()
                .is_ok_and(|r| allows(r, ClinicPermission::ManageRequests))
        })
        .map(|(user_id, name, _)| Assignable { user_id, name })
        .collect())
}

/// Everything the detail page shows.
#[derive(Clone, Debug)]
pub struct Detail {
    pub request: RequestRow,
    pub events: Vec<StaffEvent>,
    pub files: Vec<FileListing>,
    pub assignable: Vec<Assignable>,
    pub assignee: Option<String>,
    /// The due date without the extension: the last day to announce one.
    pub unextended_due: Option<NaiveDate>,
}

/// A request of the clinic, with its whole timeline.
pub async fn detail(
    state: &AppState,
    clinic: ClinicId,
    id: Uuid,
) -> Result<Option<Detail>, DbError> {
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let request: Option<RequestRow> = privacy_requests::table
                    .filter(privacy_requests::clinic_id.eq(clinic.0))
                    .filter(privacy_requests::id.eq(id))
                    .filter(privacy_requests::status.ne(RequestStatus::Unverified.as_str()))
                    .select(RequestRow::as_select())
                    .first(c)
                    .await
                    .optional()?;
                let Some(request) = request else {
                    return Ok(None);
                };
                let rows: Vec<EventRow> = request_events::table
                    .left_join(users::table)
                    .filter(request_events::request_id.eq(id))
                    .order(request_events::id.asc())
                    .select((
                        request_events::created_at,
                        request_events::kind,
                        request_events::author_kind,
                        users::display_name.nullable(),
                        request_events::body,
                        request_events::visible_to_requester,
                    ))
                    .load(c)
                    .await?;
                let events = rows
                    .into_iter()
                    .map(
                        |(at, kind, author_kind, name, body, visible_to_requester)| StaffEvent {
                            at,
                            kind,
                            author: name.unwrap_or_else(|| match author_kind.as_str() {
                                "requester" => "Requester".into(),
                                "staff" => "Former member".into(),
                                _ => "Portal".into(),
                            }),
                            body,
                            visible_to_requester,
                        },
                    )
                    .collect();
                let assignable = assignable_in(c, clinic).await?;
                let assignee = request.assignee_id.and_then(|a| {
                    assignable
                        .iter()
                        .find(|m| m.user_id == a)
                        .map(|m| m.name.clone())
                });
                let files = files_of(c, id).await?;
                let unextended_due = request.unextended_due();
                Ok::<_, DbError>(Some(Detail {
                    request,
                    events,
                    files,
                    assignable,
                    assignee,
                    unextended_due,
                }))
            })
        })
        .await
}

/// What a staff member does to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaffAction {
    Start,
    /// Ask the requester for information; the clock pauses.
    AskRequester {
        message: String,
    },
    /// A message to the requester (the clock runs on).
    Message {
        body: String,
    },
    /// A note only the team sees.
    Note {
        body: String,
    },
    Extend {
        months: u8,
        reason: String,
    },
    Complete {
        outcome: Outcome,
        message: Option<String>,
    },
    Assign {
        user: Option<Uuid>,
    },
}

/// Applies a staff action within the state machine's rules; the requester
/// is emailed where the action concerns them.
pub async fn act(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    staff: Uuid,
    id: Uuid,
    action: StaffAction,
) -> Result<(), RequestError> {
    let app = state.clone();
    let ctx = ctx.clone();
    let today = state.clock.now().date_naive();
    let now = state.clock.now();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let found: Option<(RequestRow, Option<Vec<u8>>)> = privacy_requests::table
                    .filter(privacy_requests::clinic_id.eq(clinic.0))
                    .filter(privacy_requests::id.eq(id))
                    .select((
                        RequestRow::as_select(),
                        privacy_requests::access_token_sealed,
                    ))
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                let (row, sealed) = found.ok_or(RequestError::NotFound)?;
                let facts = clinic_facts(c, clinic).await?;
                let link =
                    access_link(&app, &facts.slug, &row, sealed.as_deref()).unwrap_or_default();
                let author = ("staff", Some(staff));
                let locale = row.locale();
                let name = || ("clinic", facts.name.clone());
                match action {
                    StaffAction::Start => {
                        let next = rules::transition(row.status(), Action::Start)?;
                        set_status(c, id, next).await?;
                        add_event(c, clinic, id, "started", author, "", true).await?;
                        audit_request(c, &ctx, clinic, id, "request.started", json!({})).await?;
                    }
                    StaffAction::AskRequester { message } => {
                        let next = rules::transition(row.status(), Action::AskRequester)?;
                        diesel::update(privacy_requests::table.find(id))
                            .set((
                                privacy_requests::status.eq(next.as_str()),
                                privacy_requests::paused_since.eq(today),
                            ))
                            .execute(c)
                            .await?;
                        add_event(
                            c,
                            clinic,
                            id,
                            "information_requested",
                            author,
                            &message,
                            true,
                        )
                        .await?;
                        audit_request(
                            c,
                            &ctx,
                            clinic,
                            id,
                            "request.information_requested",
                            json!({}),
                        )
                        .await?;
                        let intro = t_args(locale, "mail-information-requested", &[name()]);
                        notify::update(c, &app, &facts, &row, &link, vec![intro, message]).await?;
                    }
                    StaffAction::Message { body } => {
                        if !row.status().is_open() && row.status() != RequestStatus::Completed {
                            return Err(rules::NotAllowed(row.status()).into());
                        }
                        add_event(c, clinic, id, "message_to_requester", author, &body, true)
                            .await?;
                        audit_request(c, &ctx, clinic, id, "request.message_sent", json!({}))
                            .await?;
                        let intro = t_args(locale, "mail-message", &[name()]);
                        notify::update(c, &app, &facts, &row, &link, vec![intro, body]).await?;
                    }
                    StaffAction::Note { body } => {
                        add_event(c, clinic, id, "internal_note", author, &body, false).await?;
                        audit_request(c, &ctx, clinic, id, "request.note_added", json!({})).await?;
                    }
                    StaffAction::Extend { months, reason } => {
                        rules::transition(row.status(), Action::Extend)?;
                        let unextended = row.unextended_due().ok_or(RequestError::NotFound)?;
                        deadline::check_extension(
                            today,
                            unextended,
                            row.extension_months.is_some(),
                            months,
                        )?;
                        let due = deadline::due(
                            row.base_due_on.unwrap_or(unextended),
                            row.paused_days.max(0).unsigned_abs(),
                            Some(months),
                        );
                        diesel::update(privacy_requests::table.find(id))
                            .set((
                                privacy_requests::extension_months.eq(i32::from(months)),
                                privacy_requests::extension_reason.eq(&reason),
                                privacy_requests::due_on.eq(due),
                            ))
                            .execute(c)
                            .await?;
                        add_event(c, clinic, id, "extended", author, &reason, true).await?;
                        audit_request(
                            c,
                            &ctx,
                            clinic,
                            id,
                            "request.extended",
                            json!({ "months": months, "due_on": due.to_string() }),
                        )
                        .await?;
                        let intro =
                            t_args(locale, "mail-extended", &[name(), ("due", due.to_string())]);
                        notify::update(c, &app, &facts, &row, &link, vec![intro, reason]).await?;
                    }
                    StaffAction::Complete { outcome, message } => {
                        let next = rules::transition(row.status(), Action::Complete)?;
                        if outcome == Outcome::Refused && message.is_none() {
                            return Err(RequestError::Invalid(
                                "A refusal needs its reason, which is sent to the requester."
                                    .into(),
                            ));
                        }
                        diesel::update(privacy_requests::table.find(id))
                            .set((
                                privacy_requests::status.eq(next.as_str()),
                                privacy_requests::outcome.eq(outcome.as_str()),
                                privacy_requests::outcome_reason.eq(&message),
                                privacy_requests::completed_at.eq(now),
                                privacy_requests::paused_since.eq(None::<NaiveDate>),
                            ))
                            .execute(c)
                            .await?;
                        add_event(
                            c,
                            clinic,
                            id,
                            "completed",
                            author,
                            message.as_deref().unwrap_or_default(),
                            true,
                        )
                        .await?;
                        audit_request(
                            c,
                            &ctx,
                            clinic,
                            id,
                            "request.completed",
                            json!({ "outcome": outcome.as_str() }),
                        )
                        .await?;
                        let mut paragraphs = match outcome {
                            Outcome::Fulfilled => vec![t_args(locale, "mail-fulfilled", &[name()])],
                            Outcome::PartiallyFulfilled => {
                                vec![t_args(locale, "mail-partially-fulfilled", &[name()])]
                            }
                            Outcome::Refused => vec![t_args(locale, "mail-refused", &[name()])],
                        };
                        paragraphs.extend(message);
                        if outcome == Outcome::Refused {
                            paragraphs.push(t_args(
                                locale,
                                "mail-complain",
                                &[("authority", facts.authority_name.clone())],
                            ));
                        }
                        notify::update(c, &app, &facts, &row, &link, paragraphs).await?;
                    }
                    StaffAction::Assign { user } => {
                        if let Some(user) = user {
                            let role: Option<String> = memberships::table
                                .filter(memberships::clinic_id.eq(clinic.0))
                                .filter(memberships::user_id.eq(user))
                                .select(memberships::role)
                                .first(c)
                                .await
                                .optional()?;
                            let can = role
                                .and_then(|r| r.parse::<ClinicRole>().ok())
                                .is_some_and(|r| allows(r, ClinicPermission::ManageRequests));
                            if !can {
                                return Err(RequestError::Invalid(
                                    "Requests can be assigned only to members who handle them."
                                        .into(),
                                ));
                            }
                        }
                        diesel::update(privacy_requests::table.find(id))
                            .set(privacy_requests::assignee_id.eq(user))
                            .execute(c)
                            .await?;
                        add_event(c, clinic, id, "assigned", author, "", false).await?;
                        audit_request(
                            c,
                            &ctx,
                            clinic,
                            id,
                            "request.assigned",
                            json!({ "assignee": user.map(|u| u.to_string()) }),
                        )
                        .await?;
                    }
                }
                Ok(())
            })
        })
        .await
}

async fn set_status(c: &mut Conn, id: Uuid, status: RequestStatus) -> QueryResult<()> {
    diesel::update(privacy_requests::table.find(id))
        .set(privacy_requests::status.eq(status.as_str()))
        .execute(c)
        .await
        .map(|_| ())
}

/// Attaches a reply file (sealed at rest) to an open or completed request.
pub async fn attach_file(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    staff: Uuid,
    id: Uuid,
    filename: &str,
    bytes: Vec<u8>,
) -> Result<Uuid, RequestError> {
    let (kind, safe_name) = files::classify(filename, &bytes)
        .map_err(|e: FileError| RequestError::Invalid(e.to_string()))?;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(&bytes).to_vec();
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    let sealed = state.crypto.seal(FILE_PURPOSE, &bytes);
    drop(bytes);
    let ctx = ctx.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let status: Option<String> = privacy_requests::table
                    .filter(privacy_requests::clinic_id.eq(clinic.0))
                    .filter(privacy_requests::id.eq(id))
                    .select(privacy_requests::status)
                    .first(c)
                    .await
                    .optional()?;
                let status: RequestStatus = status
                    .and_then(|s| s.parse().ok())
                    .ok_or(RequestError::NotFound)?;
                if !(status.is_open() || status == RequestStatus::Completed) {
                    return Err(rules::NotAllowed(status).into());
                }
                let file = Uuid::now_v7();
                diesel::insert_into(request_files::table)
                    .values((
                        request_files::id.eq(file),
                        request_files::clinic_id.eq(clinic.0),
                        request_files::request_id.eq(id),
                        request_files::filename.eq(&safe_name),
                        request_files::content_type.eq(kind.content_type()),
                        request_files::size_bytes.eq(size),
                        request_files::sha256.eq(digest),
                        request_files::sealed.eq(sealed),
                        request_files::uploaded_by.eq(staff),
                    ))
                    .execute(c)
                    .await?;
                add_event(
                    c,
                    clinic,
                    id,
                    "file_attached",
                    ("staff", Some(staff)),
                    &safe_name,
                    true,
                )
                .await?;
                audit_request(
                    c,
                    &ctx,
                    clinic,
                    id,
                    "request.file_attached",
                    json!({ "file": file.to_string(), "filename": safe_name, "bytes": size }),
                )
                .await?;
                Ok(file)
            })
        })
        .await
}

/// Numbers for the dashboard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestStats {
    pub counts: QueueCounts,
    /// Median days from verification to completion, last 12 months.
    pub median_days_to_close: Option<f64>,
    /// Requests per week (Monday) and kind, last 12 weeks, oldest first.
    pub weekly: Vec<(NaiveDate, Vec<(RequestKind, i64)>)>,
}

/// The dashboard's request numbers.
pub async fn stats(state: &AppState, clinic: ClinicId) -> Result<RequestStats, DbError> {
    let (_, counts) = queue(
        state,
        clinic,
        QueueFilter::default(),
        PageRequest {
            page: 1,
            per_page: 1,
        },
    )
    .await?;
    let today = state.clock.now().date_naive();
    let monday = today
        - chrono::Duration::days(i64::from(
            chrono::Datelike::weekday(&today).num_days_from_monday(),
        ));
    let first_week = monday - chrono::Duration::weeks(11);
    let year_ago = state.clock.now() - chrono::Duration::days(365);
    let (median, rows) = state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let median: Option<f64> = privacy_requests::table
                    .filter(privacy_requests::clinic_id.eq(clinic.0))
                    .filter(privacy_requests::completed_at.gt(year_ago))
                    .select(sql::<SqlNullable<Double>>(
                        "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - verified_at) / 86400.0)",
                    ))
                    .first(c)
                    .await?;
                #[derive(QueryableByName)]
                struct WeekRow {
                    #[diesel(sql_type = diesel::sql_types::Date)]
                    week: NaiveDate,
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    kind: String,
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                let rows: Vec<WeekRow> = diesel::sql_query(
                    "SELECT date_trunc('week', verified_at)::date AS week, kind, count(*) AS n \
                     FROM privacy_requests WHERE clinic_id = $1 AND verified_at >= $2 GROUP BY 1, 2",
                )
                .bind::<diesel::sql_types::Uuid, _>(clinic.0)
                .bind::<diesel::sql_types::Date, _>(first_week)
                .load(c)
                .await?;
                let rows: Vec<(NaiveDate, String, i64)> = rows.into_iter().map(|r| (r.week, r.kind, r.n)).collect();
                Ok::<_, DbError>((median, rows))
            })
        })
        .await?;
    let weekly = (0..12)
        .map(|w| {
            let week = first_week + chrono::Duration::weeks(w);
            let kinds = RequestKind::ALL
                .into_iter()
                .map(|kind| {
                    let n = rows
                        .iter()
                        .find(|(d, k, _)| *d == week && k == kind.as_str())
                        .map_or(0, |r| r.2);
                    (kind, n)
                })
                .collect();
            (week, kinds)
        })
        .collect();
    Ok(RequestStats {
        counts,
        median_days_to_close: median,
        weekly,
    })
}

/// The clinic's requests as CSV lines (header first), newest first, read in
/// batches so that a long history is never held in memory at once.
pub fn export_csv(
    state: AppState,
    clinic: ClinicId,
) -> impl futures::Stream<Item = Result<String, DbError>> + Send {
    const BATCH: i64 = 500;
    let header = crate::domain::csv::line([
        "reference",
        "kind",
        "status",
        "outcome",
        "source",
        "received",
        "due",
        "completed",
        "requester",
        "email",
        "acting as",
    ]);
    let first = futures::stream::once(async move { Ok::<_, DbError>(header) });
    let rows = futures::stream::unfold(
        Some((state, None::<(DateTime<Utc>, Uuid)>)),
        move |cursor| async move {
            let (state, after) = cursor?;
            let batch = state
                .db
                .scoped(Scope::Clinic(clinic), move |c| {
                    Box::pin(async move {
                        let mut q = privacy_requests::table
                            .filter(privacy_requests::clinic_id.eq(clinic.0))
                            .filter(privacy_requests::status.ne(RequestStatus::Unverified.as_str()))
                            .into_boxed();
                        if let Some((at, id)) = after {
                            q = q.filter(
                                privacy_requests::created_at.lt(at).or(
                                    privacy_requests::created_at
                                        .eq(at)
                                        .and(privacy_requests::id.lt(id)),
                                ),
                            );
                        }
                        Ok::<_, DbError>(
                            q.order((
                                privacy_requests::created_at.desc(),
                                privacy_requests::id.desc(),
                            ))
                            .limit(BATCH)
                            .select(RequestRow::as_select())
                            .load::<RequestRow>(c)
                            .await?,
                        )
                    })
                })
                .await;
            match batch {
                Err(e) => Some((Err(e), None)),
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let next = rows.last().map(|r| (r.created_at, r.id));
                    let more = rows.len() as i64 == BATCH;
                    let text: String = rows
                        .iter()
                        .map(|r| {
                            crate::domain::csv::line([
                                r.reference.clone().unwrap_or_default(),
                                r.kind.clone(),
                                r.status.clone(),
                                r.outcome.clone().unwrap_or_default(),
                                r.source.clone(),
                                r.verified_at.map(|d| d.to_rfc3339()).unwrap_or_default(),
                                r.due_on.map(|d| d.to_string()).unwrap_or_default(),
                                r.completed_at.map(|d| d.to_rfc3339()).unwrap_or_default(),
                                r.requester_name.clone(),
                                r.requester_email.clone().unwrap_or_default(),
                                r.acting_as.clone(),
                            ])
                        })
                        .collect();
                    Some((Ok(text), if more { Some((state, next)) } else { None }))
                }
            }
        },
    );
    futures::StreamExt::chain(first, rows)
}

/// Job kind of the daily deadline reminders.
/// At, kind, author kind, author name, body, visible to the requester.
type EventRow = (DateTime<Utc>, String, String, Option<String>, String, bool);
/// Request, clinic, reference, kind, due, assignee email, clinic slug and name.
type ReminderRow = (
    Uuid,
    Uuid,
    Option<String>,
    String,
    NaiveDate,
    String,
    String,
    String,
);

pub const REMINDERS_JOB: &str = "requests.reminders";

/// Emails the assignee of each open request due within 7 days, and again
/// once it is overdue. Each reminder is a job with an idempotency key, so
/// running this twice a day sends nothing twice.
pub async fn send_reminders(state: &AppState) -> Result<usize, DbError> {
    let today = state.clock.now().date_naive();
    let soon = today.checked_add_days(Days::new(7)).unwrap_or(today);
    let app = state.clone();
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let rows: Vec<ReminderRow> = privacy_requests::table
                    .inner_join(users::table)
                    .inner_join(clinics::table)
                    .filter(privacy_requests::status.eq_any(OPEN))
                    .filter(privacy_requests::due_on.le(soon))
                    .filter(clinics::status.eq("active"))
                    .select((
                        privacy_requests::id,
                        privacy_requests::clinic_id,
                        privacy_requests::reference,
                        privacy_requests::kind,
                        privacy_requests::due_on.assume_not_null(),
                        users::email,
                        clinics::slug,
                        clinics::name,
                    ))
                    .load(c)
                    .await?;
                let mut sent = 0;
                for (id, clinic, reference, kind, due, email, slug, clinic_name) in rows {
                    let Ok(to) = EmailAddress::parse(&email) else {
                        continue;
                    };
                    let overdue = due < today;
                    let headline = if overdue {
                        "A privacy request is overdue"
                    } else {
                        "A privacy request is due within 7 days"
                    };
                    let message = RequestReminder {
                        headline: headline.to_owned(),
                        reference: reference.clone().unwrap_or_default(),
                        kind: kind
                            .parse::<RequestKind>()
                            .map_or(kind.clone(), |k| k.label().to_owned()),
                        clinic: clinic_name,
                        due: due.to_string(),
                        link: app.settings.url(&format!("/admin/c/{slug}/requests/{id}")),
                    };
                    let outgoing = compose(&message, to, &app.settings.message_domain())
                        .map_err(|e| DbError::Unavailable(format!("rendering email: {e}")))?;
                    let key = if overdue {
                        format!("reminder:{id}:overdue")
                    } else {
                        format!("reminder:{id}:due:{due}")
                    };
                    if email::enqueue(c, &app.crypto, Some(ClinicId(clinic)), &outgoing, Some(key))
                        .await?
                        .is_some()
                    {
                        sent += 1;
                    }
                }
                Ok::<_, DbError>(sent)
            })
        })
        .await
}

/// Opens a reply file for a staff member, recording who read it.
pub async fn read_file(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    request: Uuid,
    file: Uuid,
) -> Result<Option<super::FileContent>, DbError> {
    let app = state.clone();
    let ctx = ctx.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let row: Option<(String, String, Vec<u8>)> = request_files::table
                    .filter(request_files::clinic_id.eq(clinic.0))
                    .filter(request_files::request_id.eq(request))
                    .filter(request_files::id.eq(file))
                    .select((
                        request_files::filename,
                        request_files::content_type,
                        request_files::sealed,
                    ))
                    .first(c)
                    .await
                    .optional()?;
                let Some((filename, content_type, sealed)) = row else {
                    return Ok(None);
                };
                let bytes = app
                    .crypto
                    .open(FILE_PURPOSE, &sealed)
                    .map_err(|e| DbError::Unavailable(format!("file {file}: {e}")))?;
                audit_request(
                    c,
                    &ctx,
                    clinic,
                    request,
                    "request.file_read",
                    json!({ "file": file.to_string() }),
                )
                .await?;
                Ok::<_, DbError>(Some(super::FileContent {
                    filename,
                    content_type,
                    bytes,
                }))
            })
        })
        .await
}

/// Records that someone exported the clinic's requests.
pub async fn record_export(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
) -> Result<(), DbError> {
    let ctx = ctx.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                crate::backend::audit::record(
                    c,
                    &ctx,
                    crate::backend::audit::AuditEntry {
                        clinic_id: Some(clinic),
                        action: "request.exported",
                        subject_kind: "clinic",
                        subject_id: clinic.0.to_string(),
                        details: json!({ "format": "csv" }),
                    },
                )
                .await?;
                Ok::<_, DbError>(())
            })
        })
        .await
}
