//! Encryption of secrets at rest under the master key (`PORTAL_MASTER_KEY`).
//!
//! AES-256-GCM with a random 96-bit nonce per message. The `purpose` string is
//! bound as associated data, so a value sealed for one use (an SSO client
//! secret, an email job) cannot be replayed into another column.
//!
//! Links that must work without a stored secret (unsubscribe links in bulk
//! email) carry an HMAC-SHA256 tag under a key derived from the master key.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// The 32-byte master key. Never printed.
pub struct MasterKey(SecretBox<[u8; 32]>);

/// Why a master key or a sealed value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("must be 32 bytes written as base64 (44 characters) or hex (64 characters)")]
    BadKey,
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value does not decrypt under this key and purpose")]
    Decrypt,
}

impl MasterKey {
    /// Parses base64 or hex text.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| CryptoError::BadKey)?
        } else {
            STANDARD.decode(text).map_err(|_| CryptoError::BadKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self(SecretBox::new(Box::new(key)))
    }

    /// A key of its own for `label` (SHA-256 of the label and this key), so
    /// that data encrypted for one use, such as backups, is not under the
    /// key of every sealed column.
    pub fn derive(&self, label: &str) -> Self {
        let mut derive = Sha256::new();
        derive.update(b"clinic-privacy-portal derived key v1\0");
        derive.update(label.as_bytes());
        derive.update([0]);
        derive.update(self.0.expose_secret());
        Self(SecretBox::new(Box::new(derive.finalize().into())))
    }

    /// The key as base64, to store in a file readable only by its owner.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.expose_secret())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Seals and opens values under the master key. Cheap to clone.
#[derive(Clone)]
pub struct Crypto {
    cipher: std::sync::Arc<Aes256Gcm>,
    mac_key: std::sync::Arc<SecretBox<[u8; 32]>>,
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Crypto(..)")
    }
}

impl Crypto {
    /// Uses `key` for every seal and open.
    pub fn new(key: &MasterKey) -> Self {
        let cipher = Aes256Gcm::new(key.0.expose_secret().into());
        let mut derive = Sha256::new();
        derive.update(b"clinic-privacy-portal mac key v1");
        derive.update(key.0.expose_secret());
        let mac_key: [u8; 32] = derive.finalize().into();
        Self {
            cipher: std::sync::Arc::new(cipher),
            mac_key: std::sync::Arc::new(SecretBox::new(Box::new(mac_key))),
        }
    }

    fn mac(&self, purpose: &str, message: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.mac_key.expose_secret())
            .expect("HMAC accepts a key of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(message);
        mac
    }

    /// A 128-bit tag of `message` for `purpose`, as URL-safe base64.
    pub fn tag(&self, purpose: &str, message: &[u8]) -> String {
        let full = self.mac(purpose, message).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&full[..16])
    }

    /// Whether `tag` is [`Crypto::tag`] of `message` (compared in constant time).
    pub fn verify_tag(&self, purpose: &str, message: &[u8], tag: &str) -> bool {
        URL_SAFE_NO_PAD.decode(tag).is_ok_and(|bytes| {
            bytes.len() == 16
                && self
                    .mac(purpose, message)
                    .verify_truncated_left(&bytes)
                    .is_ok()
        })
    }

    /// Encrypts `plaintext` for `purpose`: version byte, nonce, ciphertext and tag.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts a value sealed by [`Crypto::seal`] for the same `purpose`.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(CryptoError::Malformed);
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)
    }

    /// [`Crypto::seal`] as base64 text, for JSON columns.
    pub fn seal_to_base64(&self, purpose: &str, plaintext: &[u8]) -> String {
        STANDARD.encode(self.seal(purpose, plaintext))
    }

    /// Opens the base64 form.
    pub fn open_base64(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| CryptoError::Malformed)?;
        self.open(purpose, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_under_the_same_key_and_purpose() {
        let crypto = Crypto::new(&MasterKey::generate());
        let sealed = crypto.seal("sso.client_secret", b"s3cret");
        assert_eq!(
            crypto.open("sso.client_secret", &sealed),
            Ok(b"s3cret".to_vec())
        );
        assert_eq!(crypto.open("email.job", &sealed), Err(CryptoError::Decrypt));
        let other = Crypto::new(&MasterKey::generate());
        assert_eq!(
            other.open("sso.client_secret", &sealed),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn derived_keys_differ_by_label_and_from_their_master() {
        let master = MasterKey::generate();
        let backups = master.derive("backups");
        assert_eq!(backups.to_base64(), master.derive("backups").to_base64());
        assert_ne!(backups.to_base64(), master.derive("exports").to_base64());
        assert_ne!(backups.to_base64(), master.to_base64());
        let sealed = Crypto::new(&backups).seal("p", b"value");
        assert_eq!(
            Crypto::new(&master).open("p", &sealed),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn a_flipped_bit_is_detected() {
        let crypto = Crypto::new(&MasterKey::generate());
        let mut sealed = crypto.seal("p", b"value");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(crypto.open("p", &sealed), Err(CryptoError::Decrypt));
        assert_eq!(crypto.open("p", &sealed[..5]), Err(CryptoError::Malformed));
    }

    #[test]
    fn tags_verify_only_for_the_same_key_purpose_and_message() {
        let crypto = Crypto::new(&MasterKey::generate());
        let tag = crypto.tag("unsubscribe", b"r42");
        assert!(crypto.verify_tag("unsubscribe", b"r42", &tag));
        assert!(!crypto.verify_tag("unsubscribe", b"r43", &tag));
        assert!(!crypto.verify_tag("other", b"r42", &tag));
        assert!(!crypto.verify_tag("unsubscribe", b"r42", "short"));
        let other = Crypto::new(&MasterKey::generate());
        assert!(!other.verify_tag("unsubscribe", b"r42", &tag));
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let crypto = Crypto::new(&MasterKey::generate());
        assert_ne!(crypto.seal("p", b"same"), crypto.seal("p", b"same"));
    }

    #[test]
    fn keys_parse_from_base64_and_hex_and_round_trip() {
        let key = MasterKey::generate();
        let again = MasterKey::parse(&key.to_base64()).expect("base64");
        let crypto = Crypto::new(&key);
        assert_eq!(
            Crypto::new(&again).open("p", &crypto.seal("p", b"x")),
            Ok(b"x".to_vec())
        );
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert_eq!(
            MasterKey::parse("too-short").err(),
            Some(CryptoError::BadKey)
        );
        assert_eq!(format!("{key:?}"), "MasterKey(..)");
    }
}
