//! [`ApiError`]: every error a client can see, and the one place it maps
//! to status + JSON.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use avatar_adapters::aws::AwsError;
use avatar_adapters::db::DbError;
use avatar_pipeline::ImageError;
use avatar_usecases::deletion::DeleteError;
use avatar_usecases::originals::IngestError;
use avatar_usecases::renditions::RenderError;
use avatar_usecases::uploads::{LimitError, UploadError};

/// Every error a client can see. [`IntoResponse`] is the one mapping to
/// status + JSON body `{"error": ..., "details"?: ..., extra fields}`;
/// internal causes are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: `X-User-ID` missing (`header` mode).
    #[error("missing user id")]
    Unauthorized,
    /// 401 with `WWW-Authenticate: Bearer`: no bearer token (`jwt` and
    /// `authorizer` modes).
    #[error("missing bearer token")]
    BearerRequired,
    /// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750):
    /// the token is not acceptable; `details` says why.
    #[error("invalid token: {0}")]
    InvalidToken(String),
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
    /// 400: decoding the image would take more memory than the whole
    /// decode budget of the function (`DECODE_MEMORY_MB`).
    #[error("image too large to process")]
    TooLargeToProcess {
        /// What decoding it needs, MiB.
        needed_mib: u64,
        /// The budget, MiB.
        budget_mib: u64,
    },
    /// 404: unknown, deleted or (for image fetches) failed avatar, or a user
    /// with no avatar.
    #[error("avatar not found")]
    AvatarNotFound,
    /// 429 with `Retry-After`: more than `UPLOADS_PER_USER_PER_MINUTE`
    /// uploads this minute.
    #[error("rate limited")]
    RateLimited {
        /// The limit, uploads per minute.
        per_minute: u32,
        /// Seconds until the next minute.
        retry_after: u32,
    },
    /// 409: the user keeps `MAX_AVATARS_PER_USER` avatars already.
    #[error("too many avatars")]
    TooManyAvatars {
        /// The limit.
        max_avatars: u32,
    },
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
    /// 503 with `Retry-After`: a dependency (database, storage, queue) is
    /// unreachable, overloaded or failing inside; retrying later may help.
    /// The cause is logged with its whole chain, never sent.
    #[error("dependency unavailable")]
    Unavailable(#[source] BoxError),
    /// 500: a bug, a misconfiguration or an impossible state (an SQL error,
    /// a constraint violation, an access denied); retrying will not help.
    /// The cause is logged with its whole chain, never sent.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

/// A boxed cause of a 503 or 500.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error and every `source` below it, `: `-separated: what the log says.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

/// The 400 "Invalid file format" details: `Supported formats: jpeg, png,
/// webp, heic, avif` (the formats this build decodes, contract "Upload").
fn supported_formats() -> String {
    let names: Vec<&str> = avatar_pipeline::SourceFormat::accepted()
        .iter()
        .map(|f| f.as_str())
        .collect();
    format!("Supported formats: {}", names.join(", "))
}

impl ApiError {
    /// A 400 with a title and details.
    pub fn bad_request(error: &'static str, details: impl Into<String>) -> Self {
        Self::BadRequest {
            error,
            details: details.into(),
        }
    }

    /// 400 "Invalid crop" (contract, "Upload"): an upload's `crop` that is
    /// malformed, not square within a pixel, smaller than the smallest
    /// thumbnail or not inside the image.
    pub fn invalid_crop(details: impl std::fmt::Display) -> Self {
        Self::bad_request("Invalid crop", details.to_string())
    }

    /// Status and JSON body.
    pub(super) fn parts(&self) -> (StatusCode, Value) {
        match self {
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "Unauthorized", "details": "X-User-ID header is required"}),
            ),
            Self::BearerRequired => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "Unauthorized", "details": "Authorization: Bearer <token> is required"}),
            ),
            Self::InvalidToken(details) => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "Unauthorized", "details": format!("invalid token: {details}")}),
            ),
            Self::InvalidUserId(details) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "Invalid user id", "details": details}),
            ),
            Self::InvalidFileFormat => (
                StatusCode::BAD_REQUEST,
                json!({"error": "Invalid file format", "details": supported_formats()}),
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
            Self::TooLargeToProcess {
                needed_mib,
                budget_mib,
            } => (
                StatusCode::BAD_REQUEST,
                json!({"error": "Image too large to process",
                       "details": format!("decoding it needs {needed_mib} MiB; this service decodes at most {budget_mib} MiB at once")}),
            ),
            Self::RateLimited {
                per_minute,
                retry_after,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": "Rate limited", "retry_after": retry_after,
                       "details": format!("at most {per_minute} uploads per minute; retry in {retry_after} s")}),
            ),
            Self::TooManyAvatars { max_avatars } => (
                StatusCode::CONFLICT,
                json!({"error": "Too many avatars", "max_avatars": max_avatars,
                       "details": format!("a user keeps at most {max_avatars} avatars; delete one first")}),
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
            tracing::error!(error = %Chain(&self), status = status.as_u16(), "request failed");
        }
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::RateLimited { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::BearerRequired => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"avatars\""),
                );
            }
            Self::InvalidToken(details) => {
                // RFC 6750 §3: error_description is quoted, visible ASCII.
                let description: String = details
                    .chars()
                    .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
                    .collect();
                let value = format!(
                    "Bearer realm=\"avatars\", error=\"invalid_token\", error_description=\"{description}\""
                );
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            _ => {}
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_transient() {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Internal(Box::new(e))
        }
    }
}

