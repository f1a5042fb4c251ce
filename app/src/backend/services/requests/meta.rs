//! Meta's data-deletion callback: a verified `signed_request` becomes an
//! erasure request whose progress Meta's user can follow with a
//! confirmation code.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use super::{RequestRow, add_event, audit_request, clinic_facts};
use crate::backend::audit::{self, Actor, AuditContext, AuditEntry};
use crate::backend::db::Conn;
use crate::backend::db::DbError;
use crate::backend::db::schema::{
    clinics, meta_callback_replays, meta_deletions, privacy_requests,
};
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::deadline;
use crate::domain::meta::{self, MetaError, SignedRequest};
use crate::domain::requests::{self as rules, RequestKind, RequestStatus};

const SECRET_PURPOSE: &str = "meta.app_secret";

/// Stores the clinic's Meta app secret, sealed.
pub async fn set_secret(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    secret: &SecretString,
) -> Result<(), DbError> {
    let sealed = state
        .crypto
        .seal(SECRET_PURPOSE, secret.expose_secret().as_bytes());
    let ctx = ctx.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                diesel::update(clinics::table.find(clinic.0))
                    .set(clinics::meta_app_secret_sealed.eq(sealed))
                    .execute(c)
                    .await?;
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "clinic.meta_secret_set",
                        subject_kind: "clinic",
                        subject_id: clinic.0.to_string(),
                        details: json!({}),
                    },
                )
                .await?;
                Ok::<_, DbError>(())
            })
        })
        .await
}

/// Whether the clinic has a Meta app secret.
pub async fn has_secret(state: &AppState, clinic: ClinicId) -> Result<bool, DbError> {
    Ok(secret(state, clinic).await?.is_some())
}

async fn secret(state: &AppState, clinic: ClinicId) -> Result<Option<Vec<u8>>, DbError> {
    let mut conn = state.db.conn().await?;
    let sealed: Option<Vec<u8>> = clinics::table
        .find(clinic.0)
        .select(clinics::meta_app_secret_sealed)
        .first::<Option<Vec<u8>>>(&mut conn)
        .await
        .optional()?
        .flatten();
    Ok(sealed.and_then(|s| state.crypto.open(SECRET_PURPOSE, &s).ok()))
}

/// Why a callback was refused.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("this clinic does not accept Meta data-deletion callbacks")]
    NotConfigured,
    #[error("{0}")]
    Invalid(#[from] MetaError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A callback whose signature and dates were checked.
#[derive(Clone, Debug)]
pub struct VerifiedCallback {
    pub signed: SignedRequest,
    /// Identifies the signed request for replay detection.
    pub digest: [u8; 32],
}

/// Verifies a signed request with the clinic's secret and refuses it when it
/// is too old, dated ahead or expired.
pub async fn verify(
    state: &AppState,
    clinic: ClinicId,
    signed_request: &str,
) -> Result<VerifiedCallback, CallbackError> {
    let secret = secret(state, clinic)
        .await?
        .ok_or(CallbackError::NotConfigured)?;
    let signed = meta::verify_signed_request(signed_request, &secret)?;
    meta::check_freshness(&signed, state.clock.now().timestamp())?;
    Ok(VerifiedCallback {
        signed,
        digest: meta::replay_digest(signed_request),
    })
}

/// Which callback endpoint a replay belongs to.
#[derive(Clone, Copy, Debug)]
enum Callback {
    DataDeletion,
    Deauthorize,
}

impl Callback {
    fn as_str(self) -> &'static str {
        match self {
            Callback::DataDeletion => "data_deletion",
            Callback::Deauthorize => "deauthorize",
        }
    }
}

/// Takes the clinic's Meta lock for the transaction, forgets callbacks past
/// the replay window and tells whether this one was answered before (with
/// the confirmation code it got, for a deletion).
async fn seen_before(
    c: &mut Conn,
    clinic: ClinicId,
    callback: Callback,
    digest: &[u8; 32],
    now: DateTime<Utc>,
) -> Result<Option<Option<String>>, DbError> {
    // One callback at a time per clinic, so retries cannot race each other
    // into two requests or two audit events.
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended('meta:' || $1, 0))")
        .bind::<diesel::sql_types::Text, _>(clinic.0.to_string())
        .execute(c)
        .await?;
    let forget_before = now - chrono::Duration::seconds(meta::REPLAY_MEMORY_SECONDS);
    diesel::delete(
        meta_callback_replays::table
            .filter(meta_callback_replays::clinic_id.eq(clinic.0))
            .filter(meta_callback_replays::seen_at.lt(forget_before)),
    )
    .execute(c)
    .await?;
    Ok(meta_callback_replays::table
        .filter(meta_callback_replays::clinic_id.eq(clinic.0))
        .filter(meta_callback_replays::callback.eq(callback.as_str()))
        .filter(meta_callback_replays::digest.eq(digest.as_slice()))
        .select(meta_callback_replays::confirmation_code)
        .first::<Option<String>>(c)
        .await
        .optional()?)
}

