//! The image pipeline: bytes in, bytes out — no I/O, no async, no AWS or
//! database dependency, so the CLI (`avatars render`), the fuzz target and
//! the benchmarks link it alone. It is the one crate of the workspace built
//! at opt-level 3 (see the release profile in `Cargo.toml`).
//!
//! Callers on an async executor run these functions on a blocking thread
//! (`tokio::task::spawn_blocking`): a decode of a 24 MP photo takes far
//! longer than an executor turn may.
//!
//! Each stage is a `tracing` span of its own — `probe`, `decode` (with the
//! shrink-on-load it used), `resize`, `encode` (with the size and the bytes
//! produced), `strip` — which the service exports as trace spans and as
//! `avatars_pipeline_stage_seconds{stage}`. Without a subscriber (the CLI,
//! the fuzz target) they cost next to nothing.
//!
//! Flow: [`sniff`] the magic bytes → open the decoder, which reads headers
//! only → check the pixel budget → decode once, shrunk on load to the
//! largest output needed (JPEG: libjpeg-turbo DCT scaling to M/8, with room
//! left for the resize; WebP: libwebp's rescaler; PNG: full size) → for
//! each requested [`Variant`]: cover-crop + resize (SIMD Lanczos3,
//! `fast_image_resize`) of the centre or of the user's [`Crop`] (mapped
//! back through the orientation), apply the EXIF orientation to the small
//! output, encode (libjpeg-turbo, `png`, libwebp lossy). Outputs carry no
//! metadata: the encoders write none. The C codecs are built from source by
//! their `-sys` crates and linked statically.

#![warn(missing_docs)]

pub mod attention;
mod color;
mod crop;
mod decoded;
mod ffi_layout;
mod heif;
mod jpeg;
mod jpegtran;
mod resample;
#[cfg(feature = "postgres")]
pub mod sql;
mod strip;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod variant;
mod webp;

use std::io::Cursor;

use fast_image_resize as fr;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::metadata::Orientation;
use image::{
    DynamicImage, GenericImageView, ImageDecoder, ImageEncoder, ImageReader, RgbImage, RgbaImage,
};

pub use crop::{Crop, CropError};
use decoded::check_dimensions;
pub use decoded::{Decoded, ImageError, Limits, Probe};
/// A progressive JPEG's DC scans alone (our own marker walk over untrusted
/// bytes; public for the `progressive` fuzz target).
pub use jpeg::dc_scans;
pub use strip::strip_metadata;
pub use variant::{ImageFormat, Size, SourceFormat, Variant};

/// JPEG quality of rendered thumbnails and re-encoded originals (libvips and
/// imgproxy default to 80–85 for thumbnails).
pub const JPEG_QUALITY: u8 = 85;

impl Decoded {
    /// The side of a `requested` thumbnail from this decode: never larger
    /// than the square it is cut from — `crop` (whose decode keeps at least
    /// its side, or is whole: [`render_short_side`]), or the decoded short
    /// side.
    fn thumbnail_side(&self, requested: u32, crop: Option<Crop>) -> u32 {
        match crop {
            Some(c) => requested.min(c.side()).max(1),
            None => thumbnail_side(requested, self.image.width(), self.image.height()),
        }
    }

    /// The pixels converted to sRGB from the embedded profile's space
    /// ([`color::to_srgb`]); the profile is then gone.
    fn into_srgb(self) -> Self {
        Self {
            image: color::to_srgb(self.image, self.icc_profile.as_deref()),
            icc_profile: None,
            ..self
        }
    }
}

/// One rendered variant.
#[derive(Debug, Clone)]
pub struct Rendition {
    /// What was rendered.
    pub variant: Variant,
    /// Encoded bytes, no metadata.
    pub bytes: Vec<u8>,
    /// Output width, pixels.
    pub width: u32,
    /// Output height, pixels.
    pub height: u32,
}

