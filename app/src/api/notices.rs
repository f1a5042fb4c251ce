//! Versioned documents and change notices: the editors' form handlers (a
//! clinic's under `/admin/c/{clinic}/notices`, the platform's under
//! `/admin/platform/notices`), the public subscription and unsubscribe
//! endpoints, the JSON form of versions, and the loaders of their pages.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Path, Request, State,
};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http::StatusCode;
use http::header::CACHE_CONTROL;
use leptos::prelude::use_context;
use tower_sessions::Session;
use uuid::Uuid;

use super::admin::actor;
use super::auth::{ClientIp, RequestIdHeader, app_error};
use super::forms::{CSRF_FIELD, FormData};
use super::guard::{self, Denied};
use super::pages::{PageError, app_state, query};
use super::render::{self, FormState, PageRequest};
use super::requests::{active_clinic, page_locale};
use super::{error_page, flash, see_other};
use crate::backend::auth::visitor::{ClinicAccess, Flash, SignedInUser, Visitor};
use crate::backend::error::AppError;
use crate::backend::ratelimit::{self, Limit};
use crate::backend::services::clinics;
use crate::backend::services::notices::campaigns::{self, Progress};
use crate::backend::services::notices::subscriptions::{
    self, AudienceSummary, ImportReport, Topic, UnsubscribeTarget,
};
use crate::backend::services::notices::{
    self, Coverage, DocumentOverview, PendingAcknowledgement, PublicDocument, Publisher, VersionRow,
};
use crate::backend::state::AppState;
use crate::domain::email::EmailAddress;
use crate::domain::forms::FieldErrors;
use crate::domain::locale::Locale;
use crate::domain::notices::{DocumentKind, DraftForm, parse_effective_date};
use crate::domain::permissions::{ClinicPermission, PlatformPermission};
use crate::domain::recipients::{self, MAX_CSV_BYTES};
use crate::domain::security::form_token_matches;
use crate::domain::text::clean_text;
use crate::page_context;

/// Largest editor form: 200,000 characters of text, percent-encoded (up to
/// 9 bytes for a character outside ASCII), with the other fields.
const EDITOR_LIMIT: usize = crate::domain::markdown::MAX_SOURCE_BYTES * 9 + 64 * 1024;

/// Routes of this module.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        (
            "/admin/c/{clinic}/notices/{kind}/edit",
            post(clinic_edit).layer(DefaultBodyLimit::max(EDITOR_LIMIT)),
        ),
        (
            "/admin/c/{clinic}/notices/{kind}/publish",
            post(clinic_publish),
        ),
        (
            "/admin/c/{clinic}/notices/{kind}/discard",
            post(clinic_discard),
        ),
        (
            "/admin/c/{clinic}/notices/{kind}/cancel",
            post(clinic_cancel),
        ),
        (
            "/admin/c/{clinic}/notices/lists",
            post(import_list).layer(DefaultBodyLimit::max(MAX_CSV_BYTES + 64 * 1024)),
        ),
        (
            "/admin/c/{clinic}/notices/lists/{list}/delete",
            post(delete_list),
        ),
        (
            "/admin/c/{clinic}/notices/suppressions",
            post(clinic_suppress),
        ),
        (
            "/admin/c/{clinic}/acknowledgements/{version}",
            post(acknowledge),
        ),
        (
            "/admin/platform/notices/{kind}/edit",
            post(platform_edit).layer(DefaultBodyLimit::max(EDITOR_LIMIT)),
        ),
        (
            "/admin/platform/notices/{kind}/publish",
            post(platform_publish),
        ),
        (
            "/admin/platform/notices/{kind}/discard",
            post(platform_discard),
        ),
        (
            "/admin/platform/notices/{kind}/cancel",
            post(platform_cancel),
        ),
        (
            "/admin/platform/notices/suppressions",
            post(platform_suppress),
        ),
        ("/c/{clinic}/subscribe", post(clinic_subscribe)),
        ("/c/{clinic}/subscribe/confirm", post(clinic_confirm)),
        ("/subscribe", post(platform_subscribe)),
        ("/subscribe/confirm", post(platform_confirm)),
        ("/email/unsubscribe/{token}", post(unsubscribe)),
        (
            "/c/{clinic}/privacy/versions/{number}/json",
            get(clinic_notice_json),
        ),
        (
            "/c/{clinic}/policies/{kind}/versions/{number}/json",
            get(clinic_policy_json),
        ),
        ("/privacy/versions/{number}/json", get(platform_notice_json)),
        (
            "/policies/{kind}/versions/{number}/json",
            get(platform_policy_json),
        ),
    ]
}

