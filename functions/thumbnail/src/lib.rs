//! The thumbnail function, the event edge of [`avatar_usecases::processing`]:
//! S3 ObjectCreated notifications of originals and
//! of direct uploads, delivered through the upload queue (SQS record body =
//! S3 event JSON).
//!
//! For each direct upload (`uploads/`): validate it like a multipart upload
//! and store it as the original, or mark the avatar `failed`
//! ([`Processing::accept_direct_upload`](avatar_usecases::processing::Processing::accept_direct_upload)).
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
use avatar_adapters::queue::Queue;
use avatar_domain::keys::ObjectKey;
use avatar_domain::{AvatarId, Status};
use avatar_runtime::events::{
    is_transient, parse_s3_notification, parse_upload_queue_message, process_batch, receive_count,
    record_avatar, Handled, MessageHandler, Outcome, RetryPolicy, S3Notification,
    UploadQueueMessage,
};
use avatar_usecases::processing::{Processed, Render};
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
    let processing = state.processing();
    let mut handled = Handled::Done;
    for item in work {
        let (avatar_id, result) = match item {
            Work::Created(key) => match ObjectKey::parse(&key) {
                Some(ObjectKey::Original { avatar_id, .. }) => {
                    record_avatar(avatar_id);
                    let rendered = processing.render_thumbnails(avatar_id, Render::Missing);
                    (avatar_id, rendered.await)
                }
                Some(ObjectKey::Incoming { user_id, avatar_id }) => {
                    record_avatar(avatar_id);
                    let accepted = processing.accept_direct_upload(&user_id, avatar_id);
                    (avatar_id, accepted.await)
                }
                _ => {
                    tracing::info!(key = %key, "not an original of this service; skipped");
                    continue;
                }
            },
            Work::Process(avatar_id, render) => {
                record_avatar(avatar_id);
                (
                    avatar_id,
                    processing.process_avatar(avatar_id, render).await,
                )
            }
        };
        match result {
            Ok(Processed::Done) => {}
            Ok(Processed::Poison) => handled = Handled::Poison,
            Err(e) => {
                let e = anyhow::Error::new(e);
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
