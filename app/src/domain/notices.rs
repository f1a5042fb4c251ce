//! Versioned documents (privacy notice, cookie policy, data processing
//! agreement): the states a version passes through and when it may take
//! effect. A material change must be announced at least the publisher's
//! notice period before it applies; anything else applies at once.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};

use super::clinic::InvalidValue;
use super::forms::FieldErrors;
use super::text::{clean_optional_text, clean_text};

/// What a document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    PrivacyNotice,
    CookiePolicy,
    DataProcessingAgreement,
}

impl DocumentKind {
    /// Every kind, in the order pages list them.
    pub const ALL: [Self; 3] = [
        Self::PrivacyNotice,
        Self::CookiePolicy,
        Self::DataProcessingAgreement,
    ];

    /// Stored form, also used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PrivacyNotice => "privacy_notice",
            Self::CookiePolicy => "cookie_policy",
            Self::DataProcessingAgreement => "data_processing_agreement",
        }
    }

    /// Form used in URLs.
    pub fn slug(self) -> &'static str {
        match self {
            Self::PrivacyNotice => "privacy-notice",
            Self::CookiePolicy => "cookie-policy",
            Self::DataProcessingAgreement => "data-processing-agreement",
        }
    }

    /// The kind named by a URL slug.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.slug() == slug)
    }

    /// English name.
    pub fn label(self) -> &'static str {
        match self {
            Self::PrivacyNotice => "Privacy notice",
            Self::CookiePolicy => "Cookie policy",
            Self::DataProcessingAgreement => "Data processing agreement",
        }
    }
}

impl FromStr for DocumentKind {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(InvalidValue(
                "a privacy notice, cookie policy or data processing agreement",
            ))
    }
}

/// Where a version stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VersionState {
    /// Being written; the only state in which the text may change.
    Draft,
    /// Published with a future effective date, announced to the audience.
    Scheduled,
    /// The version in force.
    Effective,
    /// Was in force; a later version replaced it.
    Superseded,
    /// Was scheduled and withdrawn before it took effect.
    Cancelled,
}

impl VersionState {
    const ALL: [Self; 5] = [
        Self::Draft,
        Self::Scheduled,
        Self::Effective,
        Self::Superseded,
        Self::Cancelled,
    ];

    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Scheduled => "scheduled",
            Self::Effective => "effective",
            Self::Superseded => "superseded",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the text is fixed: everything but a draft.
    pub fn is_published(self) -> bool {
        self != Self::Draft
    }
}

impl FromStr for VersionState {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or(InvalidValue(
                "a version state: draft, scheduled, effective, superseded or cancelled",
            ))
    }
}

impl fmt::Display for VersionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can happen to a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionAction {
    Edit,
    /// Publish a non-material change, or a material one whose notice period
    /// is zero and whose date is now.
    PublishNow,
    /// Publish a material change for a future date.
    Schedule,
    Cancel,
    /// The scheduled time has come.
    TakeEffect,
    /// A newer version took effect.
    Supersede,
}

/// An action the version's state does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a {state} version cannot be changed that way")]
pub struct NotAllowed {
    pub state: VersionState,
    pub action: VersionAction,
}

/// The lifecycle: draft → (scheduled →) effective → superseded, or
/// scheduled → cancelled.
pub fn transition(state: VersionState, action: VersionAction) -> Result<VersionState, NotAllowed> {
    use VersionAction as A;
    use VersionState as S;
    match (state, action) {
        (S::Draft, A::Edit) => Ok(S::Draft),
        (S::Draft, A::PublishNow) | (S::Scheduled, A::TakeEffect) => Ok(S::Effective),
        (S::Draft, A::Schedule) => Ok(S::Scheduled),
        (S::Scheduled, A::Cancel) => Ok(S::Cancelled),
        (S::Effective, A::Supersede) => Ok(S::Superseded),
        _ => Err(NotAllowed { state, action }),
    }
}

/// Longest notice period a publisher may set.
pub const MAX_NOTICE_DAYS: u32 = 365;

/// Why a version cannot be published for the date asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("A material change needs an effective date.")]
    DateRequired,
    #[error(
        "A material change can take effect on {earliest} at the earliest: people must be told {days} days before."
    )]
    TooSoon { earliest: String, days: u32 },
    #[error("The effective date must be within two years.")]
    TooFar,
}

