//! Creating clinics and reading their public profile.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::backend::audit::{self, AuditContext, AuditEntry};
use crate::backend::cache::TtlCache;
use crate::backend::db::schema::{clinics, memberships, users};
use crate::backend::db::{Conn, Db, DbError};
use crate::backend::models::clinic::{Clinic, NewClinic};
use crate::backend::models::user::{Membership, NewUser};
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::{ClinicId, ClinicSlug, ClinicStatus, DeadlineRule, Jurisdiction};
use crate::domain::clinic_profile::{ClinicProfile, ClinicProfileForm};
use crate::domain::email::EmailAddress;
use crate::domain::locale::Locale;
use crate::domain::pagination::{Page, PageRequest};
use crate::domain::roles::ClinicRole;

/// A validated request to create a clinic.
#[derive(Debug, Clone)]
pub struct CreateClinic {
    pub slug: ClinicSlug,
    pub profile: ClinicProfile,
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
    let p = &input.profile;
    let (deadline_rule, deadline_days) = p.deadline.to_columns();
    let row = NewClinic {
        id,
        slug: input.slug.as_str().to_owned(),
        name: p.name.clone(),
        legal_name: p.legal_name.clone(),
        country: p.country.as_str().to_owned(),
        jurisdiction: p.jurisdiction.as_str().to_owned(),
        default_locale: p.default_locale.tag().to_owned(),
        deadline_rule: deadline_rule.to_owned(),
        deadline_days,
        notice_period_days: i32::from(p.notice_period_days),
        contact_email: p.contact_email.as_str().to_owned(),
        dpo_name: p.dpo_name.clone(),
        dpo_email: p.dpo_email.as_ref().map(|e| e.as_str().to_owned()),
        dpo_phone: p.dpo_phone.clone(),
        authority_name: p.authority_name.clone(),
        authority_url: p.authority_url.clone(),
        authority_email: p.authority_email.as_ref().map(|e| e.as_str().to_owned()),
        allowed_origins: p.allowed_origins.clone(),
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
                "deadline": input.profile.deadline.to_string(),
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

/// How long a clinic's public profile is served from [`PublicClinics`].
pub const PUBLIC_FRESH_FOR: Duration = Duration::from_secs(1);
/// Most profiles kept; the cache starts over when full.
const PUBLIC_MAX_ENTRIES: usize = 10_000;

/// Public profiles of active clinics by slug, each kept for
/// [`PUBLIC_FRESH_FOR`], so that a busy public form or API reads its clinic
/// once a second rather than once per request. Changes made through this
/// node's admin pages clear it at once; other nodes see them within that
/// second. Unknown and inactive clinics are not kept.
#[derive(Clone)]
pub struct PublicClinics(TtlCache<String, PublicClinic>);

impl Default for PublicClinics {
    fn default() -> Self {
        Self(TtlCache::new(PUBLIC_FRESH_FOR, PUBLIC_MAX_ENTRIES))
    }
}

/// Forgets what this node keeps in memory about active clinics, their
/// public profiles and their consent configurations, after a change to a
/// clinic's profile or status: public pages and the consent API see it at
/// once here (other nodes within their caches' time).
pub fn forget_public(state: &AppState) {
    state.clinics.0.clear();
    state.consent.forget();
}

/// The public profile of the active clinic `slug`, as [`find_public`], kept
/// for a second in the state's [`PublicClinics`].
pub async fn public(state: &AppState, slug: &str) -> Result<Option<PublicClinic>, DbError> {
    if let Some(clinic) = state.clinics.0.get(slug) {
        return Ok(Some(clinic));
    }
    let found = find_public(&state.db, slug).await?;
    if let Some(clinic) = &found {
        state.clinics.0.put(clinic.slug.clone(), clinic.clone());
    }
    Ok(found)
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

impl Clinic {
    /// The stored profile as a validated value; values the database holds
    /// always pass, so a failure means the row was edited outside the portal.
    pub fn profile(&self) -> Result<ClinicProfile, DbError> {
        let deadline = DeadlineRule::from_columns(&self.deadline_rule, self.deadline_days)
            .map_err(|e| DbError::Unavailable(format!("clinic {}: {e}", self.slug)))?;
        let form = ClinicProfileForm {
            name: self.name.clone(),
            legal_name: self.legal_name.clone(),
            country: self.country.clone(),
            jurisdiction: self.jurisdiction.clone(),
            default_locale: self.default_locale.clone(),
            deadline: match deadline {
                DeadlineRule::CalendarMonth => "calendar-month".to_owned(),
                DeadlineRule::Days(d) => d.to_string(),
            },
            notice_period_days: self.notice_period_days.to_string(),
            contact_email: self.contact_email.clone(),
            dpo_name: self.dpo_name.clone().unwrap_or_default(),
            dpo_email: self.dpo_email.clone().unwrap_or_default(),
            dpo_phone: self.dpo_phone.clone().unwrap_or_default(),
            authority_name: self.authority_name.clone(),
            authority_url: self.authority_url.clone().unwrap_or_default(),
            authority_email: self.authority_email.clone().unwrap_or_default(),
            allowed_origins: self.allowed_origins.join("\n"),
        };
        form.validate().map_err(|e| {
            DbError::Unavailable(format!(
                "clinic {}: stored profile invalid: {e:?}",
                self.slug
            ))
        })
    }
}

/// A clinic by id.
pub async fn get(db: &Db, clinic: ClinicId) -> Result<Option<Clinic>, DbError> {
    let mut conn = db.conn().await?;
    Ok(clinics::table
        .find(clinic.0)
        .select(Clinic::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

/// Saves a new profile and records which fields changed.
pub async fn update_profile(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    profile: ClinicProfile,
) -> Result<(), DbError> {
    let ctx = ctx.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let before: Clinic = clinics::table
                    .find(clinic.0)
                    .select(Clinic::as_select())
                    .first(c)
                    .await?;
                let old = ClinicProfileForm::from_profile(&before.profile()?);
                let new = ClinicProfileForm::from_profile(&profile);
                let fields: [(&str, &String, &String); 15] = [
                    ("name", &old.name, &new.name),
                    ("legal_name", &old.legal_name, &new.legal_name),
                    ("country", &old.country, &new.country),
                    ("jurisdiction", &old.jurisdiction, &new.jurisdiction),
                    ("default_locale", &old.default_locale, &new.default_locale),
                    ("deadline", &old.deadline, &new.deadline),
                    (
                        "notice_period_days",
                        &old.notice_period_days,
                        &new.notice_period_days,
                    ),
                    ("contact_email", &old.contact_email, &new.contact_email),
                    ("dpo_name", &old.dpo_name, &new.dpo_name),
                    ("dpo_email", &old.dpo_email, &new.dpo_email),
                    ("dpo_phone", &old.dpo_phone, &new.dpo_phone),
                    ("authority_name", &old.authority_name, &new.authority_name),
                    ("authority_url", &old.authority_url, &new.authority_url),
                    (
                        "authority_email",
                        &old.authority_email,
                        &new.authority_email,
                    ),
                    (
                        "allowed_origins",
                        &old.allowed_origins,
                        &new.allowed_origins,
                    ),
                ];
                let changed: Vec<&str> = fields
                    .iter()
                    .filter(|(_, a, b)| a != b)
                    .map(|(f, _, _)| *f)
                    .collect();
                if changed.is_empty() {
                    return Ok(());
                }
                let (deadline_rule, deadline_days) = profile.deadline.to_columns();
                diesel::update(clinics::table.find(clinic.0))
                    .set((
                        clinics::name.eq(&profile.name),
                        clinics::legal_name.eq(&profile.legal_name),
                        clinics::country.eq(profile.country.as_str()),
                        clinics::jurisdiction.eq(profile.jurisdiction.as_str()),
                        clinics::default_locale.eq(profile.default_locale.tag()),
                        clinics::deadline_rule.eq(deadline_rule),
                        clinics::deadline_days.eq(deadline_days),
                        clinics::notice_period_days.eq(i32::from(profile.notice_period_days)),
                        clinics::contact_email.eq(profile.contact_email.as_str()),
                        clinics::dpo_name.eq(&profile.dpo_name),
                        clinics::dpo_email.eq(profile.dpo_email.as_ref().map(|e| e.as_str())),
                        clinics::dpo_phone.eq(&profile.dpo_phone),
                        clinics::authority_name.eq(&profile.authority_name),
                        clinics::authority_url.eq(&profile.authority_url),
                        clinics::authority_email
                            .eq(profile.authority_email.as_ref().map(|e| e.as_str())),
                        clinics::allowed_origins.eq(&profile.allowed_origins),
                    ))
                    .execute(c)
                    .await?;
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "clinic.settings_changed",
                        subject_kind: "clinic",
                        subject_id: clinic.0.to_string(),
                        details: json!({ "fields": changed }),
                    },
                )
                .await?;
                Ok::<_, DbError>(())
            })
        })
        .await?;
    forget_public(state);
    Ok(())
}

