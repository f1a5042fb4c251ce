//! A clinic's team: members, roles and invitations.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::backend::audit::{self, AuditContext, AuditEntry};
use crate::backend::auth::session_store;
use crate::backend::db::schema::{clinics, invitations, memberships, users};
use crate::backend::db::{Conn, DbError};
use crate::backend::email::templates::Invitation;
use crate::backend::email::{self, compose};
use crate::backend::models::user::{Membership, NewUser};
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::email::EmailAddress;
use crate::domain::roles::ClinicRole;
use crate::domain::team::{self, TeamRuleError};
use crate::domain::tokens;

/// How long an invitation can be accepted.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);

/// A member as the team page lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: ClinicRole,
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

#[derive(Queryable)]
struct MemberRow(Uuid, String, String, String, Option<DateTime<Utc>>);

/// An invitation not yet accepted or revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    pub role: ClinicRole,
    pub expires_at: DateTime<Utc>,
    pub expired: bool,
}

/// Why a team change failed.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error(transparent)]
    Rule(#[from] TeamRuleError),
    #[error("{0} is already a member of this clinic.")]
    AlreadyMember(String),
    #[error("{0} already has an open invitation. Revoke it first to send a new one.")]
    AlreadyInvited(String),
    #[error("That member no longer exists.")]
    NoSuchMember,
    #[error("That invitation no longer exists.")]
    NoSuchInvitation,
    #[error(
        "This invitation is not valid: it may have expired, been revoked or been used already."
    )]
    InvalidInvitation,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for TeamError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Members by role, then name; open invitations, newest first.
pub async fn overview(
    state: &AppState,
    clinic: ClinicId,
) -> Result<(Vec<MemberView>, Vec<InvitationView>), DbError> {
    let now = state.clock.now();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                // Users are platform rows; the membership join keeps this
                // within the clinic's own members.
                let rows: Vec<MemberRow> = memberships::table
                    .inner_join(users::table)
                    .filter(memberships::clinic_id.eq(clinic.0))
                    .select((
                        users::id,
                        users::email,
                        users::display_name,
                        memberships::role,
                        users::last_sign_in_at,
                    ))
                    .load(c)
                    .await?;
                let mut members: Vec<MemberView> = rows
                    .into_iter()
                    .filter_map(
                        |MemberRow(user_id, email, display_name, role, last_sign_in_at)| {
                            Some(MemberView {
                                user_id,
                                email,
                                display_name,
                                role: role.parse().ok()?,
                                last_sign_in_at,
                            })
                        },
                    )
                    .collect();
                members.sort_by(|a, b| {
                    (a.role, a.display_name.to_lowercase())
                        .cmp(&(b.role, b.display_name.to_lowercase()))
                });
                let rows: Vec<(Uuid, String, String, DateTime<Utc>)> = invitations::table
                    .filter(invitations::clinic_id.eq(clinic.0))
                    .filter(invitations::accepted_at.is_null())
                    .filter(invitations::revoked_at.is_null())
                    .order(invitations::created_at.desc())
                    .select((
                        invitations::id,
                        invitations::email,
                        invitations::role,
                        invitations::expires_at,
                    ))
                    .load(c)
                    .await?;
                let invitations = rows
                    .into_iter()
                    .filter_map(|(id, email, role, expires_at)| {
                        Some(InvitationView {
                            id,
                            email,
                            role: role.parse().ok()?,
                            expires_at,
                            expired: expires_at <= now,
                        })
                    })
                    .collect();
                Ok::<_, DbError>((members, invitations))
            })
        })
        .await
}

async fn owner_count(c: &mut Conn, clinic: ClinicId) -> QueryResult<usize> {
    let n: i64 = memberships::table
        .filter(memberships::clinic_id.eq(clinic.0))
        .filter(memberships::role.eq(ClinicRole::Owner.as_str()))
        .count()
        .get_result(c)
        .await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

async fn member_role(c: &mut Conn, clinic: ClinicId, user: Uuid) -> Result<ClinicRole, TeamError> {
    let role: Option<String> = memberships::table
        .filter(memberships::clinic_id.eq(clinic.0))
        .filter(memberships::user_id.eq(user))
        .select(memberships::role)
        .first(c)
        .await
        .optional()?;
    role.and_then(|r| r.parse().ok())
        .ok_or(TeamError::NoSuchMember)
}

/// Locks the clinic's memberships so that two concurrent changes cannot both
/// remove "the other" owner.
async fn lock_team(c: &mut Conn, clinic: ClinicId) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended('team:' || $1, 0))")
        .bind::<diesel::sql_types::Text, _>(clinic.0.to_string())
        .execute(c)
        .await
        .map(|_| ())
}

