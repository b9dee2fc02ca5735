use image::codecs::jpeg::JpegEncoder;
use image::{GenericImageView, Rgb, RgbImage};

use super::*;
use crate::testing::{fixture, heif_fixture};

const LIMITS: Limits = Limits {
    max_pixels: 50_000_000,
};

fn decode_plain(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).unwrap()
}

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const WHITE: [u8; 3] = [255, 255, 255];

/// 64x32 stored pixels in four quadrants: red, green / blue, white.
fn quadrants() -> RgbImage {
    RgbImage::from_fn(64, 32, |x, y| {
        Rgb(match (x < 32, y < 16) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        })
    })
}

/// An APP1 EXIF segment with only the Orientation tag (big-endian TIFF).
fn exif_app1(orientation: u8) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&[0, 1]); // one IFD entry
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    seg.extend(payload);
    seg
}

fn jpeg_with_orientation(img: &RgbImage, orientation: u8) -> Vec<u8> {
    let mut plain = Vec::new();
    JpegEncoder::new_with_quality(&mut plain, 95)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    let mut out = plain[..2].to_vec();
    out.extend(exif_app1(orientation));
    out.extend_from_slice(&plain[2..]);
    out
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) < 40)
}

/// The EXIF reference: the displayed 2x2 quadrant grid for each
/// orientation, from the TIFF 6.0 definition of tag 0x0112.
fn expected_grid(orientation: u8) -> [[[u8; 3]; 2]; 2] {
    let (r, g, b, w) = (RED, GREEN, BLUE, WHITE);
    match orientation {
        1 => [[r, g], [b, w]],
        2 => [[g, r], [w, b]],
        3 => [[w, b], [g, r]],
        4 => [[b, w], [r, g]],
        5 => [[r, b], [g, w]],
        6 => [[b, r], [w, g]],
        7 => [[w, g], [b, r]],
        8 => [[g, w], [r, b]],
        _ => unreachable!(),
    }
}

#[test]
fn all_eight_orientations_match_the_exif_reference() {
    for orientation in 1..=8u8 {
        let jpeg = jpeg_with_orientation(&quadrants(), orientation);
        let probe = probe(&jpeg, LIMITS).unwrap();
        assert_eq!(probe.orientation, orientation);
        let out = render(
            &jpeg,
            LIMITS,
            &[Variant::new(Size::Original, ImageFormat::Png)],
        )
        .unwrap()
        .remove(0);
        let img = decode_plain(&out.bytes).to_rgb8();
        let (w, h) = img.dimensions();
        assert_eq!(
            (w, h),
            probe.display_dimensions(),
            "orientation {orientation}"
        );
        let expected = expected_grid(orientation);
        for (row, cells) in expected.iter().enumerate() {
            for (col, want) in cells.iter().enumerate() {
                let x = w / 4 + col as u32 * w / 2;
                let y = h / 4 + row as u32 * h / 2;
                let got = img.get_pixel(x, y).0;
                assert!(
                    close(got, *want),
                    "orientation {orientation}: cell ({row},{col}) is {got:?}, want {want:?}"
                );
            }
        }
    }
}

#[test]
fn ingest_makes_rotated_originals_upright_and_strips_exif() {
    let jpeg = jpeg_with_orientation(&quadrants(), 6);
    let ingested = ingest(&jpeg, LIMITS).unwrap();
    assert_eq!((ingested.width, ingested.height), (32, 64));
    let again = probe(&ingested.bytes, LIMITS).unwrap();
    assert_eq!(again.orientation, 1);
    assert_eq!((again.width, again.height), (32, 64));
    assert!(!ingested.bytes.windows(4).any(|w| w == b"Exif"));

    let upright = jpeg_with_orientation(&quadrants(), 1);
    let ingested = ingest(&upright, LIMITS).unwrap();
    assert!(!ingested.bytes.windows(4).any(|w| w == b"Exif"));
    // Lossless: everything from the Start Of Scan on is byte-identical.
    let sos = ingested
        .bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xDA])
        .unwrap();
    assert!(upright.ends_with(&ingested.bytes[sos..]));
}

