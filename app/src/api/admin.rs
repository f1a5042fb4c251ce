//! Form handlers of a clinic's admin pages: `/admin/c/{clinic}/...`.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{MethodRouter, post};
use http::StatusCode;
use secrecy::SecretString;
use tower_sessions::Session;
use uuid::Uuid;

use super::auth::{RequestIdHeader, app_error};
use super::forms::FormData;
use super::guard;
use super::render::{self, FormState, PageRequest};
use super::{flash, see_other};
use crate::backend::audit::{Actor, AuditContext};
use crate::backend::auth::visitor::{ClinicAccess, Flash, SignedInUser, Visitor};
use crate::backend::error::AppError;
use crate::backend::services::clinics;
use crate::backend::services::sso::{
    self, ConnectionOwner, DiscoveryReport, SaveConnection, SsoError,
};
use crate::backend::services::team::{self, TeamError};
use crate::backend::state::AppState;
use crate::domain::clinic_profile::ClinicProfileForm;
use crate::domain::email::EmailAddress;
use crate::domain::forms::FieldErrors;
use crate::domain::permissions::ClinicPermission;
use crate::domain::roles::ClinicRole;
use crate::domain::sso::{MembershipMode, parse_default_role, parse_domains, parse_issuer};
use crate::domain::text::clean_text;

/// Routes of this module.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/admin/c/{clinic}/settings", post(save_settings)),
        ("/admin/c/{clinic}/team/invite", post(invite)),
        ("/admin/c/{clinic}/team/{member}/role", post(change_role)),
        (
            "/admin/c/{clinic}/team/{member}/remove",
            post(remove_member),
        ),
        (
            "/admin/c/{clinic}/team/invitations/{invitation}/revoke",
            post(revoke_invitation),
        ),
        ("/admin/c/{clinic}/sso", post(save_sso)),
        ("/admin/c/{clinic}/sso/test", post(test_sso)),
    ]
}

/// The audit actor for a signed-in user.
pub fn actor(user: &SignedInUser, request_id: Option<String>) -> AuditContext {
    let label =
        EmailAddress::parse(&user.email).map_or_else(|_| user.display_name.clone(), |e| e.masked());
    AuditContext {
        actor: Actor::User { id: user.id, label },
        request_id,
    }
}

fn form_state(form: &FormData, errors: FieldErrors) -> FormState {
    FormState {
        values: form.values(),
        errors,
        message: None,
    }
}

/// The clinic's profile as submitted on the settings page.
pub fn profile_form(form: &FormData) -> ClinicProfileForm {
    ClinicProfileForm {
        name: form.get("name"),
        legal_name: form.get("legal_name"),
        country: form.get("country"),
        jurisdiction: form.get("jurisdiction"),
        default_locale: form.get("default_locale"),
        deadline: match form.get("deadline_rule").as_str() {
            "days" => form.get("deadline_days"),
            _ => "calendar-month".to_owned(),
        },
        notice_period_days: form.get("notice_period_days"),
        contact_email: form.get("contact_email"),
        dpo_name: form.get("dpo_name"),
        dpo_email: form.get("dpo_email"),
        dpo_phone: form.get("dpo_phone"),
        authority_name: form.get("authority_name"),
        authority_url: form.get("authority_url"),
        authority_email: form.get("authority_email"),
        allowed_origins: form.get("allowed_origins"),
    }
}

async fn save_settings(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    page: PageRequest,
    RequestIdHeader(request_id): RequestIdHeader,
    form: FormData,
) -> Response {
    let path = format!("/admin/c/{slug}/settings");
    let (user, access) =
        match guard::clinic(&visitor, &path, &slug, ClinicPermission::ManageSettings) {
            Ok(found) => found,
            Err(denied) => return denied.response(),
        };
    let profile = match profile_form(&form).validate() {
        Ok(profile) => profile,
        Err(errors) => {
            return render::page(
                &state,
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                form_state(&form, errors),
            )
            .await;
        }
    };
    match clinics::update_profile(&state, &actor(&user, request_id), access.clinic_id, profile)
        .await
    {
        Ok(()) => {
            flash(&session, Flash::success("Settings saved.")).await;
            see_other(&path)
        }
        Err(e) => app_error(e.into()),
    }
}

fn team_error(error: TeamError) -> Option<String> {
    match error {
        TeamError::Db(e) => {
            tracing::error!(error = %e, "team change failed");
            None
        }
        other => Some(other.to_string()),
    }
}

