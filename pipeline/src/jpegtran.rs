//! Lossless rotation of JPEG originals in the DCT domain, as `jpegtran`
//! does (libjpeg's `transupp`, built by `mozjpeg-sys` with its `jpegtran`
//! feature): the coefficients are read, their blocks transposed and
//! mirrored, and written again — no decode to pixels, no re-encode, no
//! generation loss. An original with an EXIF orientation other than 1 is
//! stored upright this way (its metadata, ICC profile aside, left behind),
//! when the transform is perfect: the image is a whole number of MCUs on
//! the edges that move. Otherwise [`upright`] answers `None` and the
//! caller decodes and re-encodes.
//!
//! Reading the coefficients entropy-decodes every scan, which is the same
//! validation the 1/8 decode of an upright JPEG gives.

use std::os::raw::{c_int, c_ulong};

use mozjpeg_sys as ffi;
use mozjpeg_sys::{
    boolean, j_decompress_ptr, jvirt_barray_ptr, JCROP_CODE, JDIMENSION, JXFORM_CODE,
};

use crate::decoded::ImageError;

/// `jpeg_transform_info` as libjpeg-turbo's `transupp.h` (vendored by
/// mozjpeg-sys, which compiles `transupp.c` from it) declares it, field for
/// field. mozjpeg-sys 2.2.3's own Rust declaration lacks `drop_ptr`,
/// `drop_coef_arrays`, `drop_width` and `drop_height` (24 bytes short on
/// 64-bit targets), so `jtransform_request_workspace` wrote
/// `iMCU_sample_width`/`height` past the end of it: a stack buffer overflow
/// on every upload of a JPEG with an EXIF orientation of 2–8 (issue 26).
/// `ffi_layout.rs` checks this declaration against the C header at compile
/// time; the functions that take it are declared below with this type.
#[repr(C)]
pub(crate) struct TransformInfo {
    pub transform: JXFORM_CODE,
    pub perfect: boolean,
    pub trim: boolean,
    pub force_grayscale: boolean,
    pub crop: boolean,
    pub slow_hflip: boolean,
    pub crop_width: JDIMENSION,
    pub crop_width_set: JCROP_CODE,
    pub crop_height: JDIMENSION,
    pub crop_height_set: JCROP_CODE,
    pub crop_xoffset: JDIMENSION,
    pub crop_xoffset_set: JCROP_CODE,
    pub crop_yoffset: JDIMENSION,
    pub crop_yoffset_set: JCROP_CODE,
    pub drop_ptr: j_decompress_ptr,
    pub drop_coef_arrays: *mut jvirt_barray_ptr,
    pub num_components: c_int,
    pub workspace_coef_arrays: *mut jvirt_barray_ptr,
    pub output_width: JDIMENSION,
    pub output_height: JDIMENSION,
    pub x_crop_offset: JDIMENSION,
    pub y_crop_offset: JDIMENSION,
    pub drop_width: JDIMENSION,
    pub drop_height: JDIMENSION,
    pub imcu_sample_width: c_int,
    pub imcu_sample_height: c_int,
}

// transupp.c's entry points that take a `jpeg_transform_info`, declared
// with the checked struct (mozjpeg-sys declares them with its short one).
// "C-unwind": libjpeg's error manager (below) unwinds through them.
extern "C-unwind" {
    fn jtransform_request_workspace(srcinfo: j_decompress_ptr, info: *mut TransformInfo)
        -> boolean;
    fn jtransform_adjust_parameters(
        srcinfo: j_decompress_ptr,
        dstinfo: ffi::j_compress_ptr,
        src_coef_arrays: *mut jvirt_barray_ptr,
        info: *mut TransformInfo,
    ) -> *mut jvirt_barray_ptr;
    fn jtransform_execute_transform(
        srcinfo: j_decompress_ptr,
        dstinfo: ffi::j_compress_ptr,
        src_coef_arrays: *mut jvirt_barray_ptr,
        info: *mut TransformInfo,
    );
}

/// The libjpeg transform that makes an image with EXIF `orientation`
/// upright (the TIFF/EXIF definition of the eight orientations).
fn transform_for(orientation: u8) -> Option<ffi::JXFORM_CODE> {
    Some(match orientation {
        2 => ffi::JXFORM_CODE_JXFORM_FLIP_H,
        3 => ffi::JXFORM_CODE_JXFORM_ROT_180,
        4 => ffi::JXFORM_CODE_JXFORM_FLIP_V,
        5 => ffi::JXFORM_CODE_JXFORM_TRANSPOSE,
        6 => ffi::JXFORM_CODE_JXFORM_ROT_90,
        7 => ffi::JXFORM_CODE_JXFORM_TRANSVERSE,
        8 => ffi::JXFORM_CODE_JXFORM_ROT_270,
        _ => return None,
    })
}

