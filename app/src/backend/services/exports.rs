//! Clinic export: a ZIP of JSON and CSV with everything the portal holds for
//! one clinic, built by a job that reports its progress. The finished file is
//! kept encrypted in chunks in Postgres (any app node can serve it) until it
//! expires.

use std::io::{Seek, Write};

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::backend::audit::{self, AuditContext, AuditEntry};
use crate::backend::db::schema::{
    audit_events, clinic_export_chunks, clinic_exports, request_files,
};
use crate::backend::db::{Conn, Db, DbError};
use crate::backend::jobs::handlers::{JobContext, JobError};
use crate::backend::jobs::{self, NewJob};
use crate::backend::models::audit::AuditEventRow;
use crate::backend::services::requests::FILE_PURPOSE;
use crate::backend::tenancy::Scope;
use crate::domain::audit::StoredLink;
use crate::domain::clinic::ClinicId;
use crate::domain::retention::EXPORT_LIFETIME_DAYS;

/// Kind of the job that builds an export.
pub const BUILD_JOB: &str = "clinic.export";
/// Purpose the chunks are sealed for.
const CHUNK_PURPOSE: &str = "clinic.export";
/// Bytes per stored chunk.
pub const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Rows read per query for the long lists.
const PAGE: i64 = 2000;

/// Why an export was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Requested,
    Offboarding,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Offboarding => "offboarding",
        }
    }
}

/// An export as its page shows it.
#[derive(Clone, Debug, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = clinic_exports, check_for_backend(diesel::pg::Pg))]
pub struct ExportRow {
    pub id: Uuid,
    pub reason: String,
    pub status: String,
    pub progress: i32,
    pub stage: String,
    pub size_bytes: Option<i64>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// Queues an export in the caller's transaction, unless one is already being
/// built; returns the export's id.
pub async fn queue(
    conn: &mut Conn,
    ctx: &AuditContext,
    clinic: ClinicId,
    user: Option<Uuid>,
    reason: Reason,
    expires_at: DateTime<Utc>,
) -> QueryResult<Uuid> {
    let pending: Option<(Uuid, DateTime<Utc>)> = clinic_exports::table
        .filter(clinic_exports::clinic_id.eq(clinic.0))
        .filter(clinic_exports::status.eq_any(["queued", "running"]))
        .select((clinic_exports::id, clinic_exports::expires_at))
        .first(conn)
        .await
        .optional()?;
    if let Some((id, expires)) = pending {
        if expires_at > expires {
            diesel::update(clinic_exports::table.find(id))
                .set(clinic_exports::expires_at.eq(expires_at))
                .execute(conn)
                .await?;
        }
        return Ok(id);
    }
    let id = Uuid::new_v4();
    diesel::insert_into(clinic_exports::table)
        .values((
            clinic_exports::id.eq(id),
            clinic_exports::clinic_id.eq(clinic.0),
            clinic_exports::requested_by.eq(user),
            clinic_exports::reason.eq(reason.as_str()),
            clinic_exports::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    let mut job = NewJob::now(BUILD_JOB, json!({ "export_id": id, "clinic_id": clinic.0 }));
    job.clinic_id = Some(clinic);
    job.max_attempts = 3;
    jobs::enqueue(conn, job).await?;
    audit::record(
        conn,
        ctx,
        AuditEntry {
            clinic_id: Some(clinic),
            action: "export.requested",
            subject_kind: "clinic_export",
            subject_id: id.to_string(),
            details: json!({ "reason": reason.as_str(), "expires_at": expires_at }),
        },
    )
    .await?;
    Ok(id)
}

/// Queues an export asked for from the export page; it stays downloadable
/// for seven days after it is asked for.
pub async fn request(
    db: &Db,
    ctx: &AuditContext,
    clinic: ClinicId,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<Uuid, DbError> {
    let ctx = ctx.clone();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                queue(
                    c,
                    &ctx,
                    clinic,
                    Some(user),
                    Reason::Requested,
                    now + Duration::days(EXPORT_LIFETIME_DAYS),
                )
                .await?,
            )
        })
    })
    .await
}