async fn invite(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    page: PageRequest,
    RequestIdHeader(request_id): RequestIdHeader,
    form: FormData,
) -> Response {
    let team_path = format!("/admin/c/{slug}/team");
    let (user, access) =
        match guard::clinic(&visitor, &team_path, &slug, ClinicPermission::ManageTeam) {
            Ok(found) => found,
            Err(denied) => return denied.response(),
        };
    let mut errors = FieldErrors::new();
    let email = errors.check(
        "email",
        "Email address",
        EmailAddress::parse(&form.get("email")),
    );
    let role = errors.check("role", "Role", form.get("role").parse::<ClinicRole>());
    let page = page.at(&team_path);
    let (Some(email), Some(role)) = (email, role) else {
        return render::page(
            &state,
            page,
            StatusCode::UNPROCESSABLE_ENTITY,
            form_state(&form, errors),
        )
        .await;
    };
    match team::invite(
        &state,
        &actor(&user, request_id),
        access.clinic_id,
        access.role,
        &user.display_name,
        &email,
        role,
    )
    .await
    {
        Ok(_) => {
            flash(
                &session,
                Flash::success(format!("Invitation sent to {email}.")),
            )
            .await;
            see_other(&team_path)
        }
        Err(error) => match team_error(error) {
            Some(message) => {
                let state_with_message = FormState {
                    values: form.values(),
                    errors,
                    message: Some(message),
                };
                render::page(
                    &state,
                    page,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    state_with_message,
                )
                .await
            }
            None => app_error(AppError::Unavailable),
        },
    }
}

/// The team page of clinic `slug` for a member allowed to manage the team.
fn team_manager(
    visitor: &Visitor,
    slug: &str,
) -> Result<(String, SignedInUser, ClinicAccess), guard::Denied> {
    let team_path = format!("/admin/c/{slug}/team");
    guard::clinic(visitor, &team_path, slug, ClinicPermission::ManageTeam)
        .map(|(user, access)| (team_path, user, access))
}

/// Shows the outcome of a team action as a message on the team page.
async fn team_outcome(
    session: &Session,
    team_path: &str,
    result: Result<(), TeamError>,
    success: String,
) -> Response {
    match result {
        Ok(()) => flash(session, Flash::success(success)).await,
        Err(error) => match team_error(error) {
            Some(message) => flash(session, Flash::error(message)).await,
            None => return app_error(AppError::Unavailable),
        },
    }
    see_other(team_path)
}