#[test]
fn sniff_accepts_only_jpeg_png_webp_heic_avif() {
    assert_eq!(
        sniff(&fixture("j09_photo_eveningglow.jpg")).unwrap(),
        SourceFormat::Jpeg
    );
    assert_eq!(
        sniff(&fixture("p07_art_sway.png")).unwrap(),
        SourceFormat::Png
    );
    assert_eq!(
        sniff(&fixture("w06_photo_sunset.webp")).unwrap(),
        SourceFormat::Webp
    );
    assert_eq!(
        sniff(&heif_fixture("heic_photo.heic")).unwrap(),
        SourceFormat::Heic
    );
    assert_eq!(
        sniff(&heif_fixture("avif_grid_10bit.avif")).unwrap(),
        SourceFormat::Avif
    );
    for bad in [
        &b"GIF89a\x01\x00\x01\x00"[..],
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        b"BM\x00\x00\x00\x00",
        // An MP4 video and a QuickTime movie: ISO BMFF, not HEIF.
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
        b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ",
        // Too short to hold a brand.
        b"\x00\x00\x00\x0cftyp",
        b"hello world",
        b"",
        b"\xFF\xD8",
        b"RIFF\0\0\0\0WAVE",
    ] {
        assert!(matches!(sniff(bad), Err(ImageError::UnsupportedFormat)));
    }
}

#[test]
fn pixel_budget_is_checked_before_decoding() {
    let jpeg = fixture("j09_photo_eveningglow.jpg");
    let err = probe(
        &jpeg,
        Limits {
            max_pixels: 4_000_000,
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        ImageError::TooManyPixels {
            width: 2560,
            height: 1600,
            max_pixels: 4_000_000
        }
    ));
    // A crafted PNG header claiming 100000x100000 is refused without
    // allocating its 40 GB of pixels.
    let bomb = crate::testing::png_bomb(100_000, 100_000);
    assert!(matches!(
        decode(&bomb, LIMITS),
        Err(ImageError::TooManyPixels { .. })
    ));
}

#[test]
fn truncated_files_are_errors_not_grey_images() {
    for name in [
        "j09_photo_eveningglow.jpg",
        "jp3_photo_sunset_prog.jpg",
        "p07_art_sway.png",
        "w06_photo_sunset.webp",
    ] {
        let full = fixture(name);
        let cut = &full[..full.len() / 2];
        assert!(
            matches!(decode(cut, LIMITS), Err(ImageError::Invalid(_))),
            "{name} cut in half must not decode"
        );
    }
}

#[test]
fn thumbnails_are_square_never_upscaled() {
    assert_eq!(thumbnail_side(1200, 2140, 1200), 1200);
    assert_eq!(thumbnail_side(1200, 1080, 1920), 1080);
    assert_eq!(thumbnail_side(300, 64, 32), 32);
    let png = fixture("p08_art_patak_rgba_phone.png");
    let out = render(&png, LIMITS, &thumbnail_variants(ImageFormat::Png)).unwrap();
    let dims: Vec<_> = out.iter().map(|r| (r.width, r.height)).collect();
    assert_eq!(dims, [(100, 100), (300, 300), (1080, 1080)]);
    for r in &out {
        let img = decode_plain(&r.bytes);
        assert_eq!(img.dimensions(), (r.width, r.height));
    }
}

#[test]
fn real_exif_6_and_8_photos_are_rotated() {
    for (name, rotate) in [
        (
            "j17_photo_dragonfly_exif6.jpg",
            image::imageops::rotate90 as fn(&RgbImage) -> RgbImage,
        ),
        ("j18_photo_seeding_exif8.jpg", image::imageops::rotate270),
    ] {
        let bytes = fixture(name);
        let ours = render(
            &bytes,
            LIMITS,
            &[Variant::new(Size::THUMB_100, ImageFormat::Png)],
        )
        .unwrap()
        .remove(0);
        let ours = decode_plain(&ours.bytes).to_rgb8();
        // Reference: the stored pixels, rotated explicitly, then cover-cropped.
        let raw = decode_plain(&bytes).to_rgb8();
        let reference = DynamicImage::ImageRgb8(rotate(&raw))
            .resize_to_fill(100, 100, image::imageops::FilterType::Triangle)
            .to_rgb8();
        let unrotated = DynamicImage::ImageRgb8(raw)
            .resize_to_fill(100, 100, image::imageops::FilterType::Triangle)
            .to_rgb8();
        let good = crate::testing::mean_abs_diff(&ours, &reference);
        let bad = crate::testing::mean_abs_diff(&ours, &unrotated);
        // Filters differ (Lanczos3 vs the reference's triangle), so the
        // right rotation is not identical, but it is far closer than any other.
        assert!(
            good < 20.0,
            "{name}: differs from the rotated reference by {good}"
        );
        assert!(
            good * 3.0 < bad,
            "{name}: rotated {good} vs unrotated {bad}"
        );
    }
}

