//! Processing an avatar after its file arrived, for the thumbnail function:
//! accept a direct upload's file as the original ([`Processing::accept_direct_upload`]),
//! render the thumbnails and mark the avatar `ready`
//! ([`Processing::render_thumbnails`]), or whichever of the two an
//! avatar's state needs ([`Processing::process_avatar`], the sweep's and a
//! backfill's AvatarProcessEvent). Each is idempotent: a redelivery finds
//! its work done.
//!
//! A file or original that can never be processed settles the avatar
//! `failed` ([`Processed::Poison`] for an original that does not render);
//! a failure of storage or the database is a [`ProcessError`], which the
//! event edge retries — never marking the avatar `failed` while it is
//! transient.

use avatar_adapters::aws::AwsError;
use avatar_adapters::db::{Database, DbError, VariantRow};
use avatar_adapters::storage::Storage;
use avatar_domain::keys::ObjectKey;
use avatar_domain::{AvatarId, Size, Status, UserId, Variant};
use avatar_telemetry::metrics::RenderTrigger;

use crate::deletion::Deletion;
use crate::originals::{self, IngestError};
use crate::renditions::{render_and_store, RenderError, Renderer, Stored};

/// How a message's work ended, when it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// Done, or nothing to do (a redelivery, a deleted avatar, a refused
    /// direct upload marked `failed`).
    Done,
    /// The stored original does not render: the avatar was marked `failed`
    /// (when not `ready` already). Retrying cannot help.
    Poison,
}

/// Which variants [`Processing::render_thumbnails`] renders.
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

/// Why processing stopped before its end (the work is retried).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Object storage failed.
    #[error(transparent)]
    Storage(#[from] AwsError),
    /// Rendering failed for a reason other than the original itself
    /// (storage, the database, the render task).
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The blocking ingest task panicked or was cancelled (a bug).
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

impl ProcessError {
    /// Whether retrying later may succeed: storage or the database out of
    /// reach ([`DbError::is_transient`], [`AwsError::is_transient`],
    /// [`RenderError::is_transient`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Db(e) => e.is_transient(),
            Self::Storage(e) => e.is_transient(),
            Self::Render(e) => e.is_transient(),
            Self::Ingest(_) => false,
        }
    }
}

/// What processing takes: rendering (with the database and the bucket),
/// the aftermath of the retention rule's soft deletes (with the hot
/// variants), and the settings.
/// Borrowed from the [`AppState`](crate::AppState) a binary built
/// ([`crate::AppState::processing`]).
#[derive(Debug, Clone, Copy)]
pub struct Processing<'a> {
    /// Rendering variants: also the database, the avatar bucket, and what
    /// ingest takes (the decode budget and the pixel limits).
    pub renderer: Renderer<'a>,
    /// What follows the soft deletes of `KEEP_AVATARS_PER_USER`; also this
    /// process's hot variants, forgotten after a re-render.
    pub deletion: Deletion<'a>,
    /// `THUMBNAIL_SIZES`.
    pub thumbnail_sizes: &'a [Size],
    /// `MAX_UPLOAD_BYTES`: a direct upload's file larger than this is refused.
    pub max_upload_bytes: u64,
    /// `KEEP_AVATARS_PER_USER` (0 = keep all).
    pub keep_avatars_per_user: u32,
}

