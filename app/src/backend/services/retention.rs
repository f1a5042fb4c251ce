//! Retention: each clinic's rules, and the purge that applies them in small
//! batches (one short transaction each, so no table is locked for long),
//! recording every run with its counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::backend::audit::{self, AuditContext, AuditEntry};
use crate::backend::db::schema::{audit_anchors, clinics, retention_rules, retention_runs};
use crate::backend::db::{Conn, Db, DbError};
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::retention::{Action, Category, Counts, Rule, effective_rules};

/// Kind of the nightly job that purges every clinic.
pub const NIGHTLY_JOB: &str = "retention.run";
/// Rows removed or anonymized per transaction.
pub const BATCH: i64 = 500;

/// The clinic's rules: its own where set, defaults elsewhere.
pub async fn rules(db: &Db, clinic: ClinicId) -> Result<BTreeMap<Category, Rule>, DbError> {
    let saved: Vec<(String, i32, String)> = db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    retention_rules::table
                        .filter(retention_rules::clinic_id.eq(clinic.0))
                        .select((
                            retention_rules::category,
                            retention_rules::period_days,
                            retention_rules::action,
                        ))
                        .load(c)
                        .await?,
                )
            })
        })
        .await?;
    let saved = saved
        .into_iter()
        .filter_map(|(category, period_days, action)| {
            Some((
                category.parse().ok()?,
                Rule {
                    period_days,
                    action: action.parse().ok()?,
                },
            ))
        })
        .collect();
    Ok(effective_rules(&saved))
}

/// Saves the rules that differ from what the clinic had, auditing each change.
/// Returns how many changed.
pub async fn save_rules(
    db: &Db,
    ctx: &AuditContext,
    clinic: ClinicId,
    user: Option<Uuid>,
    wanted: BTreeMap<Category, Rule>,
) -> Result<usize, DbError> {
    let before = rules(db, clinic).await?;
    let ctx = ctx.clone();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            let mut changed = 0;
            for (category, rule) in wanted {
                let old = before.get(&category).copied().unwrap_or(category.default_rule());
                if old == rule {
                    continue;
                }
                diesel::insert_into(retention_rules::table)
                    .values((
                        retention_rules::clinic_id.eq(clinic.0),
                        retention_rules::category.eq(category.as_str()),
                        retention_rules::period_days.eq(rule.period_days),
                        retention_rules::action.eq(rule.action.as_str()),
                        retention_rules::updated_by.eq(user),
                    ))
                    .on_conflict((retention_rules::clinic_id, retention_rules::category))
                    .do_update()
                    .set((
                        retention_rules::period_days.eq(rule.period_days),
                        retention_rules::action.eq(rule.action.as_str()),
                        retention_rules::updated_by.eq(user),
                    ))
                    .execute(c)
                    .await?;
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "retention.rule_changed",
                        subject_kind: "retention_rule",
                        subject_id: category.as_str().to_owned(),
                        details: json!({
                            "from": { "period_days": old.period_days, "action": old.action.as_str() },
                            "to": { "period_days": rule.period_days, "action": rule.action.as_str() },
                        }),
                    },
                )
                .await?;
                changed += 1;
            }
            Ok::<_, DbError>(changed)
        })
    })
    .await
}

/// Who started a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Cli,
    Admin,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Cli => "cli",
            Self::Admin => "admin",
        }
    }
}

/// The outcome of one clinic's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    pub run_id: Uuid,
    pub clinic_id: ClinicId,
    pub slug: String,
    pub dry_run: bool,
    pub counts: Counts,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The rows a category's rule reaches, as SQL: `$1` the clinic, `$2` the
