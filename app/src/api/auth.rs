//! Signing in and out: the email form, one-time links, SSO and invitations.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http::StatusCode;
use http::request::Parts;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use uuid::Uuid;

use super::forms::FormData;
use super::guard::{Denied, safe_next};
use super::render::{self, FormState, PageRequest};
use super::{error_page, see_other};
use crate::backend::audit::{Actor, AuditContext};
use crate::backend::auth::keys;
use crate::backend::auth::visitor::{Flash, Visitor};
use crate::backend::error::AppError;
use crate::backend::ratelimit::{self, LOGIN_PER_EMAIL, LOGIN_PER_IP};
use crate::backend::services::auth::{self as auth_service, LinkError, LoginRoute, SignInMethod};
use crate::backend::services::sso::{self, OidcFlow, SsoError};
use crate::backend::services::team::{self, TeamError};
use crate::backend::state::AppState;
use crate::domain::email::EmailAddress;
use crate::domain::forms::FieldErrors;
use crate::domain::tokens;

/// Routes of this module.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/login", post(login)),
        ("/auth/link/{token}", post(redeem_link)),
        ("/auth/oidc/{connection}/start", get(oidc_start)),
        ("/auth/oidc/callback", get(oidc_callback)),
        ("/invite/{token}", post(accept_invitation)),
        ("/logout", post(logout)),
        ("/admin", get(admin_home)),
    ]
}

/// The client's address (the TCP peer).
#[derive(Clone, Debug)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
        Ok(Self(ip))
    }
}

/// The request id, for audit events.
pub fn request_id(page: &Parts) -> Option<String> {
    page.headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Shown by the sign-in page instead of the form when the address belongs to
/// an SSO domain: a link (and an automatic refresh) to the provider. A
/// redirect straight from the form's POST would be blocked by the page's
/// `form-action 'self'` policy.
#[derive(Clone, Debug)]
pub struct SsoContinue {
    pub href: String,
    pub connection_name: String,
}

crate::page_context!(SsoContinue);

/// Sign-in attempts rejected by the rate limiter.
const TOO_MANY: &str = "Too many sign-in attempts. Please wait a few minutes and try again.";

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    page: PageRequest,
    form: FormData,
) -> Response {
    let next = safe_next(&form.get("next"));
    let email = match EmailAddress::parse(&form.get("email")) {
        Ok(email) => email,
        Err(e) => {
            let mut errors = FieldErrors::new();
            errors.add("email", format!("Email address {e}"));
            let form = FormState {
                values: form.values(),
                errors,
                message: None,
            };
            return render::page(&state, page, StatusCode::UNPROCESSABLE_ENTITY, form).await;
        }
    };
    let now = state.clock.now();
    let limits = (LOGIN_PER_IP, LOGIN_PER_EMAIL);
    match ratelimit::allow_submission(&state.db, "login", &ip, email.as_str(), limits, now).await {
        Ok(true) => {}
        Ok(false) => {
            let form = FormState {
                values: form.values(),
                errors: FieldErrors::new(),
                message: Some(TOO_MANY.into()),
            };
            return render::page(&state, page, StatusCode::TOO_MANY_REQUESTS, form).await;
        }
        Err(e) => return app_error(e.into()),
    }
    match auth_service::route_for(&state, &email).await {
        Ok(LoginRoute::Sso { connection_id }) => {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("login_hint", email.as_str())
                .append_pair("next", &next)
                .finish();
            let href = format!("/auth/oidc/{connection_id}/start?{query}");
            let name = match sso::connection_display_name(&state, connection_id).await {
                Ok(name) => name,
                Err(e) => return app_error(e.into()),
            };
            render::page(
                &state,
                page,
                StatusCode::OK,
                SsoContinue {
                    href,
                    connection_name: name,
                },
            )
            .await
        }
        Ok(LoginRoute::EmailLink) => match auth_service::send_link(&state, &email).await {
            Ok(()) => see_other("/login/sent"),
            Err(e) => app_error(e.into()),
        },
        Err(e) => app_error(e.into()),
    }
}

/// Turns a service error into its error page (details go to the log only).
pub fn app_error(error: AppError) -> Response {
    let status = error.status();
    let message = match &error {
        AppError::Internal(detail) => {
            tracing::error!(%detail, "request failed");
            "Something went wrong on our side. Please try again.".to_owned()
        }
        other => other.to_string(),
    };
    error_page(status, message)
}

