//! Sub-processors: the operator's register forms under
//! `/admin/platform/subprocessors`, clinics' objections under
//! `/admin/c/{clinic}/subprocessors`, the emailed link that opens a change
//! in the reader's clinic, the public JSON and Atom outputs, and the
//! loaders of their pages.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use chrono::{DateTime, Utc};
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use uuid::Uuid;

use super::admin::actor;
use super::auth::app_error;
use super::guard::{self, Denied};
use super::notices::{EditArgs, form_state};
use super::pages::{PageError, app_state};
use super::render;
use super::{error_page, flash, see_other};
use crate::backend::auth::visitor::{ClinicAccess, Flash, SignedInUser, Visitor};
use crate::backend::error::AppError;
use crate::backend::services::notices::Publisher;
use crate::backend::services::notices::campaigns::{self, Delivery};
use crate::backend::services::subprocessors::{
    self, AnnounceFailure, Announcement, ChangeRow, ChangeView, ClinicObjection, ObjectionRow,
    Register, SubprocessorRow,
};
use crate::backend::state::AppState;
use crate::domain::forms::FieldErrors;
use crate::domain::notices::parse_effective_date;
use crate::domain::permissions::{ClinicPermission, PlatformPermission, allows};
use crate::domain::subprocessors::{ChangeKind, SubprocessorForm};

/// The operator's pages.
pub const PLATFORM_BASE: &str = "/admin/platform/subprocessors";

/// Routes of this module.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/admin/platform/subprocessors/new", post(create)),
        ("/admin/platform/subprocessors/{id}/edit", post(update)),
        ("/admin/platform/subprocessors/announce", post(announce)),
        (
            "/admin/platform/subprocessors/changes/{id}",
            post(platform_change_action),
        ),
        (
            "/admin/c/{clinic}/subprocessors/changes/{id}",
            post(clinic_change_action),
        ),
        ("/admin/subprocessor-changes/{id}", get(open_change)),
        ("/subprocessors.json", get(platform_json)),
        ("/subprocessors.atom", get(platform_atom)),
        ("/subprocessors.schema.json", get(schema)),
    ]
}

fn operator(visitor: &Visitor, path: &str) -> Result<SignedInUser, Denied> {
    guard::platform(visitor, path, PlatformPermission::ManageSubprocessors)
}

fn entry_form(form: &super::forms::FormData) -> SubprocessorForm {
    SubprocessorForm {
        legal_name: form.get("legal_name"),
        service: form.get("service"),
        purpose: form.get("purpose"),
        categories: form.all("categories"),
        countries: form.get("countries"),
        safeguard: form.get("safeguard"),
        website: form.get("website"),
        terms_url: form.get("terms_url"),
    }
}

/// The form at the request's path again, with what was typed and `errors`.
pub(super) async fn invalid(
    args: &EditArgs,
    errors: FieldErrors,
    message: Option<String>,
) -> Response {
    render::page(
        &args.state,
        args.page.clone(),
        StatusCode::UNPROCESSABLE_ENTITY,
        form_state(&args.form, errors, message),
    )
    .await
}

/// A service's refusal shown above the re-rendered form; other errors as
/// error pages.
pub(super) async fn refused(args: &EditArgs, error: AppError) -> Response {
    match error {
        AppError::BadRequest(message) | AppError::Conflict(message) => {
            invalid(args, FieldErrors::new(), Some(message)).await
        }
        other => app_error(other),
    }
}

