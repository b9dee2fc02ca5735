//! The thumbnail function's path on arbitrary bytes: sniff → probe →
//! shrink-on-load decode (libheif for HEIC and AVIF) → colour → cover crop
//! → encode (JPEG and WebP); two inputs in three cut a crop (derived from
//! the input's length, as a user's square would be: inside the upright
//! image, or now and then not). Must never
//! panic, never touch memory it does not own (AddressSanitizer), and never
//! allocate past what the pixel budget allows.
#![no_main]

use avatar_pipeline::{self as pipeline, Crop, ImageFormat, Scans, Size, Variant};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if pipeline::sniff(data).is_err() {
        return;
    }
    let Ok(probe) = pipeline::probe(data, common::LIMITS) else {
        return;
    };
    let (w, h) = probe.display_dimensions();
    let n = data.len() as u32;
    let crop = (n % 3 != 0).then(|| {
        let short = w.min(h).max(1);
        let side = short / 2 + n % (short / 2 + 1);
        Crop {
            x: (n.wrapping_mul(7) % (w.saturating_sub(side) + 1)) + u32::from(n % 5 == 0) * w,
            y: n.wrapping_mul(13) % (h.saturating_sub(side) + 1),
            width: side,
            height: side + n % 2,
        }
    });
    let _ = pipeline::render_with(
        data,
        common::LIMITS,
        &[
            Variant::new(Size::THUMB_100, ImageFormat::Jpeg),
            Variant::new(Size::THUMB_300, ImageFormat::Webp),
        ],
        crop,
        Scans::Needed,
    );
});
