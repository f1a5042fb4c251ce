//! Rendered public notice pages, kept in memory for a second.
//!
//! Published versions never change, and a notice page is the same for every
//! anonymous reader of one language, so the HTML rendered for one request
//! can answer the next ones without Leptos or the database. An entry is
//! keyed by path and locale and stays fresh for [`FRESH_FOR`]: a version
//! published or taking effect on another node (or from the CLI) is visible
//! here at most that long after. Any change made through this node's admin
//! pages drops every entry at once.
//!
//! The cached body is kept around the request id it was rendered with (the
//! footer shows it), and each answer carries its own. Its ETag is the hash of
//! the rest of the body, weak because of that id: an `If-None-Match` with it
//! gets `304 Not Modified`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use app::backend::clock::Clock;
use app::domain::locale::Locale;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::middleware::REQUEST_ID;

/// How long a rendered page answers without being rendered again.
pub const FRESH_FOR: chrono::TimeDelta = chrono::TimeDelta::seconds(1);
/// Most pages kept; beyond it the cache starts over.
const MAX_ENTRIES: usize = 2_000;
/// Largest page kept.
const MAX_BODY: usize = 2 * 1024 * 1024;

/// Route templates whose pages are cached: the public documents and their
/// versions.
fn cacheable_route(route: &str) -> bool {
    [
        "/privacy",
        "/policies/",
        "/c/{clinic}/privacy",
        "/c/{clinic}/policies/",
    ]
    .iter()
    .any(|prefix| route.starts_with(prefix))
}

/// A piece of a rendered page: its text, or a value that is new in each
/// answer.
enum Part {
    Text(Bytes),
    RequestId,
    Nonce,
}

/// One rendered page.
struct Cached {
    parts: Vec<Part>,
    headers: HeaderMap,
    /// The script nonce in the stored Content-Security-Policy.
    nonce: Option<String>,
    etag: HeaderValue,
    fresh_until: DateTime<Utc>,
}

/// Pages by path and locale.
type Entries = HashMap<(String, Locale), Arc<Cached>>;

/// The cache, shared by every request of one server.
#[derive(Clone)]
pub struct PageCache {
    entries: Arc<RwLock<Entries>>,
    clock: Arc<dyn Clock>,
}

impl PageCache {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            entries: Arc::default(),
            clock,
        }
    }

    fn get(&self, key: &(String, Locale)) -> Option<Arc<Cached>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|c| c.fresh_until > self.clock.now())
            .cloned()
    }

    fn put(&self, key: (String, Locale), page: Cached) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, Arc::new(page));
    }

    /// Drops every page (after a change made through the admin pages).
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Headers of a rendered page that belong to its request, not to the page.
const PER_RESPONSE: [HeaderName; 4] = [
    header::DATE,
    header::CONTENT_LENGTH,
    header::SET_COOKIE,
    REQUEST_ID,
];

/// The request's locale, as the page would negotiate it (requests with a
/// query, which may name one, are not cached).
fn locale_of(headers: &HeaderMap) -> Locale {
    app::request::negotiate_locale(None, headers)
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 13.1.2).
fn matches(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    let ours = ours.strip_prefix(b"W/").unwrap_or(ours);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == ours)
}

/// A script nonce for one answer: 128 random bits.
fn fresh_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

