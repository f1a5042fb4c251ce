//! Who hears about changes: subscriptions with double opt-in, the
//! per-publisher suppression list, one-click unsubscribe, and the recipient
//! lists a clinic imports.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use super::Publisher;
use super::campaigns::UNSUBSCRIBE_PURPOSE;
use crate::backend::audit::{self, AuditContext, AuditEntry};
use crate::backend::db::schema::{
    campaign_recipients, clinics, platform, recipient_list_members, recipient_lists, subscribers,
    suppressions,
};
use crate::backend::db::{Conn, Db, DbError};
use crate::backend::email::templates::SubscriptionConfirm;
use crate::backend::email::{self, compose};
use crate::backend::error::AppError;
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::email::EmailAddress;
use crate::domain::locale::Locale;
use crate::domain::recipients::ParsedList;
use crate::domain::tokens;

/// How long a confirmation link works.
pub const CONFIRM_LIFETIME: Duration = Duration::hours(48);

/// The publisher's name as people know it.
pub async fn publisher_name(conn: &mut Conn, publisher: Publisher) -> QueryResult<String> {
    match publisher {
        Publisher::Platform => platform::table.select(platform::name).first(conn).await,
        Publisher::Clinic(id) => {
            clinics::table
                .find(id.0)
                .select(clinics::name)
                .first(conn)
                .await
        }
    }
}

fn subscribe_path(publisher: Publisher, slug: Option<&str>) -> String {
    match (publisher, slug) {
        (Publisher::Clinic(_), Some(slug)) => format!("/c/{slug}/subscribe"),
        _ => "/subscribe".to_owned(),
    }
}

/// Records a subscription request and emails the confirmation link. An
/// address already confirmed gets nothing new; the answer is the same
/// either way, so the form does not reveal who subscribed.
pub async fn subscribe(
    state: &AppState,
    publisher: Publisher,
    slug: Option<&str>,
    email: &EmailAddress,
    locale: Locale,
    topics: &[Topic],
) -> Result<(), AppError> {
    let requested: Vec<String> = Topic::ALL
        .iter()
        .filter(|t| topics.contains(t))
        .map(|t| t.as_str().to_owned())
        .collect();
    if requested.is_empty() {
        return Err(AppError::BadRequest(
            "Choose at least one kind of change notice.".into(),
        ));
    }
    let token = tokens::generate();
    let link = state.settings.url(&format!(
        "{}/confirm?t={}",
        subscribe_path(publisher, slug),
        token.text
    ));
    let address = email.as_str().to_lowercase();
    let to = email.clone();
    let crypto = state.crypto.clone();
    let domain = state.settings.message_domain();
    let expires = state.clock.now() + CONFIRM_LIFETIME;
    state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move {
                let existing: Option<(Uuid, String, Vec<String>)> = subscribers::table
                    .filter(subscribers::clinic_id.is_not_distinct_from(publisher.clinic_id()))
                    .filter(subscribers::email.eq(&address))
                    .select((subscribers::id, subscribers::status, subscribers::topics))
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                match existing {
                    Some((_, status, held))
                        if status == "confirmed" && requested.iter().all(|t| held.contains(t)) =>
                    {
                        return Ok::<_, AppError>(());
                    }
                    Some((id, status, _)) => {
                        // A confirmed subscriber keeps what they have until
                        // the new topics are confirmed.
                        let status = if status == "confirmed" {
                            "confirmed"
                        } else {
                            "pending"
                        };
                        diesel::update(subscribers::table.find(id))
                            .set((
                                subscribers::status.eq(status),
                                subscribers::requested_topics.eq(&requested),
                                subscribers::confirm_token_hash.eq(Some(token.hash.to_vec())),
                                subscribers::confirm_expires_at.eq(expires),
                                subscribers::locale.eq(locale.tag()),
                            ))
                            .execute(c)
                            .await?;
                    }
                    None => {
                        diesel::insert_into(subscribers::table)
                            .values((
                                subscribers::id.eq(Uuid::now_v7()),
                                subscribers::clinic_id.eq(publisher.clinic_id()),
                                subscribers::email.eq(&address),
                                subscribers::locale.eq(locale.tag()),
                                subscribers::requested_topics.eq(&requested),
                                subscribers::confirm_token_hash.eq(Some(token.hash.to_vec())),
                                subscribers::confirm_expires_at.eq(expires),
                            ))
                            .execute(c)
                            .await?;
                    }
                }
                let message = SubscriptionConfirm {
                    publisher: publisher_name(c, publisher).await?,
                    link,
                    hours: CONFIRM_LIFETIME.num_hours(),
                };
                let outgoing = compose(&message, to, &domain)
                    .map_err(|e| AppError::Internal(format!("confirmation email: {e}")))?;
                email::enqueue(
                    c,
                    &crypto,
                    publisher.clinic_id().map(ClinicId),
                    &outgoing,
                    None,
                )
                .await?;
                Ok(())
            })
        })
        .await
}