/// A row of the operator's clinic list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClinicListItem {
    pub id: ClinicId,
    pub slug: String,
    pub name: String,
    pub country: String,
    pub status: ClinicStatus,
    pub members: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Clinics whose name or slug contains `search`, by name, one page at a time.
pub async fn list_page(
    db: &Db,
    search: &str,
    page: PageRequest,
) -> Result<Page<ClinicListItem>, DbError> {
    let pattern = format!(
        "%{}%",
        search
            .trim()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            let filter = clinics::name
                .ilike(pattern.clone())
                .or(clinics::slug.ilike(pattern.clone()));
            let total: i64 = clinics::table
                .filter(filter.clone())
                .count()
                .get_result(c)
                .await?;
            let rows: Vec<(
                Uuid,
                String,
                String,
                String,
                String,
                chrono::DateTime<chrono::Utc>,
            )> = clinics::table
                .filter(filter)
                .order((clinics::name.asc(), clinics::id.asc()))
                .offset(page.offset())
                .limit(page.limit())
                .select((
                    clinics::id,
                    clinics::slug,
                    clinics::name,
                    clinics::country,
                    clinics::status,
                    clinics::created_at,
                ))
                .load(c)
                .await?;
            let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
            let counts: Vec<(Uuid, i64)> = memberships::table
                .filter(memberships::clinic_id.eq_any(&ids))
                .group_by(memberships::clinic_id)
                .select((memberships::clinic_id, diesel::dsl::count_star()))
                .load(c)
                .await?;
            let items = rows
                .into_iter()
                .map(
                    |(id, slug, name, country, status, created_at)| ClinicListItem {
                        id: ClinicId(id),
                        slug,
                        name,
                        country,
                        status: status.parse().unwrap_or(ClinicStatus::Active),
                        members: counts.iter().find(|(c, _)| *c == id).map_or(0, |(_, n)| *n),
                        created_at,
                    },
                )
                .collect();
            Ok::<_, DbError>(Page {
                items,
                page: page.page,
                per_page: page.per_page,
                total,
            })
        })
    })
    .await
}

