//! The get function: `GET /api/v1/avatars/{avatar_id}` and
//! `GET /api/v1/users/{user_id}/avatar` (contract, "Fetch the image").
//!
//! A request resolves the avatar row, then the variant row `(size, format)`.
//! `If-None-Match` is answered 304 from those rows alone, without touching
//! storage. A variant that is not stored yet is rendered from the original,
//! stored and recorded, then served: a GET never fails because the
//! thumbnail worker is behind. An image over `REDIRECT_ABOVE_BYTES` is
//! answered `307` to a presigned storage URL instead of its bytes.
//!
//! What a request for an avatar id answered is kept in memory
//! ([`avatar_adapters::cache`]): a hot image, and its 304, cost one indexed
//! query (is the avatar still visible?) and no storage read.
//!
//! Formats follow `Accept` when the query names none (README, "Formats"):
//! a client that lists `image/webp` gets a thumbnail as WebP, one that
//! sends only `*/*` or `image/*` the stored format; such responses say
//! `Vary: Accept`. The current avatar's URL (`CURRENT_AVATAR`) answers the
//! image with a short `max-age`, or a 302 to the id's immutable URL.

use std::collections::HashMap;
use std::sync::Arc;

use avatar_adapters::cache::{HotKey, HotVariant};
use avatar_adapters::config::{Config, CurrentAvatar};
use avatar_adapters::db::AvatarRow;
use avatar_domain::{AvatarId, ImageFormat, Size, Variant};
use avatar_http::{
    etag_header, if_none_match, lists_media_type, not_modified, parse_user_id, query_map, ApiError,
};
use avatar_telemetry::metrics::RenderTrigger;
use avatar_usecases::renditions::render_and_store;
use avatar_usecases::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// `Cache-Control` of `/api/v1/avatars/{id}`: an id's bytes change only on
/// an operator's re-render, and a day of the old ones is acceptable then
/// (contract: one day, `immutable` allowed).
pub const CACHE_IMMUTABLE: &str = "public, max-age=86400, immutable";

/// `Cache-Control` of `/api/v1/users/{user_id}/avatar`: the current avatar
/// changes on upload and delete, so a short `max-age` (and as long again
/// `stale-while-revalidate`): a change shows within seconds, and checking
/// costs a 304.
fn cache_current(state: &AppState) -> HeaderValue {
    let seconds = state.config.current_avatar_max_age.as_secs();
    HeaderValue::from_str(&format!(
        "public, max-age={seconds}, stale-while-revalidate={seconds}"
    ))
    .expect("digits are a header value")
}

/// The format `Accept` asks for when the query names none: WebP when the
/// client lists `image/webp` itself with a quality above 0 (browsers do);
/// `None` — the stored format — for `*/*`, `image/*` or nothing, so
/// programs that state no preference see no change. AVIF is not served
/// (BENCHMARKS.md, "Formats": too slow to encode on demand).
pub fn negotiated_format(headers: &HeaderMap) -> Option<ImageFormat> {
    lists_media_type(headers, "image/webp").then_some(ImageFormat::Webp)
}

/// The function's routes (state supplied by the caller).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/avatars/{avatar_id}", get(get_avatar))
        .route("/api/v1/users/{user_id}/avatar", get(get_current_avatar))
}

/// The parsed `size` and `format` query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageQuery {
    /// Default `original`.
    pub size: Size,
    /// Default: the stored format of the avatar.
    pub format: Option<ImageFormat>,
}

impl ImageQuery {
    /// Parses `size` (one `config` serves: the contract's, the configured
    /// `THUMBNAIL_SIZES`, `original`) and `format`; other parameters are
    /// ignored.
    ///
    /// # Errors
    /// 400 naming the unknown value and the sizes there are.
    pub fn parse(query: &HashMap<String, String>, config: &Config) -> Result<Self, ApiError> {
        let size = match query.get("size") {
            None => Size::Original,
            Some(raw) => Size::parse(raw)
                .filter(|size| config.serves_size(*size))
                .ok_or_else(|| {
                    let mut sizes: Vec<Size> = Size::THUMBNAILS
                        .into_iter()
                        .chain(config.thumbnail_sizes.iter().copied())
                        .collect();
                    sizes.sort();
                    sizes.dedup();
                    let names: Vec<String> = sizes.iter().map(ToString::to_string).collect();
                    ApiError::bad_request(
                        "Invalid size",
                        format!("size must be one of {}, original", names.join(", ")),
                    )
                })?,
        };
        let format = match query.get("format") {
            None => None,
            Some(raw) => Some(ImageFormat::parse(raw).ok_or_else(|| {
                ApiError::bad_request("Invalid format", "format must be one of jpeg, png, webp")
            })?),
        };
        Ok(Self { size, format })
    }
}

/// The query string as an [`ImageQuery`]; 400 when it does not parse.
impl FromRequestParts<Arc<AppState>> for ImageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Self::parse(&query_map(&parts.uri)?, &state.config)
    }
}

