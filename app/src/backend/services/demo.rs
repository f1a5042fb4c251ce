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
use crate::backend::services::consent;
use crate::backend::services::notices::{self, Publisher};
use crate::backend::services::platform;
use crate::backend::services::subprocessors;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::{ClinicId, ClinicSlug};
use crate::domain::clinic_profile::ClinicProfileForm;
use crate::domain::email::EmailAddress;
use crate::domain::notices::DocumentKind;
use crate::domain::roles::ClinicRole;
use crate::domain::subprocessors::SubprocessorForm;

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
    seed_notice(db, Publisher::Platform, PLATFORM_NOTICE).await?;
    seed_subprocessors(db, ctx).await?;

    if let Some(existing) = clinics::id_by_slug(db, DEMO_SLUG).await? {
        seed_consent(db, ctx, existing).await?;
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
    seed_consent(db, ctx, clinic_id).await?;

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
    seed_requests(db, clinic_id).await?;
    seed_notice(db, Publisher::Clinic(clinic_id), CLINIC_NOTICE).await?;

    Ok(DemoOutcome {
        clinic_id,
        created: true,
        owner_email,
    })
}

/// One invented request; the Privacy Officer handles the assigned ones.
struct DemoRequest {
    reference: &'static str,
    kind: &'static str,
    status: &'static str,
    name: &'static str,
    email: &'static str,
    verified_days_ago: i32,
    details: &'static str,
    assigned: bool,
}

/// Invented privacy requests in every state, dated relative to today so the
/// queue, the deadlines and the dashboard chart have something to show.
/// Requesters of demo requests have no status link.
async fn seed_requests(db: &Db, clinic: ClinicId) -> Result<(), DemoError> {
    let requests = [
        DemoRequest {
            reference: "PR-7K3D-9QX2",
            kind: "access",
            status: "in_progress",
            name: "Sofia Brandt",
            email: "sofia.brandt@example.org",
            verified_days_ago: 12,
            details: "Please send me a copy of my records from the last three years, including lab results.",
            assigned: true,
        },
        DemoRequest {
            reference: "PR-4HMT-2VNE",
            kind: "erasure",
            status: "new",
            name: "Daniel Weber",
            email: "d.weber@example.net",
            verified_days_ago: 2,
            details: "I no longer use the clinic's app. Please delete my account and the data collected through it.",
            assigned: false,
        },
        DemoRequest {
            reference: "PR-Q8WA-6JZS",
            kind: "rectification",
            status: "awaiting_requester",
            name: "Amira Haddad",
            email: "amira.haddad@example.org",
            verified_days_ago: 20,
            details: "My date of birth is wrong in my patient file.",
            assigned: true,
        },
        DemoRequest {
            reference: "PR-R5GX-3KPB",
            kind: "objection",
            status: "in_progress",
            name: "Markus Vogel",
            email: "markus.vogel@example.com",
            verified_days_ago: 35,
            details: "I object to my contact details being used for newsletters.",
            assigned: true,
        },
        DemoRequest {
            reference: "PR-N2CY-8TFD",
            kind: "portability",
            status: "completed",
            name: "Ivan Petrenko",
            email: "ivan.petrenko@example.org",
            verified_days_ago: 70,
            details: "Please send my vaccination history in a machine-readable format.",
            assigned: true,
        },
        DemoRequest {
            reference: "PR-V9ME-5WHK",
            kind: "withdraw_consent",
            status: "completed",
            name: "Clara Neumann",
            email: "clara.neumann@example.net",
            verified_days_ago: 50,
            details: "I withdraw my consent to appointment reminders by SMS.",
            assigned: false,
        },
    ];
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            for DemoRequest {
                reference,
                kind,
                status,
                name,
                email,
                verified_days_ago: days,
                details,
                assigned,
            } in requests
            {
                let id = Uuid::now_v7();
                let (outcome, completed) = if status == "completed" {
                    ("'fulfilled'", format!("now() - interval '{} days'", days - 21))
                } else {
                    ("NULL", "NULL".to_owned())
                };
                let paused = if status == "awaiting_requester" {
                    "current_date - 5"
                } else {
                    "NULL"
                };
                let assignee = if assigned {
                    "(SELECT id FROM users WHERE email = 'dpo@lindenhof-clinic.example')"
                } else {
                    "NULL"
                };
                diesel::sql_query(format!(
                    "INSERT INTO privacy_requests (id, clinic_id, reference, kind, status, outcome, source, \
                     requester_name, requester_email, details, verified_at, base_due_on, due_on, \
                     paused_since, assignee_id, completed_at, created_at) VALUES \
                     ($1, $2, $3, $4, $5, {outcome}, 'web_form', $6, $7, $8, \
                     now() - make_interval(days => $9), \
                     (current_date - $9 + interval '1 month')::date, \
                     (current_date - $9 + interval '1 month')::date, \
                     {paused}, {assignee}, {completed}, now() - make_interval(days => $9))"
                ))
                .bind::<diesel::sql_types::Uuid, _>(id)
                .bind::<diesel::sql_types::Uuid, _>(clinic.0)
                .bind::<diesel::sql_types::Text, _>(reference)
                .bind::<diesel::sql_types::Text, _>(kind)
                .bind::<diesel::sql_types::Text, _>(status)
                .bind::<diesel::sql_types::Text, _>(name)
                .bind::<diesel::sql_types::Text, _>(email)
                .bind::<diesel::sql_types::Text, _>(details)
                .bind::<diesel::sql_types::Integer, _>(days)
                .execute(c)
                .await?;
                let mut events = vec![("verified", "", true)];
                match status {
                    "in_progress" => events.push(("started", "", true)),
                    "awaiting_requester" => events.push((
                        "information_requested",
                        "Please tell us the correct date of birth and attach a copy of an identity document.",
                        true,
                    )),
                    "completed" => {
                        events.push(("note", "Export prepared from the practice system.", false));
                        events.push(("completed", "", true));
                    }
                    _ => {}
                }
                for (kind, body, visible) in events {
                    diesel::sql_query(
                        "INSERT INTO request_events (clinic_id, request_id, kind, author_kind, body, \
                         visible_to_requester) VALUES ($1, $2, $3, 'system', $4, $5)",
                    )
                    .bind::<diesel::sql_types::Uuid, _>(clinic.0)
                    .bind::<diesel::sql_types::Uuid, _>(id)
                    .bind::<diesel::sql_types::Text, _>(kind)
                    .bind::<diesel::sql_types::Text, _>(body)
                    .bind::<diesel::sql_types::Bool, _>(visible)
                    .execute(c)
                    .await?;
                }
            }
            Ok::<_, DemoError>(())
        })
    })
    .await
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