// ---------------------------------------------------------------------------
// Who edits: a clinic's policy editors or the platform's operators.

/// The editor of a publisher's documents, as resolved from the request.
#[derive(Clone, Debug)]
pub struct Editor {
    pub user: SignedInUser,
    pub publisher: Publisher,
    /// `/admin/c/{slug}/notices` or `/admin/platform/notices`.
    pub base: String,
    /// The clinic, for a clinic's pages.
    pub clinic: Option<ClinicAccess>,
}

/// The publisher's editor, allowed `permission` on a clinic's documents
/// (the platform's need its policy permission).
fn editor_with(
    visitor: &Visitor,
    path: &str,
    slug: Option<&str>,
    permission: ClinicPermission,
) -> Result<Editor, Denied> {
    match slug {
        Some(slug) => {
            let (user, access) = guard::clinic(visitor, path, slug, permission)?;
            Ok(Editor {
                user,
                publisher: Publisher::Clinic(access.clinic_id),
                base: format!("/admin/c/{}/notices", access.slug),
                clinic: Some(access),
            })
        }
        None => {
            let user = guard::platform(visitor, path, PlatformPermission::ManagePlatformPolicies)?;
            Ok(Editor {
                user,
                publisher: Publisher::Platform,
                base: "/admin/platform/notices".to_owned(),
                clinic: None,
            })
        }
    }
}

/// An editor of the publisher's documents.
fn editor(visitor: &Visitor, path: &str, slug: Option<&str>) -> Result<Editor, Denied> {
    editor_with(visitor, path, slug, ClinicPermission::ManagePolicies)
}

/// A reader of a publisher's editor pages (Viewers of a clinic may look).
fn reader(slug: Option<&str>) -> Result<Editor, PageError> {
    Ok(editor_with(
        &guard::visitor(),
        &crate::request::current_path(),
        slug,
        ClinicPermission::View,
    )?)
}

fn no_such_document() -> Response {
    error_page(StatusCode::NOT_FOUND, "There is no such document.")
}

pub(super) fn form_state(
    form: &FormData,
    errors: FieldErrors,
    message: Option<String>,
) -> FormState {
    FormState {
        values: form.values(),
        errors,
        message,
    }
}

/// Rendered Markdown shown under the editor after "Preview".
#[derive(Clone, Debug)]
pub struct DraftPreview(pub String);
/// The outcome of a list import, shown on the audience page.
#[derive(Clone, Debug)]
pub struct ImportOutcome(pub ImportReport);
/// Whether the unsubscribe page follows a POST that took effect.
#[derive(Clone, Debug)]
pub struct Unsubscribed(pub bool);
/// Whether the confirmation page follows a POST, and how it went.
#[derive(Clone, Debug)]
pub struct ConfirmOutcome(pub bool);

page_context!(DraftPreview, ImportOutcome, Unsubscribed, ConfirmOutcome);

/// What every editor's form handler reads from its request: the state, who
/// is signed in, the session, the page to re-render, and the form (whose
/// token has matched).
pub(super) struct EditArgs {
    pub state: AppState,
    pub visitor: Visitor,
    pub session: Session,
    pub page: PageRequest,
    pub request_id: Option<String>,
    pub form: FormData,
}

impl FromRequest<AppState> for EditArgs {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let visitor = parts
            .extensions
            .get::<Visitor>()
            .cloned()
            .unwrap_or_default();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(page) = PageRequest::from_request_parts(&mut parts, state).await;
        let Ok(RequestIdHeader(request_id)) =
            RequestIdHeader::from_request_parts(&mut parts, state).await;
        let form = FormData::from_request(Request::from_parts(parts, body), state).await?;
        Ok(Self {
            state: state.clone(),
            visitor,
            session,
            page,
            request_id,
            form,
        })
    }
}

