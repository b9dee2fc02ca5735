//! Colour management: every variant comes out in sRGB, the web's default,
//! and untagged (issue 22).
//!
//! A phone photo's pixels are numbers in the colour space its embedded ICC
//! profile names — Display P3 on iPhones, Adobe RGB from cameras. A
//! thumbnail that kept the numbers and dropped the profile would be read as
//! sRGB by every browser: a red sunset turns brown. So the pixels go
//! through the profile's transform to sRGB where that touches the fewest:
//! once after shrink-on-load when the decoded image is no larger than the
//! variants together (a JPEG or WebP shrunk on load), else in each variant
//! after its resize (a PNG or HEIF decoded whole: the 100 and 300 px
//! variants of a 12 MP photo are 0.8 % of its pixels; `make bench`'s
//! quality table measures both the speed and the colour of this). The
//! stored original
//! keeps its profile; an original re-encoded upright (which loses every
//! marker) is converted the same way.
//!
//! The colour-management library is **moxcms**: pure Rust (no C to audit
//! across an FFI boundary, issue 26), ICC v2 and v4, matrix-shaper and LUT
//! profiles (RGB, grey, CMYK), SIMD, and already linked — it is what the
//! `image` crate itself uses for colour conversion, so it adds no code to
//! the functions. (Little CMS would add a C library; qcms, Firefox's, is
//! a good second choice but a new dependency.)
//!
//! What is converted, from the profile each decoder reports (JPEG APP2 in
//! one or several chunks, PNG `iCCP`, WebP `ICCP`, HEIF `colr` of type
//! `prof`/`rICC`, or a HEIF `nclx` box made into the profile it describes
//! by [`icc_from_cicp`]):
//! * RGB profiles on RGB and RGBA pixels; grey profiles on grey pixels (to
//!   RGB). Alpha is carried over unchanged.
//! * An sRGB profile, or one whose transform is the identity to within one
//!   level on a probe grid, costs nothing after its first sight; so does an
//!   untagged image. A profile that does not parse, or whose colour space
//!   does not match the pixels, is ignored (browsers do the same).
//! * Transforms are built once per distinct profile and kept (the same
//!   camera profile arrives again and again): [`CACHE_ENTRIES`] profiles.
//!
//! * CMYK and YCCK JPEGs ([`cmyk_to_srgb`], called by the JPEG decoder,
//!   which hands their pixels over as CMYK): through their embedded CMYK
//!   profile, or [`DEFAULT_CMYK_ICC`] when they have none (or one that does
//!   not parse). Adobe's inverted CMYK is the decoder's business.
//!
//! Not converted (named in the README): PNG's `gAMA`/`cHRM` chunks without
//! an `iCCP` (the decoder does not report them; rare in photos). PNG's
//! `sRGB` chunk needs nothing.

use std::sync::{Arc, Mutex};

use image::{ColorType, DynamicImage, RgbImage, RgbaImage};
use moxcms::{ColorProfile, DataColorSpace, Layout, Transform8BitExecutor, TransformOptions};

/// The encoded ICC profile of an RGB space given as ITU-T H.273 (CICP)
/// code points — colour primaries and transfer characteristics, as HEIF's
/// `nclx` box carries them — so that such an image takes the same path,
/// and the same cache, as one with an embedded profile. `None` when
/// moxcms cannot express the code points (reserved or unspecified ones).
#[cfg_attr(not(feature = "heif"), allow(dead_code))]
pub fn icc_from_cicp(primaries: u8, transfer: u8) -> Option<Vec<u8>> {
    use moxcms::{CicpColorPrimaries, CicpProfile, MatrixCoefficients, TransferCharacteristics};
    let profile = ColorProfile::new_from_cicp(CicpProfile {
        color_primaries: CicpColorPrimaries::try_from(primaries).ok()?,
        transfer_characteristics: TransferCharacteristics::try_from(transfer).ok()?,
        // The pixels arrive as RGB: the matrix was the decoder's business.
        matrix_coefficients: MatrixCoefficients::Identity,
        full_range: true,
    });
    // moxcms fills in the colorimetry (and then `cicp`) and the curves
    // only for code points it can express.
    (profile.cicp.is_some() && profile.red_trc.is_some())
        .then(|| profile.encode().ok())
        .flatten()
}

/// Distinct profiles whose transforms are kept, most recently used first.
pub const CACHE_ENTRIES: usize = 16;