/// Changes a member's role.
pub async fn change_role(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    actor_role: ClinicRole,
    member: Uuid,
    new_role: ClinicRole,
) -> Result<(), TeamError> {
    let ctx = ctx.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                lock_team(c, clinic).await?;
                let current = member_role(c, clinic, member).await?;
                if current == new_role {
                    return Ok(());
                }
                team::check_role_change(
                    actor_role,
                    current,
                    new_role,
                    owner_count(c, clinic).await?,
                )?;
                diesel::update(
                    memberships::table
                        .filter(memberships::clinic_id.eq(clinic.0))
                        .filter(memberships::user_id.eq(member)),
                )
                .set(memberships::role.eq(new_role.as_str()))
                .execute(c)
                .await?;
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "member.role_changed",
                        subject_kind: "user",
                        subject_id: member.to_string(),
                        details: json!({ "from": current.as_str(), "to": new_role.as_str() }),
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await
}

/// Removes a member from the clinic (the user keeps other clinics).
pub async fn remove_member(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    actor_role: ClinicRole,
    member: Uuid,
) -> Result<(), TeamError> {
    let ctx = ctx.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                lock_team(c, clinic).await?;
                let role = member_role(c, clinic, member).await?;
                team::check_removal(actor_role, role, owner_count(c, clinic).await?)?;
                diesel::delete(
                    memberships::table
                        .filter(memberships::clinic_id.eq(clinic.0))
                        .filter(memberships::user_id.eq(member)),
                )
                .execute(c)
                .await?;
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "member.removed",
                        subject_kind: "user",
                        subject_id: member.to_string(),
                        details: json!({ "role": role.as_str() }),
                    },
                )
                .await?;
                Ok::<_, TeamError>(())
            })
        })
        .await?;
    // The removed member's open sessions must not keep the access they had:
    // the next request reloads their clinics, so ending sessions is only
    // needed when they belong nowhere else.
    let db = state.db.clone();
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            let elsewhere: bool = diesel::select(diesel::dsl::exists(
                memberships::table.filter(memberships::user_id.eq(member)),
            ))
            .get_result(c)
            .await?;
            if !elsewhere {
                session_store::end_all_for_user(c, member).await?;
            }
            Ok::<_, DbError>(())
        })
    })
    .await?;
    Ok(())
}

/// Invites `email` as `role` and emails the invitation link.
pub async fn invite(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    actor_role: ClinicRole,
    inviter_name: &str,
    email: &EmailAddress,
    role: ClinicRole,
) -> Result<Uuid, TeamError> {
    team::check_invitation(actor_role, role)?;
    let token = tokens::generate();
    let link = state.settings.url(&format!("/invite/{}", token.text));
    let now = state.clock.now();
    let ctx = ctx.clone();
    let email = email.clone();
    let inviter = inviter_name.to_owned();
    let app = state.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let member: bool = diesel::select(diesel::dsl::exists(
                    memberships::table
                        .inner_join(users::table)
                        .filter(memberships::clinic_id.eq(clinic.0))
                        .filter(users::email.eq(email.normalized())),
                ))
                .get_result(c)
                .await?;
                if member {
                    return Err(TeamError::AlreadyMember(email.to_string()));
                }
                // An expired open invitation is replaced by the new one.
                diesel::update(
                    invitations::table
                        .filter(invitations::clinic_id.eq(clinic.0))
                        .filter(invitations::email.eq(email.normalized()))
                        .filter(invitations::accepted_at.is_null())
                        .filter(invitations::revoked_at.is_null())
                        .filter(invitations::expires_at.le(now)),
                )
                .set(invitations::revoked_at.eq(now))
                .execute(c)
                .await?;
                let id = Uuid::now_v7();
                let inserted = diesel::insert_into(invitations::table)
                    .values((
                        invitations::id.eq(id),
                        invitations::clinic_id.eq(clinic.0),
                        invitations::email.eq(email.normalized()),
                        invitations::role.eq(role.as_str()),
                        invitations::token_hash.eq(token.hash.to_vec()),
                        invitations::invited_by.eq(match &ctx.actor {
                            audit::Actor::User { id, .. } => Some(*id),
                            _ => None,
                        }),
                        invitations::expires_at.eq(now + INVITATION_LIFETIME),
                    ))
                    .on_conflict_do_nothing()
                    .execute(c)
                    .await?;
                if inserted == 0 {
                    return Err(TeamError::AlreadyInvited(email.to_string()));
                }
                let clinic_name: String = clinics::table
                    .find(clinic.0)
                    .select(clinics::name)
                    .first(c)
                    .await?;
                let message = Invitation {
                    clinic_name,
                    inviter,
                    role: role.label().to_owned(),
                    link,
                    days: INVITATION_LIFETIME.num_days(),
                };
                let outgoing = compose(&message, email.clone(), &app.settings.message_domain())
                    .map_err(|e| DbError::Unavailable(format!("rendering email: {e}")))?;
                email::enqueue(c, &app.crypto, Some(clinic), &outgoing, None).await?;
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "invitation.sent",
                        subject_kind: "invitation",
                        subject_id: id.to_string(),
                        details: json!({ "email": email.masked(), "role": role.as_str() }),
                    },
                )
                .await?;
                Ok(id)
            })
        })
        .await
}

