//! Compile-time checks that every struct the pipeline allocates in Rust and
//! hands to C has the layout the C code was compiled with.
//!
//! `build.rs` compiles `ffi/layout.c` against the headers mozjpeg-sys builds
//! libjpeg from and turns C's `sizeof`/`offsetof` into the constants of
//! [`c`]; each [`same_layout!`] below fails the build when the Rust
//! declaration's size or a field's offset differs. This is how issue 26's
//! stack overflow would have been caught: mozjpeg-sys 2.2.3 declares
//! `jpeg_transform_info` without `drop_ptr`, `drop_coef_arrays`,
//! `drop_width` and `drop_height`, 24 bytes short of its own `transupp.h`
//! on 64-bit targets, and `jtransform_request_workspace` wrote past it.
//!
//! With the `heif` feature, `ffi/heif_layout.c` is compiled against the
//! installed libheif's headers the same way, for the structs `heif.rs`
//! shares with it.
//!
//! libwebp's structs (`webp.rs`) have no check here: libwebp-sys exports no
//! include path to compile against, its bindings are bindgen's output over
//! the same vendored headers it compiles, and libwebp itself refuses a
//! `WebPDecoderConfig` of another ABI version (`WebPInitDecoderConfig`
//! checks `WEBP_DECODER_ABI_VERSION`). See the SAFETY comments there.

/// C's sizes and offsets in bytes: `c::STRUCT::SIZE` and `c::STRUCT::FIELD`.
mod c {
    include!(concat!(env!("OUT_DIR"), "/c_layout.rs"));
}

/// `same_layout!(RustType, c_struct { c_field: rust.field.path, … })`: a
/// compile error unless `size_of::<RustType>()` equals C's `sizeof` and
/// each Rust field sits at the offset of the named C field.
macro_rules! same_layout {
    ($ty:ty, $c:ident { $($fields:tt)* }) => {
        const _: () = assert!(
            ::std::mem::size_of::<$ty>() == c::$c::SIZE,
            concat!("size of ", stringify!($ty), " differs from C's ", stringify!($c)),
        );
        same_offsets!($ty, $c { $($fields)* });
    };
}

/// `same_offsets!(RustType, c_struct { c_field: rust.field.path, … })`:
/// the offsets alone, for a struct C allocates (and may make longer).
macro_rules! same_offsets {
    ($ty:ty, $c:ident { $($cfield:ident : $($rfield:ident).+),* $(,)? }) => {
        const _: () = {
            $(
                assert!(
                    ::std::mem::offset_of!($ty, $($rfield).+) == c::$c::$cfield,
                    concat!(
                        "offset of ", stringify!($ty), ".", stringify!($($rfield).+),
                        " differs from C's ", stringify!($c), ".", stringify!($cfield),
                    ),
                );
            )*
        };
    };
}

same_layout!(
    crate::jpegtran::TransformInfo,
    jpeg_transform_info {
        transform: transform,
        perfect: perfect,
        trim: trim,
        force_grayscale: force_grayscale,
        crop: crop,
        slow_hflip: slow_hflip,
        crop_width: crop_width,
        crop_width_set: crop_width_set,
        crop_height: crop_height,
        crop_height_set: crop_height_set,
        crop_xoffset: crop_xoffset,
        crop_xoffset_set: crop_xoffset_set,
        crop_yoffset: crop_yoffset,
        crop_yoffset_set: crop_yoffset_set,
        drop_ptr: drop_ptr,
        drop_coef_arrays: drop_coef_arrays,
        num_components: num_components,
        workspace_coef_arrays: workspace_coef_arrays,
        output_width: output_width,
        output_height: output_height,
        x_crop_offset: x_crop_offset,
        y_crop_offset: y_crop_offset,
        drop_width: drop_width,
        drop_height: drop_height,
        iMCU_sample_width: imcu_sample_width,
        iMCU_sample_height: imcu_sample_height,
    }
);

same_layout!(
    mozjpeg_sys::jpeg_decompress_struct,
    jpeg_decompress_struct {
        err: common.err,
        src: src,
        image_width: image_width,
        image_height: image_height,
        num_components: num_components,
        jpeg_color_space: jpeg_color_space,
        out_color_space: out_color_space,
        scale_num: scale_num,
        scale_denom: scale_denom,
        dct_method: dct_method,
        do_fancy_upsampling: do_fancy_upsampling,
        do_block_smoothing: do_block_smoothing,
        output_width: output_width,
        output_height: output_height,
        out_color_components: out_color_components,
        output_scanline: output_scanline,
        marker_list: marker_list,
    }
);

same_layout!(
    mozjpeg_sys::jpeg_compress_struct,
    jpeg_compress_struct {
        err: common.err,
        dest: dest,
        image_width: image_width,
        image_height: image_height,
        input_components: input_components,
        in_color_space: in_color_space,
        optimize_coding: optimize_coding,
        next_scanline: next_scanline,
    }
);

same_layout!(
    mozjpeg_sys::jpeg_error_mgr,
    jpeg_error_mgr {
        error_exit: error_exit,
        emit_message: emit_message,
        output_message: output_message,
        format_message: format_message,
        reset_error_mgr: reset_error_mgr,
        msg_code: msg_code,
        msg_parm: msg_parm,
        trace_level: trace_level,
        num_warnings: num_warnings,
        last_addon_message: last_addon_message,
    }
);

// libheif (feature `heif`, src/heif.rs): the error every call returns by
// value, and the fields read or written of what libheif allocates.
#[cfg(feature = "heif")]
same_layout!(
    libheif_sys::heif_error,
    heif_error {
        code: code,
        subcode: subcode,
        message: message,
    }
);

#[cfg(feature = "heif")]
same_offsets!(
    libheif_sys::heif_decoding_options,
    heif_decoding_options {
        version: version,
        ignore_transformations: ignore_transformations,
        convert_hdr_to_8bit: convert_hdr_to_8bit,
    }
);

#[cfg(feature = "heif")]
same_offsets!(
    libheif_sys::heif_color_profile_nclx,
    heif_color_profile_nclx {
        version: version,
        color_primaries: color_primaries,
        transfer_characteristics: transfer_characteristics,
    }
);

#[cfg(test)]
mod tests {
    use super::c;

    /// The generated constants are C's, not zeros: a few values every
    /// LP64 target (x86_64 and aarch64 Linux, Lambda's) agrees on.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn constants_come_from_the_c_headers() {
        assert_eq!(c::jpeg_transform_info::transform, 0);
        assert_eq!(c::jpeg_transform_info::drop_ptr, 56);
        assert_eq!(c::jpeg_transform_info::SIZE, 120);
        // mozjpeg-sys' own declaration: the four fields short.
        assert_eq!(
            std::mem::size_of::<mozjpeg_sys::jpeg_transform_info>() + 24,
            c::jpeg_transform_info::SIZE
        );
    }
}
