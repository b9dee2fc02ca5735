//! Ingest: the one way a file becomes an avatar's stored original, for the
//! multipart upload (upload function) and the direct upload's storage event
//! (thumbnail function) alike.
//!
//! The file is validated — magic bytes, pixel budget, one real decode — and
//! its metadata stripped ([`pipeline::ingest`]) on a blocking thread; the
//! result is the bytes to store at `originals/{user_id}/{avatar_id}` and
//! their variant row (size and ETag computed once). Where the row is
//! written relative to the object differs between the two callers, and
//! each says why.

use bytes::Bytes;

use avatar_adapters::budget::{DecodeBudget, OverBudget};
use avatar_adapters::db::VariantRow;
use avatar_adapters::storage::{Storage, StorageError};
use avatar_domain::keys::ObjectKey;
use avatar_domain::{AvatarId, Crop, CropError, Size, UserId, Variant};
use avatar_pipeline::{self as pipeline, ImageError, Limits};

/// Why a file could not be ingested.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file is not an acceptable image (format, pixel budget, decode):
    /// a 400 for a multipart upload, `failed` for a direct upload.
    #[error(transparent)]
    Refused(#[from] ImageError),
    /// Decoding it would take more memory than this process's whole decode
    /// budget: it can never be processed here (a 400 at upload).
    #[error(transparent)]
    OverBudget(#[from] OverBudget),
    /// The upload's crop is not inside the image (a 400 "Invalid crop" for
    /// a multipart upload, `failed` for a direct upload).
    #[error(transparent)]
    Crop(#[from] CropError),
    /// The blocking ingest task panicked or was cancelled (a bug).
    #[error("ingest task failed: {0}")]
    Task(String),
}

/// A validated, stripped original, ready to store.
#[derive(Debug, Clone)]
pub struct Original {
    /// The bytes to store (EXIF/XMP removed, or re-encoded upright).
    pub bytes: Bytes,
    /// Its row: the `original` variant in the file's own format, its key,
    /// size, displayed dimensions and ETag.
    pub row: VariantRow,
}

impl Original {
    /// Stores the bytes under [`VariantRow::s3_key`] with their MIME type
    /// and, as user metadata, the current trace context: the original's
    /// ObjectCreated event reaches the thumbnail function without it, and
    /// the function reads it from the object to continue this trace.
    ///
    /// # Errors
    /// [`StorageError`].
    pub async fn store(&self, storage: &Storage) -> Result<(), StorageError> {
        storage
            .put_with_metadata(
                &self.row.s3_key,
                self.bytes.clone(),
                self.row.variant.format.mime(),
                avatar_telemetry::trace::carrier(),
            )
            .await
    }
}

/// Validates and strips `upload` as the original of `avatar_id` owned by
/// `user_id`, within `limits`, once `budget` has the memory the decode
/// needs; the upload's `crop` must lie inside the upright image.
///
/// # Errors
/// [`IngestError::Refused`] for a file that is not an acceptable image,
/// [`IngestError::OverBudget`] for one too large to decode here,
/// [`IngestError::Crop`] for a crop outside it.
pub async fn ingest(
    limits: Limits,
    budget: &DecodeBudget,
    user_id: &UserId,
    avatar_id: AvatarId,
    upload: Bytes,
    crop: Option<Crop>,
) -> Result<Original, IngestError> {
    let reservation = budget
        .reserve(pipeline::ingest_memory(&upload, limits)?)
        .await?;
    let key = ObjectKey::Original {
        user_id: user_id.clone(),
        avatar_id,
    }
    .render();
    // Decoding and hashing megabytes are CPU work: off the executor (in
    // the caller's span, so the pipeline's stages join its trace).
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let _reservation = reservation;
        let ingested = pipeline::ingest(&upload, limits)?;
        if let Some(crop) = crop {
            crop.check_within((ingested.width, ingested.height))?;
        }
        let row = VariantRow::for_bytes(
            Variant::new(Size::Original, ingested.format),
            key,
            &ingested.bytes,
            (ingested.width, ingested.height),
        );
        Ok(Original {
            bytes: Bytes::from(ingested.bytes),
            row,
        })
    })
    .await
    .map_err(|e| IngestError::Task(e.to_string()))?
}