/// The clinic's exports, newest first (expired ones are deleted nightly).
pub async fn list(db: &Db, clinic: ClinicId) -> Result<Vec<ExportRow>, DbError> {
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                clinic_exports::table
                    .filter(clinic_exports::clinic_id.eq(clinic.0))
                    .order(clinic_exports::created_at.desc())
                    .limit(20)
                    .select(ExportRow::as_select())
                    .load(c)
                    .await?,
            )
        })
    })
    .await
}

/// One export of the clinic.
pub async fn find(db: &Db, clinic: ClinicId, id: Uuid) -> Result<Option<ExportRow>, DbError> {
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                clinic_exports::table
                    .filter(clinic_exports::clinic_id.eq(clinic.0))
                    .filter(clinic_exports::id.eq(id))
                    .select(ExportRow::as_select())
                    .first(c)
                    .await
                    .optional()?,
            )
        })
    })
    .await
}

/// Number of stored chunks of a ready export.
pub async fn chunk_count(db: &Db, clinic: ClinicId, id: Uuid) -> Result<i64, DbError> {
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                clinic_export_chunks::table
                    .filter(clinic_export_chunks::export_id.eq(id))
                    .count()
                    .get_result(c)
                    .await?,
            )
        })
    })
    .await
}

/// Chunk `n` of an export, decrypted.
pub async fn chunk(
    db: &Db,
    crypto: &crate::backend::crypto::Crypto,
    clinic: ClinicId,
    id: Uuid,
    n: i32,
) -> Result<Vec<u8>, DbError> {
    let sealed: Vec<u8> = db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    clinic_export_chunks::table
                        .find((id, n))
                        .select(clinic_export_chunks::sealed)
                        .first(c)
                        .await?,
                )
            })
        })
        .await?;
    crypto
        .open(CHUNK_PURPOSE, &sealed)
        .map_err(|e| DbError::Unavailable(format!("export chunk {n}: {e}")))
}

/// Records a download in the clinic's audit log.
pub async fn record_download(
    db: &Db,
    ctx: &AuditContext,
    clinic: ClinicId,
    id: Uuid,
) -> Result<(), DbError> {
    let ctx = ctx.clone();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            audit::record(
                c,
                &ctx,
                AuditEntry {
                    clinic_id: Some(clinic),
                    action: "export.downloaded",
                    subject_kind: "clinic_export",
                    subject_id: id.to_string(),
                    details: json!({}),
                },
            )
            .await?;
            Ok::<_, DbError>(())
        })
    })
    .await
}

/// Deletes exports past their expiry; returns how many.
pub async fn purge_expired(db: &Db, now: DateTime<Utc>) -> Result<usize, DbError> {
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                diesel::delete(clinic_exports::table.filter(clinic_exports::expires_at.lt(now)))
                    .execute(c)
                    .await?,
            )
        })
    })
    .await
}

#[derive(QueryableByName)]
struct Doc {
    #[diesel(sql_type = Text)]
    doc: String,
}