async fn edit(args: EditArgs, slug: Option<&str>, kind: &str) -> Response {
    let EditArgs {
        state,
        visitor,
        session,
        page,
        request_id,
        form,
    } = args;
    let Some(kind) = DocumentKind::from_slug(kind) else {
        return no_such_document();
    };
    let path = page.path();
    let editor = match editor(&visitor, &path, slug) {
        Ok(editor) => editor,
        Err(denied) => return denied.response(),
    };
    let draft = DraftForm {
        title: form.get("title"),
        body: form.get("body"),
        summary: form.get("summary"),
        material: form.checked("material"),
    };
    let validated = draft.validate();
    if form.get("intent") == "preview" {
        let (status, errors) = match &validated {
            Ok(_) => (StatusCode::OK, FieldErrors::new()),
            Err(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors.clone()),
        };
        let html = crate::domain::markdown::render(&draft.body);
        return render::page(
            &state,
            page,
            status,
            (form_state(&form, errors, None), DraftPreview(html)),
        )
        .await;
    }
    let draft = match validated {
        Ok(draft) => draft,
        Err(errors) => {
            return render::page(
                &state,
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                form_state(&form, errors, None),
            )
            .await;
        }
    };
    match notices::save_draft(
        &state,
        &actor(&editor.user, request_id),
        editor.publisher,
        kind,
        Some(editor.user.id),
        draft,
    )
    .await
    {
        Ok(_) => {
            flash(
                &session,
                Flash::success("Draft saved. Publish it when it is ready."),
            )
            .await;
            see_other(&format!("{}/{}/publish", editor.base, kind.slug()))
        }
        Err(e) => app_error(e),
    }
}

async fn clinic_edit(Path((slug, kind)): Path<(String, String)>, args: EditArgs) -> Response {
    edit(args, Some(&slug), &kind).await
}

async fn platform_edit(Path(kind): Path<String>, args: EditArgs) -> Response {
    edit(args, None, &kind).await
}

#[derive(Clone, Copy)]
enum VersionCommand {
    Publish,
    Discard,
    Cancel,
}

async fn command(
    args: EditArgs,
    slug: Option<&str>,
    kind: &str,
    command: VersionCommand,
) -> Response {
    let EditArgs {
        state,
        visitor,
        session,
        page,
        request_id,
        form,
    } = args;
    let Some(kind) = DocumentKind::from_slug(kind) else {
        return no_such_document();
    };
    let path = page.path();
    let editor = match editor(&visitor, &path, slug) {
        Ok(editor) => editor,
        Err(denied) => return denied.response(),
    };
    let ctx = actor(&editor.user, request_id);
    let overview = editor.base.clone();
    match command {
        VersionCommand::Publish => {
            let mut errors = FieldErrors::new();
            let requested = errors.check(
                "effective_at",
                "The effective date",
                parse_effective_date(&form.get("effective_at")),
            );
            if !form.checked("confirm") {
                errors.add(
                    "confirm",
                    "Tick the box to confirm that this version may be published.",
                );
            }
            let Some(requested) = requested.filter(|_| errors.is_empty()) else {
                return render::page(
                    &state,
                    page,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    form_state(&form, errors, None),
                )
                .await;
            };
            match notices::publish(
                &state,
                &ctx,
                editor.publisher,
                kind,
                Some(editor.user.id),
                requested,
            )
            .await
            {
                Ok(published) => {
                    let when = published.effective_at.format("%-d %B %Y, %H:%M UTC");
                    let message = if published.scheduled {
                        format!(
                            "Version {} is scheduled to take effect on {when}. The change notice is being sent.",
                            published.number
                        )
                    } else if published.campaign.is_some() {
                        format!(
                            "Version {} is now in effect. The change notice is being sent.",
                            published.number
                        )
                    } else {
                        format!("Version {} is now in effect.", published.number)
                    };
                    flash(&session, Flash::success(message)).await;
                    match published.campaign {
                        Some(id) => see_other(&format!("{}/campaigns/{id}", editor.base)),
                        None => see_other(&overview),
                    }
                }
                Err(AppError::BadRequest(message)) => {
                    let mut errors = FieldErrors::new();
                    errors.add("effective_at", message);
                    render::page(
                        &state,
                        page,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        form_state(&form, errors, None),
                    )
                    .await
                }
                Err(AppError::Conflict(message)) => {
                    render::page(
                        &state,
                        page,
                        StatusCode::CONFLICT,
                        form_state(&form, FieldErrors::new(), Some(message)),
                    )
                    .await
                }
                Err(e) => app_error(e),
            }
        }
        VersionCommand::Discard => {
            if !form.checked("confirm") {
                flash(
                    &session,
                    Flash::error("Tick the box to confirm that the draft should be deleted."),
                )
                .await;
                return see_other(&format!("{}/{}/publish", editor.base, kind.slug()));
            }
            match notices::discard_draft(&state, &ctx, editor.publisher, kind).await {
                Ok(true) => {
                    flash(&session, Flash::success("The draft was deleted.")).await;
                    see_other(&overview)
                }
                Ok(false) => {
                    flash(&session, Flash::info("There was no draft to delete.")).await;
                    see_other(&overview)
                }
                Err(e) => app_error(e),
            }
        }
        VersionCommand::Cancel => {
            if !form.checked("confirm") {
                flash(
                    &session,
                    Flash::error("Tick the box to confirm the cancellation."),
                )
                .await;
                return see_other(&overview);
            }
            match notices::cancel_scheduled(&state, &ctx, editor.publisher, kind).await {
                Ok(number) => {
                    flash(
                        &session,
                        Flash::success(format!(
                            "Version {number} was cancelled; the current version stays in effect."
                        )),
                    )
                    .await;
                    see_other(&overview)
                }
                Err(AppError::Conflict(message)) => {
                    flash(&session, Flash::error(message)).await;
                    see_other(&overview)
                }
                Err(e) => app_error(e),
            }
        }
    }
}

