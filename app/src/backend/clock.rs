//! Time as the services see it. Production reads the system clock; tests
//! move a [`ManualClock`] to cross deadlines and expiries without waiting.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Debug + Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock shifted by an adjustable offset, or stopped at a chosen
/// moment.
#[derive(Debug)]
pub struct ManualClock {
    offset_ms: AtomicI64,
    /// Microseconds since the epoch while stopped; `i64::MIN` while running.
    stopped_at: AtomicI64,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self {
            offset_ms: AtomicI64::new(0),
            stopped_at: AtomicI64::new(i64::MIN),
        }
    }
}

impl ManualClock {
    /// A clock that starts at the system time.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
        let stopped = self.stopped_at.load(Ordering::SeqCst);
        if stopped != i64::MIN {
            let by = by.num_microseconds().unwrap_or(i64::MAX);
            self.stopped_at
                .store(stopped.saturating_add(by), Ordering::SeqCst);
        }
    }

    /// Stops the clock at `at` (to the microsecond) until moved again.
    pub fn set(&self, at: DateTime<Utc>) {
        self.stopped_at
            .store(at.timestamp_micros(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let stopped = self.stopped_at.load(Ordering::SeqCst);
        if stopped != i64::MIN {
            return DateTime::from_timestamp_micros(stopped).unwrap_or_default();
        }
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_when_told() {
        let clock = ManualClock::new();
        let before = clock.now();
        clock.advance(Duration::hours(2));
        let after = clock.now();
        assert!(after - before >= Duration::hours(2));
        assert!(after - before < Duration::hours(2) + Duration::seconds(5));
    }

    #[test]
    fn a_set_clock_stays_at_its_moment_until_moved() {
        let clock = ManualClock::new();
        let at = DateTime::from_timestamp_micros(1_800_000_000_123_456).expect("time");
        clock.set(at);
        assert_eq!(clock.now(), at);
        clock.advance(Duration::microseconds(1));
        assert_eq!(clock.now(), at + Duration::microseconds(1));
    }
}
