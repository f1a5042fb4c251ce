//! Per-request values that pages read from the Leptos context.

use http::HeaderValue;
use http::header::{CONTENT_SECURITY_POLICY, SET_COOKIE};
use http::request::Parts;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use crate::domain::locale::{self, Locale};

/// The id of the current HTTP request (the `x-request-id` header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The path of the current request, for navigation state and links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentPath(pub String);

/// Whether cookies get the `Secure` flag (production).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecureCookies(pub bool);

/// Name of the language preference cookie.
pub const LANG_COOKIE: &str = "lang";

/// Reads the request (provided by `leptos_axum` as [`Parts`]) and provides the
/// locale, request id and path to the pages. An explicit `?lang=` is
/// remembered in a cookie.
pub fn provide_request_context(secure_cookies: bool) {
    let Some(parts) = use_context::<Parts>() else {
        return;
    };
    let query_lang = query_param(parts.uri.query(), "lang");
    let cookie_lang = cookie(&parts, LANG_COOKIE);
    let locale = negotiate_locale(query_lang.as_deref(), &parts.headers);
    if let Some(chosen) = query_lang.as_deref().and_then(Locale::from_tag)
        && cookie_lang.as_deref() != Some(chosen.tag())
    {
        let secure = if secure_cookies { "; Secure" } else { "" };
        let value = format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}",
            chosen.tag()
        );
        if let (Some(response), Ok(value)) = (
            use_context::<ResponseOptions>(),
            HeaderValue::from_str(&value),
        ) {
            response.append_header(SET_COOKIE, value);
        }
    }
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    provide_context(locale);
    provide_context(RequestId(request_id));
    provide_context(CurrentPath(parts.uri.path().to_owned()));
    provide_context(SecureCookies(secure_cookies));
}

/// The first value of `name` in a query string, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A cookie's value from the request headers.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    cookie_in(&parts.headers, name)
}

/// A cookie's value from request headers.
pub fn cookie_in(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The locale of a request: `?lang=` (given as `query_lang`), then the
/// language cookie, then `Accept-Language`, else English.
pub fn negotiate_locale(query_lang: Option<&str>, headers: &http::HeaderMap) -> Locale {
    let cookie_lang = cookie_in(headers, LANG_COOKIE);
    let accept = headers
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    locale::negotiate(query_lang, cookie_lang.as_deref(), accept, Locale::En)
}

/// The current request id, or an empty string outside a request.
pub fn request_id() -> String {
    use_context::<RequestId>().map(|r| r.0).unwrap_or_default()
}

/// The current path, or `/` outside a request.
pub fn current_path() -> String {
    use_context::<CurrentPath>().map_or_else(|| "/".to_owned(), |p| p.0)
}

/// Answers the page being rendered with `302 Found` to `location`, whatever
/// the client accepts (`leptos_axum::redirect` sets the status only for
/// clients that ask for HTML).
pub fn redirect_to(location: &str) {
    if let (Some(response), Ok(value)) = (
        use_context::<ResponseOptions>(),
        HeaderValue::from_str(location),
    ) {
        response.insert_header(http::header::LOCATION, value);
        response.set_status(http::StatusCode::FOUND);
    }
}

/// Sets the HTTP status of the page being rendered.
pub fn set_status(status: http::StatusCode) {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.set_status(status);
    }
}

/// The Content-Security-Policy of HTML pages: scripts only with this
/// response's nonce, everything else from this origin, no framing.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let scripts = nonce.map_or_else(|| "'none'".to_owned(), |n| format!("'nonce-{n}'"));
    format!(
        "default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'; object-src 'none'"
    )
}

/// Puts the page's CSP on the response being rendered.
pub fn set_content_security_policy() {
    let nonce = leptos::nonce::use_nonce();
    let policy = content_security_policy(nonce.as_deref());
    if let (Some(response), Ok(value)) = (
        use_context::<ResponseOptions>(),
        HeaderValue::from_str(&policy),
    ) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_found_and_decoded() {
        assert_eq!(
            query_param(Some("a=1&lang=uk"), "lang").as_deref(),
            Some("uk")
        );
        assert_eq!(
            query_param(Some("q=a%20b+c"), "q").as_deref(),
            Some("a b c")
        );
        assert_eq!(query_param(Some("q=%zz%"), "q").as_deref(), Some("%zz%"));
        assert_eq!(query_param(Some("flag"), "flag").as_deref(), Some(""));
        assert_eq!(query_param(None, "lang"), None);
    }

    #[test]
    fn csp_allows_only_nonced_scripts() {
        let policy = content_security_policy(Some("abc"));
        assert!(policy.contains("script-src 'nonce-abc'"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(content_security_policy(None).contains("script-src 'none'"));
    }
}