/// The CMYK profile of a CMYK or YCCK JPEG that embeds none: FOGRA39
/// (offset on coated paper, the usual default of European print work),
/// made from Fogra's measurements — `pipeline/profiles/README.md` says how
/// and under which licence. 185 KB.
pub const DEFAULT_CMYK_ICC: &[u8] = include_bytes!("../profiles/default-cmyk-fogra39.icc");

/// The pixels a profile is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Space {
    Rgb,
    Grey,
    Cmyk,
    /// A profile that does not parse, or of another colour space.
    Unusable,
}

/// A profile's conversions to sRGB: from its own layout without and with
/// alpha (RGB → RGB and RGBA → RGBA, grey → RGB and grey+alpha → RGBA, or
/// CMYK → RGB and none); `None` where none is needed (sRGB already) or
/// possible.
struct Entry {
    icc: Vec<u8>,
    space: Space,
    opaque: Option<Arc<Transform8BitExecutor>>,
    alpha: Option<Arc<Transform8BitExecutor>>,
}

static CACHE: Mutex<Vec<Arc<Entry>>> = Mutex::new(Vec::new());

/// The conversions of `icc`, from the cache or built (and cached).
fn entry(icc: &[u8]) -> Arc<Entry> {
    {
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = cache.iter().position(|e| e.icc == icc) {
            let hit = cache.remove(at);
            cache.insert(0, hit.clone());
            return hit;
        }
    }
    // Built outside the lock: a LUT profile's transform takes milliseconds.
    let built = Arc::new(build(icc));
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache.insert(0, built.clone());
    cache.truncate(CACHE_ENTRIES);
    built
}

fn build(icc: &[u8]) -> Entry {
    let none = || Entry {
        icc: icc.to_vec(),
        space: Space::Unusable,
        opaque: None,
        alpha: None,
    };
    let Ok(profile) = ColorProfile::new_from_slice(icc) else {
        tracing::debug!(
            bytes = icc.len(),
            "embedded ICC profile does not parse; ignored"
        );
        return none();
    };
    let srgb = ColorProfile::new_srgb();
    let options = TransformOptions::default();
    // moxcms reads CMYK with the four-channel layout `Rgba`.
    let (space, opaque_in, alpha_in) = match profile.color_space {
        DataColorSpace::Rgb => (Space::Rgb, Layout::Rgb, Some(Layout::Rgba)),
        DataColorSpace::Gray => (Space::Grey, Layout::Gray, Some(Layout::GrayAlpha)),
        DataColorSpace::Cmyk => (Space::Cmyk, Layout::Rgba, None),
        _ => return none(),
    };
    let opaque = profile
        .create_transform_8bit(opaque_in, &srgb, Layout::Rgb, options)
        .ok();
    if space == Space::Rgb && opaque.as_deref().is_some_and(is_identity) {
        return none();
    }
    Entry {
        icc: icc.to_vec(),
        space,
        opaque,
        alpha: alpha_in.and_then(|alpha_in| {
            profile
                .create_transform_8bit(alpha_in, &srgb, Layout::Rgba, options)
                .ok()
        }),
    }
}

/// True when `t` (RGB → RGB) moves no colour of a 9×9×9 grid by more than
/// one level: an sRGB profile under whatever name.
fn is_identity(t: &Transform8BitExecutor) -> bool {
    let levels = [0u8, 32, 64, 96, 128, 160, 192, 224, 255];
    let mut src = Vec::with_capacity(levels.len().pow(3) * 3);
    for r in levels {
        for g in levels {
            for b in levels {
                src.extend_from_slice(&[r, g, b]);
            }
        }
    }
    let mut dst = vec![0; src.len()];
    t.transform(&src, &mut dst).is_ok() && src.iter().zip(&dst).all(|(a, b)| a.abs_diff(*b) <= 1)
}