/// An upload that passed validation, ready to be stored as the original.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// The format stored and served: the upload's own, or, for HEIC and
    /// AVIF, the one [`SourceFormat::served`] names.
    pub format: ImageFormat,
    /// Displayed width, pixels.
    pub width: u32,
    /// Displayed height, pixels.
    pub height: u32,
    /// The bytes to store: EXIF/XMP/IPTC/text metadata removed losslessly, or,
    /// when the EXIF orientation is not 1, re-encoded upright.
    pub bytes: Vec<u8>,
}

/// Decides the format from magic bytes alone (never from a client's
/// Content-Type or file name — contract, "Upload").
///
/// # Errors
/// [`ImageError::UnsupportedFormat`] for anything but JPEG (`FF D8 FF`),
/// PNG (`89 50 4E 47 0D 0A 1A 0A`), WebP (`RIFF....WEBP`) or HEIF (an
/// `ftyp` box with a HEIC or AVIF brand, [`heif`]): GIF, SVG, BMP, text
/// and empty input included. A build without the `heif` feature sniffs
/// HEIF too, and refuses it at [`probe`] as unsupported.
pub fn sniff(bytes: &[u8]) -> Result<SourceFormat, ImageError> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Ok(SourceFormat::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Ok(SourceFormat::Png),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Ok(SourceFormat::Webp),
        _ => heif::sniff(bytes).ok_or(ImageError::UnsupportedFormat),
    }
}

/// `Some` of a HEIF-family format (HEIC, AVIF): those take [`heif`]'s
/// path — libheif decodes them whole and upright — not [`open`]'s.
fn heif_format(bytes: &[u8]) -> Option<SourceFormat> {
    sniff(bytes)
        .ok()
        .filter(|f| matches!(f, SourceFormat::Heic | SourceFormat::Avif))
}

/// [`heif::decode`] in a `decode` span, as [`decode_opened`] records one.
fn decode_heif(bytes: &[u8], limits: Limits, format: SourceFormat) -> Result<Decoded, ImageError> {
    let _span = tracing::info_span!(
        "decode",
        image.format = format.as_str(),
        pipeline.shrink = 1.0
    )
    .entered();
    heif::decode(bytes, limits, format)
}

fn invalid(e: impl std::fmt::Display) -> ImageError {
    ImageError::Invalid(e.to_string())
}

/// Opens a decoder (headers only) and checks the pixel budget.
fn open(bytes: &[u8], limits: Limits) -> Result<(impl ImageDecoder + '_, Probe), ImageError> {
    let _span = tracing::info_span!("probe", image.bytes = bytes.len()).entered();
    let format = sniff(bytes)?;
    let mut reader = ImageReader::with_format(
        Cursor::new(bytes),
        match format {
            SourceFormat::Jpeg => image::ImageFormat::Jpeg,
            SourceFormat::Png => image::ImageFormat::Png,
            SourceFormat::Webp => image::ImageFormat::WebP,
            // Callers send these to `heif` first.
            SourceFormat::Heic | SourceFormat::Avif => return Err(ImageError::UnsupportedFormat),
        },
    );
    let mut decoder_limits = image::Limits::default();
    // 16-bit RGBA is the widest pixel any of the three formats decodes to.
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8) + (64 << 20));
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Limits(_) => ImageError::Invalid("image exceeds decoder limits".into()),
        other => invalid(other),
    })?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let orientation = decoder.orientation().map(|o| o.to_exif()).unwrap_or(1);
    let bytes_per_pixel = decoder.color_type().bytes_per_pixel();
    Ok((
        decoder,
        Probe {
            format,
            width,
            height,
            orientation,
            bytes_per_pixel,
            progressive: format == SourceFormat::Jpeg && jpeg::is_progressive(bytes),
        },
    ))
}

/// Reads format, dimensions and orientation from the headers and enforces
/// the pixel budget, decoding no pixels.
///
/// # Errors
/// [`ImageError::UnsupportedFormat`], [`ImageError::Invalid`] for unreadable
/// headers, [`ImageError::TooManyPixels`].
pub fn probe(bytes: &[u8], limits: Limits) -> Result<Probe, ImageError> {
    if let Some(format) = heif_format(bytes) {
        let _span = tracing::info_span!("probe", image.bytes = bytes.len()).entered();
        return heif::probe(bytes, limits, format);
    }
    open(bytes, limits).map(|(_, probe)| probe)
}