/// The platform's invented privacy notice (version 1).
const PLATFORM_NOTICE: (&str, &str) = (
    "Privacy notice of Meridian Clinic Cloud",
    "# Who we are\n\n\
Meridian Health Software Ltd runs Meridian Clinic Cloud, the software clinics use to book \
appointments, keep patient records and message patients. For the clinics' patient data we \
act as a processor under a data processing agreement; for our own customers' accounts we are \
the controller.\n\n\
# What we process\n\n\
- Account data of clinic staff: name, work email, role, sign-in history.\n\
- Technical logs: IP address, browser, times of access, kept for 90 days.\n\
- Billing data of clinics, kept for 10 years as tax law requires.\n\n\
# Sub-processors\n\n\
We use hosting, email delivery and support tools listed on our sub-processor page, and \
announce changes 30 days before they apply.\n\n\
# Your rights\n\n\
You may ask for access, correction, erasure, restriction, portability, or object, by writing \
to privacy@meridian-health.example. We answer within one month.\n",
);

/// The demo clinic's invented privacy notice (version 1).
const CLINIC_NOTICE: (&str, &str) = (
    "Privacy notice for patients",
    "# Who is responsible\n\n\
Lindenhof Family Clinic MVZ GmbH is the controller of your data. Our data protection officer, \
Dr. Miriam Hartmann, answers at dpo@lindenhof-clinic.example.\n\n\
# What we keep and why\n\n\
- Your medical record, to treat you and because the law requires it; kept for 10 years after \
your last treatment.\n\
- Appointment and contact details, to book and remind you of visits; kept for 2 years after \
your last appointment.\n\
- Messages you send us through the patient app, to answer them; kept with your record.\n\n\
# Who else sees it\n\n\
Laboratories we send samples to, your health insurer for billing, and our software provider \
Meridian Clinic Cloud, which processes data on our behalf.\n\n\
# Your rights\n\n\
You may ask for a copy of your data, its correction or erasure, restriction, portability, or \
object to processing, with the form on our privacy page. You may also complain to the Berlin \
Commissioner for Data Protection and Freedom of Information.\n",
);