/// Revokes an open invitation.
pub async fn revoke(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    actor_role: ClinicRole,
    invitation: Uuid,
) -> Result<(), TeamError> {
    let now = state.clock.now();
    let ctx = ctx.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let role: Option<String> = invitations::table
                    .filter(invitations::id.eq(invitation))
                    .filter(invitations::clinic_id.eq(clinic.0))
                    .filter(invitations::accepted_at.is_null())
                    .filter(invitations::revoked_at.is_null())
                    .select(invitations::role)
                    .first(c)
                    .await
                    .optional()?;
                let role: ClinicRole = role
                    .and_then(|r| r.parse().ok())
                    .ok_or(TeamError::NoSuchInvitation)?;
                team::check_invitation(actor_role, role)?;
                diesel::update(invitations::table.find(invitation))
                    .set(invitations::revoked_at.eq(now))
                    .execute(c)
                    .await?;
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "invitation.revoked",
                        subject_kind: "invitation",
                        subject_id: invitation.to_string(),
                        details: json!({ "role": role.as_str() }),
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await
}

/// An invitation as its acceptance page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationDetails {
    pub clinic_id: ClinicId,
    pub clinic_name: String,
    pub email: String,
    pub role: ClinicRole,
}

async fn open_invitation(
    c: &mut Conn,
    hash: Vec<u8>,
    now: DateTime<Utc>,
) -> QueryResult<Option<(Uuid, InvitationDetails)>> {
    let row: Option<(Uuid, Uuid, String, String, String)> = invitations::table
        .inner_join(clinics::table)
        .filter(invitations::token_hash.eq(hash))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now))
        .filter(clinics::status.eq("active"))
        .select((
            invitations::id,
            clinics::id,
            clinics::name,
            invitations::email,
            invitations::role,
        ))
        .first(c)
        .await
        .optional()?;
    Ok(row.and_then(|(id, clinic_id, clinic_name, email, role)| {
        Some((
            id,
            InvitationDetails {
                clinic_id: ClinicId(clinic_id),
                clinic_name,
                email,
                role: role.parse().ok()?,
            },
        ))
    }))
}

/// The open invitation behind a link, for its acceptance page.
pub async fn find_invitation(
    state: &AppState,
    token: &str,
) -> Result<Option<InvitationDetails>, DbError> {
    if !tokens::looks_valid(token) {
        return Ok(None);
    }
    let hash = tokens::hash(token).to_vec();
    let now = state.clock.now();
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(open_invitation(c, hash, now).await?.map(|(_, d)| d))
            })
        })
        .await
}

/// Accepts an invitation from its emailed link: creates the user if needed,
/// adds the membership and returns the user to sign in.
pub async fn accept(
    state: &AppState,
    request_id: Option<String>,
    token: &str,
) -> Result<(Uuid, ClinicId), TeamError> {
    if !tokens::looks_valid(token) {
        return Err(TeamError::InvalidInvitation);
    }
    let hash = tokens::hash(token).to_vec();
    let now = state.clock.now();
    state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let (id, details) = open_invitation(c, hash, now).await?.ok_or(TeamError::InvalidInvitation)?;
                let email = EmailAddress::parse(&details.email).map_err(|_| TeamError::InvalidInvitation)?;
                let user: Option<(Uuid, Option<DateTime<Utc>>)> = users::table
                    .filter(users::email.eq(email.normalized()))
                    .select((users::id, users::disabled_at))
                    .first(c)
                    .await
                    .optional()?;
                let user = match user {
                    Some((_, Some(_))) => return Err(TeamError::InvalidInvitation),
                    Some((id, None)) => id,
                    None => {
                        let new = NewUser {
                            id: Uuid::now_v7(),
                            email: email.normalized(),
                            display_name: email.as_str().split('@').next().unwrap_or("user").to_owned(),
                            platform_role: None,
                        };
                        diesel::insert_into(users::table).values(&new).execute(c).await?;
                        new.id
                    }
                };
                let membership = Membership {
                    id: Uuid::now_v7(),
                    clinic_id: details.clinic_id.0,
                    user_id: user,
                    role: details.role.as_str().to_owned(),
                };
                diesel::insert_into(memberships::table)
                    .values(&membership)
                    .on_conflict((memberships::clinic_id, memberships::user_id))
                    .do_nothing()
                    .execute(c)
                    .await?;
                diesel::update(invitations::table.find(id)).set(invitations::accepted_at.eq(now)).execute(c).await?;
                let ctx = AuditContext { actor: audit::Actor::User { id: user, label: email.masked() }, request_id };
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(details.clinic_id),
                        action: "invitation.accepted",
                        subject_kind: "user",
                        subject_id: user.to_string(),
                        details: json!({ "email": email.masked(), "role": details.role.as_str(), "via": "email_link" }),
                    },
                )
                .await?;
                Ok((user, details.clinic_id))
            })
        })
        .await
}
