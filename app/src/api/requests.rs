//! The public side of privacy requests and Meta's callbacks:
//! `/c/{clinic}/requests/...` and `/c/{clinic}/meta/...`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use serde_json::json;
use uuid::Uuid;

use super::auth::{ClientIp, app_error};
use super::forms::FormData;
use super::render::{self, FormState, PageRequest};
use super::{error_page, see_other};
use crate::backend::ratelimit::{self, Limit};
use crate::backend::services::clinics::{self, PublicClinic};
use crate::backend::services::requests::{self, RequestError, meta};
use crate::backend::state::AppState;
use crate::domain::forms::FieldErrors;
use crate::domain::locale::{self, Locale};
use crate::domain::requests::RequestForm;

/// Routes of this module.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/c/{clinic}/requests/new", post(submit)),
        ("/c/{clinic}/requests/verify/{token}", post(verify)),
        ("/c/{clinic}/requests/{reference}/reply", post(reply)),
        ("/c/{clinic}/requests/{reference}/withdraw", post(withdraw)),
        (
            "/c/{clinic}/requests/{reference}/download-link",
            post(download_link),
        ),
        (
            "/c/{clinic}/requests/downloads/{grant}/{file}",
            get(download),
        ),
        ("/c/{clinic}/meta/data-deletion", post(meta_deletion)),
        ("/c/{clinic}/meta/deauthorize", post(meta_deauthorize)),
    ]
}

/// Whether `path` is called by another server rather than a browser: no
/// Origin to check and no session form token. Meta's callbacks prove
/// themselves by their signature; one-click unsubscribe (RFC 8058) comes
/// from mail providers and is authorised by the tagged token in its path.
pub fn is_server_to_server(path: &str) -> bool {
    (path.starts_with("/c/")
        && (path.ends_with("/meta/data-deletion") || path.ends_with("/meta/deauthorize")))
        || path.starts_with("/email/unsubscribe/")
        // The consent API checks the Origin against the clinic's own
        // websites (CORS) instead.
        || path.starts_with("/api/v1/")
}

/// Requests from one IP address per hour: `PORTAL_REQUEST_RATE_PER_HOUR`.
fn submit_per_ip(state: &AppState) -> Limit {
    Limit {
        max: i32::try_from(state.settings.request_rate_per_hour).unwrap_or(i32::MAX),
        window: chrono::Duration::hours(1),
    }
}
/// Requests for one email address: 5 an hour.
const SUBMIT_PER_EMAIL: Limit = Limit {
    max: 5,
    window: chrono::Duration::hours(1),
};

pub(crate) async fn active_clinic(state: &AppState, slug: &str) -> Result<PublicClinic, Response> {
    match clinics::public(state, slug).await {
        Ok(Some(clinic)) => Ok(clinic),
        Ok(None) => Err(error_page(
            StatusCode::NOT_FOUND,
            "This clinic does not exist.",
        )),
        Err(e) => Err(app_error(e.into())),
    }
}

/// The language of a public page request: `?lang=`, cookie, browser, then
/// the clinic's default.
pub(crate) fn page_locale(page: &PageRequest, clinic: &PublicClinic) -> Locale {
    locale::negotiate(
        page.query("lang").as_deref(),
        page.cookie(crate::request::LANG_COOKIE).as_deref(),
        page.header("accept-language").as_deref(),
        clinic.default_locale,
    )
}

fn request_form(form: &FormData) -> RequestForm {
    RequestForm {
        kind: form.get("kind"),
        name: form.get("name"),
        email: form.get("email"),
        phone: form.get("phone"),
        acting_as: form.get("acting_as"),
        subject_name: form.get("subject_name"),
        date_of_birth: form.get("date_of_birth"),
        patient_number: form.get("patient_number"),
        details: form.get("details"),
        acknowledged: form.checked("acknowledged"),
    }
}