impl From<AwsError> for ApiError {
    fn from(e: AwsError) -> Self {
        if e.is_transient() {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Internal(Box::new(e))
        }
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
            ImageError::Encode(_) => Self::Internal(Box::new(e)),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Refused(e) => e.into(),
            IngestError::OverBudget(o) => Self::TooLargeToProcess {
                needed_mib: o.needed_mib,
                budget_mib: o.budget_mib,
            },
            IngestError::Crop(e) => Self::invalid_crop(e),
            IngestError::Task(_) => Self::Internal(Box::new(e)),
        }
    }
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        match e {
            RenderError::OriginalMissing => {
                tracing::warn!("original object missing for a visible avatar");
                ApiError::AvatarNotFound
            }
            RenderError::Deleted => ApiError::AvatarNotFound,
            RenderError::Image(e) => ApiError::Internal(format!("stored original: {e}").into()),
            RenderError::Storage(e) => e.into(),
            RenderError::Db(e) => e.into(),
            RenderError::Task(e) => ApiError::Internal(e.into()),
            RenderError::OverBudget(e) => ApiError::Internal(Box::new(e)),
        }
    }
}

impl From<DeleteError> for ApiError {
    fn from(e: DeleteError) -> Self {
        match e {
            DeleteError::NotOwner => Self::Forbidden,
            DeleteError::NotFound => Self::AvatarNotFound,
            DeleteError::Db(e) => e.into(),
        }
    }
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::RateLimited {
                per_minute,
                retry_after,
            } => Self::RateLimited {
                per_minute,
                retry_after,
            },
            LimitError::TooManyAvatars { max_avatars } => Self::TooManyAvatars { max_avatars },
            LimitError::Db(e) => e.into(),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Ingest(e) => e.into(),
            UploadError::Db(e) => e.into(),
            UploadError::Storage(e) => e.into(),
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

    #[test]
    fn every_use_case_error_has_its_contract_status() {
        let status = |e: ApiError| e.parts().0;
        let closed = || DbError::Unavailable(deadpool_postgres::PoolError::Closed);
        let missing_bucket = || AwsError::new("storage", "get", false, "NoSuchBucket");
        let cases = [
            (
                ApiError::from(LimitError::RateLimited {
                    per_minute: 10,
                    retry_after: 3,
                }),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                LimitError::TooManyAvatars { max_avatars: 5 }.into(),
                StatusCode::CONFLICT,
            ),
            (
                LimitError::Db(closed()).into(),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (DeleteError::NotOwner.into(), StatusCode::FORBIDDEN),
            (DeleteError::NotFound.into(), StatusCode::NOT_FOUND),
            (
                UploadError::Ingest(IngestError::Refused(ImageError::UnsupportedFormat)).into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                UploadError::Storage(missing_bucket()).into(),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (RenderError::Deleted.into(), StatusCode::NOT_FOUND),
            (
                RenderError::Db(closed()).into(),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                RenderError::Image(ImageError::Invalid("truncated".into())).into(),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, expected) in cases {
            let shown = format!("{error:?}");
            assert_eq!(status(error), expected, "{shown}");
        }
    }
}
