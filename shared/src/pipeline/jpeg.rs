//! JPEG shrink-on-load: libjpeg-turbo's DCT-domain scaling (through the
//! `mozjpeg` crate, which builds the library from source) decodes straight
//! to M/8 of the size, M = 1..8. At 1/8 only the DC coefficient of each
//! block is used, so a 24 MP photo decodes as 0.4 MP — the largest single
//! saving of the pipeline (libvips, Pillow's `draft` and imgproxy do the same).

use image::{DynamicImage, GrayImage, RgbImage};
use mozjpeg::{Decompress, Format};

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
    .map_err(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "libjpeg error".into());
        ImageError::Invalid(msg)
    })?
    .map_err(|e| ImageError::Invalid(e.to_string()))
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