/// cutoff. Anonymized rows are excluded so a run never counts them twice.
fn candidates(category: Category, action: Action) -> &'static str {
    match (category, action) {
        (Category::ClosedRequests, Action::Delete) => {
            "SELECT id FROM privacy_requests WHERE clinic_id = $1 \
             AND status IN ('completed', 'withdrawn') AND coalesce(completed_at, updated_at) < $2"
        }
        (Category::ClosedRequests, Action::Anonymize) => {
            "SELECT id FROM privacy_requests WHERE clinic_id = $1 \
             AND status IN ('completed', 'withdrawn') AND coalesce(completed_at, updated_at) < $2 \
             AND requester_name <> 'Anonymized'"
        }
        (Category::UnverifiedRequests, _) => {
            "SELECT id FROM privacy_requests WHERE clinic_id = $1 \
             AND status = 'unverified' AND created_at < $2"
        }
        (Category::ConsentRecords, _) => {
            "SELECT id FROM consent_records WHERE clinic_id = $1 AND recorded_at < $2"
        }
        (Category::EmailLog, Action::Delete) => {
            "SELECT id FROM email_deliveries WHERE clinic_id = $1 AND created_at < $2"
        }
        (Category::EmailLog, Action::Anonymize) => {
            "SELECT id FROM email_deliveries WHERE clinic_id = $1 AND created_at < $2 \
             AND recipient <> 'anonymized'"
        }
        (Category::Sessions, _) => {
            "SELECT id FROM sessions WHERE updated_at < $2 AND user_id IN \
             (SELECT user_id FROM memberships WHERE clinic_id = $1)"
        }
        (Category::UnsubscribedSubscribers, Action::Delete) => {
            "SELECT id FROM subscribers WHERE clinic_id = $1 AND status = 'unsubscribed' \
             AND unsubscribed_at < $2"
        }
        (Category::UnsubscribedSubscribers, Action::Anonymize) => {
            "SELECT id FROM subscribers WHERE clinic_id = $1 AND status = 'unsubscribed' \
             AND unsubscribed_at < $2 AND email NOT LIKE 'anonymized-%@example.invalid'"
        }
        (Category::AuditLog, _) => {
            "SELECT id FROM audit_events WHERE clinic_id = $1 AND seq <= \
             (SELECT max(seq) FROM audit_events WHERE clinic_id = $1 AND occurred_at < $2)"
        }
    }
}

/// One batch of the rule's work on the rows `picked` (a `LIMIT`ed subquery).
fn batch_statement(category: Category, action: Action, picked: &str) -> String {
    let with = format!("WITH picked AS ({picked} LIMIT {BATCH})");
    match (category, action) {
        (Category::ClosedRequests, Action::Anonymize) => format!(
            "{with}, files AS (DELETE FROM request_files WHERE request_id IN (SELECT id FROM picked)), \
             grants AS (DELETE FROM download_grants WHERE request_id IN (SELECT id FROM picked)), \
             events AS (UPDATE request_events SET body = '' WHERE request_id IN (SELECT id FROM picked)), \
             done AS (UPDATE privacy_requests SET requester_name = 'Anonymized', \
                 requester_email = CASE WHEN requester_email IS NULL THEN NULL ELSE 'anonymized@example.invalid' END, \
                 requester_phone = NULL, \
                 subject_name = CASE WHEN acting_as = 'self' THEN NULL ELSE 'Anonymized' END, \
                 date_of_birth = NULL, patient_number = NULL, details = '', \
                 outcome_reason = CASE WHEN outcome_reason IS NULL THEN NULL ELSE 'Anonymized' END, \
                 extension_reason = CASE WHEN extension_reason IS NULL THEN NULL ELSE 'Anonymized' END, \
                 verification_token_hash = NULL, access_token_sealed = NULL \
                 WHERE id IN (SELECT id FROM picked) RETURNING 1) \
             SELECT count(*) AS n FROM done"
        ),
        (Category::EmailLog, Action::Anonymize) => format!(
            "{with}, done AS (UPDATE email_deliveries SET recipient = 'anonymized', error = NULL \
             WHERE id IN (SELECT id FROM picked) RETURNING 1) SELECT count(*) AS n FROM done"
        ),
        (Category::UnsubscribedSubscribers, Action::Anonymize) => format!(
            "{with}, done AS (UPDATE subscribers SET email = 'anonymized-' || id || '@example.invalid', \
             confirm_token_hash = NULL WHERE id IN (SELECT id FROM picked) RETURNING 1) \
             SELECT count(*) AS n FROM done"
        ),
        (category, _) => {
            let table = match category {
                Category::ClosedRequests | Category::UnverifiedRequests => "privacy_requests",
                Category::ConsentRecords => "consent_records",
                Category::EmailLog => "email_deliveries",
                Category::Sessions => "sessions",
                Category::UnsubscribedSubscribers => "subscribers",
                Category::AuditLog => "audit_events",
            };
            format!(
                "{with}, done AS (DELETE FROM {table} WHERE id IN (SELECT id FROM picked) RETURNING 1) \
                 SELECT count(*) AS n FROM done"
            )
        }
    }
}

