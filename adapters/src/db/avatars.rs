//! The `avatars` table: one row per avatar, and the two rules every read
//! follows, each defined once in SQL (the `visible!` and `current_id!`
//! fragments every statement uses) and once in Rust
//! ([`AvatarRow::is_visible`], [`AvatarRow::is_servable`]).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::variants::{upsert_on, VariantRow};
use super::{column, execute, fetch_opt, Database, DbError, FromRow};
use avatar_domain::{AvatarId, Crop, ImageFormat, Status, UserId};

/// How long an `Idempotency-Key` is honoured (contract, "Upload": 24 h).
pub const IDEMPOTENCY_WINDOW_HOURS: i32 = 24;

/// The columns of an [`AvatarRow`], as every statement returns them.
macro_rules! avatar_columns {
    () => {
        "id, user_id, file_name, format, size_bytes, width, height, s3_key, status, \
         created_at, updated_at, deleted_at, thumbhash, crop_x, crop_y, crop_width, crop_height"
    };
}

/// **Visible**, the one SQL definition: not soft-deleted, and not a direct
/// upload still `uploading` (README, "Direct uploads": every read treats it
/// as not found). [`AvatarRow::is_visible`] is the same rule in Rust.
macro_rules! visible {
    () => {
        "deleted_at IS NULL AND status <> 'uploading'"
    };
}

/// **Servable**, the one SQL definition: visible and not `failed` — a
/// failed upload is never served and never replaces a working avatar
/// (README, "Current avatar"). [`AvatarRow::is_servable`] is the same
/// condition in Rust.
macro_rules! servable {
    () => {
        concat!(visible!(), " AND status <> 'failed'")
    };
}

/// **Current avatar**, the one SQL definition: the id of user `$1`'s newest
/// servable avatar.
macro_rules! current_id {
    () => {
        concat!(
            "SELECT id FROM avatars WHERE user_id = $1 AND ",
            servable!(),
            " ORDER BY created_at DESC, id DESC LIMIT 1"
        )
    };
}

/// One avatar row (soft-deleted rows only reach callers that ask for them).
#[derive(Debug, Clone)]
pub struct AvatarRow {
    /// Id.
    pub id: AvatarId,
    /// Owner.
    pub user_id: UserId,
    /// File name as uploaded (sanitised), for metadata.
    pub file_name: String,
    /// Stored format of the original.
    pub format: ImageFormat,
    /// Bytes of the stored original (declared bytes while `uploading`).
    pub size_bytes: i64,
    /// Displayed width, pixels (0 until a direct upload is validated).
    pub width: i32,
    /// Displayed height, pixels (0 until a direct upload is validated).
    pub height: i32,
    /// Key of the original (of the incoming object while `uploading`).
    pub s3_key: String,
    /// Processing status.
    pub status: Status,
    /// Upload time.
    pub created_at: DateTime<Utc>,
    /// Last status change.
    pub updated_at: DateTime<Utc>,
    /// Soft-delete time.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The base64 ThumbHash of its smallest thumbnail, once rendered.
    pub thumbhash: Option<String>,
    /// The square its thumbnails are cut from, in the upright image's
    /// pixels; `None`: the centre.
    pub crop: Option<Crop>,
}

impl AvatarRow {
    /// Whether reads see it: not soft-deleted and not `uploading` (the
    /// `visible!` rule of the SQL).
    pub fn is_visible(&self) -> bool {
        self.deleted_at.is_none() && self.status != Status::Uploading
    }

    /// Whether its images are served: visible and not `failed` (contract,
    /// "Fetch the image": a failed avatar is 404). The current avatar is the
    /// newest servable one (the `current_id!` rule of the SQL).
    pub fn is_servable(&self) -> bool {
        self.is_visible() && self.status != Status::Failed
    }
}

