//! Privacy requests: what people may ask for, the states a request passes
//! through, and the form a patient fills in.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use rand::Rng;

use super::clinic::InvalidValue;
use super::email::EmailAddress;
use super::forms::FieldErrors;
use super::text::{clean_optional_text, clean_text};

/// The right exercised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestKind {
    Access,
    Rectification,
    Erasure,
    Restriction,
    Objection,
    Portability,
    WithdrawConsent,
    Other,
}

impl RequestKind {
    /// Every kind, in the order the form lists them.
    pub const ALL: [Self; 8] = [
        Self::Access,
        Self::Rectification,
        Self::Erasure,
        Self::Restriction,
        Self::Objection,
        Self::Portability,
        Self::WithdrawConsent,
        Self::Other,
    ];

    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Rectification => "rectification",
            Self::Erasure => "erasure",
            Self::Restriction => "restriction",
            Self::Objection => "objection",
            Self::Portability => "portability",
            Self::WithdrawConsent => "withdraw_consent",
            Self::Other => "other",
        }
    }

    /// Message-catalog key of the kind's name.
    pub fn label_key(self) -> String {
        format!("request-kind-{}", self.as_str().replace('_', "-"))
    }

    /// English name, for staff pages and exports.
    pub fn label(self) -> &'static str {
        match self {
            Self::Access => "Access (copy of data)",
            Self::Rectification => "Rectification",
            Self::Erasure => "Erasure",
            Self::Restriction => "Restriction",
            Self::Objection => "Objection",
            Self::Portability => "Portability (export)",
            Self::WithdrawConsent => "Withdrawal of consent",
            Self::Other => "Other",
        }
    }
}

impl FromStr for RequestKind {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(InvalidValue("one of the listed kinds of request"))
    }
}

/// On whose behalf the requester acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActingAs {
    OwnBehalf,
    /// A parent or guardian for a child.
    Child,
    /// An authorised representative.
    Representative,
}

impl ActingAs {
    /// Every option.
    pub const ALL: [Self; 3] = [Self::OwnBehalf, Self::Child, Self::Representative];

    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OwnBehalf => "self",
            Self::Child => "child",
            Self::Representative => "representative",
        }
    }
}

impl FromStr for ActingAs {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(InvalidValue("self, child or representative"))
    }
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    /// Submitted; the email address is not yet confirmed and no clock runs.
    Unverified,
    /// Verified; the clock runs; nobody has started on it.
    New,
    InProgress,
    /// The clinic asked the requester for information; the clock is paused.
    AwaitingRequester,
    Completed,
    Withdrawn,
}

impl RequestStatus {
    /// Every status.
    pub const ALL: [Self; 6] = [
        Self::Unverified,
        Self::New,
        Self::InProgress,
        Self::AwaitingRequester,
        Self::Completed,
        Self::Withdrawn,
    ];

    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unverified => "unverified",
            Self::New => "new",
            Self::InProgress => "in_progress",
            Self::AwaitingRequester => "awaiting_requester",
            Self::Completed => "completed",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// English name for staff.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unverified => "Unverified",
            Self::New => "New",
            Self::InProgress => "In progress",
            Self::AwaitingRequester => "Waiting for requester",
            Self::Completed => "Completed",
            Self::Withdrawn => "Withdrawn",
        }
    }

    /// Message-catalog key of the status for requesters.
    pub fn label_key(self) -> String {
        format!("request-status-{}", self.as_str().replace('_', "-"))
    }

    /// Whether the clinic still owes an answer.
    pub fn is_open(self) -> bool {
        matches!(self, Self::New | Self::InProgress | Self::AwaitingRequester)
    }
}

impl FromStr for RequestStatus {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or(InvalidValue("a request status"))
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Fulfilled,
    PartiallyFulfilled,
    /// Refused, with a reason; the requester is told they may complain to
    /// the supervisory authority.
    Refused,
}

