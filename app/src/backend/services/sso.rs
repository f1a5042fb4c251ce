//! Single sign-on with OpenID Connect: one connection per clinic and one for
//! the platform's operators. Authorization code flow with PKCE (S256); state,
//! nonce and the PKCE verifier stay server-side in the session; the ID token's
//! signature, issuer, audience, expiry and nonce are verified, and a verified
//! email in an allowed domain is required.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope as OAuthScope, TokenResponse as _,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::backend::audit::{self, Actor, AuditContext, AuditEntry};
use crate::backend::db::schema::{invitations, memberships, sso_connections, sso_domains, users};
use crate::backend::db::{Conn, DbError};
use crate::backend::models::user::{Membership, NewUser};
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::email::EmailAddress;
use crate::domain::roles::{ClinicRole, PlatformRole};
use crate::domain::security::form_token_matches;
use crate::domain::sso::{MembershipMode, email_in_domains};

/// Purpose under which client secrets are sealed.
const SECRET_PURPOSE: &str = "sso.client_secret";
/// How long a started sign-in may take at the provider.
const FLOW_LIFETIME: Duration = Duration::minutes(10);

/// Whose connection: a clinic's or the platform's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionOwner {
    Clinic(ClinicId),
    Platform,
}

impl ConnectionOwner {
    fn clinic_id(self) -> Option<ClinicId> {
        match self {
            Self::Clinic(id) => Some(id),
            Self::Platform => None,
        }
    }

    fn scope(self) -> Scope {
        match self {
            Self::Clinic(id) => Scope::Clinic(id),
            Self::Platform => Scope::System,
        }
    }
}

/// A connection as its settings page shows it (never the secret).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionView {
    pub id: Uuid,
    pub display_name: String,
    pub issuer_url: String,
    pub client_id: String,
    pub domains: Vec<String>,
    pub membership_mode: MembershipMode,
    pub default_role: ClinicRole,
    pub enabled: bool,
}

/// Validated settings to save.
#[derive(Clone, Debug)]
pub struct SaveConnection {
    pub display_name: String,
    pub issuer_url: String,
    pub client_id: String,
    /// `None` keeps the stored secret.
    pub client_secret: Option<SecretString>,
    pub domains: Vec<String>,
    pub membership_mode: MembershipMode,
    pub default_role: ClinicRole,
    pub enabled: bool,
}

/// What went wrong with SSO; every message is meant for the person signing
/// in or configuring the connection.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("The email domain {0} is already used by another sign-in connection.")]
    DomainTaken(String),
    #[error("A client secret is required for a new connection.")]
    SecretRequired,
    #[error("This sign-in connection does not exist.")]
    UnknownConnection,
    #[error("Sign-in through this connection is switched off. Ask your administrator.")]
    Disabled,
    #[error("The identity provider could not be reached or described itself incorrectly: {0}")]
    Discovery(String),
    #[error("This sign-in attempt does not belong to this browser session. Please start again.")]
    StateMismatch,
    #[error("The sign-in attempt took too long. Please start again.")]
    FlowExpired,
    #[error("The identity provider refused to complete the sign-in: {0}")]
    Exchange(String),
    #[error("The identity provider's ID token was rejected: {0}")]
    InvalidToken(String),
    #[error("The identity provider did not confirm your email address.")]
    EmailUnverified,
    #[error("Your email address is not in a domain this connection accepts.")]
    DomainNotAllowed,
    #[error("You have no access to this clinic. Ask an administrator for an invitation.")]
    NotInvited,
    #[error("The identity provider returned an error: {0}")]
    Provider(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SsoError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

impl SsoError {
    /// A short reason for the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::DomainTaken(_) | Self::SecretRequired => "configuration",
            Self::UnknownConnection => "unknown_connection",
            Self::Disabled => "connection_disabled",
            Self::Discovery(_) => "discovery_failed",
            Self::StateMismatch => "state_mismatch",
            Self::FlowExpired => "flow_expired",
            Self::Exchange(_) => "code_exchange_failed",
            Self::InvalidToken(_) => "invalid_id_token",
            Self::EmailUnverified => "email_unverified",
            Self::DomainNotAllowed => "domain_not_allowed",
            Self::NotInvited => "not_invited",
            Self::Provider(_) => "provider_error",
            Self::Db(_) => "internal",
        }
    }
}

#[derive(Queryable)]
struct ConnectionRow {
    id: Uuid,
    clinic_id: Option<Uuid>,
    display_name: String,
    issuer_url: String,
    client_id: String,
    client_secret_sealed: Vec<u8>,
    membership_mode: String,
    default_role: String,
    enabled: bool,
}

