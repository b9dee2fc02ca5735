//! HEIF-family uploads — HEIC (HEVC-coded, every iPhone photo since iOS
//! 11) and AVIF (AV1-coded) — sniffed from the `ftyp` box here, decoded by
//! **libheif** (Debian's `libheif1`: libde265 for HEVC, dav1d for AV1,
//! linked as a shared library through `libheif-sys`'s bindings; feature
//! `heif`).
//! Decode only: no HEIC or AVIF ever leaves the service (the README says
//! why HEVC stays decode-only).
//!
//! What libheif does for us, and what is checked here:
//! * Tiled (grid) images — every iPhone HEIC is 512×512 tiles — are
//!   assembled, and the image's rotation and mirroring (`irot`, `imir`)
//!   applied: the decoded image is upright, so [`Probe::orientation`] is 1
//!   and the EXIF orientation, which HEIF says to ignore, is ignored.
//! * The pixel budget is checked from the primary image's `ispe` (its
//!   size after those transformations) before anything is decoded; the
//!   decoded image must have exactly that size, or the file is refused (a
//!   lying `ispe`).
//! * 10- and 12-bit images are decoded to 8 bits a sample (what every
//!   variant is encoded at).
//! * Colour: an ICC profile (`colr` of type `prof` or `rICC`) is handed to
//!   [`crate::color`] as any other decoder's; an `nclx` box whose
//!   primaries or transfer are not sRGB's becomes the ICC profile they
//!   describe (moxcms, from the CICP code points).
//!
//! Without the `heif` feature, [`sniff`] still recognises the files, and
//! they are refused as an unsupported format (contract: 400 "Invalid file
//! format"), as before.

use crate::variant::SourceFormat;

