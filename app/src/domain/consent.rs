//! Consent: the purposes a clinic asks about (with their legal basis), the
//! cookies that serve them, the configuration version a visitor chooses
//! against, the choices themselves (with Global Privacy Control applied),
//! and the receipt that proves a choice: a JWS (RFC 7515) signed with
//! Ed25519 under its fully-specified JOSE name `Ed25519` (RFC 9864), whose
//! payload uses ISO/IEC TS 27560 field names where they fit.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::forms::FieldErrors;
use super::locale::Locale;
use super::text::{clean_optional_text, clean_text};

catalog!(
    /// Lawful basis of a purpose (GDPR Art. 6(1)).
    LegalBasis, "one of the listed legal bases", {
        Consent => ("consent", "Consent"),
        Contract => ("contract", "Contract"),
        LegalObligation => ("legal_obligation", "Legal obligation"),
        VitalInterests => ("vital_interests", "Vital interests"),
        LegitimateInterests => ("legitimate_interests", "Legitimate interests"),
    }
);

catalog!(
    /// Where a purpose is asked: on the clinic's website (cookies and
    /// similar), or of patients who confirm their email address.
    Channel, "website or patient", {
        Website => ("website", "Website and cookies"),
        Patient => ("patient", "Patients (confirmed by email)"),
    }
);

catalog!(
    /// Whether a cookie is set by the clinic's own site or by another.
    Party, "first or third party", {
        First => ("first", "First party"),
        Third => ("third", "Third party"),
    }
);

catalog!(
    /// How a consent record came in.
    Source, "banner, settings_page, api, admin_import or patient", {
        Banner => ("banner", "Website banner"),
        SettingsPage => ("settings_page", "Settings page"),
        Api => ("api", "API"),
        AdminImport => ("admin_import", "Imported by an admin"),
        Patient => ("patient", "Patient, confirmed by email"),
    }
);

/// Longest purpose name and description.
pub const NAME_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 1000;

/// A purpose as typed into the admin form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurposeForm {
    pub key: String,
    pub channel: String,
    pub name_en: String,
    pub name_uk: String,
    pub description_en: String,
    pub description_uk: String,
    pub legal_basis: String,
    pub strictly_necessary: bool,
    pub position: String,
}

/// A valid purpose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purpose {
    pub key: String,
    pub channel: Channel,
    pub name_en: String,
    pub name_uk: String,
    pub description_en: String,
    pub description_uk: String,
    pub legal_basis: LegalBasis,
    pub strictly_necessary: bool,
    pub position: i32,
}

/// Checks a purpose key: 2 to 40 of `a-z`, `0-9` and `_`, starting with a
/// letter (it names the purpose in the banner's HTML and in the API).
pub fn parse_key(input: &str) -> Result<String, &'static str> {
    let key = input.trim();
    let valid = (2..=40).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(key.to_owned())
    } else {
        Err(
            "must be 2 to 40 lowercase letters, digits or underscores, starting with a letter, e.g. analytics",
        )
    }
}

impl PurposeForm {
    /// Checks every field.
    pub fn validate(&self) -> Result<Purpose, FieldErrors> {
        let mut e = FieldErrors::new();
        let key = match parse_key(&self.key) {
            Ok(key) => Some(key),
            Err(message) => {
                e.add("key", format!("The key {message}."));
                None
            }
        };
        let channel = e.check(
            "channel",
            "Where it is asked:",
            self.channel.parse::<Channel>(),
        );
        let name_en = e.check(
            "name_en",
            "The English name",
            clean_text(&self.name_en, NAME_MAX, false),
        );
        let name_uk = e.check(
            "name_uk",
            "The Ukrainian name",
            clean_optional_text(&self.name_uk, NAME_MAX, false),
        );
        let description_en = e.check(
            "description_en",
            "The English description",
            clean_text(&self.description_en, DESCRIPTION_MAX, true),
        );
        let description_uk = e.check(
            "description_uk",
            "The Ukrainian description",
            clean_optional_text(&self.description_uk, DESCRIPTION_MAX, true),
        );
        let legal_basis = e.check(
            "legal_basis",
            "The legal basis must be",
            self.legal_basis.parse::<LegalBasis>(),
        );
        if self.strictly_necessary && legal_basis == Some(LegalBasis::Consent) {
            e.add(
                "legal_basis",
                "A strictly necessary purpose needs no consent: choose the basis it rests on instead, e.g. contract or legitimate interests.",
            );
        }
        let position = match self.position.trim() {
            "" => Some(0),
            text => match text.parse::<i32>() {
                Ok(n) if (0..=999).contains(&n) => Some(n),
                _ => {
                    e.add(
                        "position",
                        "The order must be a whole number from 0 to 999.",
                    );
                    None
                }
            },
        };
        match (
            key,
            channel,
            name_en,
            name_uk,
            description_en,
            description_uk,
            legal_basis,
            position,
        ) {
            (
                Some(key),
                Some(channel),
                Some(name_en),
                Some(name_uk),
                Some(description_en),
                Some(description_uk),
                Some(legal_basis),
                Some(position),
            ) if e.is_empty() => Ok(Purpose {
                key,
                channel,
                name_en,
                name_uk: name_uk.unwrap_or_default(),
                description_en,
                description_uk: description_uk.unwrap_or_default(),
                legal_basis,
                strictly_necessary: self.strictly_necessary,
                position,
            }),
            _ => Err(e),
        }
    }
}

