//! Rendering a Leptos page from a form handler: the page for the same path,
//! with what the user typed and what was wrong with it.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode, Uri};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;

use crate::backend::state::{AppState, Environment};
use crate::domain::forms::FieldErrors;

/// What a re-rendered form shows: the submitted values and the problems.
#[derive(Clone, Debug, Default)]
pub struct FormState {
    pub values: Vec<(String, String)>,
    pub errors: FieldErrors,
    /// A problem with the form as a whole (shown above it).
    pub message: Option<String>,
}

impl FormState {
    /// The submitted value of `name`, if the form was submitted.
    pub fn value(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Something a handler hands to the page it renders.
pub trait PageContext: Clone + Send + Sync + 'static {
    /// Puts the value(s) into the Leptos context.
    fn provide(&self);
}

impl PageContext for FormState {
    fn provide(&self) {
        provide_context(self.clone());
    }
}

impl<A: PageContext, B: PageContext> PageContext for (A, B) {
    fn provide(&self) {
        self.0.provide();
        self.1.provide();
    }
}

/// Implements [`PageContext`] for plain context values.
#[macro_export]
macro_rules! page_context {
    ($($ty:ty),* $(,)?) => {
        $(impl $crate::api::render::PageContext for $ty {
            fn provide(&self) {
                leptos::prelude::provide_context(self.clone());
            }
        })*
    };
}

/// The parts of a request needed to render a page again for it.
#[derive(Clone, Debug)]
pub struct PageRequest {
    uri: Uri,
    headers: HeaderMap,
    extensions: http::Extensions,
}

impl<S: Send + Sync> FromRequestParts<S> for PageRequest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
            extensions: parts.extensions.clone(),
        })
    }
}

impl PageRequest {
    /// The request's id (`x-request-id`), for audit events.
    pub fn request_id(&self) -> Option<String> {
        self.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// A header of the request, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// A cookie of the request.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|h| h.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    /// A query parameter of the request.
    pub fn query(&self, name: &str) -> Option<String> {
        crate::request::query_param(self.uri.query(), name)
    }

    /// The request's path.
    pub fn path(&self) -> String {
        self.uri.path().to_owned()
    }

    /// The language the pages of this request are shown in, chosen as the
    /// page renderer chooses it.
    pub fn locale(&self) -> crate::domain::locale::Locale {
        crate::request::negotiate_locale(self.query("lang").as_deref(), &self.headers)
    }

    /// The same request addressed to another path (a form that posts to
    /// `/x/invite` re-renders the page at `/x`).
    pub fn at(mut self, path: &str) -> Self {
        if let Ok(uri) = path.parse::<Uri>() {
            self.uri = uri;
        }
        self
    }
}

fn options() -> LeptosOptions {
    static OPTIONS: OnceLock<LeptosOptions> = OnceLock::new();
    OPTIONS
        .get_or_init(|| LeptosOptions::builder().output_name("app").build())
        .clone()
}

/// Renders the page at the request's path with `status`, providing `context`
/// (typically a [`FormState`]) to the components.
pub async fn page<T: PageContext>(
    state: &AppState,
    request: PageRequest,
    status: StatusCode,
    context: T,
) -> Response {
    let app_state = state.clone();
    let secure = state.settings.environment == Environment::Production;
    let handler = crate::document::page_handler(
        move || {
            provide_context(app_state.clone());
            crate::request::provide_request_context(secure);
            context.provide();
        },
        || crate::shell(options()),
    );
    let mut builder = Request::builder().method(Method::GET).uri(request.uri);
    if let Some(headers) = builder.headers_mut() {
        *headers = request.headers;
    }
    let mut rebuilt = builder.body(Body::empty()).unwrap_or_default();
    *rebuilt.extensions_mut() = request.extensions;
    let mut response = handler(rebuilt).await;
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

/// Renders the page of a refused form again with `status`: what was
/// submitted, the per-field `errors` and a `message` about the whole form.
pub async fn form_again(
    state: &AppState,
    request: &PageRequest,
    form: &super::forms::FormData,
    status: StatusCode,
    errors: FieldErrors,
    message: Option<String>,
) -> Response {
    let context = FormState {
        values: form.values(),
        errors,
        message,
    };
    page(state, request.clone(), status, context).await
}