/// `ftyp` brands of HEVC-coded HEIF (ISO/IEC 23008-12 Annex B).
const HEVC_BRANDS: [&[u8; 4]; 6] = [b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"];
/// `ftyp` brands of AV1-coded HEIF (AV1 Image File Format, §4).
const AV1_BRANDS: [&[u8; 4]; 2] = [b"avif", b"avis"];
/// Brands of any HEIF, whatever its codec (`mif1` image, `msf1` sequence).
const GENERIC_BRANDS: [&[u8; 4]; 2] = [b"mif1", b"msf1"];

/// The HEIF format `bytes` declare in their leading `ftyp` box — the major
/// brand first, then the compatible brands (an AV1 brand before a HEVC or
/// generic one) — or `None` when they are not HEIF.
pub(crate) fn sniff(bytes: &[u8]) -> Option<SourceFormat> {
    // ISO BMFF box: size (u32 BE), type, then major brand, minor version,
    // compatible brands, four bytes each.
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let end = size.clamp(16, bytes.len());
    let major: &[u8; 4] = bytes[8..12].try_into().ok()?;
    let compatible = || bytes[16..end].chunks_exact(4);
    if AV1_BRANDS.contains(&major) {
        Some(SourceFormat::Avif)
    } else if HEVC_BRANDS.contains(&major) {
        Some(SourceFormat::Heic)
    } else if compatible().any(|b| AV1_BRANDS.iter().any(|a| a[..] == *b)) {
        Some(SourceFormat::Avif)
    } else if GENERIC_BRANDS.contains(&major)
        || compatible().any(|b| {
            HEVC_BRANDS
                .iter()
                .chain(&GENERIC_BRANDS)
                .any(|h| h[..] == *b)
        })
    {
        Some(SourceFormat::Heic)
    } else {
        None
    }
}

pub(crate) use decoder::{decode, probe};

#[cfg(feature = "heif")]
mod decoder {
    //! A small safe layer over libheif's C API (`libheif-sys`'s bindings):
    //! each libheif object is owned by one value whose `Drop` releases it,
    //! every out-pointer libheif may have set is freed whatever the call
    //! returned, and the decoding options outlive the decode. (The
    //! `libheif-rs` wrapper for Debian's libheif 1.15 does neither: it
    //! frees the options before libheif reads them, and leaks the `nclx`
    //! profile of a call that fails — both found here, the second by the
    //! fuzz targets; README, "Noticed upstream".) The structs read or
    //! written across the boundary are checked against libheif's own
    //! headers at compile time (`src/ffi_layout.rs`).

    use std::ffi::CStr;
    use std::ptr;
    use std::sync::Once;

    use image::{DynamicImage, RgbImage, RgbaImage};
    use libheif_sys as lh;

    use crate::decoded::{Decoded, ImageError, Limits, Probe};
    use crate::variant::SourceFormat;

    fn invalid(e: impl std::fmt::Display) -> ImageError {
        ImageError::Invalid(format!("HEIF: {e}"))
    }

    /// `Err` with libheif's message for a failed call.
    fn check(err: lh::heif_error) -> Result<(), ImageError> {
        if err.code == lh::heif_error_code_heif_error_Ok {
            return Ok(());
        }
        let message = if err.message.is_null() {
            String::new()
        } else {
            // SAFETY: libheif's messages are NUL-terminated strings that
            // live at least as long as the object the call was on.
            unsafe { CStr::from_ptr(err.message) }
                .to_string_lossy()
                .into_owned()
        };
        Err(invalid(format_args!("{message} (error {})", err.code)))
    }

    /// A libheif context reading `bytes` in place.
    struct Context<'a> {
        raw: *mut lh::heif_context,
        _bytes: std::marker::PhantomData<&'a [u8]>,
    }

    impl Drop for Context<'_> {
        fn drop(&mut self) {
            // SAFETY: allocated by heif_context_alloc, freed once.
            unsafe { lh::heif_context_free(self.raw) }
        }
    }

    impl<'a> Context<'a> {
        fn read(bytes: &'a [u8]) -> Result<Self, ImageError> {
            static INIT: Once = Once::new();
            // SAFETY: heif_init with no parameters, once per process;
            // Debian's libheif has its codecs built in (no plugins).
            INIT.call_once(|| unsafe {
                lh::heif_init(ptr::null_mut());
            });
            // SAFETY: a new context, owned by the value returned.
            let raw = unsafe { lh::heif_context_alloc() };
            if raw.is_null() {
                return Err(invalid("out of memory"));
            }
            let context = Self {
                raw,
                _bytes: std::marker::PhantomData,
            };
            // SAFETY: `bytes` outlives the context (its lifetime 'a), and
            // libheif only reads them.
            check(unsafe {
                lh::heif_context_read_from_memory_without_copy(
                    raw,
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    ptr::null(),
                )
            })?;
            Ok(context)
        }

        /// The primary image's handle (which keeps the context's data alive
        /// inside libheif, and is released first: declared after it).
        fn primary(&self) -> Result<Handle<'_>, ImageError> {
            let mut raw = ptr::null_mut();
            // SAFETY: an out-pointer libheif sets on success.
            let result =
                check(unsafe { lh::heif_context_get_primary_image_handle(self.raw, &mut raw) });
            let handle = Handle {
                raw,
                _context: std::marker::PhantomData,
            };
            result.and_then(|()| {
                if handle.raw.is_null() {
                    Err(invalid("no primary image"))
                } else {
                    Ok(handle)
                }
            })
        }
    }

    struct Handle<'c> {
        raw: *mut lh::heif_image_handle,
        _context: std::marker::PhantomData<&'c ()>,
    }

    impl Drop for Handle<'_> {
        fn drop(&mut self) {
            if !self.raw.is_null() {
                // SAFETY: obtained from libheif, released once.
                unsafe { lh::heif_image_handle_release(self.raw) }
            }
        }
    }

    /// A decoded libheif image.
    struct Image(*mut lh::heif_image);

    impl Drop for Image {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: obtained from heif_decode_image, released once.
                unsafe { lh::heif_image_release(self.0) }
            }
        }
    }

    impl Handle<'_> {
        fn size(&self) -> (u32, u32) {
            // SAFETY: a live handle.
            let (w, h) = unsafe {
                (
                    lh::heif_image_handle_get_width(self.raw),
                    lh::heif_image_handle_get_height(self.raw),
                )
            };
            (w.max(0) as u32, h.max(0) as u32)
        }

        fn has_alpha(&self) -> bool {
            // SAFETY: a live handle.
            unsafe { lh::heif_image_handle_has_alpha_channel(self.raw) != 0 }
        }

        /// The ICC profile of a `colr` box of type `prof` or `rICC`.
        fn icc(&self) -> Option<Vec<u8>> {
            // SAFETY: a live handle.
            let kind = unsafe { lh::heif_image_handle_get_color_profile_type(self.raw) };
            let icc_types = [u32::from_be_bytes(*b"prof"), u32::from_be_bytes(*b"rICC")];
            if !icc_types.contains(&kind) {
                return None;
            }
            // SAFETY: a live handle.
            let size = unsafe { lh::heif_image_handle_get_raw_color_profile_size(self.raw) };
            if size == 0 {
                return None;
            }
            let mut icc = vec![0u8; size];
            // SAFETY: libheif writes exactly `size` bytes into the buffer.
            check(unsafe {
                lh::heif_image_handle_get_raw_color_profile(self.raw, icc.as_mut_ptr().cast())
            })
            .ok()
            .map(|()| icc)
        }

        /// The `nclx` box's colour primaries and transfer characteristics
        /// (ITU-T H.273 code points).
        fn nclx(&self) -> Option<(u32, u32)> {
            let mut raw: *mut lh::heif_color_profile_nclx = ptr::null_mut();
            // SAFETY: an out-pointer; libheif 1.15 may set it even when the
            // call fails (invalid code points), so it is freed either way.
            let result =
                check(unsafe { lh::heif_image_handle_get_nclx_color_profile(self.raw, &mut raw) });
            if raw.is_null() {
                return None;
            }
            // SAFETY: a profile libheif allocated (layout checked in
            // ffi_layout.rs), read, then freed once.
            let values = unsafe {
                let values = ((*raw).color_primaries, (*raw).transfer_characteristics);
                lh::heif_nclx_color_profile_free(raw);
                values
            };
            result.ok().map(|()| values)
        }

        /// Decodes to 8-bit interleaved RGB, or RGBA with `alpha`, with
        /// the file's transformations applied.
        fn decode(&self, alpha: bool) -> Result<Image, ImageError> {
            // SAFETY: options allocated by libheif (with its defaults,
            // whatever its version), freed below after the decode.
            let options = unsafe { lh::heif_decoding_options_alloc() };
            if options.is_null() {
                return Err(invalid("out of memory"));
            }
            // SAFETY: fields present since the options' versions 1 and 2.
            unsafe {
                (*options).ignore_transformations = 0;
                (*options).convert_hdr_to_8bit = 1;
            }
            let chroma = if alpha {
                lh::heif_chroma_heif_chroma_interleaved_RGBA
            } else {
                lh::heif_chroma_heif_chroma_interleaved_RGB
            };
            let mut image = Image(ptr::null_mut());
            // SAFETY: a live handle and options; libheif sets the image.
            let result = check(unsafe {
                lh::heif_decode_image(
                    self.raw,
                    &mut image.0,
                    lh::heif_colorspace_heif_colorspace_RGB,
                    chroma,
                    options,
                )
            });
            // SAFETY: allocated above, freed once, after the decode.
            unsafe { lh::heif_decoding_options_free(options) };
            result?;
            if image.0.is_null() {
                return Err(invalid("no image decoded"));
            }
            Ok(image)
        }
    }

    impl Image {
        /// The interleaved plane: (width, height, stride, bits per pixel,
        /// the bytes).
        fn interleaved(&self) -> Result<(u32, u32, usize, i32, &[u8]), ImageError> {
            let channel = lh::heif_channel_heif_channel_interleaved;
            let mut stride = 0;
            // SAFETY: a live image; the plane lives as long as it does
            // (the slice borrows `self`), `stride × height` bytes.
            unsafe {
                let w = lh::heif_image_get_width(self.0, channel);
                let h = lh::heif_image_get_height(self.0, channel);
                let bits = lh::heif_image_get_bits_per_pixel(self.0, channel);
                let data = lh::heif_image_get_plane_readonly(self.0, channel, &mut stride);
                if data.is_null() || w <= 0 || h <= 0 || stride <= 0 {
                    return Err(invalid("no interleaved plane"));
                }
                let len = stride as usize * h as usize;
                Ok((
                    w as u32,
                    h as u32,
                    stride as usize,
                    bits,
                    std::slice::from_raw_parts(data, len),
                ))
            }
        }
    }

    /// The primary image's handle, its headers read and the pixel budget
    /// checked; nothing decoded.
    fn open<'c>(
        context: &'c Context<'_>,
        limits: Limits,
        format: SourceFormat,
    ) -> Result<(Handle<'c>, Probe), ImageError> {
        let handle = context.primary()?;
        let (width, height) = handle.size();
        crate::decoded::check_dimensions(width, height, limits)?;
        let probe = Probe {
            format,
            width,
            height,
            orientation: 1,
            bytes_per_pixel: if handle.has_alpha() { 4 } else { 3 },
            progressive: false,
        };
        Ok((handle, probe))
    }

    /// [`crate::probe`] of a HEIF file: the primary image's size after its
    /// rotation, from its `ispe`.
    pub(crate) fn probe(
        bytes: &[u8],
        limits: Limits,
        format: SourceFormat,
    ) -> Result<Probe, ImageError> {
        let context = Context::read(bytes)?;
        open(&context, limits, format).map(|(_, probe)| probe)
    }

    /// Decodes the primary image whole and upright, at 8 bits a sample,
    /// with its colour profile (ICC, or one made from `nclx`).
    pub(crate) fn decode(
        bytes: &[u8],
        limits: Limits,
        format: SourceFormat,
    ) -> Result<Decoded, ImageError> {
        let context = Context::read(bytes)?;
        let (handle, probe) = open(&context, limits, format)?;
        let alpha = probe.bytes_per_pixel == 4;
        let decoded = handle.decode(alpha)?;
        let (w, h, stride, bits, data) = decoded.interleaved()?;
        if (w, h) != (probe.width, probe.height) {
            return Err(invalid(format_args!(
                "decoded {w}x{h}, the header says {}x{}",
                probe.width, probe.height
            )));
        }
        let channels = if alpha { 4 } else { 3 };
        let row = w as usize * channels;
        if bits != 8 * channels as i32 || stride < row {
            return Err(invalid("unexpected plane layout"));
        }
        let mut pixels = Vec::with_capacity(row * h as usize);
        for line in data.chunks(stride).take(h as usize) {
            pixels.extend_from_slice(line.get(..row).ok_or_else(|| invalid("short plane"))?);
        }
        let image = if alpha {
            RgbaImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8)
        } else {
            RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
        }
        .ok_or_else(|| invalid("short plane"))?;
        Ok(Decoded {
            probe,
            image,
            icc_profile: icc_profile(&handle),
        })
    }

    /// The image's colour as an ICC profile: the embedded one, or the one
    /// an `nclx` box describes when that is not sRGB. BT.709 primaries (or
    /// unspecified ones) with the sRGB, BT.709 or BT.601 transfer (or an
    /// unspecified one) count as sRGB: that is what encoders write for sRGB
    /// input, and how browsers show it. `None` for those and for untagged
    /// images.
    fn icc_profile(handle: &Handle<'_>) -> Option<Vec<u8>> {
        if let Some(icc) = handle.icc() {
            return Some(icc);
        }
        let (primaries, transfer) = handle.nclx()?;
        // H.273: 2 is "unspecified" for both.
        let primaries = if primaries == 2 { 1 } else { primaries };
        let transfer = if transfer == 2 { 13 } else { transfer };
        if primaries == 1 && matches!(transfer, 1 | 6 | 13) {
            return None;
        }
        crate::color::icc_from_cicp(u8::try_from(primaries).ok()?, u8::try_from(transfer).ok()?)
    }
}