async fn create(args: EditArgs) -> Response {
    let user = match operator(&args.visitor, &args.page.path()) {
        Ok(user) => user,
        Err(denied) => return denied.response(),
    };
    let mut errors = FieldErrors::new();
    let entry = entry_form(&args.form).validate().map_err(|found| {
        for (field, message) in found.iter() {
            errors.add(field, message);
        }
    });
    let active_since = if args.form.checked("in_service") {
        match errors.check(
            "active_since",
            "The date it started",
            parse_effective_date(&args.form.get("active_since")),
        ) {
            Some(Some(at)) => Some(at),
            Some(None) => {
                errors.add("active_since", "Give the date it started processing data.");
                None
            }
            None => None,
        }
    } else {
        None
    };
    let entry = match entry {
        Ok(entry) if errors.is_empty() => entry,
        _ => return invalid(&args, errors, None).await,
    };
    let ctx = actor(&user, args.request_id.clone());
    match subprocessors::create(&args.state, &ctx, Publisher::Platform, entry, active_since).await {
        Ok(_) => {
            let message = if active_since.is_some() {
                "Added to the register as active."
            } else {
                "Added to the register as proposed. Announce it to start the objection window."
            };
            flash(&args.session, Flash::success(message)).await;
            see_other(PLATFORM_BASE)
        }
        Err(e) => refused(&args, e).await,
    }
}

async fn update(Path(id): Path<String>, args: EditArgs) -> Response {
    let user = match operator(&args.visitor, &args.page.path()) {
        Ok(user) => user,
        Err(denied) => return denied.response(),
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found();
    };
    let entry = match entry_form(&args.form).validate() {
        Ok(entry) => entry,
        Err(errors) => return invalid(&args, errors, None).await,
    };
    let ctx = actor(&user, args.request_id.clone());
    match subprocessors::update(&args.state, &ctx, Publisher::Platform, id, entry).await {
        Ok(()) => {
            flash(&args.session, Flash::success("The entry is saved.")).await;
            see_other(PLATFORM_BASE)
        }
        Err(e) => refused(&args, e).await,
    }
}

async fn announce(args: EditArgs) -> Response {
    let user = match operator(&args.visitor, &args.page.path()) {
        Ok(user) => user,
        Err(denied) => return denied.response(),
    };
    let form = &args.form;
    let mut errors = FieldErrors::new();
    let kind = errors.check(
        "kind",
        "The kind of change",
        form.get("kind").parse::<ChangeKind>(),
    );
    let subprocessor = form.get("subprocessor").parse::<Uuid>().ok();
    if subprocessor.is_none() {
        errors.add(
            "subprocessor",
            "Choose the sub-processor the change concerns.",
        );
    }
    let replaces = form.get("replaces").parse::<Uuid>().ok();
    if kind == Some(ChangeKind::Replace) && replaces.is_none() {
        errors.add(
            "replaces",
            "Choose the active sub-processor being replaced.",
        );
    }
    if let Err(e) = crate::domain::subprocessors::clean_statement(&form.get("summary")) {
        errors.add("summary", e);
    }
    let effective_at = errors.check(
        "effective_at",
        "The effective date",
        parse_effective_date(&form.get("effective_at")),
    );
    if !form.checked("confirm") {
        errors.add(
            "confirm",
            "Tick the box to confirm that every clinic and subscriber is to be told.",
        );
    }
    let (Some(kind), Some(subprocessor), Some(effective_at)) = (kind, subprocessor, effective_at)
    else {
        return invalid(&args, errors, None).await;
    };
    if !errors.is_empty() {
        return invalid(&args, errors, None).await;
    }
    let announcement = Announcement {
        kind,
        subprocessor,
        replaces: (kind == ChangeKind::Replace).then_some(replaces).flatten(),
        summary: form.get("summary"),
        effective_at,
    };
    let ctx = actor(&user, args.request_id.clone());
    match subprocessors::announce(
        &args.state,
        &ctx,
        Publisher::Platform,
        Some(user.id),
        announcement,
    )
    .await
    {
        Ok(announced) => {
            let message = format!(
                "The change is announced: objections are open until {}, and it takes effect on {}. The change notice is being sent.",
                announced.objection_deadline.format("%-d %B %Y, %H:%M UTC"),
                announced.effective_at.format("%-d %B %Y, %H:%M UTC"),
            );
            flash(&args.session, Flash::success(message)).await;
            see_other(&format!("{PLATFORM_BASE}/changes/{}", announced.change))
        }
        Err(AnnounceFailure::Date(refused)) => {
            let mut errors = FieldErrors::new();
            errors.add("effective_at", refused.to_string());
            invalid(&args, errors, None).await
        }
        Err(AnnounceFailure::App(e)) => refused(&args, e).await,
    }
}

