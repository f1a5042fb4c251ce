//! Consent: the JSON API the banner calls (CORS limited to the clinic's
//! websites, rate limited per address, strictly validated), the banner
//! script, the receipt key and the JSON Schema of receipts, the OpenAPI
//! document, the public settings page's form, and the admin forms and
//! exports under `/admin/c/{clinic}/consent`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use chrono::{DateTime, Utc};
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, ORIGIN, SET_COOKIE,
    VARY,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::admin::actor;
use super::auth::{ClientIp, app_error};
use super::guard;
use super::notices::{EditArgs, form_state};
use super::render;
use super::subprocessors::{invalid, refused};
use super::{error_page, flash, see_other};
use crate::backend::audit::AuditContext;
use crate::backend::auth::visitor::{ClinicAccess, Flash, SignedInUser};
use crate::backend::error::AppError;
use crate::backend::services::consent::{
    self, Published, RecordError, RecordFilter, RecordRow, Submission,
};
use crate::backend::state::{AppState, Environment};
use crate::domain::consent::{
    self as rules, Channel, Choices, CookieForm, PurposeForm, Source, StoredChoice,
};
use crate::domain::forms::FieldErrors;
use crate::domain::locale;
use crate::domain::permissions::ClinicPermission;
use crate::domain::text::parse_date;

/// Largest consent API body.
pub const API_BODY_LIMIT: usize = 16 * 1024;
/// The browser cookie that keeps a visitor's choice on the settings page.
pub const CHOICE_COOKIE: &str = "portal_consent";
/// How long a choice is kept in the browser.
pub const CHOICE_MAX_AGE_DAYS: i64 = 180;

/// The banner script.
pub const CONSENT_JS: &str = include_str!("../../../public/consent.js");
/// The consent API's OpenAPI document.
pub const OPENAPI: &str = include_str!("../../../docs/consent-api.openapi.json");
/// The JSON Schema of receipt payloads, without its `$id` (the address it is
/// served at, under the portal's base URL).
pub const RECEIPT_SCHEMA: &str = include_str!("../../../docs/consent-receipt.schema.json");

/// Routes of this module.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        (
            "/api/v1/c/{clinic}/consent-config",
            get(api_config).options(preflight),
        ),
        (
            "/api/v1/c/{clinic}/consents",
            post(api_record)
                .options(preflight)
                .layer(DefaultBodyLimit::max(API_BODY_LIMIT)),
        ),
        ("/api/v1/openapi.json", get(openapi)),
        ("/c/{clinic}/consent.js", get(script)),
        ("/c/{clinic}/consent-receipt-key", get(receipt_key)),
        (
            "/c/{clinic}/consent-receipt-schema.json",
            get(receipt_schema),
        ),
        ("/c/{clinic}/cookies", post(settings_page_choice)),
        (
            "/admin/c/{clinic}/consent/purposes/new",
            post(create_purpose),
        ),
        (
            "/admin/c/{clinic}/consent/purposes/{id}",
            post(purpose_action),
        ),
        ("/admin/c/{clinic}/consent/cookies/new", post(create_cookie)),
        (
            "/admin/c/{clinic}/consent/cookies/{id}",
            post(cookie_action),
        ),
        ("/admin/c/{clinic}/consent/records.csv", get(export_csv)),
    ]
}

// ---------------------------------------------------------------------------
// JSON API

/// A JSON error body: a sentence, and per-field problems when there are some.
fn api_error(status: StatusCode, message: &str, problems: &[rules::Problem]) -> Response {
    let mut body = json!({ "error": message });
    if !problems.is_empty() {
        body["problems"] = json!(problems);
    }
    (status, axum::Json(body)).into_response()
}