/// The most memory decoding `probe`'s image and rendering from it may
/// take, bytes: the decoded pixels at the size shrink-on-load gives for
/// `min_short_side` (JPEG: M/8; WebP: scaled to that short side; PNG: full
/// size) at the decoder's bytes per pixel, plus an 8-bit RGBA copy of them
/// and as much again for the resize and encode buffers, plus 4 MiB for the
/// codecs' own state; a progressive JPEG adds libjpeg's whole-image
/// coefficient buffer (2 bytes per sample at full size, whatever the
/// scale); HEIC and AVIF (always decoded whole) add libheif's YCbCr planes
/// (up to 16 bits a sample, 4:4:4) and its RGB(A) image before ours. An
/// upper bound, known before a pixel is decoded: what a decode budget
/// reserves.
pub fn memory_needed(probe: &Probe, min_short_side: Option<u32>) -> u64 {
    let (w, h) = (u64::from(probe.width), u64::from(probe.height));
    let short = w.min(h).max(1);
    let (dw, dh) = match (probe.format, min_short_side) {
        (SourceFormat::Jpeg, Some(side)) => {
            // Without the DC-scans exception: an upper bound either way.
            let m = u64::from(jpeg::shrink_on_load_scale(
                probe.width,
                probe.height,
                side,
                false,
            ));
            ((w * m).div_ceil(8), (h * m).div_ceil(8))
        }
        (SourceFormat::Webp, Some(side)) if u64::from(side) < short => (
            (w * u64::from(side)).div_ceil(short),
            (h * u64::from(side)).div_ceil(short),
        ),
        _ => (w, h),
    };
    let bpp = u64::from(probe.bytes_per_pixel);
    let coefficients = if probe.progressive {
        w * h * bpp * 2
    } else {
        0
    };
    let heif_planes = match probe.format {
        SourceFormat::Heic | SourceFormat::Avif => w * h * (6 + bpp),
        _ => 0,
    };
    dw * dh * (bpp + 4 + 4) + coefficients + heif_planes + (4 << 20)
}

/// Decodes the whole image once, at full size. Truncated or corrupt data is
/// an error, never a partially grey image.
///
/// # Errors
/// As [`probe`], plus [`ImageError::Invalid`] when the pixel data is corrupt
/// or truncated.
pub fn decode(bytes: &[u8], limits: Limits) -> Result<Decoded, ImageError> {
    decode_with(bytes, limits, |_| None, Scans::All)
}

/// Decodes once, as small as the outputs allow: with `min_short_side`, a
/// JPEG is shrunk on load (DCT scaling) to the smallest size whose short
/// side is still at least that many pixels, and a WebP is rescaled by
/// libwebp while decoding to exactly that short side; PNG, HEIC, AVIF
/// and `None` decode at full size. A progressive JPEG decoded at 1/8 reads
/// only its DC scans (`jpeg::dc_scans`): this decode renders, it does not
/// validate.
/// [`Decoded::probe`] keeps the stored dimensions.
///
/// # Errors
/// As [`decode`].
pub fn decode_at_least(
    bytes: &[u8],
    limits: Limits,
    min_short_side: Option<u32>,
) -> Result<Decoded, ImageError> {
    decode_with(bytes, limits, |_| min_short_side, Scans::Needed)
}

/// The one decode behind [`decode`], [`decode_at_least`] and [`render`]:
/// HEIC and AVIF whole through libheif, everything else opened and decoded
/// as small as `min_short_side` (of the headers) allows, reading `scans`.
fn decode_with(
    bytes: &[u8],
    limits: Limits,
    min_short_side: impl FnOnce(&Probe) -> Option<u32>,
    scans: Scans,
) -> Result<Decoded, ImageError> {
    if let Some(format) = heif_format(bytes) {
        return decode_heif(bytes, limits, format);
    }
    let (decoder, probe) = open(bytes, limits)?;
    let min_short_side = min_short_side(&probe);
    decode_opened(bytes, decoder, probe, min_short_side, scans)
}