/// A cookie as typed into the admin form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieForm {
    pub name: String,
    pub domain: String,
    pub provider: String,
    pub duration: String,
    pub party: String,
    /// Key of the purpose it serves.
    pub purpose: String,
}

/// A valid cookie entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieEntry {
    pub name: String,
    pub domain: String,
    pub provider: String,
    pub duration: String,
    pub party: Party,
    pub purpose: String,
}

fn parse_cookie_domain(input: &str) -> Result<String, &'static str> {
    let domain = input.trim().trim_start_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if domain.len() <= 253 && domain.contains('.') && domain.split('.').all(label_ok) {
        Ok(domain)
    } else {
        Err("must be a domain name such as clinic.example or .clinic.example")
    }
}

impl CookieForm {
    /// Checks every field.
    pub fn validate(&self) -> Result<CookieEntry, FieldErrors> {
        let mut e = FieldErrors::new();
        let name = e.check(
            "name",
            "The cookie name",
            clean_text(&self.name, 200, false),
        );
        if name
            .as_deref()
            .is_some_and(|n| n.contains([';', '=', ' ', ',']))
        {
            e.add(
                "name",
                "The cookie name cannot contain spaces, commas, semicolons or '='.",
            );
        }
        let domain = match parse_cookie_domain(&self.domain) {
            Ok(d) => Some(d),
            Err(message) => {
                e.add("domain", format!("The domain {message}."));
                None
            }
        };
        let provider = e.check(
            "provider",
            "The provider",
            clean_text(&self.provider, 200, false),
        );
        let duration = e.check(
            "duration",
            "The duration",
            clean_text(&self.duration, 100, false),
        );
        let party = e.check("party", "The cookie must be", self.party.parse::<Party>());
        let purpose = match parse_key(&self.purpose) {
            Ok(p) => Some(p),
            Err(_) => {
                e.add("purpose", "Choose the purpose this cookie serves.");
                None
            }
        };
        match (name, domain, provider, duration, party, purpose) {
            (
                Some(name),
                Some(domain),
                Some(provider),
                Some(duration),
                Some(party),
                Some(purpose),
            ) if e.is_empty() => Ok(CookieEntry {
                name,
                domain,
                provider,
                duration,
                party,
                purpose,
            }),
            _ => Err(e),
        }
    }
}

/// Text in the portal's two languages; Ukrainian may be empty (English is
/// shown instead).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Localized {
    pub en: String,
    pub uk: String,
}

impl Localized {
    /// The text for a locale tag, falling back to English.
    pub fn get(&self, locale: &str) -> &str {
        if locale == "uk" && !self.uk.is_empty() {
            &self.uk
        } else {
            &self.en
        }
    }
}

/// A purpose as published in a configuration version (and in the API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPurpose {
    pub key: String,
    pub channel: String,
    pub name: Localized,
    pub description: Localized,
    pub legal_basis: String,
    pub strictly_necessary: bool,
}

impl From<&Purpose> for PublishedPurpose {
    fn from(p: &Purpose) -> Self {
        Self {
            key: p.key.clone(),
            channel: p.channel.as_str().to_owned(),
            name: Localized {
                en: p.name_en.clone(),
                uk: p.name_uk.clone(),
            },
            description: Localized {
                en: p.description_en.clone(),
                uk: p.description_uk.clone(),
            },
            legal_basis: p.legal_basis.as_str().to_owned(),
            strictly_necessary: p.strictly_necessary,
        }
    }
}

/// Content hash of a configuration: SHA-256 of its purposes' JSON, in the
/// order shown. Equal hashes mean visitors were asked the same question.
pub fn content_hash(purposes: &[PublishedPurpose]) -> String {
    let json = serde_json::to_vec(purposes).unwrap_or_default();
    hex::encode(Sha256::digest(json))
}

/// Per-purpose decisions, by purpose key.
pub type Choices = BTreeMap<String, bool>;