fn header_text(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Adds CORS headers when the request's `Origin` is one of the clinic's
/// websites; other origins get none, so browsers keep the answer from them.
fn cors(published: &Published, headers: &HeaderMap, response: Response) -> Response {
    let mut response = response;
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = header_text(headers, ORIGIN)
        && published.allows_origin(origin)
        && let Ok(value) = HeaderValue::from_str(origin)
    {
        response
            .headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    response
}

/// A 403 for a browser on a site the clinic has not listed.
fn origin_refused(published: &Published, headers: &HeaderMap) -> Option<Response> {
    let origin = header_text(headers, ORIGIN)?;
    if published.allows_origin(origin) {
        return None;
    }
    Some(api_error(
        StatusCode::FORBIDDEN,
        &format!(
            "The origin {origin} is not one of this clinic's websites. The clinic adds it under Clinic settings, Website origins."
        ),
        &[],
    ))
}

async fn find(state: &AppState, slug: &str) -> Result<Arc<Published>, Response> {
    match consent::published(state, slug).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(api_error(
            StatusCode::NOT_FOUND,
            "There is no active clinic at this address.",
            &[],
        )),
        Err(e) => {
            tracing::error!(error = %e, "loading the consent configuration failed");
            Err(api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Please try again shortly.",
                &[],
            ))
        }
    }
}

async fn preflight(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let published = match find(&state, &slug).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Some(refused) = origin_refused(&published, &headers) {
        return refused;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    h.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, sec-gpc"),
    );
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    cors(&published, &headers, response)
}

/// The configuration as the API and the banner see it.
fn config_json(state: &AppState, published: &Published) -> serde_json::Value {
    let purposes: Vec<serde_json::Value> = published
        .purposes(Channel::Website)
        .into_iter()
        .map(|p| {
            let cookies: Vec<_> = published
                .cookies
                .iter()
                .filter(|c| c.purpose == p.key)
                .map(|c| {
                    json!({
                        "name": c.name, "domain": c.domain, "provider": c.provider,
                        "duration": c.duration, "party": c.party,
                    })
                })
                .collect();
            json!({
                "key": p.key,
                "name": p.name,
                "description": p.description,
                "legal_basis": p.legal_basis,
                "strictly_necessary": p.strictly_necessary,
                "cookies": cookies,
            })
        })
        .collect();
    let config = published.config.as_ref();
    json!({
        "clinic": { "slug": published.slug, "name": published.clinic_name },
        "version": config.map_or(0, |c| c.version),
        "content_hash": config.map(|c| c.content_hash.clone()),
        "purposes": purposes,
        "settings_url": state.settings.url(&format!("/c/{}/cookies", published.slug)),
        "privacy_url": state.settings.url(&format!("/c/{}/privacy", published.slug)),
        "receipt_key_url": state.settings.url(&format!("/c/{}/consent-receipt-key", published.slug)),
        "receipt_schema_url": receipt_schema_url(state, &published.slug),
        "consents_url": state.settings.url(&format!("/api/v1/c/{}/consents", published.slug)),
    })
}

async fn api_config(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let published = match find(&state, &slug).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let mut response = axum::Json(config_json(&state, &published)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    cors(&published, &headers, response)
}

fn sends_gpc(headers: &HeaderMap) -> bool {
    header_text(headers, "sec-gpc").is_some_and(|v| v.trim() == "1")
}

/// The answer to a recorded choice (`Recorded` in the OpenAPI document).
#[derive(serde::Serialize)]
struct RecordedBody<'a> {
    record_id: Uuid,
    subject_id: &'a str,
    config_version: i32,
    content_hash: &'a str,
    choices: &'a Choices,
    gpc: bool,
    receipt: &'a rules::Receipt,
    receipt_jws: &'a str,
    receipt_key_url: String,
    receipt_schema_url: String,
}

