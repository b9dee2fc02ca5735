//! Extractors: what a handler needs from a request, parsed once, with the
//! contract's errors as rejections.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::Uri;

use super::ApiError;
use crate::app::AppState;
use crate::auth::AuthError;
use crate::config::AuthMode;
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

/// The acting user ([`crate::auth`]: `X-User-ID` in `header` mode, a
/// verified bearer token in `jwt` mode, the authorizer's claims in
/// `authorizer` mode). 401 when absent or not acceptable (with
/// `WWW-Authenticate: Bearer` in the token modes), 400 for a malformed
/// `X-User-ID`, 503 when the token's keys cannot be fetched.
#[derive(Debug, Clone)]
pub struct ActingUser(pub UserId);

impl ActingUser {
    /// The acting user of a request's `parts`, as the extractor finds it.
    ///
    /// # Errors
    /// As the extractor.
    pub async fn of(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        state.auth.user(parts).await.map(Self).map_err(|e| match e {
            AuthError::Missing if state.auth.mode() == AuthMode::Header => ApiError::Unauthorized,
            AuthError::Missing => ApiError::BearerRequired,
            AuthError::InvalidUserId(details) => ApiError::InvalidUserId(details),
            AuthError::InvalidToken(details) => ApiError::InvalidToken(details),
            e @ AuthError::KeysUnavailable(_) => ApiError::Unavailable(Box::new(e)),
        })
    }
}

impl FromRequestParts<Arc<AppState>> for ActingUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Self::of(parts, state).await
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