/// A problem with one part of a submitted choice, located by JSON Pointer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The problems in one sentence, for a form's error summary.
    pub fn describe(problems: &[Problem]) -> String {
        problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The choices that are recorded for `requested` against `purposes` of
/// `channel`: strictly necessary purposes are always on; under Global
/// Privacy Control every other purpose is off whatever was requested.
/// A key that is not an optional purpose of the configuration is refused;
/// an optional purpose left out is off.
pub fn resolve_choices(
    purposes: &[PublishedPurpose],
    channel: Channel,
    requested: &Choices,
    gpc: bool,
) -> Result<Choices, Vec<Problem>> {
    let asked: Vec<&PublishedPurpose> = purposes
        .iter()
        .filter(|p| p.channel == channel.as_str())
        .collect();
    let mut problems = Vec::new();
    for key in requested.keys() {
        match asked.iter().find(|p| &p.key == key) {
            None => {
                let known: Vec<&str> = asked
                    .iter()
                    .filter(|p| !p.strictly_necessary)
                    .map(|p| p.key.as_str())
                    .collect();
                problems.push(Problem::new(
                    format!("/choices/{}", pointer_escape(key)),
                    format!(
                        "unknown purpose; this configuration asks about: {}",
                        if known.is_empty() {
                            "nothing".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
            Some(p) if p.strictly_necessary && !requested[key] => problems.push(Problem::new(
                format!("/choices/{}", pointer_escape(key)),
                "strictly necessary purposes cannot be switched off; leave them out",
            )),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(asked
        .iter()
        .map(|p| {
            let on =
                p.strictly_necessary || (!gpc && requested.get(&p.key).copied().unwrap_or(false));
            (p.key.clone(), on)
        })
        .collect())
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Checks a subject id chosen by a browser: 16 to 64 URL-safe characters.
pub fn parse_subject_id(input: &str) -> Result<String, &'static str> {
    let valid = (16..=64).contains(&input.len())
        && input
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(input.to_owned())
    } else {
        Err("must be 16 to 64 characters of A-Z, a-z, 0-9, '-' or '_'")
    }
}

/// The body of `POST /api/v1/c/{clinic}/consents`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostedBody {
    #[serde(default)]
    subject_id: Option<String>,
    choices: Choices,
    #[serde(default)]
    content_hash: Option<String>,
    #[serde(default)]
    gpc: bool,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

/// A choice posted to the consent API, its fields checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedChoice {
    pub subject_id: Option<String>,
    pub choices: Choices,
    /// The configuration the visitor was shown, when the banner says so.
    pub content_hash: Option<String>,
    pub gpc: bool,
    pub source: Source,
    /// The language the visitor was asked in, when the caller says so.
    pub language: Option<Locale>,
}

/// Why a posted body is not a choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostedChoiceError {
    /// Not JSON of the expected shape (the parser's message).
    Malformed(String),
    /// The right shape, with invalid fields.
    Invalid(Vec<Problem>),
}

/// Reads the JSON body of a posted choice: strict about unknown fields,
/// precise about each invalid one.
pub fn parse_posted_choice(body: &[u8]) -> Result<PostedChoice, PostedChoiceError> {
    let body: PostedBody =
        serde_json::from_slice(body).map_err(|e| PostedChoiceError::Malformed(e.to_string()))?;
    let mut problems = Vec::new();
    if let Some(subject) = &body.subject_id
        && let Err(message) = parse_subject_id(subject)
    {
        problems.push(Problem::new("/subject_id", message));
    }
    let source = match body.source.as_deref() {
        None | Some("banner") => Source::Banner,
        Some("api") => Source::Api,
        Some(_) => {
            problems.push(Problem::new("/source", "must be \"banner\" or \"api\""));
            Source::Api
        }
    };
    // Exactly a supported tag: the receipt states the language as sent.
    let language = body.language.as_deref().and_then(|tag| {
        let locale = Locale::ALL.into_iter().find(|l| l.tag() == tag);
        if locale.is_none() {
            let tags: Vec<String> = Locale::ALL
                .iter()
                .map(|l| format!("\"{}\"", l.tag()))
                .collect();
            problems.push(Problem::new(
                "/language",
                format!("must be one of {}", tags.join(", ")),
            ));
        }
        locale
    });
    if !problems.is_empty() {
        return Err(PostedChoiceError::Invalid(problems));
    }
    Ok(PostedChoice {
        subject_id: body.subject_id,
        choices: body.choices,
        content_hash: body.content_hash,
        gpc: body.gpc,
        source,
        language,
    })
}

/// One purpose's state in a receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptPurpose {
    pub purpose: String,
    pub lawful_basis: String,
    pub consent_status: String,
}

/// The claims of a consent receipt (schema version [`RECEIPT_SCHEMA_VERSION`]).
/// Field names are those of ISO/IEC TS 27560 (as the W3C DPV community
/// group's guide maps them) wherever the specification has the field;
/// `receipt_id`, `record_retention_period` and `global_privacy_control` are
/// the portal's own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub schema_version: String,
    pub receipt_id: String,
    pub record_id: String,
    /// When the choice was recorded (RFC 3339, UTC).
    pub event_time: String,
    pub pii_principal_id: String,
    /// The clinic, the only controller of what the visitor chose.
    pub pii_controllers: Vec<ReceiptParty>,
    /// The notice the choice answered: the configuration version and the
    /// page that asked.
    pub privacy_notice: ReceiptNotice,
    /// The language the notice was shown in (BCP 47).
    pub language: String,
    /// ISO 3166-1 alpha-2 code of the country whose law governs the choice.
    pub jurisdiction: String,
    /// Where the choice is changed or withdrawn: the page that asked.
    pub withdrawal_method: String,
    /// How long the portal keeps this consent record, counted from
    /// `event_time` (ISO 8601 duration); it is then deleted.
    pub record_retention_period: String,
    pub collection_method: String,
    pub global_privacy_control: bool,
    pub purposes: Vec<ReceiptPurpose>,
}

/// A party named in a receipt, with the TS 27560 party fields the portal
/// knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptParty {
    /// Legal name.
    pub party_name: String,
    /// `pii_controller`.
    pub party_role: String,
    /// The privacy contact's email address.
    pub party_contact: String,
    /// The party's privacy notice, which names its full contact details.
    pub party_url: String,
}

/// The claims of a receipt of schema version [`RECEIPT_SCHEMA_VERSION_1`],
/// as receipts were issued before version 2 renamed them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptV1 {
    pub schema_version: String,
    pub receipt_id: String,
    pub record_id: String,
    /// When the choice was recorded (RFC 3339, UTC).
    pub timestamp: String,
    pub pii_principal_id: String,
    /// The clinic's legal name.
    pub pii_controller: String,
    pub notice: ReceiptNotice,
    pub collection_method: String,
    pub global_privacy_control: bool,
    pub purposes: Vec<ReceiptPurpose>,
}

/// The claims of a verified receipt, in the schema version it was issued
/// with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifiedReceipt {
    /// Version 2: the receipts issued now.
    V2(Receipt),
    /// Version 1: receipts issued before.
    V1(ReceiptV1),
}