type ConnectionColumns = (
    sso_connections::id,
    sso_connections::clinic_id,
    sso_connections::display_name,
    sso_connections::issuer_url,
    sso_connections::client_id,
    sso_connections::client_secret_sealed,
    sso_connections::membership_mode,
    sso_connections::default_role,
    sso_connections::enabled,
);

const CONNECTION_COLUMNS: ConnectionColumns = (
    sso_connections::id,
    sso_connections::clinic_id,
    sso_connections::display_name,
    sso_connections::issuer_url,
    sso_connections::client_id,
    sso_connections::client_secret_sealed,
    sso_connections::membership_mode,
    sso_connections::default_role,
    sso_connections::enabled,
);

async fn domains_of(c: &mut Conn, connection: Uuid) -> QueryResult<Vec<String>> {
    sso_domains::table
        .filter(sso_domains::connection_id.eq(connection))
        .order(sso_domains::domain.asc())
        .select(sso_domains::domain)
        .load(c)
        .await
}

fn view(row: ConnectionRow, domains: Vec<String>) -> ConnectionView {
    ConnectionView {
        id: row.id,
        display_name: row.display_name,
        issuer_url: row.issuer_url,
        client_id: row.client_id,
        domains,
        membership_mode: row
            .membership_mode
            .parse()
            .unwrap_or(MembershipMode::Invitation),
        default_role: row.default_role.parse().unwrap_or(ClinicRole::Viewer),
        enabled: row.enabled,
    }
}

/// The connection of `owner`, if configured.
pub async fn get(
    state: &AppState,
    owner: ConnectionOwner,
) -> Result<Option<ConnectionView>, DbError> {
    let clinic = owner.clinic_id().map(|c| c.0);
    state
        .db
        .scoped(owner.scope(), move |c| {
            Box::pin(async move {
                let row: Option<ConnectionRow> = sso_connections::table
                    .filter(sso_connections::clinic_id.is_not_distinct_from(clinic))
                    .select(CONNECTION_COLUMNS)
                    .first(c)
                    .await
                    .optional()?;
                match row {
                    Some(row) => {
                        let domains = domains_of(c, row.id).await?;
                        Ok(Some(view(row, domains)))
                    }
                    None => Ok::<_, DbError>(None),
                }
            })
        })
        .await
}

/// Creates or updates the connection of `owner`, with its domains, and
/// records an audit event (without the secret).
pub async fn save(
    state: &AppState,
    ctx: &AuditContext,
    owner: ConnectionOwner,
    input: SaveConnection,
) -> Result<(), SsoError> {
    let clinic = owner.clinic_id();
    let sealed = input.client_secret.as_ref().map(|s| {
        state
            .crypto
            .seal(SECRET_PURPOSE, s.expose_secret().as_bytes())
    });
    let ctx = ctx.clone();
    // Domains are unique across all connections, so the check runs in the
    // system scope; the change itself stays within the owner's rows.
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let existing: Option<Uuid> = sso_connections::table
                    .filter(sso_connections::clinic_id.is_not_distinct_from(clinic.map(|c| c.0)))
                    .select(sso_connections::id)
                    .first(c)
                    .await
                    .optional()?;
                for domain in &input.domains {
                    let owner_of: Option<Uuid> = sso_domains::table
                        .filter(sso_domains::domain.eq(domain))
                        .select(sso_domains::connection_id)
                        .first(c)
                        .await
                        .optional()?;
                    if owner_of.is_some_and(|id| Some(id) != existing) {
                        return Err(SsoError::DomainTaken(domain.clone()));
                    }
                }
                let id = match existing {
                    Some(id) => {
                        diesel::update(sso_connections::table.find(id))
                            .set((
                                sso_connections::display_name.eq(&input.display_name),
                                sso_connections::issuer_url.eq(&input.issuer_url),
                                sso_connections::client_id.eq(&input.client_id),
                                sso_connections::membership_mode.eq(input.membership_mode.as_str()),
                                sso_connections::default_role.eq(input.default_role.as_str()),
                                sso_connections::enabled.eq(input.enabled),
                            ))
                            .execute(c)
                            .await?;
                        if let Some(sealed) = &sealed {
                            diesel::update(sso_connections::table.find(id))
                                .set(sso_connections::client_secret_sealed.eq(sealed))
                                .execute(c)
                                .await?;
                        }
                        id
                    }
                    None => {
                        let sealed = sealed.clone().ok_or(SsoError::SecretRequired)?;
                        let id = Uuid::now_v7();
                        diesel::insert_into(sso_connections::table)
                            .values((
                                sso_connections::id.eq(id),
                                sso_connections::clinic_id.eq(clinic.map(|c| c.0)),
                                sso_connections::display_name.eq(&input.display_name),
                                sso_connections::issuer_url.eq(&input.issuer_url),
                                sso_connections::client_id.eq(&input.client_id),
                                sso_connections::client_secret_sealed.eq(sealed),
                                sso_connections::membership_mode.eq(input.membership_mode.as_str()),
                                sso_connections::default_role.eq(input.default_role.as_str()),
                                sso_connections::enabled.eq(input.enabled),
                            ))
                            .execute(c)
                            .await?;
                        id
                    }
                };
                diesel::delete(sso_domains::table.filter(sso_domains::connection_id.eq(id)))
                    .execute(c)
                    .await?;
                for domain in &input.domains {
                    diesel::insert_into(sso_domains::table)
                        .values((
                            sso_domains::domain.eq(domain),
                            sso_domains::connection_id.eq(id),
                            sso_domains::clinic_id.eq(clinic.map(|c| c.0)),
                        ))
                        .execute(c)
                        .await?;
                }
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: clinic,
                        action: if existing.is_some() {
                            "sso.connection_updated"
                        } else {
                            "sso.connection_created"
                        },
                        subject_kind: "sso_connection",
                        subject_id: id.to_string(),
                        details: json!({
                            "issuer_url": input.issuer_url,
                            "client_id": input.client_id,
                            "domains": input.domains,
                            "membership_mode": input.membership_mode.as_str(),
                            "default_role": input.default_role.as_str(),
                            "enabled": input.enabled,
                            "secret_changed": sealed.is_some(),
                        }),
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await
}