async fn clinic_publish(Path((slug, kind)): Path<(String, String)>, args: EditArgs) -> Response {
    command(args, Some(&slug), &kind, VersionCommand::Publish).await
}

async fn platform_publish(Path(kind): Path<String>, args: EditArgs) -> Response {
    command(args, None, &kind, VersionCommand::Publish).await
}

async fn clinic_discard(Path((slug, kind)): Path<(String, String)>, args: EditArgs) -> Response {
    command(args, Some(&slug), &kind, VersionCommand::Discard).await
}

async fn platform_discard(Path(kind): Path<String>, args: EditArgs) -> Response {
    command(args, None, &kind, VersionCommand::Discard).await
}

async fn clinic_cancel(Path((slug, kind)): Path<(String, String)>, args: EditArgs) -> Response {
    command(args, Some(&slug), &kind, VersionCommand::Cancel).await
}

async fn platform_cancel(Path(kind): Path<String>, args: EditArgs) -> Response {
    command(args, None, &kind, VersionCommand::Cancel).await
}

async fn suppress(args: EditArgs, slug: Option<&str>) -> Response {
    let EditArgs {
        state,
        visitor,
        session,
        page,
        request_id,
        form,
    } = args;
    let path = page.path();
    let editor = match editor(&visitor, &path, slug) {
        Ok(editor) => editor,
        Err(denied) => return denied.response(),
    };
    let audience = format!("{}/audience", editor.base);
    let email = match EmailAddress::parse(&form.get("email").to_lowercase()) {
        Ok(email) => email,
        Err(e) => {
            let mut errors = FieldErrors::new();
            errors.add("email", format!("The address {e}."));
            return render::page(
                &state,
                page.at(&audience),
                StatusCode::UNPROCESSABLE_ENTITY,
                form_state(&form, errors, None),
            )
            .await;
        }
    };
    match subscriptions::suppress(
        &state.db,
        &actor(&editor.user, request_id),
        editor.publisher,
        &email,
    )
    .await
    {
        Ok(added) => {
            let message = if added {
                format!("{} will receive no further change notices.", email.masked())
            } else {
                format!("{} was already on the suppression list.", email.masked())
            };
            flash(&session, Flash::success(message)).await;
            see_other(&audience)
        }
        Err(e) => app_error(e.into()),
    }
}

async fn clinic_suppress(Path(slug): Path<String>, args: EditArgs) -> Response {
    suppress(args, Some(&slug)).await
}

async fn platform_suppress(args: EditArgs) -> Response {
    suppress(args, None).await
}

