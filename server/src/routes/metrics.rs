//! `/metrics` in the Prometheus text format.

use std::sync::{Arc, OnceLock};

use app::backend::db::schema::email_deliveries;
use app::backend::jobs;
use app::backend::tenancy::Scope;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, StatusCode};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::ServerState;

/// The process-wide metrics recorder.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

impl Metrics {
    /// Installs the recorder once per process; later calls share it.
    pub fn install() -> Option<Self> {
        HANDLE
            .get_or_init(|| {
                let buckets = [
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ];
                PrometheusBuilder::new()
                    .set_buckets_for_metric(
                        Matcher::Full("http_request_duration_seconds".into()),
                        &buckets,
                    )
                    .and_then(|b| b.install_recorder())
                    .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                    .ok()
            })
            .clone()
            .map(|handle| Self { handle })
    }
}

/// Sets `gauge{label=value}` for each expected value, zero where `counts`
/// has no row for it (so a series does not vanish when its count drops to 0).
fn set_gauges(
    gauge: &'static str,
    label: &'static str,
    values: &[&'static str],
    counts: &[(String, i64)],
) {
    for value in values {
        let count = counts
            .iter()
            .find(|(v, _)| v == value)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(gauge, label => *value).set(count as f64);
    }
}

/// Who may read `/metrics`, and where.
#[derive(Clone, Debug, Default)]
pub struct MetricsAccess {
    /// `PORTAL_METRICS_TOKEN`: required as `Authorization: Bearer …`.
    pub token: Option<Arc<SecretString>>,
    /// `PORTAL_METRICS_BIND` is set: the portal's own listener has no
    /// `/metrics`, the metrics listener serves it.
    pub separate_listener: bool,
}

impl MetricsAccess {
    /// Whether `headers` carry the token (always, when none is set).
    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let offered = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        bool::from(
            offered
                .trim()
                .as_bytes()
                .ct_eq(token.expose_secret().as_bytes()),
        )
    }
}

/// The router of the separate metrics listener: `/metrics` alone.
pub fn separate_router(state: ServerState) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(state)
}

/// Refreshes the gauges read from the database, then renders everything;
/// without the configured token, 401 and nothing read.
pub async fn render(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    if !state.metrics_access.allows(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
            "The metrics need the bearer token set in PORTAL_METRICS_TOKEN.\n",
        )
            .into_response();
    }
    match jobs::counts_by_status(&state.app.db).await {
        Ok(counts) => set_gauges(
            "portal_jobs",
            "status",
            &["pending", "running", "done", "failed"],
            &counts,
        ),
        Err(e) => tracing::warn!(error = %e, "metrics: job counts unavailable"),
    }
    let deliveries = state
        .app
        .db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                let rows = email_deliveries::table
                    .group_by(email_deliveries::status)
                    .select((email_deliveries::status, diesel::dsl::count_star()))
                    .load::<(String, i64)>(c)
                    .await?;
                Ok::<_, app::backend::db::DbError>(rows)
            })
        })
        .await;
    match deliveries {
        Ok(counts) => set_gauges(
            "portal_email_deliveries",
            "outcome",
            &["sent", "failed"],
            &counts,
        ),
        Err(e) => tracing::warn!(error = %e, "metrics: email counts unavailable"),
    }
    let (in_use, idle) = state.app.db.pool_status();
    metrics::gauge!("portal_db_connections", "state" => "in_use").set(in_use as f64);
    metrics::gauge!("portal_db_connections", "state" => "idle").set(idle as f64);
    let text = state
        .metrics
        .as_ref()
        .map(|m| m.handle.render())
        .unwrap_or_default();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}