/// The JSON documents of the export: file name and a query returning one
/// `doc` text column, `$1` being the clinic.
const DOCUMENTS: [(&str, &str); 8] = [
    (
        "clinic.json",
        "SELECT row_to_json(t)::text AS doc FROM (SELECT id, slug, name, legal_name, country, \
         jurisdiction, default_locale, deadline_rule, deadline_days, notice_period_days, contact_email, \
         dpo_name, dpo_email, dpo_phone, authority_name, authority_url, authority_email, allowed_origins, \
         status, created_at, delete_after, \
         (SELECT coalesce(json_agg(r ORDER BY r.category), '[]') FROM (SELECT category, period_days, action, \
            updated_at FROM retention_rules WHERE clinic_id = $1) r) AS retention_rules \
         FROM clinics WHERE id = $1) t",
    ),
    (
        "team.json",
        "SELECT coalesce(json_agg(t ORDER BY t.email), '[]')::text AS doc FROM (SELECT u.email, \
         u.display_name, m.role, m.created_at AS member_since FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.clinic_id = $1) t",
    ),
    (
        "requests.json",
        "SELECT coalesce(json_agg(r ORDER BY r.created_at), '[]')::text AS doc FROM (SELECT p.id, p.reference, \
         p.kind, p.status, p.outcome, p.outcome_reason, p.source, p.locale, p.requester_name, p.requester_email, \
         p.requester_phone, p.acting_as, p.subject_name, p.date_of_birth, p.patient_number, p.details, \
         p.verified_at, p.base_due_on, p.due_on, p.paused_days, p.extension_months, p.extension_reason, \
         p.completed_at, p.created_at, \
         (SELECT coalesce(json_agg(e ORDER BY e.id), '[]') FROM (SELECT id, kind, author_kind, body, \
            visible_to_requester, created_at FROM request_events WHERE request_id = p.id) e) AS timeline, \
         (SELECT coalesce(json_agg(f ORDER BY f.created_at), '[]') FROM (SELECT id, filename, content_type, \
            size_bytes, encode(sha256, 'hex') AS sha256, created_at FROM request_files WHERE request_id = p.id) f) \
            AS files \
         FROM privacy_requests p WHERE p.clinic_id = $1) r",
    ),
    (
        "policies.json",
        "SELECT coalesce(json_agg(v ORDER BY v.kind, v.number NULLS LAST, v.created_at), '[]')::text AS doc FROM \
         (SELECT d.kind, dv.id, dv.number, dv.state, dv.title, dv.body_md, dv.summary, dv.material, \
         dv.effective_at, dv.published_at, dv.ended_at, dv.created_at FROM document_versions dv \
         JOIN documents d ON d.id = dv.document_id WHERE dv.clinic_id = $1) v",
    ),
    (
        "consent_configuration.json",
        "SELECT json_build_object( \
           'purposes', (SELECT coalesce(json_agg(p ORDER BY p.position), '[]') FROM (SELECT id, key, channel, \
              name_en, name_uk, description_en, description_uk, legal_basis, strictly_necessary, position, \
              archived_at FROM consent_purposes WHERE clinic_id = $1) p), \
           'cookies', (SELECT coalesce(json_agg(k ORDER BY k.name), '[]') FROM (SELECT id, purpose_id, name, \
              domain, provider, duration, party FROM consent_cookies WHERE clinic_id = $1) k), \
           'versions', (SELECT coalesce(json_agg(v ORDER BY v.version), '[]') FROM (SELECT id, version, \
              content_hash, purposes, created_at FROM consent_configs WHERE clinic_id = $1) v), \
           'receipt_key', (SELECT json_build_object('key_id', key_id, 'public_key_hex', \
              encode(public_key, 'hex')) FROM consent_keys WHERE clinic_id = $1) \
         )::text AS doc",
    ),
    (
        "subprocessor_objections.json",
        "SELECT coalesce(json_agg(o ORDER BY o.raised_at), '[]')::text AS doc FROM (SELECT o.id, c.summary AS change, \
         o.reason, o.status, o.raised_at, o.resolution, o.resolved_at, o.withdrawn_at \
         FROM subprocessor_objections o JOIN subprocessor_changes c ON c.id = o.change_id \
         WHERE o.clinic_id = $1) o",
    ),
    (
        "subscribers.json",
        "SELECT coalesce(json_agg(s ORDER BY s.created_at), '[]')::text AS doc FROM (SELECT email, locale, status, \
         topics, confirmed_at, unsubscribed_at, created_at FROM subscribers WHERE clinic_id = $1) s",
    ),
    (
        "email_log.json",
        "SELECT coalesce(json_agg(e ORDER BY e.id), '[]')::text AS doc FROM (SELECT id, template, recipient, \
         status, error, created_at FROM email_deliveries WHERE clinic_id = $1) e",
    ),
];

/// Weight of each stage in the progress bar: the documents, files, consent
/// records, audit log, then storing.
const STAGES: [(&str, i32); 5] = [
    ("Collecting records", 30),
    ("Adding request files", 45),
    ("Adding consent records", 70),
    ("Adding the audit log", 85),
    ("Encrypting and storing", 100),
];

async fn set_progress(db: &Db, clinic: ClinicId, id: Uuid, stage: usize) -> Result<(), DbError> {
    let (name, _) = STAGES[stage];
    let before = if stage == 0 { 1 } else { STAGES[stage - 1].1 };
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            diesel::update(clinic_exports::table.find(id))
                .set((
                    clinic_exports::status.eq("running"),
                    clinic_exports::stage.eq(name),
                    clinic_exports::progress.eq(before),
                ))
                .execute(c)
                .await?;
            Ok::<_, DbError>(())
        })
    })
    .await
}

fn io_error(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(format!("writing the export: {e}"))
}