impl VerifiedReceipt {
    /// Each purpose's lawful basis and state.
    pub fn purposes(&self) -> &[ReceiptPurpose] {
        match self {
            Self::V2(r) => &r.purposes,
            Self::V1(r) => &r.purposes,
        }
    }
}

/// The configuration version the choice was made against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptNotice {
    pub version: i32,
    pub content_hash: String,
    pub url: String,
}

/// What goes into a receipt.
pub struct ReceiptInput<'a> {
    pub record_id: uuid::Uuid,
    pub recorded_at: DateTime<Utc>,
    pub subject_id: &'a str,
    /// The clinic's legal name.
    pub controller: &'a str,
    /// The clinic's privacy contact (an email address).
    pub controller_contact: &'a str,
    /// The clinic's privacy notice.
    pub controller_url: String,
    /// ISO 3166-1 alpha-2 code of the clinic's country.
    pub jurisdiction: &'a str,
    /// The language the visitor was asked in.
    pub language: Locale,
    pub config_version: i32,
    pub content_hash: &'a str,
    /// The page that asked, where the choice is also changed or withdrawn.
    pub notice_url: String,
    /// How long the clinic keeps consent records, in days.
    pub retention_days: i32,
    pub source: Source,
    pub gpc: bool,
    pub purposes: &'a [PublishedPurpose],
    pub choices: &'a Choices,
}

/// Schema version of the receipts issued now.
pub const RECEIPT_SCHEMA_VERSION: &str = "2.0";

/// Schema version of the receipts issued before the claims took their
/// ISO/IEC TS 27560 names; they stay readable.
pub const RECEIPT_SCHEMA_VERSION_1: &str = "1.0";

/// The role a receipt gives the clinic in `pii_controllers`.
pub const CONTROLLER_ROLE: &str = "pii_controller";

impl Receipt {
    /// The receipt of a choice just made.
    pub fn new(input: &ReceiptInput<'_>) -> Self {
        let purposes = input
            .purposes
            .iter()
            .filter_map(|p| {
                input.choices.get(&p.key).map(|on| ReceiptPurpose {
                    purpose: p.key.clone(),
                    lawful_basis: p.legal_basis.clone(),
                    consent_status: if *on { "given" } else { "refused" }.to_owned(),
                })
            })
            .collect();
        Self {
            schema_version: RECEIPT_SCHEMA_VERSION.to_owned(),
            receipt_id: input.record_id.to_string(),
            record_id: input.record_id.to_string(),
            event_time: input
                .recorded_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            pii_principal_id: input.subject_id.to_owned(),
            pii_controllers: vec![ReceiptParty {
                party_name: input.controller.to_owned(),
                party_role: CONTROLLER_ROLE.to_owned(),
                party_contact: input.controller_contact.to_owned(),
                party_url: input.controller_url.clone(),
            }],
            privacy_notice: ReceiptNotice {
                version: input.config_version,
                content_hash: input.content_hash.to_owned(),
                url: input.notice_url.clone(),
            },
            language: input.language.tag().to_owned(),
            jurisdiction: input.jurisdiction.to_owned(),
            withdrawal_method: input.notice_url.clone(),
            record_retention_period: format!("P{}D", input.retention_days),
            collection_method: input.source.as_str().to_owned(),
            global_privacy_control: input.gpc,
            purposes,
        }
    }
}

/// Key id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(public.as_bytes())[..8])
}

/// The JOSE algorithm new receipts are signed with: Ed25519 under the
/// fully-specified name RFC 9864 registers.
pub const RECEIPT_ALG: &str = "Ed25519";

/// The polymorphic name (RFC 8037) receipts were signed under before; RFC
/// 9864 deprecates it, but those receipts are the same Ed25519 signatures
/// and still verify.
pub const RECEIPT_ALG_DEPRECATED: &str = "EdDSA";

/// Signs receipts with one clinic's key, as compact JWS (RFC 7515) with
/// alg [`RECEIPT_ALG`].
///
/// Signing runs on AWS-LC, whose Ed25519 measured about twice as fast as
/// ed25519-dalek on the portal's machines (9 against 16 µs for a receipt),
/// and every recorded consent is signed once. Ed25519 signatures are
/// deterministic, so they are the very bytes ed25519-dalek would make; the
/// keys, their public halves and verification stay with ed25519-dalek.
pub struct ReceiptSigner {
    pair: aws_lc_rs::signature::Ed25519KeyPair,
    public: VerifyingKey,
    kid: String,
    /// `base64url(header).`, the same for every receipt of this key.
    prefix: String,
}

