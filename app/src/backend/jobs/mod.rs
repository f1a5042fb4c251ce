//! The Postgres-backed job queue (the transactional outbox).
//!
//! A job is written in the same transaction as the change that causes it.
//! Workers claim due jobs with `FOR UPDATE SKIP LOCKED`, so several workers in
//! several processes never take the same job; a claim is a lease that the
//! worker extends while the job runs. Leases that run out (a worker died) are
//! put back in the queue by [`reap_expired_leases`]. Idempotency keys make
//! enqueueing the same logical job twice a no-op.

pub mod handlers;

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Jsonb, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use crate::backend::db::schema::jobs;
use crate::backend::db::{Conn, Db, DbError, FixedSql};
use crate::backend::models::job::{JobRow, NewJobRow};
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::jobs::retry_delay;

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub clinic_id: Option<ClinicId>,
    pub kind: String,
    pub payload: Value,
    pub idempotency_key: Option<String>,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
}

impl NewJob {
    /// A job of `kind` due now, with the default of 8 attempts.
    pub fn now(kind: &str, payload: Value) -> Self {
        Self {
            clinic_id: None,
            kind: kind.to_owned(),
            payload,
            idempotency_key: None,
            run_at: Utc::now(),
            max_attempts: 8,
        }
    }
}

/// Adds a job in the caller's transaction. Returns its id, or `None` when a
/// job with the same idempotency key already exists.
pub async fn enqueue(mut conn: &Conn, job: NewJob) -> QueryResult<Option<i64>> {
    let row = NewJobRow {
        clinic_id: job.clinic_id.map(|c| c.0),
        kind: job.kind,
        payload: job.payload,
        idempotency_key: job.idempotency_key,
        run_at: job.run_at,
        max_attempts: job.max_attempts,
    };
    diesel::insert_into(jobs::table)
        .values(&row)
        .on_conflict(jobs::idempotency_key)
        .do_nothing()
        .returning(jobs::id)
        .get_result(&mut conn)
        .await
        .optional()
}

/// Takes up to `limit` due jobs for `worker`, leasing them for `lease`.
pub async fn claim(
    db: &Db,
    worker: &str,
    limit: i64,
    lease: Duration,
) -> Result<Vec<JobRow>, DbError> {
    let worker = worker.to_owned();
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            let rows = FixedSql(
                diesel::sql_query(
                    "UPDATE jobs SET status = 'running', locked_by = $1, \
                         locked_until = now() + make_interval(secs => $2), attempts = attempts + 1 \
                     WHERE id IN ( \
                         SELECT id FROM jobs WHERE status = 'pending' AND run_at <= now() \
                         ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
                     RETURNING id, clinic_id, kind, payload, idempotency_key, status, run_at, \
                         attempts, max_attempts, locked_by, locked_until, last_error",
                )
                .bind::<Text, _>(worker)
                .bind::<Double, _>(lease.as_secs_f64())
                .bind::<BigInt, _>(limit),
            )
            .load::<JobRow>(c)
            .await?;
            Ok::<_, DbError>(rows)
        })
    })
    .await
}

