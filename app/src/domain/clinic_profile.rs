//! A clinic's editable profile: who the controller is, how to reach its
//! privacy contacts and supervisory authority, and its legal clock.

use super::clinic::{CountryCode, DeadlineRule, Jurisdiction, parse_origin, parse_web_url};
use super::email::EmailAddress;
use super::forms::FieldErrors;
use super::locale::Locale;
use super::text::{clean_optional_text, clean_text};

/// A validated profile.
#[derive(Clone, Debug, PartialEq)]
pub struct ClinicProfile {
    pub name: String,
    pub legal_name: String,
    pub country: CountryCode,
    pub jurisdiction: Jurisdiction,
    pub default_locale: Locale,
    pub deadline: DeadlineRule,
    pub notice_period_days: u16,
    pub contact_email: EmailAddress,
    pub dpo_name: Option<String>,
    pub dpo_email: Option<EmailAddress>,
    pub dpo_phone: Option<String>,
    pub authority_name: String,
    pub authority_url: Option<String>,
    pub authority_email: Option<EmailAddress>,
    pub allowed_origins: Vec<String>,
}

/// The profile as typed into a form or given on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClinicProfileForm {
    pub name: String,
    /// Empty means the same as `name`.
    pub legal_name: String,
    pub country: String,
    pub jurisdiction: String,
    pub default_locale: String,
    /// `calendar-month` or a number of days.
    pub deadline: String,
    pub notice_period_days: String,
    pub contact_email: String,
    pub dpo_name: String,
    pub dpo_email: String,
    pub dpo_phone: String,
    pub authority_name: String,
    pub authority_url: String,
    pub authority_email: String,
    /// One origin per line (commas and spaces also separate).
    pub allowed_origins: String,
}

fn optional_email(input: &str) -> Result<Option<EmailAddress>, super::email::EmailError> {
    match input.trim() {
        "" => Ok(None),
        text => EmailAddress::parse(text).map(Some),
    }
}

impl ClinicProfileForm {
    /// Checks every field; all problems are reported at once.
    pub fn validate(&self) -> Result<ClinicProfile, FieldErrors> {
        let mut e = FieldErrors::new();
        let name = e.check("name", "Name", clean_text(&self.name, 200, false));
        let legal_source = if self.legal_name.trim().is_empty() {
            &self.name
        } else {
            &self.legal_name
        };
        let legal_name = e.check(
            "legal_name",
            "Legal name",
            clean_text(legal_source, 200, false),
        );
        let country = e.check("country", "Country", CountryCode::parse(&self.country));
        let jurisdiction = e.check(
            "jurisdiction",
            "Applicable law",
            self.jurisdiction.trim().parse::<Jurisdiction>(),
        );
        let default_locale = e.check(
            "default_locale",
            "Language",
            Locale::from_tag(&self.default_locale).ok_or("must be en or uk"),
        );
        let deadline = e.check("deadline", "Deadline", DeadlineRule::parse(&self.deadline));
        let notice = e.check(
            "notice_period_days",
            "Notice period",
            self.notice_period_days
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|d| *d <= 365)
                .ok_or("must be a number of days from 0 to 365"),
        );
        let contact_email = e.check(
            "contact_email",
            "Privacy contact email",
            EmailAddress::parse(&self.contact_email),
        );
        let dpo_name = e.check(
            "dpo_name",
            "DPO name",
            clean_optional_text(&self.dpo_name, 200, false),
        );
        let dpo_email = e.check("dpo_email", "DPO email", optional_email(&self.dpo_email));
        let dpo_phone = e.check(
            "dpo_phone",
            "DPO phone",
            clean_optional_text(&self.dpo_phone, 40, false),
        );
        let authority_name = e.check(
            "authority_name",
            "Supervisory authority",
            clean_text(&self.authority_name, 300, false),
        );
        let authority_url = e.check(
            "authority_url",
            "Authority website",
            match self.authority_url.trim() {
                "" => Ok(None),
                url => parse_web_url(url).map(Some),
            },
        );
        let authority_email = e.check(
            "authority_email",
            "Authority email",
            optional_email(&self.authority_email),
        );
        let allowed_origins = e.check(
            "allowed_origins",
            "Website origin",
            self.allowed_origins
                .split(['\n', '\r', ',', ' '])
                .filter(|o| !o.trim().is_empty())
                .map(parse_origin)
                .collect::<Result<Vec<_>, _>>(),
        );
        if !e.is_empty() {
            return Err(e);
        }
        let build = || {
            Some(ClinicProfile {
                name: name?,
                legal_name: legal_name?,
                country: country?,
                jurisdiction: jurisdiction?,
                default_locale: default_locale?,
                deadline: deadline?,
                notice_period_days: notice?,
                contact_email: contact_email?,
                dpo_name: dpo_name?,
                dpo_email: dpo_email?,
                dpo_phone: dpo_phone?,
                authority_name: authority_name?,
                authority_url: authority_url?,
                authority_email: authority_email?,
                allowed_origins: allowed_origins?,
            })
        };
        build().ok_or_default()
    }

    /// The form prefilled from a stored profile.
    pub fn from_profile(profile: &ClinicProfile) -> Self {
        Self {
            name: profile.name.clone(),
            legal_name: profile.legal_name.clone(),
            country: profile.country.as_str().to_owned(),
            jurisdiction: profile.jurisdiction.as_str().to_owned(),
            default_locale: profile.default_locale.tag().to_owned(),
            deadline: match profile.deadline {
                DeadlineRule::CalendarMonth => "calendar-month".to_owned(),
                DeadlineRule::Days(days) => days.to_string(),
            },
            notice_period_days: profile.notice_period_days.to_string(),
            contact_email: profile.contact_email.to_string(),
            dpo_name: profile.dpo_name.clone().unwrap_or_default(),
            dpo_email: profile
                .dpo_email
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            dpo_phone: profile.dpo_phone.clone().unwrap_or_default(),
            authority_name: profile.authority_name.clone(),
            authority_url: profile.authority_url.clone().unwrap_or_default(),
            authority_email: profile
                .authority_email
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            allowed_origins: profile.allowed_origins.join("\n"),
        }
    }
}