/// What discovery found, for the connection's settings page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryReport {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: Option<String>,
    pub jwks_uri: String,
    pub scopes: Vec<String>,
    pub pkce_s256: bool,
}

fn http_client() -> Result<reqwest::Client, SsoError> {
    // No redirects: following them is how an SSRF would escape to other hosts.
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(StdDuration::from_secs(10))
        .build()
        .map_err(|e| SsoError::Discovery(e.to_string()))
}

async fn discover(issuer: &str) -> Result<CoreProviderMetadata, SsoError> {
    let issuer =
        IssuerUrl::new(issuer.to_owned()).map_err(|e| SsoError::Discovery(e.to_string()))?;
    CoreProviderMetadata::discover_async(issuer, &http_client()?)
        .await
        .map_err(|e| SsoError::Discovery(error_chain(&e)))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Fetches the provider's discovery document (the settings page's "Test").
pub async fn test_discovery(issuer: &str) -> Result<DiscoveryReport, SsoError> {
    let metadata = discover(issuer).await?;
    // Core metadata has no field for PKCE methods; read it from the raw
    // document the provider serves.
    let document: serde_json::Value = http_client()?
        .get(format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ))
        .send()
        .await
        .map_err(|e| SsoError::Discovery(error_chain(&e)))?
        .json()
        .await
        .map_err(|e| SsoError::Discovery(error_chain(&e)))?;
    let pkce_s256 = document["code_challenge_methods_supported"]
        .as_array()
        .is_some_and(|methods| methods.iter().any(|m| m.as_str() == Some("S256")));
    Ok(DiscoveryReport {
        issuer: metadata.issuer().to_string(),
        authorization_endpoint: metadata.authorization_endpoint().to_string(),
        token_endpoint: metadata.token_endpoint().map(|t| t.to_string()),
        jwks_uri: metadata.jwks_uri().to_string(),
        scopes: metadata
            .scopes_supported()
            .map(|s| s.iter().map(|scope| scope.to_string()).collect())
            .unwrap_or_default(),
        pkce_s256,
    })
}

/// A sign-in in progress, kept in the session until the provider calls back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OidcFlow {
    pub connection_id: Uuid,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub started_at: DateTime<Utc>,
}

async fn load_connection(state: &AppState, id: Uuid) -> Result<ConnectionRow, SsoError> {
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    sso_connections::table
                        .find(id)
                        .select(CONNECTION_COLUMNS)
                        .first(c)
                        .await
                        .optional()?,
                )
            })
        })
        .await?
        .ok_or(SsoError::UnknownConnection)
}

/// A client built from discovery: authorization endpoint known, token and
/// userinfo endpoints as the provider declared them.
type ProviderClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

