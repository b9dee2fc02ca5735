//! The thumbnail function's path on arbitrary bytes: sniff → probe →
//! shrink-on-load decode (libheif for HEIC and AVIF) → colour → cover crop
//! → encode (JPEG and WebP). Must never
//! panic, never touch memory it does not own (AddressSanitizer), and never
//! allocate past what the pixel budget allows.
#![no_main]

use avatar_pipeline::{self as pipeline, ImageFormat, Size, Variant};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if pipeline::sniff(data).is_err() || pipeline::probe(data, common::LIMITS).is_err() {
        return;
    }
    let _ = pipeline::render(
        data,
        common::LIMITS,
        &[
            Variant::new(Size::THUMB_100, ImageFormat::Jpeg),
            Variant::new(Size::THUMB_300, ImageFormat::Webp),
        ],
    );
});