fn answer(page: &Cached, request_headers: &HeaderMap, request_id: &str) -> Response {
    if matches(request_headers, &page.etag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response
            .headers_mut()
            .insert(header::ETAG, page.etag.clone());
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return response;
    }
    // Each answer has its own nonce, in its policy and its script tags.
    let nonce = page.nonce.as_ref().map(|_| fresh_nonce());
    let mut body = Vec::with_capacity(
        page.parts
            .iter()
            .map(|p| match p {
                Part::Text(text) => text.len(),
                _ => 64,
            })
            .sum(),
    );
    for part in &page.parts {
        match part {
            Part::Text(text) => body.extend_from_slice(text),
            Part::RequestId => body.extend_from_slice(request_id.as_bytes()),
            Part::Nonce => body.extend_from_slice(nonce.as_deref().unwrap_or_default().as_bytes()),
        }
    }
    let mut response = Response::new(Body::from(body));
    *response.headers_mut() = page.headers.clone();
    if let (Some(old), Some(new)) = (&page.nonce, &nonce)
        && let Some(policy) = page
            .headers
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
        && let Ok(value) = HeaderValue::from_str(&policy.replace(old.as_str(), new))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
        .headers_mut()
        .insert(header::ETAG, page.etag.clone());
    response
}

/// The script nonce of a Content-Security-Policy (`'nonce-…'`).
fn nonce_of(headers: &HeaderMap) -> Option<String> {
    let policy = headers
        .get(header::CONTENT_SECURITY_POLICY)?
        .to_str()
        .ok()?;
    let rest = policy.split("'nonce-").nth(1)?;
    let nonce = rest.split('\'').next()?;
    (!nonce.is_empty()).then(|| nonce.to_owned())
}

/// Splits a rendered body at the request id and the nonce it shows, and
/// names its content by the rest.
fn entry(body: &Bytes, request_id: &str, headers: HeaderMap, fresh_until: DateTime<Utc>) -> Cached {
    let nonce = nonce_of(&headers);
    // What to look for, and whether it is the nonce (else the request id).
    let mut needles: Vec<(&[u8], bool)> = Vec::new();
    if !request_id.is_empty() {
        needles.push((request_id.as_bytes(), false));
    }
    if let Some(nonce) = &nonce {
        needles.push((nonce.as_bytes(), true));
    }
    let mut parts = Vec::new();
    let mut digest = Sha256::new();
    let (mut at, mut text_from) = (0, 0);
    while at < body.len() {
        let found = needles
            .iter()
            .find(|(needle, _)| body[at..].starts_with(needle));
        match found {
            Some((needle, is_nonce)) => {
                if text_from < at {
                    digest.update(&body[text_from..at]);
                    parts.push(Part::Text(body.slice(text_from..at)));
                }
                parts.push(if *is_nonce {
                    Part::Nonce
                } else {
                    Part::RequestId
                });
                at += needle.len();
                text_from = at;
            }
            None => at += 1,
        }
    }
    if text_from < body.len() {
        digest.update(&body[text_from..]);
        parts.push(Part::Text(body.slice(text_from..)));
    }
    let digest = digest.finalize();
    let etag = HeaderValue::from_str(&format!("W/\"{}\"", hex::encode(&digest[..12])))
        .unwrap_or_else(|_| HeaderValue::from_static("W/\"page\""));
    Cached {
        parts,
        headers,
        nonce,
        etag,
        fresh_until,
    }
}