async fn import_list(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::Extension(visitor): axum::Extension<Visitor>,
    session: Session,
    page: PageRequest,
    RequestIdHeader(request_id): RequestIdHeader,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let path = page.path();
    let editor = match editor(&visitor, &path, Some(&slug)) {
        Ok(editor) => editor,
        Err(denied) => return denied.response(),
    };
    let audience = format!("{}/audience", editor.base);
    // Read only after the guard, so strangers learn nothing from the body.
    let Ok(mut multipart) = multipart else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Send the file with the import form on the audience page.",
        );
    };
    let (mut csrf, mut name, mut file) = (String::new(), String::new(), None::<Vec<u8>>);
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => match field.name().unwrap_or_default() {
                CSRF_FIELD => csrf = field.text().await.unwrap_or_default(),
                "name" => name = field.text().await.unwrap_or_default(),
                "file" => match field.bytes().await {
                    Ok(bytes) => file = Some(bytes.to_vec()),
                    Err(e) => {
                        return error_page(
                            e.status(),
                            "The file could not be received (at most 5 MB).",
                        );
                    }
                },
                _ => {}
            },
            Ok(None) => break,
            Err(e) => {
                return error_page(
                    e.status(),
                    "The upload could not be read. Files may be at most 5 MB.",
                );
            }
        }
    }
    if !form_token_matches(visitor.csrf.as_deref().unwrap_or_default(), &csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This form has expired. Reload the page and try again.",
        );
    }
    let values = vec![("name".to_owned(), name.clone())];
    let mut errors = FieldErrors::new();
    let list_name = errors.check("name", "The list name", clean_text(&name, 100, false));
    let parsed = match file.filter(|f| !f.is_empty()) {
        None => {
            errors.add("file", "Choose a CSV file to import.");
            None
        }
        Some(bytes) => match recipients::parse_csv(&bytes) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                errors.add("file", e.to_string());
                None
            }
        },
    };
    let (Some(list_name), Some(parsed)) = (list_name, parsed) else {
        let form = FormState {
            values,
            errors,
            message: None,
        };
        return render::page(
            &state,
            page.at(&audience),
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
        )
        .await;
    };
    let Some(access) = editor.clinic.as_ref() else {
        return error_page(
            StatusCode::NOT_FOUND,
            "Only clinics import recipient lists.",
        );
    };
    match subscriptions::import_list(
        &state.db,
        &actor(&editor.user, request_id),
        access.clinic_id,
        &list_name,
        parsed,
    )
    .await
    {
        Ok(report) => {
            flash(
                &session,
                Flash::success(format!(
                    "Imported {} addresses into “{}”.",
                    report.imported, report.list_name
                )),
            )
            .await;
            render::page(
                &state,
                page.at(&audience),
                StatusCode::OK,
                ImportOutcome(report),
            )
            .await
        }
        Err(e) => app_error(e.into()),
    }
}

async fn delete_list(Path((slug, list)): Path<(String, String)>, args: EditArgs) -> Response {
    let EditArgs {
        state,
        visitor,
        session,
        page,
        request_id,
        form,
    } = args;
    let path = page.path();
    let editor = match editor(&visitor, &path, Some(&slug)) {
        Ok(editor) => editor,
        Err(denied) => return denied.response(),
    };
    let audience = format!("{}/audience", editor.base);
    let (Ok(list), Some(access)) = (list.parse::<Uuid>(), editor.clinic.as_ref()) else {
        return error_page(StatusCode::NOT_FOUND, "This list does not exist.");
    };
    if !form.checked("confirm") {
        flash(
            &session,
            Flash::error("Tick the box to confirm that the list should be deleted."),
        )
        .await;
        return see_other(&audience);
    }
    match subscriptions::delete_list(
        &state.db,
        &actor(&editor.user, request_id),
        access.clinic_id,
        list,
    )
    .await
    {
        Ok(true) => {
            flash(&session, Flash::success("The list was deleted.")).await;
            see_other(&audience)
        }
        Ok(false) => error_page(StatusCode::NOT_FOUND, "This list does not exist."),
        Err(e) => app_error(e.into()),
    }
}

async fn acknowledge(
    State(state): State<AppState>,
    Path((slug, version)): Path<(String, String)>,
    axum::Extension(visitor): axum::Extension<Visitor>,
    session: Session,
    RequestIdHeader(request_id): RequestIdHeader,
    _form: FormData,
) -> Response {
    let path = format!("/admin/c/{slug}");
    let (user, access) =
        match guard::clinic(&visitor, &path, &slug, ClinicPermission::ManageSettings) {
            Ok(found) => found,
            Err(denied) => return denied.response(),
        };
    let Ok(version) = version.parse::<Uuid>() else {
        return error_page(StatusCode::NOT_FOUND, "This version does not exist.");
    };
    match notices::acknowledge(
        &state,
        &actor(&user, request_id),
        access.clinic_id,
        user.id,
        version,
    )
    .await
    {
        Ok(()) => {
            flash(
                &session,
                Flash::success("Thank you: your acknowledgement is recorded."),
            )
            .await;
            see_other(&path)
        }
        Err(e) => app_error(e),
    }
}

// ---------------------------------------------------------------------------
// Public: subscriptions, unsubscribe, JSON.

