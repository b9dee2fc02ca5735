//! Backfill (README, "Backfill"): after `THUMBNAIL_SIZES` changes, an
//! AvatarProcessEvent for every ready avatar missing a configured size (or
//! its ThumbHash); after a pipeline change, a re-rendering one for every
//! ready avatar with a variant made before a given time. Sent at a bounded
//! rate, so the thumbnail function renders the backlog beside live uploads.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use avatar_adapters::db::{Database, DbError};
use avatar_adapters::queue::{AvatarProcessEvent, Queue, QueueError};
use avatar_domain::Size;

/// Avatars read per database round trip.
const PAGE: i64 = 100;

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillPlan {
    /// Events sent per second at most (at least 1).
    pub per_second: u32,
    /// Events in this run at most (none: all); the report says whether more
    /// remain.
    pub limit: Option<usize>,
    /// Re-render instead: every ready avatar with a variant rendered before
    /// this time gets an event with the `rerender` operation. A re-rendered
    /// avatar is newer, so a repeated or resumed run skips it.
    pub rerender_before: Option<DateTime<Utc>>,
}

impl BackfillPlan {
    /// Events per second unless told otherwise.
    pub const DEFAULT_PER_SECOND: u32 = 20;
}

/// What a backfill did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BackfillReport {
    /// AvatarProcessEvents sent (one per avatar).
    pub enqueued: usize,
    /// `false` when `limit` stopped it with avatars left to send.
    pub complete: bool,
}

/// Why a backfill stopped (what was sent stays sent; run it again).
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The upload queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// What a backfill takes: the database, the upload queue and the
/// configured sizes. Borrowed from the [`AppState`](crate::AppState) a
/// binary built ([`crate::AppState::backfill`]).
#[derive(Debug, Clone, Copy)]
pub struct Backfill<'a> {
    /// The database.
    pub db: &'a Database,
    /// The thumbnail function's queue (`UPLOAD_QUEUE`).
    pub upload_queue: &'a Queue,
    /// `THUMBNAIL_SIZES`.
    pub sizes: &'a [Size],
}

impl Backfill<'_> {
    /// Sends an [`AvatarProcessEvent`] for every ready avatar missing one
    /// of the configured sizes (or its ThumbHash), at most `per_second` a
    /// second; the thumbnail function renders only what is missing, so a
    /// repeated backfill, or an avatar rendered meanwhile, costs nothing
    /// but the event. With [`BackfillPlan::rerender_before`], a
    /// re-rendering event for every ready avatar with a variant older than
    /// that instead.
    ///
    /// # Errors
    /// [`BackfillError`].
    pub async fn run(&self, plan: BackfillPlan) -> Result<BackfillReport, BackfillError> {
        let pause = Duration::from_secs(1) / plan.per_second.max(1);
        let mut pace = tokio::time::interval(pause);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut report = BackfillReport::default();
        let event = match plan.rerender_before {
            Some(_) => AvatarProcessEvent::rerendering,
            None => AvatarProcessEvent::thumbnails,
        };
        let mut after = None;
        loop {
            let ids = match plan.rerender_before {
                Some(before) => {
                    self.db
                        .rendered_before(self.sizes, before, after, PAGE)
                        .await?
                }
                None => self.db.incomplete_ready(self.sizes, after, PAGE).await?,
            };
            let Some(last) = ids.last() else {
                report.complete = true;
                break;
            };
            after = Some(*last);
            for id in ids {
                if plan.limit.is_some_and(|limit| report.enqueued >= limit) {
                    tracing::info!(
                        enqueued = report.enqueued,
                        "backfill limit reached; more remain"
                    );
                    return Ok(report);
                }
                pace.tick().await;
                self.upload_queue.send_json(&event(id)).await?;
                report.enqueued += 1;
            }
        }
        tracing::info!(enqueued = report.enqueued, "backfill sent");
        Ok(report)
    }
}
