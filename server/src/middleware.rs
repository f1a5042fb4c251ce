//! Cross-cutting HTTP behaviour: request ids, logging spans, metrics, security
//! headers and styled error pages.

use std::time::Instant;

use app::api::ErrorMessage;
use app::domain::locale::Locale;
use app::pages::error::render_status_document;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use tracing::Instrument as _;

/// Header carrying the request id, set on the request and echoed on the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Security settings that depend on the environment.
#[derive(Clone, Copy, Debug)]
pub struct SecurityOptions {
    /// Send `Strict-Transport-Security` (production, behind HTTPS).
    pub hsts: bool,
}

/// Gives every request a fresh id (a client-supplied one is replaced: it
/// would otherwise let anyone write into our logs), opens the request's
/// logging span and logs its outcome.
pub async fn request_context(mut request: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7().to_string();
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID, value);
    }
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %loggable_path(request.uri().path()),
    );
    async move {
        let started = Instant::now();
        let mut response = next.run(request).await;
        let status = response.status().as_u16();
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::error!(status, elapsed_ms, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, "request");
        }
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        response
    }
    .instrument(span)
    .await
}

/// The path as logged: segments that carry secrets (one-time tokens) are
/// replaced, and query strings are never logged.
pub fn loggable_path(path: &str) -> String {
    const SECRET_AFTER: &[&str] = &[
        "/auth/link/",
        "/email/unsubscribe/",
        "/meta/deletion-status/",
        "/requests/verify/",
        "/requests/downloads/",
        "/invite/",
    ];
    for prefix in SECRET_AFTER {
        if let Some(at) = path.find(prefix) {
            return format!("{}{}***", &path[..at], prefix);
        }
    }
    path.chars().take(200).collect()
}

/// Counts requests and their latency by route template (never by raw path,
/// which would explode the number of series).
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Adds the security headers every response carries. A page that set its own
/// Content-Security-Policy (Leptos pages, with their script nonce) keeps it.
pub async fn security_headers(
    State(options): State<SecurityOptions>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let defaults: [(HeaderName, &str); 6] = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'self'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=(), interest-cohort=()",
        ),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if options.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

/// Replaces the bare bodies of error responses (rejections, timeouts, body
/// limits, handler errors) with the portal's styled page, or with a JSON error
/// for API clients. Responses that already are HTML or JSON are left alone.
pub async fn error_pages(request: Request, next: Next) -> Response {
    let wants_json = request.uri().path().starts_with("/api/")
        || request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"));
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let locale = request_locale(&request);
    let is_head = request.method() == Method::HEAD;
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("text/html") || content_type.starts_with("application/json") {
        return response;
    }
    let message = response
        .extensions()
        .get::<ErrorMessage>()
        .map(|m| m.0.clone())
        .or_else(|| generic_message(status).map(str::to_owned));
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = if wants_json {
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let text =
            message.unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
        serde_json::json!({ "error": text, "request_id": request_id }).to_string()
    } else {
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        render_status_document(status, message, locale, &request_id)
    };
    if is_head {
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(body))
}

fn generic_message(status: StatusCode) -> Option<&'static str> {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            Some("This address does not accept that kind of request.")
        }
        StatusCode::PAYLOAD_TOO_LARGE => Some("The request is too large."),
        StatusCode::REQUEST_TIMEOUT => Some("The request took too long. Please try again."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Some("The request's content type is not supported here.")
        }
        StatusCode::TOO_MANY_REQUESTS => {
            Some("Too many requests. Please wait a moment and try again.")
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            Some("The service is temporarily unavailable. Please try again shortly.")
        }
        _ => None,
    }
}

/// Locale of a request outside the Leptos pages.
fn request_locale(request: &Request) -> Locale {
    let query = app::request::query_param(request.uri().query(), "lang");
    app::request::negotiate_locale(query.as_deref(), request.headers())
}

/// The response for a panic inside a handler: a 500 whose page the
/// `error_pages` layer fills in. The panic message itself goes only to the log.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned());
    tracing::error!(%detail, "handler panicked");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_path_segments_are_not_logged() {
        assert_eq!(loggable_path("/auth/link/abcdef123"), "/auth/link/***");
        assert_eq!(
            loggable_path("/email/unsubscribe/tok"),
            "/email/unsubscribe/***"
        );
        assert_eq!(
            loggable_path("/c/demo/meta/deletion-status/XYZ"),
            "/c/demo/meta/deletion-status/***"
        );
        assert_eq!(
            loggable_path("/c/demo/requests/verify/d3PZc2zBCIL8YPaq"),
            "/c/demo/requests/verify/***"
        );
        assert_eq!(
            loggable_path("/c/demo/requests/downloads/kE8gtftT/file"),
            "/c/demo/requests/downloads/***"
        );
        assert_eq!(loggable_path("/invite/abc"), "/invite/***");
        assert_eq!(loggable_path("/c/demo/privacy"), "/c/demo/privacy");
        assert_eq!(loggable_path(&"x".repeat(500)).len(), 200);
    }
}
