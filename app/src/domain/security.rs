//! Request-forgery checks on state-changing requests.

use subtle::ConstantTimeEq;

/// The `scheme://host[:port]` part of a URL, lower-case.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    if host.is_empty()
        || !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
    {
        return None;
    }
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    ))
}

/// Whether a state-changing request comes from one of `allowed` origins: its
/// `Origin` header when present, else the origin of its `Referer`. A request
/// with neither is refused (browsers send `Origin` on every form POST).
pub fn request_is_same_origin(
    allowed: &[String],
    origin: Option<&str>,
    referer: Option<&str>,
) -> bool {
    let claimed = match origin {
        Some("null") => return false,
        Some(origin) => origin_of(origin),
        None => referer.and_then(origin_of),
    };
    claimed.is_some_and(|claimed| allowed.iter().any(|a| a.eq_ignore_ascii_case(&claimed)))
}

/// Compares a submitted form token with the session's in constant time.
pub fn form_token_matches(expected: &str, submitted: &str) -> bool {
    !expected.is_empty() && expected.as_bytes().ct_eq(submitted.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["https://privacy.example.org".to_owned()]
    }

    #[test]
    fn origins_are_scheme_and_host() {
        assert_eq!(
            origin_of("https://Privacy.Example.org/admin?x=1").as_deref(),
            Some("https://privacy.example.org")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:3000").as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("ftp://x.example/"), None);
    }

    #[test]
    fn same_origin_requests_pass_and_foreign_ones_do_not() {
        assert!(request_is_same_origin(
            &allowed(),
            Some("https://privacy.example.org"),
            None
        ));
        assert!(request_is_same_origin(
            &allowed(),
            None,
            Some("https://privacy.example.org/login")
        ));
        assert!(!request_is_same_origin(
            &allowed(),
            Some("https://evil.example"),
            Some("https://privacy.example.org/")
        ));
        assert!(!request_is_same_origin(&allowed(), Some("null"), None));
        assert!(!request_is_same_origin(&allowed(), None, None));
        assert!(!request_is_same_origin(
            &allowed(),
            Some("https://privacy.example.org.evil.example"),
            None
        ));
    }

    #[test]
    fn form_tokens_must_match_exactly() {
        assert!(form_token_matches("abc", "abc"));
        assert!(!form_token_matches("abc", "abd"));
        assert!(!form_token_matches("abc", ""));
        assert!(!form_token_matches("", ""));
    }
}