/// `POST /admin/platform/subprocessors/changes/{id}`: `intent=resolve`
/// (with `objection` and `resolution`) or `intent=cancel`.
async fn platform_change_action(Path(id): Path<String>, args: EditArgs) -> Response {
    let path = args.page.path();
    let user = match operator(&args.visitor, &path) {
        Ok(user) => user,
        Err(denied) => return denied.response(),
    };
    let Ok(change) = id.parse::<Uuid>() else {
        return not_found();
    };
    let ctx = actor(&user, args.request_id.clone());
    match args.form.get("intent").as_str() {
        "resolve" => {
            let Ok(objection) = args.form.get("objection").parse::<Uuid>() else {
                return not_found();
            };
            if let Err(e) =
                crate::domain::subprocessors::clean_statement(&args.form.get("resolution"))
            {
                let mut errors = FieldErrors::new();
                errors.add("resolution", e);
                return invalid(&args, errors, None).await;
            }
            match subprocessors::resolve(
                &args.state,
                &ctx,
                Some(user.id),
                objection,
                &args.form.get("resolution"),
            )
            .await
            {
                Ok(()) => {
                    flash(
                        &args.session,
                        Flash::success(
                            "The objection is resolved and the clinic has been emailed your note.",
                        ),
                    )
                    .await;
                    see_other(&path)
                }
                Err(e) => refused(&args, e).await,
            }
        }
        "cancel" => {
            if !args.form.checked("confirm") {
                let mut errors = FieldErrors::new();
                errors.add(
                    "confirm",
                    "Tick the box to confirm that the change is withdrawn.",
                );
                return invalid(&args, errors, None).await;
            }
            match subprocessors::cancel(&args.state, &ctx, Publisher::Platform, change).await {
                Ok(()) => {
                    flash(
                        &args.session,
                        Flash::success("The change is cancelled. The register stays as it was."),
                    )
                    .await;
                    see_other(&path)
                }
                Err(e) => refused(&args, e).await,
            }
        }
        _ => error_page(StatusCode::BAD_REQUEST, "Unknown action."),
    }
}

/// `POST /admin/c/{clinic}/subprocessors/changes/{id}`: `intent=object`
/// (with `reason`) or `intent=withdraw` (with `objection`).
async fn clinic_change_action(
    Path((slug, id)): Path<(String, String)>,
    args: EditArgs,
) -> Response {
    let path = args.page.path();
    let (user, access) = match guard::clinic(
        &args.visitor,
        &path,
        &slug,
        ClinicPermission::ObjectToSubprocessors,
    ) {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    let Ok(change) = id.parse::<Uuid>() else {
        return not_found();
    };
    let ctx = actor(&user, args.request_id.clone());
    match args.form.get("intent").as_str() {
        "object" => {
            if let Err(e) = crate::domain::subprocessors::clean_statement(&args.form.get("reason"))
            {
                let mut errors = FieldErrors::new();
                errors.add("reason", e);
                return invalid(&args, errors, None).await;
            }
            match subprocessors::object(
                &args.state,
                &ctx,
                access.clinic_id,
                Some(user.id),
                change,
                &args.form.get("reason"),
            )
            .await
            {
                Ok(_) => {
                    flash(
                        &args.session,
                        Flash::success(
                            "Your objection is recorded. The platform will answer it by email.",
                        ),
                    )
                    .await;
                    see_other(&path)
                }
                Err(e) => refused(&args, e).await,
            }
        }
        "withdraw" => {
            let Ok(objection) = args.form.get("objection").parse::<Uuid>() else {
                return not_found();
            };
            match subprocessors::withdraw(&args.state, &ctx, access.clinic_id, objection).await {
                Ok(()) => {
                    flash(
                        &args.session,
                        Flash::success("Your objection is withdrawn."),
                    )
                    .await;
                    see_other(&path)
                }
                Err(e) => refused(&args, e).await,
            }
        }
        _ => error_page(StatusCode::BAD_REQUEST, "Unknown action."),
    }
}

/// `/admin/subprocessor-changes/{id}`, the link in change notices: opens
/// the change in the first clinic where the reader may object, or the
/// operator's page.
async fn open_change(
    Path(id): Path<String>,
    visitor: Option<axum::Extension<Visitor>>,
) -> Response {
    let visitor = visitor.map(|v| v.0).unwrap_or_default();
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found();
    };
    let here = format!("/admin/subprocessor-changes/{id}");
    let Some(user) = visitor.user.as_ref() else {
        return see_other(&guard::login_url(&here));
    };
    if let Some(access) = subprocessors::objecting_clinic(user) {
        return see_other(&format!(
            "/admin/c/{}/subprocessors/changes/{id}",
            access.slug
        ));
    }
    if user.can_on_platform(PlatformPermission::ManageSubprocessors) {
        return see_other(&format!("{PLATFORM_BASE}/changes/{id}"));
    }
    error_page(
        StatusCode::FORBIDDEN,
        "Only a clinic's Owners, Admins and Privacy Officers may object to sub-processor changes. The public list shows every change.",
    )
}

fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "There is no such sub-processor or change.",
    )
}

// ---------------------------------------------------------------------------
// Machine-readable outputs.

/// Version of the JSON document's schema.
pub const JSON_SCHEMA_VERSION: u32 = 1;
/// The JSON Schema of `/subprocessors.json`, served beside it.
pub const JSON_SCHEMA: &str = include_str!("../../../docs/subprocessors.schema.json");

async fn schema(State(state): State<AppState>) -> Response {
    super::schema::response(
        JSON_SCHEMA,
        &state.settings.url("/subprocessors.schema.json"),
    )
}

fn entry_json(entry: &SubprocessorRow) -> serde_json::Value {
    serde_json::json!({
        "id": entry.id,
        "legal_name": entry.legal_name,
        "service": entry.service,
        "purpose": entry.purpose,
        "data_categories": entry.data_categories,
        "countries": entry.countries,
        "transfer_safeguard": entry.safeguard,
        "website": entry.website,
        "terms_url": entry.terms_url,
        "active_since": entry.active_since.map(|at| at.to_rfc3339()),
    })
}

fn change_json(view: &ChangeView, now: DateTime<Utc>) -> serde_json::Value {
    let c = &view.change;
    let reference =
        |e: &SubprocessorRow| serde_json::json!({ "id": e.id, "legal_name": e.legal_name });
    serde_json::json!({
        "id": c.id,
        "kind": c.kind,
        "status": if c.is_in_effect(now) { "effective" } else { "announced" },
        "subprocessor": reference(&view.subprocessor),
        "replaces": view.replaces.as_ref().map(reference),
        "summary": c.summary,
        "announced_at": c.announced_at.to_rfc3339(),
        "objection_deadline": c.objection_deadline.to_rfc3339(),
        "effective_at": c.effective_at.to_rfc3339(),
    })
}

/// The register as the public JSON document.
pub fn register_json(register: &Register, base_url: &str, now: DateTime<Utc>) -> serde_json::Value {
    let subprocessors: Vec<serde_json::Value> = register
        .in_force(now)
        .iter()
        .flat_map(|(_, entries)| entries.iter().map(entry_json))
        .collect();
    serde_json::json!({
        "$schema": format!("{base_url}/subprocessors.schema.json"),
        "schema_version": JSON_SCHEMA_VERSION,
        "publisher": register.publisher_name,
        "url": format!("{base_url}/subprocessors"),
        "generated_at": now.to_rfc3339(),
        "objection_window_days": register.window_days,
        "subprocessors": subprocessors,
        "upcoming_changes": register.upcoming(now).into_iter().map(|c| change_json(c, now)).collect::<Vec<_>>(),
        "history": register.history(now).into_iter().map(|c| change_json(c, now)).collect::<Vec<_>>(),
    })
}