/// Publishes version 1 of a publisher's privacy notice, in effect since 90
/// days ago, unless it has one.
async fn seed_notice(
    db: &Db,
    publisher: Publisher,
    (title, body): (&str, &str),
) -> Result<(), DemoError> {
    let (title, body) = (title.to_owned(), body.to_owned());
    let since = chrono::Utc::now() - chrono::Duration::days(90);
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            notices::seed_first_version(
                c,
                publisher,
                DocumentKind::PrivacyNotice,
                &title,
                &body,
                since,
            )
            .await?;
            Ok::<_, DemoError>(())
        })
    })
    .await
}

/// The platform's sub-processors: four in service for a year, and one
/// proposed, waiting to be announced.
async fn seed_subprocessors(db: &Db, ctx: &AuditContext) -> Result<(), DemoError> {
    let since = chrono::Utc::now() - chrono::Duration::days(365);
    let entry = |legal_name: &str,
                 service: &str,
                 purpose: &str,
                 categories: &[&str],
                 countries: &str,
                 safeguard: &str,
                 website: &str| {
        SubprocessorForm {
            legal_name: legal_name.into(),
            service: service.into(),
            purpose: purpose.into(),
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
            countries: countries.into(),
            safeguard: safeguard.into(),
            website: website.into(),
            terms_url: String::new(),
        }
        .validate()
        .map_err(|e| DemoError::Invalid(format!("{legal_name}: {e:?}")))
    };
    let entries = vec![
        (
            entry(
                "Microsoft Ireland Operations Limited",
                "Azure cloud hosting of the application, its database and backups",
                "Hosting",
                &[
                    "identity",
                    "contact",
                    "health",
                    "appointments",
                    "messages",
                    "technical_logs",
                ],
                "IE, NL",
                "not_needed",
                "https://azure.microsoft.com",
            )?,
            Some(since),
        ),
        (
            entry(
                "Infobip d.o.o.",
                "Routing of appointment reminders and patient messages to messengers",
                "Messaging",
                &["contact", "appointments", "messages"],
                "HR",
                "not_needed",
                "https://www.infobip.com",
            )?,
            Some(since),
        ),
        (
            entry(
                "Meta Platforms, Inc.",
                "WhatsApp Business Cloud API for messages patients choose to receive by WhatsApp",
                "Messaging",
                &["contact", "messages"],
                "US, IE",
                "dpf",
                "https://business.whatsapp.com",
            )?,
            Some(since),
        ),
        (
            entry(
                "Razorpay Software Pvt. Ltd.",
                "Processing of clinics' subscription payments",
                "Payments",
                &["billing", "contact"],
                "IN",
                "sccs",
                "https://razorpay.com",
            )?,
            Some(since),
        ),
        (
            entry(
                "OpenAI, L.L.C.",
                "AI-assisted summaries of anonymised health data",
                "AI assistance",
                &["health"],
                "US",
                "dpf",
                "https://openai.com",
            )?,
            None,
        ),
    ];
    subprocessors::seed_if_empty(db, ctx, Publisher::Platform, entries)
        .await
        .map_err(|e| DemoError::Invalid(format!("sub-processors: {e}")))?;
    Ok(())
}

