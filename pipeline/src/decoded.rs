//! What decoding knows and gives, below every decoder: the header's facts
//! ([`Probe`]), the pixel budget checked against them ([`Limits`]), the
//! pixels ([`Decoded`]) and why an image is refused ([`ImageError`]).

use image::DynamicImage;

use crate::variant::SourceFormat;

/// Why an image was rejected or could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The magic bytes are not JPEG, PNG or WebP (contract: 400 "Invalid file format").
    #[error("unsupported format")]
    UnsupportedFormat,
    /// Sniffs as an image but cannot be decoded (contract: 400 "Invalid image").
    #[error("invalid image: {0}")]
    Invalid(String),
    /// Width × height over the pixel budget (contract: 400 "Image dimensions too large").
    #[error("{width}x{height} is over the budget of {max_pixels} pixels")]
    TooManyPixels {
        /// Width from the header, pixels.
        width: u32,
        /// Height from the header, pixels.
        height: u32,
        /// The configured budget, pixels.
        max_pixels: u64,
    },
    /// Encoding an output failed (a bug or resource exhaustion, not bad input).
    #[error("encode failed: {0}")]
    Encode(String),
}

/// Limits applied before and during decode.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted width × height, pixels, checked from the header before
    /// any pixel is decoded (decompression-bomb guard; default 50 MP).
    pub max_pixels: u64,
}

/// What the headers say, before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Format from the magic bytes.
    pub format: SourceFormat,
    /// Stored width, pixels (before orientation).
    pub width: u32,
    /// Stored height, pixels (before orientation).
    pub height: u32,
    /// EXIF orientation, 1–8 (1 when absent).
    pub orientation: u8,
    /// Bytes per decoded pixel (1 for 8-bit grey, 3 for RGB, 4 for RGBA, 8
    /// for 16-bit RGBA).
    pub bytes_per_pixel: u8,
    /// A progressive JPEG ([`crate::jpeg::is_progressive`]); `false` otherwise.
    pub progressive: bool,
}

impl Probe {
    /// Width and height as displayed, i.e. after the EXIF orientation.
    pub fn display_dimensions(&self) -> (u32, u32) {
        if self.orientation >= 5 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// A decoded image plus what is needed to render from it.
pub struct Decoded {
    /// Headers.
    pub probe: Probe,
    pub(crate) image: DynamicImage,
    /// The embedded ICC profile (JPEG APP2, PNG `iCCP`, WebP `ICCP`), as
    /// the decoder reported it; `None` for an untagged image.
    pub(crate) icc_profile: Option<Vec<u8>>,
}

/// Refuses a header's `width`×`height` that is empty or over the pixel
/// budget — before any pixel is decoded, whatever the decoder.
pub(crate) fn check_dimensions(width: u32, height: u32, limits: Limits) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Invalid("zero width or height".into()));
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    Ok(())
}