/// Suspends or reactivates a clinic; recorded in the platform's chain and the
/// clinic's.
pub async fn set_status(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    status: ClinicStatus,
) -> Result<bool, DbError> {
    let ctx = ctx.clone();
    let found = state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let previous: Option<String> = clinics::table
                    .find(clinic.0)
                    .select(clinics::status)
                    .first(c)
                    .await
                    .optional()?;
                let Some(previous) = previous else {
                    return Ok(false);
                };
                if previous == status.as_str() {
                    return Ok(true);
                }
                // Suspending or reactivating also ends an offboarding.
                diesel::update(clinics::table.find(clinic.0))
                    .set((
                        clinics::status.eq(status.as_str()),
                        clinics::delete_after.eq(None::<chrono::DateTime<chrono::Utc>>),
                        clinics::offboarding_started_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                    ))
                    .execute(c)
                    .await?;
                for chain in [None, Some(clinic)] {
                    audit::record(
                        c,
                        &ctx,
                        AuditEntry {
                            clinic_id: chain,
                            action: "clinic.status_changed",
                            subject_kind: "clinic",
                            subject_id: clinic.0.to_string(),
                            details: json!({ "from": previous, "to": status.as_str() }),
                        },
                    )
                    .await?;
                }
                Ok::<_, DbError>(true)
            })
        })
        .await?;
    forget_public(state);
    Ok(found)
}