async fn api_record(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let published = match find(&state, &slug).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let respond = |response: Response| cors(&published, &headers, response);
    if let Some(refused) = origin_refused(&published, &headers) {
        return refused;
    }
    if !state.consent.allow(&ip) {
        let mut response = api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many consent requests from this address. Please wait a moment and try again.",
            &[],
        );
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("10"));
        return respond(response);
    }
    let json_type = header_text(&headers, CONTENT_TYPE).is_some_and(|t| {
        let essence = t.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/json")
    });
    if !json_type {
        return respond(api_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the choice as JSON with Content-Type: application/json.",
            &[],
        ));
    }
    let body = match rules::parse_posted_choice(&body) {
        Ok(body) => body,
        Err(rules::PostedChoiceError::Malformed(e)) => {
            return respond(api_error(
                StatusCode::BAD_REQUEST,
                &format!("The body is not a valid consent choice: {e}."),
                &[],
            ));
        }
        Err(rules::PostedChoiceError::Invalid(problems)) => {
            return respond(api_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The choice was not recorded.",
                &problems,
            ));
        }
    };
    if let (Some(sent), Some(config)) = (&body.content_hash, &published.config)
        && sent != &config.content_hash
    {
        let response = api_error(
            StatusCode::CONFLICT,
            "The clinic's purposes changed since this choice was shown. Fetch the configuration again and ask the visitor again.",
            &[],
        );
        return respond(response);
    }
    let submission = Submission {
        subject_id: body.subject_id,
        channel: Channel::Website,
        choices: body.choices,
        source: body.source,
        gpc: body.gpc || sends_gpc(&headers),
        // The banner says which language it asked in; other callers are
        // taken at their Accept-Language.
        language: body.language.unwrap_or_else(|| {
            locale::negotiate(
                None,
                None,
                header_text(&headers, http::header::ACCEPT_LANGUAGE),
                locale::Locale::En,
            )
        }),
    };
    match consent::record(&state, &published, submission).await {
        Ok(recorded) => {
            let body = RecordedBody {
                record_id: recorded.record_id,
                subject_id: &recorded.subject_id,
                config_version: recorded.config_version,
                content_hash: &recorded.content_hash,
                choices: &recorded.choices,
                gpc: recorded.receipt.global_privacy_control,
                receipt: &recorded.receipt,
                receipt_jws: &recorded.receipt_jws,
                receipt_key_url: state
                    .settings
                    .url(&format!("/c/{}/consent-receipt-key", published.slug)),
                receipt_schema_url: receipt_schema_url(&state, &published.slug),
            };
            respond((StatusCode::CREATED, axum::Json(body)).into_response())
        }
        Err(RecordError::NotConfigured) => respond(api_error(
            StatusCode::CONFLICT,
            "This clinic has not set up any consent purposes yet.",
            &[],
        )),
        Err(RecordError::Invalid(problems)) => respond(api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The choice was not recorded.",
            &problems,
        )),
        Err(RecordError::App(e)) => {
            tracing::error!(error = %e, "recording a consent failed");
            respond(api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The choice could not be stored just now. Please try again shortly.",
                &[],
            ))
        }
    }
}

async fn openapi() -> Response {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "public, max-age=300"),
            (ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        OPENAPI,
    )
        .into_response()
}

