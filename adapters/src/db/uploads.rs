//! Direct (presigned) uploads (contract, `POST /api/v1/avatars/uploads`):
//! an avatar row in status `uploading` from the moment the URL is handed
//! out, completed into `processing` once the storage event has validated
//! the file, or expired by the sweep when the URL went unused.

use std::time::Duration;

use super::avatars::{avatar_columns, crop_columns, AvatarRow};
use super::variants::{upsert_on, VariantRow};
use super::{column, execute, Database, DbError, FromRow};
use avatar_domain::{AvatarId, Crop, ImageFormat, Status, UserId};

/// A direct upload to record ([`Database::insert_pending_upload`]).
#[derive(Debug, Clone)]
pub struct PendingUpload {
    /// The avatar the file becomes.
    pub id: AvatarId,
    /// Owner.
    pub user_id: UserId,
    /// Sanitised file name.
    pub file_name: String,
    /// The format recorded until the file arrives.
    pub format: ImageFormat,
    /// The declared size, bytes.
    pub declared_bytes: i64,
    /// Where the presigned PUT stores the file (`uploads/{user_id}/{avatar_id}`).
    pub incoming_key: String,
    /// The square to cut thumbnails from, its shape checked; whether it
    /// lies inside the image is checked when the file arrives.
    pub crop: Option<Crop>,
}

/// One upload attempt counted ([`Database::count_upload`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadCount {
    /// Attempts of the user in this clock minute, this one included.
    pub this_minute: u32,
    /// Seconds until the next minute starts (1–60).
    pub seconds_left: u32,
}

struct CountRow(i32, i32);

impl FromRow for CountRow {
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, DbError> {
        Ok(Self(column(row, "uploads")?, column(row, "seconds_left")?))
    }
}

struct Count(i64);

impl FromRow for Count {
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, DbError> {
        column(row, "n").map(Self)
    }
}

impl Database {
    /// Counts one upload attempt of `user_id` in the current clock minute,
    /// atomically (two instances counting at once both see the right
    /// total), and returns the count so far.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn count_upload(&self, user_id: &UserId) -> Result<UploadCount, DbError> {
        let row: Option<CountRow> = self
            .opt(
                "INSERT INTO upload_counts (user_id, minute, uploads) \
                 VALUES ($1, date_trunc('minute', now()), 1) \
                 ON CONFLICT (user_id, minute) DO UPDATE SET uploads = upload_counts.uploads + 1 \
                 RETURNING uploads, \
                   GREATEST(1, CEIL(EXTRACT(EPOCH FROM minute + interval '1 minute' - now())))::INTEGER \
                     AS seconds_left",
                &[user_id],
            )
            .await?;
        let CountRow(uploads, seconds_left) = row.ok_or_else(|| DbError::Corrupt {
            column: "uploads",
            reason: "INSERT returned no row".into(),
        })?;
        Ok(UploadCount {
            this_minute: uploads.max(0) as u32,
            seconds_left: seconds_left.clamp(1, 60) as u32,
        })
    }

    /// Removes the counts of minutes that ended more than `older_than` ago.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn forget_upload_counts(&self, older_than: Duration) -> Result<u64, DbError> {
        self.run(
            "DELETE FROM upload_counts WHERE minute < now() - make_interval(secs => $1)",
            &[&older_than.as_secs_f64()],
        )
        .await
    }

    /// The avatars `user_id` keeps: every row not deleted (whatever its
    /// status), which is what `MAX_AVATARS_PER_USER` bounds.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn kept_avatars(&self, user_id: &UserId) -> Result<u64, DbError> {
        let n: Option<Count> = self
            .opt(
                "SELECT count(*) AS n FROM avatars WHERE user_id = $1 AND deleted_at IS NULL",
                &[user_id],
            )
            .await?;
        Ok(n.map_or(0, |c| c.0.max(0) as u64))
    }

    /// Records a direct upload about to be sent: status `uploading`, the
    /// client's declared type, size and crop, no dimensions yet.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn insert_pending_upload(&self, new: &PendingUpload) -> Result<AvatarRow, DbError> {
        let [crop_x, crop_y, crop_width, crop_height] = crop_columns(new.crop);
        self.opt(
            concat!(
                "INSERT INTO avatars (id, user_id, file_name, format, size_bytes, width, \
                   height, s3_key, status, crop_x, crop_y, crop_width, crop_height) \
                 VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7, $8, $9, $10, $11) RETURNING ",
                avatar_columns!()
            ),
            &[
                &new.id,
                &new.user_id,
                &new.file_name,
                &new.format,
                &new.declared_bytes,
                &new.incoming_key,
                &Status::Uploading,
                &crop_x,
                &crop_y,
                &crop_width,
                &crop_height,
            ],
        )
        .await?
        .ok_or_else(|| DbError::Corrupt {
            column: "id",
            reason: "INSERT returned no row".into(),
        })
    }

    /// Completes a direct upload whose file passed validation: the row takes
    /// the stored original's format, size, dimensions and key, becomes
    /// `processing`, and gets its original variant row, in one transaction.
    /// `false` when the row is not (or no longer) an `uploading` one.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn complete_upload(
        &self,
        id: AvatarId,
        original: &VariantRow,
    ) -> Result<bool, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = execute(
            &tx,
            "UPDATE avatars SET status = $7, format = $2, size_bytes = $3, \
               width = $4, height = $5, s3_key = $6, updated_at = now() \
             WHERE id = $1 AND status = $8 AND deleted_at IS NULL",
            &[
                &id,
                &original.variant.format,
                &original.size_bytes,
                &original.width,
                &original.height,
                &original.s3_key,
                &Status::Processing,
                &Status::Uploading,
            ],
        )
        .await?;
        if n == 0 {
            return Ok(false);
        }
        upsert_on(&tx, id, original).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Direct uploads still `uploading` after `older_than`: their URL
    /// expired; unused, unless their file arrived and its processing
    /// failed (the sweep tells the two apart). The status is spelled out,
    /// not a parameter, so that the statement matches the partial index
    /// `avatars_uploading` even as a generic prepared plan.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn old_uploads(&self, older_than: Duration) -> Result<Vec<AvatarRow>, DbError> {
        self.all(
            concat!(
                "SELECT ",
                avatar_columns!(),
                " FROM avatars WHERE status = 'uploading' AND deleted_at IS NULL \
                   AND created_at <= now() - make_interval(secs => $1)"
            ),
            &[&older_than.as_secs_f64()],
        )
        .await
    }

    /// Soft-deletes the direct upload `id` if it is still `uploading` (its
    /// URL expired unused), for purging; `false` when it is not.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn expire_upload(&self, id: AvatarId) -> Result<bool, DbError> {
        let n = self
            .run(
                "UPDATE avatars SET deleted_at = now(), updated_at = now() \
                 WHERE id = $1 AND status = 'uploading' AND deleted_at IS NULL",
                &[&id],
            )
            .await?;
        Ok(n == 1)
    }
}