impl ReceiptSigner {
    /// The signer of the Ed25519 key whose secret (seed) is `secret`.
    pub fn new(secret: &[u8; 32]) -> Result<Self, ReceiptError> {
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(secret)
            .map_err(|_| ReceiptError::Key)?;
        let public = SigningKey::from_bytes(secret).verifying_key();
        let kid = key_id(&public);
        let header =
            serde_json::json!({ "alg": RECEIPT_ALG, "typ": "consent-receipt+jwt", "kid": kid });
        let mut prefix = URL_SAFE_NO_PAD.encode(header.to_string());
        prefix.push('.');
        Ok(Self {
            pair,
            public,
            kid,
            prefix,
        })
    }

    /// The public half of the key.
    pub fn public_key(&self) -> VerifyingKey {
        self.public
    }

    /// The key id named in the receipts' header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `receipt` as a compact JWS.
    pub fn sign(&self, receipt: &Receipt) -> String {
        let payload = serde_json::to_vec(receipt).unwrap_or_default();
        let mut jws = String::with_capacity(self.prefix.len() + payload.len() * 4 / 3 + 90);
        jws.push_str(&self.prefix);
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jws);
        let signature = self.pair.sign(jws.as_bytes());
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jws);
        jws
    }
}

/// Why a receipt did not verify, or (`Key`) why a key cannot sign them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("a receipt is three base64url parts separated by dots")]
    Malformed,
    #[error("the receipt's alg is neither Ed25519 nor its older name EdDSA")]
    Algorithm,
    #[error("the signature does not match")]
    Signature,
    #[error("the key is not an Ed25519 key")]
    Key,
    #[error("the receipt's schema version {0:?} is not one the portal issues")]
    Version(String),
}

/// Verifies a compact JWS receipt with `key` and returns its claims, read by
/// the schema version they name (2.0, or 1.0 as issued before). The
/// header's `alg` must name Ed25519: [`RECEIPT_ALG`], or
/// [`RECEIPT_ALG_DEPRECATED`] as receipts issued before say; any other
/// algorithm is refused before the signature is looked at.
pub fn verify_receipt(jws: &str, key: &VerifyingKey) -> Result<VerifiedReceipt, ReceiptError> {
    let mut parts = jws.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReceiptError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| ReceiptError::Malformed)
    };
    let header: serde_json::Value =
        serde_json::from_slice(&decode(header)?).map_err(|_| ReceiptError::Malformed)?;
    let alg = header.get("alg").and_then(|a| a.as_str());
    if alg != Some(RECEIPT_ALG) && alg != Some(RECEIPT_ALG_DEPRECATED) {
        return Err(ReceiptError::Algorithm);
    }
    let signature: [u8; 64] = decode(signature)?
        .try_into()
        .map_err(|_| ReceiptError::Malformed)?;
    let signing_input = &jws[..jws.rfind('.').ok_or(ReceiptError::Malformed)?];
    key.verify(signing_input.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| ReceiptError::Signature)?;
    read_claims(&decode(payload)?)
}

/// Reads verified claims by the schema version they name.
fn read_claims(payload: &[u8]) -> Result<VerifiedReceipt, ReceiptError> {
    #[derive(Deserialize)]
    struct Version {
        schema_version: String,
    }
    let Version { schema_version } =
        serde_json::from_slice(payload).map_err(|_| ReceiptError::Malformed)?;
    match schema_version.as_str() {
        RECEIPT_SCHEMA_VERSION => serde_json::from_slice(payload).map(VerifiedReceipt::V2),
        RECEIPT_SCHEMA_VERSION_1 => serde_json::from_slice(payload).map(VerifiedReceipt::V1),
        _ => return Err(ReceiptError::Version(schema_version)),
    }
    .map_err(|_| ReceiptError::Malformed)
}

/// The public key as a JSON Web Key (RFC 8037), for offline verification.
/// Its `alg` is [`RECEIPT_ALG`], the name new receipts are signed under, so
/// libraries that match a key to a receipt by algorithm find it.
pub fn public_jwk(key: &VerifyingKey) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": RECEIPT_ALG,
        "use": "sig",
        "kid": key_id(key),
        "x": URL_SAFE_NO_PAD.encode(key.as_bytes()),
    })
}

/// The choice a browser keeps in its first-party cookie: who it is, which
/// configuration it answered and what it chose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChoice {
    #[serde(rename = "s")]
    pub subject_id: String,
    #[serde(rename = "h")]
    pub content_hash: String,
    #[serde(rename = "c")]
    pub choices: Choices,
}

impl StoredChoice {
    /// Cookie value: base64url of its JSON.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a cookie value; anything unreadable is no choice at all.
    pub fn decode(value: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(value.trim()).ok()?;
        let choice: Self = serde_json::from_slice(&bytes).ok()?;
        parse_subject_id(&choice.subject_id).ok()?;
        Some(choice)
    }
}

