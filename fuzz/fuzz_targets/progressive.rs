//! The progressive JPEG shortcut on arbitrary bytes: the DC-scan extraction
//! (our own marker walk, `jpeg::dc_scans`) and libjpeg on the shortened
//! stream through a 1/8 decode. The extraction must never panic, only
//! drop bytes (never invent any), and keep the stream's start.
#![no_main]

use avatar_pipeline as pipeline;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if let Some(scans) = pipeline::dc_scans(data) {
        assert!(
            scans.len() <= data.len(),
            "{} > {}",
            scans.len(),
            data.len()
        );
        assert!(scans.starts_with(&[0xFF, 0xD8]));
    }
    // A 1 px short side: 1/8 for any JPEG, so a progressive one takes the
    // DC-scans path.
    let _ = pipeline::decode_at_least(data, common::LIMITS, Some(1));
});
