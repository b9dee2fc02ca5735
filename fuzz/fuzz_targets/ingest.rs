//! The upload function's path on arbitrary bytes: the validating decode,
//! lossless metadata stripping, and — for a JPEG with an EXIF orientation —
//! the lossless rotation in the DCT domain (libjpeg's transupp, where issue
//! 26's stack overflow was). Must never panic, never touch memory it does
//! not own, never allocate past the pixel budget; what it keeps must be an
//! image of the sniffed format.
#![no_main]

use avatar_pipeline as pipeline;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(format) = pipeline::sniff(data) else {
        return;
    };
    if let Ok(ingested) = pipeline::ingest(data, common::LIMITS) {
        assert_eq!(pipeline::sniff(&ingested.bytes).ok(), Some(format));
    }
    // Stripping alone, on bytes that may not even decode.
    let _ = pipeline::strip_metadata(format, data);
});
