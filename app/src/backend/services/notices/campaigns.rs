//! Change notices: a campaign per material version, with one outbox row per
//! recipient (unique per campaign and address). The sending job claims rows
//! in batches with a lease, sends them over pooled SMTP connections at a
//! throttled rate, and records the rows the server accepted as sent while
//! the next messages go out. Rows whose lease ran out (their worker died)
//! are sent again with the same `Message-ID`, so a receiving system that
//! deduplicates shows them once; nothing is lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

use super::Publisher;
use crate::backend::crypto::Crypto;
use crate::backend::db::schema::{
    campaign_recipients, campaigns, clinics, document_versions, documents, platform,
};
use crate::backend::db::{Conn, DbError};
use crate::backend::email::templates::{PolicyChangeNotice, SubprocessorChangeNotice};
use crate::backend::email::transport::MailError;
use crate::backend::email::{OutgoingEmail, compose};
use crate::backend::jobs::handlers::{JobContext, JobError};
use crate::backend::jobs::{self, NewJob};
use crate::backend::services::subprocessors;
use crate::backend::tenancy::Scope;
use crate::domain::email::EmailAddress;
use crate::domain::notices::DocumentKind;

/// Kind of the job that fills a campaign's outbox.
pub const PREPARE_JOB: &str = "campaigns.prepare";
/// Kind of the job that sends a campaign's outbox.
pub const SEND_JOB: &str = "campaigns.send";
/// Purpose of the tags in unsubscribe links.
pub const UNSUBSCRIBE_PURPOSE: &str = "email.unsubscribe";
/// Rows claimed at once per SMTP connection: small enough that a batch is
/// sent well within its lease even on a slow or loaded server, so that no
/// other worker takes over rows still being sent.
const ROWS_PER_CONNECTION: usize = 8;
/// Attempts per recipient before the row is marked failed.
const MAX_ATTEMPTS: i32 = 5;

/// How campaigns are sent.
#[derive(Clone, Copy, Debug)]
pub struct CampaignSettings {
    /// Most messages handed to SMTP per second (the provider's limit).
    pub rate_per_second: u32,
    /// Messages in flight at once (pooled SMTP connections).
    pub connections: usize,
    /// How long a claimed row stays reserved for its worker.
    pub lease: Duration,
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            rate_per_second: 200,
            connections: 8,
            lease: Duration::from_secs(60),
        }
    }
}

/// What a campaign tells its recipients about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A material change to a document: its new version.
    Version(Uuid),
    /// A change announced to a sub-processor register.
    Change(Uuid),
}

impl Subject {
    fn columns(self) -> (Option<Uuid>, Option<Uuid>) {
        match self {
            Self::Version(id) => (Some(id), None),
            Self::Change(id) => (None, Some(id)),
        }
    }
}

/// Creates the campaign about `subject` and queues its preparation, in the
/// caller's transaction.
pub async fn start(conn: &mut Conn, publisher: Publisher, subject: Subject) -> QueryResult<Uuid> {
    let id = Uuid::now_v7();
    let (version, change) = subject.columns();
    diesel::insert_into(campaigns::table)
        .values((
            campaigns::id.eq(id),
            campaigns::clinic_id.eq(publisher.clinic_id()),
            campaigns::version_id.eq(version),
            campaigns::change_id.eq(change),
        ))
        .execute(conn)
        .await?;
    let mut job = NewJob::now(PREPARE_JOB, json!({ "campaign": id }));
    job.clinic_id = publisher.clinic_id().map(crate::domain::clinic::ClinicId);
    job.idempotency_key = Some(format!("{PREPARE_JOB}:{id}"));
    jobs::enqueue(conn, job).await?;
    Ok(id)
}

