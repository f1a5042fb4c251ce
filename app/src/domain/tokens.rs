//! One-time secrets sent by email (sign-in links, invitations). Only their
//! SHA-256 is stored, so a database reader cannot use them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly generated secret: the text for the link and the hash to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub text: String,
    pub hash: [u8; 32],
}

/// 256 random bits, URL-safe base64 (43 characters).
pub fn generate() -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let text = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&text);
    NewToken { text, hash }
}

/// The stored form of a token.
pub fn hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Whether `text` has the shape of a token (checked before any lookup, so
/// that garbage never reaches the database).
pub fn looks_valid(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_url_safe_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.text, b.text);
        assert!(looks_valid(&a.text), "{}", a.text);
        assert_eq!(a.hash, hash(&a.text));
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn malformed_tokens_are_rejected_before_lookup() {
        assert!(!looks_valid(""));
        assert!(!looks_valid("short"));
        assert!(!looks_valid(&"a".repeat(44)));
        assert!(!looks_valid(&format!("{}'", "a".repeat(42))));
    }
}
