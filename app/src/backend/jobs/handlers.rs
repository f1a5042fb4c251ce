//! What each kind of job does, and the periodic jobs the worker schedules.

use std::sync::Arc;

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::backend::audit::AuditContext;
use crate::backend::auth::session_store;
use crate::backend::clock::Clock;
use crate::backend::crypto::Crypto;
use crate::backend::db::schema::email_deliveries;
use crate::backend::db::schema::login_tokens;
use crate::backend::db::{Db, DbError};
use crate::backend::email::transport::{MailError, Mailer};
use crate::backend::email::{self, OutgoingEmail};
use crate::backend::jobs::{self, NewJob};
use crate::backend::models::job::{JobRow, NewEmailDelivery};
use crate::backend::ratelimit;
use crate::backend::services::notices::{self, campaigns};
use crate::backend::services::{exports, offboarding, requests, retention, subprocessors};
use crate::backend::state::{AppServices, AppState, Settings};
use crate::backend::tenancy::Scope;

/// Everything a job may need.
#[derive(Clone)]
pub struct JobContext {
    pub db: Db,
    pub crypto: Crypto,
    pub mailer: Arc<Mailer>,
    pub mail_from: String,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// How change-notice campaigns are sent.
    pub campaigns: campaigns::CampaignSettings,
    /// Where sent emails are recorded.
    pub sent: SentEmails,
}

impl JobContext {
    /// The application state, for services that jobs call.
    pub fn app(&self) -> AppState {
        AppState::new(AppServices {
            db: self.db.clone(),
            settings: self.settings.clone(),
            crypto: self.crypto.clone(),
            clock: self.clock.clone(),
            consent: Default::default(),
            clinics: Default::default(),
        })
    }
}

/// How a job ended.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Try again later.
    #[error("{0}")]
    Retry(String),
    /// Do not try again.
    #[error("{0}")]
    Permanent(String),
}

impl From<DbError> for JobError {
    fn from(e: DbError) -> Self {
        Self::Retry(e.to_string())
    }
}

impl From<diesel::result::Error> for JobError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Retry(e.to_string())
    }
}

/// Kind of the job that deletes old finished jobs.
pub const PURGE_FINISHED_JOBS: &str = "jobs.purge_finished";
/// Kind of the job that deletes expired sessions, spent sign-in links and old
/// rate-limit counters.
pub const PURGE_EXPIRED_AUTH: &str = "auth.purge_expired";
/// Kind of the job that deletes requests never verified.
pub const PURGE_UNVERIFIED_REQUESTS: &str = "requests.purge_unverified";

/// Runs `job` and records its outcome. Returns `Ok(true)` when it completed.
pub async fn run(ctx: &JobContext, job: &JobRow, worker: &str) -> Result<bool, DbError> {
    let outcome = match job.kind.as_str() {
        email::JOB_KIND => return deliver_email(ctx, job, worker).await,
        PURGE_FINISHED_JOBS => purge_finished_jobs(ctx).await,
        PURGE_EXPIRED_AUTH => purge_expired_auth(ctx).await,
        PURGE_UNVERIFIED_REQUESTS => requests::purge_unverified(&ctx.app())
            .await
            .map(|removed| tracing::info!(removed, "purged unverified privacy requests"))
            .map_err(JobError::from),
        requests::staff::REMINDERS_JOB => requests::staff::send_reminders(&ctx.app())
            .await
            .map(|queued| tracing::info!(queued, "queued deadline reminders"))
            .map_err(JobError::from),
        notices::APPLY_DUE_JOB => notices::apply_due(&ctx.app())
            .await
            .map(|flipped| tracing::info!(flipped, "applied due document versions"))
            .map_err(JobError::from),
        subprocessors::APPLY_DUE_JOB => subprocessors::apply_due(&ctx.app())
            .await
            .map(|applied| tracing::info!(applied, "applied due sub-processor changes"))
            .map_err(JobError::from),
        retention::NIGHTLY_JOB => nightly_retention(ctx).await,
        offboarding::DELETE_DUE_JOB => offboarding::delete_due(&ctx.app(), &AuditContext::system())
            .await
            .map(|deleted| tracing::info!(?deleted, "deleted offboarded clinics"))
            .map_err(JobError::from),
        exports::BUILD_JOB => exports::build(ctx, &job.payload).await,
        campaigns::PREPARE_JOB => campaigns::prepare(ctx, &job.payload).await,
        campaigns::SEND_JOB => campaigns::send(ctx, &job.payload).await,
        other => Err(JobError::Permanent(format!("unknown job kind `{other}`"))),
    };
    finish(ctx, job, worker, outcome, None).await
}