/// Stops the campaign of a cancelled version or change: rows not yet sent
/// stay unsent.
pub async fn cancel(conn: &mut Conn, subject: Subject) -> QueryResult<usize> {
    let target = campaigns::table
        .filter(campaigns::status.eq_any(["preparing", "sending"]))
        .into_boxed();
    let target = match subject {
        Subject::Version(id) => target.filter(campaigns::version_id.eq(id)),
        Subject::Change(id) => target.filter(campaigns::change_id.eq(id)),
    };
    let ids: Vec<Uuid> = target.select(campaigns::id).load(conn).await?;
    diesel::update(campaigns::table.filter(campaigns::id.eq_any(ids)))
        .set((
            campaigns::status.eq("cancelled"),
            campaigns::finished_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await
}

fn campaign_id(payload: &serde_json::Value) -> Result<Uuid, JobError> {
    payload
        .get("campaign")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| JobError::Permanent("campaign job without a campaign id".into()))
}

#[derive(QueryableByName)]
struct AudienceCounts {
    #[diesel(sql_type = BigInt)]
    audience: i64,
    #[diesel(sql_type = BigInt)]
    kept: i64,
}

// Each audience names its addresses and whether each is a clinic contact
// (`contact`), owed the notice by the platform, or a subscriber.

/// Confirmed subscribers to the clinic's policy notices and its imported
/// lists.
const CLINIC_AUDIENCE: &str = "\
    SELECT lower(email) AS email, false AS contact FROM subscribers \
        WHERE clinic_id = $2 AND status = 'confirmed' AND 'notices' = ANY(topics) \
    UNION ALL SELECT lower(email), false FROM recipient_list_members WHERE clinic_id = $2";
/// Owners, Admins and Privacy Officers of active clinics, owed notice of
/// the platform's documents under their agreement, and confirmed
/// subscribers to the platform's policy notices.
const PLATFORM_AUDIENCE: &str = "\
    SELECT lower(u.email) AS email, true AS contact FROM memberships m \
        JOIN users u ON u.id = m.user_id JOIN clinics c ON c.id = m.clinic_id \
        WHERE c.status = 'active' AND u.disabled_at IS NULL \
          AND m.role IN ('owner', 'admin', 'privacy_officer') \
    UNION ALL SELECT lower(email), false FROM subscribers \
        WHERE clinic_id IS NULL AND status = 'confirmed' AND 'notices' = ANY(topics)";
/// Confirmed subscribers to the clinic's sub-processor changes.
const CLINIC_SUBPROCESSOR_AUDIENCE: &str = "\
    SELECT lower(email) AS email, false AS contact FROM subscribers \
        WHERE clinic_id = $2 AND status = 'confirmed' AND 'subprocessors' = ANY(topics)";
/// Owners and Privacy Officers of active clinics, who may object to the
/// platform's sub-processor changes (GDPR Art. 28(2)), and confirmed
/// subscribers to them.
const PLATFORM_SUBPROCESSOR_AUDIENCE: &str = "\
    SELECT lower(u.email) AS email, true AS contact FROM memberships m \
        JOIN users u ON u.id = m.user_id JOIN clinics c ON c.id = m.clinic_id \
        WHERE c.status = 'active' AND u.disabled_at IS NULL \
          AND m.role IN ('owner', 'privacy_officer') \
    UNION ALL SELECT lower(email), false FROM subscribers \
        WHERE clinic_id IS NULL AND status = 'confirmed' AND 'subprocessors' = ANY(topics)";

/// Fills the outbox of a campaign from its audience, leaving out suppressed
/// subscribers (never a clinic contact, whom an unsubscribe cannot release
/// from a notice owed to the clinic), and queues the sending. Running it
/// twice adds nothing.
pub async fn prepare(ctx: &JobContext, payload: &serde_json::Value) -> Result<(), JobError> {
    let id = campaign_id(payload)?;
    ctx.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let found: Option<(Option<Uuid>, String, Option<Uuid>)> = campaigns::table
                    .find(id)
                    .select((campaigns::clinic_id, campaigns::status, campaigns::change_id))
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                let Some((clinic, status, change)) = found else {
                    return Ok::<_, DbError>(());
                };
                if status != "preparing" {
                    return Ok(());
                }
                let audience = match (clinic.is_some(), change.is_some()) {
                    (true, false) => CLINIC_AUDIENCE,
                    (false, false) => PLATFORM_AUDIENCE,
                    (true, true) => CLINIC_SUBPROCESSOR_AUDIENCE,
                    (false, true) => PLATFORM_SUBPROCESSOR_AUDIENCE,
                };
                let sql = format!(
                    "WITH listed AS ({audience}), \
                     audience AS (SELECT email, bool_or(contact) AS contact FROM listed \
                         GROUP BY email), \
                     kept AS (SELECT a.email, a.contact FROM audience a WHERE a.contact OR NOT EXISTS ( \
                         SELECT 1 FROM suppressions s \
                         WHERE s.clinic_id IS NOT DISTINCT FROM $2 AND s.email = a.email)), \
                     added AS (INSERT INTO campaign_recipients (campaign_id, clinic_id, email, basis) \
                         SELECT $1, $2, email, CASE WHEN contact THEN 'contact' ELSE 'subscriber' END \
                         FROM kept ON CONFLICT (campaign_id, email) DO NOTHING \
                         RETURNING 1) \
                     SELECT (SELECT count(*) FROM audience) AS audience, \
                            (SELECT count(*) FROM kept) AS kept"
                );
                let counts: AudienceCounts = diesel::sql_query(sql)
                    .bind::<diesel::sql_types::Uuid, _>(id)
                    .bind::<Nullable<diesel::sql_types::Uuid>, _>(clinic)
                    .get_result(c)
                    .await?;
                diesel::update(campaigns::table.find(id))
                    .set((
                        campaigns::status.eq("sending"),
                        campaigns::started_at.eq(Utc::now()),
                        campaigns::recipients.eq(i32::try_from(counts.kept).unwrap_or(i32::MAX)),
                        campaigns::suppressed.eq(i32::try_from(counts.audience - counts.kept).unwrap_or(0)),
                    ))
                    .execute(c)
                    .await?;
                let mut job = NewJob::now(SEND_JOB, json!({ "campaign": id }));
                job.clinic_id = clinic.map(crate::domain::clinic::ClinicId);
                job.idempotency_key = Some(format!("{SEND_JOB}:{id}:start"));
                jobs::enqueue(c, job).await?;
                tracing::info!(campaign = %id, recipients = counts.kept, suppressed = counts.audience - counts.kept, "campaign prepared");
                Ok(())
            })
        })
        .await?;
    Ok(())
}

