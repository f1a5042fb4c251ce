//! The clinic's handlers for privacy requests: `/admin/c/{clinic}/requests...`.

use axum::Extension;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use tower_sessions::Session;
use uuid::Uuid;

use super::admin::actor;
use super::auth::{RequestIdHeader, app_error};
use super::forms::{CSRF_FIELD, FormData};
use super::guard;
use super::render::{self, FormState, PageRequest};
use super::{error_page, flash, see_other};
use crate::backend::auth::visitor::{Flash, Visitor};
use crate::backend::services::requests::RequestError;
use crate::backend::services::requests::meta as meta_service;
use crate::backend::services::requests::staff::{self, StaffAction};
use crate::backend::state::AppState;
use crate::domain::forms::FieldErrors;
use crate::domain::meta;
use crate::domain::permissions::ClinicPermission;
use crate::domain::requests::{MAX_DETAILS, Outcome};
use crate::domain::security::form_token_matches;
use crate::domain::text::{clean_optional_text, clean_text};

/// Largest upload body: a 25 MB file and the form around it.
pub const UPLOAD_LIMIT: usize = crate::domain::files::MAX_FILE_BYTES + 1024 * 1024;

/// Routes of this module.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/admin/c/{clinic}/requests.csv", get(export)),
        ("/admin/c/{clinic}/requests/{request}/action", post(act)),
        (
            "/admin/c/{clinic}/requests/{request}/files",
            post(upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        ),
        (
            "/admin/c/{clinic}/requests/{request}/files/{file}",
            get(staff_download),
        ),
        ("/admin/c/{clinic}/meta", post(save_meta_secret)),
    ]
}

fn text(form: &FormData, field: &str, errors: &mut FieldErrors, label: &str) -> Option<String> {
    errors.check(
        field,
        label,
        clean_text(&form.get(field), MAX_DETAILS, true),
    )
}

/// Reads the action form into a staff action, or the problems with it.
fn staff_action(form: &FormData) -> Result<StaffAction, FieldErrors> {
    let mut e = FieldErrors::new();
    let action = match form.get("action").as_str() {
        "start" => Some(StaffAction::Start),
        "ask" => text(form, "question", &mut e, "Your question")
            .map(|message| StaffAction::AskRequester { message }),
        "message" => {
            text(form, "message", &mut e, "The message").map(|body| StaffAction::Message { body })
        }
        "note" => text(form, "note", &mut e, "The note").map(|body| StaffAction::Note { body }),
        "extend" => {
            let months = e.check(
                "months",
                "The extension",
                form.get("months")
                    .parse::<u8>()
                    .map_err(|_| "must be 1 or 2 months"),
            );
            let reason = text(form, "reason", &mut e, "The reason");
            months
                .zip(reason)
                .map(|(months, reason)| StaffAction::Extend { months, reason })
        }
        "complete" => {
            let outcome = e.check(
                "outcome",
                "The outcome",
                form.get("outcome").parse::<Outcome>(),
            );
            let message = e
                .check(
                    "completion_message",
                    "The message",
                    clean_optional_text(&form.get("completion_message"), MAX_DETAILS, true),
                )
                .flatten();
            if outcome == Some(Outcome::Refused) && message.is_none() {
                e.add(
                    "completion_message",
                    "A refusal needs its reason, which is sent to the requester.",
                );
            }
            outcome.map(|outcome| StaffAction::Complete { outcome, message })
        }
        "assign" => match form.get("assignee").as_str() {
            "" => Some(StaffAction::Assign { user: None }),
            user => e
                .check(
                    "assignee",
                    "The assignee",
                    user.parse::<Uuid>().map_err(|_| "must be a member"),
                )
                .map(|u| StaffAction::Assign { user: Some(u) }),
        },
        _ => {
            e.add("action", "Choose an action.");
            None
        }
    };
    match action {
        Some(action) if e.is_empty() => Ok(action),
        _ => Err(e),
    }
}

