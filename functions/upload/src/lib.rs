//! The upload function: `POST /api/v1/avatars` (contract, "Upload"), its
//! plain-HTML-form twin `POST /web/upload` (contract, "Web interface"), and
//! direct uploads `POST /api/v1/avatars/uploads`.
//!
//! Multipart field `file`; the format comes from magic bytes; at most
//! `MAX_UPLOAD_BYTES` of file data are read (413 past that, without reading
//! further); the pixel budget is checked from the header before decoding;
//! the file is decoded once to reject undecodable images; EXIF/XMP are
//! stripped from the stored original. The row is inserted (`processing`)
//! before the object is stored, so the object's ObjectCreated notification
//! always finds its row; if storing fails, the row is removed again.

use std::sync::Arc;

use avatar_adapters::config::AuthMode;
use avatar_adapters::db::{AvatarRow, PendingUpload};
use avatar_domain::keys::ObjectKey;
use avatar_domain::upload::{parse_crop, sanitize_file_name, DirectUpload, DirectUploadError};
use avatar_domain::Crop;
use avatar_domain::{AvatarId, UserId};
use avatar_http::api::{avatar_path, AvatarCreated, DirectUploadCreated, PresignedRequest};
use avatar_http::{parse_user_id, ActingUser, ApiError};
use avatar_usecases::uploads::NewUpload;
use avatar_usecases::AppState;
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