/// Status, publisher, version and change of a campaign.
type CampaignSubject = (String, Option<Uuid>, Option<Uuid>, Option<Uuid>);
/// Title, number, summary, effective date and kind of a version.
type VersionFacts = (String, Option<i32>, String, Option<DateTime<Utc>>, String);
/// Status, counts, times, and the version's number, title, date and kind.
type ProgressRow = (
    String,
    i32,
    i32,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<i32>,
    String,
    Option<DateTime<Utc>>,
    String,
);

/// The message of a campaign, with [`UNSUBSCRIBE_SLOT`] for each
/// recipient's unsubscribe link.
#[derive(Clone, Debug)]
enum Message {
    Policy(PolicyChangeNotice),
    Subprocessors(SubprocessorChangeNotice),
}

/// What every message of a campaign shares.
#[derive(Clone, Debug)]
struct Notice {
    campaign: Uuid,
    message: Message,
}

/// The public address of a publisher's document pages.
pub fn document_path(clinic_slug: Option<&str>, kind: DocumentKind) -> String {
    let base = clinic_slug.map_or_else(String::new, |slug| format!("/c/{slug}"));
    match kind {
        DocumentKind::PrivacyNotice => format!("{base}/privacy"),
        other => format!("{base}/policies/{}", other.slug()),
    }
}