/// Builds the export named in the job's payload.
pub async fn build(ctx: &JobContext, payload: &serde_json::Value) -> Result<(), JobError> {
    let parse = |key: &str| {
        payload
            .get(key)
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse::<Uuid>().ok())
            .ok_or_else(|| JobError::Permanent(format!("export job without {key}")))
    };
    let id = parse("export_id")?;
    let clinic = ClinicId(parse("clinic_id")?);
    let db = &ctx.db;
    let exists = find(db, clinic, id).await?;
    match exists {
        None => return Ok(()),
        Some(row) if row.status == "ready" => return Ok(()),
        Some(_) => {}
    }
    // A failed export is shown as such; the owner can ask for a new one.
    match write_zip(ctx, clinic, id).await {
        Ok(()) => Ok(()),
        Err(JobError::Permanent(message) | JobError::Retry(message)) => {
            let failed = message.clone();
            db.scoped(Scope::Clinic(clinic), move |c| {
                Box::pin(async move {
                    diesel::update(clinic_exports::table.find(id))
                        .set((
                            clinic_exports::status.eq("failed"),
                            clinic_exports::error.eq(failed),
                        ))
                        .execute(c)
                        .await?;
                    Ok::<_, DbError>(())
                })
            })
            .await?;
            Err(JobError::Permanent(message))
        }
    }
}

async fn write_zip(ctx: &JobContext, clinic: ClinicId, id: Uuid) -> Result<(), JobError> {
    let db = &ctx.db;
    let file = tempfile::tempfile().map_err(io_error)?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let mut manifest = serde_json::Map::new();

    set_progress(db, clinic, id, 0).await?;
    for (name, sql) in DOCUMENTS {
        let doc: Vec<Doc> = db
            .scoped(Scope::Clinic(clinic), move |c| {
                Box::pin(async move {
                    Ok::<_, DbError>(
                        diesel::sql_query(sql)
                            .bind::<SqlUuid, _>(clinic.0)
                            .load(c)
                            .await?,
                    )
                })
            })
            .await?;
        let text = doc
            .into_iter()
            .next()
            .map_or_else(|| "null".to_owned(), |d| d.doc);
        zip.start_file(name, options).map_err(io_error)?;
        zip.write_all(text.as_bytes()).map_err(io_error)?;
    }

    set_progress(db, clinic, id, 1).await?;
    let files = add_request_files(ctx, clinic, &mut zip, options).await?;
    manifest.insert("request_files".into(), json!(files));

    set_progress(db, clinic, id, 2).await?;
    let records = add_consent_records(db, clinic, &mut zip, options).await?;
    manifest.insert("consent_records".into(), json!(records));

    set_progress(db, clinic, id, 3).await?;
    let (events, anchor) = add_audit_log(db, clinic, &mut zip, options).await?;
    manifest.insert("audit_events".into(), json!(events));
    manifest.insert(
        "audit_anchor".into(),
        anchor.map_or(
            serde_json::Value::Null,
            |(seq, hash)| json!({ "seq": seq, "hash": hex::encode(hash) }),
        ),
    );
    manifest.insert("clinic_id".into(), json!(clinic.0));
    manifest.insert("export_id".into(), json!(id));
    manifest.insert("generated_at".into(), json!(ctx.clock.now()));
    manifest.insert(
        "contents".into(),
        json!({
            "clinic.json": "profile and retention rules",
            "team.json": "members and roles",
            "requests.json": "privacy requests with their timelines and file list",
            "files/": "files sent in reply to requests, by request",
            "policies.json": "every version of the clinic's notices",
            "consent_configuration.json": "purposes, cookies, configuration versions, receipt key",
            "consent_records.csv": "every consent record with its signed receipt",
            "subprocessor_objections.json": "objections to the platform's sub-processor changes",
            "subscribers.json": "change-notice subscribers",
            "email_log.json": "emails sent for the clinic",
            "audit_log.jsonl": "the hash-chained audit log, one event per line, oldest first",
        }),
    );
    zip.start_file("manifest.json", options).map_err(io_error)?;
    zip.write_all(
        serde_json::to_string_pretty(&manifest)
            .unwrap_or_default()
            .as_bytes(),
    )
    .map_err(io_error)?;
    let mut file = zip.finish().map_err(io_error)?;

    set_progress(db, clinic, id, 4).await?;
    store(ctx, clinic, id, &mut file).await
}

