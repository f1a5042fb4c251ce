//! The platform's own profile (the processor running the portal).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::backend::audit::{self, AuditContext, AuditEntry};
use crate::backend::db::schema::{platform, users};
use crate::backend::db::{Db, DbError};
use crate::backend::models::clinic::Platform;
use crate::backend::models::user::NewUser;
use crate::backend::tenancy::Scope;
use crate::domain::email::EmailAddress;
use crate::domain::roles::PlatformRole;
use uuid::Uuid;

/// The platform profile, if set up.
pub async fn get(db: &Db) -> Result<Option<Platform>, DbError> {
    let mut conn = db.conn().await?;
    Ok(platform::table
        .select(Platform::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

/// How many days backups are kept when the platform has not said.
pub const DEFAULT_BACKUP_RETENTION_DAYS: u32 = 30;

/// How many days the platform keeps its backups.
pub async fn backup_retention_days(db: &Db) -> Result<u32, DbError> {
    let mut conn = db.conn().await?;
    let days: Option<i32> = platform::table
        .select(platform::backup_retention_days)
        .first(&mut conn)
        .await
        .optional()?;
    Ok(days
        .and_then(|d| u32::try_from(d).ok())
        .unwrap_or(DEFAULT_BACKUP_RETENTION_DAYS))
}

/// Creates the platform profile unless it exists. Returns whether it was created.
pub async fn ensure(db: &Db, ctx: &AuditContext, profile: Platform) -> Result<bool, DbError> {
    let ctx = ctx.clone();
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            let inserted = diesel::insert_into(platform::table)
                .values(&profile)
                .on_conflict_do_nothing()
                .execute(c)
                .await?;
            if inserted == 1 {
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: None,
                        action: "platform.created",
                        subject_kind: "platform",
                        subject_id: "platform".into(),
                        details: json!({ "name": profile.name, "legal_name": profile.legal_name }),
                    },
                )
                .await?;
            }
            Ok(inserted == 1)
        })
    })
    .await
}

/// Makes `email` a platform operator, creating the user when new.
pub async fn make_operator(
    db: &Db,
    ctx: &AuditContext,
    email: &EmailAddress,
    name: &str,
) -> Result<(), DbError> {
    let ctx = ctx.clone();
    let email = email.clone();
    let name = name.to_owned();
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            let id: Uuid = diesel::insert_into(users::table)
                .values(&NewUser {
                    id: Uuid::now_v7(),
                    email: email.normalized(),
                    display_name: name,
                    platform_role: Some(PlatformRole::Operator.as_str().to_owned()),
                })
                .on_conflict(users::email)
                .do_update()
                .set(users::platform_role.eq(PlatformRole::Operator.as_str()))
                .returning(users::id)
                .get_result(c)
                .await?;
            audit::record(
                c,
                &ctx,
                AuditEntry {
                    clinic_id: None,
                    action: "operator.granted",
                    subject_kind: "user",
                    subject_id: id.to_string(),
                    details: json!({ "email": email.masked() }),
                },
            )
            .await?;
            Ok::<_, DbError>(())
        })
    })
    .await
}
