//! Reading submitted forms: the body is parsed only after the per-session
//! form token proves the form came from one of our pages.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::Response;
use http::StatusCode;
use http::header::CONTENT_TYPE;

use super::error_page;
use crate::backend::auth::visitor::Visitor;
use crate::domain::security::form_token_matches;

/// Name of the hidden field carrying the form token.
pub const CSRF_FIELD: &str = "csrf";

/// A submitted `application/x-www-form-urlencoded` form whose token matched.
#[derive(Clone, Debug, Default)]
pub struct FormData {
    pairs: Vec<(String, String)>,
}

impl FormData {
    /// Builds form data from pairs (for tests and re-rendering).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// The first value of `name`, or empty.
    pub fn get(&self, name: &str) -> String {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Every value of `name` (a group of checkboxes), in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a checkbox named `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, v)| k == name && !v.is_empty())
    }

    /// Every pair except the token, to show the user what they typed.
    pub fn values(&self) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .filter(|(k, _)| k != CSRF_FIELD)
            .cloned()
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(error_page(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Please submit this form from the portal's page.",
            ));
        }
        let expected = request
            .extensions()
            .get::<Visitor>()
            .and_then(|v| v.csrf.clone())
            .unwrap_or_default();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "The form is too large. Shorten the text and try again."
                } else {
                    "The form could not be read. Go back and try again."
                };
                error_page(status, message)
            })?;
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        let submitted = pairs
            .iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !form_token_matches(&expected, submitted) {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "This form has expired or was not sent from the portal. Go back, reload the page and try again.",
            ));
        }
        Ok(Self { pairs })
    }
}
