//! The purge function: removes every stored object of deleted avatars.
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
//!   (or its ThumbHash), at a bounded rate ([`backfill`]); with
//!   `"rerender_before"`, one that renders again every ready avatar with a
//!   variant made before that time (after a pipeline change).
//!
//! An event for an avatar that is *not* soft-deleted is refused (logged and
//! acknowledged): purge never removes a live avatar's objects.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Context;
use avatar_shared::events::{process_batch, record_avatar, Handled, MessageHandler, Outcome};
use avatar_shared::keys::{
    avatar_prefixes, ObjectKey, INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX,
};
use avatar_shared::queue::{AvatarDeleteEvent, AvatarProcessEvent};
use avatar_shared::{AppState, AvatarId, Status, UserId};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

/// Rows purged per sweep at most (the next sweep continues).
pub const SWEEP_BATCH: i64 = 500;

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
            let report = sweep(&state)
                .instrument(avatar_shared::telemetry::sweep_span())
                .await?;
            Ok(Outcome::Done(Report::Sweep(report)))
        }
        Invocation::Backfill(request) => {
            let report = backfill(&state, &request).await?;
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
    /// [`BackfillRequest::DEFAULT_PER_SECOND`], at least 1), so the
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
    /// Events per second unless told otherwise.
    pub const DEFAULT_PER_SECOND: u32 = 20;

    fn default_per_second() -> u32 {
        Self::DEFAULT_PER_SECOND
    }
}

/// What a backfill did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BackfillReport {
    /// AvatarProcessEvents sent (one per avatar missing a size).
    pub enqueued: usize,
    /// `false` when `limit` stopped it with avatars left to send.
    pub complete: bool,
}

/// Sends an [`AvatarProcessEvent`] for every ready avatar missing one of
/// the configured `THUMBNAIL_SIZES` (or its ThumbHash), at most
/// `per_second` a second; the thumbnail function renders only what is
/// missing, so a repeated backfill, or an avatar rendered meanwhile, costs
/// nothing but the event. With [`BackfillRequest::rerender_before`], a
/// re-rendering event for every ready avatar with a variant older than
/// that instead.
///
/// # Errors
/// Database or queue failures (what was sent stays sent; run it again).
pub async fn backfill(
    state: &AppState,
    request: &BackfillRequest,
) -> anyhow::Result<BackfillReport> {
    anyhow::ensure!(
        request.backfill,
        "a backfill request says \"backfill\": true"
    );
    let pause = std::time::Duration::from_secs(1) / request.per_second.max(1);
    let mut pace = tokio::time::interval(pause);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut report = BackfillReport::default();
    let event = match request.rerender_before {
        Some(_) => AvatarProcessEvent::rerendering,
        None => AvatarProcessEvent::thumbnails,
    };
    let sizes = &state.config.thumbnail_sizes;
    let mut after = None;
    loop {
        let ids = match request.rerender_before {
            Some(before) => state.db.rendered_before(sizes, before, after, 100).await?,
            None => state.db.incomplete_ready(sizes, after, 100).await?,
        };
        let Some(last) = ids.last() else {
            report.complete = true;
            break;
        };
        after = Some(*last);
        for id in ids {
            if request.limit.is_some_and(|limit| report.enqueued >= limit) {
                tracing::info!(
                    enqueued = report.enqueued,
                    "backfill limit reached; more remain"
                );
                return Ok(report);
            }
            pace.tick().await;
            state.upload_queue.send_json(&event(id)).await?;
            report.enqueued += 1;
        }
    }
    tracing::info!(enqueued = report.enqueued, "backfill sent");
    Ok(report)
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
        &avatar_shared::queue::Queue,
        avatar_shared::events::RetryPolicy,
    )> {
        let policy = avatar_shared::events::RetryPolicy {
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
    purge_avatar(state, event.avatar_id, &user).await?;
    Ok(())
}

/// Deletes every object under the avatar's prefixes (the original, the
/// thumbnails, and variants rendered after the delete), then the
/// soft-deleted row. Returns `false` (doing nothing) when the avatar is not
/// soft-deleted.
///
/// # Errors
/// Storage or database failures (retryable).
#[tracing::instrument(skip_all, fields(avatar_id = %avatar_id, user_id = %user_id))]
pub async fn purge_avatar(
    state: &AppState,
    avatar_id: AvatarId,
    user_id: &UserId,
) -> anyhow::Result<bool> {
    if let Some(row) = state.db.avatar(avatar_id).await? {
        if row.deleted_at.is_none() {
            tracing::warn!("purge refused: the avatar is not deleted");
            return Ok(false);
        }
    }
    let deleted = state
        .storage
        .delete_prefixes(&avatar_prefixes(user_id, avatar_id))
        .await?;
    state.db.hard_delete(avatar_id).await?;
    tracing::info!(objects = deleted, "avatar purged");
    Ok(true)
}

/// What one sweep did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    /// Soft-deleted rows purged.
    pub purged_avatars: usize,
    /// Objects deleted that had no row.
    pub orphan_objects: usize,
    /// Direct uploads never received before their URL expired, purged.
    pub expired_uploads: usize,
    /// Avatars stuck in `processing` (or `uploading` with their file
    /// arrived) whose work was sent again.
    pub redriven: usize,
    /// Stuck avatars whose work was sent again `MAX_RECEIVE_COUNT` times
    /// already, marked `failed`.
    pub gave_up: usize,
    /// Rows of uploads that never completed (`processing` without an
    /// original, older than `ORPHAN_GRACE_SECONDS`: the client was answered
    /// 503 and the rollback failed too), removed.
    pub orphan_rows: usize,
}