/// [`decode_at_least`] after [`open`] (headers read once), in a `decode`
/// span whose `pipeline.shrink` is the decoded short side over the stored
/// one (JPEG: M/8 of libjpeg-turbo's DCT scaling; 1 for a full decode).
/// `scans` says whether a 1/8 decode of a progressive JPEG may skip its AC scans.
fn decode_opened(
    bytes: &[u8],
    decoder: impl ImageDecoder,
    probe: Probe,
    min_short_side: Option<u32>,
    scans: Scans,
) -> Result<Decoded, ImageError> {
    let span = tracing::info_span!(
        "decode",
        image.format = probe.format.as_str(),
        image.width = probe.width,
        image.height = probe.height,
        pipeline.shrink = tracing::field::Empty,
    );
    let _entered = span.enter();
    let decoded = decode_unrecorded(bytes, decoder, probe, min_short_side, scans)?;
    let short = |w: u32, h: u32| f64::from(w.min(h));
    span.record(
        "pipeline.shrink",
        short(decoded.image.width(), decoded.image.height()) / short(probe.width, probe.height),
    );
    Ok(decoded)
}

fn decode_unrecorded(
    bytes: &[u8],
    mut decoder: impl ImageDecoder,
    probe: Probe,
    min_short_side: Option<u32>,
    scans: Scans,
) -> Result<Decoded, ImageError> {
    // A profile that cannot be read is no profile (browsers ignore it too).
    let icc_profile = decoder.icc_profile().ok().flatten();
    if probe.format == SourceFormat::Jpeg {
        check_jpeg_complete(bytes)?;
        let dc_scans_only = scans == Scans::Needed && probe.progressive;
        let numerator = min_short_side.map_or(8, |s| {
            jpeg::shrink_on_load_scale(probe.width, probe.height, s, dc_scans_only)
        });
        let image = jpeg::decode_scaled(bytes, numerator, dc_scans_only, icc_profile.as_deref())?;
        return Ok(Decoded {
            probe,
            image,
            icc_profile,
        });
    }
    if probe.format == SourceFormat::Webp {
        let image = webp::decode_scaled(bytes, min_short_side)?;
        return Ok(Decoded {
            probe,
            image,
            icc_profile,
        });
    }
    let image = DynamicImage::from_decoder(decoder).map_err(invalid)?;
    Ok(Decoded {
        probe,
        image,
        icc_profile,
    })
}

/// A JPEG whose entropy-coded data stops before the End Of Image marker is
/// truncated; decoders pad such data with grey, so reject it here. The EOI
/// (`FF D9`) must follow the last Start Of Scan (`FF DA`), which also rules
/// out the EOI of an embedded EXIF thumbnail.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), ImageError> {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    match (last(0xDA), last(0xD9)) {
        (Some(sos), Some(eoi)) if eoi > sos => Ok(()),
        _ => Err(ImageError::Invalid(
            "truncated JPEG (no end-of-image marker)".into(),
        )),
    }
}

/// The short side [`render`] decodes `probe`'s image at, at least, for
/// `variants`: the square they are cut from — the crop, or the short side
/// — keeps the largest thumbnail's side (a JPEG keeps a margin more:
/// `jpeg::shrink_on_load_scale`); `None` (everything) when the original
/// size is wanted.
fn render_short_side(variants: &[Variant], crop: Option<Crop>, probe: &Probe) -> Option<u32> {
    let side = variants
        .iter()
        .map(|v| v.size.side())
        .try_fold(0, |acc, side| side.map(|s| acc.max(s)))?;
    let short = u64::from(probe.width.min(probe.height));
    let square = crop
        .map_or(short, |c| u64::from(c.side()).min(short))
        .max(1);
    Some(u32::try_from((u64::from(side) * short).div_ceil(square)).unwrap_or(u32::MAX))
}