/// How many rows the rule reaches now.
async fn count_candidates(
    conn: &mut Conn,
    clinic: ClinicId,
    cutoff: DateTime<Utc>,
    category: Category,
    action: Action,
) -> QueryResult<i64> {
    let sql = format!(
        "SELECT count(*) AS n FROM ({}) AS c",
        candidates(category, action)
    );
    Ok(diesel::sql_query(sql)
        .bind::<SqlUuid, _>(clinic.0)
        .bind::<Timestamptz, _>(cutoff)
        .get_result::<Count>(conn)
        .await?
        .n)
}

/// Purges the audit log's oldest events in one batch, moving the chain's
/// anchor to the last one removed so the rest still verifies.
async fn purge_audit_batch(
    conn: &mut Conn,
    clinic: ClinicId,
    cutoff: DateTime<Utc>,
) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Removed {
        #[diesel(sql_type = BigInt)]
        seq: i64,
        #[diesel(sql_type = Bytea)]
        hash: Vec<u8>,
    }
    let picked =
        candidates(Category::AuditLog, Action::Delete).replace("SELECT id", "SELECT id, seq");
    let removed: Vec<Removed> = diesel::sql_query(format!(
        "WITH picked AS ({picked} ORDER BY seq LIMIT {BATCH}) \
         DELETE FROM audit_events WHERE id IN (SELECT id FROM picked) RETURNING seq, hash"
    ))
    .bind::<SqlUuid, _>(clinic.0)
    .bind::<Timestamptz, _>(cutoff)
    .load(conn)
    .await?;
    if let Some(last) = removed.iter().max_by_key(|r| r.seq) {
        diesel::insert_into(audit_anchors::table)
            .values((
                audit_anchors::clinic_id.eq(clinic.0),
                audit_anchors::seq.eq(last.seq),
                audit_anchors::hash.eq(&last.hash),
            ))
            .on_conflict(audit_anchors::clinic_id)
            .do_update()
            .set((
                audit_anchors::seq.eq(last.seq),
                audit_anchors::hash.eq(&last.hash),
                audit_anchors::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
    }
    Ok(removed.len() as i64)
}

/// Runs one batch of `category` in its own transaction.
async fn purge_batch(
    db: &Db,
    clinic: ClinicId,
    cutoff: DateTime<Utc>,
    category: Category,
    action: Action,
) -> Result<i64, DbError> {
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            // Consent records, published versions and the audit log refuse
            // deletion unless the purge announces itself.
            diesel::sql_query(
                "SELECT set_config('portal.purge', 'on', true), \
                 set_config('portal.audit_purge', 'on', true)",
            )
            .execute(c)
            .await?;
            let n = if category == Category::AuditLog {
                purge_audit_batch(c, clinic, cutoff).await?
            } else {
                diesel::sql_query(batch_statement(
                    category,
                    action,
                    candidates(category, action),
                ))
                .bind::<SqlUuid, _>(clinic.0)
                .bind::<Timestamptz, _>(cutoff)
                .get_result::<Count>(c)
                .await?
                .n
            };
            Ok::<_, DbError>(n)
        })
    })
    .await
}

