//! Re-render when the sizes change (`THUMBNAIL_SIZES`, README "Backfill"):
//! the ready avatars that lack a configured thumbnail size, or a
//! placeholder.

use super::avatars::IdRow;
use super::{Database, DbError};
use crate::domain::{AvatarId, Size};

impl Database {
    /// Up to `limit` ids, in id order after `after`, of visible `ready`
    /// avatars missing a thumbnail of one of `sizes` in their own format,
    /// or their ThumbHash: what a backfill sends to be rendered again.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn incomplete_ready(
        &self,
        sizes: &[Size],
        after: Option<AvatarId>,
        limit: i64,
    ) -> Result<Vec<AvatarId>, DbError> {
        let sizes: Vec<String> = sizes.iter().map(|s| s.as_str().into_owned()).collect();
        let rows: Vec<IdRow> = self
            .all(
                "SELECT a.id FROM avatars a \
                 WHERE a.deleted_at IS NULL AND a.status = 'ready' \
                   AND ($2::uuid IS NULL OR a.id > $2) \
                   AND (a.thumbhash IS NULL OR EXISTS ( \
                     SELECT 1 FROM unnest($1::text[]) AS wanted(size) \
                     WHERE NOT EXISTS (SELECT 1 FROM avatar_variants v \
                       WHERE v.avatar_id = a.id AND v.size = wanted.size AND v.format = a.format))) \
                 ORDER BY a.id LIMIT $3",
                &[&sizes, &after, &limit],
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}
