//! sniff → probe → render (and ingest, and a 1/8 decode) on arbitrary bytes: must never panic,
//! and must never allocate past what the pixel budget allows (run with
//! `-malloc_limit_mb`, see `make fuzz`).
#![no_main]

use avatar_pipeline::{self as pipeline, ImageFormat, Limits, Size, Variant};
use libfuzzer_sys::fuzz_target;

/// 4 MP: the largest decode is 4 M × 8 bytes (16-bit RGBA) = 32 MiB.
const LIMITS: Limits = Limits {
    max_pixels: 4_000_000,
};

fuzz_target!(|data: &[u8]| {
    if pipeline::sniff(data).is_err() || pipeline::probe(data, LIMITS).is_err() {
        return;
    }
    let _ = pipeline::render(
        data,
        LIMITS,
        &[
            Variant::new(Size::Thumb100, ImageFormat::Jpeg),
            Variant::new(Size::Thumb300, ImageFormat::Webp),
        ],
    );
    let _ = pipeline::ingest(data, LIMITS);
    // A 1 px short side: 1/8 for any JPEG, so a progressive one takes the
    // DC-scans path (its marker walk and libjpeg on the shortened stream).
    let _ = pipeline::decode_at_least(data, LIMITS, Some(1));
});
