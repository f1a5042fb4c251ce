//! Sub-processors: the third parties that process patients' data on a
//! publisher's behalf (GDPR Art. 28), what they receive, where, under which
//! transfer safeguard, and the announced changes to the list, which clinics
//! may object to until the objection window closes (Art. 28(2)).

use chrono::{DateTime, Duration, Utc};

use super::clinic::{CountryCode, parse_web_url};
use super::forms::FieldErrors;
use super::text::{clean_optional_text, clean_text};

catalog!(
    /// Categories of personal data a sub-processor receives.
    DataCategory, "one of the listed data categories", {
        Identity => ("identity", "Identity (name, date of birth)"),
        Contact => ("contact", "Contact details"),
        Health => ("health", "Health data"),
        Appointments => ("appointments", "Appointments"),
        Messages => ("messages", "Messages"),
        Billing => ("billing", "Billing and payments"),
        TechnicalLogs => ("technical_logs", "Technical logs"),
    }
);

catalog!(
    /// Why a transfer outside the EEA is lawful.
    Safeguard, "one of the listed transfer safeguards", {
        NotNeeded => ("not_needed", "Not needed (processing in the EEA)"),
        Adequacy => ("adequacy", "Adequacy decision"),
        Sccs => ("sccs", "Standard contractual clauses"),
        Dpf => ("dpf", "EU-US Data Privacy Framework"),
        Bcr => ("bcr", "Binding corporate rules"),
    }
);

catalog!(
    /// Where a sub-processor stands in the register.
    Status, "proposed, active or retired", {
        Proposed => ("proposed", "Proposed"),
        Active => ("active", "Active"),
        Retired => ("retired", "Retired"),
    }
);

catalog!(
    /// What an announced change does to the register.
    ChangeKind, "add, replace or retire", {
        Add => ("add", "New sub-processor"),
        Replace => ("replace", "Replacement"),
        Retire => ("retire", "Retirement"),
    }
);

catalog!(
    /// Where a clinic's objection to a change stands.
    ObjectionStatus, "open, resolved or withdrawn", {
        Open => ("open", "Open"),
        Resolved => ("resolved", "Resolved"),
        Withdrawn => ("withdrawn", "Withdrawn"),
    }
);

/// Most processing countries one entry may list.
pub const MAX_COUNTRIES: usize = 30;

/// A sub-processor as typed in the register's form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubprocessorForm {
    pub legal_name: String,
    pub service: String,
    pub purpose: String,
    /// Stored forms of the ticked categories.
    pub categories: Vec<String>,
    /// Country codes separated by commas or spaces, e.g. `DE, IE`.
    pub countries: String,
    pub safeguard: String,
    pub website: String,
    pub terms_url: String,
}

/// A sub-processor entry that passed the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubprocessorEntry {
    pub legal_name: String,
    pub service: String,
    pub purpose: String,
    pub categories: Vec<DataCategory>,
    pub countries: Vec<CountryCode>,
    pub safeguard: Safeguard,
    pub website: Option<String>,
    pub terms_url: Option<String>,
}

impl SubprocessorForm {
    /// Checks every field and reports each problem.
    pub fn validate(&self) -> Result<SubprocessorEntry, FieldErrors> {
        let mut errors = FieldErrors::new();
        let legal_name = errors.check(
            "legal_name",
            "The legal name",
            clean_text(&self.legal_name, 200, false),
        );
        let service = errors.check(
            "service",
            "The service",
            clean_text(&self.service, 500, false),
        );
        let purpose = errors.check(
            "purpose",
            "The purpose",
            clean_text(&self.purpose, 100, false),
        );
        let mut categories = Vec::new();
        for value in &self.categories {
            match value.parse::<DataCategory>() {
                Ok(c) if !categories.contains(&c) => categories.push(c),
                Ok(_) => {}
                Err(e) => errors.add("categories", format!("Each data category {e}.")),
            }
        }
        if categories.is_empty() && errors.get("categories").is_none() {
            errors.add(
                "categories",
                "Tick at least one category of data this sub-processor receives.",
            );
        }
        categories.sort();
        let mut countries: Vec<CountryCode> = Vec::new();
        for code in self
            .countries
            .split([',', ' ', ';', '\n'])
            .filter(|c| !c.trim().is_empty())
        {
            match CountryCode::parse(code) {
                Ok(c) if !countries.contains(&c) => countries.push(c),
                Ok(_) => {}
                Err(e) => {
                    errors.add(
                        "countries",
                        format!("“{}” is not a country code: each {e}.", code.trim()),
                    );
                }
            }
        }
        if countries.is_empty() && errors.get("countries").is_none() {
            errors.add(
                "countries",
                "List the countries where the data is processed, e.g. DE, IE.",
            );
        }
        if countries.len() > MAX_COUNTRIES {
            errors.add(
                "countries",
                format!("List at most {MAX_COUNTRIES} countries."),
            );
        }
        let safeguard = errors.check(
            "safeguard",
            "The transfer safeguard",
            self.safeguard.parse::<Safeguard>(),
        );
        let website = optional_url(&mut errors, "website", "The website", &self.website);
        let terms_url = optional_url(
            &mut errors,
            "terms_url",
            "The link to the terms or DPA",
            &self.terms_url,
        );
        match (legal_name, service, purpose, safeguard, website, terms_url) {
            (
                Some(legal_name),
                Some(service),
                Some(purpose),
                Some(safeguard),
                Some(website),
                Some(terms_url),
            ) if errors.is_empty() => Ok(SubprocessorEntry {
                legal_name,
                service,
                purpose,
                categories,
                countries,
                safeguard,
                website,
                terms_url,
            }),
            _ => Err(errors),
        }
    }
}