/// `image` converted from the colour space of `icc` (its embedded ICC
/// profile, if any) to sRGB. Unchanged when there is no profile, when it
/// is sRGB, or when it cannot be used (see the module's documentation).
/// Images of more than 8 bits a sample are converted at 8 bits (what every
/// variant is encoded at).
pub fn to_srgb(image: DynamicImage, icc: Option<&[u8]>) -> DynamicImage {
    let Some(icc) = icc.filter(|icc| !icc.is_empty()) else {
        return image;
    };
    let entry = entry(icc);
    let grey_pixels = matches!(
        image.color(),
        ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16
    );
    let alpha = image.color().has_alpha();
    let pixels_space = if grey_pixels { Space::Grey } else { Space::Rgb };
    // Grey pixels with an RGB profile, colour with a grey one, or anything
    // with a CMYK one (converted by the decoder already): ignored.
    let transform = if pixels_space != entry.space {
        None
    } else if alpha {
        entry.alpha.as_deref()
    } else {
        entry.opaque.as_deref()
    };
    let Some(t) = transform else {
        return image;
    };
    let (w, h) = (image.width(), image.height());
    let src = match (grey_pixels, alpha) {
        (true, false) => image.to_luma8().into_raw(),
        (true, true) => image.to_luma_alpha8().into_raw(),
        (false, false) => image.to_rgb8().into_raw(),
        (false, true) => image.to_rgba8().into_raw(),
    };
    let pixels = src.len() / usize::from(image.color().channel_count());
    let mut dst = vec![0; pixels * if alpha { 4 } else { 3 }];
    if t.transform(&src, &mut dst).is_err() {
        return image;
    }
    let converted = if alpha {
        RgbaImage::from_raw(w, h, dst).map(DynamicImage::ImageRgba8)
    } else {
        RgbImage::from_raw(w, h, dst).map(DynamicImage::ImageRgb8)
    };
    converted.unwrap_or(image)
}

/// A `width`×`height` image of CMYK pixels (C, M, Y, K, one byte each,
/// 0 = no ink, 255 = full ink) converted to sRGB through `icc` when that is
/// a usable CMYK profile, else through [`DEFAULT_CMYK_ICC`].
///
/// # Panics
/// When `cmyk` does not hold `width`×`height`×4 bytes.
pub fn cmyk_to_srgb(width: u32, height: u32, cmyk: &[u8], icc: Option<&[u8]>) -> RgbImage {
    let usable = icc
        .filter(|icc| !icc.is_empty())
        .map(entry)
        .filter(|e| e.space == Space::Cmyk && e.opaque.is_some());
    let entry = usable.unwrap_or_else(|| entry(DEFAULT_CMYK_ICC));
    let mut rgb = vec![0; cmyk.len() / 4 * 3];
    let converted = entry
        .opaque
        .as_deref()
        .is_some_and(|t| t.transform(cmyk, &mut rgb).is_ok());
    if !converted {
        // Only if moxcms ever stops reading the built-in profile: the
        // uncalibrated formula (what libjpeg-based decoders do).
        for (px, ink) in rgb.chunks_exact_mut(3).zip(cmyk.chunks_exact(4)) {
            let paper = |c: u8| ((255 - u16::from(c)) * (255 - u16::from(ink[3])) / 255) as u8;
            px.copy_from_slice(&[paper(ink[0]), paper(ink[1]), paper(ink[2])]);
        }
    }
    RgbImage::from_raw(width, height, rgb).expect("width × height × 4 CMYK bytes")
}