/// Confirms a subscription from its emailed link. Returns false when the
/// link is unknown, used or expired.
pub async fn confirm(
    state: &AppState,
    publisher: Publisher,
    token: &str,
) -> Result<bool, AppError> {
    if !tokens::looks_valid(token) {
        return Ok(false);
    }
    let hash = tokens::hash(token).to_vec();
    let now = state.clock.now();
    state
        .db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move {
                let found: Option<SubscriberRow> = subscribers::table
                    .filter(subscribers::clinic_id.is_not_distinct_from(publisher.clinic_id()))
                    .filter(subscribers::confirm_token_hash.eq(&hash))
                    .select((
                        subscribers::id,
                        subscribers::email,
                        subscribers::confirm_expires_at,
                        subscribers::status,
                        subscribers::topics,
                        subscribers::requested_topics,
                    ))
                    .first(c)
                    .await
                    .optional()?;
                let Some((id, address, expires, status, held, requested)) = found else {
                    return Ok::<_, AppError>(false);
                };
                if expires.is_none_or(|at| at < now) {
                    return Ok(false);
                }
                let topics = confirmed_topics(&status, &held, &requested);
                diesel::update(subscribers::table.find(id))
                    .set((
                        subscribers::status.eq("confirmed"),
                        subscribers::topics.eq(&topics),
                        subscribers::requested_topics.eq(Vec::<String>::new()),
                        subscribers::confirmed_at.eq(now),
                        subscribers::unsubscribed_at.eq(None::<DateTime<Utc>>),
                        subscribers::confirm_token_hash.eq(None::<Vec<u8>>),
                        subscribers::confirm_expires_at.eq(None::<DateTime<Utc>>),
                    ))
                    .execute(c)
                    .await?;
                // Subscribing again lifts an earlier unsubscription.
                diesel::delete(
                    suppressions::table
                        .filter(suppressions::clinic_id.is_not_distinct_from(publisher.clinic_id()))
                        .filter(suppressions::email.eq(&address))
                        .filter(suppressions::reason.eq("unsubscribed")),
                )
                .execute(c)
                .await?;
                audit::record(
                    c,
                    &AuditContext::system(),
                    AuditEntry {
                        clinic_id: publisher.clinic_id().map(ClinicId),
                        action: "subscriber.confirmed",
                        subject_kind: "subscriber",
                        subject_id: id.to_string(),
                        details: json!({
                            "email": EmailAddress::parse(&address).map(|e| e.masked()).unwrap_or_default(),
                            "topics": topics,
                        }),
                    },
                )
                .await?;
                Ok(true)
            })
        })
        .await
}

/// Id, address, link expiry, status, confirmed and requested topics.
type SubscriberRow = (
    Uuid,
    String,
    Option<DateTime<Utc>>,
    String,
    Vec<String>,
    Vec<String>,
);

/// The topics a subscriber hears about once their link is confirmed: a
/// confirmed subscriber adds the requested ones to theirs, anyone else gets
/// exactly what they asked for (policy notices for links sent before topics
/// existed).
fn confirmed_topics(status: &str, held: &[String], requested: &[String]) -> Vec<String> {
    let wanted = |t: &Topic| {
        let t = t.as_str().to_owned();
        requested.contains(&t) || (status == "confirmed" && held.contains(&t))
    };
    let topics: Vec<String> = Topic::ALL
        .iter()
        .filter(|t| wanted(t))
        .map(|t| t.as_str().to_owned())
        .collect();
    if topics.is_empty() {
        vec![Topic::Notices.as_str().to_owned()]
    } else {
        topics
    }
}

