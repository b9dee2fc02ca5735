//! Response bodies of the JSON API (contract, "Upload" and "Metadata").

use serde::Serialize;

use avatar_adapters::config::Config;
use avatar_adapters::db::{AvatarRow, VariantRow};
use avatar_domain::time::rfc3339;
use avatar_domain::{AvatarId, Size, Status};

/// The OpenAPI 3.0 document of the whole contract, hand-kept in
/// `http/openapi.json` and served at `GET /api/v1/openapi.json`. A test
/// (`routes::tests`) keeps its operations equal to the route table, and
/// schemathesis checks the running service against it (`make test`).
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// Path of an avatar's image: `/api/v1/avatars/{id}`.
pub fn avatar_path(id: AvatarId) -> String {
    format!("/api/v1/avatars/{id}")
}

/// 201 body of an upload: `{"id","user_id","url","status","created_at"}`.
#[derive(Debug, Serialize)]
pub struct AvatarCreated {
    /// Avatar id.
    pub id: AvatarId,
    /// Owner.
    pub user_id: String,
    /// Where the image can be fetched (absolute with `PUBLIC_BASE_URL`).
    pub url: String,
    /// Always `processing` for a new upload; a replay reports the current status.
    pub status: Status,
    /// RFC 3339 UTC.
    pub created_at: String,
}

impl AvatarCreated {
    /// The body for `avatar`.
    pub fn new(config: &Config, avatar: &AvatarRow) -> Self {
        Self {
            id: avatar.id,
            user_id: avatar.user_id.to_string(),
            url: config.public_url(&avatar_path(avatar.id)),
            status: avatar.status,
            created_at: rfc3339(avatar.created_at),
        }
    }
}

/// 201 body of `POST /api/v1/avatars/uploads`: `{"id", "upload"}`.
#[derive(Debug, Serialize)]
pub struct DirectUploadCreated {
    /// The avatar the file becomes (404 on every read until the file has
    /// arrived and passed validation).
    pub id: AvatarId,
    /// Where and how to send the bytes.
    pub upload: PresignedRequest,
}

/// A presigned storage request: `{"method","url","headers","expires_at"}`.
/// The client sends the file as the whole body of `method url` with exactly
/// these headers (they are signed; S3 refuses anything else).
#[derive(Debug, Serialize)]
pub struct PresignedRequest {
    /// `PUT`.
    pub method: &'static str,
    /// The presigned URL.
    pub url: String,
    /// Headers to send as they are (`content-type`, `content-length`).
    pub headers: std::collections::BTreeMap<String, String>,
    /// RFC 3339 UTC; the URL is refused after it.
    pub expires_at: String,
}

/// `{"width","height"}` in pixels, as displayed (EXIF orientation applied).
#[derive(Debug, Serialize)]
pub struct Dimensions {
    /// Pixels.
    pub width: i32,
    /// Pixels.
    pub height: i32,
}

/// One entry of `thumbnails`: `{"size":"100x100","url":"..."}`.
#[derive(Debug, Serialize)]
pub struct ThumbnailLink {
    /// `100x100`, `300x300`, `1200x1200` (or another configured square).
    pub size: String,
    /// `/api/v1/avatars/{id}?size=...`.
    pub url: String,
}

/// The metadata document (contract, "Metadata").
#[derive(Debug, Serialize)]
pub struct AvatarMetadata {
    /// Avatar id.
    pub id: AvatarId,
    /// Owner.
    pub user_id: String,
    /// Uploaded file name (sanitised).
    pub file_name: String,
    /// MIME type of the stored original.
    pub mime_type: &'static str,
    /// Bytes of the stored original (after metadata stripping).
    pub size: i64,
    /// Displayed dimensions of the original.
    pub dimensions: Dimensions,
    /// The square the thumbnails are cut from, in the displayed image's
    /// pixels; `null`: the centre.
    pub crop: Option<avatar_domain::upload::CropJson>,
    /// `processing`, `ready` or `failed`.
    pub status: Status,
    /// Thumbnail sizes that exist (in any format), smallest first.
    pub thumbnails: Vec<ThumbnailLink>,
    /// The base64 ThumbHash of the smallest thumbnail (a placeholder a page
    /// paints before any image byte arrives); `null` until `ready`.
    pub thumbhash: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

impl AvatarMetadata {
    /// The document for `avatar` with its stored `variants`.
    pub fn new(config: &Config, avatar: &AvatarRow, variants: &[VariantRow]) -> Self {
        let mut sizes: Vec<Size> = variants
            .iter()
            .map(|v| v.variant.size)
            .filter(|size| size.side().is_some())
            .collect();
        sizes.sort();
        sizes.dedup();
        let thumbnails = sizes
            .into_iter()
            .map(|size| ThumbnailLink {
                size: size.to_string(),
                url: config.public_url(&format!("{}?size={size}", avatar_path(avatar.id))),
            })
            .collect();
        Self {
            id: avatar.id,
            user_id: avatar.user_id.to_string(),
            file_name: avatar.file_name.clone(),
            mime_type: avatar.format.mime(),
            size: avatar.size_bytes,
            dimensions: Dimensions {
                width: avatar.width,
                height: avatar.height,
            },
            crop: avatar.crop.map(Into::into),
            status: avatar.status,
            thumbnails,
            thumbhash: avatar.thumbhash.clone(),
            created_at: rfc3339(avatar.created_at),
            updated_at: rfc3339(avatar.updated_at),
        }
    }
}