/// Composites RGBA over white (JPEG has no alpha).
pub(crate) fn flatten_on_white(img: &RgbaImage) -> RgbImage {
    let mut out = RgbImage::new(img.width(), img.height());
    for (dst, src) in out.pixels_mut().zip(img.pixels()) {
        let a = u32::from(src[3]);
        for c in 0..3 {
            dst[c] = ((u32::from(src[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(profile: ColorProfile) -> Vec<u8> {
        profile.encode().unwrap()
    }

    /// sRGB pixels expressed in `profile`'s space (what a camera set to it
    /// writes), with the profile's bytes.
    fn into_space(rgb: &RgbImage, profile: &ColorProfile) -> RgbImage {
        let t = ColorProfile::new_srgb()
            .create_transform_8bit(
                Layout::Rgb,
                profile,
                Layout::Rgb,
                TransformOptions::default(),
            )
            .unwrap();
        let mut out = vec![0; rgb.as_raw().len()];
        t.transform(rgb.as_raw(), &mut out).unwrap();
        RgbImage::from_raw(rgb.width(), rgb.height(), out).unwrap()
    }

    fn gradient() -> RgbImage {
        RgbImage::from_fn(64, 64, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 4) as u8, 200 - (x + y) as u8])
        })
    }

    #[test]
    fn wide_gamut_pixels_come_back_to_srgb() {
        let original = gradient();
        for (name, profile) in [
            ("Display P3", ColorProfile::new_display_p3()),
            ("Adobe RGB", ColorProfile::new_adobe_rgb()),
            ("ProPhoto RGB", ColorProfile::new_pro_photo_rgb()),
        ] {
            let tagged = into_space(&original, &profile);
            // Read as sRGB, the numbers are visibly off...
            assert!(
                crate::testing::mean_abs_diff(&tagged, &original) > 3.0,
                "{name}"
            );
            // ...converted with their profile, they are the original's.
            let back = to_srgb(DynamicImage::ImageRgb8(tagged), Some(&encoded(profile))).to_rgb8();
            let diff = crate::testing::mean_abs_diff(&back, &original);
            assert!(diff < 1.5, "{name}: {diff}");
        }
    }

    #[test]
    fn srgb_untagged_and_unusable_profiles_change_nothing() {
        let original = DynamicImage::ImageRgb8(gradient());
        let srgb = encoded(ColorProfile::new_srgb());
        assert!(
            entry(&srgb).opaque.is_none(),
            "an sRGB profile needs no transform"
        );
        for icc in [
            None,
            Some(&srgb[..]),
            Some(&b"not a profile"[..]),
            Some(&[][..]),
        ] {
            let out = to_srgb(original.clone(), icc);
            assert_eq!(out.to_rgb8().as_raw(), original.to_rgb8().as_raw());
        }
        // A grey profile on colour pixels is a mismatch: left as it is.
        let grey = encoded(ColorProfile::new_gray_with_gamma(2.2));
        let out = to_srgb(original.clone(), Some(&grey));
        assert_eq!(out.to_rgb8().as_raw(), original.to_rgb8().as_raw());
    }

    #[test]
    fn grey_and_alpha_keep_their_shape() {
        let grey = image::GrayImage::from_fn(16, 16, |x, _| image::Luma([(x * 16) as u8]));
        let icc = encoded(ColorProfile::new_gray_with_gamma(1.8));
        let out = to_srgb(DynamicImage::ImageLuma8(grey), Some(&icc));
        assert_eq!(out.color(), image::ColorType::Rgb8);
        // Gamma 1.8 reads darker than sRGB's ~2.2: mid-greys get lighter.
        assert!(out.to_rgb8().get_pixel(8, 0)[0] > 128);
        let rgba = RgbaImage::from_fn(8, 8, |x, _| image::Rgba([200, 30, 30, (x * 32) as u8]));
        let p3 = encoded(ColorProfile::new_display_p3());
        let out = to_srgb(DynamicImage::ImageRgba8(rgba.clone()), Some(&p3)).to_rgba8();
        for (a, b) in out.pixels().zip(rgba.pixels()) {
            assert_eq!(a[3], b[3], "alpha unchanged");
        }
        // P3's red is redder than sRGB's: clipped to sRGB's most saturated.
        assert!(out.get_pixel(0, 0)[0] > 200);
    }

    #[test]
    fn grey_pixels_with_an_rgb_profile_are_left_as_they_are() {
        let grey = image::GrayImage::from_fn(16, 16, |x, _| image::Luma([(x * 16) as u8]));
        let p3 = encoded(ColorProfile::new_display_p3());
        let out = to_srgb(DynamicImage::ImageLuma8(grey.clone()), Some(&p3));
        assert_eq!(out.color(), image::ColorType::L8);
        assert_eq!(out.to_luma8().as_raw(), grey.as_raw());
    }

    #[test]
    fn cicp_code_points_become_the_profiles_they_name() {
        let pixels = RgbImage::from_fn(16, 16, |x, y| {
            image::Rgb([180, (x * 16) as u8, (y * 16) as u8])
        });
        let via = |icc: Option<Vec<u8>>| {
            to_srgb(DynamicImage::ImageRgb8(pixels.clone()), icc.as_deref()).to_rgb8()
        };
        // BT.709 primaries, sRGB transfer: sRGB, nothing changes.
        assert_eq!(via(icc_from_cicp(1, 13)), pixels);
        // Display P3 (P3 primaries, D65, sRGB transfer): as moxcms' own profile.
        let p3 = via(icc_from_cicp(12, 13));
        let reference = via(Some(encoded(ColorProfile::new_display_p3())));
        assert!(crate::testing::mean_abs_diff(&p3, &reference) < 0.5);
        assert!(crate::testing::mean_abs_diff(&p3, &pixels) > 5.0);
        // Reserved and unspecified code points name nothing.
        assert!(icc_from_cicp(0, 13).is_none());
        assert!(icc_from_cicp(12, 0).is_none());
    }

    #[test]
    fn a_profile_is_built_once() {
        let icc = encoded(ColorProfile::new_adobe_rgb());
        let first = entry(&icc);
        assert!(Arc::ptr_eq(&first, &entry(&icc)));
    }
}
