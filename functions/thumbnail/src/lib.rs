//! The thumbnail function: S3 ObjectCreated notifications of originals,
//! delivered through the upload queue (SQS record body = S3 event JSON).
//!
//! For each created original: decode once, render the 100, 300 and 1200 px
//! cover crops in the original's format, store them, mark the row `ready`.
//!
//! * `s3:TestEvent` messages are acknowledged and skipped.
//! * A second delivery renders only what is missing (usually nothing) and
//!   changes nothing else.
//! * An original that cannot be decoded is poison: the avatar is marked
//!   `failed` and the message acknowledged (retrying cannot help).
//! * Transient failures (storage, database) are reported as batch item
//!   failures; on the last delivery before the dead-letter queue
//!   (`MAX_RECEIVE_COUNT`) the avatar is marked `failed` first.

use std::sync::Arc;

use anyhow::Context;
use avatar_shared::db::AvatarRow;
use avatar_shared::events::{parse_s3_notification, process_batch, receive_count, S3Notification};
use avatar_shared::keys::ObjectKey;
use avatar_shared::pipeline::thumbnail_variants;
use avatar_shared::renditions::{render_and_store, RenderError};
use avatar_shared::{AppState, AvatarId, Status};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

/// Handles one SQS batch; returns the partial batch response.
pub async fn handle(state: Arc<AppState>, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, |message| handle_message(state.clone(), message)).await
}

async fn handle_message(state: Arc<AppState>, message: SqsMessage) -> anyhow::Result<()> {
    let body = message
        .body
        .as_deref()
        .context("SQS message without a body")?;
    let keys = match parse_s3_notification(body).context("body is not an S3 event")? {
        S3Notification::Test => {
            tracing::info!("s3:TestEvent acknowledged");
            return Ok(());
        }
        S3Notification::Created(keys) => keys,
    };
    let last_attempt = receive_count(&message) >= state.config.max_receive_count;
    for key in keys {
        let Some(ObjectKey::Original { avatar_id, .. }) = ObjectKey::parse(&key) else {
            tracing::info!(key = %key, "not an original of this service; skipped");
            continue;
        };
        if let Err(e) = render_thumbnails(&state, avatar_id).await {
            if last_attempt {
                tracing::error!(avatar_id = %avatar_id, "retries exhausted; marking failed");
                state
                    .db
                    .set_status(avatar_id, &[Status::Processing], Status::Failed)
                    .await
                    .context("marking failed on the last attempt")?;
            }
            return Err(e.context(format!("avatar {avatar_id}")));
        }
    }
    Ok(())
}

/// Renders whatever thumbnails of the avatar are missing and marks it
/// `ready`. Ok without work when the avatar is gone, deleted or complete.
///
/// # Errors
/// Retryable failures only (storage, database).
#[tracing::instrument(skip(state), fields(avatar_id = %avatar_id))]
pub async fn render_thumbnails(state: &AppState, avatar_id: AvatarId) -> anyhow::Result<()> {
    let Some(avatar) = state.db.avatar(avatar_id).await? else {
        tracing::info!("no row (purged); nothing to do");
        return Ok(());
    };
    if avatar.deleted_at.is_some() {
        tracing::info!("avatar deleted; nothing to do");
        return Ok(());
    }
    let missing = missing_thumbnails(state, &avatar).await?;
    if !missing.is_empty() {
        match render_and_store(state, &avatar, &missing).await {
            Ok(stored) => tracing::info!(variants = stored.len(), "thumbnails stored"),
            Err(RenderError::Image(e)) => {
                tracing::warn!(error = %e, "original does not render; marking failed");
                state
                    .db
                    .set_status(avatar_id, &[Status::Processing], Status::Failed)
                    .await?;
                return Ok(());
            }
            Err(RenderError::OriginalMissing) => {
                tracing::info!("original gone (being purged); nothing to do");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    state
        .db
        .set_status(avatar_id, &[Status::Processing], Status::Ready)
        .await?;
    Ok(())
}

async fn missing_thumbnails(
    state: &AppState,
    avatar: &AvatarRow,
) -> anyhow::Result<Vec<avatar_shared::Variant>> {
    let stored = state
        .db
        .variants(&[avatar.id])
        .await?
        .remove(&avatar.id)
        .unwrap_or_default();
    Ok(thumbnail_variants(avatar.format)
        .into_iter()
        .filter(|v| !stored.iter().any(|s| s.variant == *v))
        .collect())
}
