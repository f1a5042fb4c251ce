//! The demo data set: an invented platform and clinic that show every area of
//! the portal. Seeding is idempotent.

use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::backend::audit::AuditContext;
use crate::backend::db::schema::users;
use crate::backend::db::{Db, DbError};
use crate::backend::models::clinic::Platform;
use crate::backend::models::user::NewUser;
use crate::backend::services::clinics::{self, CreateClinic, CreateClinicError, NewOwner};
use crate::backend::services::platform;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::{ClinicId, ClinicSlug};
use crate::domain::clinic_profile::ClinicProfileForm;
use crate::domain::email::EmailAddress;
use crate::domain::roles::ClinicRole;

/// Slug of the demo clinic.
pub const DEMO_SLUG: &str = "demo";
/// The demo clinic's owner, who gets the first sign-in link.
pub const DEMO_OWNER_EMAIL: &str = "owner@lindenhof-clinic.example";
/// The demo platform operator.
pub const DEMO_OPERATOR_EMAIL: &str = "operator@meridian-health.example";

/// What seeding did.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    pub clinic_id: ClinicId,
    /// False when the demo clinic already existed and nothing was changed.
    pub created: bool,
    pub owner_email: EmailAddress,
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("demo data is inconsistent: {0}")]
    Invalid(String),
}

impl From<diesel::result::Error> for DemoError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

fn email(text: &str) -> Result<EmailAddress, DemoError> {
    EmailAddress::parse(text).map_err(|e| DemoError::Invalid(format!("{text} {e}")))
}

/// Seeds the demo platform and clinic unless the clinic exists.
pub async fn seed(db: &Db, ctx: &AuditContext) -> Result<DemoOutcome, DemoError> {
    let owner_email = email(DEMO_OWNER_EMAIL)?;
    platform::ensure(
        db,
        ctx,
        Platform {
            id: true,
            name: "Meridian Clinic Cloud".into(),
            legal_name: "Meridian Health Software Ltd".into(),
            contact_email: "privacy@meridian-health.example".into(),
            notice_period_days: 30,
            objection_window_days: 30,
        },
    )
    .await?;
    ensure_operator(db).await?;

    if let Some(existing) = clinics::id_by_slug(db, DEMO_SLUG).await? {
        return Ok(DemoOutcome {
            clinic_id: existing,
            created: false,
            owner_email,
        });
    }

    let profile = ClinicProfileForm {
        name: "Lindenhof Family Clinic".into(),
        legal_name: "Lindenhof Family Clinic MVZ GmbH".into(),
        country: "DE".into(),
        jurisdiction: "eu_gdpr".into(),
        default_locale: "en".into(),
        deadline: "calendar-month".into(),
        notice_period_days: "14".into(),
        contact_email: "privacy@lindenhof-clinic.example".into(),
        dpo_name: "Dr. Miriam Hartmann".into(),
        dpo_email: "dpo@lindenhof-clinic.example".into(),
        dpo_phone: "+49 30 5550 1842".into(),
        authority_name: "Berlin Commissioner for Data Protection and Freedom of Information".into(),
        authority_url: "https://www.datenschutz-berlin.de".into(),
        authority_email: String::new(),
        allowed_origins: "https://www.lindenhof-clinic.example".into(),
    }
    .validate()
    .map_err(|e| DemoError::Invalid(format!("{e:?}")))?;
    let input = CreateClinic {
        slug: ClinicSlug::parse(DEMO_SLUG).map_err(|e| DemoError::Invalid(e.to_string()))?,
        profile,
        owner: Some(NewOwner {
            email: owner_email.clone(),
            display_name: "Anna Weber".into(),
        }),
    };
    let clinic_id = match clinics::create(db, ctx, input).await {
        Ok(id) => id,
        // Another process seeded it a moment ago.
        Err(CreateClinicError::SlugTaken(_)) => {
            let id = clinics::id_by_slug(db, DEMO_SLUG)
                .await?
                .ok_or_else(|| DemoError::Invalid("demo clinic vanished".into()))?;
            return Ok(DemoOutcome {
                clinic_id: id,
                created: false,
                owner_email,
            });
        }
        Err(CreateClinicError::Db(e)) => return Err(e.into()),
    };

    let team = [
        (
            "admin@lindenhof-clinic.example",
            "Jonas Keller",
            ClinicRole::Admin,
        ),
        (
            "dpo@lindenhof-clinic.example",
            "Dr. Miriam Hartmann",
            ClinicRole::PrivacyOfficer,
        ),
        (
            "auditor@lindenhof-clinic.example",
            "Lea Schmidt",
            ClinicRole::Viewer,
        ),
    ];
    let members = team
        .iter()
        .map(|(address, name, role)| Ok((email(address)?, (*name).to_owned(), *role)))
        .collect::<Result<Vec<_>, DemoError>>()?;
    let ctx = ctx.clone();
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            for (address, name, role) in members {
                clinics::add_member(c, &ctx, clinic_id, &address, &name, role).await?;
            }
            Ok::<_, DemoError>(())
        })
    })
    .await?;

    Ok(DemoOutcome {
        clinic_id,
        created: true,
        owner_email,
    })
}

async fn ensure_operator(db: &Db) -> Result<(), DemoError> {
    let operator = NewUser {
        id: Uuid::now_v7(),
        email: DEMO_OPERATOR_EMAIL.into(),
        display_name: "Tomasz Nowak".into(),
        platform_role: Some("operator".into()),
    };
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            diesel::insert_into(users::table)
                .values(&operator)
                .on_conflict(users::email)
                .do_nothing()
                .execute(c)
                .await?;
            Ok::<_, DemoError>(())
        })
    })
    .await
}
