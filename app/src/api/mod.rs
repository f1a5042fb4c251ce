//! Thin entry points between HTTP and the services: page data loaders that
//! read the request's state, and the form handlers behind every POST. Each
//! parses its input, authorizes, calls one service and answers with a
//! redirect, a re-rendered form or an error page.

pub mod admin;
pub mod auth;
pub mod consent;
pub mod forms;
pub mod guard;
pub mod notices;
pub mod pages;
pub mod patient_consent;
pub mod platform;
pub mod public;
pub mod render;
pub mod requests;
pub mod requests_admin;
pub mod retention;
pub mod schema;
pub mod subprocessors;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use http::StatusCode;
use http::header::LOCATION;

use crate::backend::state::AppState;

/// A message for the error page of a response that has no body of its own;
/// the server's error-page layer shows it.
#[derive(Clone, Debug)]
pub struct ErrorMessage(pub String);

/// An error response whose page shows `message`.
pub fn error_page(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = status.into_response();
    response
        .extensions_mut()
        .insert(ErrorMessage(message.into()));
    response
}

/// Keeps `message` in the session for the next page it renders.
pub async fn flash(
    session: &tower_sessions::Session,
    message: crate::backend::auth::visitor::Flash,
) {
    if let Err(e) = session
        .insert(crate::backend::auth::keys::FLASH, message)
        .await
    {
        tracing::warn!(error = %e, "flash message not stored");
    }
}

/// `303 See Other` to `location` (after a successful POST).
pub fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, location.to_owned())]).into_response()
}

/// Every route this module serves besides the Leptos pages, as
/// `(path, handlers)`: the router is built from this list, and the tests
/// enumerate it.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    let mut routes = auth::routes();
    routes.extend(admin::routes());
    routes.extend(platform::routes());
    routes.extend(requests::routes());
    routes.extend(requests_admin::routes());
    routes.extend(notices::routes());
    routes.extend(subprocessors::routes());
    routes.extend(consent::routes());
    routes.extend(patient_consent::routes());
    routes.extend(retention::routes());
    routes
}

/// The routes as a router.
pub fn router() -> Router<AppState> {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, handlers)| {
            router.route(path, handlers)
        })
}