/// Remembers an answered callback until the end of the replay window.
async fn remember(
    c: &mut Conn,
    clinic: ClinicId,
    callback: Callback,
    digest: &[u8; 32],
    code: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::insert_into(meta_callback_replays::table)
        .values((
            meta_callback_replays::clinic_id.eq(clinic.0),
            meta_callback_replays::callback.eq(callback.as_str()),
            meta_callback_replays::digest.eq(digest.as_slice()),
            meta_callback_replays::confirmation_code.eq(code),
            meta_callback_replays::seen_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c)
        .await?;
    Ok(())
}

/// Turns a verified deletion callback into one erasure request. The same
/// signed request sent again within the replay window gets the first answer,
/// even after that request was completed; a new callback for a user whose
/// request is still open gets that request's code.
pub async fn create_deletion(
    state: &AppState,
    clinic: ClinicId,
    callback: VerifiedCallback,
    request_id: Option<String>,
) -> Result<String, DbError> {
    let now = state.clock.now();
    let VerifiedCallback { signed, digest } = callback;
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let kind = Callback::DataDeletion;
                if let Some(Some(code)) = seen_before(c, clinic, kind, &digest, now).await? {
                    return Ok(code);
                }
                let open: Option<String> = meta_deletions::table
                    .inner_join(privacy_requests::table)
                    .filter(meta_deletions::clinic_id.eq(clinic.0))
                    .filter(meta_deletions::meta_user_id.eq(&signed.user_id))
                    .filter(privacy_requests::status.eq_any([
                        "new",
                        "in_progress",
                        "awaiting_requester",
                    ]))
                    .select(meta_deletions::confirmation_code)
                    .first(c)
                    .await
                    .optional()?;
                if let Some(code) = open {
                    remember(c, clinic, kind, &digest, Some(&code), now).await?;
                    return Ok(code);
                }
                let facts = clinic_facts(c, clinic).await?;
                let base = deadline::base_due(now.date_naive(), facts.deadline);
                let id = Uuid::now_v7();
                let reference = rules::new_reference();
                diesel::insert_into(privacy_requests::table)
                    .values((
                        privacy_requests::id.eq(id),
                        privacy_requests::clinic_id.eq(clinic.0),
                        privacy_requests::reference.eq(&reference),
                        privacy_requests::kind.eq(RequestKind::Erasure.as_str()),
                        privacy_requests::status.eq(RequestStatus::New.as_str()),
                        privacy_requests::source.eq("meta"),
                        privacy_requests::requester_name
                            .eq(format!("Meta user {}", signed.user_id)),
                        privacy_requests::details
                            .eq("Data deletion requested through Meta's data-deletion callback."),
                        privacy_requests::verified_at.eq(now),
                        privacy_requests::base_due_on.eq(base),
                        privacy_requests::due_on.eq(base),
                    ))
                    .execute(c)
                    .await?;
                let code = meta::confirmation_code();
                diesel::insert_into(meta_deletions::table)
                    .values((
                        meta_deletions::confirmation_code.eq(&code),
                        meta_deletions::clinic_id.eq(clinic.0),
                        meta_deletions::request_id.eq(id),
                        meta_deletions::meta_user_id.eq(&signed.user_id),
                    ))
                    .execute(c)
                    .await?;
                add_event(
                    c,
                    clinic,
                    id,
                    "verified",
                    ("system", None),
                    "Received through Meta; identity vouched for by Meta's signature.",
                    true,
                )
                .await?;
                let ctx = AuditContext {
                    actor: Actor::Public {
                        label: "Meta data-deletion callback".into(),
                    },
                    request_id,
                };
                audit_request(
                    c,
                    &ctx,
                    clinic,
                    id,
                    "request.received_from_meta",
                    json!({ "reference": reference, "due_on": base.to_string() }),
                )
                .await?;
                remember(c, clinic, kind, &digest, Some(&code), now).await?;
                Ok::<_, DbError>(code)
            })
        })
        .await
}

/// What the deletion status page says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletionStatus {
    pub reference: String,
    pub status: RequestStatus,
    pub outcome: Option<String>,
    pub received_at: DateTime<Utc>,
    pub due_on: Option<NaiveDate>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// The status behind a confirmation code.
pub async fn deletion_status(
    state: &AppState,
    clinic: ClinicId,
    code: &str,
) -> Result<Option<DeletionStatus>, DbError> {
    if code.len() != 12 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let code = code.to_ascii_uppercase();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let row: Option<RequestRow> = meta_deletions::table
                    .inner_join(privacy_requests::table)
                    .filter(meta_deletions::clinic_id.eq(clinic.0))
                    .filter(meta_deletions::confirmation_code.eq(code))
                    .select(RequestRow::as_select())
                    .first(c)
                    .await
                    .optional()?;
                Ok::<_, DbError>(row.map(|r| DeletionStatus {
                    reference: r.reference.clone().unwrap_or_default(),
                    status: r.status(),
                    outcome: r.outcome.clone(),
                    received_at: r.created_at,
                    due_on: r.due_on,
                    completed_at: r.completed_at,
                }))
            })
        })
        .await
}

/// Records that a Meta user removed the clinic's app; the same signed
/// request sent again within the replay window records nothing more.
pub async fn record_deauthorization(
    state: &AppState,
    clinic: ClinicId,
    callback: &VerifiedCallback,
    request_id: Option<String>,
) -> Result<(), DbError> {
    let ctx = AuditContext {
        actor: Actor::Public {
            label: "Meta deauthorize callback".into(),
        },
        request_id,
    };
    let now = state.clock.now();
    let user = callback.signed.user_id.clone();
    let digest = callback.digest;
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let kind = Callback::Deauthorize;
                if seen_before(c, clinic, kind, &digest, now).await?.is_some() {
                    return Ok(());
                }
                remember(c, clinic, kind, &digest, None, now).await?;
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "meta.deauthorized",
                        subject_kind: "meta_user",
                        subject_id: user,
                        details: json!({}),
                    },
                )
                .await?;
                Ok::<_, DbError>(())
            })
        })
        .await
}
