//! Form handlers of the operators' pages: `/admin/platform/...`.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{MethodRouter, post};
use http::StatusCode;
use tower_sessions::Session;

use super::admin::{actor, profile_form, save_connection, test_connection};
use super::auth::{RequestIdHeader, app_error};
use super::forms::FormData;
use super::guard;
use super::render::{self, FormState, PageRequest};
use super::see_other;
use crate::backend::auth::keys;
use crate::backend::auth::visitor::{Flash, Visitor};
use crate::backend::services::clinics::{self, CreateClinic, CreateClinicError, NewOwner};
use crate::backend::services::sso::ConnectionOwner;
use crate::backend::state::AppState;
use crate::domain::clinic::{ClinicSlug, ClinicStatus};
use crate::domain::email::EmailAddress;
use crate::domain::permissions::PlatformPermission;
use crate::domain::text::clean_text;

/// Routes of this module.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/admin/platform/clinics/new", post(create_clinic)),
        ("/admin/platform/clinics/{slug}/status", post(set_status)),
        ("/admin/platform/sso", post(save_sso)),
        ("/admin/platform/sso/test", post(test_sso)),
    ]
}

async fn create_clinic(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    page: PageRequest,
    RequestIdHeader(request_id): RequestIdHeader,
    form: FormData,
) -> Response {
    let path = "/admin/platform/clinics/new";
    let user = match guard::platform(&visitor, path, PlatformPermission::ManageClinics) {
        Ok(user) => user,
        Err(denied) => return denied.response(),
    };
    let profile = profile_form(&form).validate();
    let mut errors = profile.as_ref().err().cloned().unwrap_or_default();
    let slug = errors.check("slug", "Web address", ClinicSlug::parse(&form.get("slug")));
    let owner_email = errors.check(
        "owner_email",
        "Owner email",
        EmailAddress::parse(&form.get("owner_email")),
    );
    let owner_name = errors.check(
        "owner_name",
        "Owner name",
        clean_text(&form.get("owner_name"), 200, false),
    );
    let (Ok(profile), Some(slug), Some(email), Some(display_name)) =
        (profile, slug, owner_email, owner_name)
    else {
        let form = FormState {
            values: form.values(),
            errors,
            message: None,
        };
        return render::page(&state, page, StatusCode::UNPROCESSABLE_ENTITY, form).await;
    };
    let input = CreateClinic {
        slug: slug.clone(),
        profile,
        owner: Some(NewOwner {
            email,
            display_name,
        }),
    };
    match clinics::create(&state.db, &actor(&user, request_id), input).await {
        Ok(_) => {
            let _ = session
                .insert(
                    keys::FLASH,
                    Flash::success(format!("Clinic {slug} created.")),
                )
                .await;
            see_other("/admin/platform/clinics")
        }
        Err(CreateClinicError::SlugTaken(taken)) => {
            errors.add("slug", format!("The web address {taken} is already taken"));
            let form = FormState {
                values: form.values(),
                errors,
                message: None,
            };
            render::page(&state, page, StatusCode::UNPROCESSABLE_ENTITY, form).await
        }
        Err(CreateClinicError::Db(e)) => app_error(e.into()),
    }
}

async fn set_status(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    RequestIdHeader(request_id): RequestIdHeader,
    form: FormData,
) -> Response {
    let user = match guard::platform(
        &visitor,
        "/admin/platform/clinics",
        PlatformPermission::ManageClinics,
    ) {
        Ok(user) => user,
        Err(denied) => return denied.response(),
    };
    let status = match form.get("status").as_str() {
        "suspended" => ClinicStatus::Suspended,
        "active" => ClinicStatus::Active,
        _ => {
            return super::error_page(
                StatusCode::BAD_REQUEST,
                "Choose whether to suspend or reactivate the clinic.",
            );
        }
    };
    let clinic = match clinics::id_by_slug(&state.db, &slug).await {
        Ok(Some(clinic)) => clinic,
        Ok(None) => return super::error_page(StatusCode::NOT_FOUND, "This clinic does not exist."),
        Err(e) => return app_error(e.into()),
    };
    match clinics::set_status(&state, &actor(&user, request_id), clinic, status).await {
        Ok(_) => {
            let message = match status {
                ClinicStatus::Suspended => format!(
                    "Clinic {slug} suspended: its team cannot sign in to it and its public pages are offline."
                ),
                _ => format!("Clinic {slug} is active again."),
            };
            let _ = session.insert(keys::FLASH, Flash::success(message)).await;
            see_other("/admin/platform/clinics")
        }
        Err(e) => app_error(e.into()),
    }
}

async fn save_sso(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    page: PageRequest,
    RequestIdHeader(request_id): RequestIdHeader,
    form: FormData,
) -> Response {
    let path = "/admin/platform/sso";
    let user = match guard::platform(&visitor, path, PlatformPermission::ManagePlatformSso) {
        Ok(user) => user,
        Err(denied) => return denied.response(),
    };
    save_connection(
        &state,
        &session,
        page,
        &actor(&user, request_id),
        ConnectionOwner::Platform,
        path,
        form,
    )
    .await
}

async fn test_sso(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    page: PageRequest,
    form: FormData,
) -> Response {
    let path = "/admin/platform/sso";
    if let Err(denied) = guard::platform(&visitor, path, PlatformPermission::ManagePlatformSso) {
        return denied.response();
    }
    test_connection(&state, page.at(path), form).await
}
