//! Patients' consents beyond cookies: a patient proves their email address
//! by a link sent to it, then sees and changes the choices recorded for
//! that address. The address itself is never stored: the subject of the
//! records is a keyed hash of it, and the link carries it sealed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::consent::Published;
use crate::backend::crypto::Crypto;
use crate::backend::email::templates::ConsentLink;
use crate::backend::email::{self, compose};
use crate::backend::error::AppError;
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::email::EmailAddress;
use crate::domain::locale::Locale;
use crate::i18n::t_args;

/// How long an emailed link lets a patient manage their consents.
pub const LINK_LIFETIME: Duration = Duration::days(7);
/// Sealing purpose of the links' contents.
const LINK_SEAL: &str = "consent.patient-link";
/// Tag purpose of the subject ids derived from addresses.
const SUBJECT_TAG: &str = "consent.patient-subject";
/// Most past records shown to a patient.
pub const HISTORY_MAX: i64 = 20;

/// What an emailed link carries, sealed.
#[derive(Serialize, Deserialize)]
struct LinkContent {
    /// The clinic the link is for.
    c: Uuid,
    /// The confirmed address.
    e: String,
    /// Expiry, in seconds since the epoch.
    x: i64,
}

/// A patient who opened a valid link.
#[derive(Clone, Debug)]
pub struct Patient {
    /// The pseudonymous subject of their records.
    pub subject_id: String,
    /// Their address, partly masked for display.
    pub masked_email: String,
    pub expires_at: DateTime<Utc>,
}

/// The subject id of `email`'s consents at `clinic`: a keyed hash, so the
/// same address always finds its records and the records never name it.
pub fn subject_id(crypto: &Crypto, clinic: ClinicId, email: &str) -> String {
    let message = format!("{}|{}", clinic.0, email.to_lowercase());
    format!("patient-{}", crypto.tag(SUBJECT_TAG, message.as_bytes()))
}

/// `jane.doe@example.com` → `j•••@example.com`.
pub fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_owned(),
    }
}

/// The sealed token of a link for `email` at `clinic`, valid until `expires`.
pub fn link_token(
    crypto: &Crypto,
    clinic: ClinicId,
    email: &str,
    expires: DateTime<Utc>,
) -> String {
    let content = LinkContent {
        c: clinic.0,
        e: email.to_lowercase(),
        x: expires.timestamp(),
    };
    let plain = serde_json::to_vec(&content).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(crypto.seal(LINK_SEAL, &plain))
}

/// The patient of a link token, if it is genuine, for `clinic` and not expired.
pub fn open_link(
    crypto: &Crypto,
    clinic: ClinicId,
    token: &str,
    now: DateTime<Utc>,
) -> Option<Patient> {
    if token.is_empty() || token.len() > 1024 {
        return None;
    }
    let sealed = URL_SAFE_NO_PAD.decode(token).ok()?;
    let plain = crypto.open(LINK_SEAL, &sealed).ok()?;
    let content: LinkContent = serde_json::from_slice(&plain).ok()?;
    let expires_at = DateTime::from_timestamp(content.x, 0)?;
    if content.c != clinic.0 || expires_at <= now {
        return None;
    }
    Some(Patient {
        subject_id: subject_id(crypto, clinic, &content.e),
        masked_email: mask(&content.e),
        expires_at,
    })
}

/// Emails `to` a link to their consents at the clinic, in `locale`. The
/// answer is the same whether or not the address has any records, so the
/// form reveals nothing about who chose what.
pub async fn send_link(
    state: &AppState,
    published: &Published,
    to: &EmailAddress,
    locale: Locale,
) -> Result<(), AppError> {
    let expires = state.clock.now() + LINK_LIFETIME;
    let token = link_token(&state.crypto, published.clinic_id, to.as_str(), expires);
    let link = state.settings.url(&format!(
        "/c/{}/consents/manage?t={token}&lang={}",
        published.slug,
        locale.tag()
    ));
    let clinic = || vec![("clinic", published.clinic_name.clone())];
    let message = ConsentLink {
        clinic: published.clinic_name.clone(),
        subject: t_args(locale, "mail-consents-subject", &clinic()),
        intro: t_args(locale, "mail-consents-intro", &clinic()),
        button: t_args(locale, "mail-consents-button", &[]),
        ignore: t_args(locale, "mail-consents-ignore", &[]),
        link,
    };
    let outgoing = compose(&message, to.clone(), &state.settings.message_domain())
        .map_err(|e| AppError::Internal(format!("consent link email: {e}")))?;
    let crypto = state.crypto.clone();
    let clinic_id = published.clinic_id;
    state
        .db
        .scoped(Scope::Clinic(clinic_id), move |c| {
            Box::pin(async move {
                email::enqueue(c, &crypto, Some(clinic_id), &outgoing, None).await?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    metrics::counter!("consent_links_sent_total").increment(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::crypto::MasterKey;

    fn crypto() -> Crypto {
        Crypto::new(&MasterKey::generate())
    }

    #[test]
    fn a_link_opens_for_its_clinic_until_it_expires() {
        let crypto = crypto();
        let clinic = ClinicId(Uuid::now_v7());
        let now = Utc::now();
        let token = link_token(&crypto, clinic, "Jane.Doe@Example.com", now + LINK_LIFETIME);
        let patient = open_link(&crypto, clinic, &token, now).expect("valid link");
        assert_eq!(patient.masked_email, "j•••@example.com");
        assert_eq!(
            patient.subject_id,
            subject_id(&crypto, clinic, "jane.doe@example.com")
        );
        assert!(open_link(&crypto, clinic, &token, now + LINK_LIFETIME).is_none());
        assert!(open_link(&crypto, ClinicId(Uuid::now_v7()), &token, now).is_none());
        assert!(open_link(&Crypto::new(&MasterKey::generate()), clinic, &token, now).is_none());
    }

    #[test]
    fn a_changed_or_malformed_link_is_refused() {
        let crypto = crypto();
        let clinic = ClinicId(Uuid::now_v7());
        let now = Utc::now();
        let token = link_token(&crypto, clinic, "a@example.com", now + LINK_LIFETIME);
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let changed = URL_SAFE_NO_PAD.encode(bytes);
        assert!(open_link(&crypto, clinic, &changed, now).is_none());
        for bad in ["", "!!!", "abc", &"A".repeat(2000)] {
            assert!(open_link(&crypto, clinic, bad, now).is_none(), "{bad}");
        }
    }

    #[test]
    fn subjects_depend_on_clinic_and_address_not_on_case() {
        let crypto = crypto();
        let a = ClinicId(Uuid::now_v7());
        let b = ClinicId(Uuid::now_v7());
        let subject = subject_id(&crypto, a, "x@example.com");
        assert_eq!(subject, subject_id(&crypto, a, "X@Example.COM"));
        assert_ne!(subject, subject_id(&crypto, b, "x@example.com"));
        assert_ne!(subject, subject_id(&crypto, a, "y@example.com"));
        assert!(crate::domain::consent::parse_subject_id(&subject).is_ok());
        assert!(!subject.contains("example"));
    }
}
