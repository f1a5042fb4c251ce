//! Rules of single sign-on connections.

use std::str::FromStr;

use super::clinic::InvalidValue;
use super::email::EmailAddress;
use super::roles::ClinicRole;

/// How people who sign in through a connection become members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipMode {
    /// Only people who are already members or hold an open invitation.
    Invitation,
    /// Anyone from an allowed domain joins with the default role.
    JustInTime,
}

impl MembershipMode {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::JustInTime => "just_in_time",
        }
    }
}

impl FromStr for MembershipMode {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "invitation" => Ok(Self::Invitation),
            "just_in_time" => Ok(Self::JustInTime),
            _ => Err(InvalidValue("invitation or just_in_time")),
        }
    }
}

/// The role given to members who join just in time; never Owner.
pub fn parse_default_role(input: &str) -> Result<ClinicRole, InvalidValue> {
    match input.parse::<ClinicRole>() {
        Ok(ClinicRole::Owner) | Err(_) => Err(InvalidValue("admin, privacy_officer or viewer")),
        Ok(role) => Ok(role),
    }
}

/// An email domain such as `clinic.example`, lower-case.
pub fn parse_domain(input: &str) -> Result<String, InvalidValue> {
    let domain = input.trim().trim_start_matches('@').to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    if ok {
        Ok(domain)
    } else {
        Err(InvalidValue("a domain such as clinic.example"))
    }
}

/// Parses a list of domains separated by commas, spaces or lines; at least one.
pub fn parse_domains(input: &str) -> Result<Vec<String>, InvalidValue> {
    let mut domains = Vec::new();
    for part in input
        .split([',', ' ', '\n', '\r', '\t'])
        .filter(|p| !p.trim().is_empty())
    {
        let domain = parse_domain(part)?;
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    if domains.is_empty() {
        return Err(InvalidValue(
            "at least one email domain, such as clinic.example",
        ));
    }
    Ok(domains)
}

/// The issuer of an identity provider: `https://`, or `http://` on the local
/// machine only (a development provider).
pub fn parse_issuer(input: &str) -> Result<String, InvalidValue> {
    let expected = InvalidValue("an https:// issuer URL (http:// only for localhost)");
    let input = input.trim().trim_end_matches('/');
    let (scheme, rest) = input.split_once("://").ok_or(expected.clone())?;
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    let local = host == "localhost" || host == "127.0.0.1" || host == "[::1]";
    let ok = !host.is_empty()
        && !input.contains(['?', '#', ' ', '@'])
        && (scheme == "https" || (scheme == "http" && local));
    if ok {
        Ok(input.to_owned())
    } else {
        Err(expected)
    }
}

/// Whether `email`'s domain is one of `domains`.
pub fn email_in_domains(email: &EmailAddress, domains: &[String]) -> bool {
    domains.iter().any(|d| d == email.domain())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_validated() {
        assert_eq!(
            parse_domain(" @Clinic.Example "),
            Ok("clinic.example".into())
        );
        assert!(parse_domain("clinic").is_err());
        assert!(parse_domain("-x.example").is_err());
        assert!(parse_domain("x.example/evil").is_err());
        assert_eq!(
            parse_domains("clinic.example, staff.clinic.example\nclinic.example"),
            Ok(vec!["clinic.example".into(), "staff.clinic.example".into()])
        );
        assert!(parse_domains("  ").is_err());
    }

    #[test]
    fn issuers_must_be_https_except_on_this_machine() {
        assert_eq!(
            parse_issuer("https://login.example.org/realms/x/"),
            Ok("https://login.example.org/realms/x".into())
        );
        assert!(parse_issuer("http://127.0.0.1:4455").is_ok());
        assert!(parse_issuer("http://login.example.org").is_err());
        assert!(parse_issuer("https://user@login.example.org").is_err());
        assert!(parse_issuer("login.example.org").is_err());
    }

    #[test]
    fn just_in_time_members_never_become_owners() {
        assert_eq!(parse_default_role("viewer"), Ok(ClinicRole::Viewer));
        assert!(parse_default_role("owner").is_err());
    }

    #[test]
    fn email_domains_are_matched_exactly() {
        let email = EmailAddress::parse("dr@Clinic.Example").expect("valid");
        assert!(email_in_domains(&email, &["clinic.example".into()]));
        assert!(!email_in_domains(&email, &["example".into()]));
        let sub = EmailAddress::parse("dr@evilclinic.example").expect("valid");
        assert!(!email_in_domains(&sub, &["clinic.example".into()]));
    }
}