/// Writes the outcome: done, or a failed attempt with retry or not.
async fn finish(
    ctx: &JobContext,
    job: &JobRow,
    worker: &str,
    outcome: Result<(), JobError>,
    scrubbed_payload: Option<serde_json::Value>,
) -> Result<bool, DbError> {
    let job = job.clone();
    let worker = worker.to_owned();
    ctx.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                match outcome {
                    Ok(()) => Ok::<_, DbError>(jobs::complete(c, job.id, &worker, scrubbed_payload).await?),
                    Err(error) => {
                        let permanent = matches!(error, JobError::Permanent(_));
                        let retry = jobs::fail(c, &job, &worker, &error.to_string(), permanent).await?;
                        tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, retry, %error, "job failed");
                        Ok(false)
                    }
                }
            })
        })
        .await
}

/// Sends one email job and logs the delivery in the same transaction that
/// completes the job (for a sent email, one shared with other sent emails).
async fn deliver_email(ctx: &JobContext, job: &JobRow, worker: &str) -> Result<bool, DbError> {
    let email = match open_email(ctx, job) {
        Ok(email) => email,
        Err(error) => return finish(ctx, job, worker, Err(error), None).await,
    };
    let result = ctx.mailer.send(&ctx.mail_from, &email).await;
    let out_of_attempts = job.attempts >= job.max_attempts;
    let (status, error, outcome) = match result {
        Ok(()) => ("sent", None, Ok(())),
        Err(MailError::Permanent(e)) => ("failed", Some(e.clone()), Err(JobError::Permanent(e))),
        Err(MailError::Transient(e)) if out_of_attempts => {
            ("failed", Some(e.clone()), Err(JobError::Permanent(e)))
        }
        Err(MailError::Transient(e)) => {
            metrics::counter!("portal_email_attempts_failed_total").increment(1);
            return finish(ctx, job, worker, Err(JobError::Retry(e)), None).await;
        }
    };
    metrics::counter!("portal_emails_total", "outcome" => status).increment(1);
    let delivery = NewEmailDelivery {
        clinic_id: job.clinic_id,
        job_id: Some(job.id),
        message_id: email.message_id.clone(),
        template: email.template.clone(),
        recipient: email.to.as_str().to_owned(),
        status: status.to_owned(),
        error,
    };
    let error = match outcome {
        Ok(()) => {
            // The body is no longer needed once handed over; keep only the envelope.
            let scrubbed = json!({ "template": email.template, "to": email.to.masked(), "message_id": email.message_id });
            return ctx
                .sent
                .record(&ctx.db, delivery, job.id, worker, scrubbed)
                .await;
        }
        Err(error) => error,
    };
    let job_for_tx = job.clone();
    let worker = worker.to_owned();
    ctx.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                diesel::insert_into(email_deliveries::table)
                    .values(&delivery)
                    .execute(c)
                    .await?;
                jobs::fail(c, &job_for_tx, &worker, &error.to_string(), true).await?;
                tracing::warn!(job = job_for_tx.id, %error, "email not delivered");
                Ok::<_, DbError>(false)
            })
        })
        .await
}

/// Most sent emails recorded in one transaction.
const SENT_PER_WRITE: usize = 64;

/// A sent email waiting to be recorded.
struct Sent {
    delivery: NewEmailDelivery,
    job: i64,
    worker: String,
    scrubbed: serde_json::Value,
    recorded: oneshot::Sender<Result<bool, String>>,
}

/// Records sent emails, their delivery and their job's completion, many
/// per transaction: one task writes whatever the worker's sends have
/// finished while the previous write committed, so a backlog of emails
/// costs one commit per batch instead of one per email.
#[derive(Clone, Default)]
pub struct SentEmails {
    writer: Arc<std::sync::Mutex<Option<mpsc::Sender<Sent>>>>,
}

impl SentEmails {
    /// Records one sent email; returns false when `worker` no longer held
    /// the job's lease.
    async fn record(
        &self,
        db: &Db,
        delivery: NewEmailDelivery,
        job: i64,
        worker: &str,
        scrubbed: serde_json::Value,
    ) -> Result<bool, DbError> {
        let (recorded, answer) = oneshot::channel();
        let sent = Sent {
            delivery,
            job,
            worker: worker.to_owned(),
            scrubbed,
            recorded,
        };
        if self.writer(db).send(sent).await.is_err() {
            return Err(DbError::Unavailable(
                "the writer of sent emails stopped".into(),
            ));
        }
        match answer.await {
            Ok(result) => result.map_err(DbError::Batch),
            Err(_) => Err(DbError::Unavailable(
                "the writer of sent emails stopped".into(),
            )),
        }
    }

    fn writer(&self, db: &Db) -> mpsc::Sender<Sent> {
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(sender) = writer.as_ref().filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::channel(SENT_PER_WRITE * 4);
        tokio::spawn(write_sent(db.clone(), receiver));
        *writer = Some(sender.clone());
        sender
    }
}

