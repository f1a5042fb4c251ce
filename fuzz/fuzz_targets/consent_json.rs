//! A consent choice posted to the API: any body is either refused with a
//! reason or resolved against the clinic's purposes, and a receipt signed for
//! it verifies with the clinic's key and with no other.
#![no_main]

use app::domain::consent::{
    Channel, Localized, PublishedPurpose, Receipt, ReceiptInput, ReceiptSigner, VerifiedReceipt,
    parse_posted_choice, resolve_choices, verify_receipt,
};
use app::domain::locale::Locale;
use chrono::{TimeZone, Utc};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

fn purpose(key: &str, channel: &str, necessary: bool) -> PublishedPurpose {
    let text = || Localized {
        en: key.to_owned(),
        uk: key.to_owned(),
    };
    PublishedPurpose {
        key: key.to_owned(),
        channel: channel.to_owned(),
        name: text(),
        description: text(),
        legal_basis: if necessary { "contract" } else { "consent" }.to_owned(),
        strictly_necessary: necessary,
    }
}

fuzz_target!(|data: &[u8]| {
    // Arbitrary text as a receipt: refused, never a panic.
    if let Ok(text) = std::str::from_utf8(data) {
        let key = SigningKey::from_bytes(&[7; 32]);
        assert!(verify_receipt(text, &key.verifying_key()).is_err());
    }
    let Ok(posted) = parse_posted_choice(data) else {
        return;
    };
    let purposes = [
        purpose("necessary", "website", true),
        purpose("analytics", "website", false),
        purpose("video", "website", false),
        purpose("reminders", "patient", false),
    ];
    let Ok(choices) = resolve_choices(&purposes, Channel::Website, &posted.choices, posted.gpc) else {
        return;
    };
    for p in purposes.iter().filter(|p| p.channel == "website") {
        let on = choices.get(&p.key).copied();
        assert!(on.is_some(), "{} resolved", p.key);
        if p.strictly_necessary {
            assert_eq!(on, Some(true), "strictly necessary is always on");
        } else if posted.gpc {
            assert_eq!(on, Some(false), "GPC turns {} off", p.key);
        }
    }
    assert!(!choices.contains_key("reminders"), "other channels stay out");
    let subject = posted.subject_id.as_deref().unwrap_or("generated-subject-id");
    let receipt = Receipt::new(&ReceiptInput {
        record_id: uuid::Uuid::nil(),
        recorded_at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        subject_id: subject,
        controller: "Fuzz Clinic",
        controller_contact: "privacy@fuzz.example",
        controller_url: "https://portal.example/c/fuzz/privacy".to_owned(),
        jurisdiction: "DE",
        language: posted.language.unwrap_or(Locale::En),
        config_version: 1,
        content_hash: "hash",
        notice_url: "https://portal.example/c/fuzz/cookies".to_owned(),
        retention_days: 1095,
        source: posted.source,
        gpc: posted.gpc,
        purposes: &purposes,
        choices: &choices,
    });
    let key = SigningKey::from_bytes(&[9; 32]);
    let signer = ReceiptSigner::new(&[9; 32]).expect("a 32-byte seed is a key");
    let jws = signer.sign(&receipt);
    assert_eq!(
        verify_receipt(&jws, &key.verifying_key()),
        Ok(VerifiedReceipt::V2(receipt))
    );
    let other = SigningKey::from_bytes(&[10; 32]);
    assert!(verify_receipt(&jws, &other.verifying_key()).is_err());
});