/// Subscriptions from one IP address: 10 an hour.
const SUBSCRIBE_PER_IP: Limit = Limit {
    max: 10,
    window: chrono::Duration::hours(1),
};
/// Confirmation emails to one address: 3 an hour.
const SUBSCRIBE_PER_EMAIL: Limit = Limit {
    max: 3,
    window: chrono::Duration::hours(1),
};

async fn subscribe(
    state: AppState,
    page: PageRequest,
    ip: String,
    form: FormData,
    clinic: Option<String>,
) -> Response {
    let (publisher, locale, base) = match &clinic {
        Some(slug) => match active_clinic(&state, slug).await {
            Ok(found) => (
                Publisher::Clinic(found.id),
                page_locale(&page, &found),
                format!("/c/{slug}"),
            ),
            Err(response) => return response,
        },
        None => (Publisher::Platform, Locale::En, String::new()),
    };
    let sent = format!("{base}/subscribe?sent=1");
    if !form.get("website").is_empty() {
        return see_other(&sent);
    }
    let topics: Vec<Topic> = Topic::ALL
        .into_iter()
        .filter(|t| form.all("topics").iter().any(|v| v == t.as_str()))
        .collect();
    let mut errors = FieldErrors::new();
    if topics.is_empty() {
        errors.add("topics", "Choose at least one kind of change notice.");
    }
    let email = EmailAddress::parse(&form.get("email"))
        .map_err(|e| errors.add("email", format!("The email address {e}.")))
        .ok();
    let email = match email {
        Some(email) if errors.is_empty() => email,
        _ => {
            return render::page(
                &state,
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                form_state(&form, errors, None),
            )
            .await;
        }
    };
    let now = state.clock.now();
    let limits = (SUBSCRIBE_PER_IP, SUBSCRIBE_PER_EMAIL);
    match ratelimit::allow_submission(&state.db, "subscribe", &ip, email.as_str(), limits, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let message = "Too many subscription requests. Please wait an hour and try again.";
            let form = form_state(&form, FieldErrors::new(), Some(message.to_owned()));
            return render::page(&state, page, StatusCode::TOO_MANY_REQUESTS, form).await;
        }
        Err(e) => return app_error(e.into()),
    }
    match subscriptions::subscribe(
        &state,
        publisher,
        clinic.as_deref(),
        &email,
        locale,
        &topics,
    )
    .await
    {
        Ok(()) => see_other(&sent),
        Err(e) => app_error(e),
    }
}

async fn clinic_subscribe(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    page: PageRequest,
    form: FormData,
) -> Response {
    subscribe(state, page, ip, form, Some(slug)).await
}

async fn platform_subscribe(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    page: PageRequest,
    form: FormData,
) -> Response {
    subscribe(state, page, ip, form, None).await
}

async fn confirm(
    state: AppState,
    page: PageRequest,
    form: FormData,
    clinic: Option<String>,
) -> Response {
    let publisher = match &clinic {
        Some(slug) => match active_clinic(&state, slug).await {
            Ok(found) => Publisher::Clinic(found.id),
            Err(response) => return response,
        },
        None => Publisher::Platform,
    };
    match subscriptions::confirm(&state, publisher, &form.get("t")).await {
        Ok(done) => {
            let status = if done {
                StatusCode::OK
            } else {
                StatusCode::GONE
            };
            render::page(&state, page, status, ConfirmOutcome(done)).await
        }
        Err(e) => app_error(e),
    }
}

async fn clinic_confirm(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    page: PageRequest,
    form: FormData,
) -> Response {
    confirm(state, page, form, Some(slug)).await
}

async fn platform_confirm(
    State(state): State<AppState>,
    page: PageRequest,
    form: FormData,
) -> Response {
    confirm(state, page, form, None).await
}

/// One-click unsubscribe (RFC 8058) and the page's button: no session, no
/// form token; the tagged token in the path is the authority.
async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
    page: PageRequest,
) -> Response {
    match subscriptions::unsubscribe(&state, &token).await {
        Ok(Some(_)) => render::page(&state, page, StatusCode::OK, Unsubscribed(true)).await,
        Ok(None) => error_page(
            StatusCode::NOT_FOUND,
            "This unsubscribe link is not valid. Copy the whole link from the email.",
        ),
        Err(e) => app_error(e.into()),
    }
}