/// When a version published `now` takes effect, and whether that needs a
/// schedule. A non-material change applies at once (a requested date is
/// ignored); a material one needs a date no earlier than the notice period
/// allows, and applies at once only if that date is not in the future.
pub fn effective_at(
    material: bool,
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    notice_days: u32,
) -> Result<(DateTime<Utc>, VersionAction), ScheduleError> {
    if !material {
        return Ok((now, VersionAction::PublishNow));
    }
    let requested = requested.ok_or(ScheduleError::DateRequired)?;
    let earliest = now + Duration::days(i64::from(notice_days.min(MAX_NOTICE_DAYS)));
    if requested < earliest {
        return Err(ScheduleError::TooSoon {
            earliest: earliest.format("%Y-%m-%d %H:%M UTC").to_string(),
            days: notice_days,
        });
    }
    if requested > now + Duration::days(731) {
        return Err(ScheduleError::TooFar);
    }
    if requested <= now {
        Ok((now, VersionAction::PublishNow))
    } else {
        Ok((requested, VersionAction::Schedule))
    }
}

/// Reads a notice period from a form: whole days, 0 to 365.
pub fn parse_notice_days(input: &str) -> Result<u32, &'static str> {
    input
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|d| *d <= MAX_NOTICE_DAYS)
        .ok_or("must be a whole number of days from 0 to 365")
}

/// A draft as typed in the editor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DraftForm {
    pub title: String,
    pub body: String,
    pub summary: String,
    pub material: bool,
}

/// A draft that passed the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    pub title: String,
    pub body: String,
    pub summary: String,
    pub material: bool,
}

impl DraftForm {
    /// Checks every field; a material change needs a summary, since the
    /// change notice sends it.
    pub fn validate(&self) -> Result<Draft, FieldErrors> {
        let mut errors = FieldErrors::new();
        let title = errors.check("title", "The title", clean_text(&self.title, 200, false));
        let body = if self.body.len() > super::markdown::MAX_SOURCE_BYTES {
            errors.add("body", "The text is longer than 200,000 characters.");
            None
        } else {
            errors.check("body", "The text", clean_text(&self.body, 200_000, true))
        };
        let summary = errors
            .check(
                "summary",
                "The summary",
                clean_optional_text(&self.summary, 2000, true),
            )
            .map(Option::unwrap_or_default);
        if self.material && summary.as_deref() == Some("") {
            errors.add(
                "summary",
                "A material change needs a summary of changes: it is what the change notice tells people.",
            );
        }
        match (title, body, summary) {
            (Some(title), Some(body), Some(summary)) if errors.is_empty() => Ok(Draft {
                title,
                body: body.replace("\r\n", "\n"),
                summary,
                material: self.material,
            }),
            _ => Err(errors),
        }
    }
}

