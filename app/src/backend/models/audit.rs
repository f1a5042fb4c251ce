use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::backend::db::schema::{audit_events, audit_queue};

/// A stored audit event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub struct AuditEventRow {
    pub id: i64,
    pub clinic_id: Option<Uuid>,
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub details: serde_json::Value,
    pub request_id: Option<String>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// An audit event to append.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEventRow {
    pub clinic_id: Option<Uuid>,
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub details: serde_json::Value,
    pub request_id: Option<String>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// An event waiting to join its chain: what was recorded, not yet numbered
/// or hashed.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = audit_queue, check_for_backend(diesel::pg::Pg))]
pub struct QueuedEventRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub clinic_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub details: serde_json::Value,
    pub request_id: Option<String>,
}
