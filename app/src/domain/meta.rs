//! Meta's data-deletion callback: the signed request itself is checked by the
//! `signed-request` crate; the portal adds confirmation codes and the app
//! secret's rules.

use rand::Rng;
use secrecy::SecretString;
pub use signed_request::{MetaError, SignedRequest, sign, verify_signed_request};

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
