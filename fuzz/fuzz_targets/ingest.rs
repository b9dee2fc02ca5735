//! The upload function's path on arbitrary bytes: the validating decode,
//! lossless metadata stripping, and — for a JPEG with an EXIF orientation —
//! the lossless rotation in the DCT domain (libjpeg's transupp, where issue
//! 26's stack overflow was); for HEIC and AVIF, libheif's decode and the
//! re-encode as JPEG or WebP. Must never panic, never touch memory it does
//! not own, never allocate past the pixel budget; what it keeps must be an
//! image of the format it says it is.
#![no_main]

use avatar_pipeline::{self as pipeline, SourceFormat};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(format) = pipeline::sniff(data) else {
        return;
    };
    if let Ok(ingested) = pipeline::ingest(data, common::LIMITS) {
        assert_eq!(
            pipeline::sniff(&ingested.bytes).ok(),
            Some(SourceFormat::from(ingested.format))
        );
    }
    // Stripping alone, on bytes that may not even decode (HEIF is never
    // stripped: it is re-encoded).
    if let Some(served) = pipeline::ImageFormat::ALL
        .into_iter()
        .find(|f| SourceFormat::from(*f) == format)
    {
        let _ = pipeline::strip_metadata(served, data);
    }
});
