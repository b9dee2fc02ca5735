//! Rendering variants from a stored original and storing them: shared by the
//! thumbnail function (after upload) and the get function (on demand).

use bytes::Bytes;

use avatar_adapters::budget::{DecodeBudget, OverBudget};
use avatar_adapters::config::CropMode;
use avatar_adapters::db::{AvatarRow, Database, DbError, VariantRow};
use avatar_adapters::storage::{Storage, StorageError};
use avatar_domain::keys::ObjectKey;
use avatar_domain::Variant;
use avatar_pipeline::{self as pipeline, ImageError, Limits};
use avatar_telemetry::metrics::RenderTrigger;

/// Why variants could not be rendered and stored.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The original object is gone (the avatar is being purged).
    #[error("original object missing")]
    OriginalMissing,
    /// The avatar was deleted while its variants were rendered: what this
    /// render stored is removed again (the purge may have listed the
    /// avatar's objects before it was written).
    #[error("avatar deleted while rendering")]
    Deleted,
    /// The original does not decode or encode: retrying cannot help (poison).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Object storage failed: retryable.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The database failed: retryable.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Rendering would take more memory than the whole decode budget: it
    /// can never succeed in this process (poison).
    #[error(transparent)]
    OverBudget(#[from] OverBudget),
    /// The blocking render task panicked or was cancelled.
    #[error("render task failed: {0}")]
    Task(String),
}

impl RenderError {
    /// Whether retrying later may succeed: storage or the database out of
    /// reach ([`StorageError::is_transient`], [`DbError::is_transient`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Storage(e) => e.is_transient(),
            Self::Db(e) => e.is_transient(),
            Self::OriginalMissing
            | Self::Deleted
            | Self::Image(_)
            | Self::OverBudget(_)
            | Self::Task(_) => false,
        }
    }
}

/// A variant that was rendered, stored and recorded.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its database record (key, ETag, dimensions).
    pub row: VariantRow,
    /// The encoded bytes.
    pub bytes: Bytes,
}

/// What rendering takes: the bucket of originals and variants, the
/// database that records the variants, the decode budget, and the image
/// settings (`MAX_PIXELS`, `CROP`). Borrowed from the
/// [`AppState`](crate::AppState) a binary built ([`crate::AppState::renderer`]).
#[derive(Debug, Clone, Copy)]
pub struct Renderer<'a> {
    /// The avatar bucket.
    pub storage: &'a Storage,
    /// The database the variant rows (and a chosen crop) go to.
    pub db: &'a Database,
    /// The memory a decode reserves first.
    pub budget: &'a DecodeBudget,
    /// The pixel budget checked before decoding.
    pub limits: Limits,
    /// How the square is chosen when the avatar has no crop of its own.
    pub crop: CropMode,
}

/// Reads the avatar's original once, decodes it once (on a blocking thread,
/// in the caller's span), renders every variant in `variants` — cut from
/// the avatar's crop; else, with `CROP=attention`, from the square
/// attention chooses (then kept as the avatar's crop); else the centre —
/// stores each
/// object and records it, counting it in `avatars_variants_rendered_total`
/// with its `trigger`. Encoders are deterministic, so a concurrent render of
/// the same variant writes the same bytes and ETag.
///
/// # Errors
/// [`RenderError`]; `Image` means the original itself is bad.
pub async fn render_and_store(
    renderer: Renderer<'_>,
    avatar: &AvatarRow,
    variants: &[Variant],
    trigger: RenderTrigger,
) -> Result<Vec<Stored>, RenderError> {
    let Renderer {
        storage,
        db,
        budget,
        limits,
        crop: crop_mode,
    } = renderer;
    let original = storage
        .get(&avatar.s3_key)
        .await?
        .ok_or(RenderError::OriginalMissing)?;
    let crop = avatar.crop;
    let attention = crop.is_none() && crop_mode == CropMode::Attention;
    let needed = pipeline::render_memory(&original, limits, variants, crop)?;
    let reservation = budget.reserve(needed).await?;
    let wanted = variants.to_vec();
    let span = tracing::Span::current();
    let (renditions, chosen) = tokio::task::spawn_blocking(move || {
        let _reservation = reservation;
        let scans = pipeline::Scans::Needed;
        span.in_scope(|| {
            if attention {
                pipeline::render_attention(&original, limits, &wanted, scans)
            } else {
                pipeline::render_with(&original, limits, &wanted, crop, scans).map(|r| (r, None))
            }
        })
    })
    .await
    .map_err(|e| RenderError::Task(e.to_string()))??;
    if let Some(chosen) = chosen {
        // Kept, so that every later render (on demand, backfill) cuts the
        // same square without looking again; the first one stored wins.
        db.keep_crop(avatar.id, chosen).await?;
    }
    let stores = renditions.into_iter().map(|r| async move {
        let key =
            ObjectKey::for_variant(&avatar.user_id, avatar.id, r.variant, avatar.format).render();
        let row = VariantRow::for_bytes(r.variant, key, &r.bytes, (r.width, r.height));
        let bytes = Bytes::from(r.bytes);
        storage
            .put(&row.s3_key, bytes.clone(), r.variant.format.mime())
            .await?;
        if !db.upsert_variant(avatar.id, &row).await? {
            // Deleted meanwhile: the purge may be done already, and would
            // never see this object.
            storage
                .delete_keys(std::slice::from_ref(&row.s3_key))
                .await?;
            return Err(RenderError::Deleted);
        }
        avatar_telemetry::metrics::variant_rendered(row.variant, trigger);
        Ok::<_, RenderError>(Stored { row, bytes })
    });
    // Every store runs to its end (not try_join_all, which would drop the
    // others at the first error, possibly between a put and its clean-up).
    futures::future::join_all(stores)
        .await
        .into_iter()
        .collect()
}