/// `bytes` (a JPEG whose EXIF orientation is `orientation`) made upright
/// losslessly, keeping only its ICC profile among its metadata; `None`
/// when no perfect lossless transform exists (partial edge MCUs) or the
/// orientation needs none.
///
/// # Errors
/// [`ImageError::Invalid`] when libjpeg reports a fatal error (a corrupt
/// or unsupported stream).
pub fn upright(bytes: &[u8], orientation: u8) -> Result<Option<Vec<u8>>, ImageError> {
    let Some(code) = transform_for(orientation) else {
        return Ok(None);
    };
    // libjpeg reports fatal errors by unwinding out of the C code (the
    // error manager below); contain them here.
    std::panic::catch_unwind(|| {
        // SAFETY: `bytes` outlives the call; see `transform`.
        unsafe { transform(bytes, code) }
    })
    .map_err(|p| ImageError::Invalid(super::jpeg::unwound(p)))?
}

/// The libjpeg objects of one transform, destroyed on every path (also when
/// an error unwinds through them).
struct Session {
    source: ffi::jpeg_decompress_struct,
    target: ffi::jpeg_compress_struct,
    source_err: ffi::jpeg_error_mgr,
    target_err: ffi::jpeg_error_mgr,
    output: *mut u8,
    output_len: c_ulong,
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: both structs were created before the session is handed
        // out (`Session::new`); destroying frees libjpeg's memory pools;
        // `output` is libjpeg's `malloc`ed buffer or null.
        unsafe {
            ffi::jpeg_destroy_compress(&mut self.target);
            ffi::jpeg_destroy_decompress(&mut self.source);
            if !self.output.is_null() {
                libc::free(self.output.cast());
            }
        }
    }
}

#[cold]
extern "C-unwind" fn error_exit(cinfo: &mut ffi::jpeg_common_struct) {
    let code = if cinfo.err.is_null() {
        0
    } else {
        // SAFETY: libjpeg calls this with its `err` pointing at ours.
        unsafe { (*cinfo.err).msg_code }
    };
    std::panic::resume_unwind(Box::new(format!("libjpeg error {code}")));
}

#[cold]
extern "C-unwind" fn silence(_cinfo: &mut ffi::jpeg_common_struct, _level: c_int) {}

impl Session {
    /// A decompressor and a compressor with unwinding error managers. Boxed:
    /// libjpeg keeps pointers into it.
    unsafe fn new() -> Box<Self> {
        // SAFETY: all-zero is the state libjpeg's create functions expect
        // (they fill every field); the error managers are set first.
        let mut session: Box<Self> = Box::new(std::mem::zeroed());
        for err in [&mut session.source_err, &mut session.target_err] {
            ffi::jpeg_std_error(err);
            err.error_exit = Some(error_exit);
            err.emit_message = Some(silence);
        }
        session.source.common.err = &mut session.source_err;
        session.target.common.err = &mut session.target_err;
        ffi::jpeg_create_decompress(&mut session.source);
        ffi::jpeg_create_compress(&mut session.target);
        session
    }
}