async fn add_request_files<W: Write + Seek>(
    ctx: &JobContext,
    clinic: ClinicId,
    zip: &mut zip::ZipWriter<W>,
    options: zip::write::SimpleFileOptions,
) -> Result<usize, JobError> {
    let listed: Vec<(Uuid, Uuid, String)> = ctx
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    request_files::table
                        .filter(request_files::clinic_id.eq(clinic.0))
                        .order(request_files::created_at.asc())
                        .select((
                            request_files::id,
                            request_files::request_id,
                            request_files::filename,
                        ))
                        .load(c)
                        .await?,
                )
            })
        })
        .await?;
    for (file, request, filename) in &listed {
        let file = *file;
        let sealed: Vec<u8> = ctx
            .db
            .scoped(Scope::Clinic(clinic), move |c| {
                Box::pin(async move {
                    Ok::<_, DbError>(
                        request_files::table
                            .find(file)
                            .select(request_files::sealed)
                            .first(c)
                            .await?,
                    )
                })
            })
            .await?;
        let bytes = ctx
            .crypto
            .open(FILE_PURPOSE, &sealed)
            .map_err(|e| JobError::Permanent(format!("request file {file}: {e}")))?;
        let safe: String = filename
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        zip.start_file(format!("files/{request}/{file}-{safe}"), options)
            .map_err(io_error)?;
        zip.write_all(&bytes).map_err(io_error)?;
    }
    Ok(listed.len())
}

#[derive(QueryableByName)]
struct RecordLine {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    subject_id: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    config_version: i32,
    #[diesel(sql_type = Text)]
    choices: String,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    gpc: bool,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    recorded_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    receipt: String,
}

async fn add_consent_records<W: Write + Seek>(
    db: &Db,
    clinic: ClinicId,
    zip: &mut zip::ZipWriter<W>,
    options: zip::write::SimpleFileOptions,
) -> Result<u64, JobError> {
    zip.start_file("consent_records.csv", options)
        .map_err(io_error)?;
    zip.write_all(b"id,subject_id,config_version,choices,source,gpc,recorded_at,receipt\n")
        .map_err(io_error)?;
    let mut after: (DateTime<Utc>, Uuid) = (DateTime::<Utc>::UNIX_EPOCH, Uuid::nil());
    let mut total = 0_u64;
    loop {
        let rows: Vec<RecordLine> = db
            .scoped(Scope::Clinic(clinic), move |c| {
                Box::pin(async move {
                    Ok::<_, DbError>(
                        diesel::sql_query(
                            "SELECT r.id, r.subject_id, k.version AS config_version, r.choices::text AS choices, \
                             r.source, r.gpc, r.recorded_at, r.receipt FROM consent_records r \
                             JOIN consent_configs k ON k.id = r.config_id \
                             WHERE r.clinic_id = $1 AND (r.recorded_at, r.id) > ($2, $3) \
                             ORDER BY r.recorded_at, r.id LIMIT $4",
                        )
                        .bind::<SqlUuid, _>(clinic.0)
                        .bind::<diesel::sql_types::Timestamptz, _>(after.0)
                        .bind::<SqlUuid, _>(after.1)
                        .bind::<diesel::sql_types::BigInt, _>(PAGE)
                        .load(c)
                        .await?,
                    )
                })
            })
            .await?;
        let done = (rows.len() as i64) < PAGE;
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        for row in &rows {
            csv.write_record([
                row.id.to_string(),
                row.subject_id.clone(),
                row.config_version.to_string(),
                row.choices.clone(),
                row.source.clone(),
                row.gpc.to_string(),
                row.recorded_at.to_rfc3339(),
                row.receipt.clone(),
            ])
            .map_err(io_error)?;
            total += 1;
        }
        if let Some(last) = rows.last() {
            after = (last.recorded_at, last.id);
        }
        let buffered = csv.into_inner().map_err(io_error)?;
        zip.write_all(&buffered).map_err(io_error)?;
        if done {
            break;
        }
    }
    Ok(total)
}

/// One line of `audit_log.jsonl`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ExportedEvent {
    pub id: i64,
    pub event: crate::domain::audit::ChainedEvent,
    pub prev_hash: String,
    pub hash: String,
}

type Anchor = Option<(i64, Vec<u8>)>;

