//! Starting an upload, for the upload function's three routes: the per-user
//! limits every new upload passes first (multipart, HTML form and direct
//! alike), and storing a multipart upload as a new avatar's original.

use bytes::Bytes;

use avatar_adapters::budget::DecodeBudget;
use avatar_adapters::db::{AvatarRow, Database, DbError, Inserted, NewAvatar};
use avatar_adapters::storage::{Storage, StorageError};
use avatar_domain::upload::file_name_or_default;
use avatar_domain::{AvatarId, Crop, UserId};
use avatar_pipeline::Limits;

use crate::originals::{self, IngestError};

/// The per-user limits of a new upload; 0 turns either off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// `UPLOADS_PER_USER_PER_MINUTE`: attempts per clock minute.
    pub per_minute: u32,
    /// `MAX_AVATARS_PER_USER`: avatars kept (not deleted).
    pub max_avatars: u32,
}

/// Why a user may not start an upload now.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// More than `per_minute` attempts this clock minute (contract: 429).
    #[error("more than {per_minute} uploads this minute")]
    RateLimited {
        /// The limit, uploads per minute.
        per_minute: u32,
        /// Seconds until the next minute (1–60).
        retry_after: u32,
    },
    /// The user keeps `max_avatars` avatars already (contract: 409).
    #[error("{max_avatars} avatars kept already")]
    TooManyAvatars {
        /// The limit.
        max_avatars: u32,
    },
    /// The database failed (retryable).
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why a multipart upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file is not an acceptable image, too large to decode here, or
    /// its crop is outside it.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The database failed (the row was not written, or was removed again).
    #[error(transparent)]
    Db(#[from] DbError),
    /// Storing the original failed; its row was removed again.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A multipart upload, as the HTTP edge read it.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// Who uploads.
    pub user: UserId,
    /// The `Idempotency-Key` header (contract, "Upload"), validated.
    pub idempotency_key: Option<String>,
    /// The client's file name, sanitised (may be empty: a default with the
    /// format's extension is recorded then).
    pub file_name: String,
    /// The file, at most `MAX_UPLOAD_BYTES`.
    pub bytes: Bytes,
    /// The square the thumbnails are cut from, checked against the image.
    pub crop: Option<Crop>,
}

/// What starting an upload takes: the database (limits, the row), the
/// avatar bucket, the decode budget and the pixel budget. Borrowed from the
/// [`AppState`](crate::AppState) a binary built ([`crate::AppState::uploads`]).
#[derive(Debug, Clone, Copy)]
pub struct Uploads<'a> {
    /// The database.
    pub db: &'a Database,
    /// The avatar bucket.
    pub storage: &'a Storage,
    /// The memory a decode reserves first.
    pub budget: &'a DecodeBudget,
    /// `MAX_PIXELS`, checked before decoding.
    pub image_limits: Limits,
    /// The per-user limits.
    pub limits: UploadLimits,
}

impl Uploads<'_> {
    /// The per-user limits of a new upload: at most `per_minute` attempts
    /// per clock minute (counted in the database, so across every
    /// instance; each attempt counts, rejected ones too, as each costs a
    /// decode) and at most `max_avatars` avatars kept (checked before the
    /// insert: two uploads at the same instant may pass it together).
    ///
    /// # Errors
    /// [`LimitError`].
    pub async fn check_limits(&self, user: &UserId) -> Result<(), LimitError> {
        let UploadLimits {
            per_minute,
            max_avatars,
        } = self.limits;
        if per_minute > 0 {
            let count = self.db.count_upload(user).await?;
            if count.this_minute > per_minute {
                return Err(LimitError::RateLimited {
                    per_minute,
                    retry_after: count.seconds_left,
                });
            }
        }
        if max_avatars > 0 && self.db.kept_avatars(user).await? >= u64::from(max_avatars) {
            return Err(LimitError::TooManyAvatars { max_avatars });
        }
        Ok(())
    }

    /// Validates, strips and stores `upload` as a new avatar, its
    /// thumbnails to be cut from its crop. Inserts the row (`processing`)
    /// before the object is stored, so the object's ObjectCreated
    /// notification always finds its row, and removes the row again if
    /// storing fails. A replayed idempotency key answers the avatar it
    /// created first.
    ///
    /// # Errors
    /// [`UploadError`].
    pub async fn store(&self, upload: NewUpload) -> Result<AvatarRow, UploadError> {
        let id = AvatarId::new();
        tracing::Span::current().record("avatar_id", tracing::field::display(id));
        let original = originals::ingest(
            self.image_limits,
            self.budget,
            &upload.user,
            id,
            upload.bytes,
            upload.crop,
        )
        .await?;
        let format = original.row.variant.format;
        let new = NewAvatar {
            id,
            user_id: upload.user,
            file_name: file_name_or_default(&upload.file_name, format.extension()),
            idempotency_key: upload.idempotency_key,
            original: original.row.clone(),
            crop: upload.crop,
        };
        let avatar = match self.db.insert_avatar(&new).await? {
            Inserted::Replayed(existing) => return Ok(existing),
            Inserted::Created(avatar) => avatar,
        };
        if let Err(e) = original.store(self.storage).await {
            if let Err(cleanup) = self.db.remove_unstored(id).await {
                tracing::error!(error = %cleanup, "could not remove the row of an unstored upload");
            }
            return Err(e.into());
        }
        tracing::info!(format = %format, width = original.row.width, height = original.row.height, "avatar uploaded");
        Ok(avatar)
    }
}