impl Outcome {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fulfilled => "fulfilled",
            Self::PartiallyFulfilled => "partially_fulfilled",
            Self::Refused => "refused",
        }
    }

    /// English name for staff.
    pub fn label(self) -> &'static str {
        match self {
            Self::Fulfilled => "Fulfilled",
            Self::PartiallyFulfilled => "Partially fulfilled",
            Self::Refused => "Refused",
        }
    }
}

impl FromStr for Outcome {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Fulfilled, Self::PartiallyFulfilled, Self::Refused]
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or(InvalidValue("fulfilled, partially fulfilled or refused"))
    }
}

/// Something that moves a request along.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The requester confirmed their email address.
    Verify,
    /// Staff begin the work.
    Start,
    /// Staff ask the requester for information; the clock pauses.
    AskRequester,
    /// The requester answered; the clock resumes.
    RequesterReplied,
    /// Staff extend the deadline (once).
    Extend,
    /// Staff answer the request.
    Complete,
    /// The requester withdraws the request.
    Withdraw,
}

impl Action {
    /// Every action.
    pub const ALL: [Self; 7] = [
        Self::Verify,
        Self::Start,
        Self::AskRequester,
        Self::RequesterReplied,
        Self::Extend,
        Self::Complete,
        Self::Withdraw,
    ];
}

/// An action that does not apply in the request's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("This is not possible while the request is {}.", .0.label().to_lowercase())]
pub struct NotAllowed(pub RequestStatus);

/// The transition table: the status after `action` in `status`.
pub fn transition(status: RequestStatus, action: Action) -> Result<RequestStatus, NotAllowed> {
    use Action as A;
    use RequestStatus as S;
    let next = match (status, action) {
        (S::Unverified, A::Verify) => S::New,
        (S::New, A::Start) => S::InProgress,
        (S::New | S::InProgress, A::AskRequester) => S::AwaitingRequester,
        (S::AwaitingRequester, A::RequesterReplied) => S::InProgress,
        (S::New | S::InProgress | S::AwaitingRequester, A::Extend) => status,
        (S::New | S::InProgress | S::AwaitingRequester, A::Complete) => S::Completed,
        (S::New | S::InProgress | S::AwaitingRequester, A::Withdraw) => S::Withdrawn,
        _ => return Err(NotAllowed(status)),
    };
    Ok(next)
}

/// Characters of references: no 0/O, 1/I/L or U, so they can be read aloud.
const REFERENCE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new reference such as `PR-7K3D-9QX2`.
pub fn new_reference() -> String {
    let mut rng = rand::rng();
    let mut part = || -> String {
        (0..4)
            .map(|_| REFERENCE_ALPHABET[rng.random_range(0..REFERENCE_ALPHABET.len())] as char)
            .collect()
    };
    format!("PR-{}-{}", part(), part())
}

/// Reads a reference as people type it (case, spaces, missing dashes).
pub fn parse_reference(input: &str) -> Option<String> {
    let compact: String = input
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    let body = compact.strip_prefix("PR").unwrap_or(&compact);
    (body.len() == 8 && body.bytes().all(|b| REFERENCE_ALPHABET.contains(&b)))
        .then(|| format!("PR-{}-{}", &body[..4], &body[4..]))
}

/// The request form as typed by a patient.
#[derive(Clone, Debug, Default)]
pub struct RequestForm {
    pub kind: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub acting_as: String,
    pub subject_name: String,
    pub date_of_birth: String,
    pub patient_number: String,
    pub details: String,
    pub acknowledged: bool,
}

/// A validated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRequest {
    pub kind: RequestKind,
    pub name: String,
    pub email: EmailAddress,
    pub phone: Option<String>,
    pub acting_as: ActingAs,
    pub subject_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub patient_number: Option<String>,
    pub details: String,
}

/// Longest free text of a request.
pub const MAX_DETAILS: usize = 5000;