/// The short side [`ingest`] decodes at: an upright original is only
/// validated (a 1/8 JPEG decode still reads every coefficient); a rotated
/// one is re-encoded, so decoded whole.
fn ingest_short_side(probe: &Probe) -> Option<u32> {
    (probe.orientation == 1).then_some(1)
}

/// [`memory_needed`] by [`render_with`] of `variants` from `bytes`.
///
/// # Errors
/// As [`probe`].
pub fn render_memory(
    bytes: &[u8],
    limits: Limits,
    variants: &[Variant],
    crop: Option<Crop>,
) -> Result<u64, ImageError> {
    let probe = probe(bytes, limits)?;
    Ok(memory_needed(
        &probe,
        render_short_side(variants, crop, &probe),
    ))
}

/// [`memory_needed`] by [`ingest`] of `bytes`.
///
/// # Errors
/// As [`probe`].
pub fn ingest_memory(bytes: &[u8], limits: Limits) -> Result<u64, ImageError> {
    let probe = probe(bytes, limits)?;
    Ok(memory_needed(&probe, ingest_short_side(&probe)))
}

/// Validates an upload and prepares the original to store: decodes it once
/// (so undecodable files are rejected at upload time; an upright JPEG at
/// 1/8 scale, which still reads every coefficient), then strips metadata
/// losslessly. When an EXIF orientation other than 1 would be lost with
/// the metadata, a JPEG is turned upright losslessly in the DCT domain
/// (jpegtran's transform, which reads every coefficient too); any other
/// image, or a JPEG whose edges are not whole MCUs, is decoded at full size
/// and re-encoded upright. A HEIC or AVIF upload is decoded whole (upright,
/// in sRGB) and stored as the JPEG — or, with alpha, the WebP — every
/// browser shows ([`SourceFormat::served`]), at [`JPEG_QUALITY`]: its
/// EXIF and GPS are not carried over.
///
/// # Errors
/// As [`decode`]; [`ImageError::Encode`] if re-encoding fails.
pub fn ingest(bytes: &[u8], limits: Limits) -> Result<Ingested, ImageError> {
    if let Some(source) = heif_format(bytes) {
        let decoded = decode_heif(bytes, limits, source)?.into_srgb();
        let format = source.served(decoded.image.color().has_alpha());
        let (width, height) = decoded.probe.display_dimensions();
        return Ok(Ingested {
            format,
            width,
            height,
            bytes: encode(&decoded.image, format)?,
        });
    }
    let (decoder, probe) = open(bytes, limits)?;
    if probe.format == SourceFormat::Jpeg && probe.orientation != 1 {
        check_jpeg_complete(bytes)?;
        let _span = tracing::info_span!("transform", image.format = "jpeg").entered();
        if let Some(upright) = jpegtran::upright(bytes, probe.orientation)? {
            let (width, height) = probe.display_dimensions();
            return Ok(Ingested {
                format: ImageFormat::Jpeg,
                width,
                height,
                bytes: upright,
            });
        }
    }
    // Every scan is read: this decode is the upload's validation.
    let decoded = decode_opened(bytes, decoder, probe, ingest_short_side(&probe), Scans::All)?;
    let (width, height) = decoded.probe.display_dimensions();
    let format = decoded
        .probe
        .format
        .served(decoded.image.color().has_alpha());
    let bytes = if decoded.probe.orientation == 1 {
        let _span = tracing::info_span!("strip", image.format = format.as_str()).entered();
        strip_metadata(format, bytes)?
    } else {
        // Re-encoding drops every marker, the ICC profile too: the pixels
        // become sRGB so the original keeps its look.
        let decoded = decoded.into_srgb();
        let mut upright = decoded.image;
        upright.apply_orientation(exif_to_orientation(decoded.probe.orientation));
        encode(&upright, format)?
    };
    Ok(Ingested {
        format,
        width,
        height,
        bytes,
    })
}

