use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::backend::db::schema::{email_deliveries, jobs};

/// A queued or finished job.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct JobRow {
    pub id: i64,
    pub clinic_id: Option<Uuid>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub idempotency_key: Option<String>,
    pub status: String,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A job to enqueue.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = jobs)]
pub struct NewJobRow {
    pub clinic_id: Option<Uuid>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub idempotency_key: Option<String>,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
}

/// The outcome of handing one email to the transport.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = email_deliveries)]
pub struct NewEmailDelivery {
    pub clinic_id: Option<Uuid>,
    pub job_id: Option<i64>,
    pub message_id: String,
    pub template: String,
    pub recipient: String,
    pub status: String,
    pub error: Option<String>,
}