async fn load_notice(ctx: &JobContext, id: Uuid) -> Result<Option<(Notice, String)>, DbError> {
    let settings = ctx.settings.clone();
    ctx.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let found: Option<CampaignSubject> = campaigns::table
                    .find(id)
                    .select((
                        campaigns::status,
                        campaigns::clinic_id,
                        campaigns::version_id,
                        campaigns::change_id,
                    ))
                    .first(c)
                    .await
                    .optional()?;
                let Some((status, clinic, version, change)) = found else {
                    return Ok::<_, DbError>(None);
                };
                if let Some(change) = change {
                    let message =
                        subprocessors::change_notice(c, &settings, change, UNSUBSCRIBE_SLOT)
                            .await?;
                    return Ok(message.map(|m| {
                        (
                            Notice {
                                campaign: id,
                                message: Message::Subprocessors(m),
                            },
                            status,
                        )
                    }));
                }
                let Some(version) = version else {
                    return Ok(None);
                };
                let (title, number, summary, effective_at, kind): VersionFacts =
                    document_versions::table
                        .inner_join(documents::table)
                        .filter(document_versions::id.eq(version))
                        .select((
                            document_versions::title,
                            document_versions::number,
                            document_versions::summary,
                            document_versions::effective_at,
                            documents::kind,
                        ))
                        .first(c)
                        .await?;
                let (publisher, slug) = match clinic {
                    Some(clinic) => {
                        let (name, slug): (String, String) = clinics::table
                            .find(clinic)
                            .select((clinics::name, clinics::slug))
                            .first(c)
                            .await?;
                        (name, Some(slug))
                    }
                    None => (platform::table.select(platform::name).first(c).await?, None),
                };
                let kind: DocumentKind = kind.parse().unwrap_or(DocumentKind::PrivacyNotice);
                let number = number.unwrap_or_default();
                let path = document_path(slug.as_deref(), kind);
                let message = PolicyChangeNotice {
                    publisher,
                    document: kind.label().to_lowercase(),
                    version_title: title,
                    number,
                    summary,
                    effective_date: effective_at
                        .map(|at| at.format("%-d %B %Y").to_string())
                        .unwrap_or_default(),
                    version_url: settings.url(&format!("{path}/versions/{number}")),
                    diff_url: settings.url(&format!("{path}/versions/{number}/diff")),
                    unsubscribe_url: UNSUBSCRIBE_SLOT.to_owned(),
                    contacts_url: None,
                };
                Ok(Some((
                    Notice {
                        campaign: id,
                        message: Message::Policy(message),
                    },
                    status,
                )))
            })
        })
        .await
}

/// The token of the unsubscribe link of outbox row `row`.
pub fn unsubscribe_token(crypto: &Crypto, row: i64) -> String {
    let message = format!("r{row}");
    format!(
        "{message}.{}",
        crypto.tag(UNSUBSCRIBE_PURPOSE, message.as_bytes())
    )
}

#[derive(QueryableByName, Debug)]
struct ClaimedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    /// `contact` or `subscriber`.
    #[diesel(sql_type = Text)]
    basis: String,
}

async fn claim(ctx: &JobContext, id: Uuid) -> Result<Vec<ClaimedRow>, DbError> {
    let lease = ctx.campaigns.lease.as_secs_f64();
    let batch = i64::try_from(ctx.campaigns.connections.max(1) * ROWS_PER_CONNECTION).unwrap_or(64);
    ctx.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    diesel::sql_query(
                        "UPDATE campaign_recipients SET status = 'sending', attempts = attempts + 1, \
                             locked_until = now() + make_interval(secs => $3) \
                         WHERE id IN ( \
                             SELECT id FROM campaign_recipients WHERE campaign_id = $1 \
                               AND ((status = 'pending' AND next_attempt_at <= now()) \
                                 OR (status = 'sending' AND locked_until < now())) \
                             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                         RETURNING id, email, attempts, basis",
                    )
                    .bind::<diesel::sql_types::Uuid, _>(id)
                    .bind::<BigInt, _>(batch)
                    .bind::<Double, _>(lease)
                    .load(c)
                    .await?,
                )
            })
        })
        .await
}

/// What became of one claimed row.
struct Outcome {
    id: i64,
    attempts: i32,
    result: Result<(), MailError>,
}

/// Most outcomes written in one transaction.
const OUTCOMES_PER_WRITE: usize = 256;