/// The format to serve for `query` from a client sending `headers`, and
/// whether the answer varies with `Accept` (a thumbnail whose query names
/// no format; an `original` is served as stored unless asked otherwise).
fn choose_format(query: ImageQuery, headers: &HeaderMap) -> (ImageQuery, bool) {
    let negotiable = query.format.is_none() && query.size != Size::Original;
    let format = if negotiable {
        negotiated_format(headers)
    } else {
        query.format
    };
    (ImageQuery { format, ..query }, negotiable)
}

/// `GET /api/v1/avatars/{avatar_id}`: from memory when hot, else from
/// the rows and storage (and then kept).
///
/// # Errors
/// 400 (query), 404 (unknown, deleted, failed), 503.
#[tracing::instrument(skip_all, fields(avatar_id))]
pub async fn get_avatar(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
    query: ImageQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Not a UUID: no such avatar can exist.
    let id = AvatarId::parse(&raw).ok_or(ApiError::AvatarNotFound)?;
    tracing::Span::current().record("avatar_id", tracing::field::display(id));
    let (query, vary) = choose_format(query, &headers);
    let hot = hot_or_resolve(&state, id, query, None).await?;
    let cache_control = HeaderValue::from_static(CACHE_IMMUTABLE);
    respond(&state, &hot, &headers, cache_control, vary).await
}

/// `GET /api/v1/users/{user_id}/avatar`: the user's current avatar (one
/// query for which it is; its bytes from memory when hot), or with
/// `CURRENT_AVATAR=redirect` a 302 to its id's URL.
///
/// # Errors
/// 400 (user id, query), 404 (no avatar), 503.
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn get_current_avatar(
    State(state): State<Arc<AppState>>,
    Path(user_id): Path<String>,
    query: Result<ImageQuery, ApiError>,
    parts: Parts,
) -> Result<Response, ApiError> {
    let user = parse_user_id(&user_id)?;
    let query = query?;
    let avatar = state
        .db
        .current_avatar(&user)
        .await?
        .ok_or(ApiError::AvatarNotFound)?;
    if state.config.current_avatar == CurrentAvatar::Redirect {
        let mut location = avatar_http::api::avatar_path(avatar.id);
        if let Some(q) = parts.uri.query() {
            location = format!("{location}?{q}");
        }
        let location = HeaderValue::from_str(&location)
            .map_err(|e| ApiError::Internal(format!("redirect location: {e}").into()))?;
        return Ok((
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, cache_current(&state)),
            ],
        )
            .into_response());
    }
    let (query, vary) = choose_format(query, &parts.headers);
    let hot = hot_or_resolve(&state, avatar.id, query, Some(&avatar)).await?;
    respond(&state, &hot, &parts.headers, cache_current(&state), vary).await
}

/// What `query` of avatar `id` answers: from memory when hot, else
/// resolved from the servable row and kept. `loaded` is that row when the
/// caller has just read it (the current avatar); otherwise a hot hit asks
/// the database whether the avatar is still servable, unless the hit is
/// trusted ([`avatar_adapters::cache`]), and a miss loads the row.
///
/// # Errors
/// 404 (not servable), 503, and [`resolve`]'s.
async fn hot_or_resolve(
    state: &AppState,
    id: AvatarId,
    query: ImageQuery,
    loaded: Option<&AvatarRow>,
) -> Result<HotVariant, ApiError> {
    let key = HotKey {
        avatar: id,
        size: query.size,
        format: query.format,
    };
    if let Some(hit) = state.hot.get(key) {
        if !hit.trusted && loaded.is_none() {
            if !state.db.is_servable(id).await? {
                return Err(ApiError::AvatarNotFound);
            }
            state.hot.confirm(key);
        }
        return Ok(hit.variant);
    }
    let avatar = match loaded {
        Some(avatar) => avatar.clone(),
        None => state
            .db
            .visible_avatar(id)
            .await?
            .filter(AvatarRow::is_servable)
            .ok_or(ApiError::AvatarNotFound)?,
    };
    let hot = resolve(state, &avatar, query).await?;
    state.hot.insert(key, hot.clone());
    Ok(hot)
}

/// What `query` of the servable `avatar` answers: the variant's ETag and
/// bytes (read from storage, or rendered on demand and stored), or, over
/// `REDIRECT_ABOVE_BYTES`, its key to redirect to.
async fn resolve(
    state: &AppState,
    avatar: &AvatarRow,
    query: ImageQuery,
) -> Result<HotVariant, ApiError> {
    let variant = Variant::new(query.size, query.format.unwrap_or(avatar.format));
    let over = |size: u64| size > state.config.redirect_above_bytes;
    if let Some(row) = state.db.variant(avatar.id, variant).await? {
        let bytes = if over(row.size_bytes as u64) {
            None
        } else {
            state.storage.get(&row.s3_key).await?
        };
        if bytes.is_some() || over(row.size_bytes as u64) {
            return Ok(HotVariant {
                format: variant.format,
                etag: row.etag,
                bytes,
                s3_key: row.s3_key,
            });
        }
        tracing::warn!(key = %row.s3_key, "recorded variant missing from storage; rendering again");
    }
    let stored = render_and_store(
        state.renderer(),
        avatar,
        &[variant],
        RenderTrigger::OnDemand,
    )
    .await?
    .pop()
    .ok_or_else(|| ApiError::Internal("render returned nothing".into()))?;
    let bytes = (!over(stored.bytes.len() as u64)).then_some(stored.bytes);
    Ok(HotVariant {
        format: variant.format,
        etag: stored.row.etag,
        bytes,
        s3_key: stored.row.s3_key,
    })
}