async fn script(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    match consent::published(&state, &slug).await {
        Ok(Some(_)) => (
            [
                (CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (CACHE_CONTROL, "public, max-age=300"),
                (
                    http::header::HeaderName::from_static("cross-origin-resource-policy"),
                    "cross-origin",
                ),
            ],
            CONSENT_JS,
        )
            .into_response(),
        Ok(None) => error_page(
            StatusCode::NOT_FOUND,
            "There is no active clinic at this address.",
        ),
        Err(e) => app_error(e.into()),
    }
}

async fn receipt_key(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    let published = match find(&state, &slug).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match consent::public_key(&state, published.clinic_id).await {
        Ok(key) => (
            [
                (CONTENT_TYPE, "application/jwk-set+json"),
                (CACHE_CONTROL, "public, max-age=3600"),
                (ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            json!({ "keys": [rules::public_jwk(&key)] }).to_string(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "loading the receipt key failed");
            api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Please try again shortly.",
                &[],
            )
        }
    }
}

/// Where the JSON Schema of a clinic's receipts is served; also its `$id`.
fn receipt_schema_url(state: &AppState, slug: &str) -> String {
    state
        .settings
        .url(&format!("/c/{slug}/consent-receipt-schema.json"))
}

/// The JSON Schema of receipt payloads, beside the clinic's key, so that a
/// party holding a receipt finds both at the clinic's address. Its `$id` is
/// that absolute address.
async fn receipt_schema(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    let published = match find(&state, &slug).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    super::schema::response(RECEIPT_SCHEMA, &receipt_schema_url(&state, &published.slug))
}

// ---------------------------------------------------------------------------
// The public settings page (works without JavaScript)

/// The choice kept in the visitor's cookie, if it is readable.
pub fn stored_choice(cookie: Option<String>) -> Option<StoredChoice> {
    cookie.as_deref().and_then(StoredChoice::decode)
}

fn choice_cookie(state: &AppState, slug: &str, stored: &StoredChoice) -> String {
    let secure = if state.settings.environment == Environment::Production {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{CHOICE_COOKIE}={}; Path=/c/{slug}/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        stored.encode(),
        CHOICE_MAX_AGE_DAYS * 86_400
    )
}

async fn settings_page_choice(Path(slug): Path<String>, args: EditArgs) -> Response {
    let state = args.state.clone();
    let published = match consent::published(&state, &slug).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "There is no active clinic at this address.",
            );
        }
        Err(e) => return app_error(e.into()),
    };
    let asked = published.purposes(Channel::Website);
    // Strictly necessary purposes are on whatever is sent; the buttons
    // decide the optional ones, "Save my choices" takes the ticked boxes.
    let ticked = args.form.all("purpose");
    let button = args.form.get("choice");
    let choices: Choices = asked
        .iter()
        .filter(|p| !p.strictly_necessary)
        .map(|p| {
            let on = match button.as_str() {
                "accept_all" => true,
                "reject_all" => false,
                _ => ticked.contains(&p.key),
            };
            (p.key.clone(), on)
        })
        .collect();
    let previous = stored_choice(args.page.cookie(CHOICE_COOKIE));
    let gpc = args.page.header("sec-gpc").is_some_and(|v| v.trim() == "1");
    let submission = Submission {
        subject_id: previous.map(|p| p.subject_id),
        channel: Channel::Website,
        choices,
        source: Source::SettingsPage,
        gpc,
        language: args.page.locale(),
    };
    match consent::record(&state, &published, submission).await {
        Ok(recorded) => {
            let stored = StoredChoice {
                subject_id: recorded.subject_id.clone(),
                content_hash: recorded.content_hash.clone(),
                choices: recorded.choices.clone(),
            };
            let mut response =
                see_other(&format!("/c/{slug}/cookies?saved={}", recorded.record_id));
            if let Ok(value) = HeaderValue::from_str(&choice_cookie(&state, &slug, &stored)) {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            response
        }
        Err(RecordError::NotConfigured) => error_page(
            StatusCode::CONFLICT,
            "This clinic has not set up any consent purposes yet.",
        ),
        Err(RecordError::Invalid(problems)) => {
            let message = rules::Problem::describe(&problems);
            render::page(
                &state,
                args.page.clone(),
                StatusCode::UNPROCESSABLE_ENTITY,
                form_state(&args.form, FieldErrors::new(), Some(message)),
            )
            .await
        }
        Err(RecordError::App(e)) => app_error(e),
    }
}

/// A record shown back to the visitor who made it: the one in `?saved=`,
/// when it belongs to the subject in their cookie.
pub async fn saved_record(
    state: &AppState,
    published: &Published,
    record: &str,
    subject: &str,
) -> Option<RecordRow> {
    let id = record.parse::<Uuid>().ok()?;
    let latest = consent::latest_for_subject(&state.db, published.clinic_id, subject)
        .await
        .ok()??;
    (latest.id == id).then_some(latest)
}

// ---------------------------------------------------------------------------
// Admin forms

fn manager(args: &EditArgs, slug: &str) -> Result<(SignedInUser, ClinicAccess), guard::Denied> {
    guard::clinic(
        &args.visitor,
        &args.page.path(),
        slug,
        ClinicPermission::ManageConsent,
    )
}

