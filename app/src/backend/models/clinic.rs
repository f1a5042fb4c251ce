use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::backend::db::schema::{clinics, platform};

/// A clinic row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = clinics, check_for_backend(diesel::pg::Pg))]
pub struct Clinic {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub legal_name: String,
    pub country: String,
    pub jurisdiction: String,
    pub default_locale: String,
    pub deadline_rule: String,
    pub deadline_days: Option<i32>,
    pub notice_period_days: i32,
    pub contact_email: String,
    pub dpo_name: Option<String>,
    pub dpo_email: Option<String>,
    pub dpo_phone: Option<String>,
    pub authority_name: String,
    pub authority_url: Option<String>,
    pub authority_email: Option<String>,
    pub allowed_origins: Vec<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub meta_app_secret_sealed: Option<Vec<u8>>,
    pub offboarding_started_at: Option<DateTime<Utc>>,
    pub delete_after: Option<DateTime<Utc>>,
}

/// A clinic to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = clinics)]
pub struct NewClinic {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub legal_name: String,
    pub country: String,
    pub jurisdiction: String,
    pub default_locale: String,
    pub deadline_rule: String,
    pub deadline_days: Option<i32>,
    pub notice_period_days: i32,
    pub contact_email: String,
    pub dpo_name: Option<String>,
    pub dpo_email: Option<String>,
    pub dpo_phone: Option<String>,
    pub authority_name: String,
    pub authority_url: Option<String>,
    pub authority_email: Option<String>,
    pub allowed_origins: Vec<String>,
}

/// The platform row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = platform, check_for_backend(diesel::pg::Pg))]
pub struct Platform {
    pub id: bool,
    pub name: String,
    pub legal_name: String,
    pub contact_email: String,
    pub notice_period_days: i32,
    pub objection_window_days: i32,
}
