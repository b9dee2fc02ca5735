//! [`ApiError`]: every error a client can see, and the one place it maps
//! to status + JSON.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::aws::AwsError;
use crate::db::DbError;
use crate::originals::IngestError;
use crate::pipeline::ImageError;

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
    pub(super) fn parts(&self) -> (StatusCode, Value) {
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
            DbError::Corrupt { .. } | DbError::Setup(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<AwsError> for ApiError {
    fn from(e: AwsError) -> Self {
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

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Refused(e) => e.into(),
            IngestError::Task(_) => Self::Internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