async fn add_audit_log<W: Write + Seek>(
    db: &Db,
    clinic: ClinicId,
    zip: &mut zip::ZipWriter<W>,
    options: zip::write::SimpleFileOptions,
) -> Result<(u64, Anchor), JobError> {
    zip.start_file("audit_log.jsonl", options)
        .map_err(io_error)?;
    let mut after = 0_i64;
    let mut total = 0_u64;
    let anchor = db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move { Ok::<_, DbError>(audit::anchor(c, Some(clinic.0)).await?) })
        })
        .await?;
    loop {
        let rows: Vec<AuditEventRow> = db
            .scoped(Scope::Clinic(clinic), move |c| {
                Box::pin(async move {
                    Ok::<_, DbError>(
                        audit_events::table
                            .filter(audit_events::clinic_id.eq(clinic.0))
                            .filter(audit_events::seq.gt(after))
                            .order(audit_events::seq.asc())
                            .limit(PAGE)
                            .select(AuditEventRow::as_select())
                            .load(c)
                            .await?,
                    )
                })
            })
            .await?;
        let done = (rows.len() as i64) < PAGE;
        for row in rows {
            after = row.seq;
            let link = StoredLink::from(row);
            let line = ExportedEvent {
                id: link.id,
                event: link.event,
                prev_hash: hex::encode(&link.prev_hash),
                hash: hex::encode(&link.hash),
            };
            let mut text = serde_json::to_string(&line).map_err(io_error)?;
            text.push('\n');
            zip.write_all(text.as_bytes()).map_err(io_error)?;
            total += 1;
        }
        if done {
            break;
        }
    }
    Ok((total, anchor))
}

/// Encrypts the finished file in chunks, then marks the export ready.
async fn store(
    ctx: &JobContext,
    clinic: ClinicId,
    id: Uuid,
    file: &mut std::fs::File,
) -> Result<(), JobError> {
    use std::io::Read;
    let db = &ctx.db;
    file.seek(std::io::SeekFrom::Start(0)).map_err(io_error)?;
    // A retried job starts its chunks over.
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            diesel::delete(
                clinic_export_chunks::table.filter(clinic_export_chunks::export_id.eq(id)),
            )
            .execute(c)
            .await?;
            Ok::<_, DbError>(())
        })
    })
    .await?;
    let mut digest = Sha256::new();
    let mut size = 0_i64;
    let mut n = 0_i32;
    loop {
        let mut buffer = vec![0u8; CHUNK_BYTES];
        let mut filled = 0;
        while filled < CHUNK_BYTES {
            let read = file.read(&mut buffer[filled..]).map_err(io_error)?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        if filled == 0 {
            break;
        }
        buffer.truncate(filled);
        digest.update(&buffer);
        size += filled as i64;
        let sealed = ctx.crypto.seal(CHUNK_PURPOSE, &buffer);
        let index = n;
        db.scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                diesel::insert_into(clinic_export_chunks::table)
                    .values((
                        clinic_export_chunks::export_id.eq(id),
                        clinic_export_chunks::clinic_id.eq(clinic.0),
                        clinic_export_chunks::n.eq(index),
                        clinic_export_chunks::sealed.eq(sealed),
                    ))
                    .execute(c)
                    .await?;
                Ok::<_, DbError>(())
            })
        })
        .await?;
        n += 1;
        if filled < CHUNK_BYTES {
            break;
        }
    }
    let sha256 = digest.finalize().to_vec();
    let finished = ctx.clock.now();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            diesel::update(clinic_exports::table.find(id))
                .set((
                    clinic_exports::status.eq("ready"),
                    clinic_exports::progress.eq(100),
                    clinic_exports::stage.eq("Ready"),
                    clinic_exports::size_bytes.eq(size),
                    clinic_exports::sha256.eq(sha256),
                    clinic_exports::finished_at.eq(finished),
                ))
                .execute(c)
                .await?;
            audit::record(
                c,
                &AuditContext::system(),
                AuditEntry {
                    clinic_id: Some(clinic),
                    action: "export.ready",
                    subject_kind: "clinic_export",
                    subject_id: id.to_string(),
                    details: json!({ "size_bytes": size, "chunks": n }),
                },
            )
            .await?;
            Ok::<_, DbError>(())
        })
    })
    .await?;
    Ok(())
}