async fn version_json(
    state: &AppState,
    clinic: Option<&str>,
    kind: DocumentKind,
    number: &str,
) -> Response {
    let publisher = match clinic {
        Some(slug) => match active_clinic(state, slug).await {
            Ok(found) => Publisher::Clinic(found.id),
            Err(response) => return response,
        },
        None => Publisher::Platform,
    };
    let Ok(number) = number.parse::<i32>() else {
        return error_page(StatusCode::NOT_FOUND, "There is no such version.");
    };
    match notices::public_document(state, publisher, kind).await {
        Ok(document) => match document.version(number) {
            Some(version) => {
                let body = serde_json::json!({
                    "publisher": clinic.unwrap_or("platform"),
                    "document": kind.slug(),
                    "number": version.number,
                    "title": version.title,
                    "state": version.state,
                    "material": version.material,
                    "summary": version.summary,
                    "effective_at": version.effective_at.to_rfc3339(),
                    "published_at": version.published_at.to_rfc3339(),
                    "body_markdown": version.body_markdown,
                    "body_html": crate::domain::markdown::render(&version.body_markdown),
                });
                ([(CACHE_CONTROL, "public, max-age=300")], Json(body)).into_response()
            }
            None => error_page(StatusCode::NOT_FOUND, "There is no such version."),
        },
        Err(e) => app_error(e.into()),
    }
}

async fn clinic_notice_json(
    State(state): State<AppState>,
    Path((slug, number)): Path<(String, String)>,
) -> Response {
    version_json(&state, Some(&slug), DocumentKind::PrivacyNotice, &number).await
}

async fn clinic_policy_json(
    State(state): State<AppState>,
    Path((slug, kind, number)): Path<(String, String, String)>,
) -> Response {
    match DocumentKind::from_slug(&kind) {
        Some(kind) => version_json(&state, Some(&slug), kind, &number).await,
        None => no_such_document(),
    }
}