async fn platform_json(State(state): State<AppState>) -> Response {
    match subprocessors::register(&state.db, Publisher::Platform).await {
        Ok(register) => {
            let body = register_json(&register, &state.settings.url(""), state.clock.now());
            ([(CACHE_CONTROL, "public, max-age=300")], axum::Json(body)).into_response()
        }
        Err(e) => app_error(e.into()),
    }
}

/// The register's changes as an Atom feed, newest first: one entry per
/// announced (and not cancelled) change.
pub fn register_atom(register: &Register, base_url: &str, now: DateTime<Utc>) -> String {
    use atom_syndication::{
        ContentBuilder, EntryBuilder, FeedBuilder, LinkBuilder, PersonBuilder, Text,
    };
    let page = format!("{base_url}/subprocessors");
    let mut changes: Vec<&ChangeView> = register
        .changes
        .iter()
        .filter(|c| c.change.status != "cancelled")
        .collect();
    changes.sort_by_key(|c| std::cmp::Reverse(c.change.announced_at));
    // The newest change to anything the feed says, so that the same feed
    // read twice says the same: an entry changes when its row does and when
    // its change takes effect (its text says so from then on).
    let entry_updated = |c: &ChangeRow| {
        if c.is_in_effect(now) {
            c.updated_at.max(c.effective_at)
        } else {
            c.updated_at
        }
    };
    let updated = changes
        .iter()
        .map(|view| entry_updated(&view.change))
        .max()
        .or_else(|| register.entries.iter().map(|e| e.updated_at).max())
        .unwrap_or(DateTime::UNIX_EPOCH);
    let entries = changes
        .iter()
        .map(|view| {
            let c = &view.change;
            let status = if c.is_in_effect(now) {
                "in effect since"
            } else {
                "takes effect on"
            };
            let text = format!(
                "{}. {status} {}; objections until {}. {}",
                view.headline(),
                c.effective_at.format("%-d %B %Y"),
                c.objection_deadline.format("%-d %B %Y"),
                c.summary
            );
            EntryBuilder::default()
                .id(format!("urn:uuid:{}", c.id))
                .title(Text::plain(view.headline()))
                .updated(entry_updated(c).fixed_offset())
                .published(Some(c.announced_at.fixed_offset()))
                .links(vec![
                    LinkBuilder::default()
                        .href(format!("{page}#change-{}", c.id.simple()))
                        .rel("alternate")
                        .mime_type(Some("text/html".to_owned()))
                        .build(),
                ])
                .summary(Some(Text::plain(text.clone())))
                .content(Some(
                    ContentBuilder::default()
                        .value(Some(text))
                        .content_type(Some("text".to_owned()))
                        .build(),
                ))
                .build()
        })
        .collect::<Vec<_>>();
    let feed = FeedBuilder::default()
        .id(format!("{page}.atom"))
        .title(Text::plain(format!(
            "{}: sub-processor changes",
            register.publisher_name
        )))
        .updated(updated.fixed_offset())
        .authors(vec![
            PersonBuilder::default()
                .name(register.publisher_name.clone())
                .build(),
        ])
        .links(vec![
            LinkBuilder::default()
                .href(format!("{page}.atom"))
                .rel("self")
                .mime_type(Some("application/atom+xml".to_owned()))
                .build(),
            LinkBuilder::default()
                .href(page.clone())
                .rel("alternate")
                .mime_type(Some("text/html".to_owned()))
                .build(),
        ])
        .entries(entries)
        .build();
    feed.to_string()
}

