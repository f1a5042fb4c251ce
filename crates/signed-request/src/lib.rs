//! Meta's data-deletion callback: the `signed_request` form field is
//! `base64url(signature).base64url(payload)`, where the signature is
//! HMAC-SHA256 of the encoded payload under the app secret and the payload is
//! JSON naming the algorithm and the app-scoped user id.
//!
//! A crate of its own, with few dependencies, so that it can be fuzzed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The verified content of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Meta's app-scoped id of the person asking.
    pub user_id: String,
    /// When Meta signed it (Unix seconds).
    pub issued_at: Option<i64>,
    /// When Meta says it stops being valid (Unix seconds), if it says.
    pub expires: Option<i64>,
}

impl SignedRequest {
    /// Refuses a request signed more than `max_age` seconds before `now`,
    /// dated more than `skew` seconds after it, without a date, or past its
    /// own `expires`: a captured callback cannot be replayed for ever.
    pub fn check_freshness(&self, now: i64, max_age: i64, skew: i64) -> Result<(), MetaError> {
        let issued_at = self.issued_at.ok_or(MetaError::IssuedAt)?;
        if issued_at > now.saturating_add(skew) {
            return Err(MetaError::IssuedAt);
        }
        if issued_at < now.saturating_sub(max_age) {
            return Err(MetaError::Stale);
        }
        if self.expires.is_some_and(|expires| expires <= now) {
            return Err(MetaError::Expired);
        }
        Ok(())
    }
}

/// Why a signed request was refused; each maps to a 400 with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    #[error("signed_request is missing")]
    Missing,
    #[error("signed_request must be two base64url parts separated by a dot")]
    Shape,
    #[error("signed_request is not valid base64url")]
    Base64,
    #[error("the payload is not a JSON object")]
    Json,
    #[error("the signature does not match")]
    Signature,
    #[error("the algorithm {0:?} is not accepted; only HMAC-SHA256 is")]
    Algorithm(String),
    #[error("the payload has no user_id")]
    UserId,
    #[error("the payload has no issued_at, or it lies in the future")]
    IssuedAt,
    #[error("the signed request is too old")]
    Stale,
    #[error("the signed request has expired")]
    Expired,
}

/// Longest `signed_request` accepted (Meta's are a few hundred bytes).
const MAX_LENGTH: usize = 8192;

fn decode(part: &str) -> Result<Vec<u8>, MetaError> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| MetaError::Base64)
}

/// Checks the signature (in constant time) and reads the payload.
pub fn verify_signed_request(input: &str, app_secret: &[u8]) -> Result<SignedRequest, MetaError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(MetaError::Missing);
    }
    if input.len() > MAX_LENGTH {
        return Err(MetaError::Shape);
    }
    let (signature, payload) = input.split_once('.').ok_or(MetaError::Shape)?;
    if signature.is_empty() || payload.is_empty() || payload.contains('.') {
        return Err(MetaError::Shape);
    }
    let signature = decode(signature)?;
    let json = decode(payload)?;
    let value: serde_json::Value = serde_json::from_slice(&json).map_err(|_| MetaError::Json)?;
    let object = value.as_object().ok_or(MetaError::Json)?;
    let algorithm = object
        .get("algorithm")
        .and_then(|a| a.as_str())
        .unwrap_or_default();
    if !algorithm.eq_ignore_ascii_case("HMAC-SHA256") {
        return Err(MetaError::Algorithm(algorithm.chars().take(40).collect()));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret).map_err(|_| MetaError::Signature)?;
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| MetaError::Signature)?;
    let user_id = match object.get("user_id") {
        Some(serde_json::Value::String(id)) => id.clone(),
        Some(serde_json::Value::Number(id)) => id.to_string(),
        _ => return Err(MetaError::UserId),
    };
    if user_id.is_empty() || user_id.len() > 100 || user_id.chars().any(char::is_control) {
        return Err(MetaError::UserId);
    }
    Ok(SignedRequest {
        user_id,
        issued_at: object.get("issued_at").and_then(serde_json::Value::as_i64),
        expires: object.get("expires").and_then(serde_json::Value::as_i64),
    })
}

