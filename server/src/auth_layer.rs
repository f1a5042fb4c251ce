//! Per-request sign-in state: sessions in Postgres, the visitor loaded before
//! any handler runs, and the Origin check on state-changing requests.

use std::sync::Arc;

use app::api::error_page;
use app::backend::auth::keys;
use app::backend::auth::session_store::PgSessionStore;
use app::backend::auth::visitor::{Flash, Visitor, load_user};
use app::backend::state::{AppState, Environment};
use app::domain::security::request_is_same_origin;
use app::domain::tokens;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use http::header::{HOST, ORIGIN, REFERER};
use http::{Method, StatusCode};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

/// Name of the session cookie; `__Host-` in production pins it to this
/// origin, HTTPS and path `/`.
pub fn cookie_name(environment: Environment) -> &'static str {
    match environment {
        Environment::Production => "__Host-portal_session",
        Environment::Development => "portal_session",
    }
}

/// The session layer: HttpOnly, SameSite=Lax, Secure in production, expiring
/// after the idle timeout.
pub fn session_layer(state: &AppState) -> SessionManagerLayer<PgSessionStore> {
    let production = state.settings.environment == Environment::Production;
    let idle = time::Duration::seconds(state.settings.sessions.idle.num_seconds());
    SessionManagerLayer::new(PgSessionStore::new(state.db.clone()))
        .with_name(cookie_name(state.settings.environment))
        .with_secure(production)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle))
}

/// Pages that carry forms get a form token in their session.
fn needs_form_token(path: &str) -> bool {
    ["/login", "/auth/", "/invite/", "/admin", "/subscribe"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || (path.starts_with("/c/")
            && (path.contains("/requests/")
                || path.contains("/subscribe")
                || path.ends_with("/cookies")
                || path.contains("/consents")))
}

fn time_from(session_value: Option<String>) -> Option<DateTime<Utc>> {
    session_value
        .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Loads who is making the request into a [`Visitor`] extension: the user if
/// the session is signed in and within its idle and absolute limits, the form
/// token, and any one-time message.
pub async fn load_visitor(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(session) = request.extensions().get::<Session>().cloned() else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    let is_get = request.method() == Method::GET;
    match visitor_for(&state, &session, &path, is_get).await {
        Ok(visitor) => {
            request.extensions_mut().insert(visitor);
            next.run(request).await
        }
        Err(e) => {
            tracing::error!(error = %e, "loading the session failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Please try again shortly.",
            )
        }
    }
}

async fn visitor_for(
    state: &AppState,
    session: &Session,
    path: &str,
    is_get: bool,
) -> anyhow::Result<Visitor> {
    let mut visitor = Visitor::default();
    let user_id: Option<String> = session.get(keys::USER_ID).await?;
    if let Some(user_id) = user_id.and_then(|id| id.parse::<uuid::Uuid>().ok()) {
        let now = state.clock.now();
        let signed_in_at = time_from(session.get(keys::SIGNED_IN_AT).await?);
        let last_seen = time_from(session.get(keys::LAST_SEEN).await?);
        let policy = state.settings.sessions;
        let expired = match (signed_in_at, last_seen) {
            (Some(signed_in_at), Some(last_seen)) => {
                policy.has_expired(signed_in_at, last_seen, now)
            }
            _ => true,
        };
        let user = if expired {
            None
        } else {
            load_user(&state.db, user_id).await?
        };
        match user {
            Some(user) => {
                if last_seen.is_some_and(|seen| policy.should_touch(seen, now)) {
                    session.insert(keys::LAST_SEEN, now.to_rfc3339()).await?;
                }
                if let Some(slug) = path
                    .strip_prefix("/admin/c/")
                    .and_then(|rest| rest.split('/').next())
                    && user.access(slug).is_some()
                {
                    let current: Option<String> = session.get(keys::CURRENT_CLINIC).await?;
                    if current.as_deref() != Some(slug) {
                        session.insert(keys::CURRENT_CLINIC, slug).await?;
                    }
                }
                visitor.user = Some(user);
            }
            None => {
                // Timed out, removed or disabled: the session ends here.
                session.flush().await?;
            }
        }
    }
    visitor.csrf = session.get(keys::CSRF).await?;
    if visitor.csrf.is_none() && is_get && needs_form_token(path) {
        let token = tokens::generate().text;
        session.insert(keys::CSRF, &token).await?;
        visitor.csrf = Some(token);
    }
    if is_get {
        visitor.flash = session.remove::<Flash>(keys::FLASH).await?;
    }
    Ok(visitor)
}

/// Origins whose pages may send state-changing requests.
#[derive(Clone, Debug)]
pub struct OriginPolicy {
    pub allowed: Arc<Vec<String>>,
    /// Development also accepts the origin the browser used to reach us
    /// (`http://{Host}`), e.g. `localhost` for a portal bound to 127.0.0.1.
    pub accept_host: bool,
}

/// Refuses POST, PUT, PATCH and DELETE whose `Origin` (or, lacking it,
/// `Referer`) is not the portal's own. Meta's server-to-server callbacks
/// carry no Origin; their signature is their proof.
pub async fn check_origin(
    State(policy): State<OriginPolicy>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || app::api::requests::is_server_to_server(request.uri().path())
    {
        return next.run(request).await;
    }
    let (origin, referer, host) = {
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v: &http::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        (header(ORIGIN), header(REFERER), header(HOST))
    };
    let mut allowed: Vec<String> = policy.allowed.as_ref().clone();
    if policy.accept_host
        && let Some(host) = host
    {
        allowed.push(format!("http://{}", host.to_ascii_lowercase()));
    }
    if request_is_same_origin(&allowed, origin.as_deref(), referer.as_deref()) {
        next.run(request).await
    } else {
        tracing::warn!(?origin, "refused a cross-origin request");
        error_page(
            StatusCode::FORBIDDEN,
            "This request did not come from the portal's own pages and was refused. Open the portal and try again.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pages_get_tokens_and_public_pages_stay_cookie_free() {
        assert!(needs_form_token("/login"));
        assert!(needs_form_token("/admin/c/demo/team"));
        assert!(needs_form_token("/auth/link/abc"));
        assert!(!needs_form_token("/c/demo/privacy"));
        assert!(needs_form_token("/c/demo/requests/new"));
        assert!(needs_form_token("/c/demo/subscribe"));
        assert!(needs_form_token("/subscribe/confirm"));
        assert!(!needs_form_token("/email/unsubscribe/r1.tag"));
        assert!(!needs_form_token("/"));
    }

    #[test]
    fn production_cookies_use_the_host_prefix() {
        assert_eq!(
            cookie_name(Environment::Production),
            "__Host-portal_session"
        );
        assert_eq!(cookie_name(Environment::Development), "portal_session");
    }
}
