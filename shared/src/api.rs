//! Response bodies of the JSON API (contract, "Upload" and "Metadata").

use serde::Serialize;

use crate::config::Config;
use crate::db::{AvatarRow, VariantRow};
use crate::domain::{AvatarId, Size, Status};
use crate::time::rfc3339;

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
    /// `100x100`, `300x300` or `1200x1200`.
    pub size: &'static str,
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
    /// `processing`, `ready` or `failed`.
    pub status: Status,
    /// Thumbnail sizes that exist (in any format), smallest first.
    pub thumbnails: Vec<ThumbnailLink>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

impl AvatarMetadata {
    /// The document for `avatar` with its stored `variants`.
    pub fn new(config: &Config, avatar: &AvatarRow, variants: &[VariantRow]) -> Self {
        let thumbnails = Size::THUMBNAILS
            .into_iter()
            .filter(|size| variants.iter().any(|v| v.variant.size == *size))
            .map(|size| ThumbnailLink {
                size: size.as_str(),
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
            status: avatar.status,
            thumbnails,
            created_at: rfc3339(avatar.created_at),
            updated_at: rfc3339(avatar.updated_at),
        }
    }
}
