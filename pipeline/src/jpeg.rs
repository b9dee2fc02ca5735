//! JPEG shrink-on-load: libjpeg-turbo's DCT-domain scaling (through the
//! `mozjpeg` crate, which builds the library from source) decodes straight
//! to M/8 of the size, M = 1..8. At 1/8 only the DC coefficient of each
//! block is used, so a 24 MP photo decodes as 0.4 MP — the largest single
//! saving of the pipeline (libvips, Pillow's `draft` and imgproxy do the same).

use image::{DynamicImage, GrayImage, RgbImage};
use mozjpeg::{ColorSpace, Compress, Decompress, Format};

use super::ImageError;

/// The smallest scale numerator M (output = ceil(size × M / 8)) whose short
/// side is still at least `min_short_side`; 8 (full size) when even that
/// is not enough.
pub fn scale_for(width: u32, height: u32, min_short_side: u32) -> u8 {
    let short = u64::from(width.min(height));
    (1..=8u8)
        .find(|&m| (short * u64::from(m)).div_ceil(8) >= u64::from(min_short_side))
        .unwrap_or(8)
}

/// Whether the frame of a JPEG is progressive (SOF2, SOF6, SOF10 or SOF14),
/// read by walking its marker segments up to the first Start Of Frame;
/// `false` for anything that is not a well-formed marker sequence there.
/// libjpeg keeps the coefficients of a whole progressive image in memory
/// (2 bytes per coefficient, at full size whatever the output scale), so
/// a decode budget must count them.
pub fn is_progressive(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut at = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return false;
        };
        match marker {
            0xC2 | 0xC6 | 0xCA | 0xCE => return true,
            // Any other SOF, or a scan before a frame: not progressive.
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => return false,
            0xDA | 0xD9 => return false,
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let (Some(&hi), Some(&lo)) = (bytes.get(at + 2), bytes.get(at + 3)) else {
                    return false;
                };
                at += 2 + usize::from(u16::from_be_bytes([hi, lo]));
            }
        }
    }
}

/// Decodes at scale M/8 (see [`scale_for`]). `Ok(None)` for colour spaces
/// this path does not convert (CMYK/YCCK): the caller falls back to the
/// full-size decoder.
///
/// # Errors
/// [`ImageError::Invalid`] when libjpeg reports a fatal error.
pub fn decode_scaled(bytes: &[u8], numerator: u8) -> Result<Option<DynamicImage>, ImageError> {
    // libjpeg reports fatal errors by unwinding out of the C code (the
    // `mozjpeg` crate's error manager); contain them here.
    std::panic::catch_unwind(|| -> std::io::Result<Option<DynamicImage>> {
        let mut decoder = Decompress::new_mem(bytes)?;
        decoder.scale(numerator);
        match decoder.image()? {
            Format::RGB(mut started) => {
                let (w, h) = (started.width() as u32, started.height() as u32);
                let pixels: Vec<u8> = started.read_scanlines()?;
                started.finish()?;
                Ok(RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8))
            }
            Format::Gray(mut started) => {
                let (w, h) = (started.width() as u32, started.height() as u32);
                let pixels: Vec<u8> = started.read_scanlines()?;
                started.finish()?;
                Ok(GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8))
            }
            Format::CMYK(_) => Ok(None),
        }
    })
    .map_err(|p| ImageError::Invalid(unwound(p)))?
    .map_err(|e| ImageError::Invalid(e.to_string()))
}

/// Turns a caught libjpeg unwind into an error message.
pub(crate) fn unwound(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "libjpeg error".into())
}

/// Encodes 8-bit RGB as a baseline JPEG at `quality` with libjpeg-turbo's
/// own settings (4:2:0, no trellis or progressive scans: speed over the last
/// few percent of size), no metadata.
///
/// # Errors
/// [`ImageError::Encode`] when libjpeg fails.
pub fn encode_rgb(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, ImageError> {
    std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
        let mut compress = Compress::new(ColorSpace::JCS_RGB);
        compress.set_fastest_defaults();
        compress.set_size(width as usize, height as usize);
        compress.set_quality(f32::from(quality));
        let mut started = compress.start_compress(Vec::new())?;
        started.write_scanlines(rgb)?;
        started.finish()
    })
    .map_err(|p| ImageError::Encode(unwound(p)))?
    .map_err(|e| ImageError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_keeps_the_short_side_large_enough() {
        // 6000x4000: 1/8 -> 500 covers 300; 1200 needs 3/8 -> 1500.
        assert_eq!(scale_for(6000, 4000, 300), 1);
        assert_eq!(scale_for(6000, 4000, 1200), 3);
        assert_eq!(scale_for(2560, 1600, 300), 2);
        // Short side below the request: full size, never upscaled later.
        assert_eq!(scale_for(1080, 1920, 1200), 8);
        assert_eq!(scale_for(10, 10, 1), 1);
    }

    #[test]
    fn progressive_frames_are_told_from_their_markers() {
        let fixture = |name| crate::testing::fixture(name);
        assert!(is_progressive(&fixture("jp3_photo_sunset_prog.jpg")));
        assert!(!is_progressive(&fixture("j09_photo_eveningglow.jpg")));
        // EXIF (APP1) before the frame is walked over.
        assert!(!is_progressive(&fixture("j17_photo_dragonfly_exif6.jpg")));
        // Truncated before any frame: not progressive.
        for broken in [
            &b""[..],
            b"\xFF\xD8",
            b"\xFF\xD8\xFF\xE0\xFF",
            b"\xFF\xD8\xFF\xE0\x00\x10",
        ] {
            assert!(!is_progressive(broken), "{broken:?}");
        }
        // The marker alone says so.
        assert!(is_progressive(b"\xFF\xD8\xFF\xC2"));
        assert!(!is_progressive(&fixture("p07_art_sway.png")));
    }
}