/// Builds a signed request as Meta would (tests, fuzzing and local trials).
pub fn sign(payload: &serde_json::Value, app_secret: &[u8]) -> String {
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(payload.as_bytes());
    format!(
        "{}.{payload}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"app-secret";

    #[test]
    fn a_correctly_signed_request_is_read() {
        let input = sign(
            &json!({"algorithm": "HMAC-SHA256", "user_id": "218471", "issued_at": 1_791_000_000}),
            SECRET,
        );
        assert_eq!(
            verify_signed_request(&input, SECRET),
            Ok(SignedRequest {
                user_id: "218471".into(),
                issued_at: Some(1_791_000_000),
                expires: None,
            })
        );
        // Padding on the signature, as some senders add it, is tolerated; the
        // payload is verified exactly as it was sent.
        let (sig, payload) = input.split_once('.').expect("two parts");
        assert!(verify_signed_request(&format!("{sig}=.{payload}"), SECRET).is_ok());
        assert_eq!(
            verify_signed_request(&format!("{sig}.{payload}="), SECRET),
            Err(MetaError::Signature)
        );
    }

    #[test]
    fn every_kind_of_bad_request_is_refused() {
        let good = sign(&json!({"algorithm": "HMAC-SHA256", "user_id": "1"}), SECRET);
        let (sig, payload) = good.split_once('.').expect("two parts");
        assert_eq!(verify_signed_request("", SECRET), Err(MetaError::Missing));
        assert_eq!(
            verify_signed_request("nodot", SECRET),
            Err(MetaError::Shape)
        );
        assert_eq!(
            verify_signed_request(&format!("{sig}.{payload}.x"), SECRET),
            Err(MetaError::Shape)
        );
        assert_eq!(
            verify_signed_request(&format!("{sig}.@@@"), SECRET),
            Err(MetaError::Base64)
        );
        let not_json = URL_SAFE_NO_PAD.encode("not json");
        assert_eq!(
            verify_signed_request(&format!("{sig}.{not_json}"), SECRET),
            Err(MetaError::Json)
        );
        assert_eq!(
            verify_signed_request(&good, b"another secret"),
            Err(MetaError::Signature)
        );
        let other = sign(&json!({"algorithm": "HMAC-SHA1", "user_id": "1"}), SECRET);
        assert_eq!(
            verify_signed_request(&other, SECRET),
            Err(MetaError::Algorithm("HMAC-SHA1".into()))
        );
        let nobody = sign(&json!({"algorithm": "HMAC-SHA256"}), SECRET);
        assert_eq!(
            verify_signed_request(&nobody, SECRET),
            Err(MetaError::UserId)
        );
        let mut tampered = good.clone();
        tampered.push('A');
        assert!(verify_signed_request(&tampered, SECRET).is_err());
    }

    #[test]
    fn freshness_is_judged_by_issued_at_and_expires() {
        let at = |issued_at: Option<i64>, expires: Option<i64>| SignedRequest {
            user_id: "1".into(),
            issued_at,
            expires,
        };
        let now = 1_800_000_000;
        let day = 86_400;
        let cases = [
            ("just issued", at(Some(now), None), Ok(())),
            ("a day old to the second", at(Some(now - day), None), Ok(())),
            (
                "a second too old",
                at(Some(now - day - 1), None),
                Err(MetaError::Stale),
            ),
            ("within the clock skew", at(Some(now + 300), None), Ok(())),
            (
                "from the future",
                at(Some(now + 301), None),
                Err(MetaError::IssuedAt),
            ),
            ("undated", at(None, None), Err(MetaError::IssuedAt)),
            ("not yet expired", at(Some(now - 10), Some(now + 1)), Ok(())),
            (
                "expired this second",
                at(Some(now - 10), Some(now)),
                Err(MetaError::Expired),
            ),
        ];
        for (what, request, expected) in cases {
            assert_eq!(request.check_freshness(now, day, 300), expected, "{what}");
        }
        let read = verify_signed_request(
            &sign(
                &json!({"algorithm": "HMAC-SHA256", "user_id": "1", "issued_at": now, "expires": now + 3600}),
                SECRET,
            ),
            SECRET,
        )
        .expect("valid");
        assert_eq!(read.expires, Some(now + 3600));
    }
}