impl RequestForm {
    /// Checks the form against `today`. Problems are message-catalog keys, so
    /// the form speaks the requester's language.
    pub fn validate(&self, today: NaiveDate) -> Result<NewRequest, FieldErrors> {
        let mut e = FieldErrors::new();
        let kind = self
            .kind
            .parse::<RequestKind>()
            .map_err(|_| e.add("kind", "request-error-kind"))
            .ok();
        let name = match clean_text(&self.name, 200, false) {
            Ok(name) => Some(name),
            Err(super::text::TextError::Empty) => {
                e.add("name", "request-error-name-required");
                None
            }
            Err(super::text::TextError::TooLong { .. }) => {
                e.add("name", "request-error-name-long");
                None
            }
            Err(_) => {
                e.add("name", "request-error-text-invalid");
                None
            }
        };
        let email = EmailAddress::parse(&self.email)
            .map_err(|_| e.add("email", "request-error-email"))
            .ok();
        let phone = match clean_optional_text(&self.phone, 40, false) {
            Ok(Some(phone))
                if phone
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-()/.".contains(c)) =>
            {
                Some(Some(phone))
            }
            Ok(None) => Some(None),
            _ => {
                e.add("phone", "request-error-phone");
                None
            }
        };
        let acting_as = self
            .acting_as
            .parse::<ActingAs>()
            .map_err(|_| e.add("acting_as", "request-error-acting-as"))
            .ok();
        let subject_name = match (
            acting_as,
            clean_optional_text(&self.subject_name, 200, false),
        ) {
            (Some(ActingAs::OwnBehalf), _) => Some(None),
            (Some(_), Ok(Some(subject))) => Some(Some(subject)),
            (Some(_), Ok(None)) => {
                e.add("subject_name", "request-error-subject-required");
                None
            }
            (_, Err(_)) => {
                e.add("subject_name", "request-error-text-invalid");
                None
            }
            (None, Ok(_)) => None,
        };
        let date_of_birth = match self.date_of_birth.trim() {
            "" => Some(None),
            text => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(date)
                    if date <= today
                        && date >= NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(date) =>
                {
                    Some(Some(date))
                }
                _ => {
                    e.add("date_of_birth", "request-error-date-of-birth");
                    None
                }
            },
        };
        let patient_number = clean_optional_text(&self.patient_number, 50, false)
            .map_err(|_| e.add("patient_number", "request-error-patient-number"))
            .ok();
        let details = match clean_optional_text(&self.details, MAX_DETAILS, true) {
            Ok(details) => Some(details.unwrap_or_default()),
            Err(super::text::TextError::TooLong { .. }) => {
                e.add("details", "request-error-details-long");
                None
            }
            Err(_) => {
                e.add("details", "request-error-text-invalid");
                None
            }
        };
        if !self.acknowledged {
            e.add("acknowledged", "request-error-acknowledge");
        }
        match (
            kind,
            name,
            email,
            phone,
            acting_as,
            subject_name,
            date_of_birth,
            patient_number,
            details,
        ) {
            (
                Some(kind),
                Some(name),
                Some(email),
                Some(phone),
                Some(acting_as),
                Some(subject_name),
                Some(date_of_birth),
                Some(patient_number),
                Some(details),
            ) if e.is_empty() => Ok(NewRequest {
                kind,
                name,
                email,
                phone,
                acting_as,
                subject_name,
                date_of_birth,
                patient_number,
                details,
            }),
            _ => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use RequestStatus as S;

    #[test]
    fn the_transition_table_is_exactly_this() {
        let allowed = [
            (S::Unverified, A::Verify, S::New),
            (S::New, A::Start, S::InProgress),
            (S::New, A::AskRequester, S::AwaitingRequester),
            (S::InProgress, A::AskRequester, S::AwaitingRequester),
            (S::AwaitingRequester, A::RequesterReplied, S::InProgress),
            (S::New, A::Extend, S::New),
            (S::InProgress, A::Extend, S::InProgress),
            (S::AwaitingRequester, A::Extend, S::AwaitingRequester),
            (S::New, A::Complete, S::Completed),
            (S::InProgress, A::Complete, S::Completed),
            (S::AwaitingRequester, A::Complete, S::Completed),
            (S::New, A::Withdraw, S::Withdrawn),
            (S::InProgress, A::Withdraw, S::Withdrawn),
            (S::AwaitingRequester, A::Withdraw, S::Withdrawn),
        ];
        for status in S::ALL {
            for action in A::ALL {
                let expected = allowed
                    .iter()
                    .find(|(s, a, _)| *s == status && *a == action)
                    .map(|(_, _, n)| *n);
                assert_eq!(
                    transition(status, action).ok(),
                    expected,
                    "{status:?} + {action:?}"
                );
            }
        }
    }

    #[test]
    fn finished_requests_accept_nothing_more() {
        for action in A::ALL {
            assert_eq!(
                transition(S::Completed, action),
                Err(NotAllowed(S::Completed))
            );
            assert_eq!(
                transition(S::Withdrawn, action),
                Err(NotAllowed(S::Withdrawn))
            );
        }
        assert_eq!(
            NotAllowed(S::AwaitingRequester).to_string(),
            "This is not possible while the request is waiting for requester."
        );
    }

    #[test]
    fn references_are_unambiguous_and_read_back_leniently() {
        let reference = new_reference();
        assert!(
            reference.starts_with("PR-") && reference.len() == 12,
            "{reference}"
        );
        assert!(!reference[3..].contains(['0', 'O', '1', 'I', 'L', 'U']));
        assert_eq!(parse_reference(&reference), Some(reference.clone()));
        assert_eq!(
            parse_reference(" pr 7k3d 9qx2 ").as_deref(),
            Some("PR-7K3D-9QX2")
        );
        assert_eq!(parse_reference("7K3D9QX2").as_deref(), Some("PR-7K3D-9QX2"));
        assert_eq!(parse_reference("PR-0000-0000"), None);
        assert_eq!(parse_reference("PR-7K3D"), None);
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).expect("date")
    }

