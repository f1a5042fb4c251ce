//! How long a sign-in lasts.

use chrono::{DateTime, Duration, Utc};

/// Idle and absolute limits of a signed-in session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Signed out after this long without a request.
    pub idle: Duration,
    /// Signed out this long after signing in, however active.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        }
    }
}

impl SessionPolicy {
    /// Whether a session signed in at `signed_in_at` and last used at
    /// `last_seen` has ended by `now`.
    pub fn has_expired(
        &self,
        signed_in_at: DateTime<Utc>,
        last_seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        now - signed_in_at >= self.absolute || now - last_seen >= self.idle
    }

    /// Whether `last_seen` is old enough to be worth writing again: the
    /// session is touched at most once a minute.
    pub fn should_touch(&self, last_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - last_seen >= Duration::minutes(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_or_too_old() {
        let policy = SessionPolicy::default();
        let start = Utc::now();
        assert!(!policy.has_expired(start, start, start + Duration::minutes(29)));
        assert!(policy.has_expired(start, start, start + Duration::minutes(30)));
        let busy = start + Duration::hours(11) + Duration::minutes(59);
        assert!(!policy.has_expired(start, busy, busy));
        assert!(policy.has_expired(
            start,
            start + Duration::hours(12),
            start + Duration::hours(12)
        ));
    }

    #[test]
    fn activity_is_recorded_at_most_once_a_minute() {
        let policy = SessionPolicy::default();
        let seen = Utc::now();
        assert!(!policy.should_touch(seen, seen + Duration::seconds(59)));
        assert!(policy.should_touch(seen, seen + Duration::seconds(60)));
    }
}
