//! Signing in by one-time email link, and the bookkeeping of every sign-in.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::backend::audit::{self, Actor, AuditContext, AuditEntry};
use crate::backend::db::schema::{login_tokens, sso_connections, sso_domains, users};
use crate::backend::db::{Conn, DbError};
use crate::backend::email::templates::LoginLink;
use crate::backend::email::{self, compose};
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::email::EmailAddress;
use crate::domain::tokens;

/// How long a sign-in link works.
pub const LINK_LIFETIME: Duration = Duration::minutes(15);

/// Where `/login` sends an email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRoute {
    /// The domain signs in through this enabled SSO connection.
    Sso { connection_id: Uuid },
    /// A one-time link by email (sent only if the account exists).
    EmailLink,
}

/// Chooses SSO or an emailed link for `email`.
pub async fn route_for(state: &AppState, email: &EmailAddress) -> Result<LoginRoute, DbError> {
    let domain = email.domain().to_owned();
    let connection: Option<Uuid> = state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    sso_domains::table
                        .inner_join(sso_connections::table)
                        .filter(sso_domains::domain.eq(domain))
                        .filter(sso_connections::enabled.eq(true))
                        .select(sso_connections::id)
                        .first(c)
                        .await
                        .optional()?,
                )
            })
        })
        .await?;
    Ok(
        connection.map_or(LoginRoute::EmailLink, |connection_id| LoginRoute::Sso {
            connection_id,
        }),
    )
}

async fn active_user_id(c: &mut Conn, email: &EmailAddress) -> QueryResult<Option<Uuid>> {
    users::table
        .filter(users::email.eq(email.normalized()))
        .filter(users::disabled_at.is_null())
        .select(users::id)
        .first(c)
        .await
        .optional()
}

async fn insert_token(c: &mut Conn, user: Uuid, now: DateTime<Utc>) -> QueryResult<String> {
    let token = tokens::generate();
    diesel::insert_into(login_tokens::table)
        .values((
            login_tokens::id.eq(Uuid::now_v7()),
            login_tokens::token_hash.eq(token.hash.to_vec()),
            login_tokens::user_id.eq(user),
            login_tokens::expires_at.eq(now + LINK_LIFETIME),
        ))
        .execute(c)
        .await?;
    Ok(token.text)
}

/// The sign-in link for a token.
pub fn link_url(state: &AppState, token: &str) -> String {
    state.settings.url(&format!("/auth/link/{token}"))
}

/// Emails a sign-in link when `email` belongs to an active user; does nothing
/// otherwise, so the answer never tells whether an account exists.
pub async fn send_link(state: &AppState, email: &EmailAddress) -> Result<(), DbError> {
    let state = state.clone();
    let email = email.clone();
    let now = state.clock.now();
    state
        .db
        .clone()
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let Some(user) = active_user_id(c, &email).await? else {
                    return Ok(());
                };
                let token = insert_token(c, user, now).await?;
                let message = LoginLink {
                    link: link_url(&state, &token),
                    minutes: LINK_LIFETIME.num_minutes(),
                };
                let outgoing =
                    compose(&message, email.clone(), &state.settings.message_domain())
                        .map_err(|e| DbError::Unavailable(format!("rendering email: {e}")))?;
                email::enqueue(c, &state.crypto, None, &outgoing, None).await?;
                Ok::<_, DbError>(())
            })
        })
        .await
}

/// A sign-in link for `email` without sending it (`privacy-portal login-link`);
/// `None` when there is no such active user.
pub async fn create_link(
    state: &AppState,
    email: &EmailAddress,
) -> Result<Option<String>, DbError> {
    let email = email.clone();
    let now = state.clock.now();
    let token = state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let Some(user) = active_user_id(c, &email).await? else {
                    return Ok(None);
                };
                Ok::<_, DbError>(Some(insert_token(c, user, now).await?))
            })
        })
        .await?;
    Ok(token.map(|t| link_url(state, &t)))
}

