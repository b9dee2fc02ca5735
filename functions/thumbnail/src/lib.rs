//! The thumbnail function: S3 ObjectCreated notifications of originals and
//! of direct uploads, delivered through the upload queue (SQS record body =
//! S3 event JSON).
//!
//! For each direct upload (`uploads/`): validate it like a multipart upload
//! and store it as the original, or mark the avatar `failed`
//! ([`accept_direct_upload`]).
//!
//! For each created original: decode once, render the 100, 300 and 1200 px
//! cover crops in the original's format, store them, mark the row `ready`.
//!
//! * `s3:TestEvent` messages are acknowledged and skipped.
//! * A second delivery renders only what is missing (usually nothing) and
//!   changes nothing else.
//! * An original that cannot be decoded is poison: the avatar is marked
//!   `failed` and the message acknowledged (retrying cannot help).
//! * Failures are reported as batch item failures and back off
//!   exponentially ([`avatar_runtime::events::retry_delay`]). A transient
//!   one (storage or the database out of reach) never marks the avatar
//!   `failed`, however long it lasts: when every delivery is spent the
//!   message goes to the dead-letter queue, the avatar stays `processing`,
//!   and the sweep sends its work again ([`AvatarProcessEvent`](avatar_adapters::queue::AvatarProcessEvent)). A fault
//!   (a missing bucket, an SQL error) marks it `failed` on the last
//!   delivery before the dead-letter queue: the message's
//!   `ApproximateReceiveCount`, or the avatar's own retry counter where the
//!   event source does not pass one (Knative), reaching `MAX_RECEIVE_COUNT`.
//!
//! The upload queue also carries [`AvatarProcessEvent`](avatar_adapters::queue::AvatarProcessEvent)s (the sweep's
//! and a backfill's): the same work for one avatar, whatever state it was
//! left in; with the `rerender` operation, a `ready` avatar's stored
//! variants are rendered again and replaced ([`Render::All`]).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use avatar_adapters::db::VariantRow;
use avatar_adapters::queue::Queue;
use avatar_domain::keys::ObjectKey;
use avatar_domain::{AvatarId, Size, Status, Variant};
use avatar_runtime::events::{
    is_transient, parse_s3_notification, parse_upload_queue_message, process_batch, receive_count,
    record_avatar, Handled, MessageHandler, Outcome, RetryPolicy, S3Notification,
    UploadQueueMessage,
};
use avatar_telemetry::metrics::RenderTrigger;
use avatar_usecases::originals::{self, IngestError};
use avatar_usecases::renditions::{render_and_store, RenderError};
use avatar_usecases::AppState;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};

/// Handles one SQS batch; returns the partial batch response.
///
/// # Errors
/// None: every failure is a message's, reported in the outcome.
pub async fn handle(state: Arc<AppState>, event: SqsEvent) -> anyhow::Result<Outcome> {
    Ok(process_batch(event, &Thumbnails(state)).await)
}

/// The upload queue's messages, as the thumbnail function handles them.
pub struct Thumbnails(pub Arc<AppState>);

impl MessageHandler for Thumbnails {
    fn function(&self) -> &'static str {
        "thumbnail"
    }

    fn queue_label(&self) -> &'static str {
        "upload"
    }

    fn queue_name(&self) -> &str {
        &self.0.config.upload_queue
    }

    fn max_receive_count(&self) -> u32 {
        self.0.config.max_receive_count
    }

    fn backoff(&self) -> Option<(&Queue, RetryPolicy)> {
        Some((&self.0.upload_queue, retry_policy(&self.0)))
    }

    /// An S3 notification carries no trace header: the object does. The
    /// upload stored its trace context as the object's metadata (the
    /// multipart upload with the original, the direct upload with its
    /// presigned PUT), so the work on it continues the upload's trace. One
    /// `HeadObject` per message, before its span starts.
    async fn trace_carrier(&self, message: &SqsMessage) -> Option<HashMap<String, String>> {
        let body = message.body.as_deref()?;
        let S3Notification::Created(keys) = parse_s3_notification(body).ok()? else {
            return None;
        };
        let key = keys.first()?;
        self.0.storage.metadata(key).await
    }

    async fn handle(&self, message: SqsMessage) -> anyhow::Result<Handled> {
        handle_message(&self.0, message).await
    }
}

/// How failed messages back off ([`RetryPolicy`] from the configuration).
pub fn retry_policy(state: &AppState) -> RetryPolicy {
    RetryPolicy {
        first: state.config.visibility_timeout,
        max: state.config.retry_max_delay,
    }
}