/// Starts a fresh signed-in session for `user`. The session id is replaced
/// (no fixation) and a new form token issued.
pub async fn establish_session(
    session: &Session,
    state: &AppState,
    user: Uuid,
) -> Result<(), Response> {
    let now = state.clock.now().to_rfc3339();
    let result = async {
        session.cycle_id().await?;
        session.remove_value(keys::OIDC_FLOW).await?;
        session.insert(keys::USER_ID, user.to_string()).await?;
        session.insert(keys::SIGNED_IN_AT, &now).await?;
        session.insert(keys::LAST_SEEN, &now).await?;
        session.insert(keys::CSRF, tokens::generate().text).await?;
        Ok::<_, tower_sessions::session::Error>(())
    }
    .await;
    result.map_err(|e| {
        tracing::error!(error = %e, "session could not be written");
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Signing in is not possible right now. Please try again shortly.",
        )
    })
}

/// Counts a sign-in attempt from `ip` under `scope`; returns the response to
/// send instead when the limit is reached or the count failed.
async fn refuse_if_limited(state: &AppState, scope: &str, ip: &str) -> Option<Response> {
    match ratelimit::hit(
        &state.db,
        &ratelimit::ip_key(scope, ip),
        LOGIN_PER_IP,
        state.clock.now(),
    )
    .await
    {
        Ok(true) => None,
        Ok(false) => Some(error_page(StatusCode::TOO_MANY_REQUESTS, TOO_MANY)),
        Err(e) => Some(app_error(e.into())),
    }
}

/// Signs `user` in: a fresh session and the audit event, then on to `next`.
async fn finish_sign_in(
    session: &Session,
    state: &AppState,
    user: Uuid,
    clinic: Option<crate::domain::clinic::ClinicId>,
    method: SignInMethod,
    request_id: Option<String>,
    next: &str,
) -> Response {
    if let Err(response) = establish_session(session, state, user).await {
        return response;
    }
    if let Err(e) = auth_service::record_sign_in(state, user, clinic, method, request_id).await {
        return app_error(e.into());
    }
    see_other(&safe_next(next))
}

async fn redeem_link(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    session: Session,
    page: PageRequest,
    _form: FormData,
) -> Response {
    let request_id = page.request_id();
    let next = page.query("next").unwrap_or_else(|| "/admin".to_owned());
    if let Some(response) = refuse_if_limited(&state, "link", &ip).await {
        return response;
    }
    match auth_service::redeem_link(&state, &token).await {
        Ok(user) => {
            finish_sign_in(
                &session,
                &state,
                user,
                None,
                SignInMethod::EmailLink,
                request_id,
                &next,
            )
            .await
        }
        Err(LinkError::Invalid) => {
            let _ = auth_service::record_sign_in_failure(
                &state,
                None,
                "sign-in link",
                "invalid_link",
                request_id,
            )
            .await;
            let form = FormState {
                message: Some(LinkError::Invalid.to_string()),
                ..FormState::default()
            };
            render::page(&state, page, StatusCode::BAD_REQUEST, form).await
        }
        Err(LinkError::Db(e)) => app_error(e.into()),
    }
}

/// The `x-request-id` of the request.
#[derive(Clone, Debug)]
pub struct RequestIdHeader(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestIdHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_id(parts)))
    }
}

/// An SSO sign-in in progress and where to go afterwards.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredFlow {
    flow: OidcFlow,
    next: String,
}

#[derive(Deserialize)]
struct StartQuery {
    #[serde(default)]
    login_hint: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

async fn oidc_start(
    State(state): State<AppState>,
    Path(connection): Path<String>,
    Query(query): Query<StartQuery>,
    session: Session,
    RequestIdHeader(request_id): RequestIdHeader,
) -> Response {
    let Ok(connection) = connection.parse::<Uuid>() else {
        return error_page(
            StatusCode::NOT_FOUND,
            "This sign-in connection does not exist.",
        );
    };
    let hint = query
        .login_hint
        .as_deref()
        .and_then(|h| EmailAddress::parse(h).ok());
    match sso::begin(&state, connection, hint.as_ref()).await {
        Ok((url, flow)) => {
            let stored = StoredFlow {
                flow,
                next: safe_next(query.next.as_deref().unwrap_or("/admin")),
            };
            if session.insert(keys::OIDC_FLOW, stored).await.is_err() {
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Signing in is not possible right now. Please try again shortly.",
                );
            }
            see_other(&url)
        }
        Err(error) => {
            let clinic = sso::connection_clinic(&state, connection).await;
            let _ = auth_service::record_sign_in_failure(
                &state,
                clinic,
                "sso",
                error.reason(),
                request_id,
            )
            .await;
            sso_error_page(&error)
        }
    }
}

