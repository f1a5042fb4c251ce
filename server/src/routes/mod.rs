//! Endpoints that are not Leptos pages, and the router that joins them.

pub mod assets;
pub mod health;
pub mod metrics;

use std::time::Duration;

use app::backend::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::get;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::middleware::{self, SecurityOptions};

/// State shared by all routes.
#[derive(Clone)]
pub struct ServerState {
    pub app: AppState,
    pub leptos: LeptosOptions,
    pub metrics: Option<metrics::Metrics>,
}

impl FromRef<ServerState> for LeptosOptions {
    fn from_ref(state: &ServerState) -> Self {
        state.leptos.clone()
    }
}

impl FromRef<ServerState> for AppState {
    fn from_ref(state: &ServerState) -> Self {
        state.app.clone()
    }
}

/// Largest request body accepted by default (forms, JSON). Upload routes
/// raise it for themselves.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Longest a request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the whole application router.
pub fn router(state: ServerState, security: SecurityOptions) -> Router {
    let secure_cookies = security.hsts;
    let app_state = state.app.clone();
    let context = move || {
        provide_context(app_state.clone());
        app::request::provide_request_context(secure_cookies);
    };
    let leptos_routes = generate_route_list(app::App);
    // Paths no route matches are rendered by the Leptos router's fallback,
    // which sets the 404 status.
    let not_found = leptos_axum::render_app_async_with_context(context.clone(), {
        let options = state.leptos.clone();
        move || app::shell(options.clone())
    });

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/assets/{file}", get(assets::serve))
        .route("/robots.txt", get(assets::robots))
        .leptos_routes_with_context(&state, leptos_routes, context, {
            let options = state.leptos.clone();
            move || app::shell(options.clone())
        })
        .fallback(move |request: axum::extract::Request| {
            let not_found = not_found.clone();
            async move { not_found(request).await }
        })
        .with_state(state)
        // Listed from the innermost layer out: limits and panics first, then
        // the layers that shape every response, whatever produced it.
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn(middleware::error_pages))
        .layer(axum::middleware::from_fn_with_state(
            security,
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn(middleware::record_metrics))
        .layer(axum::middleware::from_fn(middleware::request_context))
}