async fn platform_notice_json(
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> Response {
    version_json(&state, None, DocumentKind::PrivacyNotice, &number).await
}

async fn platform_policy_json(
    State(state): State<AppState>,
    Path((kind, number)): Path<(String, String)>,
) -> Response {
    match DocumentKind::from_slug(&kind) {
        Some(kind) => version_json(&state, None, kind, &number).await,
        None => no_such_document(),
    }
}

// ---------------------------------------------------------------------------
// Page loaders.

/// The editor overview.
#[derive(Clone, Debug)]
pub struct NoticesOverview {
    pub editor: Editor,
    pub can_edit: bool,
    pub documents: Vec<DocumentOverview>,
    pub campaigns: Vec<Progress>,
    pub notice_days: u32,
}

/// The overview of a publisher's documents.
pub async fn overview(slug: Option<String>) -> Result<NoticesOverview, PageError> {
    let editor = reader(slug.as_deref())?;
    let state = app_state()?;
    let documents = notices::overview(&state, editor.publisher).await?;
    let campaigns = campaigns::list(&state.db, editor.publisher).await?;
    let notice_days = notices::notice_period(&state, editor.publisher).await?;
    let can_edit = match &editor.clinic {
        Some(access) => {
            crate::domain::permissions::allows(access.role, ClinicPermission::ManagePolicies)
        }
        None => true,
    };
    Ok(NoticesOverview {
        editor,
        can_edit,
        documents,
        campaigns,
        notice_days,
    })
}

/// What the editor and publish pages show.
#[derive(Clone, Debug)]
pub struct EditorData {
    pub editor: Editor,
    pub kind: DocumentKind,
    pub draft: Option<VersionRow>,
    pub current: Option<VersionRow>,
    pub scheduled: Option<VersionRow>,
    pub notice_days: u32,
    /// The earliest effective date a material change may have.
    pub earliest: chrono::DateTime<chrono::Utc>,
}

/// Loads one document for its editor (`ManagePolicies`).
pub async fn editor_data(slug: Option<String>, kind: String) -> Result<EditorData, PageError> {
    let editor = editor(
        &guard::visitor(),
        &crate::request::current_path(),
        slug.as_deref(),
    )?;
    let kind = DocumentKind::from_slug(&kind).ok_or(Denied::NotFound)?;
    let state = app_state()?;
    let now = state.clock.now();
    let versions = notices::versions(&state, editor.publisher, kind).await?;
    let notice_days = notices::notice_period(&state, editor.publisher).await?;
    Ok(EditorData {
        draft: versions.iter().find(|v| v.state == "draft").cloned(),
        current: notices::in_force(&versions, now).cloned(),
        scheduled: notices::upcoming(&versions, now).cloned(),
        earliest: now + chrono::Duration::days(i64::from(notice_days)),
        notice_days,
        editor,
        kind,
    })
}

/// A campaign's progress page.
pub async fn campaign(slug: Option<String>, id: String) -> Result<(Editor, Progress), PageError> {
    let editor = reader(slug.as_deref())?;
    let id: Uuid = id.parse().map_err(|_| Denied::NotFound)?;
    let state = app_state()?;
    let progress = campaigns::progress(&state.db, editor.publisher, id)
        .await?
        .ok_or(Denied::NotFound)?;
    Ok((editor, progress))
}

/// The audience page: subscribers, suppressions, lists.
pub async fn audience(slug: Option<String>) -> Result<(Editor, AudienceSummary), PageError> {
    let editor = editor(
        &guard::visitor(),
        &crate::request::current_path(),
        slug.as_deref(),
    )?;
    let state = app_state()?;
    let summary = subscriptions::audience(&state.db, editor.publisher).await?;
    Ok((editor, summary))
}

/// Platform versions the signed-in member of `slug` has not acknowledged.
pub async fn pending_acknowledgements(
    slug: &str,
) -> Result<(ClinicAccess, Vec<PendingAcknowledgement>), PageError> {
    let (user, access) = super::pages::clinic_member(slug, ClinicPermission::View)?;
    if !crate::domain::permissions::allows(access.role, ClinicPermission::ManageSettings) {
        return Ok((access, Vec::new()));
    }
    let state = app_state()?;
    let pending = notices::pending_acknowledgements(&state, access.clinic_id, user.id).await?;
    Ok((access, pending))
}

/// The operator's view of acknowledgements.
pub async fn coverage() -> Result<Vec<Coverage>, PageError> {
    super::pages::operator(PlatformPermission::ManagePlatformPolicies)?;
    let state = app_state()?;
    Ok(notices::acknowledgement_coverage(&state).await?)
}

/// A public document, with its publisher's name and the base of its pages.
#[derive(Clone, Debug)]
pub struct PublicDocumentPage {
    pub publisher_name: String,
    pub clinic: Option<clinics::PublicClinic>,
    pub kind: DocumentKind,
    /// e.g. `/c/lindenhof/privacy` or `/policies/cookie-policy`.
    pub path: String,
    pub document: PublicDocument,
}

/// Loads a published document for the public pages.
pub async fn public_document(
    clinic: Option<String>,
    kind: Option<String>,
) -> Result<Option<PublicDocumentPage>, PageError> {
    let state = app_state()?;
    let kind = match kind {
        None => DocumentKind::PrivacyNotice,
        Some(slug) => match DocumentKind::from_slug(&slug) {
            Some(kind) => kind,
            None => return Ok(None),
        },
    };
    let (publisher, publisher_name, found) = match clinic {
        Some(slug) => match clinics::public(&state, &slug).await? {
            Some(found) => (Publisher::Clinic(found.id), found.name.clone(), Some(found)),
            None => return Ok(None),
        },
        None => {
            let name = crate::backend::services::platform::get(&state.db)
                .await?
                .map_or_else(|| "Clinic Privacy Portal".to_owned(), |p| p.name);
            (Publisher::Platform, name, None)
        }
    };
    let document = notices::public_document(&state, publisher, kind).await?;
    Ok(Some(PublicDocumentPage {
        path: campaigns::document_path(found.as_ref().map(|c| c.slug.as_str()), kind),
        publisher_name,
        clinic: found,
        kind,
        document,
    }))
}

/// What an unsubscribe link stands for.
pub async fn unsubscribe_target(token: String) -> Result<Option<UnsubscribeTarget>, PageError> {
    let state = app_state()?;
    Ok(subscriptions::unsubscribe_target(&state, &token).await?)
}

/// Whether the unsubscribe page follows a completed POST.
pub fn unsubscribed() -> bool {
    use_context::<Unsubscribed>().is_some_and(|u| u.0)
}

/// The outcome of a confirmation POST, if this page follows one.
pub fn confirm_outcome() -> Option<bool> {
    use_context::<ConfirmOutcome>().map(|c| c.0)
}

/// The preview rendered by the editor's "Preview" button.
pub fn draft_preview() -> Option<String> {
    use_context::<DraftPreview>().map(|p| p.0)
}

/// The report of the import just made.
pub fn import_outcome() -> Option<ImportReport> {
    use_context::<ImportOutcome>().map(|o| o.0)
}

/// The `?sent=1` flag of the subscribe page.
pub fn subscribe_sent() -> bool {
    query("sent").is_some()
}