fn optional_url(
    errors: &mut FieldErrors,
    field: &str,
    label: &str,
    input: &str,
) -> Option<Option<String>> {
    if input.trim().is_empty() {
        return Some(None);
    }
    errors.check(field, label, parse_web_url(input)).map(Some)
}

/// Longest objection window a publisher may set.
pub const MAX_WINDOW_DAYS: u32 = 365;

/// Why a change cannot be announced for the date asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnnounceError {
    #[error("A change needs an effective date.")]
    DateRequired,
    #[error(
        "This change can take effect on {earliest} at the earliest: clinics have {days} days to object."
    )]
    TooSoon { earliest: String, days: u32 },
    #[error("The effective date must be within two years.")]
    TooFar,
}

/// The dates of a change announced `now`: the objection deadline (the end of
/// the window) and the effective date, which may not come before it.
pub fn announce_dates(
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    window_days: u32,
) -> Result<(DateTime<Utc>, DateTime<Utc>), AnnounceError> {
    let requested = requested.ok_or(AnnounceError::DateRequired)?;
    let deadline = now + Duration::days(i64::from(window_days.min(MAX_WINDOW_DAYS)));
    if requested < deadline {
        return Err(AnnounceError::TooSoon {
            earliest: deadline.format("%Y-%m-%d %H:%M UTC").to_string(),
            days: window_days,
        });
    }
    if requested > now + Duration::days(731) {
        return Err(AnnounceError::TooFar);
    }
    Ok((deadline, requested))
}

/// The statuses a change leaves behind once in effect: its sub-processor's,
/// and for a replacement, the replaced one's.
pub fn outcome(kind: ChangeKind) -> (Status, Option<Status>) {
    match kind {
        ChangeKind::Add => (Status::Active, None),
        ChangeKind::Replace => (Status::Active, Some(Status::Retired)),
        ChangeKind::Retire => (Status::Retired, None),
    }
}

/// Why an objection is not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ObjectionRefused {
    #[error("The objection window for this change closed on {0}.")]
    WindowClosed(String),
    #[error("This change was cancelled; there is nothing to object to.")]
    Cancelled,
}

/// Whether a clinic may still object at `now` to a change whose window ends
/// at `deadline`.
pub fn may_object(
    deadline: DateTime<Utc>,
    cancelled: bool,
    now: DateTime<Utc>,
) -> Result<(), ObjectionRefused> {
    if cancelled {
        return Err(ObjectionRefused::Cancelled);
    }
    if now >= deadline {
        return Err(ObjectionRefused::WindowClosed(
            deadline.format("%-d %B %Y, %H:%M UTC").to_string(),
        ));
    }
    Ok(())
}