/// Sends the work of every avatar stuck past `PROCESSING_DEADLINE_SECONDS`
/// again (an [`AvatarProcessEvent`] on the upload queue), at most once per
/// deadline each; after `MAX_RECEIVE_COUNT` such re-drives the avatar is
/// marked `failed`. An `uploading` avatar counts as stuck only once its
/// file has arrived (before that its client may still be sending).
///
/// # Errors
/// Storage, queue or database failures.
pub async fn redrive_stuck(state: &AppState, report: &mut SweepReport) -> anyhow::Result<()> {
    for stuck in state
        .db
        .stuck_avatars(state.config.processing_deadline, SWEEP_BATCH)
        .await?
    {
        let avatar = &stuck.avatar;
        let has_file = state.storage.exists(&avatar.s3_key).await?;
        if avatar.status == Status::Uploading && !has_file {
            continue;
        }
        let grace = chrono::Duration::from_std(state.config.orphan_grace)?;
        if avatar.status == Status::Processing && !has_file {
            // An upload whose original was never stored: its client got an
            // error, not a 201. Removed once older than the grace.
            if avatar.created_at < chrono::Utc::now() - grace {
                state
                    .storage
                    .delete_prefixes(&avatar_prefixes(&avatar.user_id, avatar.id))
                    .await?;
                state.db.remove_unstored(avatar.id).await?;
                tracing::warn!(avatar_id = %avatar.id, "row of an upload that never completed removed");
                report.orphan_rows += 1;
            }
            continue;
        }
        if stuck.redrives >= state.config.max_receive_count {
            tracing::error!(avatar_id = %avatar.id, redrives = stuck.redrives, "still stuck after every re-drive; marking failed");
            if state
                .db
                .set_status(
                    avatar.id,
                    &[Status::Uploading, Status::Processing],
                    Status::Failed,
                )
                .await?
            {
                report.gave_up += 1;
            }
            continue;
        }
        state
            .upload_queue
            .send_json(&AvatarProcessEvent::thumbnails(avatar.id))
            .await?;
        state.db.mark_redriven(avatar.id).await?;
        tracing::warn!(avatar_id = %avatar.id, status = avatar.status.as_str(), redrives = stuck.redrives + 1, "stuck avatar re-driven");
        report.redriven += 1;
    }
    Ok(())
}

/// One sweep: expired direct uploads, stuck avatars, stale soft-deleted rows, then objects
/// without a row. Objects
/// and rows younger than `ORPHAN_GRACE_SECONDS` are left alone so an upload
/// or delete in flight is never raced.
///
/// # Errors
/// Storage or database failures.
pub async fn sweep(state: &AppState) -> anyhow::Result<SweepReport> {
    let grace = state.config.orphan_grace;
    let mut report = SweepReport::default();
    // Direct uploads whose URL expired unused (plus the grace): soft-deleted,
    // then purged like any deleted avatar. One whose file did arrive is
    // stuck instead (below), never expired.
    for row in state
        .db
        .old_uploads(state.config.upload_url_ttl + grace)
        .await?
    {
        if state.storage.exists(&row.s3_key).await? {
            continue;
        }
        if state.db.expire_upload(row.id).await?
            && purge_avatar(state, row.id, &row.user_id).await?
        {
            report.expired_uploads += 1;
        }
    }
    redrive_stuck(state, &mut report).await?;
    for row in state.db.stale_soft_deleted(grace, SWEEP_BATCH).await? {
        if purge_avatar(state, row.id, &row.user_id).await? {
            report.purged_avatars += 1;
        }
    }
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(grace)?;
    let mut candidates = Vec::new();
    for prefix in [INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX] {
        for object in state.storage.list(prefix).await? {
            if object.last_modified > cutoff {
                continue;
            }
            if let Some(key) = ObjectKey::parse(&object.key) {
                candidates.push((key.avatar_id(), object.key));
            }
        }
    }
    let ids: Vec<AvatarId> = candidates
        .iter()
        .map(|(id, _)| *id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let existing = state.db.existing_ids(&ids).await?;
    let orphans: Vec<String> = candidates
        .into_iter()
        .filter(|(id, _)| !existing.contains(id))
        .map(|(_, key)| key)
        .collect();
    state.storage.delete_keys(&orphans).await?;
    report.orphan_objects = orphans.len();
    tracing::info!(
        purged_avatars = report.purged_avatars,
        orphan_objects = report.orphan_objects,
        expired_uploads = report.expired_uploads,
        redriven = report.redriven,
        gave_up = report.gave_up,
        orphan_rows = report.orphan_rows,
        "sweep done"
    );
    // Upload counts of minutes long gone (the rate limit reads only the
    // current one).
    state
        .db
        .forget_upload_counts(std::time::Duration::from_secs(600))
        .await?;
    // What the database holds, once a sweep (hourly on AWS): the gauges
    // avatars_avatars and avatars_storage_bytes.
    if let Err(e) = state.db.record_inventory_metrics().await {
        tracing::warn!(error = %e, "inventory metrics not recorded");
    }
    Ok(report)
}