/// Answers cacheable pages from the cache, and fills it from the pages
/// rendered for anonymous GETs without a query. A successful change through
/// the admin pages clears it.
pub async fn serve(State(cache): State<PageCache>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().clone();
    if method != Method::GET && method != Method::HEAD {
        let admin = request.uri().path().starts_with("/admin/");
        let response = next.run(request).await;
        if admin && (response.status().is_success() || response.status().is_redirection()) {
            cache.clear();
        }
        return response;
    }
    if !route.as_deref().is_some_and(cacheable_route) || request.uri().query().is_some() {
        return next.run(request).await;
    }
    let key = (
        request.uri().path().to_owned(),
        locale_of(request.headers()),
    );
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(page) = cache.get(&key) {
        metrics::counter!("page_cache_total", "outcome" => "hit").increment(1);
        return answer(&page, request.headers(), &request_id);
    }
    metrics::counter!("page_cache_total", "outcome" => "miss").increment(1);
    let request_headers = request.headers().clone();
    let fresh_until = cache.clock.now() + FRESH_FOR;
    let response = next.run(request).await;
    if response.status() != StatusCode::OK || response.headers().contains_key(header::SET_COOKIE) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut headers = parts.headers.clone();
    for name in PER_RESPONSE {
        headers.remove(name);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Language, Cookie"),
    );
    let page = entry(&body, &request_id, headers, fresh_until);
    let response = answer(&page, &request_headers, &request_id);
    if method == Method::GET {
        cache.put(key, page);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_kept_around_its_request_id_and_named_without_it() {
        let now = Utc::now();
        let a = entry(
            &Bytes::from_static(b"<p>notice</p><footer>id-1</footer>"),
            "id-1",
            HeaderMap::new(),
            now,
        );
        let b = entry(
            &Bytes::from_static(b"<p>notice</p><footer>id-22</footer>"),
            "id-22",
            HeaderMap::new(),
            now,
        );
        let texts: Vec<&[u8]> = a
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(&t[..]),
                _ => None,
            })
            .collect();
        assert_eq!(texts, [&b"<p>notice</p><footer>"[..], &b"</footer>"[..]]);
        assert_eq!(a.etag, b.etag, "the request id is not part of the content");
        let c = entry(
            &Bytes::from_static(b"<p>changed</p><footer>id-1</footer>"),
            "id-1",
            HeaderMap::new(),
            now,
        );
        assert_ne!(a.etag, c.etag);
        assert!(a.etag.to_str().is_ok_and(|e| e.starts_with("W/\"")));
    }

    #[test]
    fn each_answer_gets_its_own_request_id_and_nonce() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("script-src 'nonce-n0nce'; style-src 'self'"),
        );
        let page = entry(
            &Bytes::from_static(b"<script nonce=\"n0nce\"></script><p>rid-1</p>"),
            "rid-1",
            headers,
            Utc::now(),
        );
        let first = answer(&page, &HeaderMap::new(), "rid-2");
        let second = answer(&page, &HeaderMap::new(), "rid-3");
        let policy = |r: &Response| {
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let (p1, p2) = (policy(&first), policy(&second));
        assert!(!p1.contains("n0nce") && p1 != p2, "{p1} / {p2}");
        let nonce = p1
            .split("'nonce-")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(nonce.len(), 32);
        let body = futures::executor::block_on(axum::body::to_bytes(first.into_body(), 1 << 20))
            .unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&body),
            format!("<script nonce=\"{nonce}\"></script><p>rid-2</p>")
        );
    }

    #[test]
    fn if_none_match_is_compared_weakly_and_in_lists() {
        let etag = HeaderValue::from_static("W/\"abc\"");
        let mut headers = HeaderMap::new();
        assert!(!matches(&headers, &etag));
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", \"abc\""),
        );
        assert!(matches(&headers, &etag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("W/\"abd\""));
        assert!(!matches(&headers, &etag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(matches(&headers, &etag));
    }

    #[test]
    fn only_public_document_routes_are_cached() {
        for route in [
            "/privacy",
            "/privacy/versions/{number}",
            "/policies/{kind}",
            "/c/{clinic}/privacy",
            "/c/{clinic}/policies/{kind}/versions",
        ] {
            assert!(cacheable_route(route), "{route}");
        }
        for route in [
            "/",
            "/c/{clinic}/requests/new",
            "/admin/c/{clinic}/notices",
            "/login",
        ] {
            assert!(!cacheable_route(route), "{route}");
        }
    }

    #[test]
    fn the_locale_follows_the_cookie_then_accept_language() {
        let mut headers = HeaderMap::new();
        assert_eq!(locale_of(&headers), Locale::En);
        headers.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("uk-UA,uk;q=0.9"),
        );
        assert_eq!(locale_of(&headers), Locale::Uk);
        headers.insert(header::COOKIE, HeaderValue::from_static("a=b; lang=en"));
        assert_eq!(locale_of(&headers), Locale::En);
    }
}