#[test]
fn jpeg_output_flattens_alpha_on_white() {
    let png = fixture("p10_art_arc_transparent.png");
    let src = decode_plain(&png).to_rgba8();
    // Find a fully transparent pixel in the centre square to compare against.
    let out = render(
        &png,
        LIMITS,
        &[Variant::new(Size::Original, ImageFormat::Jpeg)],
    )
    .unwrap()
    .remove(0);
    let img = decode_plain(&out.bytes).to_rgb8();
    let (x, y) = src
        .enumerate_pixels()
        .find(|(x, y, p)| {
            p[3] == 0 && *x > 8 && *y > 8 && *x < src.width() - 8 && *y < src.height() - 8
        })
        .map(|(x, y, _)| (x, y))
        .expect("the corpus file has transparent pixels");
    assert!(close(img.get_pixel(x, y).0, WHITE));
    // PNG and WebP keep alpha.
    for format in [ImageFormat::Png, ImageFormat::Webp] {
        let out = render(&png, LIMITS, &[Variant::new(Size::THUMB_100, format)]).unwrap();
        assert!(decode_plain(&out[0].bytes).color().has_alpha(), "{format}");
    }
}

/// Every test image through the upload's path, as the upload function runs
/// it (the EXIF 6 and 8 photos through libjpeg's lossless transform): the
/// image kept is of its format, upright, and the size the probe promised.
/// `make asan` runs this under AddressSanitizer, which is how issue 26's
/// stack overflow in the transform shows.
#[test]
fn every_fixture_upload_is_ingested() {
    let mut names: Vec<String> = std::fs::read_dir(crate::testing::fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| [".jpg", ".png", ".webp"].iter().any(|ext| n.ends_with(ext)))
        .collect();
    names.sort();
    assert!(names.len() >= 13, "{names:?}");
    for name in &names {
        let bytes = fixture(name);
        let probe = probe(&bytes, LIMITS).unwrap();
        let ingested = ingest(&bytes, LIMITS).unwrap();
        assert_eq!(SourceFormat::from(ingested.format), probe.format, "{name}");
        assert_eq!(
            (ingested.width, ingested.height),
            probe.display_dimensions(),
            "{name}"
        );
        let kept = super::probe(&ingested.bytes, LIMITS).unwrap();
        assert_eq!(
            (kept.width, kept.height, kept.orientation),
            (ingested.width, ingested.height, 1),
            "{name}"
        );
    }
}