async fn platform_atom(State(state): State<AppState>) -> Response {
    match subprocessors::register(&state.db, Publisher::Platform).await {
        Ok(register) => (
            [
                (CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
                (CACHE_CONTROL, "public, max-age=300"),
            ],
            register_atom(&register, &state.settings.url(""), state.clock.now()),
        )
            .into_response(),
        Err(e) => app_error(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Page loaders.

/// The public list.
#[derive(Clone, Debug)]
pub struct PublicRegister {
    pub register: Register,
    pub now: DateTime<Utc>,
}

pub async fn public_register() -> Result<PublicRegister, PageError> {
    let state = app_state()?;
    Ok(PublicRegister {
        register: subprocessors::register(&state.db, Publisher::Platform).await?,
        now: state.clock.now(),
    })
}

/// The operator's overview.
#[derive(Clone, Debug)]
pub struct OperatorRegister {
    pub register: Register,
    /// Objections waiting for an answer.
    pub open_objections: i64,
    pub now: DateTime<Utc>,
}

fn current_operator() -> Result<SignedInUser, PageError> {
    Ok(operator(
        &guard::visitor(),
        &crate::request::current_path(),
    )?)
}

pub async fn operator_register() -> Result<OperatorRegister, PageError> {
    current_operator()?;
    let state = app_state()?;
    Ok(OperatorRegister {
        register: subprocessors::register(&state.db, Publisher::Platform).await?,
        open_objections: subprocessors::open_objections(&state.db).await?,
        now: state.clock.now(),
    })
}

/// An entry for the edit form (`None` for a new one).
pub async fn operator_entry(
    id: Option<String>,
) -> Result<(Register, Option<SubprocessorRow>), PageError> {
    current_operator()?;
    let state = app_state()?;
    let register = subprocessors::register(&state.db, Publisher::Platform).await?;
    let entry = match id {
        None => None,
        Some(id) => {
            let id = id.parse::<Uuid>().map_err(|_| Denied::NotFound)?;
            Some(register.entry(id).cloned().ok_or(Denied::NotFound)?)
        }
    };
    Ok((register, entry))
}

/// One change, for the operator.
#[derive(Clone, Debug)]
pub struct OperatorChange {
    pub view: ChangeView,
    pub objections: Vec<ClinicObjection>,
    pub delivery: Option<Delivery>,
    pub now: DateTime<Utc>,
}

pub async fn operator_change(id: Option<String>) -> Result<OperatorChange, PageError> {
    current_operator()?;
    let state = app_state()?;
    let id = id
        .and_then(|id| id.parse::<Uuid>().ok())
        .ok_or(Denied::NotFound)?;
    let register = subprocessors::register(&state.db, Publisher::Platform).await?;
    let view = register.change(id).cloned().ok_or(Denied::NotFound)?;
    let objections = subprocessors::objections_to(&state.db, id).await?;
    let delivery = campaigns::change_delivery(&state.db, Publisher::Platform, id).await?;
    Ok(OperatorChange {
        view,
        objections,
        delivery,
        now: state.clock.now(),
    })
}

/// The platform's register as a clinic sees it.
#[derive(Clone, Debug)]
pub struct ClinicRegister {
    pub access: ClinicAccess,
    pub register: Register,
    pub objections: Vec<ObjectionRow>,
    pub can_object: bool,
    pub now: DateTime<Utc>,
}

pub async fn clinic_register(slug: Option<String>) -> Result<ClinicRegister, PageError> {
    let slug = slug.ok_or(Denied::NotFound)?;
    let (_, access) = super::pages::clinic_member(&slug, ClinicPermission::View)?;
    let state = app_state()?;
    Ok(ClinicRegister {
        can_object: allows(access.role, ClinicPermission::ObjectToSubprocessors),
        register: subprocessors::register(&state.db, Publisher::Platform).await?,
        objections: subprocessors::clinic_objections(&state.db, access.clinic_id).await?,
        now: state.clock.now(),
        access,
    })
}

/// The same data narrowed to one change (`None` when there is none).
pub async fn clinic_change(
    slug: Option<String>,
    id: Option<String>,
) -> Result<(ClinicRegister, ChangeView), PageError> {
    let data = clinic_register(slug).await?;
    let id = id
        .and_then(|id| id.parse::<Uuid>().ok())
        .ok_or(Denied::NotFound)?;
    let view = data.register.change(id).cloned().ok_or(Denied::NotFound)?;
    Ok((data, view))
}