async fn submit(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    page: PageRequest,
    form: FormData,
) -> Response {
    let clinic = match active_clinic(&state, &slug).await {
        Ok(clinic) => clinic,
        Err(response) => return response,
    };
    let sent = format!("/c/{slug}/requests/sent");
    // The hidden field is empty for people; bots fill it in. They get the
    // same answer as everyone, and nothing is stored.
    if !form.get("website").is_empty() {
        tracing::info!("a request form with the honeypot filled was discarded");
        return see_other(&sent);
    }
    let today = state.clock.now().date_naive();
    let request = match request_form(&form).validate(today) {
        Ok(request) => request,
        Err(errors) => {
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
    let limits = (submit_per_ip(&state), SUBMIT_PER_EMAIL);
    match ratelimit::allow_submission(
        &state.db,
        "request",
        &ip,
        request.email.as_str(),
        limits,
        now,
    )
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
                Some("request-rate-limited".into()),
            )
            .await;
        }
        Err(e) => return app_error(e.into()),
    }
    let locale = page_locale(&page, &clinic);
    match requests::submit(&state, &clinic, locale, request, page.request_id()).await {
        Ok(_) => see_other(&sent),
        Err(e) => app_error(e.into()),
    }
}

async fn verify(
    State(state): State<AppState>,
    Path((slug, token)): Path<(String, String)>,
    page: PageRequest,
    _form: FormData,
) -> Response {
    let clinic = match active_clinic(&state, &slug).await {
        Ok(clinic) => clinic,
        Err(response) => return response,
    };
    match requests::verify(&state, clinic.id, &token, page.request_id()).await {
        Ok(status_path) => see_other(&status_path),
        Err(RequestError::InvalidLink) => {
            let form = FormState {
                message: Some("request-verify-invalid".into()),
                ..FormState::default()
            };
            render::page(&state, page, StatusCode::BAD_REQUEST, form).await
        }
        Err(e) => request_error(e),
    }
}

/// The answer for a service error on a public page.
fn request_error(error: RequestError) -> Response {
    match error {
        RequestError::InvalidLink | RequestError::NotFound => error_page(
            StatusCode::NOT_FOUND,
            "This link is not valid. Use the link from the clinic's latest email.",
        ),
        RequestError::NotAllowed(e) => error_page(StatusCode::CONFLICT, e.to_string()),
        RequestError::Extension(e) => error_page(StatusCode::CONFLICT, e.to_string()),
        RequestError::Invalid(message) => error_page(StatusCode::UNPROCESSABLE_ENTITY, message),
        RequestError::Db(e) => app_error(e.into()),
    }
}

fn status_path(slug: &str, reference: &str, token: &str) -> String {
    let token: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
    format!("/c/{slug}/requests/{reference}?t={token}")
}

async fn reply(
    State(state): State<AppState>,
    Path((slug, reference)): Path<(String, String)>,
    page: PageRequest,
    form: FormData,
) -> Response {
    let clinic = match active_clinic(&state, &slug).await {
        Ok(clinic) => clinic,
        Err(response) => return response,
    };
    let token = form.get("t");
    match requests::reply(
        &state,
        clinic.id,
        &reference,
        &token,
        &form.get("body"),
        page.request_id(),
    )
    .await
    {
        Ok(()) => see_other(&status_path(&slug, &reference, &token)),
        Err(RequestError::Invalid(key)) => {
            let mut errors = FieldErrors::new();
            errors.add("body", key);
            let page = page.at(&status_path(&slug, &reference, &token));
            render::form_again(
                &state,
                &page,
                &form,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                None,
            )
            .await
        }
        Err(e) => request_error(e),
    }
}

async fn withdraw(
    State(state): State<AppState>,
    Path((slug, reference)): Path<(String, String)>,
    page: PageRequest,
    form: FormData,
) -> Response {
    let clinic = match active_clinic(&state, &slug).await {
        Ok(clinic) => clinic,
        Err(response) => return response,
    };
    let token = form.get("t");
    match requests::withdraw(&state, clinic.id, &reference, &token, page.request_id()).await {
        Ok(()) => see_other(&status_path(&slug, &reference, &token)),
        Err(e) => request_error(e),
    }
}