/// The work one upload-queue message asks for.
enum Work {
    /// An object was created: its key.
    Created(String),
    /// An AvatarProcessEvent (the sweep's or a backfill's).
    Process(AvatarId, Render),
}

/// Which variants [`render_thumbnails`] renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    /// The configured thumbnails not stored yet (what an upload needs; a
    /// redelivery finds nothing to do).
    Missing,
    /// Those, and every variant stored already that a GET can serve (the
    /// configured sizes and `original`, in any format; not the stored
    /// original itself) rendered again and replaced, with the ThumbHash:
    /// an AvatarProcessEvent's `rerender`, after a pipeline change that
    /// alters pixels. Caches keep the old bytes until their max-age ends
    /// (contract, "Caching").
    All,
}

async fn handle_message(state: &AppState, message: SqsMessage) -> anyhow::Result<Handled> {
    let body = message
        .body
        .as_deref()
        .context("SQS message without a body")?;
    let work = match parse_upload_queue_message(body)? {
        UploadQueueMessage::S3(S3Notification::Test) => {
            tracing::info!("s3:TestEvent acknowledged");
            return Ok(Handled::Done);
        }
        UploadQueueMessage::S3(S3Notification::Created(keys)) => {
            keys.into_iter().map(Work::Created).collect()
        }
        UploadQueueMessage::Process(event) => {
            let render = if event.rerender() {
                Render::All
            } else {
                Render::Missing
            };
            vec![Work::Process(event.avatar_id, render)]
        }
    };
    let mut handled = Handled::Done;
    for item in work {
        let (avatar_id, result) = match item {
            Work::Created(key) => match ObjectKey::parse(&key) {
                Some(ObjectKey::Original { avatar_id, .. }) => {
                    record_avatar(avatar_id);
                    let rendered = render_thumbnails(state, avatar_id, Render::Missing);
                    (avatar_id, rendered.await)
                }
                Some(ObjectKey::Incoming { user_id, avatar_id }) => {
                    record_avatar(avatar_id);
                    let accepted = accept_direct_upload(state, &user_id, avatar_id);
                    (avatar_id, accepted.await)
                }
                _ => {
                    tracing::info!(key = %key, "not an original of this service; skipped");
                    continue;
                }
            },
            Work::Process(avatar_id, render) => {
                record_avatar(avatar_id);
                (avatar_id, process_avatar(state, avatar_id, render).await)
            }
        };
        match result {
            Ok(Handled::Done) => {}
            Ok(Handled::Poison) => handled = Handled::Poison,
            Err(e) => {
                settle_failure(state, avatar_id, receive_count(&message), &e).await?;
                return Err(e.context(format!("avatar {avatar_id}")));
            }
        }
    }
    Ok(handled)
}

/// After a failed attempt on `avatar_id`: counts it in the row (the retry
/// counter of event sources without a receive count) and, on the last
/// delivery of a fault (never of a transient failure), marks the avatar
/// `failed`. The message is reported failed either way.
///
/// # Errors
/// The database failing while marking `failed`.
async fn settle_failure(
    state: &AppState,
    avatar_id: AvatarId,
    receive_count: u32,
    error: &anyhow::Error,
) -> anyhow::Result<()> {
    if is_transient(error) {
        // An outage: whatever the count, the avatar waits (the sweep sends
        // its work again if every delivery is spent).
        let _ = state.db.record_failed_attempt(avatar_id).await;
        return Ok(());
    }
    let attempts = state.db.record_failed_attempt(avatar_id).await?;
    if receive_count.max(attempts) >= state.config.max_receive_count {
        tracing::error!(avatar_id = %avatar_id, attempts, receive_count, "retries exhausted; marking failed");
        state
            .db
            .set_status(
                avatar_id,
                &[Status::Uploading, Status::Processing],
                Status::Failed,
            )
            .await
            .context("marking failed on the last attempt")?;
    }
    Ok(())
}

