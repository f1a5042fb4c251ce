//! Creating clinics and reading their public profile.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::backend::audit::{self, AuditContext, AuditEntry};
use crate::backend::db::schema::{clinics, memberships, users};
use crate::backend::db::{Conn, Db, DbError};
use crate::backend::models::clinic::{Clinic, NewClinic};
use crate::backend::models::user::{Membership, NewUser};
use crate::backend::tenancy::Scope;
use crate::domain::clinic::{ClinicId, ClinicSlug, CountryCode, DeadlineRule, Jurisdiction};
use crate::domain::email::EmailAddress;
use crate::domain::locale::Locale;
use crate::domain::roles::ClinicRole;

/// A validated request to create a clinic.
#[derive(Debug, Clone)]
pub struct CreateClinic {
    pub slug: ClinicSlug,
    pub name: String,
    pub legal_name: String,
    pub country: CountryCode,
    pub jurisdiction: Jurisdiction,
    pub default_locale: Locale,
    pub deadline: DeadlineRule,
    pub notice_period_days: u16,
    pub contact_email: EmailAddress,
    pub dpo_name: Option<String>,
    pub dpo_email: Option<EmailAddress>,
    pub dpo_phone: Option<String>,
    pub authority_name: String,
    pub authority_url: Option<String>,
    pub authority_email: Option<EmailAddress>,
    pub allowed_origins: Vec<String>,
    /// The first owner, created as a user when new.
    pub owner: Option<NewOwner>,
}

/// The first owner of a new clinic.
#[derive(Debug, Clone)]
pub struct NewOwner {
    pub email: EmailAddress,
    pub display_name: String,
}

/// Why a clinic was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateClinicError {
    #[error("a clinic with the address `{0}` already exists")]
    SlugTaken(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for CreateClinicError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Creates the clinic, its first owner and the audit events, in one transaction.
pub async fn create(
    db: &Db,
    ctx: &AuditContext,
    input: CreateClinic,
) -> Result<ClinicId, CreateClinicError> {
    let ctx = ctx.clone();
    db.scoped(Scope::System, move |c| {
        Box::pin(async move { create_in(c, &ctx, input).await })
    })
    .await
}

async fn create_in(
    c: &mut Conn,
    ctx: &AuditContext,
    input: CreateClinic,
) -> Result<ClinicId, CreateClinicError> {
    let id = Uuid::now_v7();
    let (deadline_rule, deadline_days) = input.deadline.to_columns();
    let row = NewClinic {
        id,
        slug: input.slug.as_str().to_owned(),
        name: input.name.clone(),
        legal_name: input.legal_name.clone(),
        country: input.country.as_str().to_owned(),
        jurisdiction: input.jurisdiction.as_str().to_owned(),
        default_locale: input.default_locale.tag().to_owned(),
        deadline_rule: deadline_rule.to_owned(),
        deadline_days,
        notice_period_days: i32::from(input.notice_period_days),
        contact_email: input.contact_email.as_str().to_owned(),
        dpo_name: input.dpo_name.clone(),
        dpo_email: input.dpo_email.as_ref().map(|e| e.as_str().to_owned()),
        dpo_phone: input.dpo_phone.clone(),
        authority_name: input.authority_name.clone(),
        authority_url: input.authority_url.clone(),
        authority_email: input
            .authority_email
            .as_ref()
            .map(|e| e.as_str().to_owned()),
        allowed_origins: input.allowed_origins.clone(),
    };
    let inserted = diesel::insert_into(clinics::table)
        .values(&row)
        .on_conflict(clinics::slug)
        .do_nothing()
        .execute(c)
        .await?;
    if inserted == 0 {
        return Err(CreateClinicError::SlugTaken(input.slug.to_string()));
    }
    let clinic = ClinicId(id);
    audit::record(
        c,
        ctx,
        AuditEntry {
            clinic_id: None,
            action: "clinic.created",
            subject_kind: "clinic",
            subject_id: id.to_string(),
            details: json!({ "slug": row.slug, "name": row.name }),
        },
    )
    .await?;
    audit::record(
        c,
        ctx,
        AuditEntry {
            clinic_id: Some(clinic),
            action: "clinic.created",
            subject_kind: "clinic",
            subject_id: id.to_string(),
            details: json!({
                "slug": row.slug,
                "name": row.name,
                "country": row.country,
                "jurisdiction": row.jurisdiction,
                "deadline": input.deadline.to_string(),
                "notice_period_days": row.notice_period_days,
            }),
        },
    )
    .await?;
    if let Some(owner) = input.owner {
        add_member(
            c,
            ctx,
            clinic,
            &owner.email,
            &owner.display_name,
            ClinicRole::Owner,
        )
        .await?;
    }
    Ok(clinic)
}

/// Adds `email` to the clinic with `role`, creating the user when new. Runs
/// in a system-scoped transaction (users are platform rows).
pub async fn add_member(
    c: &mut Conn,
    ctx: &AuditContext,
    clinic: ClinicId,
    email: &EmailAddress,
    display_name: &str,
    role: ClinicRole,
) -> QueryResult<Uuid> {
    let new_user = NewUser {
        id: Uuid::now_v7(),
        email: email.normalized(),
        display_name: display_name.to_owned(),
        platform_role: None,
    };
    diesel::insert_into(users::table)
        .values(&new_user)
        .on_conflict(users::email)
        .do_nothing()
        .execute(c)
        .await?;
    let user_id: Uuid = users::table
        .filter(users::email.eq(email.normalized()))
        .select(users::id)
        .first(c)
        .await?;
    let membership = Membership {
        id: Uuid::now_v7(),
        clinic_id: clinic.0,
        user_id,
        role: role.as_str().to_owned(),
    };
    diesel::insert_into(memberships::table)
        .values(&membership)
        .on_conflict((memberships::clinic_id, memberships::user_id))
        .do_update()
        .set(memberships::role.eq(role.as_str()))
        .execute(c)
        .await?;
    audit::record(
        c,
        ctx,
        AuditEntry {
            clinic_id: Some(clinic),
            action: "member.added",
            subject_kind: "user",
            subject_id: user_id.to_string(),
            details: json!({ "email": email.masked(), "role": role.as_str() }),
        },
    )
    .await?;
    Ok(user_id)
}

/// What public pages show about a clinic.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PublicClinic {
    pub id: ClinicId,
    pub slug: String,
    pub name: String,
    pub legal_name: String,
    pub country: String,
    pub jurisdiction: String,
    pub default_locale: Locale,
    pub contact_email: String,
    pub dpo_name: Option<String>,
    pub dpo_email: Option<String>,
    pub dpo_phone: Option<String>,
    pub authority_name: String,
    pub authority_url: Option<String>,
    pub authority_email: Option<String>,
    pub deadline: String,
}