    fn form() -> RequestForm {
        RequestForm {
            kind: "access".into(),
            name: "Olena Koval".into(),
            email: "olena@example.org".into(),
            acting_as: "self".into(),
            acknowledged: true,
            ..RequestForm::default()
        }
    }

    #[test]
    fn a_minimal_form_is_a_request() {
        let request = form().validate(today()).expect("valid");
        assert_eq!(request.kind, RequestKind::Access);
        assert_eq!(request.subject_name, None);
        assert_eq!(request.details, "");
    }

    #[test]
    fn each_problem_has_its_own_message_key() {
        let bad = RequestForm {
            kind: "everything".into(),
            name: "x".repeat(201),
            email: "nope".into(),
            phone: "call me".into(),
            acting_as: "child".into(),
            subject_name: " ".into(),
            date_of_birth: "2999-01-01".into(),
            details: "d".repeat(MAX_DETAILS + 1),
            acknowledged: false,
            ..form()
        };
        let errors = bad.validate(today()).expect_err("invalid");
        for (field, key) in [
            ("kind", "request-error-kind"),
            ("name", "request-error-name-long"),
            ("email", "request-error-email"),
            ("phone", "request-error-phone"),
            ("subject_name", "request-error-subject-required"),
            ("date_of_birth", "request-error-date-of-birth"),
            ("details", "request-error-details-long"),
            ("acknowledged", "request-error-acknowledge"),
        ] {
            assert_eq!(errors.get(field), Some(key), "{field}");
        }
    }

    #[test]
    fn right_to_left_and_emoji_text_is_accepted_and_control_characters_are_not() {
        let request = RequestForm {
            name: "مريم 👩‍⚕️".into(),
            details: "שלום\nline two".into(),
            ..form()
        }
        .validate(today())
        .expect("valid");
        assert_eq!(request.name, "مريم 👩‍⚕️");
        let errors = RequestForm {
            name: "a\u{0}b".into(),
            ..form()
        }
        .validate(today())
        .expect_err("invalid");
        assert_eq!(errors.get("name"), Some("request-error-text-invalid"));
    }
}
