//! Retention and export forms of a clinic (`/admin/c/{clinic}/retention`,
//! `/admin/c/{clinic}/export`) and the operator's offboarding form.

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use tower_sessions::Session;
use uuid::Uuid;

use super::admin::actor;
use super::auth::{RequestIdHeader, app_error};
use super::forms::FormData;
use super::guard;
use super::render::{self, FormState, PageRequest};
use super::{error_page, flash, see_other};
use crate::backend::auth::visitor::{Flash, Visitor};
use crate::backend::services::offboarding::{self, OffboardError};
use crate::backend::services::{clinics, exports, retention};
use crate::backend::state::AppState;
use crate::domain::permissions::{ClinicPermission, PlatformPermission};
use crate::domain::retention::{Category, parse_rules, parse_window_days};

/// Routes of this module.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/admin/c/{clinic}/retention", post(save_rules)),
        ("/admin/c/{clinic}/retention/preview", post(preview)),
        ("/admin/c/{clinic}/export", post(request_export)),
        ("/admin/c/{clinic}/exports/{file}", get(download)),
        (
            "/admin/platform/clinics/{slug}/offboard",
            post(start_offboarding),
        ),
    ]
}

async fn save_rules(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    page: PageRequest,
    RequestIdHeader(request_id): RequestIdHeader,
    form: FormData,
) -> Response {
    let path = format!("/admin/c/{slug}/retention");
    let (user, access) =
        match guard::clinic(&visitor, &path, &slug, ClinicPermission::ManageRetention) {
            Ok(found) => found,
            Err(denied) => return denied.response(),
        };
    let rules = match parse_rules(|name| form.get(name)) {
        Ok(rules) => rules,
        Err(errors) => {
            let state_of_form = FormState {
                values: form.values(),
                errors,
                message: None,
            };
            return render::page(
                &state,
                page.at(&path),
                StatusCode::UNPROCESSABLE_ENTITY,
                state_of_form,
            )
            .await;
        }
    };
    match retention::save_rules(
        &state.db,
        &actor(&user, request_id),
        access.clinic_id,
        Some(user.id),
        rules,
    )
    .await
    {
        Ok(0) => {
            flash(
                &session,
                Flash::success("Nothing changed: the rules were already so."),
            )
            .await;
            see_other(&path)
        }
        Ok(changed) => {
            // Receipts state the consent records' period: issue new ones
            // with the rule just saved.
            state.consent.forget();
            flash(
                &session,
                Flash::success(format!(
                    "Retention rules saved ({changed} changed). They apply from the next run."
                )),
            )
            .await;
            see_other(&path)
        }
        Err(e) => app_error(e.into()),
    }
}

/// A dry run: counts what the rules would remove now, records it, and shows
/// the counts on the retention page.
async fn preview(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    RequestIdHeader(request_id): RequestIdHeader,
    _form: FormData,
) -> Response {
    let path = format!("/admin/c/{slug}/retention");
    let (user, access) =
        match guard::clinic(&visitor, &path, &slug, ClinicPermission::ManageRetention) {
            Ok(found) => found,
            Err(denied) => return denied.response(),
        };
    match retention::run_clinic(
        &state,
        &actor(&user, request_id),
        access.clinic_id,
        true,
        retention::Trigger::Admin,
    )
    .await
    {
        Ok(report) => {
            let total: i64 = report.counts.values().sum();
            let parts: Vec<String> = Category::ALL
                .iter()
                .filter_map(|c| {
                    let n = report.counts.get(c.as_str()).copied().unwrap_or(0);
                    (n > 0).then(|| format!("{}: {n}", c.label()))
                })
                .collect();
            let message = if total == 0 {
                "Preview: the rules reach nothing today; the next run would change no data."
                    .to_owned()
            } else {
                format!(
                    "Preview: the next run would remove or anonymize {total} items. {}.",
                    parts.join("; ")
                )
            };
            flash(&session, Flash::success(message)).await;
            see_other(&path)
        }
        Err(e) => app_error(e.into()),
    }
}

async fn request_export(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    RequestIdHeader(request_id): RequestIdHeader,
    _form: FormData,
) -> Response {
    let path = format!("/admin/c/{slug}/export");
    let (user, access) =
        match guard::clinic(&visitor, &path, &slug, ClinicPermission::RequestDeletion) {
            Ok(found) => found,
            Err(denied) => return denied.response(),
        };
    match exports::request(
        &state.db,
        &actor(&user, request_id),
        access.clinic_id,
        user.id,
        state.clock.now(),
    )
    .await
    {
        Ok(_) => {
            flash(
                &session,
                Flash::success("The export is being prepared. This page shows its progress."),
            )
            .await;
            see_other(&path)
        }
        Err(e) => app_error(e.into()),
    }
}