async fn write_sent(db: Db, mut receiver: mpsc::Receiver<Sent>) {
    loop {
        let mut batch = Vec::with_capacity(SENT_PER_WRITE);
        if receiver.recv_many(&mut batch, SENT_PER_WRITE).await == 0 {
            return;
        }
        let deliveries: Vec<NewEmailDelivery> = batch.iter().map(|s| s.delivery.clone()).collect();
        let done: Vec<(i64, String, serde_json::Value)> = batch
            .iter()
            .map(|s| (s.job, s.worker.clone(), s.scrubbed.clone()))
            .collect();
        let result = db
            .scoped(Scope::System, move |c| {
                Box::pin(async move {
                    diesel::insert_into(email_deliveries::table)
                        .values(&deliveries)
                        .execute(c)
                        .await?;
                    Ok::<_, DbError>(jobs::complete_many(c, done).await?)
                })
            })
            .await;
        match result {
            Ok(completed) => {
                for sent in batch {
                    let _ = sent.recorded.send(Ok(completed.contains(&sent.job)));
                }
            }
            Err(e) => {
                let message = format!("recording sent emails: {e}");
                for sent in batch {
                    let _ = sent.recorded.send(Err(message.clone()));
                }
            }
        }
    }
}

fn open_email(ctx: &JobContext, job: &JobRow) -> Result<OutgoingEmail, JobError> {
    let sealed = job
        .payload
        .get("sealed")
        .and_then(|v| v.as_str())
        .ok_or_else(|| JobError::Permanent("email job without a sealed body".into()))?;
    let plain = ctx
        .crypto
        .open_base64(email::SEAL_PURPOSE, sealed)
        .map_err(|e| JobError::Permanent(format!("email body: {e}")))?;
    serde_json::from_slice(&plain).map_err(|e| JobError::Permanent(format!("email body: {e}")))
}

async fn purge_finished_jobs(ctx: &JobContext) -> Result<(), JobError> {
    let removed = ctx
        .db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    jobs::purge_finished(c, Duration::days(7), Duration::days(30)).await?,
                )
            })
        })
        .await?;
    tracing::info!(removed, "purged finished jobs");
    Ok(())
}

async fn purge_expired_auth(ctx: &JobContext) -> Result<(), JobError> {
    let sessions = session_store::purge_expired(&ctx.db).await?;
    let now = ctx.clock.now();
    let tokens = {
        let mut conn = ctx.db.conn().await?;
        diesel::delete(
            login_tokens::table.filter(
                login_tokens::expires_at
                    .lt(now)
                    .or(login_tokens::used_at.is_not_null()),
            ),
        )
        .execute(&mut conn)
        .await?
    };
    let counters = ratelimit::purge_old(&ctx.db, now).await?;
    tracing::info!(sessions, tokens, counters, "purged expired sign-in data");
    Ok(())
}

/// Applies every clinic's retention rules and drops expired exports.
async fn nightly_retention(ctx: &JobContext) -> Result<(), JobError> {
    let app = ctx.app();
    let summary = retention::run_all(
        &app,
        &AuditContext::system(),
        None,
        false,
        retention::Trigger::Schedule,
    )
    .await?;
    let exports = exports::purge_expired(&ctx.db, ctx.clock.now()).await?;
    tracing::info!(
        clinics = summary.reports.len(),
        failed = summary.failures.len(),
        exports,
        "retention run finished"
    );
    match <[_]>::first(&summary.failures) {
        None => Ok(()),
        Some((slug, e)) => Err(JobError::Retry(format!("clinic {slug}: {e}"))),
    }
}

/// The periodic jobs: kind, and whether it runs hourly (else daily).
pub const PERIODIC: [(&str, bool); 8] = [
    (PURGE_FINISHED_JOBS, false),
    (PURGE_EXPIRED_AUTH, true),
    (PURGE_UNVERIFIED_REQUESTS, true),
    (requests::staff::REMINDERS_JOB, false),
    (notices::APPLY_DUE_JOB, true),
    (subprocessors::APPLY_DUE_JOB, true),
    (retention::NIGHTLY_JOB, false),
    (offboarding::DELETE_DUE_JOB, false),
];

/// Enqueues the periodic jobs due in the current period. Every worker calls
/// this; the idempotency key (kind and period) makes only the first one count.
pub async fn schedule_periodic(db: &Db) -> Result<usize, DbError> {
    let now = Utc::now();
    let (day, hour) = (
        now.format("%Y-%m-%d").to_string(),
        now.format("%Y-%m-%dT%H").to_string(),
    );
    let periodic: Vec<(&str, String)> = PERIODIC
        .iter()
        .map(|&(kind, hourly)| {
            (
                kind,
                format!("{kind}:{}", if hourly { &hour } else { &day }),
            )
        })
        .collect();
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            let mut added = 0;
            for (kind, key) in periodic {
                let mut job = NewJob::now(kind, json!({}));
                job.idempotency_key = Some(key);
                job.max_attempts = 3;
                if jobs::enqueue(c, job).await?.is_some() {
                    added += 1;
                }
            }
            Ok::<_, DbError>(added)
        })
    })
    .await
}