/// Why a sign-in link did not work.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(
        "This sign-in link is not valid. It may have been used already or have expired; request a new one."
    )]
    Invalid,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for LinkError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Spends a sign-in link: valid once, within its lifetime, for an active user.
pub async fn redeem_link(state: &AppState, token: &str) -> Result<Uuid, LinkError> {
    if !tokens::looks_valid(token) {
        return Err(LinkError::Invalid);
    }
    let hash = tokens::hash(token).to_vec();
    let now = state.clock.now();
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let user: Option<Uuid> = diesel::update(
                    login_tokens::table
                        .filter(login_tokens::token_hash.eq(hash))
                        .filter(login_tokens::used_at.is_null())
                        .filter(login_tokens::expires_at.gt(now)),
                )
                .set(login_tokens::used_at.eq(now))
                .returning(login_tokens::user_id)
                .get_result(c)
                .await
                .optional()?;
                let user = user.ok_or(LinkError::Invalid)?;
                let active: bool = diesel::select(diesel::dsl::exists(
                    users::table
                        .filter(users::id.eq(user))
                        .filter(users::disabled_at.is_null()),
                ))
                .get_result(c)
                .await?;
                if active {
                    Ok(user)
                } else {
                    Err(LinkError::Invalid)
                }
            })
        })
        .await
}

/// How someone signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    EmailLink,
    Sso,
}

impl SignInMethod {
    fn as_str(self) -> &'static str {
        match self {
            Self::EmailLink => "email_link",
            Self::Sso => "sso",
        }
    }
}

/// Records a successful sign-in: `last_sign_in_at` and an audit event in the
/// chain of the clinic signed in to (or the platform's).
pub async fn record_sign_in(
    state: &AppState,
    user: Uuid,
    clinic: Option<ClinicId>,
    method: SignInMethod,
    request_id: Option<String>,
) -> Result<(), DbError> {
    let now = state.clock.now();
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let email: String = diesel::update(users::table.find(user))
                    .set(users::last_sign_in_at.eq(now))
                    .returning(users::email)
                    .get_result(c)
                    .await?;
                let label =
                    EmailAddress::parse(&email).map_or_else(|_| "user".to_owned(), |e| e.masked());
                let ctx = AuditContext {
                    actor: Actor::User { id: user, label },
                    request_id,
                };
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: clinic,
                        action: "auth.sign_in",
                        subject_kind: "user",
                        subject_id: user.to_string(),
                        details: json!({ "method": method.as_str() }),
                    },
                )
                .await?;
                Ok::<_, DbError>(())
            })
        })
        .await
}

/// Records a refused sign-in in the chain of the clinic concerned (or the
/// platform's). `who` is a masked address or a short description.
pub async fn record_sign_in_failure(
    state: &AppState,
    clinic: Option<ClinicId>,
    who: &str,
    reason: &str,
    request_id: Option<String>,
) -> Result<(), DbError> {
    let ctx = AuditContext {
        actor: Actor::Public {
            label: who.to_owned(),
        },
        request_id,
    };
    let reason = reason.to_owned();
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: clinic,
                        action: "auth.sign_in_failed",
                        subject_kind: "sign_in",
                        subject_id: "-".into(),
                        details: json!({ "reason": reason }),
                    },
                )
                .await?;
                Ok::<_, DbError>(())
            })
        })
        .await
}

/// Records a sign-out in the platform chain.
pub async fn record_sign_out(
    state: &AppState,
    user: Uuid,
    label: &str,
    request_id: Option<String>,
) -> Result<(), DbError> {
    let ctx = AuditContext {
        actor: Actor::User {
            id: user,
            label: label.to_owned(),
        },
        request_id,
    };
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: None,
                        action: "auth.sign_out",
                        subject_kind: "user",
                        subject_id: user.to_string(),
                        details: json!({}),
                    },
                )
                .await?;
                Ok::<_, DbError>(())
            })
        })
        .await
}
