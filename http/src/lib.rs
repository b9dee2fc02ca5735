//! `avatar-http`, the HTTP edge every HTTP function shares, one concern a
//! module:
//!
//! * [`api`]: the JSON shapes of the contract and the OpenAPI document;
//! * [`routes`]: the route table (which function serves which route);
//! * [`health`]: `GET /health`;
//!
//! * [`error`]: [`ApiError`] and the one place it maps to status + JSON;
//! * [`extract`]: the acting user ([`ActingUser`]), the visible avatar of
//!   the path ([`VisibleAvatar`]), the query string;
//! * [`conditional`]: ETags on the wire and `304 Not Modified`;
//! * [`html`]: the web form's error page and `Accept: text/html`;
//! * `middleware`: JSON bodies for every error response; each request's
//!   server span, duration metric and log line;
//!
//! and [`service`], which finishes a function's routes as a deployable
//! router.

#![warn(missing_docs)]

pub mod api;
pub mod conditional;
pub mod error;
pub mod extract;
pub mod health;
pub mod html;
mod middleware;
pub mod routes;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub use conditional::{etag_header, if_none_match, not_modified};
pub use error::{ApiError, Chain};
pub use extract::{parse_user_id, query_map, ActingUser, VisibleAvatar, USER_ID_HEADER};
pub use html::{accepts_html, html_escape, human_bytes, lists_media_type};

use avatar_usecases::app::AppState;

/// The JSON answer for a route that does not exist.
pub async fn route_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "Not found", "details": "No such route"})),
    )
        .into_response()
}

/// Finishes a router of API routes as a deployable service: `GET /health`,
/// JSON 404 for unknown routes, JSON 405 (with `Allow`) for wrong methods.
/// Each HTTP function's binary serves `service(function::routes(state))`;
/// the local gateway merges every function's routes first, then calls this
/// once.
pub fn service(routes: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    let cors = cors(&state.config.cors_allowed_origins);
    let router = routes
        .route("/health", get(crate::health::health))
        .fallback(route_not_found)
        .layer(axum::middleware::map_response(middleware::json_errors))
        .layer(axum::middleware::from_fn(middleware::observe_requests));
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
    .with_state(state)
}

/// CORS for `CORS_ALLOWED_ORIGINS` (none when empty): a front end on one
/// of those origins may call the API from a browser, preflight included,
/// with the headers the API reads (`Authorization`, `X-User-ID`,
/// `Idempotency-Key`, `If-None-Match`, `Content-Type`) and may read the ones
/// it answers (`ETag`, `Location`, `Retry-After`, `WWW-Authenticate`).
/// Outermost, so error answers carry the headers too.
pub fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_NONE_MATCH,
                HeaderName::from_static(USER_ID_HEADER),
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
