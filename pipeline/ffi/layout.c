/*
 * The C side of the pipeline's FFI layout checks (pipeline/build.rs).
 *
 * Compiled against the very headers mozjpeg-sys builds libjpeg from (its
 * `DEP_JPEG_INCLUDE`: the generated jconfig.h and the vendored sources), so
 * every number here is the one the linked C code uses. Nothing here is
 * linked: build.rs reads the sizes of these symbols from the object file,
 * for any target (no program is run, so cross-compiling works), and writes
 * them as Rust constants that `src/ffi_layout.rs` compares with the Rust
 * declarations at compile time.
 *
 * The macros (AVATAR_SIZE, AVATAR_OFFSET) are in layout.h.
 */
#include <stddef.h>
#include <stdio.h>

#include "layout.h"

#include "jpeglib.h"
#include "transupp.h"


/* jpegtran.rs: its own declaration (mozjpeg-sys 2.2.3's lacks four fields). */
#define T jpeg_transform_info
AVATAR_SIZE(jpeg_transform_info, T)
AVATAR_OFFSET(jpeg_transform_info, T, transform)
AVATAR_OFFSET(jpeg_transform_info, T, perfect)
AVATAR_OFFSET(jpeg_transform_info, T, trim)
AVATAR_OFFSET(jpeg_transform_info, T, force_grayscale)
AVATAR_OFFSET(jpeg_transform_info, T, crop)
AVATAR_OFFSET(jpeg_transform_info, T, slow_hflip)
AVATAR_OFFSET(jpeg_transform_info, T, crop_width)
AVATAR_OFFSET(jpeg_transform_info, T, crop_width_set)
AVATAR_OFFSET(jpeg_transform_info, T, crop_height)
AVATAR_OFFSET(jpeg_transform_info, T, crop_height_set)
AVATAR_OFFSET(jpeg_transform_info, T, crop_xoffset)
AVATAR_OFFSET(jpeg_transform_info, T, crop_xoffset_set)
AVATAR_OFFSET(jpeg_transform_info, T, crop_yoffset)
AVATAR_OFFSET(jpeg_transform_info, T, crop_yoffset_set)
AVATAR_OFFSET(jpeg_transform_info, T, drop_ptr)
AVATAR_OFFSET(jpeg_transform_info, T, drop_coef_arrays)
AVATAR_OFFSET(jpeg_transform_info, T, num_components)
AVATAR_OFFSET(jpeg_transform_info, T, workspace_coef_arrays)
AVATAR_OFFSET(jpeg_transform_info, T, output_width)
AVATAR_OFFSET(jpeg_transform_info, T, output_height)
AVATAR_OFFSET(jpeg_transform_info, T, x_crop_offset)
AVATAR_OFFSET(jpeg_transform_info, T, y_crop_offset)
AVATAR_OFFSET(jpeg_transform_info, T, drop_width)
AVATAR_OFFSET(jpeg_transform_info, T, drop_height)
AVATAR_OFFSET(jpeg_transform_info, T, iMCU_sample_width)
AVATAR_OFFSET(jpeg_transform_info, T, iMCU_sample_height)
#undef T

/*
 * mozjpeg-sys' own (bindgen-made) structs that the pipeline allocates and
 * hands to libjpeg — jpegtran.rs directly, jpeg.rs through the mozjpeg
 * crate — with the fields Rust code reads or writes.
 */
#define T struct jpeg_decompress_struct
AVATAR_SIZE(jpeg_decompress_struct, T)
AVATAR_OFFSET(jpeg_decompress_struct, T, err)
AVATAR_OFFSET(jpeg_decompress_struct, T, src)
AVATAR_OFFSET(jpeg_decompress_struct, T, image_width)
AVATAR_OFFSET(jpeg_decompress_struct, T, image_height)
AVATAR_OFFSET(jpeg_decompress_struct, T, num_components)
AVATAR_OFFSET(jpeg_decompress_struct, T, jpeg_color_space)
AVATAR_OFFSET(jpeg_decompress_struct, T, out_color_space)
AVATAR_OFFSET(jpeg_decompress_struct, T, scale_num)
AVATAR_OFFSET(jpeg_decompress_struct, T, scale_denom)
AVATAR_OFFSET(jpeg_decompress_struct, T, dct_method)
AVATAR_OFFSET(jpeg_decompress_struct, T, do_fancy_upsampling)
AVATAR_OFFSET(jpeg_decompress_struct, T, do_block_smoothing)
AVATAR_OFFSET(jpeg_decompress_struct, T, output_width)
AVATAR_OFFSET(jpeg_decompress_struct, T, output_height)
AVATAR_OFFSET(jpeg_decompress_struct, T, out_color_components)
AVATAR_OFFSET(jpeg_decompress_struct, T, output_scanline)
AVATAR_OFFSET(jpeg_decompress_struct, T, marker_list)
#undef T

#define T struct jpeg_compress_struct
AVATAR_SIZE(jpeg_compress_struct, T)
AVATAR_OFFSET(jpeg_compress_struct, T, err)
AVATAR_OFFSET(jpeg_compress_struct, T, dest)
AVATAR_OFFSET(jpeg_compress_struct, T, image_width)
AVATAR_OFFSET(jpeg_compress_struct, T, image_height)
AVATAR_OFFSET(jpeg_compress_struct, T, input_components)
AVATAR_OFFSET(jpeg_compress_struct, T, in_color_space)
AVATAR_OFFSET(jpeg_compress_struct, T, optimize_coding)
AVATAR_OFFSET(jpeg_compress_struct, T, next_scanline)
#undef T

#define T struct jpeg_error_mgr
AVATAR_SIZE(jpeg_error_mgr, T)
AVATAR_OFFSET(jpeg_error_mgr, T, error_exit)
AVATAR_OFFSET(jpeg_error_mgr, T, emit_message)
AVATAR_OFFSET(jpeg_error_mgr, T, output_message)
AVATAR_OFFSET(jpeg_error_mgr, T, format_message)
AVATAR_OFFSET(jpeg_error_mgr, T, reset_error_mgr)
AVATAR_OFFSET(jpeg_error_mgr, T, msg_code)
AVATAR_OFFSET(jpeg_error_mgr, T, msg_parm)
AVATAR_OFFSET(jpeg_error_mgr, T, trace_level)
AVATAR_OFFSET(jpeg_error_mgr, T, num_warnings)
AVATAR_OFFSET(jpeg_error_mgr, T, last_addon_message)
#undef T