impl Processing<'_> {
    fn db(&self) -> &Database {
        self.renderer.db
    }

    fn storage(&self) -> &Storage {
        self.renderer.storage
    }

    /// An AvatarProcessEvent: a direct upload whose file arrived is
    /// accepted; otherwise the thumbnails `render` names are rendered and
    /// the avatar marked `ready`. Nothing to do for a gone, deleted or
    /// `failed` avatar, or an `uploading` one whose file has not arrived.
    ///
    /// # Errors
    /// [`ProcessError`].
    #[tracing::instrument(skip(self), fields(avatar_id = %avatar_id))]
    pub async fn process_avatar(
        &self,
        avatar_id: AvatarId,
        render: Render,
    ) -> Result<Processed, ProcessError> {
        match self.db().avatar(avatar_id).await? {
            Some(row) if row.deleted_at.is_none() && row.status == Status::Uploading => {
                self.accept_direct_upload(&row.user_id, avatar_id).await
            }
            Some(row) if row.deleted_at.is_none() && row.status != Status::Failed => {
                self.render_thumbnails(avatar_id, render).await
            }
            _ => {
                tracing::info!("nothing to process");
                Ok(Processed::Done)
            }
        }
    }

    /// A direct upload arrived at `uploads/{user_id}/{avatar_id}`: the same
    /// validation as a multipart upload (size limit, magic bytes, pixel
    /// budget, one full decode, metadata stripped). A valid file is stored
    /// as the original and the row becomes `processing`; an invalid one
    /// marks the avatar `failed`. Either way the incoming object is
    /// removed. The thumbnails are rendered here too, as the original's
    /// event may have been handled while the row was still `uploading`. A
    /// redelivery, or an object without an `uploading` row, only removes
    /// the object.
    ///
    /// # Errors
    /// [`ProcessError`].
    #[tracing::instrument(skip(self, user_id), fields(avatar_id = %avatar_id))]
    pub async fn accept_direct_upload(
        &self,
        user_id: &UserId,
        avatar_id: AvatarId,
    ) -> Result<Processed, ProcessError> {
        let incoming = ObjectKey::Incoming {
            user_id: user_id.clone(),
            avatar_id,
        }
        .render();
        let row = self.db().avatar(avatar_id).await?;
        let pending = row.as_ref().is_some_and(|a| {
            a.status == Status::Uploading && a.deleted_at.is_none() && &a.user_id == user_id
        });
        if !pending {
            tracing::info!("no pending direct upload for this object; removing it");
            self.storage().delete_keys(&[incoming]).await?;
            return Ok(Processed::Done);
        }
        let Some(bytes) = self.storage().get(&incoming).await? else {
            tracing::info!("incoming object already gone; nothing to do");
            return Ok(Processed::Done);
        };
        let max = self.max_upload_bytes;
        let size = bytes.len() as u64;
        let ingested = if size > max {
            Err(format!("{size} bytes is over the limit of {max}"))
        } else {
            let crop = row.as_ref().and_then(|a| a.crop);
            let (limits, budget) = (self.renderer.limits, self.renderer.budget);
            match originals::ingest(limits, budget, user_id, avatar_id, bytes, crop).await {
                Ok(original) => Ok(original),
                Err(IngestError::Refused(e)) => Err(e.to_string()),
                Err(IngestError::OverBudget(e)) => Err(e.to_string()),
                Err(IngestError::Crop(e)) => Err(e.to_string()),
                Err(e @ IngestError::Task(_)) => return Err(e.into()),
            }
        };
        let original = match ingested {
            Ok(original) => original,
            Err(reason) => {
                tracing::warn!(reason = %reason, "direct upload refused; marking failed");
                self.db()
                    .set_status(avatar_id, &[Status::Uploading], Status::Failed)
                    .await?;
                self.storage().delete_keys(&[incoming]).await?;
                // The client's file was refused: a settled outcome, not poison.
                return Ok(Processed::Done);
            }
        };
        // Stored first: until the row says `processing`, the original's own
        // event finds an `uploading` row and leaves it to this function's retry.
        original.store(self.storage()).await?;
        self.db().complete_upload(avatar_id, &original.row).await?;
        self.storage().delete_keys(&[incoming]).await?;
        let row = &original.row;
        tracing::info!(format = %row.variant.format, width = row.width, height = row.height, "direct upload accepted");
        // The original's own event may have come and gone while the row was
        // still `uploading`; render here (a later event finds nothing missing).
        self.render_thumbnails(avatar_id, Render::Missing).await
    }

    /// Renders the thumbnails of the avatar that `render` names and marks
    /// it `ready` (recording upload → ready in
    /// `avatars_processing_seconds`), then applies `KEEP_AVATARS_PER_USER`.
    /// Done without work when the avatar is gone, deleted or complete;
    /// [`Processed::Poison`] when the original does not render (an avatar
    /// not `ready` yet is marked `failed`).
    ///
    /// # Errors
    /// [`ProcessError`].
    #[tracing::instrument(skip(self), fields(avatar_id = %avatar_id))]
    pub async fn render_thumbnails(
        &self,
        avatar_id: AvatarId,
        render: Render,
    ) -> Result<Processed, ProcessError> {
        let Some(avatar) = self.db().avatar(avatar_id).await? else {
            tracing::info!("no row (purged); nothing to do");
            return Ok(Processed::Done);
        };
        if !avatar.is_visible() {
            // Deleted, or a direct upload's original stored just before its
            // row is completed (accept_direct_upload renders those itself).
            tracing::info!(
                status = avatar.status.as_str(),
                deleted = avatar.deleted_at.is_some(),
                "avatar not visible; nothing to do"
            );
            return Ok(Processed::Done);
        }
        let stored = self.db().variants_of(avatar_id).await?;
        let mut wanted: Vec<_> = self
            .thumbnail_sizes
            .iter()
            .map(|size| Variant::new(*size, avatar.format))
            .filter(|v| !stored.iter().any(|s| s.variant == *v))
            .collect();
        let rerender = render == Render::All && avatar.status == Status::Ready;
        if rerender {
            let own_original = Variant::new(Size::Original, avatar.format);
            wanted.extend(stored.iter().map(|s| s.variant).filter(|v| {
                *v != own_original
                    && (v.size == Size::Original || self.thumbnail_sizes.contains(&v.size))
            }));
        }
        let mut rendered = Vec::new();
        if !wanted.is_empty() {
            match render_and_store(self.renderer, &avatar, &wanted, RenderTrigger::Event).await {
                Ok(stored) => {
                    tracing::info!(variants = stored.len(), rerender, "thumbnails stored");
                    rendered = stored;
                    if rerender {
                        // This process's hot copies are stale now; another
                        // instance's expire within cache::HELD_AT_MOST.
                        self.deletion.hot.forget(avatar_id);
                    }
                }
                Err(e @ (RenderError::Image(_) | RenderError::OverBudget(_))) => {
                    tracing::warn!(error = %e, "original does not render; marking failed");
                    self.db()
                        .set_status(avatar_id, &[Status::Processing], Status::Failed)
                        .await?;
                    return Ok(Processed::Poison);
                }
                Err(RenderError::OriginalMissing | RenderError::Deleted) => {
                    tracing::info!("avatar deleted or being purged; nothing to do");
                    return Ok(Processed::Done);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let thumbhash = if avatar.thumbhash.is_some() && !rerender {
            None
        } else {
            let known = stored.iter().chain(rendered.iter().map(|r| &r.row));
            self.placeholder(known, &rendered).await?
        };
        let became_ready = self.db().set_ready(avatar_id, thumbhash.as_deref()).await?;
        if became_ready {
            let elapsed = (chrono::Utc::now() - avatar.created_at)
                .to_std()
                .unwrap_or_default();
            avatar_telemetry::metrics::processed(elapsed);
        } else if let Some(hash) = &thumbhash {
            // Ready before placeholders existed, or re-rendered (a backfill).
            self.db().set_thumbhash(avatar_id, hash).await?;
        }
        // A new ready avatar may push the user's oldest past
        // KEEP_AVATARS_PER_USER (checked on every delivery: a retry after a
        // failure here prunes then).
        self.deletion
            .prune_beyond_keep(&avatar.user_id, self.keep_avatars_per_user)
            .await?;
        Ok(Processed::Done)
    }

    /// The base64 ThumbHash of the avatar's smallest thumbnail: from the
    /// bytes just rendered when the smallest is among them (no extra I/O:
    /// a 100 px decode, a fraction of a millisecond), else read back from
    /// storage. `None` when there is no thumbnail to take it from. `known`
    /// is every variant row of the avatar (those read before rendering,
    /// then the rendered ones).
    ///
    /// # Errors
    /// Storage failures (retryable).
    async fn placeholder<'v>(
        &self,
        known: impl Iterator<Item = &'v VariantRow>,
        rendered: &[Stored],
    ) -> Result<Option<String>, ProcessError> {
        let Some(smallest) = known
            .filter(|v| v.variant.size.side().is_some())
            .min_by_key(|v| v.variant.size)
        else {
            return Ok(None);
        };
        let bytes = match rendered.iter().find(|r| r.row.variant == smallest.variant) {
            Some(r) => r.bytes.clone(),
            None => match self.storage().get(&smallest.s3_key).await? {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dependency_outages_are_transient() {
        let closed = || DbError::Unavailable(deadpool_postgres::PoolError::Closed);
        assert!(ProcessError::from(closed()).is_transient());
        assert!(ProcessError::from(RenderError::Db(closed())).is_transient());
        let missing_bucket = AwsError::new("storage", "get", false, "NoSuchBucket");
        assert!(!ProcessError::from(missing_bucket).is_transient());
        assert!(!ProcessError::from(IngestError::Task("panicked".into())).is_transient());
    }
}
