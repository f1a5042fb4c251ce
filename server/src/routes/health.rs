//! Liveness and readiness probes.

use app::backend::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

/// `/healthz`: the process is up and serving.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `/readyz`: the database answers and every embedded migration is applied.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let database = state.db.ping().await;
    let pending = match &database {
        Ok(()) => state
            .db
            .pending_migrations()
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match (database, pending) {
        (Ok(()), Ok(pending)) if pending.is_empty() => {
            Json(json!({ "status": "ready", "database": "ok", "migrations": "ok" })).into_response()
        }
        (Ok(()), Ok(pending)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "database": "ok", "migrations": { "pending": pending } })),
        )
            .into_response(),
        (Err(_), _) | (_, Err(_)) => {
            tracing::warn!("readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "database": "unreachable" })),
            )
                .into_response()
        }
    }
}