/// The manager of `slug` who ticked the confirmation box of a destructive
/// action, as an audit actor; otherwise the answer that refuses it.
async fn confirmed_manager(
    args: &EditArgs,
    slug: &str,
    unticked: &str,
) -> Result<(AuditContext, ClinicAccess), Response> {
    let (user, access) = manager(args, slug).map_err(|denied| denied.response())?;
    if !args.form.checked("confirm") {
        return Err(invalid(args, FieldErrors::new(), Some(unticked.to_owned())).await);
    }
    Ok((actor(&user, args.request_id.clone()), access))
}

fn purpose_form(form: &super::forms::FormData) -> PurposeForm {
    PurposeForm {
        key: form.get("key"),
        channel: form.get("channel"),
        name_en: form.get("name_en"),
        name_uk: form.get("name_uk"),
        description_en: form.get("description_en"),
        description_uk: form.get("description_uk"),
        legal_basis: form.get("legal_basis"),
        strictly_necessary: form.checked("strictly_necessary"),
        position: form.get("position"),
    }
}

fn cookie_form(form: &super::forms::FormData) -> CookieForm {
    CookieForm {
        name: form.get("name"),
        domain: form.get("domain"),
        provider: form.get("provider"),
        duration: form.get("duration"),
        party: form.get("party"),
        purpose: form.get("purpose"),
    }
}

fn version_message(done: &str, version: Option<i32>) -> String {
    match version {
        Some(v) => format!(
            "{done} Version {v} of the consent configuration is published: visitors who chose before will be asked again."
        ),
        None => format!("{done} What visitors are asked did not change."),
    }
}

async fn save_purpose(args: EditArgs, slug: &str, id: Option<Uuid>) -> Response {
    let (user, access) = match manager(&args, slug) {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    let purpose = match purpose_form(&args.form).validate() {
        Ok(purpose) => purpose,
        Err(errors) => return invalid(&args, errors, None).await,
    };
    let ctx = actor(&user, args.request_id.clone());
    match consent::save_purpose(&args.state, &ctx, access.clinic_id, id, purpose).await {
        Ok(version) => {
            let done = if id.is_some() {
                "Purpose saved."
            } else {
                "Purpose added."
            };
            flash(
                &args.session,
                Flash::success(version_message(done, version)),
            )
            .await;
            see_other(&format!("/admin/c/{slug}/consent"))
        }
        Err(e) => refused(&args, e).await,
    }
}

async fn create_purpose(Path(slug): Path<String>, args: EditArgs) -> Response {
    save_purpose(args, &slug, None).await
}

async fn purpose_action(Path((slug, id)): Path<(String, String)>, args: EditArgs) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return error_page(StatusCode::NOT_FOUND, "This purpose does not exist.");
    };
    if args.form.get("intent") != "archive" {
        return save_purpose(args, &slug, Some(id)).await;
    }
    let (ctx, access) = match confirmed_manager(
        &args,
        &slug,
        "Tick the box to confirm that visitors should no longer be asked about this purpose.",
    )
    .await
    {
        Ok(found) => found,
        Err(response) => return response,
    };
    match consent::archive_purpose(&args.state, &ctx, access.clinic_id, id).await {
        Ok(version) => {
            flash(
                &args.session,
                Flash::success(version_message(
                    "Purpose archived; its past records are kept.",
                    version,
                )),
            )
            .await;
            see_other(&format!("/admin/c/{slug}/consent"))
        }
        Err(e) => refused(&args, e).await,
    }
}

