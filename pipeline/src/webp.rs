//! WebP through libwebp (built from source by `libwebp-sys`): decoding with
//! libwebp's built-in rescaler straight to thumbnail size (the VP8 bitstream
//! is still decoded whole, but no full-size RGB buffer is ever made), and
//! lossy encoding.

use image::{DynamicImage, RgbImage, RgbaImage};
use libwebp_sys as ffi;

use crate::decoded::ImageError;

/// Lossy WebP quality of rendered variants (imgproxy's and libvips' default
/// is 75–80).
pub const WEBP_QUALITY: f32 = 80.0;

/// Outputs with a short side at most this, pixels, are validation decodes
/// (ingest decodes to a 1 px short side): see [`decode_scaled`].
const VALIDATION_SIDE: u32 = 8;

fn invalid(what: &str) -> ImageError {
    ImageError::Invalid(format!("WebP: {what}"))
}

/// Output size for a source of `width`×`height` whose short side must stay
/// at least `min_short_side`: proportional, never larger than the source.
pub fn scaled_size(width: u32, height: u32, min_short_side: u32) -> (u32, u32) {
    let short = width.min(height);
    if min_short_side >= short {
        return (width, height);
    }
    let scale =
        |v: u32| (u64::from(v) * u64::from(min_short_side)).div_ceil(u64::from(short)) as u32;
    (scale(width), scale(height))
}

/// Decodes, scaled so the short side is `min_short_side` (full size with
/// `None`). Alpha is kept when the file has it.
///
/// # Errors
/// [`ImageError::Invalid`] for animated, truncated or corrupt files.
pub fn decode_scaled(
    bytes: &[u8],
    min_short_side: Option<u32>,
) -> Result<DynamicImage, ImageError> {
    // Layout (issue 26's audit): `WebPDecoderConfig` and the structs in it
    // are allocated here and handed to libwebp. Unlike libjpeg's (checked
    // at compile time, `ffi_layout.rs`), they get no size/offset check:
    // libwebp-sys' declarations are bindgen's output over the very headers
    // it compiles libwebp from (its `vendor/`), not written by hand, and
    // libwebp itself refuses a config of another ABI version
    // (`WebPInitDecoderConfig` passes `WEBP_DECODER_ABI_VERSION`, which
    // `WebPDecoderConfig::new` calls). The encoder path hands libwebp only
    // byte buffers and out-pointers.
    let mut config = ffi::WebPDecoderConfig::new().map_err(|()| invalid("decoder init"))?;
    // SAFETY: `bytes` outlives the call; `config.input` is a valid out-pointer
    // of the bindgen-declared layout (above).
    let status = unsafe { ffi::WebPGetFeatures(bytes.as_ptr(), bytes.len(), &mut config.input) };
    if status != ffi::VP8StatusCode::VP8_STATUS_OK {
        return Err(invalid(&format!("unreadable header ({status:?})")));
    }
    if config.input.has_animation != 0 {
        return Err(invalid("animated WebP is not supported"));
    }
    let (width, height) = (config.input.width as u32, config.input.height as u32);
    let (out_w, out_h) = match min_short_side {
        Some(side) => scaled_size(width, height, side),
        None => (width, height),
    };
    if (out_w, out_h) != (width, height) {
        config.options.use_scaling = 1;
        config.options.scaled_width = out_w as i32;
        config.options.scaled_height = out_h as i32;
    }
    if out_w.min(out_h) <= VALIDATION_SIDE {
        // Decoding only to prove the file decodes (ingest): every
        // macroblock is still parsed and reconstructed, but the loop filter
        // and fancy upsampling, which only make pixels prettier, are
        // skipped.
        config.options.bypass_filtering = 1;
        config.options.no_fancy_upsampling = 1;
    }
    let alpha = config.input.has_alpha != 0;
    let channels = if alpha { 4 } else { 3 };
    let stride = out_w as usize * channels;
    let mut pixels = vec![0u8; stride * out_h as usize];
    config.output.colorspace = if alpha {
        ffi::WEBP_CSP_MODE::MODE_RGBA
    } else {
        ffi::WEBP_CSP_MODE::MODE_RGB
    };
    config.output.is_external_memory = 1;
    config.output.u.RGBA = ffi::WebPRGBABuffer {
        rgba: pixels.as_mut_ptr(),
        stride: stride as i32,
        size: pixels.len(),
    };
    // SAFETY: the output buffer is `pixels`, sized stride × height, alive
    // for the call; libwebp writes only inside it (external memory).
    let status = unsafe { ffi::WebPDecode(bytes.as_ptr(), bytes.len(), &mut config) };
    // SAFETY: frees nothing of ours (external memory); required by the API.
    unsafe { ffi::WebPFreeDecBuffer(&mut config.output) };
    if status != ffi::VP8StatusCode::VP8_STATUS_OK {
        return Err(invalid(&format!("decode failed ({status:?})")));
    }
    let image = if alpha {
        RgbaImage::from_raw(out_w, out_h, pixels).map(DynamicImage::ImageRgba8)
    } else {
        RgbImage::from_raw(out_w, out_h, pixels).map(DynamicImage::ImageRgb8)
    };
    image.ok_or_else(|| invalid("buffer size"))
}

/// Lossy WebP at [`WEBP_QUALITY`], no metadata; `channels` is 3 (RGB) or 4 (RGBA).
///
/// # Errors
/// [`ImageError::Encode`] when libwebp refuses (e.g. over 16383 px a side).
pub fn encode_lossy(
    raw: &[u8],
    width: u32,
    height: u32,
    channels: usize,
) -> Result<Vec<u8>, ImageError> {
    let stride = width as usize * channels;
    if raw.len() < stride * height as usize {
        return Err(ImageError::Encode(
            "pixel buffer smaller than the image".into(),
        ));
    }
    let encode = if channels == 4 {
        ffi::WebPEncodeRGBA
    } else {
        ffi::WebPEncodeRGB
    };
    let mut out: *mut u8 = std::ptr::null_mut();
    // SAFETY: `raw` holds at least stride × height bytes (checked above);
    // libwebp allocates `out`, which is freed below with WebPFree.
    let len = unsafe {
        encode(
            raw.as_ptr(),
            width as i32,
            height as i32,
            stride as i32,
            WEBP_QUALITY,
            &mut out,
        )
    };
    if len == 0 || out.is_null() {
        return Err(ImageError::Encode("libwebp refused to encode".into()));
    }
    // SAFETY: libwebp returned `len` valid bytes at `out`.
    let bytes = unsafe { std::slice::from_raw_parts(out, len) }.to_vec();
    // SAFETY: `out` came from libwebp's allocator.
    unsafe { ffi::WebPFree(out.cast()) };
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_sizes() {
        assert_eq!(scaled_size(4096, 4096, 300), (300, 300));
        assert_eq!(scaled_size(4272, 2848, 1200), (1800, 1200));
        assert_eq!(scaled_size(2140, 1200, 1200), (2140, 1200));
        assert_eq!(scaled_size(100, 50, 300), (100, 50));
    }
}
