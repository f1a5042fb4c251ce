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

use crate::auth_layer::{self, OriginPolicy};
use crate::middleware::{self, SecurityOptions};

/// Paths of the JSON API: answered without sessions, visitor or the
/// portal's own Origin check, since they serve other sites' pages (CORS) and
/// set no portal cookie.
fn is_json_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// Adds the handlers of `app::api` whose path `include` accepts.
trait MergeFormRoutes {
    fn merge_form_routes(self, state: AppState, include: fn(&str) -> bool) -> Self;
}

impl<S: Clone + Send + Sync + 'static> MergeFormRoutes for Router<S> {
    fn merge_form_routes(self, state: AppState, include: fn(&str) -> bool) -> Self {
        app::api::routes()
            .into_iter()
            .filter(|(path, _)| include(path))
            .fold(self, |router, (path, handlers)| {
                router.route(path, handlers.with_state(state.clone()))
            })
    }
}

/// State shared by all routes.
#[derive(Clone)]
pub struct ServerState {
    pub app: AppState,
    pub leptos: LeptosOptions,
    pub metrics: Option<metrics::Metrics>,
    pub metrics_access: metrics::MetricsAccess,
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

/// Largest request body a handler reads by default (forms, JSON); the
/// upload route raises it for itself.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Largest request body accepted at all, refused from its declared length
/// before anything is read.
pub const UPLOAD_LIMIT: usize = app::api::requests_admin::UPLOAD_LIMIT;
/// Longest a request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the whole application router.
pub fn router(state: ServerState, security: SecurityOptions) -> Router {
    let secure_cookies = security.hsts;
    let app_state = state.app.clone();
    let origin_policy = OriginPolicy {
        allowed: std::sync::Arc::new(vec![app_state.settings.origin()]),
        accept_host: app_state.settings.environment
            == app::backend::state::Environment::Development,
    };
    let sessions = auth_layer::session_layer(&app_state);
    let pages = crate::page_cache::PageCache::new(app_state.clock.clone());
    let forms = app_state.clone();
    let visitors = app_state.clone();
    let context = move || {
        provide_context(app_state.clone());
        app::request::provide_request_context(secure_cookies);
    };
    let leptos_routes = generate_route_list(app::App);
    // Every page, and every path no route matches (rendered by the Leptos
    // router's fallback, which sets the 404 status), as a complete document.
    let render = app::document::page_handler(context, {
        let options = state.leptos.clone();
        move || app::shell(options.clone())
    });
    let not_found = render.clone();

    let base = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    let base = if state.metrics_access.separate_listener {
        base
    } else {
        base.route("/metrics", get(metrics::render))
    };
    base.route("/assets/{file}", get(assets::serve))
        .route("/robots.txt", get(assets::robots))
        .leptos_routes_with_handler(leptos_routes, move |request: axum::extract::Request| {
            render(request)
        })
        .merge_form_routes(forms.clone(), |path| !is_json_api(path))
        .fallback(move |request: axum::extract::Request| not_found(request))
        .with_state(state)
        // Listed from the innermost layer out: origin check, visitor and
        // session next to the handlers, the page cache around them (the JSON
        // API, merged after them, has none of the four); limits and panics; then the layers that shape
        // every response, whatever produced it.
        .layer(axum::middleware::from_fn_with_state(
            origin_policy,
            auth_layer::check_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            visitors,
            auth_layer::load_visitor,
        ))
        .layer(sessions)
        // Notice pages answered from memory skip the session and the render.
        .layer(axum::middleware::from_fn_with_state(
            pages,
            crate::page_cache::serve,
        ))
        .merge(Router::new().merge_form_routes(forms, is_json_api))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(UPLOAD_LIMIT))
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