async fn save_cookie(args: EditArgs, slug: &str, id: Option<Uuid>) -> Response {
    let (user, access) = match manager(&args, slug) {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    let cookie = match cookie_form(&args.form).validate() {
        Ok(cookie) => cookie,
        Err(errors) => return invalid(&args, errors, None).await,
    };
    let ctx = actor(&user, args.request_id.clone());
    match consent::save_cookie(&args.state, &ctx, access.clinic_id, id, cookie).await {
        Ok(()) => {
            let done = if id.is_some() {
                "Cookie saved."
            } else {
                "Cookie added to the inventory."
            };
            flash(&args.session, Flash::success(done)).await;
            see_other(&format!("/admin/c/{slug}/consent#cookies"))
        }
        Err(e) => refused(&args, e).await,
    }
}

async fn create_cookie(Path(slug): Path<String>, args: EditArgs) -> Response {
    save_cookie(args, &slug, None).await
}

async fn cookie_action(Path((slug, id)): Path<(String, String)>, args: EditArgs) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return error_page(StatusCode::NOT_FOUND, "This cookie does not exist.");
    };
    if args.form.get("intent") != "delete" {
        return save_cookie(args, &slug, Some(id)).await;
    }
    let (ctx, access) =
        match confirmed_manager(&args, &slug, "Tick the box to confirm the removal.").await {
            Ok(found) => found,
            Err(response) => return response,
        };
    match consent::delete_cookie(&args.state, &ctx, access.clinic_id, id).await {
        Ok(()) => {
            flash(
                &args.session,
                Flash::success("Cookie removed from the inventory."),
            )
            .await;
            see_other(&format!("/admin/c/{slug}/consent#cookies"))
        }
        Err(e) => refused(&args, e).await,
    }
}

/// Reads the records filter from a query string (lenient: unusable values
/// are ignored, and reported by [`filter_problems`]).
pub fn record_filter(query: impl Fn(&str) -> Option<String>) -> RecordFilter {
    let text = |name: &str| {
        query(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    RecordFilter {
        subject: text("subject").filter(|s| s.len() <= 100),
        source: text("source").and_then(|s| s.parse().ok()),
        given: text("given").and_then(|g| rules::parse_key(&g).ok()),
        from: text("from").and_then(|d| parse_date(&d)),
        to: text("to").and_then(|d| parse_date(&d)),
    }
}

/// What was wrong with the filter's values, for the page to show.
pub fn filter_problems(query: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, label) in [("from", "From"), ("to", "To")] {
        if let Some(v) = query(name).filter(|v| !v.trim().is_empty())
            && parse_date(&v).is_none()
        {
            problems.push(format!(
                "{label} must be a date such as 2026-01-31; it was ignored."
            ));
        }
    }
    if query("subject").is_some_and(|s| s.trim().len() > 100) {
        problems.push("The subject id is longer than 100 characters; it was ignored.".into());
    }
    problems
}

fn csv_line(row: &RecordRow, versions: &HashMap<Uuid, i32>) -> String {
    crate::domain::csv::line([
        row.id.to_string(),
        row.recorded_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        row.subject_id.clone(),
        versions
            .get(&row.config_id)
            .copied()
            .unwrap_or(0)
            .to_string(),
        row.source.clone(),
        row.gpc.to_string(),
        serde_json::to_string(&row.choices).unwrap_or_default(),
        row.receipt.clone(),
    ])
}

/// The records as CSV, oldest first, streamed in chunks: memory stays flat
/// however many there are.
async fn export_csv(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    request: axum::extract::Request,
) -> Response {
    let visitor = request
        .extensions()
        .get::<crate::backend::auth::visitor::Visitor>()
        .cloned()
        .unwrap_or_default();
    let path = request.uri().path().to_owned();
    let (user, access) =
        match guard::clinic(&visitor, &path, &slug, ClinicPermission::ManageConsent) {
            Ok(found) => found,
            Err(denied) => return denied.response(),
        };
    let filter = record_filter(|name| crate::request::query_param(query.as_deref(), name));
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ctx = actor(&user, request_id);
    let versions = match consent::start_export(&state.db, &ctx, access.clinic_id, &filter).await {
        Ok(v) => Arc::new(v),
        Err(e) => return app_error(e),
    };
    let header =
        "record_id,recorded_at,subject_id,config_version,source,gpc,choices,receipt_jws\r\n";
    let clinic = access.clinic_id;
    type Cursor = Option<Option<(DateTime<Utc>, Uuid)>>;
    let start: Cursor = Some(None);
    let chunks = futures::stream::unfold(start, move |cursor| {
        let state = state.clone();
        let filter = filter.clone();
        let versions = versions.clone();
        async move {
            let after = cursor?;
            match consent::export_chunk(&state.db, clinic, filter, after).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let next = rows.last().map(|r| (r.recorded_at, r.id));
                    let text: String = rows.iter().map(|r| csv_line(r, &versions)).collect();
                    Some((Ok::<_, std::io::Error>(Bytes::from(text)), Some(next)))
                }
                Err(e) => {
                    tracing::error!(error = %e, "exporting consent records failed");
                    Some((Err(std::io::Error::other("export interrupted")), None))
                }
            }
        }
    });
    let body = futures::StreamExt::chain(
        futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(header)) }),
        chunks,
    );
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"consent-records-{slug}.csv\""),
            ),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

