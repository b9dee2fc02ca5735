//! Retries that outlast an outage: the per-avatar retry counter, and the
//! avatars the sweep sends again ([`Database::stuck_avatars`]).

use std::time::Duration;

use super::avatars::{avatar_columns, AvatarRow};
use super::{column, Database, DbError, FromRow};
use avatar_domain::AvatarId;

struct Count(i32);

impl FromRow for Count {
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, DbError> {
        column(row, "n").map(Self)
    }
}

/// An avatar whose processing made no progress for too long, with how
/// often the sweep sent its work again already.
#[derive(Debug, Clone)]
pub struct StuckAvatar {
    /// The row (`processing`, or `uploading`).
    pub avatar: AvatarRow,
    /// Times the sweep sent its work again before this one.
    pub redrives: u32,
}

impl FromRow for StuckAvatar {
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, DbError> {
        Ok(Self {
            avatar: AvatarRow::from_row(row)?,
            redrives: column::<i32>(row, "redrives")?.max(0) as u32,
        })
    }
}

impl Database {
    /// Counts one failed processing attempt of `id`; the attempts so far
    /// (0 when the row is gone).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn record_failed_attempt(&self, id: AvatarId) -> Result<u32, DbError> {
        let n: Option<Count> = self
            .opt(
                "UPDATE avatars SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts AS n",
                &[&id],
            )
            .await?;
        Ok(n.map_or(0, |c| c.0.max(0) as u32))
    }

    /// Up to `limit` not-deleted avatars in `processing` or `uploading`
    /// whose last change (or last re-drive) is older than `deadline`,
    /// oldest first. An `uploading` one may just be waiting for its
    /// client; the sweep sends it again only when its file has arrived.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn stuck_avatars(
        &self,
        deadline: Duration,
        limit: i64,
    ) -> Result<Vec<StuckAvatar>, DbError> {
        self.all(
            concat!(
                "SELECT ",
                avatar_columns!(),
                ", redrives FROM avatars \
                 WHERE deleted_at IS NULL AND status IN ('processing', 'uploading') \
                   AND updated_at <= now() - make_interval(secs => $1) \
                   AND (redriven_at IS NULL OR redriven_at <= now() - make_interval(secs => $1)) \
                 ORDER BY updated_at LIMIT $2"
            ),
            &[&deadline.as_secs_f64(), &limit],
        )
        .await
    }

    /// Records that the sweep sent the work of `id` again.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn mark_redriven(&self, id: AvatarId) -> Result<(), DbError> {
        self.run(
            "UPDATE avatars SET redrives = redrives + 1, redriven_at = now() WHERE id = $1",
            &[&id],
        )
        .await
        .map(drop)
    }
}
