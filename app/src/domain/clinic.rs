//! Clinics (the tenants) and the settings that shape their legal duties.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Identifies a clinic; every tenant row carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClinicId(pub Uuid);

impl fmt::Display for ClinicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The clinic's name in URLs: `/c/{slug}/...`. Lower-case letters, digits and
/// inner hyphens, 1 to 48 characters; a few words are reserved.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClinicSlug(String);

/// Why a slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("is required")]
    Empty,
    #[error("is longer than 48 characters")]
    TooLong,
    #[error("may contain only lower-case letters, digits and hyphens (not at either end)")]
    Invalid,
    #[error("is reserved")]
    Reserved,
}

const RESERVED_SLUGS: &[&str] = &["admin", "api", "assets", "platform", "new", "static"];

impl ClinicSlug {
    /// Parses a slug typed by an operator.
    pub fn parse(input: &str) -> Result<Self, SlugError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(SlugError::Empty);
        }
        if input.len() > 48 {
            return Err(SlugError::TooLong);
        }
        let valid_chars = input
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_chars || input.starts_with('-') || input.ends_with('-') {
            return Err(SlugError::Invalid);
        }
        if RESERVED_SLUGS.contains(&input) {
            return Err(SlugError::Reserved);
        }
        Ok(Self(input.to_owned()))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClinicSlug {
    type Error = SlugError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ClinicSlug> for String {
    fn from(value: ClinicSlug) -> Self {
        value.0
    }
}

impl fmt::Display for ClinicSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 3166-1 alpha-2 country code, upper-case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CountryCode(String);

impl CountryCode {
    /// Accepts two ASCII letters in either case.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let code = input.trim().to_ascii_uppercase();
        if code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Self(code))
        } else {
            Err(InvalidValue("a two-letter ISO country code, e.g. DE"))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A value that is not one of the accepted forms; carries what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {0}")]
pub struct InvalidValue(pub &'static str);

/// Which data-protection law the clinic answers to as controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jurisdiction {
    /// EU General Data Protection Regulation.
    EuGdpr,
    /// UK GDPR and the Data Protection Act 2018.
    UkGdpr,
    /// Another national law; the clinic's settings carry its deadlines.
    Other,
}

impl Jurisdiction {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EuGdpr => "eu_gdpr",
            Self::UkGdpr => "uk_gdpr",
            Self::Other => "other",
        }
    }

    /// Name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::EuGdpr => "EU GDPR",
            Self::UkGdpr => "UK GDPR",
            Self::Other => "Other national law",
        }
    }
}

impl FromStr for Jurisdiction {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "eu_gdpr" => Ok(Self::EuGdpr),
            "uk_gdpr" => Ok(Self::UkGdpr),
            "other" => Ok(Self::Other),
            _ => Err(InvalidValue("one of eu_gdpr, uk_gdpr, other")),
        }
    }
}

/// How long a clinic has to answer a privacy request once the requester's
/// identity is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeadlineRule {
    /// GDPR Art. 12(3): one calendar month.
    CalendarMonth,
    /// A fixed number of calendar days (1 to 90).
    Days(u16),
}

impl DeadlineRule {
    /// Stored form: the rule name and, for `Days`, the count.
    pub fn to_columns(self) -> (&'static str, Option<i32>) {
        match self {
            Self::CalendarMonth => ("calendar_month", None),
            Self::Days(days) => ("days", Some(i32::from(days))),
        }
    }

    /// Reads the stored form back.
    pub fn from_columns(rule: &str, days: Option<i32>) -> Result<Self, InvalidValue> {
        match (rule, days) {
            ("calendar_month", None) => Ok(Self::CalendarMonth),
            ("days", Some(days)) if (1..=90).contains(&days) => Ok(Self::Days(
                u16::try_from(days).map_err(|_| InvalidValue("1 to 90 days"))?,
            )),
            _ => Err(InvalidValue("calendar_month, or days with 1 to 90 days")),
        }
    }

    /// Parses the command-line form: `calendar-month` or a number of days (`30`).
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let input = input.trim();
        if matches!(input, "calendar-month" | "calendar_month" | "month") {
            return Ok(Self::CalendarMonth);
        }
        let days = input
            .trim_end_matches("days")
            .trim()
            .parse::<u16>()
            .map_err(|_| InvalidValue("`calendar-month` or a number of days from 1 to 90"))?;
        if (1..=90).contains(&days) {
            Ok(Self::Days(days))
        } else {
            Err(InvalidValue(
                "`calendar-month` or a number of days from 1 to 90",
            ))
        }
    }
}

impl fmt::Display for DeadlineRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CalendarMonth => f.write_str("one calendar month"),
            Self::Days(days) => write!(f, "{days} days"),
        }
    }
}

/// Where a clinic is in its life with the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClinicStatus {
    Active,
    Suspended,
    Offboarding,
}

impl ClinicStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Offboarding => "offboarding",
        }
    }
}

impl FromStr for ClinicStatus {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "offboarding" => Ok(Self::Offboarding),
            _ => Err(InvalidValue("one of active, suspended, offboarding")),
        }
    }
}

