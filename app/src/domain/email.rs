//! Email addresses as the portal accepts them.

use std::fmt;

/// A syntactically valid email address, stored with its domain lower-cased.
///
/// The check is deliberately practical rather than a full RFC 5322 parser:
/// one `@`, a non-empty local part of at most 64 characters, a domain with at
/// least one dot made of letters, digits and hyphens, no spaces or quotes, at
/// most 254 characters in all.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

/// Why an email address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("is required")]
    Empty,
    #[error("is not a valid email address")]
    Invalid,
    #[error("is longer than 254 characters")]
    TooLong,
}

impl EmailAddress {
    /// Parses and normalises an address typed by a person.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(EmailError::Empty);
        }
        if input.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = input.rsplit_once('@').ok_or(EmailError::Invalid)?;
        let local_ok = !local.is_empty()
            && local.chars().count() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let domain = domain.to_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.chars().all(char::is_alphabetic));
        if !(local_ok && domain_ok) {
            return Err(EmailError::Invalid);
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`, lower-case.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// A form safe for logs: first character of the local part, then the domain
    /// (`j***@example.org`).
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }

    /// The key used to find one person's records: the whole address lower-cased.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug output is masked so that an address never lands in a log by accident.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

/// Longest header line RFC 5322 (section 2.1.1) asks for, without its CRLF.
pub const HEADER_LINE_LIMIT: usize = 78;

/// Folds an ASCII header value so that each line of `Name: value` stays
/// within [`HEADER_LINE_LIMIT`] where the value allows it: lines break only
/// at its spaces (RFC 5322 folding white space), never inside a token, since
/// angle-bracketed URLs (RFC 2369) and message ids may not contain any. A
/// token longer than a line goes on a line of its own. Returns the value as
/// it follows `Name: `, with `\r\n ` at each fold.
pub fn fold_header(name: &str, value: &str) -> String {
    let mut folded = String::with_capacity(value.len() + 8);
    // Length of the current line so far: `Name: ` on the first.
    let mut line = name.len() + 2;
    let mut first = true;
    // The current line holds nothing but the space that folded it.
    let mut fresh = false;
    for token in value.split(' ').filter(|t| !t.is_empty()) {
        let needed = token.len() + usize::from(!first && !fresh);
        if line + needed > HEADER_LINE_LIMIT && !fresh {
            folded.push_str("\r\n ");
            line = 1;
            fresh = true;
        }
        if !first && !fresh {
            folded.push(' ');
            line += 1;
        }
        folded.push_str(token);
        line += token.len();
        first = false;
        fresh = false;
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_are_accepted_and_domain_lowercased() {
        let email = EmailAddress::parse(" Olena.Koval@Clinic.Example ").expect("valid");
        assert_eq!(email.as_str(), "Olena.Koval@clinic.example");
        assert_eq!(email.domain(), "clinic.example");
        assert_eq!(email.normalized(), "olena.koval@clinic.example");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "plainaddress",
            "@no-local.example",
            "no-domain@",
            "two@@at.example",
            "spaces in@local.example",
            "dot..dot@x.example",
            "x@nodot",
            "x@-bad.example",
            "<script>@x.example",
            "x@x.123",
        ] {
            assert_eq!(EmailAddress::parse(bad), Err(EmailError::Invalid), "{bad}");
        }
        assert_eq!(EmailAddress::parse("  "), Err(EmailError::Empty));
        let long = format!("{}@example.org", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn masked_and_debug_forms_hide_the_local_part() {
        let email = EmailAddress::parse("patient@example.org").expect("valid");
        assert_eq!(email.masked(), "p***@example.org");
        assert_eq!(format!("{email:?}"), "EmailAddress(p***@example.org)");
    }

    #[test]
    fn long_header_values_fold_at_spaces_and_before_their_tokens() {
        use super::{HEADER_LINE_LIMIT, fold_header};
        let url = format!(
            "<https://privacy.example.org/email/unsubscribe/r1234.{}>",
            "A".repeat(22)
        );
        let cases: Vec<(&str, String, String)> = vec![
            (
                "short values stay on one line",
                "<https://a.example/u>".into(),
                "<https://a.example/u>".into(),
            ),
            (
                "a long URL moves to a line of its own",
                url.clone(),
                format!("\r\n {url}"),
            ),
            (
                "words fold at the space that fills the line",
                "a ".repeat(40).trim_end().to_owned(),
                format!(
                    "{}\r\n {}",
                    "a ".repeat(30).trim_end(),
                    "a ".repeat(10).trim_end()
                ),
            ),
            (
                "a token longer than any line is kept whole",
                "x".repeat(100),
                format!("\r\n {}", "x".repeat(100)),
            ),
        ];
        for (what, value, expected) in cases {
            let folded = fold_header("List-Unsubscribe", &value);
            assert_eq!(folded, expected, "{what}");
            let whole = format!("List-Unsubscribe: {folded}");
            for line in whole.split("\r\n") {
                assert!(
                    line.len() <= HEADER_LINE_LIMIT || !line.trim().contains(' '),
                    "{what}: {line:?}"
                );
            }
            // Unfolding (RFC 5322 3.2.2) gives the value back.
            assert_eq!(
                folded.replace("\r\n", "").trim_start(),
                value.trim(),
                "{what}"
            );
        }
    }
}
