//! Meta's data-deletion callback: the signed request itself is checked by the
//! `signed-request` crate; the portal adds confirmation codes and the app
//! secret's rules.

use rand::Rng;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
pub use signed_request::{MetaError, SignedRequest, sign, verify_signed_request};

/// How long after Meta signed it a `signed_request` is accepted: one day.
///
/// Meta's documentation of the data-deletion and deauthorize callbacks
/// ("Data Deletion Callback", "Deauthorize Callback" in the Meta for
/// Developers app settings guide) shows the payload's `issued_at` (and, for
/// some signed requests, `expires`) but names no lifetime, and Meta calls the
/// endpoint when the person acts, retrying only briefly when it fails. A day
/// covers those retries and an outage of the portal of some hours, and keeps
/// a captured callback from being replayed later; a request past its own
/// `expires` is refused even inside the day.
pub const MAX_AGE_SECONDS: i64 = 86_400;

/// How far in the future `issued_at` may lie: clocks of two data centres
/// differ by seconds, not by minutes.
pub const CLOCK_SKEW_SECONDS: i64 = 300;

/// How long a clinic remembers a callback it answered: for as long as the same
/// signed request could still be accepted.
pub const REPLAY_MEMORY_SECONDS: i64 = MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS;

/// Checks a verified request's dates against `now` (Unix seconds).
pub fn check_freshness(request: &SignedRequest, now: i64) -> Result<(), MetaError> {
    request.check_freshness(now, MAX_AGE_SECONDS, CLOCK_SKEW_SECONDS)
}

/// What identifies a signed request for replay detection: the SHA-256 of its
/// payload as sent. The signature is a function of the payload, and padding
/// that the parser tolerates on the signature must not make a replay new.
pub fn replay_digest(signed_request: &str) -> [u8; 32] {
    let input = signed_request.trim();
    let payload = input.split_once('.').map_or(input, |(_, payload)| payload);
    Sha256::digest(payload.as_bytes()).into()
}

/// A confirmation code for Meta: 12 characters, upper-case letters and digits.
pub fn confirmation_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Checks that `input` looks like a Meta app secret and returns it trimmed.
pub fn parse_app_secret(input: &str) -> Result<SecretString, &'static str> {
    let secret = input.trim();
    if secret.len() < 16
        || secret.len() > 200
        || secret.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(
            "App secret must be the secret of your Meta app: 16 to 200 characters without spaces",
        );
    }
    Ok(SecretString::from(secret.to_owned()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn app_secrets_are_checked() {
        use secrecy::ExposeSecret;
        assert_eq!(
            super::parse_app_secret("  0123456789abcdef0123  \n")
                .expect("a valid secret")
                .expose_secret(),
            "0123456789abcdef0123"
        );
        assert!(super::parse_app_secret("short").is_err());
        assert!(super::parse_app_secret("0123456789 abcdef0123").is_err());
        assert!(super::parse_app_secret(&"a".repeat(201)).is_err());
    }

    #[test]
    fn a_replay_has_the_digest_of_the_first_callback_even_with_padding() {
        use super::replay_digest;
        let first = super::sign(
            &serde_json::json!({"algorithm": "HMAC-SHA256", "user_id": "1", "issued_at": 1}),
            b"secret",
        );
        let (sig, payload) = first.split_once('.').expect("two parts");
        assert_eq!(
            replay_digest(&first),
            replay_digest(&format!("{sig}=.{payload}\n"))
        );
        let other = super::sign(
            &serde_json::json!({"algorithm": "HMAC-SHA256", "user_id": "1", "issued_at": 2}),
            b"secret",
        );
        assert_ne!(replay_digest(&first), replay_digest(&other));
    }

    #[test]
    fn confirmation_codes_have_their_shape() {
        use super::confirmation_code;
        let code = confirmation_code();
        assert_eq!(code.len(), 12);
        assert!(
            code.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_ne!(code, confirmation_code());
    }
}