/// What a subscriber hears about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Material changes to the publisher's privacy notice and policies.
    Notices,
    /// Changes to the publisher's sub-processors.
    Subprocessors,
}

impl Topic {
    pub const ALL: [Self; 2] = [Self::Notices, Self::Subprocessors];

    /// Stored form, and the form field's suffix (`topic_notices`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notices => "notices",
            Self::Subprocessors => "subprocessors",
        }
    }

    /// What the subscribe form calls it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Notices => "Changes to the privacy notice and other policies",
            Self::Subprocessors => "Changes to the list of sub-processors",
        }
    }
}

/// Whose address an unsubscribe link stands for.
#[derive(Clone, Debug)]
pub struct UnsubscribeTarget {
    pub publisher: Publisher,
    pub publisher_name: String,
    pub email: String,
    /// Already on the suppression list.
    pub suppressed: bool,
}

/// The outbox row an unsubscribe token names, if its tag is right.
fn token_row(state: &AppState, token: &str) -> Option<i64> {
    let (message, tag) = token.split_once('.')?;
    let row: i64 = message.strip_prefix('r')?.parse().ok()?;
    state
        .crypto
        .verify_tag(UNSUBSCRIBE_PURPOSE, message.as_bytes(), tag)
        .then_some(row)
}

/// What an unsubscribe link would do.
pub async fn unsubscribe_target(
    state: &AppState,
    token: &str,
) -> Result<Option<UnsubscribeTarget>, DbError> {
    let Some(row) = token_row(state, token) else {
        return Ok(None);
    };
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let found: Option<(Option<Uuid>, String)> = campaign_recipients::table
                    .find(row)
                    .select((campaign_recipients::clinic_id, campaign_recipients::email))
                    .first(c)
                    .await
                    .optional()?;
                let Some((clinic, email)) = found else {
                    return Ok::<_, DbError>(None);
                };
                let publisher = Publisher::of(clinic);
                let suppressed: i64 = suppressions::table
                    .filter(suppressions::clinic_id.is_not_distinct_from(clinic))
                    .filter(suppressions::email.eq(&email))
                    .count()
                    .get_result(c)
                    .await?;
                Ok(Some(UnsubscribeTarget {
                    publisher,
                    publisher_name: publisher_name(c, publisher).await?,
                    email,
                    suppressed: suppressed > 0,
                }))
            })
        })
        .await
}

/// Adds `email` to the publisher's suppression list and ends its
/// subscription, in the caller's transaction. Returns whether it was new.
async fn suppress_in(
    conn: &mut Conn,
    ctx: &AuditContext,
    publisher: Publisher,
    email: &str,
    reason: &str,
) -> QueryResult<bool> {
    let address = email.to_lowercase();
    let added = diesel::insert_into(suppressions::table)
        .values((
            suppressions::clinic_id.eq(publisher.clinic_id()),
            suppressions::email.eq(&address),
            suppressions::reason.eq(reason),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    diesel::update(
        subscribers::table
            .filter(subscribers::clinic_id.is_not_distinct_from(publisher.clinic_id()))
            .filter(subscribers::email.eq(&address))
            .filter(subscribers::status.ne("unsubscribed")),
    )
    .set((
        subscribers::status.eq("unsubscribed"),
        subscribers::unsubscribed_at.eq(Utc::now()),
        subscribers::confirm_token_hash.eq(None::<Vec<u8>>),
    ))
    .execute(conn)
    .await?;
    if added > 0 {
        audit::record(
            conn,
            ctx,
            AuditEntry {
                clinic_id: publisher.clinic_id().map(ClinicId),
                action: "suppression.added",
                subject_kind: "suppression",
                subject_id: EmailAddress::parse(&address)
                    .map(|e| e.masked())
                    .unwrap_or_default(),
                details: json!({ "reason": reason }),
            },
        )
        .await?;
    }
    Ok(added > 0)
}

/// Unsubscribes the address of an unsubscribe link: it takes effect at
/// once, for every later campaign of the publisher. Returns `None` for a
/// link that is not ours.
pub async fn unsubscribe(
    state: &AppState,
    token: &str,
) -> Result<Option<UnsubscribeTarget>, DbError> {
    let Some(target) = unsubscribe_target(state, token).await? else {
        return Ok(None);
    };
    let (publisher, email) = (target.publisher, target.email.clone());
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                suppress_in(
                    c,
                    &AuditContext::system(),
                    publisher,
                    &email,
                    "unsubscribed",
                )
                .await?;
                Ok::<_, DbError>(())
            })
        })
        .await?;
    Ok(Some(UnsubscribeTarget {
        suppressed: true,
        ..target
    }))
}

