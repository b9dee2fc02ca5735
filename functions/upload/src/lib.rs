//! The upload function: `POST /api/v1/avatars` (contract, "Upload").
//!
//! Multipart field `file`; the format comes from magic bytes; at most
//! `MAX_UPLOAD_BYTES` of file data are read (413 past that, without reading
//! further); the pixel budget is checked from the header before decoding;
//! the file is decoded once to reject undecodable images; EXIF/XMP are
//! stripped from the stored original. The row is inserted (`processing`)
//! before the object is stored, so the object's ObjectCreated notification
//! always finds its row; if storing fails, the row is removed again.

use std::sync::Arc;

use avatar_shared::api::{avatar_path, AvatarCreated};
use avatar_shared::db::{AvatarRow, Inserted, NewAvatar, VariantRow};
use avatar_shared::http::{etag_of, ActingUser, ApiError};
use avatar_shared::keys::ObjectKey;
use avatar_shared::{pipeline, AppState, AvatarId, Size, Variant};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::{Bytes, BytesMut};

/// Longest accepted `Idempotency-Key`, characters (contract, "Upload").
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Room for multipart boundaries, part headers and small form fields on top
/// of the file limit, bytes. A body larger than limit + this is refused
/// from its `Content-Length` alone.
pub const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// The function's routes (state supplied by the caller).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route(
        "/api/v1/avatars",
        // The file limit is enforced while streaming (read_file); the
        // default 2 MB body limit of axum would answer first, wrongly.
        post(upload_avatar).layer(DefaultBodyLimit::disable()),
    )
}

/// A file part read from the request.
#[derive(Debug)]
pub struct UploadedFile {
    /// The client's file name, sanitised (may be empty).
    pub file_name: String,
    /// The bytes, at most the configured limit.
    pub bytes: Bytes,
}

/// `POST /api/v1/avatars`: 201 with `Location` and [`AvatarCreated`].
///
/// # Errors
/// 401/400 (user id), 400 (idempotency key, no file field, format, image,
/// dimensions), 413 (size), 503 (dependencies).
#[tracing::instrument(skip_all, fields(user_id = %user.0, avatar_id))]
pub async fn upload_avatar(
    State(state): State<Arc<AppState>>,
    user: ActingUser,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let ActingUser(user) = user;
    let idempotency_key = idempotency_key(&headers)?;
    if let Some(key) = &idempotency_key {
        if let Some(existing) = state.db.find_idempotent(&user, key).await? {
            return Ok(created(&state, &existing));
        }
    }
    let max = state.config.max_upload_bytes;
    let file = read_file(request, max).await?;

    let limits = state.config.image_limits();
    let upload = file.bytes;
    // Decoding and hashing megabytes are CPU work: off the executor.
    let (ingested, etag) = tokio::task::spawn_blocking(move || {
        pipeline::ingest(&upload, limits).map(|i| {
            let etag = etag_of(&i.bytes);
            (i, etag)
        })
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;

    let id = AvatarId::new();
    tracing::Span::current().record("avatar_id", tracing::field::display(id));
    let key = ObjectKey::Original {
        user_id: user.clone(),
        avatar_id: id,
    }
    .render();
    let bytes = Bytes::from(ingested.bytes);
    let new = NewAvatar {
        id,
        user_id: user.clone(),
        file_name: file_name_or_default(&file.file_name, ingested.format.extension()),
        idempotency_key,
        original: VariantRow {
            variant: Variant::new(Size::Original, ingested.format),
            s3_key: key.clone(),
            size_bytes: bytes.len() as i64,
            width: ingested.width as i32,
            height: ingested.height as i32,
            etag,
        },
    };
    let avatar = match state.db.insert_avatar(&new).await? {
        Inserted::Replayed(existing) => return Ok(created(&state, &existing)),
        Inserted::Created(avatar) => avatar,
    };
    if let Err(e) = state.storage.put(&key, bytes, ingested.format.mime()).await {
        if let Err(cleanup) = state.db.remove_unstored(id).await {
            tracing::error!(error = %cleanup, "could not remove the row of an unstored upload");
        }
        return Err(e.into());
    }
    tracing::info!(format = %ingested.format, width = ingested.width, height = ingested.height, "avatar uploaded");
    Ok(created(&state, &avatar))
}

fn created(state: &AppState, avatar: &AvatarRow) -> Response {
    let location = avatar_path(avatar.id);
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(AvatarCreated::new(&state.config, avatar)),
    )
        .into_response()
}

/// The `Idempotency-Key` header: 1–128 visible ASCII characters.
///
/// # Errors
/// 400 when present but empty, too long or not visible ASCII.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "Invalid idempotency key",
            format!("Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
        )
    };
    let key = value.to_str().map_err(|_| bad())?;
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_LEN
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

/// Reads the multipart field `file`, refusing more than `max` bytes of it
/// (413) without reading further, and bodies whose `Content-Length` already
/// exceeds `max` + [`MULTIPART_OVERHEAD`]. Other fields are skipped.
///
/// # Errors
/// 400 when the body is not multipart or has no `file` field; 413 over the limit.
pub async fn read_file(request: Request, max: u64) -> Result<UploadedFile, ApiError> {
    let too_large = ApiError::FileTooLarge { max_size: max };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max.saturating_add(MULTIPART_OVERHEAD)) {
        return Err(too_large);
    }
    let mut multipart = Multipart::from_request(request, &()).await.map_err(|e| {
        ApiError::bad_request(
            "Invalid request",
            format!("expected multipart/form-data: {e}"),
        )
    })?;
    let bad_multipart = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::FileTooLarge { max_size: max }
        } else {
            ApiError::bad_request("Invalid request", format!("malformed multipart body: {e}"))
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(bad_multipart)? {
        if field.name() != Some("file") {
            continue;
        }
        let file_name = sanitize_file_name(field.file_name().unwrap_or_default());
        let mut buf = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
            if buf.len() as u64 + chunk.len() as u64 > max {
                return Err(too_large);
            }
            buf.extend_from_slice(&chunk);
        }
        return Ok(UploadedFile {
            file_name,
            bytes: buf.freeze(),
        });
    }
    Err(ApiError::bad_request(
        "Missing file",
        "multipart field 'file' is required",
    ))
}

/// The last path component of a client file name, without control
/// characters, at most 255 bytes.
pub fn sanitize_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut out = String::new();
    for c in base.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > 255 {
            break;
        }
        out.push(c);
    }
    out.trim().to_owned()
}

fn file_name_or_default(name: &str, extension: &str) -> String {
    if name.is_empty() {
        format!("avatar.{extension}")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn file_names_are_sanitised() {
        assert_eq!(sanitize_file_name("C:\\Users\\me\\photo.jpg"), "photo.jpg");
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("a\u{0}b\nc.png"), "abc.png");
        assert_eq!(sanitize_file_name(&"é".repeat(200)).len(), 254);
        assert_eq!(file_name_or_default("", "jpg"), "avatar.jpg");
    }

    #[test]
    fn idempotency_keys() {
        let mut h = HeaderMap::new();
        assert_eq!(idempotency_key(&h).unwrap(), None);
        h.insert("idempotency-key", HeaderValue::from_static("abc-123"));
        assert_eq!(idempotency_key(&h).unwrap().as_deref(), Some("abc-123"));
        h.insert(
            "idempotency-key",
            HeaderValue::from_str(&"k".repeat(129)).unwrap(),
        );
        assert!(idempotency_key(&h).is_err());
        h.insert("idempotency-key", HeaderValue::from_static("has space"));
        assert!(idempotency_key(&h).is_err());
    }
}
