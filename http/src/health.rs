//! `GET /health` (contract, "Health"): database, storage and queue checked
//! concurrently; answers within 2 s even when a dependency hangs.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use avatar_usecases::app::AppState;

/// Per-check bound, seconds; the checks run concurrently, so the whole
/// answer stays under the contract's 2 s.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

async fn check<E: std::fmt::Display>(
    name: &str,
    fut: impl std::future::Future<Output = Result<(), E>>,
) -> bool {
    match tokio::time::timeout(CHECK_TIMEOUT, fut).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(component = name, error = %e, "health check failed");
            false
        }
        Err(_) => {
            tracing::warn!(component = name, "health check timed out");
            false
        }
    }
}

/// 200 `{"status":"healthy","services":{...},"timestamp"}` or 503 with
/// `"status":"unhealthy"` and the failing component `false`.
pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    let (database, storage, queue) = tokio::join!(
        check("database", state.db.ping()),
        check("storage", state.storage.ping()),
        check("queue", state.delete_queue.ping()),
    );
    let healthy = database && storage && queue;
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "services": {"database": database, "storage": storage, "queue": queue},
        "timestamp": avatar_domain::time::rfc3339(chrono::Utc::now()),
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