async fn change_role(
    State(state): State<AppState>,
    Path((slug, member)): Path<(String, String)>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    RequestIdHeader(request_id): RequestIdHeader,
    form: FormData,
) -> Response {
    let (team_path, user, access) = match team_manager(&visitor, &slug) {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    let (Ok(member), Ok(role)) = (
        member.parse::<Uuid>(),
        form.get("role").parse::<ClinicRole>(),
    ) else {
        flash(&session, Flash::error("Choose a role from the list.")).await;
        return see_other(&team_path);
    };
    let result = team::change_role(
        &state,
        &actor(&user, request_id),
        access.clinic_id,
        access.role,
        member,
        role,
    )
    .await;
    team_outcome(
        &session,
        &team_path,
        result,
        format!("Role changed to {}.", role.label()),
    )
    .await
}

async fn remove_member(
    State(state): State<AppState>,
    Path((slug, member)): Path<(String, String)>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    RequestIdHeader(request_id): RequestIdHeader,
    _form: FormData,
) -> Response {
    let (team_path, user, access) = match team_manager(&visitor, &slug) {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    let Ok(member) = member.parse::<Uuid>() else {
        return super::error_page(StatusCode::NOT_FOUND, "That member no longer exists.");
    };
    let result = team::remove_member(
        &state,
        &actor(&user, request_id),
        access.clinic_id,
        access.role,
        member,
    )
    .await;
    team_outcome(
        &session,
        &team_path,
        result,
        "The member was removed from the clinic.".into(),
    )
    .await
}

async fn revoke_invitation(
    State(state): State<AppState>,
    Path((slug, invitation)): Path<(String, String)>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    RequestIdHeader(request_id): RequestIdHeader,
    _form: FormData,
) -> Response {
    let (team_path, user, access) = match team_manager(&visitor, &slug) {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    let Ok(invitation) = invitation.parse::<Uuid>() else {
        return super::error_page(StatusCode::NOT_FOUND, "That invitation no longer exists.");
    };
    let result = team::revoke(
        &state,
        &actor(&user, request_id),
        access.clinic_id,
        access.role,
        invitation,
    )
    .await;
    team_outcome(
        &session,
        &team_path,
        result,
        "The invitation was revoked.".into(),
    )
    .await
}

/// Validates the SSO connection form; `has_secret` tells whether a stored
/// secret may be kept when the field is left empty.
pub fn connection_form(
    form: &FormData,
    has_secret: bool,
    allow_owner_default: bool,
) -> Result<SaveConnection, FieldErrors> {
    let mut e = FieldErrors::new();
    let display_name = e.check(
        "display_name",
        "Name",
        clean_text(&form.get("display_name"), 100, false),
    );
    let issuer_url = e.check(
        "issuer_url",
        "Issuer URL",
        parse_issuer(&form.get("issuer_url")),
    );
    let client_id = e.check(
        "client_id",
        "Client ID",
        clean_text(&form.get("client_id"), 300, false),
    );
    let secret = form.get("client_secret");
    let client_secret = if secret.trim().is_empty() {
        if !has_secret {
            e.add(
                "client_secret",
                "Client secret is required for a new connection",
            );
        }
        None
    } else {
        Some(SecretString::from(secret.trim().to_owned()))
    };
    let domains = e.check(
        "domains",
        "Email domains",
        parse_domains(&form.get("domains")),
    );
    let membership_mode = e.check(
        "membership_mode",
        "Membership",
        form.get("membership_mode").parse::<MembershipMode>(),
    );
    let default_role = if allow_owner_default {
        Some(ClinicRole::Viewer)
    } else {
        e.check(
            "default_role",
            "Default role",
            parse_default_role(&form.get("default_role")),
        )
    };
    match (
        display_name,
        issuer_url,
        client_id,
        domains,
        membership_mode,
        default_role,
    ) {
        (
            Some(display_name),
            Some(issuer_url),
            Some(client_id),
            Some(domains),
            Some(membership_mode),
            Some(default_role),
        ) if e.is_empty() => Ok(SaveConnection {
            display_name,
            issuer_url,
            client_id,
            client_secret,
            domains,
            membership_mode,
            default_role,
            enabled: form.checked("enabled"),
        }),
        _ => Err(e),
    }
}

/// Saves a connection for `owner`, answering as the SSO page expects.
pub async fn save_connection(
    state: &AppState,
    session: &Session,
    page: PageRequest,
    ctx: &AuditContext,
    owner: ConnectionOwner,
    back: &str,
    form: FormData,
) -> Response {
    let existing = match sso::get(state, owner).await {
        Ok(existing) => existing,
        Err(e) => return app_error(e.into()),
    };
    let input = match connection_form(
        &form,
        existing.is_some(),
        owner == ConnectionOwner::Platform,
    ) {
        Ok(input) => input,
        Err(errors) => {
            return render::page(
                state,
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                form_state(&form, errors),
            )
            .await;
        }
    };
    match sso::save(state, ctx, owner, input).await {
        Ok(()) => {
            flash(session, Flash::success("Sign-in connection saved.")).await;
            see_other(back)
        }
        Err(SsoError::Db(e)) => app_error(e.into()),
        Err(error) => {
            let mut errors = FieldErrors::new();
            match &error {
                SsoError::DomainTaken(_) => errors.add("domains", error.to_string()),
                SsoError::SecretRequired => errors.add("client_secret", error.to_string()),
                _ => errors.add("form", error.to_string()),
            }
            render::page(
                state,
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                form_state(&form, errors),
            )
            .await
        }
    }
}

/// What the SSO page shows after "Test connection".
#[derive(Clone, Debug)]
pub struct DiscoveryOutcome(pub Result<DiscoveryReport, String>);

crate::page_context!(DiscoveryOutcome);

/// Runs discovery against the issuer typed into the form and shows the
/// result next to the (kept) form.
pub async fn test_connection(state: &AppState, page: PageRequest, form: FormData) -> Response {
    let outcome = match parse_issuer(&form.get("issuer_url")) {
        Ok(issuer) => sso::test_discovery(&issuer)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("Issuer URL {e}")),
    };
    let context = (
        form_state(&form, FieldErrors::new()),
        DiscoveryOutcome(outcome),
    );
    render::page(state, page, StatusCode::OK, context).await
}

async fn save_sso(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(visitor): Extension<Visitor>,
    session: Session,
    page: PageRequest,
    RequestIdHeader(request_id): RequestIdHeader,
    form: FormData,
) -> Response {
    let path = format!("/admin/c/{slug}/sso");
    let (user, access) = match guard::clinic(&visitor, &path, &slug, ClinicPermission::ManageSso) {
        Ok(found) => found,
        Err(denied) => return denied.response(),
    };
    let ctx = actor(&user, request_id);
    save_connection(
        &state,
        &session,
        page,
        &ctx,
        ConnectionOwner::Clinic(access.clinic_id),
        &path,
        form,
    )
    .await
}

async fn test_sso(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(visitor): Extension<Visitor>,
    page: PageRequest,
    form: FormData,
) -> Response {
    let path = format!("/admin/c/{slug}/sso");
    if let Err(denied) = guard::clinic(&visitor, &path, &slug, ClinicPermission::ManageSso) {
        return denied.response();
    }
    test_connection(&state, page.at(&path), form).await
}