/// Marks a job done. `payload`, when given, replaces the stored payload (to
/// drop what is no longer needed, such as a sealed email body). Returns false
/// when `worker` no longer holds the lease.
pub async fn complete(
    conn: &mut Conn,
    id: i64,
    worker: &str,
    payload: Option<Value>,
) -> QueryResult<bool> {
    let updated = FixedSql(
        diesel::sql_query(
            "UPDATE jobs SET status = 'done', finished_at = now(), locked_by = NULL, \
                 locked_until = NULL, last_error = NULL, payload = coalesce($3, payload) \
             WHERE id = $1 AND status = 'running' AND locked_by = $2",
        )
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(worker)
        .bind::<Nullable<Jsonb>, _>(payload),
    )
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// Marks many jobs done in one statement, `(id, worker, payload)` each: the
/// payload replaces the stored one, as in [`complete`]. Returns the ids of
/// the jobs whose lease their worker still held; the others are untouched.
pub async fn complete_many(
    conn: &mut Conn,
    done: Vec<(i64, String, Value)>,
) -> QueryResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Completed {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let mut ids = Vec::with_capacity(done.len());
    let mut workers = Vec::with_capacity(done.len());
    let mut payloads = Vec::with_capacity(done.len());
    for (id, worker, payload) in done {
        ids.push(id);
        workers.push(worker);
        payloads.push(payload);
    }
    let rows: Vec<Completed> = FixedSql(
        diesel::sql_query(
            "UPDATE jobs SET status = 'done', finished_at = now(), locked_by = NULL, \
                 locked_until = NULL, last_error = NULL, payload = u.payload \
             FROM unnest($1::bigint[], $2::text[], $3::jsonb[]) AS u(id, worker, payload) \
             WHERE jobs.id = u.id AND jobs.status = 'running' AND jobs.locked_by = u.worker \
             RETURNING jobs.id",
        )
        .bind::<Array<BigInt>, _>(ids)
        .bind::<Array<Text>, _>(workers)
        .bind::<Array<Jsonb>, _>(payloads),
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

/// Records a failed attempt: the job is retried after a back-off, or marked
/// failed when it is `permanent` or out of attempts. Returns whether it will
/// be retried.
pub async fn fail(
    conn: &mut Conn,
    job: &JobRow,
    worker: &str,
    error: &str,
    permanent: bool,
) -> QueryResult<bool> {
    let error: String = error.chars().take(2000).collect();
    let retry = !permanent && job.attempts < job.max_attempts;
    let target = jobs::table
        .filter(jobs::id.eq(job.id))
        .filter(jobs::status.eq("running"))
        .filter(jobs::locked_by.eq(worker));
    let next_run = Utc::now()
        + chrono::Duration::from_std(retry_delay(job.attempts.max(0).unsigned_abs()))
            .unwrap_or(chrono::Duration::hours(1));
    diesel::update(target)
        .set((
            jobs::status.eq(if retry { "pending" } else { "failed" }),
            jobs::run_at.eq(if retry { next_run } else { job.run_at }),
            jobs::finished_at.eq(if retry { None } else { Some(Utc::now()) }),
            jobs::locked_by.eq(None::<String>),
            jobs::locked_until.eq(None::<DateTime<Utc>>),
            jobs::last_error.eq(Some(error)),
        ))
        .execute(conn)
        .await?;
    Ok(retry)
}

/// Keeps `worker`'s lease on a long-running job alive.
pub async fn extend_lease(
    db: &Db,
    id: i64,
    worker: &str,
    lease: Duration,
) -> Result<bool, DbError> {
    let worker = worker.to_owned();
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            let n = diesel::sql_query(
                "UPDATE jobs SET locked_until = now() + make_interval(secs => $3) \
                 WHERE id = $1 AND locked_by = $2 AND status = 'running'",
            )
            .bind::<BigInt, _>(id)
            .bind::<Text, _>(worker)
            .bind::<Double, _>(lease.as_secs_f64())
            .execute(c)
            .await?;
            Ok::<_, DbError>(n == 1)
        })
    })
    .await
}

/// Gives back every lease `worker` holds (on shutdown): the jobs become due at
/// once for another worker, and the interrupted attempt is not counted.
pub async fn release(db: &Db, worker: &str) -> Result<usize, DbError> {
    let worker = worker.to_owned();
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            let n = diesel::sql_query(
                "UPDATE jobs SET status = 'pending', locked_by = NULL, locked_until = NULL, \
                     attempts = greatest(attempts - 1, 0), run_at = now() \
                 WHERE status = 'running' AND locked_by = $1",
            )
            .bind::<Text, _>(worker)
            .execute(c)
            .await?;
            Ok::<_, DbError>(n)
        })
    })
    .await
}

/// Puts jobs whose lease ran out (their worker died) back in the queue, or
/// marks them failed when they used up their attempts.
pub async fn reap_expired_leases(db: &Db) -> Result<usize, DbError> {
    db.scoped(Scope::System, |c| {
        Box::pin(async move {
            let n = diesel::sql_query(
                "UPDATE jobs SET \
                     status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END, \
                     finished_at = CASE WHEN attempts >= max_attempts THEN now() END, \
                     last_error = coalesce(last_error, 'lease expired: the worker stopped'), \
                     locked_by = NULL, locked_until = NULL \
                 WHERE status = 'running' AND locked_until < now()",
            )
            .execute(c)
            .await?;
            Ok::<_, DbError>(n)
        })
    })
    .await
}

/// Number of jobs per status (pending, running, done, failed).
pub async fn counts_by_status(db: &Db) -> Result<Vec<(String, i64)>, DbError> {
    db.scoped(Scope::System, |c| {
        Box::pin(async move {
            let rows = jobs::table
                .group_by(jobs::status)
                .select((jobs::status, diesel::dsl::count_star()))
                .load::<(String, i64)>(c)
                .await?;
            Ok::<_, DbError>(rows)
        })
    })
    .await
}

/// Deletes finished jobs: done ones after `keep_done`, failed ones after
/// `keep_failed`. Returns how many were removed.
pub async fn purge_finished(
    conn: &mut Conn,
    keep_done: chrono::Duration,
    keep_failed: chrono::Duration,
) -> QueryResult<usize> {
    let now = Utc::now();
    diesel::delete(
        jobs::table.filter(
            jobs::status
                .eq("done")
                .and(jobs::finished_at.lt(now - keep_done))
                .or(jobs::status
                    .eq("failed")
                    .and(jobs::finished_at.lt(now - keep_failed))),
        ),
    )
    .execute(conn)
    .await
}

/// A unique name for a worker: host, process and a random suffix.
pub fn worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
    format!(
        "{host}:{}:{}",
        std::process::id(),
        &Uuid::new_v4().simple().to_string()[..8]
    )
}