/// Streams a ready export, chunk by chunk, to an Owner.
async fn download(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    Extension(visitor): Extension<Visitor>,
    RequestIdHeader(request_id): RequestIdHeader,
) -> Response {
    let path = format!("/admin/c/{slug}/export");
    let (user, access) =
        match guard::clinic(&visitor, &path, &slug, ClinicPermission::RequestDeletion) {
            Ok(found) => found,
            Err(denied) => return denied.response(),
        };
    let missing = || {
        error_page(
            StatusCode::NOT_FOUND,
            "This export does not exist or has expired.",
        )
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return missing();
    };
    let clinic = access.clinic_id;
    let export = match exports::find(&state.db, clinic, id).await {
        Ok(Some(export)) => export,
        Ok(None) => return missing(),
        Err(e) => return app_error(e.into()),
    };
    if export.status != "ready" || export.expires_at <= state.clock.now() {
        return missing();
    }
    let chunks = match exports::chunk_count(&state.db, clinic, id).await {
        Ok(n) => n,
        Err(e) => return app_error(e.into()),
    };
    if let Err(e) = exports::record_download(&state.db, &actor(&user, request_id), clinic, id).await
    {
        return app_error(e.into());
    }
    let db = state.db.clone();
    let crypto = state.crypto.clone();
    let body = futures::stream::unfold(0_i32, move |n| {
        let (db, crypto) = (db.clone(), crypto.clone());
        async move {
            if i64::from(n) >= chunks {
                return None;
            }
            let item = exports::chunk(&db, &crypto, clinic, id, n)
                .await
                .map(Bytes::from)
                .map_err(|e| std::io::Error::other(e.to_string()));
            Some((item, n + 1))
        }
    });
    let filename = format!("{slug}-export-{}.zip", export.created_at.format("%Y-%m-%d"));
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/zip"),
    );
    headers.insert(CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    if let Some(size) = export.size_bytes
        && let Ok(value) = http::HeaderValue::from_str(&size.to_string())
    {
        headers.insert(CONTENT_LENGTH, value);
    }
    if let Ok(value) = http::HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
    {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    response
}

async fn start_offboarding(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    page: PageRequest,
    RequestIdHeader(request_id): RequestIdHeader,
    form: FormData,
) -> Response {
    let path = format!("/admin/platform/clinics/{slug}/offboard");
    let user = match guard::platform(&visitor, &path, PlatformPermission::ManageClinics) {
        Ok(user) => user,
        Err(denied) => return denied.response(),
    };
    let clinic = match clinics::id_by_slug(&state.db, &slug).await {
        Ok(Some(clinic)) => clinic,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, "This clinic does not exist."),
        Err(e) => return app_error(e.into()),
    };
    let mut errors = crate::domain::forms::FieldErrors::new();
    let window = errors.check(
        "window_days",
        "Export window:",
        parse_window_days(&form.get("window_days")),
    );
    if form.get("confirm_slug").trim() != slug {
        errors.add(
            "confirm_slug",
            format!("Type the clinic's web address, {slug}, to confirm"),
        );
    }
    let Some(window) = window.filter(|_| errors.is_empty()) else {
        let state_of_form = FormState {
            values: form.values(),
            errors,
            message: None,
        };
        return render::page(
            &state,
            page.at(&path),
            StatusCode::UNPROCESSABLE_ENTITY,
            state_of_form,
        )
        .await;
    };
    match offboarding::start(&state, &actor(&user, request_id), clinic, window).await {
        Ok(delete_after) => {
            flash(
                &session,
                Flash::success(format!(
                    "Offboarding {slug}: its owners and admins are told by email; its export stays available until {}, then every record is deleted.",
                    delete_after.format("%-d %B %Y")
                )),
            )
            .await;
            see_other("/admin/platform/clinics")
        }
        Err(OffboardError::AlreadyOffboarding) => error_page(
            StatusCode::CONFLICT,
            "This clinic is already being offboarded.",
        ),
        Err(OffboardError::NotFound) => {
            error_page(StatusCode::NOT_FOUND, "This clinic does not exist.")
        }
        Err(OffboardError::Db(e)) => app_error(e.into()),
    }
}