/// jpegtran's sequence: read the coefficients, transform them into the
/// target's arrays, write them with the ICC markers.
unsafe fn transform(bytes: &[u8], code: ffi::JXFORM_CODE) -> Result<Option<Vec<u8>>, ImageError> {
    let mut s = Session::new();
    let s = &mut *s;
    ffi::jpeg_mem_src(&mut s.source, bytes.as_ptr(), bytes.len() as c_ulong);
    ffi::jcopy_markers_setup(&mut s.source, ffi::JCOPY_OPTION_JCOPYOPT_ICC);
    ffi::jpeg_read_header(&mut s.source, 1);
    // SAFETY: all-zero is transupp's "no options" (jpegtran memsets too);
    // the layout is C's (checked at compile time, ffi_layout.rs).
    let mut info: TransformInfo = std::mem::zeroed();
    info.transform = code;
    info.perfect = 1;
    if jtransform_request_workspace(&mut s.source, &mut info) == 0 {
        return Ok(None);
    }
    let source_coefficients = ffi::jpeg_read_coefficients(&mut s.source);
    // Baseline output with libjpeg's defaults and optimized Huffman tables
    // (mozjpeg's own defaults would search progressive scan scripts: slow,
    // and not needed for an original).
    ffi::jpeg_c_set_int_param(
        &mut s.target,
        ffi::JINT_COMPRESS_PROFILE,
        ffi::JCP_FASTEST as c_int,
    );
    ffi::jpeg_copy_critical_parameters(&s.source, &mut s.target);
    s.target.optimize_coding = 1;
    let target_coefficients =
        jtransform_adjust_parameters(&mut s.source, &mut s.target, source_coefficients, &mut info);
    ffi::jpeg_mem_dest(&mut s.target, &mut s.output, &mut s.output_len);
    ffi::jpeg_write_coefficients(&mut s.target, target_coefficients);
    ffi::jcopy_markers_execute(&mut s.source, &mut s.target, ffi::JCOPY_OPTION_JCOPYOPT_ICC);
    jtransform_execute_transform(&mut s.source, &mut s.target, source_coefficients, &mut info);
    ffi::jpeg_finish_compress(&mut s.target);
    ffi::jpeg_finish_decompress(&mut s.source);
    Ok(Some(
        std::slice::from_raw_parts(s.output, s.output_len as usize).to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixture;
    use crate::{probe, Limits};

    const LIMITS: Limits = Limits {
        max_pixels: 50_000_000,
    };

    #[test]
    fn rotated_photos_become_upright_losslessly() {
        for (name, orientation) in [
            ("j17_photo_dragonfly_exif6.jpg", 6),
            ("j18_photo_seeding_exif8.jpg", 8),
        ] {
            let bytes = fixture(name);
            let before = probe(&bytes, LIMITS).unwrap();
            assert_eq!(before.orientation, orientation);
            let turned = upright(&bytes, orientation)
                .unwrap()
                .expect("2048x1536: whole MCUs");
            let after = probe(&turned, LIMITS).unwrap();
            // Turned a quarter: the stored dimensions swap, and no EXIF
            // (so no orientation) is left.
            assert_eq!(
                (after.width, after.height),
                (before.height, before.width),
                "{name}"
            );
            assert_eq!(after.orientation, 1, "{name}");
            // The same pixels as decoding and rotating the original, to
            // the IDCT's rounding (it runs rows first, then columns).
            let mut expected = image::load_from_memory(&bytes).unwrap();
            expected.apply_orientation(crate::exif_to_orientation(orientation));
            let got = image::load_from_memory(&turned).unwrap();
            let (a, b) = (expected.to_rgb8(), got.to_rgb8());
            assert_eq!(a.dimensions(), b.dimensions());
            let diffs: Vec<u8> = a
                .as_raw()
                .iter()
                .zip(b.as_raw())
                .map(|(x, y)| x.abs_diff(*y))
                .collect();
            let max = diffs.iter().max().copied().unwrap_or(0);
            let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
            assert!(max <= 8 && mean < 0.1, "{name}: max {max}, mean {mean}");
            // Lossless: turning it back gives the original's coefficients,
            // so exactly the original's pixels.
            let back = upright(&turned, if orientation == 6 { 8 } else { 6 })
                .unwrap()
                .unwrap();
            let original = image::load_from_memory(&bytes).unwrap().to_rgb8();
            assert_eq!(
                image::load_from_memory(&back).unwrap().to_rgb8().as_raw(),
                original.as_raw(),
                "{name}"
            );
        }
    }

    #[test]
    fn imperfect_or_broken_inputs_are_refused_not_mangled() {
        let bytes = fixture("j17_photo_dragonfly_exif6.jpg");
        assert!(upright(&bytes, 1).unwrap().is_none(), "upright already");
        // A partial MCU on an edge that would move: no perfect transform.
        let odd = image::RgbImage::from_pixel(37, 21, image::Rgb([200, 10, 10]));
        let mut encoded = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(odd)
            .write_to(&mut encoded, image::ImageFormat::Jpeg)
            .unwrap();
        assert!(upright(encoded.get_ref(), 6).unwrap().is_none());
        // Not a JPEG, or cut off: an error, no panic escapes.
        assert!(upright(b"not a jpeg at all", 6).is_err());
        assert!(upright(&bytes[..200], 6).is_err());
    }
}