fn success_message(action: &StaffAction) -> &'static str {
    match action {
        StaffAction::Start => "The request is in progress.",
        StaffAction::AskRequester { .. } => {
            "The requester was asked for information; the clock is paused."
        }
        StaffAction::Message { .. } => "The message was sent to the requester.",
        StaffAction::Note { .. } => "The note was added.",
        StaffAction::Extend { .. } => "The deadline was extended and the requester told why.",
        StaffAction::Complete { .. } => "The request is completed and the requester was told.",
        StaffAction::Assign { .. } => "The assignment was changed.",
    }
}

async fn act(
    State(state): State<AppState>,
    Path((slug, request)): Path<(String, String)>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    page: PageRequest,
    form: FormData,
) -> Response {
    let detail_path = format!("/admin/c/{slug}/requests/{request}");
    let (user, access) = match guard::clinic(
        &visitor,
        &detail_path,
        &slug,
        ClinicPermission::ManageRequests,
    ) {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    let Ok(id) = request.parse::<Uuid>() else {
        return error_page(StatusCode::NOT_FOUND, "This request does not exist.");
    };
    let page = page.at(&detail_path);
    let action = match staff_action(&form) {
        Ok(action) => action,
        Err(errors) => {
            return render::page(
                &state,
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                FormState {
                    values: form.values(),
                    errors,
                    message: None,
                },
            )
            .await;
        }
    };
    let message = success_message(&action);
    match staff::act(
        &state,
        &actor(&user, page.request_id()),
        access.clinic_id,
        user.id,
        id,
        action,
    )
    .await
    {
        Ok(()) => {
            flash(&session, Flash::success(message)).await;
            see_other(&detail_path)
        }
        Err(RequestError::NotFound) => {
            error_page(StatusCode::NOT_FOUND, "This request does not exist.")
        }
        Err(RequestError::Db(e)) => app_error(e.into()),
        Err(other) => {
            let form = FormState {
                values: form.values(),
                errors: FieldErrors::new(),
                message: Some(other.to_string()),
            };
            render::page(&state, page, StatusCode::UNPROCESSABLE_ENTITY, form).await
        }
    }
}

async fn upload(
    State(state): State<AppState>,
    Path((slug, request)): Path<(String, String)>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    RequestIdHeader(request_id): RequestIdHeader,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let detail_path = format!("/admin/c/{slug}/requests/{request}");
    let (user, access) = match guard::clinic(
        &visitor,
        &detail_path,
        &slug,
        ClinicPermission::ManageRequests,
    ) {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    let Ok(id) = request.parse::<Uuid>() else {
        return error_page(StatusCode::NOT_FOUND, "This request does not exist.");
    };
    // Read only after the guard, so strangers learn nothing from the body.
    let Ok(mut multipart) = multipart else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Send the file with the upload form on the request's page.",
        );
    };
    let mut csrf = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                if name == CSRF_FIELD {
                    csrf = field.text().await.unwrap_or_default();
                } else if name == "file" {
                    let filename = field.file_name().unwrap_or("file").to_owned();
                    match field.bytes().await {
                        Ok(bytes) => file = Some((filename, bytes.to_vec())),
                        Err(e) => {
                            return error_page(
                                e.status(),
                                "The file could not be received (at most 25 MB).",
                            );
                        }
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                return error_page(
                    e.status(),
                    "The upload could not be read. Files may be at most 25 MB.",
                );
            }
        }
    }
    let expected = visitor.csrf.clone().unwrap_or_default();
    if !form_token_matches(&expected, &csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This form has expired. Reload the page and try again.",
        );
    }
    let Some((filename, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        flash(&session, Flash::error("Choose a file to attach.")).await;
        return see_other(&detail_path);
    };
    match staff::attach_file(
        &state,
        &actor(&user, request_id),
        access.clinic_id,
        user.id,
        id,
        &filename,
        bytes,
    )
    .await
    {
        Ok(_) => {
            flash(
                &session,
                Flash::success("The file is attached; the requester can download it."),
            )
            .await
        }
        Err(RequestError::Db(e)) => return app_error(e.into()),
        Err(other) => flash(&session, Flash::error(other.to_string())).await,
    }
    see_other(&detail_path)
}

