//! Retry policy of the job queue.

use std::time::Duration;

/// Delay before retry number `attempt` (1 = after the first failure):
/// 15 s doubling each time, capped at one hour.
pub fn retry_delay(attempt: u32) -> Duration {
    const BASE_SECS: u64 = 15;
    const CAP_SECS: u64 = 3600;
    let exponent = attempt.saturating_sub(1).min(16);
    Duration::from_secs(BASE_SECS.saturating_mul(1 << exponent).min(CAP_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(retry_delay(1), Duration::from_secs(15));
        assert_eq!(retry_delay(2), Duration::from_secs(30));
        assert_eq!(retry_delay(3), Duration::from_secs(60));
        assert_eq!(retry_delay(8), Duration::from_secs(1920));
        assert_eq!(retry_delay(9), Duration::from_secs(3600));
        assert_eq!(retry_delay(u32::MAX), Duration::from_secs(3600));
        assert_eq!(retry_delay(0), Duration::from_secs(15));
    }

    #[test]
    fn delays_never_shrink() {
        let delays: Vec<Duration> = (1..40).map(retry_delay).collect();
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
    }
}