/// Adds an address to the suppression list by hand.
pub async fn suppress(
    db: &Db,
    ctx: &AuditContext,
    publisher: Publisher,
    email: &EmailAddress,
) -> Result<bool, DbError> {
    let ctx = ctx.clone();
    let email = email.as_str().to_owned();
    db.scoped(publisher.scope(), move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(suppress_in(c, &ctx, publisher, &email, "added_by_staff").await?)
        })
    })
    .await
}

/// A publisher's audience at a glance.
#[derive(Clone, Debug, Default)]
pub struct AudienceSummary {
    pub confirmed: i64,
    pub pending: i64,
    pub unsubscribed: i64,
    pub suppressed: i64,
    /// Imported lists: id, name, members.
    pub lists: Vec<(Uuid, String, i64)>,
    /// The latest suppressions: address, reason, when.
    pub recent_suppressions: Vec<(String, String, DateTime<Utc>)>,
}

/// Counts of subscribers, suppressions and list members of `publisher`.
pub async fn audience(db: &Db, publisher: Publisher) -> Result<AudienceSummary, DbError> {
    db.scoped(publisher.scope(), move |c| {
        Box::pin(async move {
            let by_status: Vec<(String, i64)> = subscribers::table
                .filter(subscribers::clinic_id.is_not_distinct_from(publisher.clinic_id()))
                .group_by(subscribers::status)
                .select((subscribers::status, diesel::dsl::count_star()))
                .load(c)
                .await?;
            let count = |s: &str| {
                by_status
                    .iter()
                    .filter(|(k, _)| k == s)
                    .map(|(_, n)| *n)
                    .sum::<i64>()
            };
            let suppressed: i64 = suppressions::table
                .filter(suppressions::clinic_id.is_not_distinct_from(publisher.clinic_id()))
                .count()
                .get_result(c)
                .await?;
            let recent_suppressions = suppressions::table
                .filter(suppressions::clinic_id.is_not_distinct_from(publisher.clinic_id()))
                .order(suppressions::id.desc())
                .limit(20)
                .select((
                    suppressions::email,
                    suppressions::reason,
                    suppressions::created_at,
                ))
                .load(c)
                .await?;
            let lists = match publisher {
                Publisher::Platform => Vec::new(),
                Publisher::Clinic(clinic) => {
                    let lists: Vec<(Uuid, String)> = recipient_lists::table
                        .filter(recipient_lists::clinic_id.eq(clinic.0))
                        .order(recipient_lists::name)
                        .select((recipient_lists::id, recipient_lists::name))
                        .load(c)
                        .await?;
                    let mut out = Vec::with_capacity(lists.len());
                    for (id, name) in lists {
                        let members: i64 = recipient_list_members::table
                            .filter(recipient_list_members::list_id.eq(id))
                            .count()
                            .get_result(c)
                            .await?;
                        out.push((id, name, members));
                    }
                    out
                }
            };
            Ok::<_, DbError>(AudienceSummary {
                confirmed: count("confirmed"),
                pending: count("pending"),
                unsubscribed: count("unsubscribed"),
                suppressed,
                lists,
                recent_suppressions,
            })
        })
    })
    .await
}

/// What an import did, for its report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub list_name: String,
    pub rows: usize,
    pub imported: usize,
    pub duplicates: usize,
    /// Addresses on the suppression list, left out.
    pub suppressed: usize,
    /// Rows refused: line, value, reason.
    pub rejected: Vec<(u64, String, String)>,
}