/// Records the outcomes of rows, in one transaction: the rows the server
/// accepted become sent, the others wait for a retry or fail.
async fn record(ctx: &JobContext, outcomes: Vec<Outcome>) -> Result<(), DbError> {
    ctx.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let (sent, failed): (Vec<Outcome>, Vec<Outcome>) =
                    outcomes.into_iter().partition(|o| o.result.is_ok());
                if !sent.is_empty() {
                    let ids: Vec<i64> = sent.iter().map(|o| o.id).collect();
                    diesel::update(
                        campaign_recipients::table
                            .filter(campaign_recipients::id.eq_any(ids))
                            .filter(campaign_recipients::status.eq("sending")),
                    )
                    .set((
                        campaign_recipients::status.eq("sent"),
                        campaign_recipients::sent_at.eq(Utc::now()),
                        campaign_recipients::locked_until.eq(None::<DateTime<Utc>>),
                        campaign_recipients::last_error.eq(None::<String>),
                    ))
                    .execute(c)
                    .await?;
                }
                for Outcome {
                    id,
                    attempts,
                    result,
                } in failed
                {
                    let Err(error) = result else { continue };
                    let retry = matches!(error, MailError::Transient(_)) && attempts < MAX_ATTEMPTS;
                    let delay = crate::domain::jobs::retry_delay(attempts.max(0).unsigned_abs());
                    let next = Utc::now()
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::minutes(5));
                    diesel::update(
                        campaign_recipients::table
                            .find(id)
                            .filter(campaign_recipients::status.eq("sending")),
                    )
                    .set((
                        campaign_recipients::status.eq(if retry { "pending" } else { "failed" }),
                        campaign_recipients::next_attempt_at.eq(next),
                        campaign_recipients::locked_until.eq(None::<DateTime<Utc>>),
                        campaign_recipients::last_error.eq(Some(
                            error.to_string().chars().take(500).collect::<String>(),
                        )),
                    ))
                    .execute(c)
                    .await?;
                }
                Ok::<_, DbError>(())
            })
        })
        .await
}

/// Stands for the row's own unsubscribe link in the message rendered once
/// per campaign.
const UNSUBSCRIBE_SLOT: &str = "UNSUBSCRIBELINKSLOT";

/// The campaign's message rendered once for each kind of recipient.
struct Rendered {
    /// With a slot for each subscriber's unsubscribe link.
    subscriber: OutgoingEmail,
    /// For clinic contacts: no unsubscribe link, a link to the clinic's team
    /// instead.
    contact: OutgoingEmail,
}

/// Renders the campaign's message for subscribers and for clinic contacts.
fn render(ctx: &JobContext, notice: &Notice) -> Result<Rendered, JobError> {
    let placeholder = EmailAddress::parse("recipient@example.org")
        .map_err(|e| JobError::Permanent(format!("placeholder address {e}")))?;
    let domain = ctx.settings.message_domain();
    let contacts_url = Some(ctx.settings.url("/admin"));
    let failed = |e: askama::Error| JobError::Permanent(format!("change notice template: {e}"));
    let (subscriber, contact) = match &notice.message {
        Message::Policy(message) => {
            let contact = PolicyChangeNotice {
                contacts_url,
                ..message.clone()
            };
            (
                compose(message, placeholder.clone(), &domain).map_err(failed)?,
                compose(&contact, placeholder, &domain).map_err(failed)?,
            )
        }
        Message::Subprocessors(message) => {
            let contact = SubprocessorChangeNotice {
                contacts_url,
                ..message.clone()
            };
            (
                compose(message, placeholder.clone(), &domain).map_err(failed)?,
                compose(&contact, placeholder, &domain).map_err(failed)?,
            )
        }
    };
    if !subscriber.text.contains(UNSUBSCRIBE_SLOT) || !subscriber.html.contains(UNSUBSCRIBE_SLOT) {
        return Err(JobError::Permanent(
            "the change notice template has no unsubscribe link".into(),
        ));
    }
    if contact.text.contains(UNSUBSCRIBE_SLOT) || contact.html.contains(UNSUBSCRIBE_SLOT) {
        return Err(JobError::Permanent(
            "the change notice to clinic contacts offers an unsubscribe link".into(),
        ));
    }
    Ok(Rendered {
        subscriber,
        contact,
    })
}