/// Without libheif (a build without the `heif` feature), HEIF is sniffed and
/// then refused as an unsupported format (contract: 400 "Invalid file
/// format").
#[cfg(not(feature = "heif"))]
mod decoder {
    use crate::decoded::{Decoded, ImageError, Limits, Probe};
    use crate::variant::SourceFormat;

    pub(crate) fn probe(_: &[u8], _: Limits, _: SourceFormat) -> Result<Probe, ImageError> {
        Err(ImageError::UnsupportedFormat)
    }

    pub(crate) fn decode(_: &[u8], _: Limits, _: SourceFormat) -> Result<Decoded, ImageError> {
        Err(ImageError::UnsupportedFormat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `ftyp` box: major brand, minor version 0, compatible brands.
    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len() as u32;
        let mut b = size.to_be_bytes().to_vec();
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0; 4]);
        compatible.iter().for_each(|c| b.extend_from_slice(&c[..]));
        b.extend_from_slice(b"\0\0\0\x08meta"); // whatever follows
        b
    }

    #[test]
    fn brands_decide_heic_or_avif() {
        use SourceFormat::{Avif, Heic};
        for (major, compatible, expected) in [
            (b"heic", &[b"mif1", b"heic"][..], Some(Heic)),
            (b"heix", &[][..], Some(Heic)),
            (b"avif", &[b"mif1", b"miaf"][..], Some(Avif)),
            (b"avis", &[][..], Some(Avif)),
            // A generic major brand: the compatible brands decide, AV1 first.
            (b"mif1", &[b"heic"][..], Some(Heic)),
            (b"mif1", &[b"miaf", b"avif"][..], Some(Avif)),
            (b"mif1", &[][..], Some(Heic)),
            (b"msf1", &[b"hevc"][..], Some(Heic)),
            // Other ISO BMFF files: videos, QuickTime, JPEG 2000.
            (b"isom", &[b"iso2", b"mp41"][..], None),
            (b"qt  ", &[b"qt  "][..], None),
            (b"jp2 ", &[b"jp2 "][..], None),
        ] {
            assert_eq!(sniff(&ftyp(major, compatible)), expected, "{major:?}");
        }
    }

    #[test]
    fn a_box_size_that_lies_reads_no_further_than_the_bytes() {
        let mut b = ftyp(b"isom", &[b"avif"]);
        b.truncate(20);
        b[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(sniff(&b), Some(SourceFormat::Avif));
        b[..4].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(sniff(&b), None);
        assert_eq!(sniff(&b[..15]), None);
    }
}