/// The answer for `hot`: 304 when `If-None-Match` matches, the bytes with
/// `ETag`, `Cache-Control`, `Content-Type` and `Content-Length`, or a 307
/// for a variant too large to return; each with `Vary: Accept` when `vary`.
async fn respond(
    state: &AppState,
    hot: &HotVariant,
    headers: &HeaderMap,
    cache_control: HeaderValue,
    vary: bool,
) -> Result<Response, ApiError> {
    let mut response = if if_none_match(headers, &hot.etag) {
        not_modified(&hot.etag, cache_control)
    } else {
        match &hot.bytes {
            Some(bytes) => image(hot.format, &hot.etag, cache_control, bytes.clone()),
            None => redirect_to_storage(state, &hot.s3_key).await?,
        }
    };
    if vary {
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept"));
    }
    Ok(response)
}

/// `307 Temporary Redirect` to a presigned `GET` of `key`, valid for
/// `DOWNLOAD_URL_TTL_SECONDS`: for images over `REDIRECT_ABOVE_BYTES`, which
/// Lambda could not return (contract, "Fetch the image"). `no-store`: the
/// URL expires, so neither the redirect nor its target may be reused.
async fn redirect_to_storage(state: &AppState, key: &str) -> Result<Response, ApiError> {
    let url = state
        .storage
        .presigned_get(key, state.config.download_url_ttl)
        .await?;
    let location = HeaderValue::from_str(&url).map_err(|e| {
        ApiError::Internal(format!("presigned URL is not a header value: {e}").into())
    })?;
    Ok((
        StatusCode::TEMPORARY_REDIRECT,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}

fn image(
    format: ImageFormat,
    etag: &str,
    cache_control: HeaderValue,
    bytes: bytes::Bytes,
) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.mime()),
            ),
            (header::ETAG, etag_header(etag)),
            (header::CACHE_CONTROL, cache_control),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        Body::from(bytes),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hot_cache_holds_a_variant_no_longer_than_http_caches_may() {
        let max_age = avatar_adapters::cache::HELD_AT_MOST.as_secs();
        assert!(CACHE_IMMUTABLE.contains(&format!("max-age={max_age},")));
    }

    fn q(pairs: &[(&str, &str)]) -> Result<ImageQuery, ApiError> {
        let config = Config::from_lookup(|_| None).unwrap();
        ImageQuery::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            &config,
        )
    }

    #[test]
    fn query_defaults_and_errors() {
        assert_eq!(
            q(&[]).unwrap(),
            ImageQuery {
                size: Size::Original,
                format: None
            }
        );
        assert_eq!(
            q(&[("size", "300x300"), ("format", "webp")]).unwrap(),
            ImageQuery {
                size: Size::THUMB_300,
                format: Some(ImageFormat::Webp)
            }
        );
        assert!(q(&[("size", "301x301")]).is_err());
        assert!(q(&[("format", "gif")]).is_err());
    }

    #[test]
    fn accept_chooses_webp_only_when_named() {
        let with = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
            negotiated_format(&headers)
        };
        // Chromium's and Firefox's image Accept headers.
        assert_eq!(
            with("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"),
            Some(ImageFormat::Webp)
        );
        assert_eq!(with("image/webp,*/*"), Some(ImageFormat::Webp));
        assert_eq!(with("IMAGE/WEBP;q=0.5"), Some(ImageFormat::Webp));
        assert_eq!(with("*/*"), None);
        assert_eq!(with("image/*"), None);
        assert_eq!(with("image/webp;q=0, */*"), None);
        assert_eq!(with("image/png"), None);
        assert_eq!(negotiated_format(&HeaderMap::new()), None);
        // An explicit format wins; originals are not negotiated.
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("image/webp"));
        let thumb = ImageQuery {
            size: Size::THUMB_300,
            format: None,
        };
        assert_eq!(
            choose_format(thumb, &headers),
            (
                ImageQuery {
                    format: Some(ImageFormat::Webp),
                    ..thumb
                },
                true
            )
        );
        let png = ImageQuery {
            format: Some(ImageFormat::Png),
            ..thumb
        };
        assert_eq!(choose_format(png, &headers), (png, false));
        let original = ImageQuery {
            size: Size::Original,
            format: None,
        };
        assert_eq!(choose_format(original, &headers), (original, false));
    }
}