async fn deliver(
    ctx: JobContext,
    notice: Arc<Notice>,
    rendered: Arc<Rendered>,
    row: ClaimedRow,
) -> Outcome {
    let result = match EmailAddress::parse(&row.email) {
        Err(e) => Err(MailError::Permanent(format!("recipient address {e}"))),
        // A notice owed to the clinic: no List-Unsubscribe (RFC 2369/8058
        // are for mail people asked for), and the same Message-ID rule.
        Ok(to) if row.basis == "contact" => {
            let domain = ctx.settings.message_domain();
            let mut email = rendered.contact.clone();
            email.to = to;
            email.message_id = format!("<notice.{}.{}@{domain}>", notice.campaign.simple(), row.id);
            email.headers = Vec::new();
            ctx.mailer.send(&ctx.mail_from, &email).await
        }
        Ok(to) => {
            let unsubscribe_url = ctx.settings.url(&format!(
                "/email/unsubscribe/{}",
                unsubscribe_token(&ctx.crypto, row.id)
            ));
            let domain = ctx.settings.message_domain();
            let mut email = rendered.subscriber.clone();
            email.to = to;
            email.text = email.text.replace(UNSUBSCRIBE_SLOT, &unsubscribe_url);
            email.html = email
                .html
                .replace(UNSUBSCRIBE_SLOT, &html_escape(&unsubscribe_url));
            // Fixed per row: a resend after a crash is the same message.
            email.message_id = format!("<notice.{}.{}@{domain}>", notice.campaign.simple(), row.id);
            email.headers = vec![
                (
                    "List-Unsubscribe".to_owned(),
                    format!("<{unsubscribe_url}>"),
                ),
                (
                    "List-Unsubscribe-Post".to_owned(),
                    "List-Unsubscribe=One-Click".to_owned(),
                ),
            ];
            ctx.mailer.send(&ctx.mail_from, &email).await
        }
    };
    let outcome = if result.is_ok() { "sent" } else { "failed" };
    metrics::counter!("portal_campaign_emails_total", "outcome" => outcome).increment(1);
    Outcome {
        id: row.id,
        attempts: row.attempts,
        result,
    }
}

/// Sends the campaign's due rows until none are left, then either finishes
/// the campaign or queues itself again for the next retry.
///
/// Sending and recording run side by side: each accepted message is
/// recorded as sent by the next write, which takes every outcome that
/// arrived while the previous write was running (a group commit), so the
/// database never holds the sending back and a crash repeats at most the
/// messages of one write.
pub async fn send(ctx: &JobContext, payload: &serde_json::Value) -> Result<(), JobError> {
    let id = campaign_id(payload)?;
    let Some((notice, status)) = load_notice(ctx, id).await? else {
        return Ok(());
    };
    if status != "sending" {
        return Ok(());
    }
    let settings = ctx.campaigns;
    let per_message = Duration::from_secs_f64(1.0 / f64::from(settings.rate_per_second.max(1)));
    let rendered = Arc::new(render(ctx, &notice)?);
    let (outcomes, mut received) = tokio::sync::mpsc::channel::<Outcome>(OUTCOMES_PER_WRITE);
    let notice = Arc::new(notice);
    let (notice, rendered) = (&notice, &rendered);
    let sending = async move {
        let mut rows = claim(ctx, id).await?;
        let mut batches = 0u32;
        while !rows.is_empty() {
            batches += 1;
            let started = Instant::now();
            let count = rows.len();
            let outcomes = &outcomes;
            let batch = async move {
                let mut sent = futures::stream::iter(rows)
                    // Each message is built on a task of its own, so that
                    // building them uses every core.
                    .map(|row| {
                        let id = row.id;
                        let task = tokio::spawn(deliver(
                            ctx.clone(),
                            notice.clone(),
                            rendered.clone(),
                            row,
                        ));
                        async move {
                            task.await.unwrap_or_else(|e| Outcome {
                                id,
                                attempts: MAX_ATTEMPTS,
                                result: Err(MailError::Permanent(format!("sending failed: {e}"))),
                            })
                        }
                    })
                    .buffer_unordered(settings.connections.max(1));
                while let Some(outcome) = sent.next().await {
                    // The recorder only goes away on a database error,
                    // which the join below reports.
                    let _ = outcomes.send(outcome).await;
                }
            };
            // The next batch is claimed while this one is sent; a cancelled
            // campaign stops between batches.
            let check = batches.is_multiple_of(10);
            let next = async {
                if check && campaign_status(ctx, id).await? != "sending" {
                    return Ok::<_, DbError>(None);
                }
                claim(ctx, id).await.map(Some)
            };
            let ((), next) = tokio::join!(batch, next);
            let Some(next) = next? else {
                return Ok(());
            };
            rows = next;
            let budget = per_message * u32::try_from(count).unwrap_or(u32::MAX);
            if let Some(rest) = budget.checked_sub(started.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
        Ok::<_, DbError>(())
    };
    let recording = async {
        loop {
            let mut batch = Vec::with_capacity(OUTCOMES_PER_WRITE);
            if received.recv_many(&mut batch, OUTCOMES_PER_WRITE).await == 0 {
                break;
            }
            record(ctx, batch).await?;
        }
        Ok::<_, DbError>(())
    };
    tokio::try_join!(sending, recording)?;
    finish_or_requeue(ctx, id).await
}

async fn campaign_status(ctx: &JobContext, id: Uuid) -> Result<String, DbError> {
    ctx.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    campaigns::table
                        .find(id)
                        .select(campaigns::status)
                        .first(c)
                        .await
                        .optional()?
                        .unwrap_or_default(),
                )
            })
        })
        .await
}