/// The function's routes (state supplied by the caller). Every upload
/// request is counted in `avatars_uploads_total{status}` and timed in
/// `avatars_upload_duration_seconds{status}`.
pub fn routes() -> Router<Arc<AppState>> {
    // The file limit is enforced while streaming (read_form); the default
    // 2 MB body limit of axum would answer first, wrongly.
    Router::new()
        .route(
            "/api/v1/avatars",
            post(upload_avatar).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/web/upload",
            post(upload_form).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/avatars/uploads", post(create_direct_upload))
        .route_layer(axum::middleware::from_fn(count_uploads))
}

/// Records one upload request's outcome and duration.
async fn count_uploads(request: Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    avatar_telemetry::metrics::upload(
        avatar_telemetry::metrics::UploadStatus::of(response.status()),
        started.elapsed(),
    );
    response
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
    // A replay must still be a well-formed upload; its file is not used.
    let form = read_form(request, &state.config, false).await?;
    if let Some(key) = &idempotency_key {
        if let Some(existing) = state.db.find_idempotent(&user, key).await? {
            return Ok(created(&state, &existing));
        }
    }
    let uploads = state.uploads();
    uploads.check_limits(&user).await?;
    let avatar = uploads
        .store(form.into_upload(user, idempotency_key))
        .await?;
    Ok(created(&state, &avatar))
}

/// `POST /web/upload` (contract, "Web interface"): the upload page's plain
/// HTML form, for browsers without JavaScript. Multipart with the user id
/// in the form field `user_id` (before or after `file`) and the file in
/// `file`; the same validation as [`upload_avatar`]. Success is
/// `303 See Other` to `/web/gallery/{user_id}`.
///
/// Errors keep their status; the body is a small HTML page with the
/// message when the browser asks for `text/html` (a person is reading it),
/// and the contract's JSON otherwise. A missing `user_id` field is 400,
/// with details that name the field. In `jwt` and `authorizer` modes the
/// bearer token says who is acting and the field is not read.
#[tracing::instrument(skip_all, fields(user_id, avatar_id))]
pub async fn upload_form(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let result = async {
        // With tokens, the token says who is acting; the form's field is
        // only read in header mode.
        let (parts, body) = request.into_parts();
        let token_user = match state.auth.mode() {
            AuthMode::Header => None,
            AuthMode::Jwt | AuthMode::Authorizer => Some(ActingUser::of(&parts, &state).await?.0),
        };
        let request = Request::from_parts(parts, body);
        let form = read_form(request, &state.config, token_user.is_none()).await?;
        let user = match token_user {
            Some(user) => user,
            None => parse_user_id(form.user_id.as_deref().ok_or_else(|| {
                ApiError::InvalidUserId("the user_id form field is required".into())
            })?)?,
        };
        tracing::Span::current().record("user_id", tracing::field::display(&user));
        let uploads = state.uploads();
        uploads.check_limits(&user).await?;
        let avatar = uploads.store(form.into_upload(user, None)).await?;
        Ok::<_, ApiError>(avatar)
    }
    .await;
    match result {
        Ok(avatar) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, gallery_path(&avatar.user_id))],
        )
            .into_response(),
        Err(e) if avatar_http::accepts_html(&headers) => e.into_html_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/v1/avatars/uploads` (contract, "Upload"): a direct-to-storage
/// upload for files a function gateway cannot carry (Lambda's 6 MB request
/// limit). Records the avatar as `uploading` and answers 201 with a
/// presigned `PUT` of `uploads/{user_id}/{avatar_id}` that S3 accepts only
/// with the declared `Content-Type` and exact `Content-Length` (so at most
/// the size limit), for `UPLOAD_URL_TTL_SECONDS`. The bytes never pass
/// through a function: the bucket's ObjectCreated event runs the multipart
/// upload's validation in the thumbnail function, which stores the
/// stripped original (→ `processing` → `ready`) or marks the avatar
/// `failed` and removes the object.
///
/// # Errors
/// 401/400 (user id), 400 (body, content type), 413 (declared size), 503.
#[tracing::instrument(skip_all, fields(user_id = %user.0, avatar_id))]
pub async fn create_direct_upload(
    State(state): State<Arc<AppState>>,
    user: ActingUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ActingUser(user) = user;
    let config = &state.config;
    let request = DirectUpload::parse(&body, config.max_upload_bytes, config.min_thumbnail_side())
        .map_err(|e| match e {
            DirectUploadError::Format => ApiError::InvalidFileFormat,
            DirectUploadError::TooLarge { max_size } => ApiError::FileTooLarge { max_size },
            DirectUploadError::Crop(e) => ApiError::invalid_crop(e),
            DirectUploadError::Body(_) | DirectUploadError::Empty => {
                ApiError::bad_request("Invalid request", e.to_string())
            }
        })?;
    let format = request.format;
    state.uploads().check_limits(&user).await?;
    let id = AvatarId::new();
    tracing::Span::current().record("avatar_id", tracing::field::display(id));
    let key = ObjectKey::Incoming {
        user_id: user.clone(),
        avatar_id: id,
    }
    .render();
    let ttl = state.config.upload_url_ttl;
    // The trace context rides with the object as signed metadata headers,
    // so the thumbnail function continues this trace when the file arrives.
    let (url, headers) = state
        .storage
        .presigned_put(
            &key,
            request.source.mime(),
            request.content_length,
            avatar_telemetry::trace::carrier(),
            ttl,
        )
        .await?;
    let avatar = state
        .db
        .insert_pending_upload(&PendingUpload {
            id,
            user_id: user,
            file_name: request.file_name,
            format,
            declared_bytes: request.content_length as i64,
            incoming_key: key,
            crop: request.crop,
        })
        .await?;
    let expires_at = avatar.created_at + chrono::Duration::from_std(ttl).unwrap_or_default();
    tracing::info!(bytes = request.content_length, format = %request.source, "direct upload URL issued");
    let body = DirectUploadCreated {
        id,
        upload: PresignedRequest {
            method: "PUT",
            url,
            headers: headers.into_iter().filter(|(k, _)| k != "host").collect(),
            expires_at: avatar_domain::time::rfc3339(expires_at),
        },
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, avatar_path(id))],
        Json(body),
    )
        .into_response())
}

/// The gallery page of `user`: `/web/gallery/{user_id}`. User ids are
/// `[A-Za-z0-9._@-]`, all valid in a path segment as they are.
pub fn gallery_path(user: &UserId) -> String {
    format!("/web/gallery/{user}")
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

/// Longest accepted text form field (`user_id`, `crop`), bytes; a user id
/// is at most 64 characters (contract, "Identity").
const MAX_TEXT_FIELD: usize = 256;

/// The fields of an upload form.
#[derive(Debug)]
pub struct UploadForm {
    /// The `file` field.
    pub file: UploadedFile,
    /// The `user_id` field, when asked for and present (web form only).
    pub user_id: Option<String>,
    /// The optional `crop` field: the JSON `{"x","y","width","height"}`,
    /// its shape checked ([`parse_crop`]).
    pub crop: Option<Crop>,
}

impl UploadForm {
    /// The upload this form makes for `user`.
    pub fn into_upload(self, user: UserId, idempotency_key: Option<String>) -> NewUpload {
        NewUpload {
            user,
            idempotency_key,
            file_name: self.file.file_name,
            bytes: self.file.bytes,
            crop: self.crop,
        }
    }
}

/// Reads the multipart field `file`, refusing more than `MAX_UPLOAD_BYTES`
/// of it (413) without reading further, and bodies whose `Content-Length`
/// already exceeds that + [`MULTIPART_OVERHEAD`]; the optional text field
/// `crop` (at most 256 bytes); with `with_user_field`, also the text field
/// `user_id` (at most 256 bytes). Fields come in any order, so the whole
/// body is read; other fields are skipped.
///
/// # Errors
/// 400 when the body is not multipart or has no `file` field, `user_id`
/// is too long or not UTF-8, or `crop` is not a valid crop; 413 over the
/// limit.
pub async fn read_form(
    request: Request,
    config: &avatar_adapters::Config,
    with_user_field: bool,
) -> Result<UploadForm, ApiError> {
    let max = config.max_upload_bytes;
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
    let mut file = None;
    let mut user_id = None;
    let mut crop_text = None;
    while let Some(mut field) = multipart.next_field().await.map_err(bad_multipart)? {
        let name = match field.name() {
            Some("file") if file.is_none() => Field::File,
            Some("user_id") if with_user_field && user_id.is_none() => Field::UserId,
            Some("crop") if crop_text.is_none() => Field::Crop,
            _ => continue,
        };
        let limit = if name == Field::File {
            max
        } else {
            MAX_TEXT_FIELD as u64
        };
        let file_name = sanitize_file_name(field.file_name().unwrap_or_default());
        let mut buf = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
            if buf.len() as u64 + chunk.len() as u64 > limit {
                return Err(match name {
                    Field::File => too_large,
                    Field::UserId => {
                        ApiError::InvalidUserId("user_id is longer than 64 characters".into())
                    }
                    Field::Crop => ApiError::invalid_crop("the crop field is too long"),
                });
            }
            buf.extend_from_slice(&chunk);
        }
        match name {
            Field::File => {
                file = Some(UploadedFile {
                    file_name,
                    bytes: buf.freeze(),
                });
            }
            Field::UserId => {
                let text = String::from_utf8(buf.to_vec())
                    .map_err(|_| ApiError::InvalidUserId("user_id is not UTF-8".into()))?;
                user_id = Some(text.trim().to_owned());
            }
            Field::Crop => crop_text = Some(buf.freeze()),
        }
    }
    let file = file.ok_or_else(|| {
        ApiError::bad_request("Missing file", "multipart field 'file' is required")
    })?;
    let crop = crop_text
        .map(|text| {
            let text = std::str::from_utf8(&text)
                .map_err(|_| ApiError::invalid_crop("the crop field is not UTF-8"))?;
            parse_crop(text, config.min_thumbnail_side()).map_err(ApiError::invalid_crop)
        })
        .transpose()?;
    Ok(UploadForm {
        file,
        user_id,
        crop,
    })
}

/// The multipart fields [`read_form`] keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    File,
    UserId,
    Crop,
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