fn client(
    state: &AppState,
    connection: &ConnectionRow,
    metadata: CoreProviderMetadata,
) -> Result<ProviderClient, SsoError> {
    let secret = state
        .crypto
        .open(SECRET_PURPOSE, &connection.client_secret_sealed)
        .map_err(|e| {
            SsoError::Discovery(format!("the stored client secret cannot be read: {e}"))
        })?;
    let secret = String::from_utf8(secret).map_err(|e| SsoError::Discovery(e.to_string()))?;
    let redirect = RedirectUrl::new(state.settings.url("/auth/oidc/callback"))
        .map_err(|e| SsoError::Discovery(e.to_string()))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(connection.client_id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(redirect))
}

/// Starts a sign-in: returns the provider's authorization URL and the flow
/// to keep in the session.
pub async fn begin(
    state: &AppState,
    connection_id: Uuid,
    login_hint: Option<&EmailAddress>,
) -> Result<(String, OidcFlow), SsoError> {
    let connection = load_connection(state, connection_id).await?;
    if !connection.enabled {
        return Err(SsoError::Disabled);
    }
    let metadata = discover(&connection.issuer_url).await?;
    let client = client(state, &connection, metadata)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(OAuthScope::new("email".into()))
        .set_pkce_challenge(challenge);
    if let Some(hint) = login_hint {
        request = request.add_extra_param("login_hint", hint.as_str().to_owned());
    }
    let (url, csrf, nonce) = request.url();
    let flow = OidcFlow {
        connection_id,
        state: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        started_at: state.clock.now(),
    };
    Ok((url.to_string(), flow))
}

/// Who signed in through a completed flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoSignIn {
    pub user_id: Uuid,
    pub clinic: Option<ClinicId>,
    pub email: String,
}

/// The name shown for a connection ("Continue with …").
pub async fn connection_display_name(state: &AppState, id: Uuid) -> Result<String, DbError> {
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    sso_connections::table
                        .find(id)
                        .select(sso_connections::display_name)
                        .first(c)
                        .await?,
                )
            })
        })
        .await
}

/// The connection's owner clinic for audit purposes, if the flow is known.
pub async fn connection_clinic(state: &AppState, connection_id: Uuid) -> Option<ClinicId> {
    load_connection(state, connection_id)
        .await
        .ok()
        .and_then(|c| c.clinic_id)
        .map(ClinicId)
}

/// Finishes a sign-in from the provider's callback parameters.
pub async fn complete(
    state: &AppState,
    ctx: &AuditContext,
    flow: OidcFlow,
    returned_state: &str,
    code: &str,
) -> Result<SsoSignIn, SsoError> {
    if !form_token_matches(&flow.state, returned_state) {
        return Err(SsoError::StateMismatch);
    }
    if state.clock.now() - flow.started_at > FLOW_LIFETIME {
        return Err(SsoError::FlowExpired);
    }
    let connection = load_connection(state, flow.connection_id).await?;
    if !connection.enabled {
        return Err(SsoError::Disabled);
    }
    let metadata = discover(&connection.issuer_url).await?;
    let client = client(state, &connection, metadata)?;
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| SsoError::Exchange(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
        .request_async(&http_client()?)
        .await
        .map_err(|e| SsoError::Exchange(error_chain(&e)))?;
    let id_token = token
        .id_token()
        .ok_or_else(|| SsoError::InvalidToken("no ID token in the response".into()))?;
    let clock = state.clock.clone();
    let verifier = client.id_token_verifier().set_time_fn(move || clock.now());
    let claims = id_token
        .claims(&verifier, &Nonce::new(flow.nonce.clone()))
        .map_err(|e| SsoError::InvalidToken(error_chain(&e)))?;
    let email = claims.email().ok_or(SsoError::EmailUnverified)?;
    if claims.email_verified() != Some(true) {
        return Err(SsoError::EmailUnverified);
    }
    let email = EmailAddress::parse(email.as_str()).map_err(|_| SsoError::EmailUnverified)?;
    let row_id = connection.id;
    let domains = state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move { Ok::<_, DbError>(domains_of(c, row_id).await?) })
        })
        .await?;
    if !email_in_domains(&email, &domains) {
        return Err(SsoError::DomainNotAllowed);
    }
    let clinic = connection.clinic_id.map(ClinicId);
    let mode: MembershipMode = connection
        .membership_mode
        .parse()
        .unwrap_or(MembershipMode::Invitation);
    let default_role: ClinicRole = connection
        .default_role
        .parse()
        .unwrap_or(ClinicRole::Viewer);
    let ctx = ctx.clone();
    let now = state.clock.now();
    let user_id = state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move { admit(c, &ctx, clinic, &email, mode, default_role, now).await })
        })
        .await?;
    Ok(SsoSignIn {
        user_id: user_id.0,
        clinic,
        email: user_id.1,
    })
}

