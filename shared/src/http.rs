//! HTTP helpers shared by the HTTP functions: the API error type and the one
//! place it maps to status + JSON, the `X-User-ID` extractor, JSON fallbacks
//! for unknown routes and wrong methods, ETag handling.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::db::DbError;
use crate::domain::UserId;
use crate::pipeline::ImageError;
use crate::queue::QueueError;
use crate::storage::StorageError;

/// Header carrying the acting user (contract, "Identity").
pub const USER_ID_HEADER: &str = "x-user-id";

/// Every error a client can see. [`IntoResponse`] is the one mapping to
/// status + JSON body `{"error": ..., "details"?: ..., extra fields}`;
/// internal causes are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: `X-User-ID` missing.
    #[error("missing user id")]
    Unauthorized,
    /// 400: `X-User-ID` (or a user id in the path) malformed.
    #[error("invalid user id: {0}")]
    InvalidUserId(String),
    /// 400: magic bytes are not JPEG, PNG or WebP.
    #[error("invalid file format")]
    InvalidFileFormat,
    /// 400: sniffs as an image but does not decode.
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// 413: more than `max_size` bytes of file data.
    #[error("file too large")]
    FileTooLarge {
        /// The limit, bytes.
        max_size: u64,
    },
    /// 400: decoded dimensions over the pixel budget.
    #[error("image dimensions too large")]
    DimensionsTooLarge {
        /// The budget, pixels.
        max_pixels: u64,
        /// Width × height found in the header, for `details`.
        found: String,
    },
    /// 404: unknown, deleted or (for image fetches) failed avatar, or a user
    /// with no avatar.
    #[error("avatar not found")]
    AvatarNotFound,
    /// 403: deleting another user's avatar.
    #[error("forbidden")]
    Forbidden,
    /// 400 with a title and details (bad query parameter, bad multipart...).
    #[error("{error}: {details}")]
    BadRequest {
        /// Short title.
        error: &'static str,
        /// What was wrong.
        details: String,
    },
    /// 503: a dependency (database, storage, queue) failed; cause logged.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an impossible state; cause logged.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 with a title and details.
    pub fn bad_request(error: &'static str, details: impl Into<String>) -> Self {
        Self::BadRequest {
            error,
            details: details.into(),
        }
    }

    /// Status and JSON body.
    fn parts(&self) -> (StatusCode, Value) {
        match self {
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "Unauthorized", "details": "X-User-ID header is required"}),
            ),
            Self::InvalidUserId(details) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "Invalid user id", "details": details}),
            ),
            Self::InvalidFileFormat => (
                StatusCode::BAD_REQUEST,
                json!({"error": "Invalid file format", "details": "Supported formats: jpeg, png, webp"}),
            ),
            Self::InvalidImage(details) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "Invalid image", "details": details}),
            ),
            Self::FileTooLarge { max_size } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": "File too large", "max_size": max_size}),
            ),
            Self::DimensionsTooLarge { max_pixels, found } => (
                StatusCode::BAD_REQUEST,
                json!({"error": "Image dimensions too large", "max_pixels": max_pixels,
                       "details": format!("{found} is over the budget of {max_pixels} pixels")}),
            ),
            Self::AvatarNotFound => (StatusCode::NOT_FOUND, json!({"error": "Avatar not found"})),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                json!({"error": "Forbidden", "details": "You can only delete your own avatars"}),
            ),
            Self::BadRequest { error, details } => (
                StatusCode::BAD_REQUEST,
                json!({"error": error, "details": details}),
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "Service unavailable", "details": "A dependency is unavailable; retry later"}),
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "Internal server error"}),
            ),
        }
    }
}

impl ApiError {
    /// One sentence for a person, built from the same fields as the JSON
    /// body (the web form's error page; the pages' JavaScript words the
    /// JSON the same way).
    pub fn human_message(&self) -> String {
        let (_, body) = self.parts();
        match self {
            Self::FileTooLarge { max_size } => format!(
                "The file is larger than the limit of {}.",
                human_bytes(*max_size)
            ),
            Self::InvalidFileFormat => {
                "This file is not a JPEG, PNG or WebP image; choose one of those.".into()
            }
            Self::Unauthorized => "Enter your user id before uploading.".into(),
            _ => match body.get("details").and_then(Value::as_str) {
                Some(details) => format!("{}: {details}.", body["error"].as_str().unwrap_or("")),
                None => format!("{}.", body["error"].as_str().unwrap_or("Error")),
            },
        }
    }

    /// The same status as [`IntoResponse`], with a small HTML page carrying
    /// [`ApiError::human_message`] and a link back to the upload page; for
    /// HTML form posts from a browser (`POST /web/upload`).
    pub fn into_html_response(self) -> Response {
        let message = html_escape(&self.human_message());
        let page = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Upload failed</title><link rel=\"stylesheet\" href=\"/web/assets/app.css\"></head>\
             <body><main class=\"page\"><h1>Upload failed</h1>\
             <p class=\"message error\" role=\"alert\">{message}</p>\
             <p><a href=\"/web/upload\">Try again</a></p></main></body></html>\n"
        );
        let mut response = self.into_response();
        *response.body_mut() = axum::body::Body::from(page);
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    }
}