/// The ThumbHash (a placeholder of ~25 bytes a page can paint before any
/// image byte arrives: colours, layout, aspect ratio, alpha) of a small
/// encoded image — the smallest thumbnail, at most 100 px a side as the
/// format requires; a larger one is first shrunk to fit.
///
/// # Errors
/// [`ImageError::Invalid`] when `encoded` does not decode.
pub fn thumbhash(encoded: &[u8]) -> Result<Vec<u8>, ImageError> {
    let image = image::load_from_memory(encoded).map_err(invalid)?;
    let image = if image.width() > 100 || image.height() > 100 {
        image.thumbnail(100, 100)
    } else {
        image
    };
    let rgba = image.to_rgba8();
    Ok(thumbhash::rgba_to_thumb_hash(
        rgba.width() as usize,
        rgba.height() as usize,
        rgba.as_raw(),
    ))
}

/// Decodes `bytes` once — shrunk on load to the largest thumbnail requested
/// — and renders every requested variant from it, thumbnails cut from the
/// centre.
///
/// # Errors
/// As [`decode`]; [`ImageError::Encode`] if encoding fails.
pub fn render(
    bytes: &[u8],
    limits: Limits,
    variants: &[Variant],
) -> Result<Vec<Rendition>, ImageError> {
    render_with(bytes, limits, variants, None, Scans::Needed)
}

/// Which scans of a progressive JPEG a decode reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scans {
    /// Only the DC scans when a 1/8 decode suffices (`jpeg::dc_scans`),
    /// every scan otherwise: what rendering a stored, validated original
    /// needs.
    Needed,
    /// Every scan, as libvips and Pillow read them: what validating an
    /// upload needs, and the benchmark's "before" (`avatars render
    /// --all-scans`).
    All,
}

/// [`render`], with the thumbnails cut from `crop` (the user's square;
/// `None`: the centre) and the scans of a progressive JPEG read as `scans`
/// says (the pixels are the same either way).
///
/// # Errors
/// As [`render`]; [`ImageError::Invalid`] when `crop` is empty, not
/// square within a pixel or not inside the upright image
/// ([`Crop::check_shape`], [`Crop::check_within`]; the upload checked it).
pub fn render_with(
    bytes: &[u8],
    limits: Limits,
    variants: &[Variant],
    crop: Option<Crop>,
    scans: Scans,
) -> Result<Vec<Rendition>, ImageError> {
    let decoded = decode_with(
        bytes,
        limits,
        |p| render_short_side(variants, crop, p),
        scans,
    )?;
    if let Some(crop) = crop {
        crop.check_shape(1)
            .and_then(|()| crop.check_within(decoded.probe.display_dimensions()))
            .map_err(invalid)?;
    }
    render_decoded(decoded, variants, crop)
}

/// [`render`] with the thumbnails cut from the square attention chooses
/// ([`attention::square`], computed on the decode the render has anyway),
/// or the centre where nothing stands out; returns the renditions and that
/// square (`None`: the centre) for the caller to keep.
///
/// # Errors
/// As [`render`].
pub fn render_attention(
    bytes: &[u8],
    limits: Limits,
    variants: &[Variant],
    scans: Scans,
) -> Result<(Vec<Rendition>, Option<Crop>), ImageError> {
    let decoded = decode_with(
        bytes,
        limits,
        |p| render_short_side(variants, None, p),
        scans,
    )?;
    let crop = {
        let _span = tracing::info_span!("attention").entered();
        attention::square(
            &decoded.image,
            exif_to_orientation(decoded.probe.orientation),
            decoded.probe.display_dimensions(),
        )
    };
    Ok((render_decoded(decoded, variants, crop)?, crop))
}