/// Finds or creates the user behind a verified `email` and makes sure they
/// belong where the connection leads, by membership, open invitation or
/// just-in-time admission.
async fn admit(
    c: &mut Conn,
    ctx: &AuditContext,
    clinic: Option<ClinicId>,
    email: &EmailAddress,
    mode: MembershipMode,
    default_role: ClinicRole,
    now: DateTime<Utc>,
) -> Result<(Uuid, String), SsoError> {
    let existing: Option<(Uuid, Option<String>, Option<DateTime<Utc>>)> = users::table
        .filter(users::email.eq(email.normalized()))
        .select((users::id, users::platform_role, users::disabled_at))
        .first(c)
        .await
        .optional()?;
    if existing
        .as_ref()
        .is_some_and(|(_, _, disabled)| disabled.is_some())
    {
        return Err(SsoError::NotInvited);
    }
    let Some(clinic) = clinic else {
        // The platform's connection admits operators.
        return match existing {
            Some((id, Some(role), _)) if role == PlatformRole::Operator.as_str() => {
                Ok((id, email.normalized()))
            }
            Some((id, _, _)) if mode == MembershipMode::JustInTime => {
                diesel::update(users::table.find(id))
                    .set(users::platform_role.eq(PlatformRole::Operator.as_str()))
                    .execute(c)
                    .await?;
                Ok((id, email.normalized()))
            }
            None if mode == MembershipMode::JustInTime => {
                let id = create_user(c, email, Some(PlatformRole::Operator)).await?;
                Ok((id, email.normalized()))
            }
            _ => Err(SsoError::NotInvited),
        };
    };
    if let Some((id, _, _)) = existing {
        let member: bool = diesel::select(diesel::dsl::exists(
            memberships::table
                .filter(memberships::clinic_id.eq(clinic.0))
                .filter(memberships::user_id.eq(id)),
        ))
        .get_result(c)
        .await?;
        if member {
            return Ok((id, email.normalized()));
        }
    }
    let invitation: Option<(Uuid, String)> = invitations::table
        .filter(invitations::clinic_id.eq(clinic.0))
        .filter(invitations::email.eq(email.normalized()))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now))
        .select((invitations::id, invitations::role))
        .first(c)
        .await
        .optional()?;
    let (role, invitation) = match invitation {
        Some((id, role)) => (role.parse().unwrap_or(ClinicRole::Viewer), Some(id)),
        None if mode == MembershipMode::JustInTime => (default_role, None),
        None => return Err(SsoError::NotInvited),
    };
    let user = match existing {
        Some((id, _, _)) => id,
        None => create_user(c, email, None).await?,
    };
    let membership = Membership {
        id: Uuid::now_v7(),
        clinic_id: clinic.0,
        user_id: user,
        role: role.as_str().into(),
    };
    diesel::insert_into(memberships::table)
        .values(&membership)
        .execute(c)
        .await?;
    if let Some(invitation) = invitation {
        diesel::update(invitations::table.find(invitation))
            .set(invitations::accepted_at.eq(now))
            .execute(c)
            .await?;
    }
    let actor = AuditContext {
        actor: Actor::User {
            id: user,
            label: email.masked(),
        },
        request_id: ctx.request_id.clone(),
    };
    audit::record(
        c,
        &actor,
        AuditEntry {
            clinic_id: Some(clinic),
            action: if invitation.is_some() {
                "invitation.accepted"
            } else {
                "member.joined_just_in_time"
            },
            subject_kind: "user",
            subject_id: user.to_string(),
            details: json!({ "email": email.masked(), "role": role.as_str(), "via": "sso" }),
        },
    )
    .await?;
    Ok((user, email.normalized()))
}

async fn create_user(
    c: &mut Conn,
    email: &EmailAddress,
    platform_role: Option<PlatformRole>,
) -> QueryResult<Uuid> {
    let local = email
        .as_str()
        .split('@')
        .next()
        .unwrap_or("user")
        .to_owned();
    let user = NewUser {
        id: Uuid::now_v7(),
        email: email.normalized(),
        display_name: local,
        platform_role: platform_role.map(|r| r.as_str().to_owned()),
    };
    diesel::insert_into(users::table)
        .values(&user)
        .execute(c)
        .await?;
    Ok(user.id)
}
