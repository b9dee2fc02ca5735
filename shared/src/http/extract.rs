//! Extractors: what a handler needs from a request, parsed once, with the
//! contract's errors as rejections.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::Uri;

use super::ApiError;
use crate::app::AppState;
use crate::db::AvatarRow;
use crate::domain::{AvatarId, UserId};

/// Header carrying the acting user (contract, "Identity").
pub const USER_ID_HEADER: &str = "x-user-id";

/// Parses a user id from a path segment or header value (400 on failure).
///
/// # Errors
/// [`ApiError::InvalidUserId`].
pub fn parse_user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::InvalidUserId(e.to_string()))
}

/// The acting user, from the `X-User-ID` header (contract, "Identity"):
/// 401 when missing, 400 when malformed.
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

/// The avatar named by the route's one path parameter (`{avatar_id}`),
/// loaded and visible ([`AvatarRow::is_visible`]): 404 when the id is not a
/// UUID (such an avatar cannot exist), unknown, soft-deleted or a direct
/// upload not yet received; 503 when the database is unavailable.
#[derive(Debug, Clone)]
pub struct VisibleAvatar(pub AvatarRow);

impl FromRequestParts<Arc<AppState>> for VisibleAvatar {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("Bad request", e.body_text()))?;
        let id = AvatarId::parse(&raw).ok_or(ApiError::AvatarNotFound)?;
        tracing::Span::current().record("avatar_id", tracing::field::display(id));
        let avatar = state
            .db
            .visible_avatar(id)
            .await?
            .ok_or(ApiError::AvatarNotFound)?;
        Ok(Self(avatar))
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