#[derive(QueryableByName)]
struct NextDue {
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    next: Option<DateTime<Utc>>,
}

async fn finish_or_requeue(ctx: &JobContext, id: Uuid) -> Result<(), JobError> {
    ctx.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let due: NextDue = diesel::sql_query(
                    "SELECT min(CASE WHEN status = 'pending' THEN next_attempt_at ELSE locked_until END) AS next \
                     FROM campaign_recipients WHERE campaign_id = $1 AND status IN ('pending', 'sending')",
                )
                .bind::<diesel::sql_types::Uuid, _>(id)
                .get_result(c)
                .await?;
                match due.next {
                    None => {
                        diesel::update(campaigns::table.find(id).filter(campaigns::status.eq("sending")))
                            .set((campaigns::status.eq("finished"), campaigns::finished_at.eq(Utc::now())))
                            .execute(c)
                            .await?;
                    }
                    Some(next) => {
                        let clinic: Option<Uuid> = campaigns::table.find(id).select(campaigns::clinic_id).first(c).await?;
                        let mut job = NewJob::now(SEND_JOB, json!({ "campaign": id }));
                        job.clinic_id = clinic.map(crate::domain::clinic::ClinicId);
                        job.run_at = next;
                        job.idempotency_key = Some(format!("{SEND_JOB}:{id}:{}", next.timestamp_micros()));
                        jobs::enqueue(c, job).await?;
                    }
                }
                Ok::<_, DbError>(())
            })
        })
        .await?;
    Ok(())
}

/// A campaign's progress, for its page.
#[derive(Clone, Debug)]
pub struct Progress {
    pub id: Uuid,
    pub status: String,
    pub version_number: i32,
    pub version_title: String,
    pub kind: DocumentKind,
    pub effective_at: Option<DateTime<Utc>>,
    pub recipients: i64,
    pub suppressed: i64,
    pub sent: i64,
    pub failed: i64,
    pub pending: i64,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Failed rows: address and error (first 100).
    pub failures: Vec<(String, String)>,
}

/// Change-notice campaigns of a publisher's documents, newest first, with
/// their counts.
pub async fn list(
    db: &crate::backend::db::Db,
    publisher: Publisher,
) -> Result<Vec<Progress>, DbError> {
    let ids: Vec<Uuid> = db
        .scoped(publisher.scope(), move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    campaigns::table
                        .filter(campaigns::clinic_id.is_not_distinct_from(publisher.clinic_id()))
                        .filter(campaigns::version_id.is_not_null())
                        .order(campaigns::created_at.desc())
                        .limit(50)
                        .select(campaigns::id)
                        .load(c)
                        .await?,
                )
            })
        })
        .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(progress) = progress(db, publisher, id).await? {
            out.push(progress);
        }
    }
    Ok(out)
}

