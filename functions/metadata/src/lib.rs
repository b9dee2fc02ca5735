//! The metadata function: `GET /api/v1/avatars/{avatar_id}/metadata` and
//! `GET /api/v1/users/{user_id}/avatars` (contract, "Metadata"). It also
//! serves `GET /health` in the route table.
//!
//! Metadata shows `failed` avatars (that is how a client learns an upload
//! failed); only unknown or deleted ids are 404.

use std::sync::Arc;

use avatar_adapters::db::{AvatarRow, ListCursor};
use avatar_domain::AvatarId;
use avatar_http::api::AvatarMetadata;
use avatar_http::{parse_user_id, query_map, ApiError, VisibleAvatar};
use avatar_usecases::AppState;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::DateTime;
use serde::Serialize;
use uuid::Uuid;

/// Default page size of the user's list.
pub const DEFAULT_LIMIT: i64 = 20;
/// Largest page size (contract: `limit` 1–100).
pub const MAX_LIMIT: i64 = 100;

/// The function's routes (state supplied by the caller).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/avatars/{avatar_id}/metadata", get(get_metadata))
        .route("/api/v1/users/{user_id}/avatars", get(list_avatars))
        .route("/api/v1/openapi.json", get(openapi))
}

/// `GET /api/v1/avatars/{avatar_id}/metadata`.
///
/// # Errors
/// 404 (unknown or deleted), 503.
#[tracing::instrument(skip_all, fields(avatar_id))]
pub async fn get_metadata(
    State(state): State<Arc<AppState>>,
    VisibleAvatar(avatar): VisibleAvatar,
) -> Result<Json<AvatarMetadata>, ApiError> {
    let variants = state.db.variants_of(avatar.id).await?;
    Ok(Json(AvatarMetadata::new(&state.config, &avatar, &variants)))
}

/// A page of the user's avatars.
#[derive(Debug, Serialize)]
pub struct AvatarPage {
    /// Newest first.
    pub items: Vec<AvatarMetadata>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/users/{user_id}/avatars?limit=20&cursor=...`: newest first,
/// deleted excluded; a user with none gets an empty list.
///
/// # Errors
/// 400 (user id, limit, cursor), 503.
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn list_avatars(
    State(state): State<Arc<AppState>>,
    Path(user_id): Path<String>,
    uri: Uri,
) -> Result<Json<AvatarPage>, ApiError> {
    let user = parse_user_id(&user_id)?;
    let query = query_map(&uri)?;
    let limit = parse_limit(query.get("limit").map(String::as_str))?;
    let cursor = query.get("cursor").map(|c| decode_cursor(c)).transpose()?;
    let mut rows = state.db.list_for_user(&user, limit, cursor).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(encode_cursor)
    } else {
        None
    };
    let ids: Vec<AvatarId> = rows.iter().map(|r| r.id).collect();
    let mut variants = state.db.variants(&ids).await?;
    let items = rows
        .iter()
        .map(|row| {
            let v = variants.remove(&row.id).unwrap_or_default();
            AvatarMetadata::new(&state.config, row, &v)
        })
        .collect();
    Ok(Json(AvatarPage { items, next_cursor }))
}

/// Parses `limit`: 1–100, default 20.
///
/// # Errors
/// 400 otherwise.
pub fn parse_limit(raw: Option<&str>) -> Result<i64, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    raw.parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request("Invalid limit", format!("limit must be 1-{MAX_LIMIT}"))
        })
}

/// The cursor after `row`: base64url of `{created_at in µs}:{id}`. Opaque to
/// clients; keyset pagination, so pages stay stable while avatars are added.
pub fn encode_cursor(row: &AvatarRow) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", row.created_at.timestamp_micros(), row.id))
}

/// Parses a cursor made by [`encode_cursor`].
///
/// # Errors
/// 400 "Invalid cursor".
pub fn decode_cursor(raw: &str) -> Result<ListCursor, ApiError> {
    let bad = || ApiError::bad_request("Invalid cursor", "cursor is not one this API returned");
    let text = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (micros, id) = text.split_once(':').ok_or_else(bad)?;
    Ok(ListCursor {
        created_at: DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?)
            .ok_or_else(bad)?,
        id: Uuid::parse_str(id).map_err(|_| bad())?,
    })
}

/// `GET /api/v1/openapi.json`: [`avatar_http::api::OPENAPI_JSON`].
pub async fn openapi() -> impl axum::response::IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "application/json"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=300"),
        ],
        avatar_http::api::OPENAPI_JSON,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(parse_limit(None).unwrap(), 20);
        assert_eq!(parse_limit(Some("1")).unwrap(), 1);
        assert_eq!(parse_limit(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "x", ""] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursor_round_trip_and_garbage() {
        let created_at = DateTime::from_timestamp_micros(1_763_719_200_123_456).unwrap();
        let id = Uuid::now_v7();
        let raw = URL_SAFE_NO_PAD.encode(format!("{}:{id}", created_at.timestamp_micros()));
        assert_eq!(decode_cursor(&raw).unwrap(), ListCursor { created_at, id });
        for bad in [
            "",
            "!!!",
            &URL_SAFE_NO_PAD.encode("12:notuuid"),
            &URL_SAFE_NO_PAD.encode("x"),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