// ---------------------------------------------------------------------------
// Page data

/// The admin consent page.
pub struct AdminConsent {
    pub access: ClinicAccess,
    pub can_manage: bool,
    pub settings: consent::Settings,
    /// The `<script>` tag clinics paste into their websites.
    pub snippet: String,
}

/// Data of `/admin/c/{clinic}/consent`.
pub async fn admin_settings(slug: &str) -> Result<AdminConsent, super::pages::PageError> {
    let (_, access) = super::pages::clinic_member(slug, ClinicPermission::View)?;
    let state = super::pages::app_state()?;
    let settings = consent::settings(&state.db, access.clinic_id).await?;
    let can_manage =
        crate::domain::permissions::allows(access.role, ClinicPermission::ManageConsent);
    let snippet = format!(
        "<script src=\"{}\" defer></script>",
        state
            .settings
            .url(&format!("/c/{}/consent.js", access.slug))
    );
    Ok(AdminConsent {
        access,
        can_manage,
        settings,
        snippet,
    })
}

/// Data of the purpose form (`id` `None`: a new purpose).
pub async fn admin_purpose(
    slug: &str,
    id: Option<String>,
) -> Result<(ClinicAccess, Option<consent::PurposeRow>), super::pages::PageError> {
    let (_, access) = super::pages::clinic_member(slug, ClinicPermission::ManageConsent)?;
    let state = super::pages::app_state()?;
    let Some(id) = id else {
        return Ok((access, None));
    };
    let row = match id.parse::<Uuid>() {
        Ok(id) => consent::purpose(&state.db, access.clinic_id, id).await?,
        Err(_) => None,
    };
    match row {
        Some(row) => Ok((access, Some(row))),
        None => Err(AppError::NotFound.into()),
    }
}

/// Data of the cookie form: the cookie, and the website purposes to choose
/// from as `(key, name)`.
pub async fn admin_cookie(
    slug: &str,
    id: Option<String>,
) -> Result<
    (
        ClinicAccess,
        Option<consent::CookieRow>,
        Vec<(String, String)>,
    ),
    super::pages::PageError,
> {
    let (_, access) = super::pages::clinic_member(slug, ClinicPermission::ManageConsent)?;
    let state = super::pages::app_state()?;
    let settings = consent::settings(&state.db, access.clinic_id).await?;
    let purposes = settings
        .purposes
        .iter()
        .filter(|p| p.archived_at.is_none() && p.channel == Channel::Website.as_str())
        .map(|p| (p.key.clone(), format!("{} ({})", p.name_en, p.key)))
        .collect();
    let Some(id) = id else {
        return Ok((access, None, purposes));
    };
    let row = id
        .parse::<Uuid>()
        .ok()
        .and_then(|id| settings.cookies.into_iter().find(|c| c.id == id));
    match row {
        Some(row) => Ok((access, Some(row), purposes)),
        None => Err(AppError::NotFound.into()),
    }
}

