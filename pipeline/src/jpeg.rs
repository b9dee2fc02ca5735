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
fn unwound(panic: Box<dyn std::any::Any + Send>) -> String {
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
}