/// The reason a clinic gives for objecting, or the operator's resolution.
pub fn clean_statement(input: &str) -> Result<String, String> {
    let text = clean_optional_text(input, 4000, true)
        .map_err(|e| format!("The text {e}"))?
        .unwrap_or_default();
    if text.chars().count() < 10 {
        return Err("Say in a sentence or more why (at least 10 characters).".into());
    }
    Ok(text.replace("\r\n", "\n"))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_change_in_effect_leaves_the_statuses_its_kind_says() {
        assert_eq!(outcome(ChangeKind::Add), (Status::Active, None));
        assert_eq!(
            outcome(ChangeKind::Replace),
            (Status::Active, Some(Status::Retired))
        );
        assert_eq!(outcome(ChangeKind::Retire), (Status::Retired, None));
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .expect("a valid instant")
    }

    fn form() -> SubprocessorForm {
        SubprocessorForm {
            legal_name: "Mailer Ltd".into(),
            service: "Transactional email".into(),
            purpose: "Email delivery".into(),
            categories: vec!["contact".into(), "identity".into(), "contact".into()],
            countries: "de, IE  de".into(),
            safeguard: "not_needed".into(),
            website: "https://mailer.example".into(),
            terms_url: String::new(),
        }
    }

    #[test]
    fn a_complete_entry_is_cleaned_and_deduplicated() {
        let entry = form().validate().expect("valid");
        assert_eq!(
            entry.categories,
            vec![DataCategory::Identity, DataCategory::Contact]
        );
        let countries: Vec<&str> = entry.countries.iter().map(CountryCode::as_str).collect();
        assert_eq!(countries, vec!["DE", "IE"]);
        assert_eq!(entry.safeguard, Safeguard::NotNeeded);
        assert_eq!(entry.terms_url, None);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let bad = SubprocessorForm {
            legal_name: " ".into(),
            categories: vec!["gossip".into()],
            countries: "Germany".into(),
            safeguard: "trust".into(),
            website: "mailer.example".into(),
            ..form()
        };
        let errors = bad.validate().expect_err("invalid");
        for field in [
            "legal_name",
            "categories",
            "countries",
            "safeguard",
            "website",
        ] {
            assert!(errors.get(field).is_some(), "{field}: {errors:?}");
        }
        assert!(
            errors
                .get("countries")
                .is_some_and(|m| m.contains("Germany"))
        );
        let none = SubprocessorForm {
            categories: vec![],
            countries: String::new(),
            ..form()
        };
        let errors = none.validate().expect_err("invalid");
        assert!(
            errors
                .get("categories")
                .is_some_and(|m| m.contains("at least one"))
        );
        assert!(errors.get("countries").is_some_and(|m| m.contains("e.g.")));
    }

    #[test]
    fn stored_forms_read_back() {
        for c in DataCategory::ALL {
            assert_eq!(c.as_str().parse::<DataCategory>(), Ok(*c));
        }
        for s in Safeguard::ALL {
            assert_eq!(s.as_str().parse::<Safeguard>(), Ok(*s));
        }
        for k in ChangeKind::ALL {
            assert_eq!(k.as_str().parse::<ChangeKind>(), Ok(*k));
        }
        assert!("maybe".parse::<Status>().is_err());
    }

    #[test]
    fn a_change_takes_effect_no_earlier_than_the_window_allows() {
        let window = 30;
        let deadline = now() + Duration::days(30);
        assert_eq!(
            announce_dates(Some(deadline), now(), window),
            Ok((deadline, deadline))
        );
        let later = deadline + Duration::days(5);
        assert_eq!(
            announce_dates(Some(later), now(), window),
            Ok((deadline, later))
        );
        let early = announce_dates(Some(deadline - Duration::seconds(1)), now(), window);
        assert!(
            matches!(&early, Err(AnnounceError::TooSoon { earliest, days: 30 }) if earliest == "2026-12-23 12:00 UTC"),
            "{early:?}"
        );
        assert_eq!(
            announce_dates(None, now(), window),
            Err(AnnounceError::DateRequired)
        );
        assert_eq!(
            announce_dates(Some(now() + Duration::days(800)), now(), window),
            Err(AnnounceError::TooFar)
        );
    }

    #[test]
    fn objections_close_exactly_at_the_deadline() {
        let deadline = now() + Duration::days(30);
        assert_eq!(
            may_object(deadline, false, deadline - Duration::microseconds(1)),
            Ok(())
        );
        assert!(matches!(
            may_object(deadline, false, deadline),
            Err(ObjectionRefused::WindowClosed(_))
        ));
        assert_eq!(
            may_object(deadline, true, now()),
            Err(ObjectionRefused::Cancelled)
        );
    }

    #[test]
    fn statements_need_substance() {
        assert!(clean_statement("no").is_err());
        assert_eq!(
            clean_statement("  We cannot accept transfers to the US.\r\n ").as_deref(),
            Ok("We cannot accept transfers to the US.")
        );
    }
}