/// Renders `variants` from one decode, cut from `crop` or the centre.
fn render_decoded(
    decoded: Decoded,
    variants: &[Variant],
    crop: Option<Crop>,
) -> Result<Vec<Rendition>, ImageError> {
    // Every variant in sRGB, converted where it costs least: once at the
    // decoded (shrunk) size, or — when the variants have fewer pixels than
    // that, as for a PNG or HEIF decoded whole — in each variant after its
    // resize (`render_variant`). Untagged and sRGB images skip both.
    let (w, h) = decoded.image.dimensions();
    let outputs: u64 = variants
        .iter()
        .map(|v| match v.size.side() {
            Some(side) => u64::from(decoded.thumbnail_side(side, crop)).pow(2),
            None => u64::from(w) * u64::from(h),
        })
        .sum();
    let decoded = if outputs < u64::from(w) * u64::from(h) {
        decoded
    } else {
        decoded.into_srgb()
    };
    variants
        .iter()
        .map(|v| render_variant(&decoded, *v, crop))
        .collect()
}

/// Renders one variant from a decoded image: for thumbnails a
/// `side`×`side` square — `crop` (in the upright image's pixels), or the
/// centred cover crop — with `side = min(requested, the square's side)`
/// (never upscaled), the whole image for `original`; converted to sRGB
/// from the decoded image's ICC profile if it still has one (after the
/// resize: the fewest pixels); orientation applied; encoded as requested.
///
/// # Errors
/// [`ImageError::Encode`].
pub fn render_variant(
    decoded: &Decoded,
    variant: Variant,
    crop: Option<Crop>,
) -> Result<Rendition, ImageError> {
    let probe = &decoded.probe;
    let orientation = exif_to_orientation(probe.orientation);
    let mut out = match variant.size.side() {
        None if decoded.image.dimensions() != (probe.width, probe.height) => {
            return Err(ImageError::Encode(
                "the original size needs a full-size decode".into(),
            ))
        }
        None => decoded.image.clone(),
        Some(side) => {
            let (w, h) = decoded.image.dimensions();
            let scale = (
                f64::from(w) / f64::from(probe.width),
                f64::from(h) / f64::from(probe.height),
            );
            let region =
                crop.map(|c| c.region(probe.orientation, (probe.width, probe.height), scale));
            cover_crop(&decoded.image, decoded.thumbnail_side(side, crop), region)?
        }
    };
    if let Some(icc) = decoded.icc_profile.as_deref() {
        out = color::to_srgb(out, Some(icc));
    }
    out.apply_orientation(orientation);
    let bytes = encode(&out, variant.format)?;
    Ok(Rendition {
        variant,
        width: out.width(),
        height: out.height(),
        bytes,
    })
}

/// The edge of a square thumbnail of `requested` pixels from a source of
/// `width`×`height`: never larger than the source's short edge.
pub fn thumbnail_side(requested: u32, width: u32, height: u32) -> u32 {
    requested.min(width).min(height).max(1)
}

/// A square of the source — `region` (left, top, width, height in its
/// pixels, fractional) or the centred cover crop — resized (Lanczos3) to
/// `side` pixels.
fn cover_crop(
    src: &DynamicImage,
    side: u32,
    region: Option<(f64, f64, f64, f64)>,
) -> Result<DynamicImage, ImageError> {
    let _span = tracing::info_span!("resize", pipeline.side = side).entered();
    Ok(match src {
        // Grey stays one channel until the encoder: a third of the
        // filtering, and no RGB copy of the whole decode per variant.
        DynamicImage::ImageLuma8(grey) => {
            DynamicImage::ImageLuma8(resize_buffer::<_, fr::pixels::U8>(grey, side, region)?)
        }
        _ if src.color().has_alpha() => DynamicImage::ImageRgba8(resize_buffer::<
            _,
            fr::pixels::U8x4,
        >(
            &to_rgba8(src), side, region
        )?),
        _ => DynamicImage::ImageRgb8(resize_buffer::<_, fr::pixels::U8x3>(
            &to_rgb8(src),
            side,
            region,
        )?),
    })
}

/// [`resize_square`] of an 8-bit image buffer whose pixels are `F` to
/// `fast_image_resize`.
fn resize_buffer<P: image::Pixel<Subpixel = u8>, F: fr::PixelTrait>(
    img: &image::ImageBuffer<P, Vec<u8>>,
    side: u32,
    region: Option<(f64, f64, f64, f64)>,
) -> Result<image::ImageBuffer<P, Vec<u8>>, ImageError> {
    let raw = resize_square::<F>(img.as_raw(), img.dimensions(), side, region)?;
    image::ImageBuffer::from_raw(side, side, raw)
        .ok_or_else(|| ImageError::Encode("resize buffer size".into()))
}