fn sso_error_page(error: &SsoError) -> Response {
    let status = match error {
        SsoError::UnknownConnection => StatusCode::NOT_FOUND,
        SsoError::Disabled
        | SsoError::EmailUnverified
        | SsoError::DomainNotAllowed
        | SsoError::NotInvited => StatusCode::FORBIDDEN,
        SsoError::Discovery(_) => StatusCode::BAD_GATEWAY,
        SsoError::Db(_) => return app_error(AppError::Unavailable),
        _ => StatusCode::BAD_REQUEST,
    };
    error_page(status, error.to_string())
}

#[derive(Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

async fn oidc_callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
    session: Session,
    RequestIdHeader(request_id): RequestIdHeader,
) -> Response {
    // Taken out of the session whatever happens: a callback is never
    // accepted twice for one started sign-in.
    let stored: Option<StoredFlow> = session.remove(keys::OIDC_FLOW).await.ok().flatten();
    let clinic = match &stored {
        Some(s) => sso::connection_clinic(&state, s.flow.connection_id).await,
        None => None,
    };
    let outcome = match (stored, query.error, query.code, query.state) {
        (_, Some(error), _, _) => {
            let description = query.error_description.unwrap_or_default();
            Err(SsoError::Provider(
                format!("{error} {description}")
                    .trim()
                    .chars()
                    .take(300)
                    .collect(),
            ))
        }
        (Some(stored), None, Some(code), Some(returned_state)) => {
            let ctx = AuditContext {
                actor: Actor::System,
                request_id: request_id.clone(),
            };
            sso::complete(&state, &ctx, stored.flow, &returned_state, &code)
                .await
                .map(|s| (s, stored.next))
        }
        _ => Err(SsoError::StateMismatch),
    };
    match outcome {
        Ok((signed_in, next)) => {
            finish_sign_in(
                &session,
                &state,
                signed_in.user_id,
                signed_in.clinic,
                SignInMethod::Sso,
                request_id,
                &next,
            )
            .await
        }
        Err(error) => {
            let _ = auth_service::record_sign_in_failure(
                &state,
                clinic,
                "sso",
                error.reason(),
                request_id,
            )
            .await;
            sso_error_page(&error)
        }
    }
}

async fn accept_invitation(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    session: Session,
    page: PageRequest,
    _form: FormData,
) -> Response {
    let request_id = page.request_id();
    if let Some(response) = refuse_if_limited(&state, "invite", &ip).await {
        return response;
    }
    match team::accept(&state, request_id.clone(), &token).await {
        Ok((user, clinic)) => {
            let response = finish_sign_in(
                &session,
                &state,
                user,
                Some(clinic),
                SignInMethod::EmailLink,
                request_id,
                "/admin",
            )
            .await;
            let _ = session
                .insert(
                    keys::FLASH,
                    Flash::success("Welcome! You have joined the clinic."),
                )
                .await;
            response
        }
        Err(TeamError::InvalidInvitation) => {
            let form = FormState {
                message: Some(TeamError::InvalidInvitation.to_string()),
                ..FormState::default()
            };
            render::page(&state, page, StatusCode::BAD_REQUEST, form).await
        }
        Err(e) => app_error(AppError::Internal(e.to_string())),
    }
}

async fn logout(
    State(state): State<AppState>,
    session: Session,
    axum::Extension(visitor): axum::Extension<Visitor>,
    RequestIdHeader(request_id): RequestIdHeader,
    _form: FormData,
) -> Response {
    if let Some(user) = &visitor.user {
        let label =
            EmailAddress::parse(&user.email).map_or_else(|_| "user".to_owned(), |e| e.masked());
        if let Err(e) = auth_service::record_sign_out(&state, user.id, &label, request_id).await {
            return app_error(e.into());
        }
    }
    if session.flush().await.is_err() {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Signing out failed. Please try again.",
        );
    }
    see_other("/login?signed_out=1")
}

/// `/admin`: the clinic last worked in, the only clinic, the platform's pages
/// for operators, or the sign-in page.
async fn admin_home(
    session: Session,
    axum::Extension(visitor): axum::Extension<Visitor>,
) -> Response {
    let Some(user) = visitor.user else {
        return Denied::SignIn {
            next: "/admin".into(),
        }
        .response();
    };
    let current: Option<String> = session.get(keys::CURRENT_CLINIC).await.ok().flatten();
    let clinic = current
        .and_then(|slug| user.access(&slug).map(|a| a.slug.clone()))
        .or_else(|| user.clinics.first().map(|c| c.slug.clone()));
    match clinic {
        Some(slug) => see_other(&format!("/admin/c/{slug}")),
        None if user.platform_role.is_some() => see_other("/admin/platform"),
        None => error_page(
            StatusCode::FORBIDDEN,
            "Your account has no access to any clinic yet. Ask a clinic administrator for an invitation.",
        ),
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        self.response()
    }
}