/// Applies the clinic's rules (or, on a dry run, counts what they reach),
/// records the run and its audit event, and reports the counts.
pub async fn run_clinic(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    dry_run: bool,
    trigger: Trigger,
) -> Result<RunReport, DbError> {
    let db = &state.db;
    let now = state.clock.now();
    let run_id = Uuid::new_v4();
    let slug: String = db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let slug = clinics::table
                    .find(clinic.0)
                    .select(clinics::slug)
                    .first::<String>(c)
                    .await?;
                diesel::insert_into(retention_runs::table)
                    .values((
                        retention_runs::id.eq(run_id),
                        retention_runs::clinic_id.eq(clinic.0),
                        retention_runs::dry_run.eq(dry_run),
                        retention_runs::trigger.eq(trigger.as_str()),
                        retention_runs::started_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                Ok::<_, DbError>(slug)
            })
        })
        .await?;
    let rules = rules(db, clinic).await?;
    let mut counts = Counts::new();
    let mut failure = None;
    for (&category, &rule) in &rules {
        let cutoff = now - Duration::days(i64::from(rule.period_days));
        let result = if dry_run {
            db.scoped(Scope::Clinic(clinic), move |c| {
                Box::pin(async move {
                    Ok::<_, DbError>(
                        count_candidates(c, clinic, cutoff, category, rule.action).await?,
                    )
                })
            })
            .await
        } else {
            let mut total = 0;
            loop {
                match purge_batch(db, clinic, cutoff, category, rule.action).await {
                    Ok(n) => {
                        total += n;
                        if n < BATCH {
                            break Ok(total);
                        }
                    }
                    Err(e) => break Err(e),
                }
            }
        };
        match result {
            Ok(n) => {
                counts.insert(category.as_str().to_owned(), n);
            }
            Err(e) => {
                failure = Some(format!("{}: {e}", category.as_str()));
                break;
            }
        }
    }
    let finished = state.clock.now();
    let ctx = ctx.clone();
    let recorded = counts.clone();
    let error = failure.clone();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            diesel::update(retention_runs::table.find(run_id))
                .set((
                    retention_runs::finished_at.eq(finished),
                    retention_runs::counts.eq(json!(recorded)),
                    retention_runs::error.eq(&error),
                ))
                .execute(c)
                .await?;
            if !dry_run {
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "retention.purged",
                        subject_kind: "retention_run",
                        subject_id: run_id.to_string(),
                        details: json!({ "counts": recorded, "error": error }),
                    },
                )
                .await?;
            }
            Ok::<_, DbError>(())
        })
    })
    .await?;
    if let Some(error) = failure {
        tracing::warn!(clinic = %slug, %error, "retention run stopped");
        return Err(DbError::Unavailable(error));
    }
    Ok(RunReport {
        run_id,
        clinic_id: clinic,
        slug,
        dry_run,
        counts,
    })
}

/// The runs of several clinics: those that finished, and those that stopped
/// with their error (a failing clinic does not hold back the others).
#[derive(Debug, Default)]
pub struct RunSummary {
    pub reports: Vec<RunReport>,
    pub failures: Vec<(String, DbError)>,
}

/// Runs every clinic (or the one named), one after another.
pub async fn run_all(
    state: &AppState,
    ctx: &AuditContext,
    only: Option<&str>,
    dry_run: bool,
    trigger: Trigger,
) -> Result<RunSummary, DbError> {
    let only = only.map(str::to_owned);
    let targets: Vec<(Uuid, String)> = state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let mut query = clinics::table
                    .select((clinics::id, clinics::slug))
                    .order(clinics::slug.asc())
                    .into_boxed();
                if let Some(slug) = only {
                    query = query.filter(clinics::slug.eq(slug));
                }
                Ok::<_, DbError>(query.load(c).await?)
            })
        })
        .await?;
    let mut summary = RunSummary::default();
    for (id, slug) in targets {
        match run_clinic(state, ctx, ClinicId(id), dry_run, trigger).await {
            Ok(report) => summary.reports.push(report),
            Err(e) => {
                tracing::warn!(clinic = %slug, error = %e, "retention run failed");
                summary.failures.push((slug, e));
            }
        }
    }
    Ok(summary)
}

/// A past run, for the retention page.
#[derive(Clone, Debug, Queryable)]
pub struct PastRun {
    pub id: Uuid,
    pub dry_run: bool,
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: serde_json::Value,
    pub error: Option<String>,
}

/// The clinic's runs, newest first: one page of them and the total.
pub async fn past_runs(
    db: &Db,
    clinic: ClinicId,
    offset: i64,
    limit: i64,
) -> Result<(Vec<PastRun>, i64), DbError> {
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            let total = retention_runs::table
                .filter(retention_runs::clinic_id.eq(clinic.0))
                .count()
                .get_result(c)
                .await?;
            let rows = retention_runs::table
                .filter(retention_runs::clinic_id.eq(clinic.0))
                .order(retention_runs::started_at.desc())
                .offset(offset)
                .limit(limit)
                .select((
                    retention_runs::id,
                    retention_runs::dry_run,
                    retention_runs::trigger,
                    retention_runs::started_at,
                    retention_runs::finished_at,
                    retention_runs::counts,
                    retention_runs::error,
                ))
                .load(c)
                .await?;
            Ok::<_, DbError>((rows, total))
        })
    })
    .await
}

/// When the nightly run next starts: the first worker tick after midnight UTC.
pub fn next_scheduled(now: DateTime<Utc>) -> DateTime<Utc> {
    (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .map_or(now, |t| t.and_utc())
}