/// Reads the effective date typed in the publish form (`YYYY-MM-DD` or
/// `YYYY-MM-DDTHH:MM`, in UTC); empty means "now".
pub fn parse_effective_date(input: &str) -> Result<Option<DateTime<Utc>>, &'static str> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(None);
    }
    if let Some((day, time)) = input.split_once('T')
        && let (Some(day), Ok(time)) = (
            super::text::parse_date(day),
            chrono::NaiveTime::parse_from_str(time, "%H:%M"),
        )
    {
        return Ok(Some(day.and_time(time).and_utc()));
    }
    super::text::parse_date(input)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Some(d.and_utc()))
        .ok_or("must be a date such as 2027-01-31 (optionally with a time, 2027-01-31T09:00)")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
            .single()
            .expect("a valid instant")
    }

    #[test]
    fn the_transition_table_allows_only_the_lifecycle() {
        use VersionAction as A;
        use VersionState as S;
        let actions = [
            A::Edit,
            A::PublishNow,
            A::Schedule,
            A::Cancel,
            A::TakeEffect,
            A::Supersede,
        ];
        let allowed = [
            (S::Draft, A::Edit, S::Draft),
            (S::Draft, A::PublishNow, S::Effective),
            (S::Draft, A::Schedule, S::Scheduled),
            (S::Scheduled, A::Cancel, S::Cancelled),
            (S::Scheduled, A::TakeEffect, S::Effective),
            (S::Effective, A::Supersede, S::Superseded),
        ];
        for state in VersionState::ALL {
            for action in actions {
                let expected = allowed
                    .iter()
                    .find(|(s, a, _)| *s == state && *a == action)
                    .map(|(_, _, next)| *next);
                assert_eq!(
                    transition(state, action).ok(),
                    expected,
                    "{state} + {action:?}"
                );
            }
        }
        // Nothing published can be edited.
        for state in VersionState::ALL.into_iter().filter(|s| s.is_published()) {
            assert!(transition(state, A::Edit).is_err());
        }
    }

    #[test]
    fn non_material_changes_apply_at_once() {
        let now = at(23, 10);
        assert_eq!(
            effective_at(false, Some(at(30, 0)), now, 30),
            Ok((now, VersionAction::PublishNow))
        );
    }

    #[test]
    fn material_changes_respect_the_notice_period() {
        let now = at(1, 12);
        assert_eq!(
            effective_at(true, None, now, 30),
            Err(ScheduleError::DateRequired)
        );
        // 29 days and 23 hours is too soon for 30 days' notice.
        let too_soon = now + Duration::days(30) - Duration::hours(1);
        assert!(matches!(
            effective_at(true, Some(too_soon), now, 30),
            Err(ScheduleError::TooSoon { days: 30, .. })
        ));
        let exactly = now + Duration::days(30);
        assert_eq!(
            effective_at(true, Some(exactly), now, 30),
            Ok((exactly, VersionAction::Schedule))
        );
        // With no notice period a material change may apply now.
        assert_eq!(
            effective_at(true, Some(now), now, 0),
            Ok((now, VersionAction::PublishNow))
        );
        assert_eq!(
            effective_at(true, Some(now + Duration::days(800)), now, 0),
            Err(ScheduleError::TooFar)
        );
    }

    #[test]
    fn the_refusal_names_the_earliest_date() {
        let message = effective_at(true, Some(at(2, 0)), at(1, 12), 14)
            .expect_err("too soon")
            .to_string();
        assert!(message.contains("2026-11-15 12:00 UTC"), "{message}");
        assert!(message.contains("14 days"));
    }

    #[test]
    fn notice_periods_are_whole_days_up_to_a_year() {
        assert_eq!(parse_notice_days(" 14 "), Ok(14));
        assert_eq!(parse_notice_days("0"), Ok(0));
        assert!(parse_notice_days("366").is_err());
        assert!(parse_notice_days("-1").is_err());
        assert!(parse_notice_days("two weeks").is_err());
    }

    #[test]
    fn kinds_and_states_read_back_what_they_store() {
        for kind in DocumentKind::ALL {
            assert_eq!(kind.as_str().parse::<DocumentKind>(), Ok(kind));
        }
        for state in VersionState::ALL {
            assert_eq!(state.as_str().parse::<VersionState>(), Ok(state));
        }
        assert!("policy".parse::<DocumentKind>().is_err());
    }

    #[test]
    fn a_material_draft_needs_a_summary() {
        let form = DraftForm {
            title: "Privacy notice".into(),
            body: "# Text\r\n\r\nMore".into(),
            summary: " ".into(),
            material: true,
        };
        let errors = form.validate().expect_err("summary missing");
        assert!(errors.get("summary").is_some());
        let ok = DraftForm {
            summary: "New retention period".into(),
            ..form
        }
        .validate()
        .expect("valid");
        assert_eq!(ok.body, "# Text\n\nMore");
    }

    #[test]
    fn empty_fields_are_reported_each() {
        let errors = DraftForm::default().validate().expect_err("empty");
        assert!(errors.get("title").is_some());
        assert!(errors.get("body").is_some());
        assert!(errors.get("summary").is_none());
    }

    #[test]
    fn effective_dates_parse_with_or_without_a_time() {
        assert_eq!(parse_effective_date(""), Ok(None));
        assert_eq!(
            parse_effective_date("2027-01-31"),
            Ok(Some(
                Utc.with_ymd_and_hms(2027, 1, 31, 0, 0, 0)
                    .single()
                    .expect("date")
            ))
        );
        assert_eq!(
            parse_effective_date("2027-01-31T09:30"),
            Ok(Some(
                Utc.with_ymd_and_hms(2027, 1, 31, 9, 30, 0)
                    .single()
                    .expect("date")
            ))
        );
        assert!(parse_effective_date("31/01/2027").is_err());
    }
}
