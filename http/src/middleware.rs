//! The layers every HTTP function's router gets from [`super::service`]:
//! the contract's JSON body on every error response, and each request's
//! server span, duration metric and log line.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tracing::Instrument;

/// Turns any error response without a JSON body (axum's 405 with `Allow`,
/// extractor rejections) into the contract's JSON error, keeping headers.
pub(super) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    // Bodies the handlers chose (JSON, or the web form's HTML page) stay.
    let chosen = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || chosen {
        return response;
    }
    let title = match status {
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::PAYLOAD_TOO_LARGE => "File too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported media type",
        s if s.is_server_error() => "Internal server error",
        _ => "Bad request",
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = Json(json!({"error": title}));
    let mut out = (parts.status, body).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE {
            out.headers_mut().insert(name, value.clone());
        }
    }
    out
}

/// Every request in its server span (continuing the caller's trace), with
/// its duration recorded as `http_server_request_duration_seconds` and one
/// log line: method, path, status, duration. Runs after routing (it is a
/// `Router::layer`), so the route template is known.
pub(super) async fn observe_requests(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let function = route
        .as_deref()
        .and_then(|r| crate::routes::function_for(method.as_str(), r));
    let span =
        avatar_telemetry::server_span(&method, route.as_deref(), request.headers(), function);
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if response.status().is_server_error() {
        avatar_telemetry::record_error(&span);
    }
    avatar_telemetry::metrics::http_request(
        method.as_str(),
        route.as_deref().unwrap_or("unmatched"),
        status,
        elapsed,
    );
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            path = %path,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    response
}