/// The records page.
pub struct AdminRecords {
    pub access: ClinicAccess,
    pub can_export: bool,
    pub records: crate::domain::pagination::Page<consent::RecordListItem>,
    pub filter: RecordFilter,
    pub problems: Vec<String>,
    pub rates: Vec<rules::WeeklyRate>,
    /// The filter as a query string (for the pager and the export link).
    pub query: String,
    /// Purpose keys to filter by.
    pub purposes: Vec<String>,
}

/// Weeks shown in the opt-in chart.
pub const CHART_WEEKS: i64 = 12;

/// Data of `/admin/c/{clinic}/consent/records`.
pub async fn admin_records(slug: &str) -> Result<AdminRecords, super::pages::PageError> {
    let (_, access) = super::pages::clinic_member(slug, ClinicPermission::View)?;
    let state = super::pages::app_state()?;
    let query = super::pages::query;
    let filter = record_filter(query);
    let problems = filter_problems(query);
    let page = crate::domain::pagination::PageRequest::from_query(query("page").as_deref());
    let records = consent::records(&state.db, access.clinic_id, filter.clone(), page).await?;
    let rates =
        consent::weekly_rates(&state.db, access.clinic_id, state.clock.now(), CHART_WEEKS).await?;
    let purposes = consent::optional_purpose_keys(&state.db, access.clinic_id).await?;
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    for name in ["subject", "source", "given", "from", "to"] {
        if let Some(v) = query(name).filter(|v| !v.trim().is_empty()) {
            pairs.append_pair(name, v.trim());
        }
    }
    Ok(AdminRecords {
        can_export: crate::domain::permissions::allows(
            access.role,
            ClinicPermission::ManageConsent,
        ),
        access,
        records,
        filter,
        problems,
        rates,
        query: pairs.finish(),
        purposes,
    })
}

/// The public settings page.
pub struct PublicCookies {
    pub published: Arc<Published>,
    /// The visitor's earlier choice, from their cookie.
    pub stored: Option<StoredChoice>,
    /// Whether that choice was made against another configuration.
    pub outdated: bool,
    /// Whether the browser sends Global Privacy Control.
    pub gpc: bool,
    /// The record just saved, shown with its receipt.
    pub saved: Option<RecordRow>,
}

/// Data of `/c/{clinic}/cookies`.
pub async fn public_cookies(slug: &str) -> Result<Option<PublicCookies>, AppError> {
    let state = super::pages::app_state()?;
    let Some(published) = consent::published(&state, slug).await? else {
        return Ok(None);
    };
    let parts = leptos::prelude::use_context::<http::request::Parts>();
    let stored = stored_choice(
        parts
            .as_ref()
            .and_then(|p| crate::request::cookie(p, CHOICE_COOKIE)),
    );
    let gpc = parts.as_ref().is_some_and(|p| sends_gpc(&p.headers));
    let current_hash = published.config.as_ref().map(|c| c.content_hash.clone());
    let outdated = stored
        .as_ref()
        .is_some_and(|s| Some(&s.content_hash) != current_hash.as_ref());
    let saved = match (super::pages::query("saved"), &stored) {
        (Some(record), Some(stored)) => {
            saved_record(&state, &published, &record, &stored.subject_id).await
        }
        _ => None,
    };
    Ok(Some(PublicCookies {
        published,
        stored,
        outdated,
        gpc,
        saved,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_stays_under_ten_kilobytes_gzipped() {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(CONSENT_JS.as_bytes()).expect("gzip");
        let size = encoder.finish().expect("gzip").len();
        println!(
            "consent.js: {} bytes, {size} bytes gzipped",
            CONSENT_JS.len()
        );
        assert!(size <= 10 * 1024, "consent.js is {size} bytes gzipped");
    }

    #[test]
    fn the_openapi_document_is_json_and_names_both_operations() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("JSON");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        assert!(doc["paths"]["/api/v1/c/{clinic}/consent-config"]["get"].is_object());
        assert!(doc["paths"]["/api/v1/c/{clinic}/consents"]["post"].is_object());
    }
}