impl FromRow for AvatarRow {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        Ok(Self {
            id: column(row, "id")?,
            user_id: column(row, "user_id")?,
            file_name: column(row, "file_name")?,
            format: column(row, "format")?,
            size_bytes: column(row, "size_bytes")?,
            width: column(row, "width")?,
            height: column(row, "height")?,
            s3_key: column(row, "s3_key")?,
            status: column(row, "status")?,
            created_at: column(row, "created_at")?,
            updated_at: column(row, "updated_at")?,
            deleted_at: column(row, "deleted_at")?,
            thumbhash: column(row, "thumbhash")?,
            crop: crop_from_columns(row)?,
        })
    }
}

/// A crop as the values of `crop_x, crop_y, crop_width, crop_height`, all
/// NULL for none. Its values are at most `i32::MAX`, as every crop that
/// reaches here was checked (`avatar_domain::upload::CropJson::checked`);
/// were one larger, it would be stored as `i32::MAX`, outside every image.
pub(super) fn crop_columns(crop: Option<Crop>) -> [Option<i32>; 4] {
    crop.map_or([None; 4], |c| {
        [c.x, c.y, c.width, c.height].map(|v| Some(i32::try_from(v).unwrap_or(i32::MAX)))
    })
}

fn crop_from_columns(row: &Row) -> Result<Option<Crop>, DbError> {
    let values: [Option<i32>; 4] = [
        column(row, "crop_x")?,
        column(row, "crop_y")?,
        column(row, "crop_width")?,
        column(row, "crop_height")?,
    ];
    let [Some(x), Some(y), Some(width), Some(height)] = values else {
        return Ok(None);
    };
    let pixels = |v: i32| {
        u32::try_from(v).map_err(|_| DbError::Corrupt {
            column: "crop_x",
            reason: format!("negative crop value {v}"),
        })
    };
    Ok(Some(Crop {
        x: pixels(x)?,
        y: pixels(y)?,
        width: pixels(width)?,
        height: pixels(height)?,
    }))
}

/// The id column alone.
pub(super) struct IdRow(pub(super) AvatarId);

impl FromRow for IdRow {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        column(row, "id").map(Self)
    }
}

/// How many not-deleted avatars are in one status.
struct StatusCount(Status, i64);

impl FromRow for StatusCount {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        Ok(Self(column(row, "status")?, column(row, "n")?))
    }
}

/// The bytes of every stored variant (originals included).
struct StoredBytes(i64);

impl FromRow for StoredBytes {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        column(row, "bytes").map(Self)
    }
}

/// A new upload to record; the original is stored as its first variant.
#[derive(Debug, Clone)]
pub struct NewAvatar {
    /// Row fields (`status` is always `processing`, timestamps `now()`).
    pub id: AvatarId,
    /// Owner.
    pub user_id: UserId,
    /// Sanitised file name.
    pub file_name: String,
    /// `Idempotency-Key` header, ≤ 128 characters.
    pub idempotency_key: Option<String>,
    /// The stored original.
    pub original: VariantRow,
    /// The square to cut thumbnails from, checked against the original.
    pub crop: Option<Crop>,
}

/// Outcome of [`Database::insert_avatar`].
#[derive(Debug)]
pub enum Inserted {
    /// A new row.
    Created(AvatarRow),
    /// The same user used the same `Idempotency-Key` within 24 h: the earlier
    /// avatar, nothing inserted.
    Replayed(AvatarRow),
}

/// Keyset position in a user's list: newest first by `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    /// `created_at` of the last item returned.
    pub created_at: DateTime<Utc>,
    /// Id of the last item returned.
    pub id: Uuid,
}

const FIND_IDEMPOTENT: &str = concat!(
    "SELECT ",
    avatar_columns!(),
    " FROM avatars WHERE user_id = $1 AND idempotency_key = $2 \
       AND created_at >= now() - make_interval(hours => $3)"
);

