//! A tower-sessions store on the portal's own Postgres, through Diesel.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};
use uuid::Uuid;

use super::keys;
use crate::backend::db::Db;
use crate::backend::db::schema::sessions;

/// Sessions in the `sessions` table. App nodes stay stateless.
#[derive(Clone)]
pub struct PgSessionStore {
    db: Db,
}

impl std::fmt::Debug for PgSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgSessionStore")
    }
}

impl PgSessionStore {
    /// A store on `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn backend(e: impl std::fmt::Display) -> Error {
    Error::Backend(e.to_string())
}

fn expires_at(record: &Record) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(record.expiry_date.unix_timestamp(), 0).unwrap_or_else(Utc::now)
}

fn user_id(record: &Record) -> Option<Uuid> {
    record
        .data
        .get(keys::USER_ID)
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
}

#[async_trait]
impl SessionStore for PgSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        let mut conn = self.db.conn().await.map_err(backend)?;
        let data = serde_json::to_value(&record.data).map_err(backend)?;
        // A new random id per attempt until one is free (collisions of 128
        // random bits are theoretical, but the store must not overwrite).
        for _ in 0..8 {
            let inserted = diesel::insert_into(sessions::table)
                .values((
                    sessions::id.eq(record.id.to_string()),
                    sessions::user_id.eq(user_id(record)),
                    sessions::data.eq(&data),
                    sessions::expires_at.eq(expires_at(record)),
                ))
                .on_conflict_do_nothing()
                .execute(&mut conn)
                .await
                .map_err(backend)?;
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
        Err(Error::Backend("could not allocate a session id".into()))
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let mut conn = self.db.conn().await.map_err(backend)?;
        let data = serde_json::to_value(&record.data).map_err(backend)?;
        diesel::insert_into(sessions::table)
            .values((
                sessions::id.eq(record.id.to_string()),
                sessions::user_id.eq(user_id(record)),
                sessions::data.eq(&data),
                sessions::expires_at.eq(expires_at(record)),
            ))
            .on_conflict(sessions::id)
            .do_update()
            .set((
                sessions::user_id.eq(user_id(record)),
                sessions::data.eq(&data),
                sessions::expires_at.eq(expires_at(record)),
            ))
            .execute(&mut conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let mut conn = self.db.conn().await.map_err(backend)?;
        let row: Option<(serde_json::Value, DateTime<Utc>)> = sessions::table
            .filter(sessions::id.eq(id.to_string()))
            .filter(sessions::expires_at.gt(Utc::now()))
            .select((sessions::data, sessions::expires_at))
            .first(&mut conn)
            .await
            .optional()
            .map_err(backend)?;
        let Some((data, expires)) = row else {
            return Ok(None);
        };
        let expiry_date =
            time::OffsetDateTime::from_unix_timestamp(expires.timestamp()).map_err(backend)?;
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_value(data).map_err(backend)?,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        let mut conn = self.db.conn().await.map_err(backend)?;
        diesel::delete(sessions::table.filter(sessions::id.eq(id.to_string())))
            .execute(&mut conn)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Deletes expired sessions; returns how many.
pub async fn purge_expired(db: &Db) -> std::result::Result<usize, crate::backend::db::DbError> {
    let mut conn = db.conn().await?;
    Ok(
        diesel::delete(sessions::table.filter(sessions::expires_at.le(Utc::now())))
            .execute(&mut conn)
            .await?,
    )
}

/// Ends every session of `user` (when removed or disabled).
pub async fn end_all_for_user(
    conn: &mut crate::backend::db::Conn,
    user: Uuid,
) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user)))
        .execute(conn)
        .await
}
