//! The purge function: removes every stored object of deleted avatars. It
//! is the edge of two use cases, [`avatar_usecases::purge`] (purge and the
//! sweep) and [`avatar_usecases::backfill`]: it tells its invocations apart
//! and hands each to them.
//!
//! * From the delete queue: each AvatarDeleteEvent deletes everything under
//!   the avatar's prefixes (its listed keys, and variants rendered after the
//!   delete), then removes the soft-deleted row for good.
//!   Idempotent: a redelivery finds nothing left and succeeds.
//! * Sweep (a scheduled invocation in production, a timer locally): purges
//!   soft-deleted rows older than `ORPHAN_GRACE_SECONDS` whose event was
//!   lost, deletes objects older than that which have no row at all, and
//!   sends the work of avatars stuck in `processing` (or `uploading` with
//!   their file arrived) past `PROCESSING_DEADLINE_SECONDS` again, as an
//!   AvatarProcessEvent on the upload queue: an outage longer than every
//!   delivery of their own event still ends with them `ready`.
//!
//! * Backfill (`{"backfill": true}`, a one-off invocation; `avatar-local
//!   backfill` locally): after `THUMBNAIL_SIZES` changes, an
//!   AvatarProcessEvent for every ready avatar missing a configured size
//!   (or its ThumbHash), at a bounded rate; with
//!   `"rerender_before"`, one that renders again every ready avatar with a
//!   variant made before that time (after a pipeline change).
//!
//! An event for an avatar that is *not* soft-deleted is refused (logged and
//! acknowledged): purge never removes a live avatar's objects.

use std::sync::Arc;

use anyhow::Context;
use avatar_adapters::queue::AvatarDeleteEvent;
use avatar_domain::UserId;
use avatar_runtime::events::{process_batch, record_avatar, Handled, MessageHandler, Outcome};
use avatar_usecases::backfill::{BackfillPlan, BackfillReport};
use avatar_usecases::purge::SweepReport;
use avatar_usecases::AppState;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

/// An invocation of the purge function: an SQS batch from the delete
/// queue, a backfill request, or anything else (an EventBridge scheduled
/// event, Knative's `PingSource` posting `{"sweep": true}`), which runs a
/// sweep.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    /// From the delete queue's event source mapping.
    Queue(SqsEvent),
    /// `{"backfill": true, "per_second": N, "limit": N}` (both optional).
    Backfill(BackfillRequest),
    /// Any other payload: run a sweep.
    Sweep(Scheduled),
}

/// A payload that is not an SQS event. One that has `Records` but is not
/// an SQS event is refused instead (an error), never taken for a sweep.
#[derive(Debug, Deserialize)]
pub struct Scheduled {
    #[serde(rename = "Records", default)]
    records: Option<NotRecords>,
}

/// Never deserializes: makes [`Scheduled`] refuse a `Records` field.
#[derive(Debug)]
enum NotRecords {}

impl<'de> Deserialize<'de> for NotRecords {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("Records is not an SQS event"))
    }
}

/// Entry point for both invocation kinds: the partial batch response, or
/// the sweep's report.
///
/// # Errors
/// A sweep that failed (the scheduler retries it).
pub async fn handle(
    state: Arc<AppState>,
    invocation: Invocation,
) -> anyhow::Result<Outcome<Report>> {
    match invocation {
        Invocation::Queue(event) => Ok(handle_queue(state, event).await),
        Invocation::Sweep(Scheduled { records: None }) => {
            let report = state
                .purge()
                .sweep()
                .instrument(avatar_telemetry::sweep_span())
                .await?;
            Ok(Outcome::Done(Report::Sweep(report)))
        }
        Invocation::Backfill(request) => {
            anyhow::ensure!(
                request.backfill,
                "a backfill request says \"backfill\": true"
            );
            let report = state.backfill().run(request.plan()).await?;
            Ok(Outcome::Done(Report::Backfill(report)))
        }
        Invocation::Sweep(Scheduled {
            records: Some(never),
        }) => match never {},
    }
}

/// What an invocation that is not an SQS batch answers (as JSON).
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Report {
    /// A sweep's.
    Sweep(SweepReport),
    /// A backfill's.
    Backfill(BackfillReport),
}

/// A backfill invocation (README, "Backfill"). `backfill` must be `true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    /// Must be `true` (a payload without it is a sweep).
    pub backfill: bool,
    /// Events sent per second at most (default
    /// [`BackfillPlan::DEFAULT_PER_SECOND`], at least 1), so the
    /// thumbnail function renders the backlog beside live uploads.
    #[serde(default = "BackfillRequest::default_per_second")]
    pub per_second: u32,
    /// Events in this invocation at most (none: all). On Lambda the purge
    /// function's 300 s timeout at 20/s covers 6 000, so pass a limit
    /// below that; the report says whether more remain (invoke again: it
    /// continues with the avatars that still lack a size).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Re-render instead (RFC 3339, e.g. `"2026-12-05T00:00:00Z"`): every
    /// ready avatar with a variant rendered before this time gets an
    /// AvatarProcessEvent with the `rerender` operation, which renders its
    /// variants again and replaces them. Give the time the new version was
    /// deployed; a re-rendered avatar is newer, so a repeated or resumed
    /// run skips it.
    #[serde(default)]
    pub rerender_before: Option<chrono::DateTime<chrono::Utc>>,
}

impl BackfillRequest {
    fn default_per_second() -> u32 {
        BackfillPlan::DEFAULT_PER_SECOND
    }

    /// What this request asks to send.
    pub fn plan(&self) -> BackfillPlan {
        BackfillPlan {
            per_second: self.per_second,
            limit: self.limit,
            rerender_before: self.rerender_before,
        }
    }
}

/// Handles one batch from the delete queue: the partial batch response.
pub async fn handle_queue<R>(state: Arc<AppState>, event: SqsEvent) -> Outcome<R> {
    process_batch(event, &Purges(state)).await
}

/// The delete queue's messages, as the purge function handles them. An
/// AvatarDeleteEvent carries the delete's trace context as message
/// attributes, so the purge continues the delete's trace.
pub struct Purges(pub Arc<AppState>);

impl MessageHandler for Purges {
    fn function(&self) -> &'static str {
        "purge"
    }

    fn queue_label(&self) -> &'static str {
        "delete"
    }

    fn queue_name(&self) -> &str {
        &self.0.config.delete_queue
    }

    fn max_receive_count(&self) -> u32 {
        self.0.config.max_receive_count
    }

    fn backoff(
        &self,
    ) -> Option<(
        &avatar_adapters::queue::Queue,
        avatar_runtime::events::RetryPolicy,
    )> {
        let policy = avatar_runtime::events::RetryPolicy {
            first: self.0.config.visibility_timeout,
            max: self.0.config.retry_max_delay,
        };
        Some((&self.0.delete_queue, policy))
    }

    async fn handle(&self, message: SqsMessage) -> anyhow::Result<Handled> {
        handle_message(&self.0, message)
            .await
            .map(|()| Handled::Done)
    }
}

async fn handle_message(state: &AppState, message: SqsMessage) -> anyhow::Result<()> {
    let body = message
        .body
        .as_deref()
        .context("SQS message without a body")?;
    let event = AvatarDeleteEvent::parse(body)?;
    record_avatar(event.avatar_id);
    let user = UserId::parse(&event.user_id).context("user id in the event")?;
    // `s3_keys` is informational: every key of the layout is under the
    // avatar's prefixes, which purge_avatar lists.
    state.purge().purge_avatar(event.avatar_id, &user).await?;
    Ok(())
}
