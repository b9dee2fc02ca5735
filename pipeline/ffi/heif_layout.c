/*
 * libheif's side of the pipeline's FFI layout checks (pipeline/build.rs,
 * feature `heif`), compiled against the installed libheif's headers (from
 * pkg-config): the structs src/heif.rs passes by value (heif_error), or
 * reads and writes fields of while libheif owns them (the decoding options,
 * an nclx colour profile). Only the offsets of the fields touched are
 * checked for those two: libheif allocates them, and newer versions append
 * fields.
 */
#include <libheif/heif.h>

#include "layout.h"

AVATAR_SIZE(heif_error, struct heif_error)
AVATAR_OFFSET(heif_error, struct heif_error, code)
AVATAR_OFFSET(heif_error, struct heif_error, subcode)
AVATAR_OFFSET(heif_error, struct heif_error, message)

AVATAR_OFFSET(heif_decoding_options, struct heif_decoding_options, version)
AVATAR_OFFSET(heif_decoding_options, struct heif_decoding_options, ignore_transformations)
AVATAR_OFFSET(heif_decoding_options, struct heif_decoding_options, convert_hdr_to_8bit)

AVATAR_OFFSET(heif_color_profile_nclx, struct heif_color_profile_nclx, version)
AVATAR_OFFSET(heif_color_profile_nclx, struct heif_color_profile_nclx, color_primaries)
AVATAR_OFFSET(heif_color_profile_nclx, struct heif_color_profile_nclx, transfer_characteristics)