impl Database {
    /// Records a new upload (row + its original variant) in one transaction.
    /// With an `Idempotency-Key` already used by the same user within 24 h,
    /// inserts nothing and returns the earlier row.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn insert_avatar(&self, new: &NewAvatar) -> Result<Inserted, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(key) = &new.idempotency_key {
            execute(
                &tx,
                "UPDATE avatars SET idempotency_key = NULL \
                 WHERE user_id = $1 AND idempotency_key = $2 \
                   AND created_at < now() - make_interval(hours => $3)",
                &[&new.user_id, key, &IDEMPOTENCY_WINDOW_HOURS],
            )
            .await?;
        }
        let [crop_x, crop_y, crop_width, crop_height] = crop_columns(new.crop);
        let created: Option<AvatarRow> = fetch_opt(
            &tx,
            concat!(
                "INSERT INTO avatars (id, user_id, file_name, format, size_bytes, width, \
                   height, s3_key, status, idempotency_key, crop_x, crop_y, crop_width, \
                   crop_height) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL \
                 DO NOTHING RETURNING ",
                avatar_columns!()
            ),
            &[
                &new.id,
                &new.user_id,
                &new.file_name,
                &new.original.variant.format,
                &new.original.size_bytes,
                &new.original.width,
                &new.original.height,
                &new.original.s3_key,
                &Status::Processing,
                &new.idempotency_key,
                &crop_x,
                &crop_y,
                &crop_width,
                &crop_height,
            ],
        )
        .await?;
        let Some(created) = created else {
            // The key is taken: answer with its avatar, on this same
            // connection (a second one could wait on a pool of size 1).
            let key = new.idempotency_key.as_deref().unwrap_or_default();
            let existing = fetch_opt(
                &tx,
                FIND_IDEMPOTENT,
                &[&new.user_id, &key, &IDEMPOTENCY_WINDOW_HOURS],
            )
            .await?
            .ok_or_else(|| DbError::Corrupt {
                column: "idempotency_key",
                reason: "conflict without a row".into(),
            })?;
            return Ok(Inserted::Replayed(existing));
        };
        upsert_on(&tx, new.id, &new.original).await?;
        tx.commit().await?;
        Ok(Inserted::Created(created))
    }

    /// Keeps `crop` as the square of an avatar that has none yet (the one
    /// `CROP=attention` chose on its first render); one already kept is
    /// never replaced.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn keep_crop(&self, id: AvatarId, crop: Crop) -> Result<(), DbError> {
        let [x, y, width, height] = crop_columns(Some(crop));
        self.run(
            "UPDATE avatars SET crop_x = $2, crop_y = $3, crop_width = $4, crop_height = $5 \
             WHERE id = $1 AND crop_x IS NULL",
            &[&id, &x, &y, &width, &height],
        )
        .await
        .map(drop)
    }

    /// The avatar a user created with `key` within the last 24 h, deleted or not.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn find_idempotent(
        &self,
        user_id: &UserId,
        key: &str,
    ) -> Result<Option<AvatarRow>, DbError> {
        self.opt(FIND_IDEMPOTENT, &[user_id, &key, &IDEMPOTENCY_WINDOW_HOURS])
            .await
    }

    /// Removes a row whose original could not be stored (upload rollback).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn remove_unstored(&self, id: AvatarId) -> Result<(), DbError> {
        self.run("DELETE FROM avatars WHERE id = $1", &[&id])
            .await
            .map(drop)
    }

    /// A row by id, including soft-deleted and `uploading` ones.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn avatar(&self, id: AvatarId) -> Result<Option<AvatarRow>, DbError> {
        self.opt(
            concat!("SELECT ", avatar_columns!(), " FROM avatars WHERE id = $1"),
            &[&id],
        )
        .await
    }

    /// A row by id when it is visible ([`AvatarRow::is_visible`]).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn visible_avatar(&self, id: AvatarId) -> Result<Option<AvatarRow>, DbError> {
        self.opt(
            concat!(
                "SELECT ",
                avatar_columns!(),
                " FROM avatars WHERE id = $1 AND ",
                visible!()
            ),
            &[&id],
        )
        .await
    }

    /// Whether avatar `id` is servable ([`AvatarRow::is_servable`]): what a
    /// hot variant's hit asks ([`crate::cache`]), one index lookup that
    /// returns no row data.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn is_servable(&self, id: AvatarId) -> Result<bool, DbError> {
        let found: Option<IdRow> = self
            .opt(
                concat!("SELECT id FROM avatars WHERE id = $1 AND ", servable!()),
                &[&id],
            )
            .await?;
        Ok(found.is_some())
    }

    /// The user's current avatar (the `current_id!` rule).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn current_avatar(&self, user_id: &UserId) -> Result<Option<AvatarRow>, DbError> {
        self.opt(
            concat!(
                "SELECT ",
                avatar_columns!(),
                " FROM avatars WHERE id = (",
                current_id!(),
                ")"
            ),
            &[user_id],
        )
        .await
    }

    /// Moves a not-deleted avatar from one of `from` to `to`; `false` when
    /// the row is gone, deleted, or in another status.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn set_status(
        &self,
        id: AvatarId,
        from: &[Status],
        to: Status,
    ) -> Result<bool, DbError> {
        let n = self
            .run(
                "UPDATE avatars SET status = $2, updated_at = now() \
                 WHERE id = $1 AND deleted_at IS NULL AND status = ANY($3)",
                &[&id, &to, &from],
            )
            .await?;
        Ok(n == 1)
    }

    /// Marks a `processing` avatar `ready`, recording its ThumbHash (kept
    /// when `thumbhash` is `None`); `false` when it was not `processing`.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn set_ready(&self, id: AvatarId, thumbhash: Option<&str>) -> Result<bool, DbError> {
        let n = self
            .run(
                "UPDATE avatars SET status = 'ready', thumbhash = COALESCE($2, thumbhash), \
                   updated_at = now() \
                 WHERE id = $1 AND deleted_at IS NULL AND status = 'processing'",
                &[&id, &thumbhash],
            )
            .await?;
        Ok(n == 1)
    }

    /// Records the ThumbHash of an avatar that has none yet (one rendered
    /// before placeholders existed).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn set_thumbhash(&self, id: AvatarId, thumbhash: &str) -> Result<(), DbError> {
        self.run(
            "UPDATE avatars SET thumbhash = $2 WHERE id = $1 AND thumbhash IS NULL",
            &[&id, &thumbhash],
        )
        .await
        .map(drop)
    }

    /// Up to `limit` of the user's visible avatars, newest first, after
    /// `cursor`. Fetches one more than asked so callers know whether a next
    /// page exists.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn list_for_user(
        &self,
        user_id: &UserId,
        limit: i64,
        cursor: Option<ListCursor>,
    ) -> Result<Vec<AvatarRow>, DbError> {
        let page = limit + 1;
        match cursor {
            None => {
                self.all(
                    concat!(
                        "SELECT ",
                        avatar_columns!(),
                        " FROM avatars WHERE user_id = $1 AND ",
                        visible!(),
                        " ORDER BY created_at DESC, id DESC LIMIT $2"
                    ),
                    &[user_id, &page],
                )
                .await
            }
            Some(c) => {
                self.all(
                    concat!(
                        "SELECT ",
                        avatar_columns!(),
                        " FROM avatars WHERE user_id = $1 AND ",
                        visible!(),
                        " AND (created_at, id) < ($3, $4) \
                         ORDER BY created_at DESC, id DESC LIMIT $2"
                    ),
                    &[user_id, &page, &c.created_at, &c.id],
                )
                .await
            }
        }
    }

    /// Soft-deletes a visible avatar owned by `owner`; returns the row as it
    /// was, or `None` when there was nothing to delete.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn soft_delete(
        &self,
        id: AvatarId,
        owner: &UserId,
    ) -> Result<Option<AvatarRow>, DbError> {
        self.opt(
            concat!(
                "UPDATE avatars SET deleted_at = now(), updated_at = now() \
                 WHERE id = $1 AND user_id = $2 AND ",
                visible!(),
                " RETURNING ",
                avatar_columns!()
            ),
            &[&id, owner],
        )
        .await
    }

    /// Soft-deletes the user's current avatar (see [`Database::current_avatar`]).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn soft_delete_current(
        &self,
        user_id: &UserId,
    ) -> Result<Option<AvatarRow>, DbError> {
        self.opt(
            concat!(
                "UPDATE avatars SET deleted_at = now(), updated_at = now() WHERE id = (",
                current_id!(),
                " FOR UPDATE) AND deleted_at IS NULL RETURNING ",
                avatar_columns!()
            ),
            &[user_id],
        )
        .await
    }

    /// `KEEP_AVATARS_PER_USER`: soft-deletes user `$1`'s visible avatars
    /// beyond the newest `keep` (by upload time), except the current one
    /// (which a newer failed or processing upload may push past `keep`);
    /// returns the rows deleted. Concurrent calls delete each row once.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn soft_delete_beyond(
        &self,
        user_id: &UserId,
        keep: u32,
    ) -> Result<Vec<AvatarRow>, DbError> {
        self.all(
            concat!(
                "UPDATE avatars SET deleted_at = now(), updated_at = now() WHERE id IN (\
                 SELECT id FROM avatars WHERE user_id = $1 AND ",
                visible!(),
                " ORDER BY created_at DESC, id DESC OFFSET $2) AND deleted_at IS NULL \
                 AND id IS DISTINCT FROM (",
                current_id!(),
                ") RETURNING ",
                avatar_columns!()
            ),
            &[user_id, &i64::from(keep)],
        )
        .await
    }

    /// Removes a soft-deleted row and its variant rows for good (after its
    /// objects are purged). `false` when no such row (already purged).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn hard_delete(&self, id: AvatarId) -> Result<bool, DbError> {
        let n = self
            .run(
                "DELETE FROM avatars WHERE id = $1 AND deleted_at IS NOT NULL",
                &[&id],
            )
            .await?;
        Ok(n == 1)
    }

    /// Soft-deleted rows deleted more than `older_than` ago, oldest first, at
    /// most `limit`: their purge event was lost or failed for good.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn stale_soft_deleted(
        &self,
        older_than: Duration,
        limit: i64,
    ) -> Result<Vec<AvatarRow>, DbError> {
        self.all(
            concat!(
                "SELECT ",
                avatar_columns!(),
                " FROM avatars WHERE deleted_at IS NOT NULL \
                   AND deleted_at <= now() - make_interval(secs => $1) \
                 ORDER BY deleted_at LIMIT $2"
            ),
            &[&older_than.as_secs_f64(), &limit],
        )
        .await
    }

    /// Records what the database holds as metrics: not-deleted avatars by
    /// status (`avatars_avatars`) and the bytes of every stored original and
    /// variant (`avatars_storage_bytes`). Two aggregate queries: run by a
    /// poller (`avatar-local`) or the sweep, never per request.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn record_inventory_metrics(&self) -> Result<(), DbError> {
        let counts: Vec<StatusCount> = self
            .all(
                "SELECT status, count(*) AS n FROM avatars WHERE deleted_at IS NULL GROUP BY status",
                &[],
            )
            .await?;
        let bytes: Option<StoredBytes> = self
            .opt(
                "SELECT COALESCE(sum(size_bytes), 0)::BIGINT AS bytes FROM avatar_variants",
                &[],
            )
            .await?;
        let by_status: Vec<(&'static str, u64)> = [
            Status::Uploading,
            Status::Processing,
            Status::Ready,
            Status::Failed,
        ]
        .into_iter()
        .map(|status| {
            let n = counts.iter().find(|c| c.0 == status).map_or(0, |c| c.1);
            (status.as_str(), n.max(0) as u64)
        })
        .collect();
        avatar_telemetry::metrics::inventory(&by_status, bytes.map_or(0, |b| b.0.max(0) as u64));
        Ok(())
    }

    /// Which of `ids` have a row (deleted or not).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn existing_ids(&self, ids: &[AvatarId]) -> Result<HashSet<AvatarId>, DbError> {
        let rows: Vec<IdRow> = self
            .all("SELECT id FROM avatars WHERE id = ANY($1)", &[&ids])
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}

pub(super) use avatar_columns;
