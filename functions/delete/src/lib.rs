//! The delete function: `DELETE /api/v1/avatars/{avatar_id}` and
//! `DELETE /api/v1/users/{user_id}/avatar` (contract, "Delete").
//!
//! The row is soft-deleted at once (it disappears from every read, and the
//! previous avatar becomes current), then an AvatarDeleteEvent goes to the
//! delete queue for the purge function. If that send fails the delete still
//! stands and answers 204: the purge sweep finds soft-deleted rows whose
//! objects remain, so nothing is left behind.

use std::sync::Arc;

use avatar_http::{parse_user_id, ActingUser, ApiError, VisibleAvatar};
use avatar_usecases::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::delete;
use axum::Router;

/// The function's routes (state supplied by the caller).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/avatars/{avatar_id}", delete(delete_avatar))
        .route(
            "/api/v1/users/{user_id}/avatar",
            delete(delete_current_avatar),
        )
}

/// `DELETE /api/v1/avatars/{avatar_id}`: 204.
///
/// # Errors
/// 401/400 (`X-User-ID`), 404 (unknown or already deleted), 403 (another
/// user's avatar), 503.
#[tracing::instrument(skip_all, fields(avatar_id, user_id = %user.0))]
pub async fn delete_avatar(
    State(state): State<Arc<AppState>>,
    user: ActingUser,
    VisibleAvatar(avatar): VisibleAvatar,
) -> Result<StatusCode, ApiError> {
    state.deletion().delete(&avatar, &user.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/users/{user_id}/avatar`: deletes the user's current
/// avatar; 204.
///
/// # Errors
/// 401/400 (`X-User-ID`, path user id), 403 (another user), 404 (no
/// current avatar), 503.
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn delete_current_avatar(
    State(state): State<Arc<AppState>>,
    user: ActingUser,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let owner = parse_user_id(&user_id)?;
    let deleted = state.deletion().delete_current(&owner, &user.0).await?;
    tracing::Span::current().record("avatar_id", tracing::field::display(deleted.id));
    Ok(StatusCode::NO_CONTENT)
}
