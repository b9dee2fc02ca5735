//! The one way this crate calls `fast_image_resize`: typed, so that only
//! the pixel types it resizes (grey, RGB, RGBA, 8 bits each) are compiled
//! into the binary. `Resizer::resize` dispatches at run time over all
//! thirteen of the library's pixel types (16-bit, `i32` and float ones
//! included) and linked every one's SIMD convolutions: 1.5 MB of the get
//! and thumbnail functions' binaries (BENCHMARKS.md, "Cold start and
//! binary size").

use fast_image_resize as fr;

/// Resizes `raw`, interleaved pixels of type `F` and `from` (width,
/// height) pixels, to `to` pixels with `options`; the resized pixels.
///
/// # Errors
/// `fast_image_resize`'s, as text: a buffer that does not hold `from`
/// pixels, or an empty crop.
pub(crate) fn resize_typed<F: fr::PixelTrait>(
    raw: &[u8],
    from: (u32, u32),
    to: (u32, u32),
    options: &fr::ResizeOptions,
) -> Result<Vec<u8>, String> {
    let src = fr::images::TypedImageRef::<F>::from_buffer(from.0, from.1, raw)
        .map_err(|e| e.to_string())?;
    let mut out = vec![0u8; to.0 as usize * to.1 as usize * F::size()];
    let mut dst = fr::images::TypedImage::<F>::from_buffer(to.0, to.1, &mut out)
        .map_err(|e| e.to_string())?;
    fr::Resizer::new()
        .resize_typed(&src, &mut dst, options)
        .map_err(|e| e.to_string())?;
    Ok(out)
}