/// `n` bytes as a person says it: `10 MiB`, `512 KiB`, `100 bytes`.
pub fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = KIB * KIB;
    if n >= MIB {
        format!("{} MiB", trim_decimal(n as f64 / MIB as f64))
    } else if n >= KIB {
        format!("{} KiB", trim_decimal(n as f64 / KIB as f64))
    } else {
        format!("{n} bytes")
    }
}

fn trim_decimal(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// Escapes text for an HTML text node or quoted attribute.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether the client prefers an HTML answer: its `Accept` names
/// `text/html` (browsers navigating or posting a form do; API clients and
/// `fetch` default to `*/*`).
pub fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let refused = parts.any(|p| p.replace(' ', "") == "q=0");
            media.eq_ignore_ascii_case("text/html") && !refused
        })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, status = status.as_u16(), "request failed");
        }
        let mut response = (status, Json(body)).into_response();
        if matches!(self, Self::Unavailable(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) | DbError::Query(_) => Self::Unavailable(e.to_string()),
            DbError::Corrupt(_) | DbError::Setup(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::UnsupportedFormat => Self::InvalidFileFormat,
            ImageError::Invalid(details) => Self::InvalidImage(details),
            ImageError::TooManyPixels {
                width,
                height,
                max_pixels,
            } => Self::DimensionsTooLarge {
                max_pixels,
                found: format!("{width}x{height}"),
            },
            ImageError::Encode(_) => Self::Internal(e.to_string()),
        }
    }
}

/// Parses a user id from a path segment or header value (400 on failure).
///
/// # Errors
/// [`ApiError::InvalidUserId`].
pub fn parse_user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::InvalidUserId(e.to_string()))
}

/// Extractor for the `X-User-ID` header: 401 when missing, 400 when malformed.
#[derive(Debug, Clone)]
pub struct ActingUser(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for ActingUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(USER_ID_HEADER)
            .ok_or(ApiError::Unauthorized)?;
        let raw = value
            .to_str()
            .map_err(|_| ApiError::InvalidUserId("user id must be ASCII".into()))?;
        Ok(Self(parse_user_id(raw)?))
    }
}

/// The query string as a map; 400 JSON (not axum's plain-text rejection)
/// when it does not parse.
///
/// # Errors
/// [`ApiError::BadRequest`].
pub fn query_map(uri: &Uri) -> Result<HashMap<String, String>, ApiError> {
    Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::bad_request("Invalid query", e.body_text()))
}

/// Strong ETag value (without quotes) of `bytes`: the first 128 bits of
/// their SHA-256, hex (contract: `ETag: "<hash of the bytes served>"`).
pub fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `If-None-Match` matches `etag` (RFC 9110 §13.1.2: weak
/// comparison, `*` matches any current representation, comma-separated list).
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == etag)
}

/// The JSON answer for a route that does not exist.
pub async fn route_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "Not found", "details": "No such route"})),
    )
        .into_response()
}

/// Turns any error response without a JSON body (axum's 405 with `Allow`,
/// extractor rejections) into the contract's JSON error, keeping headers.
async fn json_errors(response: Response) -> Response {
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

/// One JSON log line per request: method, path, status, duration.
async fn log_requests(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// Finishes a router of API routes as a deployable service: `GET /health`,
/// JSON 404 for unknown routes, JSON 405 (with `Allow`) for wrong methods.
/// Each HTTP function's binary serves `service(function::routes(state))`;
/// the local gateway merges every function's routes first, then calls this
/// once.
pub fn service(routes: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    routes
        .route("/health", get(crate::health::health))
        .fallback(route_not_found)
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn(log_requests))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_is_stable_and_short() {
        let a = etag_of(b"hello");
        assert_eq!(a.len(), 32);
        assert_eq!(a, etag_of(b"hello"));
        assert_ne!(a, etag_of(b"hellp"));
    }

    #[test]
    fn if_none_match_forms() {
        let mut h = HeaderMap::new();
        assert!(!if_none_match(&h, "abc"));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abc\""));
        assert!(if_none_match(&h, "abc"));
        assert!(!if_none_match(&h, "abd"));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(if_none_match(&h, "abc"));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(if_none_match(&h, "anything"));
    }

    #[test]
    fn errors_map_to_contract_bodies() {
        let (s, b) = ApiError::FileTooLarge {
            max_size: 10_485_760,
        }
        .parts();
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            b,
            json!({"error": "File too large", "max_size": 10_485_760})
        );
        let (s, b) = ApiError::Unauthorized.parts();
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(b["details"], "X-User-ID header is required");
        let (s, b) = ApiError::Internal("SELECT secret FROM s3://bucket/key".into()).parts();
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!b.to_string().contains("secret"));
    }

    #[test]
    fn html_errors_for_people() {
        let mut h = HeaderMap::new();
        assert!(!accepts_html(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(!accepts_html(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
        );
        assert!(accepts_html(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html;q=0"));
        assert!(!accepts_html(&h));

        assert_eq!(human_bytes(10_485_760), "10 MiB");
        assert_eq!(human_bytes(1_572_864), "1.5 MiB");
        assert_eq!(human_bytes(2048), "2 KiB");
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );

        let e = ApiError::FileTooLarge {
            max_size: 10_485_760,
        };
        assert_eq!(
            e.human_message(),
            "The file is larger than the limit of 10 MiB."
        );
        let e = ApiError::InvalidImage("<script>".into());
        assert_eq!(e.human_message(), "Invalid image: <script>.");
        let r = e.into_html_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
    }
}