/// A real photo, its pixels converted into a wide-gamut space and the
/// space's ICC profile embedded (as a phone or a camera writes it), in each
/// format: its thumbnails match the untagged photo's, in sRGB and untagged
/// themselves (issue 22: before, a ProPhoto copy came out visibly grey).
#[test]
fn tagged_wide_gamut_photos_render_as_their_untagged_originals() {
    use image::ImageEncoder as _;
    use moxcms::{ColorProfile, Layout, TransformOptions};
    let photo = image::load_from_memory(&fixture("j09_photo_eveningglow.jpg"))
        .unwrap()
        .resize(480, 480, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let (w, h) = photo.dimensions();
    let encode_with = |format: ImageFormat, px: &[u8], icc: Option<Vec<u8>>| {
        let mut out = Vec::new();
        match format {
            ImageFormat::Jpeg => {
                let mut e = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
                if let Some(icc) = icc {
                    e.set_icc_profile(icc).unwrap();
                }
                e.write_image(px, w, h, image::ExtendedColorType::Rgb8)
                    .unwrap();
            }
            ImageFormat::Png => {
                let mut e = PngEncoder::new(&mut out);
                if let Some(icc) = icc {
                    e.set_icc_profile(icc).unwrap();
                }
                e.write_image(px, w, h, image::ExtendedColorType::Rgb8)
                    .unwrap();
            }
            ImageFormat::Webp => {
                let mut e = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
                if let Some(icc) = icc {
                    e.set_icc_profile(icc).unwrap();
                }
                e.write_image(px, w, h, image::ExtendedColorType::Rgb8)
                    .unwrap();
            }
        }
        out
    };
    // The 300 px variant in the input's format and as PNG: both untagged;
    // the PNG's pixels are compared (a lossy output would add its own noise).
    let render_300 = |bytes: &[u8], format: ImageFormat| {
        let wanted = [
            Variant::new(Size::THUMB_300, format),
            Variant::new(Size::THUMB_300, ImageFormat::Png),
        ];
        let out = render(bytes, LIMITS, &wanted).unwrap();
        for r in &out {
            assert!(
                !r.bytes
                    .windows(4)
                    .any(|w| w == b"ICC_" || w == b"iCCP" || w == b"ICCP"),
                "variants are untagged"
            );
        }
        image::load_from_memory(&out[1].bytes).unwrap().to_rgb8()
    };
    for (name, profile) in [
        ("Display P3", ColorProfile::new_display_p3()),
        ("Adobe RGB", ColorProfile::new_adobe_rgb()),
        ("ProPhoto RGB", ColorProfile::new_pro_photo_rgb()),
    ] {
        let to_space = ColorProfile::new_srgb()
            .create_transform_8bit(
                Layout::Rgb,
                &profile,
                Layout::Rgb,
                TransformOptions::default(),
            )
            .unwrap();
        let mut in_space = vec![0; photo.as_raw().len()];
        to_space.transform(photo.as_raw(), &mut in_space).unwrap();
        let icc = profile.encode().unwrap();
        for format in ImageFormat::ALL {
            let untagged = render_300(&encode_with(format, photo.as_raw(), None), format);
            let tagged = render_300(&encode_with(format, &in_space, Some(icc.clone())), format);
            let ignored = render_300(&encode_with(format, &in_space, None), format);
            let diff = crate::testing::mean_abs_diff(&tagged, &untagged);
            let wrong = crate::testing::mean_abs_diff(&ignored, &untagged);
            // Lossless inputs: only 8-bit rounding in the wide space; a q95
            // JPEG input adds its own quantisation in that space.
            let (most, factor) = match format {
                ImageFormat::Jpeg => (2.5, 2.0),
                _ => (0.5, 5.0),
            };
            assert!(
                diff < most,
                "{name} {format}: {diff} levels off the untagged photo's"
            );
            assert!(
                wrong > factor * diff,
                "{name} {format}: profile ignored {wrong}, applied {diff}"
            );
        }
    }
}

#[test]
fn every_corpus_file_renders_all_thumbnails() {
    for name in [
        "j05_photo_bridge.jpg",
        "j11_photo_grey_gray.jpg",
        "jp3_photo_sunset_prog.jpg",
        "p07_art_sway.png",
        "w03_art_gnome_wood_16mp.webp",
        "w09_art_arc_alpha.webp",
    ] {
        let bytes = fixture(name);
        let format = sniff(&bytes).unwrap().served(false);
        let out = render(&bytes, LIMITS, &thumbnail_variants(format)).unwrap();
        for r in out {
            let side = r.variant.size.side().unwrap();
            assert_eq!(
                (r.width, r.height),
                (side, side),
                "{name} {}",
                r.variant.size
            );
            assert_eq!(sniff(&r.bytes).unwrap(), format.into());
            assert!(!r.bytes.windows(4).any(|w| w == b"Exif"));
        }
    }
}

#[test]
fn cmyk_jpeg_16_bit_png_and_grayscale_render() {
    // CMYK JPEG (as print workflows write them): converted on decode
    // (`cmyk_jpegs_are_converted_through_their_profile` checks the colour).
    let (w, h) = (64u32, 48u32);
    let cmyk: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i % 256) as u8, 40, 200, 10])
        .collect();
    let jpeg = std::panic::catch_unwind(|| {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
        c.set_size(w as usize, h as usize);
        c.set_quality(90.0);
        let mut s = c.start_compress(Vec::new()).unwrap();
        s.write_scanlines(&cmyk).unwrap();
        s.finish().unwrap()
    })
    .unwrap();
    let out = render(
        &jpeg,
        LIMITS,
        &[Variant::new(Size::THUMB_100, ImageFormat::Jpeg)],
    )
    .unwrap();
    assert_eq!((out[0].width, out[0].height), (48, 48));

    // 16-bit RGB PNG.
    let deep = image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::from_fn(80, 60, |x, y| {
        image::Rgb([(x * 800) as u16, (y * 1000) as u16, 30000])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb16(deep)
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let out = render(png.get_ref(), LIMITS, &thumbnail_variants(ImageFormat::Png)).unwrap();
    assert_eq!((out[0].width, out[0].height), (60, 60));
    assert_eq!(decode_plain(&out[0].bytes).color(), image::ColorType::Rgb8);

    // Grayscale PNG (the grayscale JPEG is in the corpus test).
    let gray = image::GrayImage::from_fn(50, 40, |x, _| image::Luma([(x * 5) as u8]));
    let mut png = std::io::Cursor::new(Vec::new());
    gray.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let out = render(
        png.get_ref(),
        LIMITS,
        &[Variant::new(Size::THUMB_300, ImageFormat::Webp)],
    )
    .unwrap();
    assert_eq!((out[0].width, out[0].height), (40, 40));
}

/// A CMYK JPEG of 16×16 patches of `inks` (percent of C, M, Y, K), stored
/// inverted with Adobe's APP14 marker as Photoshop writes it (libjpeg
/// writes the marker for CMYK), with `icc` embedded if given; coded as
/// CMYK, or as YCCK with `ycck`.
fn cmyk_patches_jpeg(inks: &[[u8; 4]], icc: Option<&[u8]>, ycck: bool) -> Vec<u8> {
    let (w, h) = (16 * inks.len(), 16);
    let cmyk: Vec<u8> = (0..w * h)
        .flat_map(|i| inks[i % w / 16].map(|percent| 255 - (u16::from(percent) * 255 / 100) as u8))
        .collect();
    std::panic::catch_unwind(|| {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
        c.set_size(w, h);
        if ycck {
            c.set_color_space(mozjpeg::ColorSpace::JCS_YCCK);
        }
        c.set_quality(98.0);
        let mut s = c.start_compress(Vec::new()).unwrap();
        if let Some(icc) = icc {
            // One APP2 chunk, numbered 1 of 1 (ICC.1 B.4; the mozjpeg
            // crate's `write_icc_profile` numbers it 0, which readers drop).
            let chunk = [&b"ICC_PROFILE\0\x01\x01"[..], icc].concat();
            s.write_marker(mozjpeg::Marker::APP(2), &chunk);
        }
        s.write_scanlines(&cmyk).unwrap();
        s.finish().unwrap()
    })
    .unwrap()
}

#[test]
fn cmyk_jpegs_are_converted_through_their_profile() {
    // Expected sRGB: Fogra's measured Lab of each patch (FOGRA39L.ti3 for
    // coated paper, FOGRA29L.ti3 for uncoated), relative to the paper white
    // (Bradford), in sRGB. Independent of the profiles, which are fits of
    // those measurements (pipeline/profiles/README.md).
    let inks = [
        [0, 0, 0, 0],
        [40, 0, 0, 0],
        [0, 40, 0, 0],
        [0, 0, 0, 40],
        [20, 40, 40, 0],
        [70, 40, 0, 0],
        [40, 70, 100, 0],
    ];
    let coated = [
        [255, 255, 255],
        [162, 218, 248],
        [245, 182, 211],
        [180, 180, 179],
        [211, 166, 150],
        [87, 138, 199],
        [170, 98, 48],
    ];
    let uncoated = [
        [255, 255, 255],
        [160, 217, 244],
        [244, 180, 209],
        [176, 175, 174],
        [206, 165, 151],
        [107, 146, 196],
        [163, 112, 85],
    ];
    let fogra29 = crate::testing::icc_fixture("fogra29-uncoated.icc");
    let patches = |icc: Option<&[u8]>, ycck: bool| {
        let decoded = decode(&cmyk_patches_jpeg(&inks, icc, ycck), LIMITS).unwrap();
        let rgb = decoded.into_srgb().image.to_rgb8();
        (0..inks.len() as u32)
            .map(|i| rgb.get_pixel(16 * i + 8, 8).0)
            .collect::<Vec<_>>()
    };
    let off_by = |got: &[[u8; 3]], want: &[[u8; 3]]| {
        got.iter()
            .zip(want)
            .flat_map(|(g, w)| g.iter().zip(w).map(|(a, b)| a.abs_diff(*b)))
            .max()
            .unwrap()
    };
    // No profile embedded: the built-in FOGRA39 one.
    let untagged = patches(None, false);
    assert!(off_by(&untagged, &coated) <= 8, "{untagged:?}");
    // An embedded profile wins: uncoated paper's duller blue and brown.
    let tagged = patches(Some(&fogra29), false);
    assert!(off_by(&tagged, &uncoated) <= 8, "{tagged:?}");
    assert!(off_by(&tagged, &coated) > 15, "{tagged:?}");
    // YCCK (Photoshop's usual CMYK coding): libjpeg turns it into the same CMYK.
    let ycck = patches(Some(&fogra29), true);
    assert!(off_by(&ycck, &uncoated) <= 8, "{ycck:?}");
    // The uncalibrated formula (255 − C)(255 − K) misses by far more.
    let naive: Vec<[u8; 3]> = inks
        .iter()
        .map(|ink| {
            let k = 100 - u32::from(ink[3]);
            [0, 1, 2].map(|c| ((100 - u32::from(ink[c])) * k * 255 / 10_000) as u8)
        })
        .collect();
    assert!(off_by(&naive, &coated) > 30);
}

#[test]
fn thumbhashes_are_small_and_follow_the_picture() {
    let limits = LIMITS;
    let mut hashes = Vec::new();
    for name in [
        "j09_photo_eveningglow.jpg",
        "p10_art_arc_transparent.png",
        "w06_photo_sunset.webp",
    ] {
        let bytes = crate::testing::fixture(name);
        let renditions = render(
            &bytes,
            limits,
            &thumbnail_variants(sniff(&bytes).unwrap().served(false)),
        )
        .unwrap();
        let smallest = renditions.iter().min_by_key(|r| r.width).unwrap();
        let hash = thumbhash(&smallest.bytes).unwrap();
        assert!(
            (5..=30).contains(&hash.len()),
            "{name}: {} bytes",
            hash.len()
        );
        // A square thumbnail: the hash says so.
        let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
        assert!((ratio - 1.0).abs() < 0.2, "{name}: {ratio}");
        hashes.push(hash);
    }
    assert_ne!(hashes[0], hashes[1]);
    assert_ne!(hashes[1], hashes[2]);
    // Larger inputs are shrunk first; garbage is an error.
    let big = crate::testing::fixture("j05_photo_bridge.jpg");
    assert!(thumbhash(&big).is_ok());
    assert!(thumbhash(b"not an image").is_err());
}

// HEIC and AVIF uploads (issue 22 §2): `fixtures/heif`, 640×400 copies of
// j09_photo_eveningglow.jpg and of an image with real transparency, made
// by `fixtures/heif/make.sh`.

/// The 100×100 PNG thumbnail of a file, as the service renders it.
fn thumb_100(bytes: &[u8]) -> RgbImage {
    let out = render(
        bytes,
        LIMITS,
        &[Variant::new(Size::THUMB_100, ImageFormat::Png)],
    )
    .unwrap();
    decode_plain(&out[0].bytes).to_rgb8()
}

/// The photo's pixels as decoded, before any colour conversion.
fn heif_raw_pixels(name: &str) -> RgbImage {
    decode(&heif_fixture(name), LIMITS).unwrap().image.to_rgb8()
}

#[test]
fn heic_and_avif_uploads_are_stored_as_jpeg_or_webp_upright() {
    for (name, format, dims) in [
        ("heic_photo.heic", ImageFormat::Jpeg, (640, 400)),
        ("heic_p3_icc.heic", ImageFormat::Jpeg, (640, 400)),
        ("avif_grid_10bit.avif", ImageFormat::Jpeg, (640, 400)),
        ("avif_irot1_imir1.avif", ImageFormat::Jpeg, (400, 640)),
        ("avif_p3_nclx.avif", ImageFormat::Jpeg, (640, 400)),
        ("avif_alpha.avif", ImageFormat::Webp, (640, 400)),
    ] {
        let bytes = heif_fixture(name);
        let probe = probe(&bytes, LIMITS).unwrap();
        assert_eq!(
            (probe.width, probe.height, probe.orientation),
            (dims.0, dims.1, 1),
            "{name}"
        );
        let ingested = ingest(&bytes, LIMITS).unwrap();
        assert_eq!(ingested.format, format, "{name}");
        assert_eq!((ingested.width, ingested.height), dims, "{name}");
        let kept = super::probe(&ingested.bytes, LIMITS).unwrap();
        assert_eq!(kept.format, format.into(), "{name}");
        assert_eq!(
            (kept.width, kept.height, kept.orientation),
            (dims.0, dims.1, 1)
        );
        assert!(!ingested.bytes.windows(4).any(|w| w == b"Exif"), "{name}");
        // The stored copy renders like the HEIF itself (a JPEG: its q85
        // re-encode and its thumbnail's DCT-scaled decode, 2.7-2.9 levels
        // here; a colour or orientation error is tens).
        let (from_heif, from_kept) = (thumb_100(&bytes), thumb_100(&ingested.bytes));
        let diff = crate::testing::mean_abs_diff(&from_heif, &from_kept);
        assert!(diff < 4.0, "{name}: stored copy {diff} levels off");
        for r in render(&bytes, LIMITS, &thumbnail_variants(format)).unwrap() {
            let side = r.variant.size.side().unwrap().min(400);
            assert_eq!((r.width, r.height), (side, side), "{name}");
        }
    }
    // Alpha survives into the WebP.
    let webp = ingest(&heif_fixture("avif_alpha.avif"), LIMITS).unwrap();
    let rgba = decode_plain(&webp.bytes).to_rgba8();
    let alpha = |p: &image::Rgba<u8>| p[3];
    let (min, max) = (
        rgba.pixels().map(alpha).min(),
        rgba.pixels().map(alpha).max(),
    );
    // The source's alpha runs from 0 to 122.
    assert!(min < Some(8) && max > Some(110), "alpha {min:?}..{max:?}");
}

/// A grid of tiles is assembled in place, a 10-bit image comes down to 8
/// bits, and a Display P3 photo — ICC profile or `nclx` box — renders as
/// the sRGB one does (and visibly not when its colour is ignored).
#[test]
fn heif_grids_bit_depths_and_colour_come_out_as_the_srgb_photo() {
    let reference = thumb_100(&heif_fixture("heic_photo.heic"));
    let diff =
        |name: &str| crate::testing::mean_abs_diff(&thumb_100(&heif_fixture(name)), &reference);
    let grid = diff("avif_grid_10bit.avif");
    assert!(grid < 2.0, "grid: {grid}");
    let plain = heif_raw_pixels("heic_photo.heic");
    for name in ["heic_p3_icc.heic", "avif_p3_nclx.avif"] {
        let converted = diff(name);
        let ignored = crate::testing::mean_abs_diff(&heif_raw_pixels(name), &plain);
        assert!(
            converted < 2.0,
            "{name}: {converted} levels off the sRGB photo"
        );
        assert!(
            ignored > 2.0 * converted,
            "{name}: ignored {ignored}, converted {converted}"
        );
    }
}

/// `irot` and `imir` are applied: the decode is upright as the file says.
#[test]
fn heif_rotation_and_mirroring_are_applied() {
    let photo = DynamicImage::ImageRgb8(heif_raw_pixels("heic_photo.heic"));
    let turned = heif_raw_pixels("avif_irot1_imir1.avif");
    // irot 1: 90° anticlockwise; then imir 1: mirrored left to right.
    let expected = photo.rotate270().fliph().to_rgb8();
    let wrong = photo.rotate90().to_rgb8();
    let (right, other) = (
        crate::testing::mean_abs_diff(&turned, &expected),
        crate::testing::mean_abs_diff(&turned, &wrong),
    );
    assert!(right < 3.0 && other > 5.0 * right, "{right} vs {other}");
}

/// `heic_photo.heic` with the four bytes at the first `tag` replaced by
/// `with` (offset `skip` after it).
fn patched(tag: &[u8; 4], skip: usize, with: &[u8]) -> Vec<u8> {
    let mut bytes = heif_fixture("heic_photo.heic");
    let at = bytes.windows(4).position(|w| w == tag).unwrap() + 4 + skip;
    bytes[at..at + with.len()].copy_from_slice(with);
    bytes
}

#[test]
fn broken_heif_files_are_refused() {
    let heic = heif_fixture("heic_photo.heic");
    // `ispe` (version and flags, then width and height) lying smaller, and
    // so large that the budget refuses it unread.
    let small = [64u32.to_be_bytes(), 40u32.to_be_bytes()].concat();
    let huge = [20_000u32.to_be_bytes(), 20_000u32.to_be_bytes()].concat();
    // The image item claims to be AV1 (`infe` type `av01`) but is HEVC.
    for (what, bytes) in [
        ("truncated", heic[..heic.len() / 2].to_vec()),
        ("header only", heic[..200].to_vec()),
        ("ispe smaller than the image", patched(b"ispe", 4, &small)),
        ("HEVC item claiming AV1", patched(b"hvc1", 0, b"av01")),
    ] {
        assert!(
            matches!(ingest(&bytes, LIMITS), Err(ImageError::Invalid(_))),
            "{what}: {:?}",
            ingest(&bytes, LIMITS).map(|i| (i.width, i.height))
        );
    }
    let r = probe(&patched(b"ispe", 4, &huge), LIMITS);
    assert!(
        matches!(r, Err(ImageError::TooManyPixels { width: 20_000, .. })),
        "{r:?}"
    );
    let tight = Limits {
        max_pixels: 100_000,
    };
    assert!(matches!(
        ingest(&heic, tight),
        Err(ImageError::TooManyPixels {
            width: 640,
            height: 400,
            ..
        })
    ));
    // Decoded whole: the decode budget reserves libheif's planes too.
    let probe = probe(&heic, LIMITS).unwrap();
    assert!(memory_needed(&probe, Some(100)) >= 640 * 400 * (6 + 3 + 3 + 8));
}

/// A crop, given in the upright image's pixels, cuts the same square
/// whatever EXIF orientation the stored pixels need: a square inside each
/// displayed quadrant renders that quadrant's colour alone.
#[test]
fn a_crop_cuts_the_upright_square_for_every_orientation() {
    let size = Size::parse("16x16").unwrap();
    for orientation in 1..=8u8 {
        let jpeg = jpeg_with_orientation(&quadrants(), orientation);
        let (w, h) = probe(&jpeg, LIMITS).unwrap().display_dimensions();
        let (qw, qh) = (w / 2, h / 2);
        for (row, cells) in expected_grid(orientation).iter().enumerate() {
            for (col, want) in cells.iter().enumerate() {
                let crop = Crop {
                    x: col as u32 * qw + (qw - 12) / 2,
                    y: row as u32 * qh + (qh - 12) / 2,
                    width: 12,
                    height: 12,
                };
                let out = render_with(
                    &jpeg,
                    LIMITS,
                    &[Variant::new(size, ImageFormat::Png)],
                    Some(crop),
                    Scans::Needed,
                )
                .unwrap()
                .remove(0);
                // Never upscaled past the crop.
                assert_eq!((out.width, out.height), (12, 12));
                let img = decode_plain(&out.bytes).to_rgb8();
                assert!(
                    img.pixels().all(|p| close(p.0, *want)),
                    "orientation {orientation}, quadrant {row},{col}: {:?}",
                    img.get_pixel(6, 6)
                );
            }
        }
    }
}

/// Shrink-on-load keeps the crop's pixels: for a 300 px thumbnail of an
/// 800 px crop of a 2560x1600 photo the short side is decoded at 600 px
/// or more (the crop keeps 300), not the 300 the centre needs; a crop
/// outside the image is refused.
#[test]
fn a_crop_is_decoded_large_enough_and_must_lie_inside() {
    let bytes = fixture("j09_photo_eveningglow.jpg");
    let probe = probe(&bytes, LIMITS).unwrap();
    let thumbs = [Variant::new(Size::THUMB_300, ImageFormat::Jpeg)];
    let crop = Crop {
        x: 0,
        y: 0,
        width: 800,
        height: 800,
    };
    assert_eq!(render_short_side(&thumbs, None, &probe), Some(300));
    assert_eq!(render_short_side(&thumbs, Some(crop), &probe), Some(600));
    let out = render_with(&bytes, LIMITS, &thumbs, Some(crop), Scans::Needed).unwrap();
    assert_eq!((out[0].width, out[0].height), (300, 300));
    let outside = Crop { x: 1761, ..crop };
    assert!(matches!(
        render_with(&bytes, LIMITS, &thumbs, Some(outside), Scans::Needed),
        Err(ImageError::Invalid(m)) if m.contains("not inside the 2560x1600 image")
    ));
}
