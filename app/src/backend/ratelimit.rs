//! Fixed-window rate limits kept in Postgres, so that every app node counts
//! the same hits.

use chrono::{DateTime, Duration, DurationRound, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Integer, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};

use crate::backend::db::{Db, DbError, FixedSql};

/// A limit: at most `max` hits per `window`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max: i32,
    pub window: Duration,
}

/// Sign-in and link requests from one IP address: 20 per 10 minutes.
pub const LOGIN_PER_IP: Limit = Limit {
    max: 20,
    window: Duration::minutes(10),
};
/// Link requests for one email address: 5 per 15 minutes.
pub const LOGIN_PER_EMAIL: Limit = Limit {
    max: 5,
    window: Duration::minutes(15),
};

/// Key for an email address; the address itself is never stored.
pub fn email_key(scope: &str, email: &str) -> String {
    format!(
        "{scope}:email:{}",
        hex::encode(&Sha256::digest(email.to_lowercase().as_bytes())[..16])
    )
}

/// Key for an IP address.
pub fn ip_key(scope: &str, ip: &str) -> String {
    format!("{scope}:ip:{ip}")
}

/// Counts a hit on `key`; returns false when the limit is exceeded.
pub async fn hit(db: &Db, key: &str, limit: Limit, now: DateTime<Utc>) -> Result<bool, DbError> {
    #[derive(QueryableByName)]
    struct Hits {
        #[diesel(sql_type = Integer)]
        hits: i32,
    }
    let window_start = now.duration_trunc(limit.window).unwrap_or(now);
    let mut conn = db.conn().await?;
    let row: Hits = FixedSql(
        diesel::sql_query(
            "INSERT INTO rate_limit_counters (key, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_counters.hits + 1 \
             RETURNING hits",
        )
        .bind::<Text, _>(key)
        .bind::<Timestamptz, _>(window_start),
    )
    .get_result(&mut conn)
    .await?;
    Ok(row.hits <= limit.max)
}

/// Counts a form submission from `ip` for `email` under `scope`; false when
/// either the address's or the email's limit is exceeded (the email is not
/// counted once the address is over its limit). One statement counts both.
pub async fn allow_submission(
    db: &Db,
    scope: &str,
    ip: &str,
    email: &str,
    (per_ip, per_email): (Limit, Limit),
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    #[derive(QueryableByName)]
    struct Hits {
        #[diesel(sql_type = Integer)]
        ip_hits: i32,
        #[diesel(sql_type = Nullable<Integer>)]
        email_hits: Option<i32>,
    }
    let mut conn = db.conn().await?;
    let row: Hits = FixedSql(
        diesel::sql_query(
            "WITH ip AS ( \
                 INSERT INTO rate_limit_counters (key, window_start, hits) VALUES ($1, $2, 1) \
                 ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_counters.hits + 1 \
                 RETURNING hits), \
             email AS ( \
                 INSERT INTO rate_limit_counters (key, window_start, hits) \
                 SELECT $3, $4, 1 FROM ip WHERE ip.hits <= $5 \
                 ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_counters.hits + 1 \
                 RETURNING hits) \
             SELECT (SELECT hits FROM ip) AS ip_hits, (SELECT hits FROM email) AS email_hits",
        )
        .bind::<Text, _>(ip_key(scope, ip))
        .bind::<Timestamptz, _>(now.duration_trunc(per_ip.window).unwrap_or(now))
        .bind::<Text, _>(email_key(scope, email))
        .bind::<Timestamptz, _>(now.duration_trunc(per_email.window).unwrap_or(now))
        .bind::<Integer, _>(per_ip.max),
    )
    .get_result(&mut conn)
    .await?;
    Ok(row.ip_hits <= per_ip.max && row.email_hits.is_some_and(|hits| hits <= per_email.max))
}

/// Removes counters of windows that ended more than a day ago.
pub async fn purge_old(db: &Db, now: DateTime<Utc>) -> Result<usize, DbError> {
    let mut conn = db.conn().await?;
    Ok(
        diesel::sql_query("DELETE FROM rate_limit_counters WHERE window_start < $1")
            .bind::<Timestamptz, _>(now - Duration::days(1))
            .execute(&mut conn)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_keys_hide_the_address_and_ignore_case() {
        let key = email_key("login", "Patient@Example.org");
        assert!(!key.contains("example"));
        assert_eq!(key, email_key("login", "patient@example.org"));
    }
}
