//! The `avatar_variants` table: every stored rendition of an avatar (the
//! original included), with the ETag a 304 is answered from.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use tokio_postgres::Row;

use super::{column, execute, Database, DbError, FromRow};
use avatar_domain::{AvatarId, Variant};

/// Strong ETag value (without quotes) of `bytes`: the first 128 bits of
/// their SHA-256, hex, 32 characters (contract: `ETag: "<hash of the bytes
/// served>"`). Computed once, when a variant is stored
/// ([`VariantRow::for_bytes`]), and kept in its row.
pub fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// One stored variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantRow {
    /// Size and format.
    pub variant: Variant,
    /// Object key.
    pub s3_key: String,
    /// Bytes.
    pub size_bytes: i64,
    /// Width, pixels.
    pub width: i32,
    /// Height, pixels.
    pub height: i32,
    /// Strong ETag value without quotes: a hash of the bytes ([`etag_of`]).
    pub etag: String,
}

impl VariantRow {
    /// The row of `bytes` stored as `variant` under `s3_key`, `width`×`height`
    /// pixels: its size and ETag computed here, once.
    pub fn for_bytes(
        variant: Variant,
        s3_key: String,
        bytes: &[u8],
        (width, height): (u32, u32),
    ) -> Self {
        Self {
            variant,
            s3_key,
            size_bytes: bytes.len() as i64,
            width: width as i32,
            height: height as i32,
            etag: etag_of(bytes),
        }
    }
}

impl FromRow for VariantRow {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        Ok(Self {
            variant: Variant::new(column(row, "size")?, column(row, "format")?),
            s3_key: column(row, "s3_key")?,
            size_bytes: column(row, "size_bytes")?,
            width: column(row, "width")?,
            height: column(row, "height")?,
            etag: column(row, "etag")?,
        })
    }
}

/// A variant row with the avatar it belongs to.
struct OwnedVariant(AvatarId, VariantRow);

impl FromRow for OwnedVariant {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        Ok(Self(column(row, "avatar_id")?, VariantRow::from_row(row)?))
    }
}

/// The columns of a [`VariantRow`].
macro_rules! variant_columns {
    () => {
        "size, format, s3_key, size_bytes, width, height, etag"
    };
}

/// The one INSERT of a variant row, on a pooled client or inside a
/// transaction; see [`Database::upsert_variant`].
pub(super) async fn upsert_on(
    client: &impl deadpool_postgres::GenericClient,
    id: AvatarId,
    v: &VariantRow,
) -> Result<bool, DbError> {
    let n = execute(
        client,
        "INSERT INTO avatar_variants (avatar_id, size, format, s3_key, size_bytes, width, \
           height, etag) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
         WHERE EXISTS (SELECT 1 FROM avatars WHERE id = $1 AND deleted_at IS NULL) \
         ON CONFLICT (avatar_id, size, format) DO UPDATE SET \
           s3_key = EXCLUDED.s3_key, size_bytes = EXCLUDED.size_bytes, \
           width = EXCLUDED.width, height = EXCLUDED.height, etag = EXCLUDED.etag, \
           created_at = now()",
        &[
            &id,
            &v.variant.size,
            &v.variant.format,
            &v.s3_key,
            &v.size_bytes,
            &v.width,
            &v.height,
            &v.etag,
        ],
    )
    .await?;
    Ok(n == 1)
}

impl Database {
    /// One stored variant of an avatar.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn variant(
        &self,
        id: AvatarId,
        variant: Variant,
    ) -> Result<Option<VariantRow>, DbError> {
        self.opt(
            concat!(
                "SELECT ",
                variant_columns!(),
                " FROM avatar_variants WHERE avatar_id = $1 AND size = $2 AND format = $3"
            ),
            &[&id, &variant.size, &variant.format],
        )
        .await
    }

    /// Every stored variant of each of `ids` (ordered by size and format name).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn variants(
        &self,
        ids: &[AvatarId],
    ) -> Result<HashMap<AvatarId, Vec<VariantRow>>, DbError> {
        let rows: Vec<OwnedVariant> = self
            .all(
                concat!(
                    "SELECT avatar_id, ",
                    variant_columns!(),
                    " FROM avatar_variants WHERE avatar_id = ANY($1) \
                     ORDER BY avatar_id, size, format"
                ),
                &[&ids],
            )
            .await?;
        let mut out: HashMap<AvatarId, Vec<VariantRow>> = HashMap::new();
        for OwnedVariant(id, row) in rows {
            out.entry(id).or_default().push(row);
        }
        Ok(out)
    }

    /// Every stored variant of one avatar.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn variants_of(&self, id: AvatarId) -> Result<Vec<VariantRow>, DbError> {
        Ok(self.variants(&[id]).await?.remove(&id).unwrap_or_default())
    }

    /// Records a stored variant (replacing an earlier record of the same
    /// variant). Returns `false`, recording nothing, when the avatar is gone
    /// or soft-deleted.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn upsert_variant(&self, id: AvatarId, v: &VariantRow) -> Result<bool, DbError> {
        upsert_on(&self.client().await?, id, v).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_is_stable_and_short() {
        let a = etag_of(b"hello");
        assert_eq!(a.len(), 32);
        assert_eq!(a, etag_of(b"hello"));
        assert_ne!(a, etag_of(b"hellp"));
    }
}
