//! Purge and the sweep: what removes a deleted avatar for good, and what
//! finishes the work a lost event or a crash left behind (README, "Faults").
//!
//! * [`Purge::purge_avatar`]: every object under the avatar's prefixes
//!   (its listed keys, and variants rendered after the delete), then the
//!   soft-deleted row. Idempotent: a second run finds nothing left.
//! * [`Purge::sweep`]: soft-deleted rows older than `ORPHAN_GRACE_SECONDS`
//!   whose event was lost, objects older than that without a row, expired
//!   direct uploads, and avatars stuck in `processing` (or `uploading` with
//!   their file arrived) past `PROCESSING_DEADLINE_SECONDS`, whose work is
//!   sent again as an AvatarProcessEvent.
//!
//! An avatar that is *not* soft-deleted is never purged.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use avatar_adapters::aws::AwsError;
use avatar_adapters::db::{Database, DbError};
use avatar_adapters::queue::{AvatarProcessEvent, Queue};
use avatar_adapters::storage::Storage;
use avatar_domain::keys::{
    avatar_prefixes, ObjectKey, INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX,
};
use avatar_domain::{AvatarId, Status, UserId};

/// Rows purged per sweep at most (the next sweep continues).
pub const SWEEP_BATCH: i64 = 500;

/// Upload counts older than this are forgotten by a sweep, seconds (the
/// rate limit reads only the current minute's).
const UPLOAD_COUNTS_KEPT: Duration = Duration::from_secs(600);

/// Why a purge or a sweep stopped (what was done stays done; the next
/// delivery or sweep continues).
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Object storage or the upload queue failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl PurgeError {
    /// Whether retrying later may succeed ([`DbError::is_transient`],
    /// [`AwsError::is_transient`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Db(e) => e.is_transient(),
            Self::Aws(e) => e.is_transient(),
        }
    }
}

/// The settings a sweep follows, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepSettings {
    /// `ORPHAN_GRACE_SECONDS`: objects and rows younger than this are left
    /// alone, so an upload or delete in flight is never raced.
    pub orphan_grace: Duration,
    /// `UPLOAD_URL_TTL_SECONDS`: a direct upload still missing after this
    /// plus the grace is expired.
    pub upload_url_ttl: Duration,
    /// `PROCESSING_DEADLINE_SECONDS`: how long an avatar may stay stuck
    /// before its work is sent again.
    pub processing_deadline: Duration,
    /// `MAX_RECEIVE_COUNT`: re-drives of a stuck avatar before it is
    /// marked `failed`.
    pub max_receive_count: u32,
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

/// What purging and sweeping take: the database, the avatar bucket, the
/// upload queue (for re-drives) and the sweep's settings. Borrowed from the
/// [`AppState`](crate::AppState) a binary built ([`crate::AppState::purge`]).
#[derive(Debug, Clone, Copy)]
pub struct Purge<'a> {
    /// The database.
    pub db: &'a Database,
    /// The avatar bucket.
    pub storage: &'a Storage,
    /// The queue a stuck avatar's work is sent to again (`UPLOAD_QUEUE`).
    pub upload_queue: &'a Queue,
    /// The sweep's settings.
    pub settings: SweepSettings,
}