impl From<Clinic> for PublicClinic {
    fn from(c: Clinic) -> Self {
        let jurisdiction = c
            .jurisdiction
            .parse::<Jurisdiction>()
            .map_or_else(|_| c.jurisdiction.clone(), |j| j.label().to_owned());
        let deadline = DeadlineRule::from_columns(&c.deadline_rule, c.deadline_days)
            .map_or_else(|_| String::new(), |d| d.to_string());
        Self {
            id: ClinicId(c.id),
            slug: c.slug,
            name: c.name,
            legal_name: c.legal_name,
            country: c.country,
            jurisdiction,
            default_locale: Locale::from_tag(&c.default_locale).unwrap_or_default(),
            contact_email: c.contact_email,
            dpo_name: c.dpo_name,
            dpo_email: c.dpo_email,
            dpo_phone: c.dpo_phone,
            authority_name: c.authority_name,
            authority_url: c.authority_url,
            authority_email: c.authority_email,
            deadline,
        }
    }
}

/// The public profile of an active clinic, found by slug. Unknown, suspended
/// and offboarding clinics are all `None`, so the public cannot tell them apart.
pub async fn find_public(db: &Db, slug: &str) -> Result<Option<PublicClinic>, DbError> {
    if ClinicSlug::parse(slug).is_err() {
        return Ok(None);
    }
    let mut conn = db.conn().await?;
    let clinic = clinics::table
        .filter(clinics::slug.eq(slug))
        .filter(clinics::status.eq("active"))
        .select(Clinic::as_select())
        .first(&mut conn)
        .await
        .optional()?;
    Ok(clinic.map(PublicClinic::from))
}

/// Every clinic, by name.
pub async fn list(db: &Db) -> Result<Vec<Clinic>, DbError> {
    let mut conn = db.conn().await?;
    Ok(clinics::table
        .order(clinics::name.asc())
        .select(Clinic::as_select())
        .load(&mut conn)
        .await?)
}

/// The id of the clinic with `slug`, whatever its status.
pub async fn id_by_slug(db: &Db, slug: &str) -> Result<Option<ClinicId>, DbError> {
    let mut conn = db.conn().await?;
    Ok(clinics::table
        .filter(clinics::slug.eq(slug))
        .select(clinics::id)
        .first::<Uuid>(&mut conn)
        .await
        .optional()?
        .map(ClinicId))
}