async fn staff_download(
    State(state): State<AppState>,
    Path((slug, request, file)): Path<(String, String, String)>,
    Extension(visitor): Extension<Visitor>,
    RequestIdHeader(request_id): RequestIdHeader,
) -> Response {
    let detail_path = format!("/admin/c/{slug}/requests/{request}");
    let (user, access) = match guard::clinic(&visitor, &detail_path, &slug, ClinicPermission::View)
    {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    let (Ok(request), Ok(file)) = (request.parse::<Uuid>(), file.parse::<Uuid>()) else {
        return error_page(StatusCode::NOT_FOUND, "This file does not exist.");
    };
    match staff::read_file(
        &state,
        &actor(&user, request_id),
        access.clinic_id,
        request,
        file,
    )
    .await
    {
        Ok(Some(content)) => super::requests::file_response(content),
        Ok(None) => error_page(StatusCode::NOT_FOUND, "This file does not exist."),
        Err(e) => app_error(e.into()),
    }
}

async fn export(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(visitor): Extension<Visitor>,
    RequestIdHeader(request_id): RequestIdHeader,
) -> Response {
    let (user, access) = match guard::clinic(
        &visitor,
        &format!("/admin/c/{slug}/requests"),
        &slug,
        ClinicPermission::View,
    ) {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    if let Err(e) = staff::record_export(&state, &actor(&user, request_id), access.clinic_id).await
    {
        return app_error(e.into());
    }
    let stream = staff::export_csv(state.clone(), access.clinic_id);
    let body = Body::from_stream(futures::StreamExt::map(stream, |chunk| {
        chunk.map_err(std::io::Error::other)
    }));
    let filename = format!(
        "privacy-requests-{slug}-{}.csv",
        state.clock.now().format("%Y-%m-%d")
    );
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn save_meta_secret(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    page: PageRequest,
    form: FormData,
) -> Response {
    let path = format!("/admin/c/{slug}/meta");
    let (user, access) =
        match guard::clinic(&visitor, &path, &slug, ClinicPermission::ManageSettings) {
            Ok(found) => found,
            Err(denied) => return denied.response(),
        };
    let secret = match meta::parse_app_secret(&form.get("app_secret")) {
        Ok(secret) => secret,
        Err(message) => {
            let mut errors = FieldErrors::new();
            errors.add("app_secret", message);
            return render::page(
                &state,
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                FormState {
                    values: vec![],
                    errors,
                    message: None,
                },
            )
            .await;
        }
    };
    match meta_service::set_secret(
        &state,
        &actor(&user, page.request_id()),
        access.clinic_id,
        &secret,
    )
    .await
    {
        Ok(()) => {
            flash(
                &session,
                Flash::success("The Meta app secret is saved (encrypted)."),
            )
            .await;
            see_other(&path)
        }
        Err(e) => app_error(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> FormData {
        FormData::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn action_forms_become_actions_or_say_what_is_missing() {
        assert_eq!(
            staff_action(&form(&[("action", "start")])),
            Ok(StaffAction::Start)
        );
        assert_eq!(
            staff_action(&form(&[
                ("action", "extend"),
                ("months", "2"),
                ("reason", "Many records")
            ])),
            Ok(StaffAction::Extend {
                months: 2,
                reason: "Many records".into()
            })
        );
        let errors = staff_action(&form(&[
            ("action", "extend"),
            ("months", "x"),
            ("reason", " "),
        ]))
        .expect_err("invalid");
        assert!(errors.get("months").is_some() && errors.get("reason").is_some());
        let errors = staff_action(&form(&[("action", "complete"), ("outcome", "refused")]))
            .expect_err("invalid");
        assert!(errors.get("completion_message").is_some());
        assert!(staff_action(&form(&[("action", "explode")])).is_err());
    }
}