trait OkOrDefault<T> {
    fn ok_or_default(self) -> Result<T, FieldErrors>;
}

impl<T> OkOrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, FieldErrors> {
        self.ok_or_else(|| {
            let mut errors = FieldErrors::new();
            errors.add("form", "The form could not be read.");
            errors
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn valid_form() -> ClinicProfileForm {
        ClinicProfileForm {
            name: "North Clinic".into(),
            legal_name: String::new(),
            country: "de".into(),
            jurisdiction: "eu_gdpr".into(),
            default_locale: "en".into(),
            deadline: "calendar-month".into(),
            notice_period_days: "30".into(),
            contact_email: "privacy@north.example".into(),
            authority_name: "Data Protection Authority".into(),
            allowed_origins: "https://north.example\nhttps://book.north.example".into(),
            ..ClinicProfileForm::default()
        }
    }

    #[test]
    fn a_valid_form_becomes_a_profile_and_back() {
        let profile = valid_form().validate().expect("valid");
        assert_eq!(profile.legal_name, "North Clinic");
        assert_eq!(profile.country.as_str(), "DE");
        assert_eq!(profile.allowed_origins.len(), 2);
        let again = ClinicProfileForm::from_profile(&profile)
            .validate()
            .expect("round trip");
        assert_eq!(again, profile);
    }

    #[test]
    fn every_problem_is_reported_by_field() {
        let form = ClinicProfileForm {
            name: " ".into(),
            country: "Germany".into(),
            deadline: "soon".into(),
            notice_period_days: "-1".into(),
            contact_email: "nope".into(),
            dpo_email: "also nope".into(),
            authority_url: "javascript:alert(1)".into(),
            allowed_origins: "north.example".into(),
            ..valid_form()
        };
        let errors = form.validate().expect_err("invalid");
        for field in [
            "name",
            "country",
            "deadline",
            "notice_period_days",
            "contact_email",
            "dpo_email",
            "authority_url",
            "allowed_origins",
        ] {
            assert!(
                errors.get(field).is_some(),
                "{field} not reported: {errors:?}"
            );
        }
        assert_eq!(errors.get("name"), Some("Name is required"));
    }
}