/// Opt-in rate of each purpose per week: `(week start, purpose, given, total)`.
pub type WeeklyRate = (chrono::NaiveDate, String, i64, i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_choices_are_read_strictly_with_a_reason_per_field() {
        let ok =
            parse_posted_choice(br#"{"choices":{"analytics":true},"gpc":true,"source":"api"}"#);
        assert_eq!(
            ok.map(|c| (c.source, c.gpc, c.choices.get("analytics").copied())),
            Ok((Source::Api, true, Some(true)))
        );
        assert!(matches!(
            parse_posted_choice(br#"{"choices":{},"extra":1}"#),
            Err(PostedChoiceError::Malformed(m)) if m.contains("unknown field")
        ));
        assert!(matches!(
            parse_posted_choice(b"\xff"),
            Err(PostedChoiceError::Malformed(_))
        ));
        let Err(PostedChoiceError::Invalid(problems)) = parse_posted_choice(
            br#"{"choices":{},"subject_id":"short","source":"fax","language":"de"}"#,
        ) else {
            panic!("invalid fields are named");
        };
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/subject_id", "/source", "/language"]);
        assert_eq!(
            parse_posted_choice(br#"{"choices":{},"language":"uk"}"#).map(|c| c.language),
            Ok(Some(Locale::Uk))
        );
    }

    fn purposes() -> Vec<PublishedPurpose> {
        let p = |key: &str, channel: Channel, necessary: bool| PublishedPurpose {
            key: key.into(),
            channel: channel.as_str().into(),
            name: Localized {
                en: key.into(),
                uk: String::new(),
            },
            description: Localized {
                en: "d".into(),
                uk: String::new(),
            },
            legal_basis: if necessary { "contract" } else { "consent" }.into(),
            strictly_necessary: necessary,
        };
        vec![
            p("necessary", Channel::Website, true),
            p("analytics", Channel::Website, false),
            p("marketing", Channel::Website, false),
            p("ai_messages", Channel::Patient, false),
        ]
    }

    /// A banner receipt of North Clinic with these choices.
    fn sample_receipt(record_id: uuid::Uuid, chosen: &[(&str, bool)]) -> Receipt {
        Receipt::new(&ReceiptInput {
            record_id,
            recorded_at: DateTime::<Utc>::UNIX_EPOCH,
            subject_id: "subject-0123456789",
            controller: "North Clinic",
            controller_contact: "privacy@north.example",
            controller_url: "https://portal.example/c/north/privacy".into(),
            jurisdiction: "DE",
            language: Locale::Uk,
            config_version: 2,
            content_hash: "ab",
            notice_url: "https://portal.example/c/north/cookies".into(),
            retention_days: 1095,
            source: Source::Banner,
            gpc: true,
            purposes: &purposes(),
            choices: &choices(chosen),
        })
    }

    fn choices(pairs: &[(&str, bool)]) -> Choices {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn necessary_purposes_are_on_and_missing_ones_off() {
        let resolved = resolve_choices(
            &purposes(),
            Channel::Website,
            &choices(&[("analytics", true)]),
            false,
        )
        .expect("valid");
        assert_eq!(
            resolved,
            choices(&[
                ("necessary", true),
                ("analytics", true),
                ("marketing", false)
            ])
        );
    }

    #[test]
    fn gpc_turns_every_optional_purpose_off() {
        let resolved = resolve_choices(
            &purposes(),
            Channel::Website,
            &choices(&[("analytics", true), ("marketing", true)]),
            true,
        )
        .expect("valid");
        assert_eq!(
            resolved,
            choices(&[
                ("necessary", true),
                ("analytics", false),
                ("marketing", false)
            ])
        );
    }

    #[test]
    fn unknown_and_other_channel_purposes_are_refused_with_their_path() {
        let problems = resolve_choices(
            &purposes(),
            Channel::Website,
            &choices(&[("ai_messages", true), ("a/b", true), ("necessary", false)]),
            false,
        )
        .expect_err("refused");
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/choices/a~1b",
                "/choices/ai_messages",
                "/choices/necessary"
            ]
        );
        assert!(problems[0].message.contains("analytics, marketing"));
    }

    #[test]
    fn a_receipt_verifies_and_fails_after_any_change() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let receipt = sample_receipt(
            uuid::Uuid::nil(),
            &[("necessary", true), ("analytics", false)],
        );
        let signer = ReceiptSigner::new(&[7u8; 32]).expect("key");
        assert_eq!(signer.public_key(), key.verifying_key());
        assert_eq!(signer.kid(), key_id(&key.verifying_key()));
        let jws = signer.sign(&receipt);
        let verified = verify_receipt(&jws, &key.verifying_key()).expect("verifies");
        assert_eq!(verified, VerifiedReceipt::V2(receipt));
        assert_eq!(verified.purposes()[1].consent_status, "refused");
        let mut bytes = jws.clone().into_bytes();
        let at = jws.find('.').expect("dot") + 5;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).expect("ascii");
        assert!(verify_receipt(&tampered, &key.verifying_key()).is_err());
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert_eq!(
            verify_receipt(&jws, &other.verifying_key()),
            Err(ReceiptError::Signature)
        );
    }

    #[test]
    fn receipts_carry_the_signature_ed25519_dalek_makes() {
        use ed25519_dalek::Signer as _;
        for seed in [[0u8; 32], [7u8; 32], [255u8; 32]] {
            let key = SigningKey::from_bytes(&seed);
            let signer = ReceiptSigner::new(&seed).expect("key");
            let receipt = sample_receipt(
                uuid::Uuid::from_bytes(seed[..16].try_into().expect("16 bytes")),
                &[("necessary", true), ("analytics", true)],
            );
            let jws = signer.sign(&receipt);
            let (signing_input, signature) = jws.rsplit_once('.').expect("three parts");
            let expected = key.sign(signing_input.as_bytes());
            assert_eq!(signature, URL_SAFE_NO_PAD.encode(expected.to_bytes()));
            let header: serde_json::Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(signing_input.split('.').next().expect("header"))
                    .expect("base64"),
            )
            .expect("JSON");
            assert_eq!(header["alg"], "Ed25519");
            assert_eq!(header["kid"], key_id(&key.verifying_key()));
        }
    }

    /// `claims` signed with `key` under a header naming `alg`.
    fn signed_under(alg: &str, claims: &[u8], key: &SigningKey) -> String {
        use ed25519_dalek::Signer as _;
        let header = serde_json::json!({
            "alg": alg, "typ": "consent-receipt+jwt", "kid": key_id(&key.verifying_key()),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = key.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    #[test]
    fn receipts_and_their_key_name_ed25519_and_the_deprecated_eddsa_still_verifies() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let receipt = sample_receipt(uuid::Uuid::nil(), &[("necessary", true)]);
        let jws = ReceiptSigner::new(&[7u8; 32]).expect("key").sign(&receipt);
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jws.split('.').next().expect("header"))
                .expect("base64"),
        )
        .expect("JSON");
        assert_eq!(header["alg"], "Ed25519", "RFC 9864's fully-specified name");
        assert_eq!(public_jwk(&key.verifying_key())["alg"], "Ed25519");

        let claims = serde_json::to_vec(&receipt).expect("JSON");
        assert_eq!(
            verify_receipt(&signed_under("EdDSA", &claims, &key), &key.verifying_key()),
            Ok(VerifiedReceipt::V2(receipt.clone())),
            "receipts issued under the deprecated name stay valid"
        );
        for alg in ["none", "HS256", "ES256", "Ed448", "ed25519", "EDDSA", ""] {
            assert_eq!(
                verify_receipt(&signed_under(alg, &claims, &key), &key.verifying_key()),
                Err(ReceiptError::Algorithm),
                "alg {alg:?} is refused"
            );
        }
    }

    #[test]
    fn receipt_claims_take_their_names_from_iso_iec_ts_27560() {
        let receipt = sample_receipt(uuid::Uuid::nil(), &[("necessary", true)]);
        let claims = serde_json::to_value(&receipt).expect("JSON");
        let mut names: Vec<&str> = claims
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        let mut expected = vec![
            "schema_version",
            "receipt_id",
            "record_id",
            "event_time",
            "pii_principal_id",
            "pii_controllers",
            "privacy_notice",
            "language",
            "jurisdiction",
            "withdrawal_method",
            "record_retention_period",
            "collection_method",
            "global_privacy_control",
            "purposes",
        ];
        expected.sort_unstable();
        assert_eq!(names, expected);
        assert_eq!(claims["schema_version"], "2.0");
        assert_eq!(claims["event_time"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            claims["pii_controllers"],
            serde_json::json!([{
                "party_name": "North Clinic",
                "party_role": "pii_controller",
                "party_contact": "privacy@north.example",
                "party_url": "https://portal.example/c/north/privacy",
            }])
        );
        assert_eq!(
            claims["privacy_notice"],
            serde_json::json!({
                "version": 2, "content_hash": "ab",
                "url": "https://portal.example/c/north/cookies",
            })
        );
        assert_eq!(claims["language"], "uk");
        assert_eq!(claims["jurisdiction"], "DE");
        assert_eq!(
            claims["withdrawal_method"],
            "https://portal.example/c/north/cookies"
        );
        assert_eq!(claims["record_retention_period"], "P1095D");
        assert_eq!(
            claims["purposes"][0],
            serde_json::json!({
                "purpose": "necessary", "lawful_basis": "contract", "consent_status": "given",
            })
        );
    }

    /// A receipt of schema version 1.0 as the portal issued them, under alg
    /// EdDSA, with the key of seed `[7; 32]`.
    const RECEIPT_V1: &str = concat!(
        "eyJhbGciOiJFZERTQSIsImtpZCI6ImZlODEyYzEyZjNhYjRjZTYiLCJ0eXAiOiJjb25zZW50",
        "LXJlY2VpcHQrand0In0",
        ".",
        "eyJzY2hlbWFfdmVyc2lvbiI6IjEuMCIsInJlY2VpcHRfaWQiOiIwMTkwZjNhNC01YjZjLTdk",
        "OGUtOWYwMS0yMzQ1Njc4OWFiY2QiLCJyZWNvcmRfaWQiOiIwMTkwZjNhNC01YjZjLTdkOGUt",
        "OWYwMS0yMzQ1Njc4OWFiY2QiLCJ0aW1lc3RhbXAiOiIxOTcwLTAxLTAxVDAwOjAwOjAwLjAw",
        "MDAwMFoiLCJwaWlfcHJpbmNpcGFsX2lkIjoic3ViamVjdC0wMTIzNDU2Nzg5IiwicGlpX2Nv",
        "bnRyb2xsZXIiOiJOb3J0aCBDbGluaWMiLCJub3RpY2UiOnsidmVyc2lvbiI6MiwiY29udGVu",
        "dF9oYXNoIjoiYWIiLCJ1cmwiOiJodHRwczovL3BvcnRhbC5leGFtcGxlL2Mvbm9ydGgvY29v",
        "a2llcyJ9LCJjb2xsZWN0aW9uX21ldGhvZCI6ImJhbm5lciIsImdsb2JhbF9wcml2YWN5X2Nv",
        "bnRyb2wiOnRydWUsInB1cnBvc2VzIjpbeyJwdXJwb3NlIjoibmVjZXNzYXJ5IiwibGF3ZnVs",
        "X2Jhc2lzIjoiY29udHJhY3QiLCJjb25zZW50X3N0YXR1cyI6ImdpdmVuIn0seyJwdXJwb3Nl",
        "IjoiYW5hbHl0aWNzIiwibGF3ZnVsX2Jhc2lzIjoiY29uc2VudCIsImNvbnNlbnRfc3RhdHVz",
        "IjoiZ2l2ZW4ifSx7InB1cnBvc2UiOiJtYXJrZXRpbmciLCJsYXdmdWxfYmFzaXMiOiJjb25z",
        "ZW50IiwiY29uc2VudF9zdGF0dXMiOiJyZWZ1c2VkIn1dfQ",
        ".",
        "oIaHdYSjErqF-f8kbu5-XMkhlJ8aFhfODrQ0rNx4CBV5sBJei-YYuTxJfi5U6GYHg9zqakVk",
        "pZ39oEDFqs3NDw",
    );

    #[test]
    fn a_schema_version_1_receipt_issued_before_still_verifies_and_reads() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let Ok(VerifiedReceipt::V1(claims)) = verify_receipt(RECEIPT_V1, &key.verifying_key())
        else {
            panic!("a version 1 receipt reads as version 1");
        };
        assert_eq!(claims.schema_version, "1.0");
        assert_eq!(claims.record_id, "0190f3a4-5b6c-7d8e-9f01-23456789abcd");
        assert_eq!(claims.timestamp, "1970-01-01T00:00:00.000000Z");
        assert_eq!(claims.pii_controller, "North Clinic");
        assert_eq!(claims.notice.url, "https://portal.example/c/north/cookies");
        let states: Vec<(&str, &str)> = claims
            .purposes
            .iter()
            .map(|p| (p.purpose.as_str(), p.consent_status.as_str()))
            .collect();
        assert_eq!(
            states,
            [
                ("necessary", "given"),
                ("analytics", "given"),
                ("marketing", "refused")
            ]
        );
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert_eq!(
            verify_receipt(RECEIPT_V1, &other.verifying_key()),
            Err(ReceiptError::Signature)
        );
        let unknown = br#"{"schema_version":"3.0","record_id":"x"}"#;
        assert_eq!(
            verify_receipt(
                &signed_under("Ed25519", unknown, &key),
                &key.verifying_key()
            ),
            Err(ReceiptError::Version("3.0".into()))
        );
    }

    #[test]
    fn purpose_forms_report_each_problem() {
        let errors = PurposeForm {
            key: "Bad Key".into(),
            channel: "website".into(),
            name_en: String::new(),
            legal_basis: "consent".into(),
            strictly_necessary: true,
            position: "x".into(),
            ..PurposeForm::default()
        }
        .validate()
        .expect_err("invalid");
        for field in [
            "key",
            "name_en",
            "description_en",
            "legal_basis",
            "position",
        ] {
            assert!(errors.get(field).is_some(), "{field}");
        }
        let ok = PurposeForm {
            key: "analytics".into(),
            channel: "website".into(),
            name_en: "Analytics".into(),
            description_en: "Counting visits.".into(),
            legal_basis: "consent".into(),
            ..PurposeForm::default()
        }
        .validate()
        .expect("valid");
        assert_eq!(ok.position, 0);
    }

    #[test]
    fn cookie_domains_and_names_are_checked() {
        let form = CookieForm {
            name: "_ga".into(),
            domain: ".North.Example".into(),
            provider: "Analytics Co".into(),
            duration: "2 years".into(),
            party: "third".into(),
            purpose: "analytics".into(),
        };
        assert_eq!(form.validate().expect("valid").domain, "north.example");
        let bad = CookieForm {
            name: "a=b".into(),
            domain: "localhost".into(),
            ..form
        }
        .validate()
        .expect_err("invalid");
        assert!(bad.get("name").is_some() && bad.get("domain").is_some());
    }

    #[test]
    fn stored_choices_round_trip_and_reject_junk() {
        let stored = StoredChoice {
            subject_id: "abcdefghijklmnop".into(),
            content_hash: "00".into(),
            choices: choices(&[("analytics", true)]),
        };
        assert_eq!(StoredChoice::decode(&stored.encode()), Some(stored));
        assert_eq!(StoredChoice::decode("%%%"), None);
        assert!(parse_subject_id("short").is_err());
        assert_eq!(
            content_hash(&purposes()),
            content_hash(&purposes()),
            "the hash is stable"
        );
    }
}