/// Resizes interleaved 8-bit pixels of type `F` into a `side`×`side`
/// square: `region` or the centre crop (`fast_image_resize`, SIMD; alpha
/// premultiplied while filtering).
fn resize_square<F: fr::PixelTrait>(
    raw: &[u8],
    (width, height): (u32, u32),
    side: u32,
    region: Option<(f64, f64, f64, f64)>,
) -> Result<Vec<u8>, ImageError> {
    let options = match region {
        Some((left, top, w, h)) => fr::ResizeOptions::new().crop(left, top, w, h),
        None => fr::ResizeOptions::new().fit_into_destination(Some((0.5, 0.5))),
    };
    resample::resize_typed::<F>(raw, (width, height), (side, side), &options)
        .map_err(|e| ImageError::Encode(format!("resize: {e}")))
}

fn to_rgb8(img: &DynamicImage) -> std::borrow::Cow<'_, RgbImage> {
    match img {
        DynamicImage::ImageRgb8(buf) => std::borrow::Cow::Borrowed(buf),
        other => std::borrow::Cow::Owned(other.to_rgb8()),
    }
}

fn to_rgba8(img: &DynamicImage) -> std::borrow::Cow<'_, RgbaImage> {
    match img {
        DynamicImage::ImageRgba8(buf) => std::borrow::Cow::Borrowed(buf),
        other => std::borrow::Cow::Owned(other.to_rgba8()),
    }
}

/// Encodes with no metadata: JPEG q[`JPEG_QUALITY`] (alpha flattened on
/// white), PNG (alpha kept), lossy WebP q80 via libwebp (alpha kept), in an
/// `encode` span with the dimensions and the bytes produced.
fn encode(img: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>, ImageError> {
    let span = tracing::info_span!(
        "encode",
        image.format = format.as_str(),
        image.width = img.width(),
        image.height = img.height(),
        image.bytes = tracing::field::Empty,
    );
    let _entered = span.enter();
    let out = encode_unrecorded(img, format)?;
    span.record("image.bytes", out.len());
    Ok(out)
}

fn encode_unrecorded(img: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    let err = |e: image::ImageError| ImageError::Encode(e.to_string());
    match format {
        ImageFormat::Jpeg => {
            let rgb = if img.color().has_alpha() {
                color::flatten_on_white(&to_rgba8(img))
            } else {
                to_rgb8(img).into_owned()
            };
            out = jpeg::encode_rgb(rgb.as_raw(), rgb.width(), rgb.height(), JPEG_QUALITY)?;
        }
        ImageFormat::Png | ImageFormat::Webp => {
            let (raw, color) = if img.color().has_alpha() {
                let rgba = to_rgba8(img).into_owned();
                (rgba.into_raw(), image::ExtendedColorType::Rgba8)
            } else {
                (
                    to_rgb8(img).into_owned().into_raw(),
                    image::ExtendedColorType::Rgb8,
                )
            };
            if format == ImageFormat::Png {
                PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
                    .write_image(&raw, img.width(), img.height(), color)
                    .map_err(err)?;
            } else {
                let channels = if color == image::ExtendedColorType::Rgba8 {
                    4
                } else {
                    3
                };
                out = webp::encode_lossy(&raw, img.width(), img.height(), channels)?;
            }
        }
    }
    Ok(out)
}

fn exif_to_orientation(v: u8) -> Orientation {
    Orientation::from_exif(v).unwrap_or(Orientation::NoTransforms)
}

/// The variants the thumbnail function renders after an upload: the three
/// square sizes in the original's format.
pub fn thumbnail_variants(format: ImageFormat) -> [Variant; 3] {
    Size::THUMBNAILS.map(|size| Variant::new(size, format))
}

#[cfg(test)]
mod tests;