/// The demo clinic's consent purposes and cookie inventory: what a clinic
/// website with appointment booking, analytics and video consultations sets,
/// and the two things patients are asked beyond cookies.
async fn seed_consent(db: &Db, ctx: &AuditContext, clinic: ClinicId) -> Result<(), DemoError> {
    use crate::domain::consent::{CookieForm, PurposeForm};
    let purpose = |key: &str,
                   channel: &str,
                   name: (&str, &str),
                   description: (&str, &str),
                   basis: &str,
                   necessary: bool,
                   position: i32| {
        PurposeForm {
            key: key.into(),
            channel: channel.into(),
            name_en: name.0.into(),
            name_uk: name.1.into(),
            description_en: description.0.into(),
            description_uk: description.1.into(),
            legal_basis: basis.into(),
            strictly_necessary: necessary,
            position: position.to_string(),
        }
        .validate()
        .map_err(|e| DemoError::Invalid(format!("purpose {key}: {e:?}")))
    };
    let purposes = vec![
        purpose(
            "necessary",
            "website",
            ("Strictly necessary", "Суворо необхідні"),
            (
                "Keep you signed in to online booking, remember this choice and protect forms against forgery.",
                "Зберігають вхід до онлайн-запису, памʼятають цей вибір і захищають форми від підробки.",
            ),
            "legitimate_interests",
            true,
            0,
        )?,
        purpose(
            "analytics",
            "website",
            ("Visit statistics", "Статистика відвідувань"),
            (
                "Count visits and the pages used, so we can improve the website. No advertising.",
                "Підраховують відвідування та переглянуті сторінки, щоб ми покращували сайт. Без реклами.",
            ),
            "consent",
            false,
            10,
        )?,
        purpose(
            "video",
            "website",
            ("Embedded videos", "Вбудовані відео"),
            (
                "Play our explanatory videos from an external video platform, which sets its own cookies.",
                "Відтворюють наші пояснювальні відео із зовнішньої платформи, яка встановлює власні cookie.",
            ),
            "consent",
            false,
            20,
        )?,
        purpose(
            "ai_messages",
            "patient",
            (
                "AI summaries of your messages",
                "ШІ-підсумки ваших повідомлень",
            ),
            (
                "Let an AI assistant summarise your messages to the clinic so staff can answer faster. A person always reads your message.",
                "Дозвольте ШІ-асистенту підсумовувати ваші повідомлення, щоб персонал відповідав швидше. Людина завжди читає ваше повідомлення.",
            ),
            "consent",
            false,
            30,
        )?,
        purpose(
            "messenger_reminders",
            "patient",
            (
                "Appointment reminders by messenger",
                "Нагадування про прийом у месенджері",
            ),
            (
                "Send appointment reminders through a messaging app instead of SMS.",
                "Надсилати нагадування про прийом через месенджер замість SMS.",
            ),
            "consent",
            false,
            40,
        )?,
    ];
    let cookie =
        |name: &str, domain: &str, provider: &str, duration: &str, party: &str, purpose: &str| {
            CookieForm {
                name: name.into(),
                domain: domain.into(),
                provider: provider.into(),
                duration: duration.into(),
                party: party.into(),
                purpose: purpose.into(),
            }
            .validate()
            .map_err(|e| DemoError::Invalid(format!("cookie {name}: {e:?}")))
        };
    let cookies = vec![
        cookie(
            "booking_session",
            "www.lindenhof-clinic.example",
            "Lindenhof Family Clinic",
            "Session",
            "first",
            "necessary",
        )?,
        cookie(
            "cpp_consent_demo",
            "www.lindenhof-clinic.example",
            "Lindenhof Family Clinic",
            "180 days",
            "first",
            "necessary",
        )?,
        cookie(
            "_pk_id",
            "www.lindenhof-clinic.example",
            "Self-hosted web analytics",
            "13 months",
            "first",
            "analytics",
        )?,
        cookie(
            "_pk_ses",
            "www.lindenhof-clinic.example",
            "Self-hosted web analytics",
            "30 minutes",
            "first",
            "analytics",
        )?,
        cookie(
            "VISITOR_INFO1_LIVE",
            "youtube.com",
            "Google Ireland Ltd (YouTube)",
            "6 months",
            "third",
            "video",
        )?,
    ];
    consent::seed_if_empty(db, ctx, clinic, purposes, cookies)
        .await
        .map_err(|e| DemoError::Invalid(format!("consent: {e}")))?;
    Ok(())
}
