//! Re-render when the sizes change (`THUMBNAIL_SIZES`, README "Backfill"):
//! the ready avatars that lack a configured thumbnail size, or a
//! placeholder; and when the pipeline changed the pixels it makes: the
//! ready avatars with a variant rendered before a time.

use chrono::{DateTime, Utc};

use super::avatars::IdRow;
use super::{Database, DbError, Params};
use avatar_domain::{AvatarId, Size};

/// The ids of visible `ready` avatars after `$2` (or from the first, when
/// NULL) meeting `$condition` on `a`, in id order, at most `$3`.
macro_rules! ready_avatars_where {
    ($condition:literal) => {
        concat!(
            "SELECT a.id FROM avatars a \
             WHERE a.deleted_at IS NULL AND a.status = 'ready' \
               AND ($2::uuid IS NULL OR a.id > $2) AND ",
            $condition,
            " ORDER BY a.id LIMIT $3"
        )
    };
}

/// `sizes` as the `avatar_variants.size` column writes them.
fn size_names(sizes: &[Size]) -> Vec<String> {
    sizes.iter().map(|s| s.as_str().into_owned()).collect()
}

impl Database {
    /// The ids a [`ready_avatars_where!`] query answers.
    async fn ids(&self, sql: &'static str, params: Params<'_>) -> Result<Vec<AvatarId>, DbError> {
        let rows: Vec<IdRow> = self.all(sql, params).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

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
        self.ids(
            ready_avatars_where!(
                "(a.thumbhash IS NULL OR EXISTS ( \
                   SELECT 1 FROM unnest($1::text[]) AS wanted(size) \
                   WHERE NOT EXISTS (SELECT 1 FROM avatar_variants v \
                     WHERE v.avatar_id = a.id AND v.size = wanted.size \
                       AND v.format = a.format)))"
            ),
            &[&size_names(sizes), &after, &limit],
        )
        .await
    }

    /// Up to `limit` ids, in id order after `after`, of visible `ready`
    /// avatars with a variant rendered (stored or replaced) before `before`
    /// — one of `sizes` or `original` in any format, but not the stored
    /// original itself (the `original` in the avatar's own format): what
    /// `backfill --rerender-before` sends to be rendered again. A
    /// re-rendered avatar's variants are newer, so a repeated or resumed
    /// run skips it; a size no longer configured is not served, so it is
    /// not asked for.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn rendered_before(
        &self,
        sizes: &[Size],
        before: DateTime<Utc>,
        after: Option<AvatarId>,
        limit: i64,
    ) -> Result<Vec<AvatarId>, DbError> {
        self.ids(
            ready_avatars_where!(
                "EXISTS (SELECT 1 FROM avatar_variants v \
                   WHERE v.avatar_id = a.id AND v.created_at < $1 \
                     AND (v.size = 'original' OR v.size = ANY($4::text[])) \
                     AND NOT (v.size = 'original' AND v.format = a.format))"
            ),
            &[&before, &after, &limit, &size_names(sizes)],
        )
        .await
    }
}