/// An [`AvatarProcessEvent`](avatar_adapters::queue::AvatarProcessEvent): a direct upload whose file arrived is
/// accepted; otherwise the thumbnails `render` names are rendered and the
/// avatar marked `ready`. Nothing to do for a gone, deleted or `failed`
/// avatar, or an `uploading` one whose file has not arrived.
///
/// # Errors
/// Retryable failures only (storage, database).
#[tracing::instrument(skip(state), fields(avatar_id = %avatar_id))]
pub async fn process_avatar(
    state: &AppState,
    avatar_id: AvatarId,
    render: Render,
) -> anyhow::Result<Handled> {
    match state.db.avatar(avatar_id).await? {
        Some(row) if row.deleted_at.is_none() && row.status == Status::Uploading => {
            accept_direct_upload(state, &row.user_id, avatar_id).await
        }
        Some(row) if row.deleted_at.is_none() && row.status != Status::Failed => {
            render_thumbnails(state, avatar_id, render).await
        }
        _ => {
            tracing::info!("nothing to process");
            Ok(Handled::Done)
        }
    }
}

/// A direct upload arrived at `uploads/{user_id}/{avatar_id}`: the same
/// validation as a multipart upload (size limit, magic bytes, pixel budget,
/// one full decode, metadata stripped). A valid file is stored as the
/// original and the row becomes `processing`; an invalid one marks the avatar
/// `failed`. Either way the incoming object is removed. The thumbnails are
/// rendered here too, as the original's event may have been handled while
/// the row was still `uploading`. A redelivery, or an
/// object without an `uploading` row, only removes the object.
///
/// # Errors
/// Retryable failures only (storage, database).
#[tracing::instrument(skip(state, user_id), fields(avatar_id = %avatar_id))]
pub async fn accept_direct_upload(
    state: &AppState,
    user_id: &avatar_domain::UserId,
    avatar_id: AvatarId,
) -> anyhow::Result<Handled> {
    let incoming = ObjectKey::Incoming {
        user_id: user_id.clone(),
        avatar_id,
    }
    .render();
    let row = state.db.avatar(avatar_id).await?;
    let pending = row.as_ref().is_some_and(|a| {
        a.status == Status::Uploading && a.deleted_at.is_none() && &a.user_id == user_id
    });
    if !pending {
        tracing::info!("no pending direct upload for this object; removing it");
        state.storage.delete_keys(&[incoming]).await?;
        return Ok(Handled::Done);
    }
    let Some(bytes) = state.storage.get(&incoming).await? else {
        tracing::info!("incoming object already gone; nothing to do");
        return Ok(Handled::Done);
    };
    let max = state.config.max_upload_bytes;
    let size = bytes.len() as u64;
    let ingested = if size > max {
        Err(format!("{size} bytes is over the limit of {max}"))
    } else {
        let limits = state.config.image_limits();
        let crop = row.as_ref().and_then(|a| a.crop);
        match originals::ingest(limits, &state.budget, user_id, avatar_id, bytes, crop).await {
            Ok(original) => Ok(original),
            Err(IngestError::Refused(e)) => Err(e.to_string()),
            Err(IngestError::OverBudget(e)) => Err(e.to_string()),
            Err(IngestError::Crop(e)) => Err(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    };
    let original = match ingested {
        Ok(original) => original,
        Err(reason) => {
            tracing::warn!(reason = %reason, "direct upload refused; marking failed");
            state
                .db
                .set_status(avatar_id, &[Status::Uploading], Status::Failed)
                .await?;
            state.storage.delete_keys(&[incoming]).await?;
            // The client's file was refused: a settled outcome, not poison.
            return Ok(Handled::Done);
        }
    };
    // Stored first: until the row says `processing`, the original's own
    // event finds an `uploading` row and leaves it to this function's retry.
    original.store(&state.storage).await?;
    state.db.complete_upload(avatar_id, &original.row).await?;
    state.storage.delete_keys(&[incoming]).await?;
    let row = &original.row;
    tracing::info!(format = %row.variant.format, width = row.width, height = row.height, "direct upload accepted");
    // The original's own event may have come and gone while the row was
    // still `uploading`; render here (a later event finds nothing missing).
    render_thumbnails(state, avatar_id, Render::Missing).await
}

/// Renders the thumbnails of the avatar that `render` names and marks it
/// `ready` (recording upload → ready in `avatars_processing_seconds`).
/// Done without work when the avatar is gone, deleted or complete;
/// [`Handled::Poison`] when the original does not decode (an avatar not
/// `ready` yet is marked `failed`).
///
/// # Errors
/// Retryable failures only (storage, database).
#[tracing::instrument(skip(state), fields(avatar_id = %avatar_id))]
pub async fn render_thumbnails(
    state: &AppState,
    avatar_id: AvatarId,
    render: Render,
) -> anyhow::Result<Handled> {
    let Some(avatar) = state.db.avatar(avatar_id).await? else {
        tracing::info!("no row (purged); nothing to do");
        return Ok(Handled::Done);
    };
    if !avatar.is_visible() {
        // Deleted, or a direct upload's original stored just before its row
        // is completed (accept_direct_upload renders those itself).
        tracing::info!(
            status = avatar.status.as_str(),
            deleted = avatar.deleted_at.is_some(),
            "avatar not visible; nothing to do"
        );
        return Ok(Handled::Done);
    }
    let stored = state.db.variants_of(avatar_id).await?;
    let mut wanted: Vec<_> = state
        .config
        .thumbnail_variants(avatar.format)
        .into_iter()
        .filter(|v| !stored.iter().any(|s| s.variant == *v))
        .collect();
    let rerender = render == Render::All && avatar.status == Status::Ready;
    if rerender {
        let own_original = Variant::new(Size::Original, avatar.format);
        wanted.extend(stored.iter().map(|s| s.variant).filter(|v| {
            *v != own_original
                && (v.size == Size::Original || state.config.thumbnail_sizes.contains(&v.size))
        }));
    }
    let mut rendered = Vec::new();
    if !wanted.is_empty() {
        match render_and_store(state.renderer(), &avatar, &wanted, RenderTrigger::Event).await {
            Ok(stored) => {
                tracing::info!(variants = stored.len(), rerender, "thumbnails stored");
                rendered = stored;
                if rerender {
                    // This process's hot copies are stale now; another
                    // instance's expire within cache::HELD_AT_MOST.
                    state.hot.forget(avatar_id);
                }
            }
            Err(e @ (RenderError::Image(_) | RenderError::OverBudget(_))) => {
                tracing::warn!(error = %e, "original does not render; marking failed");
                state
                    .db
                    .set_status(avatar_id, &[Status::Processing], Status::Failed)
                    .await?;
                return Ok(Handled::Poison);
            }
            Err(RenderError::OriginalMissing | RenderError::Deleted) => {
                tracing::info!("avatar deleted or being purged; nothing to do");
                return Ok(Handled::Done);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let thumbhash = if avatar.thumbhash.is_some() && !rerender {
        None
    } else {
        let known = stored.iter().chain(rendered.iter().map(|r| &r.row));
        placeholder(state, known, &rendered).await?
    };
    let became_ready = state.db.set_ready(avatar_id, thumbhash.as_deref()).await?;
    if became_ready {
        let elapsed = (chrono::Utc::now() - avatar.created_at)
            .to_std()
            .unwrap_or_default();
        avatar_telemetry::metrics::processed(elapsed);
    } else if let Some(hash) = &thumbhash {
        // Ready before placeholders existed, or re-rendered (a backfill).
        state.db.set_thumbhash(avatar_id, hash).await?;
    }
    // A new ready avatar may push the user's oldest past
    // KEEP_AVATARS_PER_USER (checked on every delivery: a retry after a
    // failure here prunes then).
    state
        .deletion()
        .prune_beyond_keep(&avatar.user_id, state.config.keep_avatars_per_user)
        .await?;
    Ok(Handled::Done)
}

/// The base64 ThumbHash of the avatar's smallest thumbnail: from the bytes
/// just rendered when the smallest is among them (no extra I/O: a 100 px
/// decode, a fraction of a millisecond), else read back from storage.
/// `None` when there is no thumbnail to take it from. `known` is every
/// variant row of the avatar (those read before rendering, then the
/// rendered ones).
///
/// # Errors
/// Storage failures (retryable).
async fn placeholder<'a>(
    state: &AppState,
    known: impl Iterator<Item = &'a VariantRow>,
    rendered: &[avatar_usecases::renditions::Stored],
) -> anyhow::Result<Option<String>> {
    let Some(smallest) = known
        .filter(|v| v.variant.size.side().is_some())
        .min_by_key(|v| v.variant.size)
    else {
        return Ok(None);
    };
    let bytes = match rendered.iter().find(|r| r.row.variant == smallest.variant) {
        Some(r) => r.bytes.clone(),
        None => match state.storage.get(&smallest.s3_key).await? {
            Some(bytes) => bytes,
            None => return Ok(None),
        },
    };
    match avatar_pipeline::thumbhash(&bytes) {
        Ok(hash) => {
            use base64::Engine;
            Ok(Some(base64::engine::general_purpose::STANDARD.encode(hash)))
        }
        Err(e) => {
            tracing::warn!(error = %e, "no placeholder: the smallest thumbnail does not decode");
            Ok(None)
        }
    }
}