impl Purge<'_> {
    /// Deletes every object under the avatar's prefixes (the original, the
    /// thumbnails, and variants rendered after the delete), then the
    /// soft-deleted row. Returns `false` (doing nothing) when the avatar is
    /// not soft-deleted.
    ///
    /// # Errors
    /// [`PurgeError`].
    #[tracing::instrument(skip_all, fields(avatar_id = %avatar_id, user_id = %user_id))]
    pub async fn purge_avatar(
        &self,
        avatar_id: AvatarId,
        user_id: &UserId,
    ) -> Result<bool, PurgeError> {
        if let Some(row) = self.db.avatar(avatar_id).await? {
            if row.deleted_at.is_none() {
                tracing::warn!("purge refused: the avatar is not deleted");
                return Ok(false);
            }
        }
        let deleted = self
            .storage
            .delete_prefixes(&avatar_prefixes(user_id, avatar_id))
            .await?;
        self.db.hard_delete(avatar_id).await?;
        tracing::info!(objects = deleted, "avatar purged");
        Ok(true)
    }

    /// Sends the work of every avatar stuck past the processing deadline
    /// again (an [`AvatarProcessEvent`] on the upload queue), at most once
    /// per deadline each; after `max_receive_count` such re-drives the
    /// avatar is marked `failed`. An `uploading` avatar counts as stuck only
    /// once its file has arrived (before that its client may still be
    /// sending).
    ///
    /// # Errors
    /// [`PurgeError`].
    async fn redrive_stuck(&self, report: &mut SweepReport) -> Result<(), PurgeError> {
        let settings = self.settings;
        for stuck in self
            .db
            .stuck_avatars(settings.processing_deadline, SWEEP_BATCH)
            .await?
        {
            let avatar = &stuck.avatar;
            let has_file = self.storage.exists(&avatar.s3_key).await?;
            if avatar.status == Status::Uploading && !has_file {
                continue;
            }
            if avatar.status == Status::Processing && !has_file {
                // An upload whose original was never stored: its client got
                // an error, not a 201. Removed once older than the grace.
                if avatar.created_at < ago(settings.orphan_grace) {
                    self.storage
                        .delete_prefixes(&avatar_prefixes(&avatar.user_id, avatar.id))
                        .await?;
                    self.db.remove_unstored(avatar.id).await?;
                    tracing::warn!(avatar_id = %avatar.id, "row of an upload that never completed removed");
                    report.orphan_rows += 1;
                }
                continue;
            }
            if stuck.redrives >= settings.max_receive_count {
                tracing::error!(avatar_id = %avatar.id, redrives = stuck.redrives, "still stuck after every re-drive; marking failed");
                if self
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
            self.upload_queue
                .send_json(&AvatarProcessEvent::thumbnails(avatar.id))
                .await?;
            self.db.mark_redriven(avatar.id).await?;
            tracing::warn!(avatar_id = %avatar.id, status = avatar.status.as_str(), redrives = stuck.redrives + 1, "stuck avatar re-driven");
            report.redriven += 1;
        }
        Ok(())
    }

    /// One sweep: expired direct uploads, stuck avatars, stale soft-deleted
    /// rows, then objects without a row. Objects and rows younger than the
    /// grace are left alone so an upload or delete in flight is never
    /// raced. Also forgets old upload counts and records the inventory
    /// gauges (`avatars_avatars`, `avatars_storage_bytes`).
    ///
    /// # Errors
    /// [`PurgeError`].
    pub async fn sweep(&self) -> Result<SweepReport, PurgeError> {
        let grace = self.settings.orphan_grace;
        let mut report = SweepReport::default();
        // Direct uploads whose URL expired unused (plus the grace):
        // soft-deleted, then purged like any deleted avatar. One whose file
        // did arrive is stuck instead (below), never expired.
        for row in self
            .db
            .old_uploads(self.settings.upload_url_ttl + grace)
            .await?
        {
            if self.storage.exists(&row.s3_key).await? {
                continue;
            }
            if self.db.expire_upload(row.id).await?
                && self.purge_avatar(row.id, &row.user_id).await?
            {
                report.expired_uploads += 1;
            }
        }
        self.redrive_stuck(&mut report).await?;
        for row in self.db.stale_soft_deleted(grace, SWEEP_BATCH).await? {
            if self.purge_avatar(row.id, &row.user_id).await? {
                report.purged_avatars += 1;
            }
        }
        let cutoff = ago(grace);
        let mut candidates = Vec::new();
        for prefix in [INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX] {
            for object in self.storage.list(prefix).await? {
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
        let existing = self.db.existing_ids(&ids).await?;
        let orphans: Vec<String> = candidates
            .into_iter()
            .filter(|(id, _)| !existing.contains(id))
            .map(|(_, key)| key)
            .collect();
        self.storage.delete_keys(&orphans).await?;
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
        self.db.forget_upload_counts(UPLOAD_COUNTS_KEPT).await?;
        // What the database holds, once a sweep (hourly on AWS).
        if let Err(e) = self.db.record_inventory_metrics().await {
            tracing::warn!(error = %e, "inventory metrics not recorded");
        }
        Ok(report)
    }
}

/// The instant `age` before now. An age beyond chrono's range (a grace of
/// millions of years) is the beginning of time: nothing is old enough.
fn ago(age: Duration) -> chrono::DateTime<chrono::Utc> {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_is_before_now_and_saturates() {
        let hour = chrono::Duration::seconds(3600);
        let before = chrono::Utc::now();
        let hour_ago = ago(Duration::from_secs(3600));
        let after = chrono::Utc::now();
        assert!(before - hour <= hour_ago && hour_ago <= after - hour);
        assert_eq!(
            ago(Duration::from_secs(u64::MAX)),
            chrono::DateTime::<chrono::Utc>::MIN_UTC
        );
    }

    #[test]
    fn transient_purge_errors_are_the_dependencies_transient_ones() {
        let timeout = DbError::Unavailable(deadpool_postgres::PoolError::Timeout(
            deadpool_postgres::TimeoutType::Wait,
        ));
        assert!(PurgeError::from(timeout).is_transient());
        let missing_bucket = AwsError::new("storage", "list", false, "NoSuchBucket");
        assert!(!PurgeError::from(missing_bucket).is_transient());
        let throttled = AwsError::new("queue", "send", true, "throttled");
        assert!(PurgeError::from(throttled).is_transient());
    }
}