/// A website origin allowed to embed the clinic's consent banner:
/// `https://host` or `https://host:port`, no path. `http://` is accepted only
/// for `localhost` and loopback addresses (development).
pub fn parse_origin(input: &str) -> Result<String, InvalidValue> {
    let expected =
        InvalidValue("an origin such as https://www.clinic.example (scheme and host, no path)");
    let input = input.trim().trim_end_matches('/');
    let (scheme, rest) = input.split_once("://").ok_or(expected.clone())?;
    let host = rest.rsplit_once(':').map_or(rest, |(host, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() {
            host
        } else {
            rest
        }
    });
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-']);
    let local = host == "localhost" || host == "127.0.0.1";
    let scheme_ok = scheme == "https" || (scheme == "http" && local);
    if !host_ok || !scheme_ok || rest.contains(['/', '?', '#', '@']) {
        return Err(expected);
    }
    Ok(format!("{scheme}://{}", rest.to_ascii_lowercase()))
}

/// An absolute `http(s)://` web address (for links shown to people).
pub fn parse_web_url(input: &str) -> Result<String, InvalidValue> {
    let expected = InvalidValue("a web address starting with https:// or http://");
    let input = input.trim();
    let rest = input
        .strip_prefix("https://")
        .or_else(|| input.strip_prefix("http://"))
        .ok_or(expected.clone())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty()
        || input
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>')
        || input.len() > 500
    {
        return Err(expected);
    }
    Ok(input.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_host_only() {
        assert_eq!(
            parse_origin("https://www.Clinic.example/"),
            Ok("https://www.clinic.example".into())
        );
        assert_eq!(
            parse_origin("https://clinic.example:8443"),
            Ok("https://clinic.example:8443".into())
        );
        assert_eq!(
            parse_origin("http://localhost:3000"),
            Ok("http://localhost:3000".into())
        );
        for bad in [
            "clinic.example",
            "http://clinic.example",
            "https://clinic.example/path",
            "https://",
            "https://a b",
            "https://user@x.example",
            "javascript:alert(1)",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn web_urls_need_a_scheme_and_host() {
        assert!(parse_web_url("https://www.datenschutz-berlin.de/kontakt?x=1").is_ok());
        for bad in [
            "www.example.org",
            "https://",
            "javascript:alert(1)",
            "https://x.example/\"a\"",
        ] {
            assert!(parse_web_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_accept_lowercase_words_with_inner_hyphens() {
        assert_eq!(ClinicSlug::parse("demo").map(|s| s.0), Ok("demo".into()));
        assert!(ClinicSlug::parse("north-park-2").is_ok());
        assert!(ClinicSlug::parse("a").is_ok());
    }

    #[test]
    fn slugs_refuse_bad_shapes_and_reserved_words() {
        assert_eq!(ClinicSlug::parse(""), Err(SlugError::Empty));
        assert_eq!(ClinicSlug::parse("-demo"), Err(SlugError::Invalid));
        assert_eq!(ClinicSlug::parse("demo-"), Err(SlugError::Invalid));
        assert_eq!(ClinicSlug::parse("Demo"), Err(SlugError::Invalid));
        assert_eq!(ClinicSlug::parse("de mo"), Err(SlugError::Invalid));
        assert_eq!(ClinicSlug::parse("dёmo"), Err(SlugError::Invalid));
        assert_eq!(ClinicSlug::parse(&"a".repeat(49)), Err(SlugError::TooLong));
        assert_eq!(ClinicSlug::parse("admin"), Err(SlugError::Reserved));
    }

    #[test]
    fn country_codes_are_two_letters_uppercased() {
        assert_eq!(CountryCode::parse("de").map(|c| c.0), Ok("DE".into()));
        assert!(CountryCode::parse("DEU").is_err());
        assert!(CountryCode::parse("1A").is_err());
    }

    #[test]
    fn deadline_rules_round_trip_through_their_columns() {
        for rule in [
            DeadlineRule::CalendarMonth,
            DeadlineRule::Days(30),
            DeadlineRule::Days(1),
        ] {
            let (name, days) = rule.to_columns();
            assert_eq!(DeadlineRule::from_columns(name, days), Ok(rule));
        }
        assert!(DeadlineRule::from_columns("days", None).is_err());
        assert!(DeadlineRule::from_columns("days", Some(91)).is_err());
        assert!(DeadlineRule::from_columns("calendar_month", Some(30)).is_err());
    }

    #[test]
    fn deadline_rules_parse_from_the_command_line() {
        assert_eq!(
            DeadlineRule::parse("calendar-month"),
            Ok(DeadlineRule::CalendarMonth)
        );
        assert_eq!(DeadlineRule::parse("30"), Ok(DeadlineRule::Days(30)));
        assert_eq!(DeadlineRule::parse("45 days"), Ok(DeadlineRule::Days(45)));
        assert!(DeadlineRule::parse("0").is_err());
        assert!(DeadlineRule::parse("soon").is_err());
    }

    #[test]
    fn jurisdiction_and_status_round_trip() {
        for j in [
            Jurisdiction::EuGdpr,
            Jurisdiction::UkGdpr,
            Jurisdiction::Other,
        ] {
            assert_eq!(j.as_str().parse::<Jurisdiction>(), Ok(j));
        }
        for s in [
            ClinicStatus::Active,
            ClinicStatus::Suspended,
            ClinicStatus::Offboarding,
        ] {
            assert_eq!(s.as_str().parse::<ClinicStatus>(), Ok(s));
        }
    }
}