/// Replaces the members of the clinic's list `name` (created if new) with
/// the usable rows of an import, leaving out suppressed addresses.
pub async fn import_list(
    db: &Db,
    ctx: &AuditContext,
    clinic: ClinicId,
    name: &str,
    parsed: ParsedList,
) -> Result<ImportReport, DbError> {
    let ctx = ctx.clone();
    let name = name.to_owned();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            let list: Uuid = match recipient_lists::table
                .filter(recipient_lists::clinic_id.eq(clinic.0))
                .filter(recipient_lists::name.eq(&name))
                .select(recipient_lists::id)
                .first(c)
                .await
                .optional()?
            {
                Some(id) => id,
                None => {
                    let id = Uuid::now_v7();
                    diesel::insert_into(recipient_lists::table)
                        .values((
                            recipient_lists::id.eq(id),
                            recipient_lists::clinic_id.eq(clinic.0),
                            recipient_lists::name.eq(&name),
                        ))
                        .execute(c)
                        .await?;
                    id
                }
            };
            let suppressed: std::collections::HashSet<String> = suppressions::table
                .filter(suppressions::clinic_id.eq(clinic.0))
                .select(suppressions::email)
                .load::<String>(c)
                .await?
                .into_iter()
                .collect();
            diesel::delete(
                recipient_list_members::table.filter(recipient_list_members::list_id.eq(list)),
            )
            .execute(c)
            .await?;
            let (keep, left_out): (Vec<_>, Vec<_>) = parsed
                .recipients
                .iter()
                .partition(|r| !suppressed.contains(r.email.as_str()));
            for chunk in keep.chunks(2000) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|r| {
                        (
                            recipient_list_members::list_id.eq(list),
                            recipient_list_members::clinic_id.eq(clinic.0),
                            recipient_list_members::email.eq(r.email.as_str()),
                            recipient_list_members::name.eq(r.name.as_str()),
                        )
                    })
                    .collect();
                diesel::insert_into(recipient_list_members::table)
                    .values(rows)
                    .on_conflict_do_nothing()
                    .execute(c)
                    .await?;
            }
            diesel::update(recipient_lists::table.find(list))
                .set(recipient_lists::updated_at.eq(Utc::now()))
                .execute(c)
                .await?;
            let report = ImportReport {
                list_name: name.clone(),
                rows: parsed.rows,
                imported: keep.len(),
                duplicates: parsed.duplicates,
                suppressed: left_out.len(),
                rejected: parsed
                    .rejected
                    .iter()
                    .map(|r| (r.line, r.value.clone(), r.reason.clone()))
                    .collect(),
            };
            audit::record(
                c,
                &ctx,
                AuditEntry {
                    clinic_id: Some(clinic),
                    action: "recipient_list.imported",
                    subject_kind: "recipient_list",
                    subject_id: list.to_string(),
                    details: json!({
                        "name": name,
                        "rows": report.rows,
                        "imported": report.imported,
                        "duplicates": report.duplicates,
                        "suppressed": report.suppressed,
                        "rejected": report.rejected.len(),
                    }),
                },
            )
            .await?;
            Ok::<_, DbError>(report)
        })
    })
    .await
}

/// Deletes one of the clinic's lists.
pub async fn delete_list(
    db: &Db,
    ctx: &AuditContext,
    clinic: ClinicId,
    list: Uuid,
) -> Result<bool, DbError> {
    let ctx = ctx.clone();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            let name: Option<String> = diesel::delete(
                recipient_lists::table
                    .filter(recipient_lists::id.eq(list))
                    .filter(recipient_lists::clinic_id.eq(clinic.0)),
            )
            .returning(recipient_lists::name)
            .get_result(c)
            .await
            .optional()?;
            if let Some(name) = &name {
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "recipient_list.deleted",
                        subject_kind: "recipient_list",
                        subject_id: list.to_string(),
                        details: json!({ "name": name }),
                    },
                )
                .await?;
            }
            Ok::<_, DbError>(name.is_some())
        })
    })
    .await
}