/// One campaign's progress, if it belongs to `publisher`.
pub async fn progress(
    db: &crate::backend::db::Db,
    publisher: Publisher,
    id: Uuid,
) -> Result<Option<Progress>, DbError> {
    db.scoped(publisher.scope(), move |c| {
        Box::pin(async move {
            let found: Option<ProgressRow> = campaigns::table
                .inner_join(document_versions::table.inner_join(documents::table))
                .filter(campaigns::id.eq(id))
                .filter(campaigns::clinic_id.is_not_distinct_from(publisher.clinic_id()))
                .select((
                    campaigns::status,
                    campaigns::recipients,
                    campaigns::suppressed,
                    campaigns::created_at,
                    campaigns::finished_at,
                    document_versions::number,
                    document_versions::title,
                    document_versions::effective_at,
                    documents::kind,
                ))
                .first(c)
                .await
                .optional()?;
            let Some((
                status,
                recipients,
                suppressed,
                created_at,
                finished_at,
                number,
                title,
                effective_at,
                kind,
            )) = found
            else {
                return Ok::<_, DbError>(None);
            };
            let counts = StatusCounts::load(c, id).await?;
            let count = |s: &str| counts.of(&[s]);
            let failures: Vec<(String, Option<String>)> = campaign_recipients::table
                .filter(campaign_recipients::campaign_id.eq(id))
                .filter(campaign_recipients::status.eq("failed"))
                .order(campaign_recipients::id)
                .limit(100)
                .select((campaign_recipients::email, campaign_recipients::last_error))
                .load(c)
                .await?;
            Ok(Some(Progress {
                id,
                status,
                version_number: number.unwrap_or_default(),
                version_title: title,
                kind: kind.parse().unwrap_or(DocumentKind::PrivacyNotice),
                effective_at,
                recipients: i64::from(recipients),
                suppressed: i64::from(suppressed),
                sent: count("sent"),
                failed: count("failed"),
                pending: count("pending") + count("sending"),
                created_at,
                finished_at,
                failures: failures
                    .into_iter()
                    .map(|(email, error)| (email, error.unwrap_or_default()))
                    .collect(),
            }))
        })
    })
    .await
}

/// `text` safe inside an HTML attribute.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A campaign's outbox rows per status.
struct StatusCounts(Vec<(String, i64)>);

impl StatusCounts {
    async fn load(conn: &mut Conn, campaign: Uuid) -> QueryResult<Self> {
        campaign_recipients::table
            .filter(campaign_recipients::campaign_id.eq(campaign))
            .group_by(campaign_recipients::status)
            .select((campaign_recipients::status, diesel::dsl::count_star()))
            .load(conn)
            .await
            .map(Self)
    }

    /// Rows in any of `statuses`.
    fn of(&self, statuses: &[&str]) -> i64 {
        self.0
            .iter()
            .filter(|(k, _)| statuses.contains(&k.as_str()))
            .map(|(_, n)| *n)
            .sum()
    }
}

/// How far a campaign about a register change has got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub status: String,
    pub recipients: i64,
    pub suppressed: i64,
    pub sent: i64,
    pub failed: i64,
    pub pending: i64,
}

/// The delivery of the change notice about register change `change`.
pub async fn change_delivery(
    db: &crate::backend::db::Db,
    publisher: Publisher,
    change: Uuid,
) -> Result<Option<Delivery>, DbError> {
    db.scoped(publisher.scope(), move |c| {
        Box::pin(async move {
            let found: Option<(Uuid, String, i32, i32)> = campaigns::table
                .filter(campaigns::change_id.eq(change))
                .filter(campaigns::clinic_id.is_not_distinct_from(publisher.clinic_id()))
                .select((
                    campaigns::id,
                    campaigns::status,
                    campaigns::recipients,
                    campaigns::suppressed,
                ))
                .first(c)
                .await
                .optional()?;
            let Some((id, status, recipients, suppressed)) = found else {
                return Ok::<_, DbError>(None);
            };
            let counts = StatusCounts::load(c, id).await?;
            let count = |s: &[&str]| counts.of(s);
            Ok(Some(Delivery {
                status,
                recipients: i64::from(recipients),
                suppressed: i64::from(suppressed),
                sent: count(&["sent"]),
                failed: count(&["failed"]),
                pending: count(&["pending", "sending"]),
            }))
        })
    })
    .await
}