async fn download_link(
    State(state): State<AppState>,
    Path((slug, reference)): Path<(String, String)>,
    form: FormData,
) -> Response {
    let clinic = match active_clinic(&state, &slug).await {
        Ok(clinic) => clinic,
        Err(response) => return response,
    };
    let token = form.get("t");
    match requests::send_download_link(&state, clinic.id, &reference, &token).await {
        Ok(()) => see_other(&format!(
            "{}&sent=1",
            status_path(&slug, &reference, &token)
        )),
        Err(e) => request_error(e),
    }
}

async fn download(
    State(state): State<AppState>,
    Path((slug, grant, file)): Path<(String, String, String)>,
    page: PageRequest,
) -> Response {
    let clinic = match active_clinic(&state, &slug).await {
        Ok(clinic) => clinic,
        Err(response) => return response,
    };
    let Ok(file) = file.parse::<Uuid>() else {
        return error_page(StatusCode::NOT_FOUND, "This file does not exist.");
    };
    match requests::download(&state, clinic.id, &grant, file, page.request_id()).await {
        Ok(content) => file_response(content),
        Err(e) => request_error(e),
    }
}

/// A file as an attachment that browsers never render inline.
pub fn file_response(content: requests::FileContent) -> Response {
    let ascii: String = content
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = form_urlencoded::byte_serialize(content.filename.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    (
        [
            (CONTENT_TYPE, content.content_type),
            (CONTENT_DISPOSITION, disposition),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from(content.bytes),
    )
        .into_response()
}

/// A JSON error for Meta; nothing is stored.
fn meta_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The `signed_request` of a Meta callback (an urlencoded form; Meta calls
/// without a browser session).
async fn signed_request(request: axum::extract::Request) -> Result<String, Response> {
    let bytes = axum::body::to_bytes(request.into_body(), 16 * 1024)
        .await
        .map_err(|_| {
            meta_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large",
            )
        })?;
    let value = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "signed_request")
        .map(|(_, v)| v.into_owned());
    value.ok_or_else(|| meta_error(StatusCode::BAD_REQUEST, "signed_request is missing"))
}

/// The clinic and the verified content of a Meta callback, or the JSON
/// error that refuses it.
async fn verified_callback(
    state: &AppState,
    slug: &str,
    request: axum::extract::Request,
) -> Result<(PublicClinic, meta::VerifiedCallback), Response> {
    let clinic = match clinics::public(state, slug).await {
        Ok(Some(clinic)) => clinic,
        Ok(None) => return Err(meta_error(StatusCode::NOT_FOUND, "unknown clinic")),
        Err(e) => return Err(app_error(e.into())),
    };
    let input = signed_request(request).await?;
    match meta::verify(state, clinic.id, &input).await {
        Ok(signed) => Ok((clinic, signed)),
        Err(meta::CallbackError::NotConfigured) => Err(meta_error(
            StatusCode::NOT_FOUND,
            "this clinic does not accept Meta callbacks",
        )),
        Err(meta::CallbackError::Invalid(e)) => {
            Err(meta_error(StatusCode::BAD_REQUEST, e.to_string()))
        }
        Err(meta::CallbackError::Db(e)) => Err(app_error(e.into())),
    }
}

async fn meta_deletion(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    page: PageRequest,
    request: axum::extract::Request,
) -> Response {
    let (clinic, signed) = match verified_callback(&state, &slug, request).await {
        Ok(verified) => verified,
        Err(response) => return response,
    };
    match meta::create_deletion(&state, clinic.id, signed, page.request_id()).await {
        Ok(code) => Json(json!({
            "url": state.settings.url(&format!("/c/{slug}/meta/deletion-status/{code}")),
            "confirmation_code": code,
        }))
        .into_response(),
        Err(e) => app_error(e.into()),
    }
}

async fn meta_deauthorize(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    page: PageRequest,
    request: axum::extract::Request,
) -> Response {
    let (clinic, signed) = match verified_callback(&state, &slug, request).await {
        Ok(verified) => verified,
        Err(response) => return response,
    };
    match meta::record_deauthorization(&state, clinic.id, &signed, page.request_id()).await {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => app_error(e.into()),
    }
}
