//! Patients' consents: `/c/{clinic}/consents` asks for an email address and
//! sends a link; `/c/{clinic}/consents/manage?t=…` shows the choices of
//! that address and records changes and withdrawals as new records.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{MethodRouter, post};
use http::StatusCode;

use super::auth::{ClientIp, app_error};
use super::forms::FormData;
use super::render::{self, PageRequest};
use super::{error_page, see_other};
use crate::backend::error::AppError;
use crate::backend::ratelimit::{self, Limit};
use crate::backend::services::consent::{self, Published, RecordError, RecordRow, Submission};
use crate::backend::services::patient_consent::{self as patients, Patient};
use crate::backend::state::AppState;
use crate::domain::consent::{self as rules, Channel, Choices, Source};
use crate::domain::email::EmailAddress;
use crate::domain::forms::FieldErrors;
use crate::domain::locale;

/// Routes of this module.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/c/{clinic}/consents", post(ask_link)),
        ("/c/{clinic}/consents/manage", post(save)),
    ]
}

/// Links asked from one IP address: 10 an hour.
const LINKS_PER_IP: Limit = Limit {
    max: 10,
    window: chrono::Duration::hours(1),
};
/// Links asked for one email address: 3 an hour.
const LINKS_PER_EMAIL: Limit = Limit {
    max: 3,
    window: chrono::Duration::hours(1),
};

async fn find(state: &AppState, slug: &str) -> Result<Arc<Published>, Response> {
    match consent::published(state, slug).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(error_page(
            StatusCode::NOT_FOUND,
            "There is no active clinic at this address.",
        )),
        Err(e) => Err(app_error(e.into())),
    }
}

async fn ask_link(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    page: PageRequest,
    form: FormData,
) -> Response {
    let published = match find(&state, &slug).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let sent = format!("/c/{slug}/consents/sent");
    if !form.get("website").is_empty() {
        tracing::info!("a consent link form with the honeypot filled was discarded");
        return see_other(&sent);
    }
    if published.purposes(Channel::Patient).is_empty() {
        return render::form_again(
            &state,
            &page,
            &form,
            StatusCode::CONFLICT,
            FieldErrors::new(),
            Some("consents-none".into()),
        )
        .await;
    }
    let email = match EmailAddress::parse(&form.get("email")) {
        Ok(email) => email,
        Err(e) => {
            let mut errors = FieldErrors::new();
            errors.add("email", e.to_string());
            return render::form_again(
                &state,
                &page,
                &form,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                None,
            )
            .await;
        }
    };
    let now = state.clock.now();
    let limits = (LINKS_PER_IP, LINKS_PER_EMAIL);
    match ratelimit::allow_submission(&state.db, "consent-link", &ip, email.as_str(), limits, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return render::form_again(
                &state,
                &page,
                &form,
                StatusCode::TOO_MANY_REQUESTS,
                FieldErrors::new(),
                Some("consents-rate-limited".into()),
            )
            .await;
        }
        Err(e) => return app_error(e.into()),
    }
    let locale = locale::negotiate(
        page.query("lang").as_deref(),
        page.cookie(crate::request::LANG_COOKIE).as_deref(),
        page.header("accept-language").as_deref(),
        locale::Locale::En,
    );
    match patients::send_link(&state, &published, &email, locale).await {
        Ok(()) => see_other(&sent),
        Err(e) => app_error(e),
    }
}

/// The choices sent by the manage form: "withdraw all" turns every
/// optional purpose off, "save" takes the ticked boxes.
fn posted_choices(published: &Published, form: &FormData) -> Choices {
    let ticked = form.all("purpose");
    let withdraw = form.get("choice") == "withdraw_all";
    published
        .purposes(Channel::Patient)
        .iter()
        .filter(|p| !p.strictly_necessary)
        .map(|p| (p.key.clone(), !withdraw && ticked.contains(&p.key)))
        .collect()
}

async fn save(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    page: PageRequest,
    form: FormData,
) -> Response {
    let published = match find(&state, &slug).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let token = page.query("t").unwrap_or_default();
    let Some(patient) = patients::open_link(
        &state.crypto,
        published.clinic_id,
        &token,
        state.clock.now(),
    ) else {
        return error_page(
            StatusCode::FORBIDDEN,
            "This link is not valid or has expired. Ask for a new one on the clinic's consents page.",
        );
    };
    let submission = Submission {
        subject_id: Some(patient.subject_id),
        channel: Channel::Patient,
        choices: posted_choices(&published, &form),
        source: Source::Patient,
        gpc: false,
        language: page.locale(),
    };
    match consent::record(&state, &published, submission).await {
        Ok(recorded) => see_other(&format!(
            "/c/{slug}/consents/manage?t={token}&saved={}",
            recorded.record_id
        )),
        Err(RecordError::NotConfigured) => error_page(
            StatusCode::CONFLICT,
            "This clinic does not ask its patients for any consents here.",
        ),
        Err(RecordError::Invalid(problems)) => {
            let message = rules::Problem::describe(&problems);
            render::form_again(
                &state,
                &page,
                &form,
                StatusCode::UNPROCESSABLE_ENTITY,
                FieldErrors::new(),
                Some(message),
            )
            .await
        }
        Err(RecordError::App(e)) => app_error(e),
    }
}

// ---------------------------------------------------------------------------
// Page data

/// Data of `/c/{clinic}/consents` and its "check your email" page.
pub async fn ask_page(slug: &str) -> Result<Option<Arc<Published>>, AppError> {
    let state = super::pages::app_state()?;
    Ok(consent::published(&state, slug).await?)
}

/// Data of `/c/{clinic}/consents/manage`.
pub struct ManagePage {
    pub published: Arc<Published>,
    /// `None` when the link is not valid or has expired.
    pub patient: Option<Patient>,
    /// The patient's records, newest first.
    pub history: Vec<RecordRow>,
    /// The record just saved, when it is the patient's latest.
    pub saved: Option<RecordRow>,
    /// The link's token, for the form's address.
    pub token: String,
}

impl ManagePage {
    /// The current choice of each patient purpose.
    pub fn current(&self) -> Choices {
        self.history
            .first()
            .and_then(|r| serde_json::from_value(r.choices.clone()).ok())
            .unwrap_or_default()
    }

    /// Whether the latest choice was made against another configuration.
    pub fn outdated(&self) -> bool {
        match (self.history.first(), self.published.config.as_ref()) {
            (Some(latest), Some(config)) => latest.config_id != config.id,
            _ => false,
        }
    }
}

/// Loads the manage page for the link in `?t=`.
pub async fn manage_page(slug: &str) -> Result<Option<ManagePage>, AppError> {
    let state = super::pages::app_state()?;
    let Some(published) = consent::published(&state, slug).await? else {
        return Ok(None);
    };
    let token = super::pages::query("t").unwrap_or_default();
    let patient = patients::open_link(
        &state.crypto,
        published.clinic_id,
        &token,
        state.clock.now(),
    );
    let history = match &patient {
        Some(p) => {
            consent::subject_records(
                &state.db,
                published.clinic_id,
                &p.subject_id,
                patients::HISTORY_MAX,
            )
            .await?
        }
        None => Vec::new(),
    };
    let saved = super::pages::query("saved")
        .and_then(|id| id.parse::<uuid::Uuid>().ok())
        .and_then(|id| history.first().filter(|r| r.id == id).cloned());
    Ok(Some(ManagePage {
        published,
        patient,
        history,
        saved,
        token,
    }))
}
