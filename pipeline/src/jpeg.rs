//! JPEG shrink-on-load: libjpeg-turbo's DCT-domain scaling (through the
//! `mozjpeg` crate, which builds the library from source) decodes straight
//! to M/8 of the size, M = 1..8. At 1/8 only the DC coefficient of each
//! block is used, so a 24 MP photo decodes as 0.4 MP — the largest single
//! saving of the pipeline (libvips, Pillow's `draft` and imgproxy do the same).

use image::{DynamicImage, GrayImage, RgbImage};
use mozjpeg::{ColorSpace, Compress, Decompress, Format};

use crate::decoded::ImageError;

/// The smallest scale numerator M (output = ceil(size × M / 8)) whose short
/// side is still at least `min_short_side`; 8 (full size) when even that
/// is not enough.
pub fn scale_for(width: u32, height: u32, min_short_side: u32) -> u8 {
    let short = u64::from(width.min(height));
    (1..=8u8)
        .find(|&m| (short * u64::from(m)).div_ceil(8) >= u64::from(min_short_side))
        .unwrap_or(8)
}

/// The scale numerator shrink-on-load decodes a `width`×`height` JPEG at
/// when the short side must keep `min_short_side` pixels for the resize:
/// [`scale_for`] a short side 1.5 times that. libjpeg-turbo's reduced-size
/// IDCTs (2×2, 3×3, ... per block) alias, and Lanczos3 cleans that up only
/// with room to filter: decoding to just the thumbnail's size cost up to
/// 0.012 SSIM against a full-size Lanczos reference
/// (`j09_photo_eveningglow.jpg` at 300 px: 0.988, libvips 0.999, which
/// leaves its reduce a factor of 2 or more); with the margin every corpus
/// JPEG is within 0.001 of libvips or better (BENCHMARKS.md,
/// "Resampling"). One exception, `dc_scans_only` (a progressive JPEG being
/// rendered): where 1/8 covers the side without the margin, the DC scans
/// alone are read ([`dc_scans`]: a tenth of the data, 2.5 times faster on
/// the corpus's progressive photo), at 0.995 SSIM where the margin gives
/// 0.999 (libvips 0.999). WebP needs no margin: libwebp's rescaler
/// averages areas, and with exact scaling this project and libvips (which
/// scales WebP the same way) stay equal.
pub fn shrink_on_load_scale(
    width: u32,
    height: u32,
    min_short_side: u32,
    dc_scans_only: bool,
) -> u8 {
    if dc_scans_only && scale_for(width, height, min_short_side) == 1 {
        return 1;
    }
    scale_for(
        width,
        height,
        min_short_side.saturating_add(min_short_side.div_ceil(2)),
    )
}

/// Whether the frame of a JPEG is progressive (SOF2, SOF6, SOF10 or SOF14),
/// read by walking its marker segments up to the first Start Of Frame;
/// `false` for anything that is not a well-formed marker sequence there.
/// libjpeg keeps the coefficients of a whole progressive image in memory
/// (2 bytes per coefficient, at full size whatever the output scale), so
/// a decode budget must count them.
pub fn is_progressive(bytes: &[u8]) -> bool {
    header_segments(bytes)
        .find_map(|(marker, _)| match marker {
            0xC2 | 0xC6 | 0xCA | 0xCE => Some(true),
            // Any other SOF: not progressive.
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => Some(false),
            _ => None,
        })
        .unwrap_or(false)
}

/// Whether a JPEG carries Adobe's APP14 marker. Photoshop, which writes
/// that marker, stores CMYK inverted (0 = full ink), and libjpeg hands the
/// values over as stored; every reader that converts CMYK (libvips,
/// Pillow, browsers) takes the marker as the sign and inverts them back.
fn has_adobe_marker(bytes: &[u8]) -> bool {
    header_segments(bytes).any(|(marker, payload)| marker == 0xEE && payload.starts_with(b"Adobe"))
}

/// The marker segments of a JPEG before its first scan, in order, as
/// (marker, payload): what follows its SOI up to the first SOS or EOI,
/// ending early at anything that is not a well-formed segment (a file
/// that is not a JPEG has none). Standalone markers have an empty payload;
/// a segment the file ends inside has what there is of it.
fn header_segments(bytes: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut at = if bytes.starts_with(&[0xFF, 0xD8]) {
        2
    } else {
        bytes.len()
    };
    std::iter::from_fn(move || {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return None;
        };
        match marker {
            0xDA | 0xD9 => None,
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 => {
                at += 2;
                Some((marker, &[][..]))
            }
            _ => {
                // A segment the file ends inside still names its marker
                // (with what there is of its payload); the walk ends there.
                let len = bytes
                    .get(at + 2..at + 4)
                    .map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
                let start = (at + 4).min(bytes.len());
                let payload = &bytes[start..(at + 2 + len).clamp(start, bytes.len())];
                at = if len < 2 { bytes.len() } else { at + 2 + len };
                Some((marker, payload))
            }
        }
    })
}

/// The stream libjpeg-turbo needs for a 1/8-scale decode of a progressive
/// JPEG: every marker segment (tables, frame, restart interval, APPn) and
/// every scan that carries DC coefficients (spectral selection `Ss = 0`:
/// first scans and successive-approximation refinements), without the AC
/// scans (`Ss > 0`), whose entropy-coded bytes are skipped by looking for
/// the next marker (`FF` followed by neither `00`, a stuffed byte, nor
/// `D0`–`D7`, a restart marker) — no Huffman decoding. At 1/8 libjpeg's
/// 1×1 inverse DCT reads only the DC coefficient, so the pixels are the
/// same as a decode of the whole stream at 1/8 (with block smoothing off,
/// which only estimates AC coefficients). ISO/IEC 10918-1 G.1 (progressive
/// scans), B.1.1.5 (entropy-coded segments).
///
/// `None` unless `bytes` is a clean progressive JPEG: SOI, exactly one
/// SOF2 frame (Huffman progressive; arithmetic-coded, lossless and
/// hierarchical frames are left to the full decode), well-formed segments
/// and scan headers, no DNL, at least one DC scan, and an EOI after the
/// last scan. The caller then decodes the original bytes.
pub fn dc_scans(bytes: &[u8]) -> Option<Vec<u8>> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    // The DC scans of a photo are roughly a tenth of its bytes.
    let mut out = Vec::with_capacity(bytes.len() / 8 + 1024);
    out.extend_from_slice(&[0xFF, 0xD8]);
    let (mut at, mut frame, mut dc) = (2, false, 0);
    loop {
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return None;
        };
        if marker == 0xD9 {
            out.extend_from_slice(&[0xFF, 0xD9]);
            return (frame && dc > 0).then_some(out);
        }
        // Every other marker here starts a segment with a length.
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2)?,
            *bytes.get(at + 3)?,
        ]));
        let segment = bytes.get(at..at + 2 + length).filter(|_| length >= 2)?;
        match marker {
            0xC2 if !frame => frame = true,
            // Another frame, any other SOF, DNL, a hierarchical marker, a
            // standalone one (TEM, RSTn) outside a scan, or a reserved one.
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xCC) => return None,
            0x01 | 0x02..=0xBF | 0xD0..=0xD8 | 0xDC | 0xDE | 0xDF => return None,
            0xDA => {
                // Ls, Ns, Ns × (Cs, Td/Ta), Ss, Se, Ah/Al.
                let components = usize::from(*segment.get(4)?);
                if !frame || !(1..=4).contains(&components) || length != 6 + 2 * components {
                    return None;
                }
                let (ss, se) = (segment[5 + 2 * components], segment[6 + 2 * components]);
                let end = scan_end(bytes, at + 2 + length)?;
                match (ss, se) {
                    (0, 0) => {
                        out.extend_from_slice(&bytes[at..end]);
                        dc += 1;
                    }
                    // An AC scan: one component, a band within 1..=63.
                    (1..=63, _) if se >= ss && se <= 63 && components == 1 => {}
                    _ => return None,
                }
                at = end;
                continue;
            }
            _ => {}
        }
        out.extend_from_slice(segment);
        at += 2 + length;
    }
}

/// Where the entropy-coded data starting at `from` ends: the offset of the
/// first marker that is neither a stuffed zero (`FF 00`) nor a restart
/// marker (`FF D0`–`FF D7`); fill bytes (`FF FF`) run into the marker
/// they precede. `None` when the data runs to the end of `bytes`.
fn scan_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        at += bytes.get(at..)?.iter().position(|&b| b == 0xFF)?;
        match *bytes.get(at + 1)? {
            0x00 | 0xD0..=0xD7 => at += 2,
            0xFF => at += 1,
            _ => return Some(at),
        }
    }
}

/// Decodes at scale M/8 (see [`scale_for`]). With `dc_only` and M = 1, a
/// progressive JPEG is decoded from its DC scans alone ([`dc_scans`]),
/// with the same pixels; otherwise, or when the stream is not clean, from
/// all of it. A CMYK or YCCK JPEG comes out as sRGB, converted through
/// `icc` (its embedded profile) or the default CMYK profile
/// ([`crate::color::cmyk_to_srgb`]); RGB and grey keep their numbers and
/// are converted later, after the resize where that is cheaper.
///
/// A decode that must validate every coefficient (an upload) passes
/// `dc_only = false`: the AC scans are not even parsed on the DC path.
///
/// # Errors
/// [`ImageError::Invalid`] when libjpeg reports a fatal error.
pub fn decode_scaled(
    bytes: &[u8],
    numerator: u8,
    dc_only: bool,
    icc: Option<&[u8]>,
) -> Result<DynamicImage, ImageError> {
    match (dc_only && numerator == 1)
        .then(|| dc_scans(bytes))
        .flatten()
    {
        Some(dc) => {
            let _span = tracing::info_span!(
                "dc_scans",
                image.bytes = bytes.len(),
                pipeline.dc_bytes = dc.len()
            )
            .entered();
            decode_libjpeg(&dc, 1, false, icc)
        }
        _ => decode_libjpeg(bytes, numerator, true, icc),
    }
}

/// libjpeg-turbo's decode at `numerator`/8, block smoothing as asked (it
/// only matters for a progressive stream missing AC scans); CMYK through
/// `icc`, as [`decode_scaled`] says.
fn decode_libjpeg(
    bytes: &[u8],
    numerator: u8,
    block_smoothing: bool,
    icc: Option<&[u8]>,
) -> Result<DynamicImage, ImageError> {
    // libjpeg reports fatal errors by unwinding out of the C code (the
    // `mozjpeg` crate's error manager); contain them here.
    std::panic::catch_unwind(|| -> std::io::Result<Option<DynamicImage>> {
        let mut decoder = Decompress::new_mem(bytes)?;
        decoder.scale(numerator);
        decoder.do_block_smoothing(block_smoothing);
        match decoder.image()? {
            Format::RGB(mut started) => {
                let (w, h) = (started.width() as u32, started.height() as u32);
                let pixels: Vec<u8> = started.read_scanlines()?;
                started.finish()?;
                Ok(RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8))
            }
            Format::Gray(mut started) => {
                let (w, h) = (started.width() as u32, started.height() as u32);
                let pixels: Vec<u8> = started.read_scanlines()?;
                started.finish()?;
                Ok(GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8))
            }
            // libjpeg turns YCCK into CMYK itself.
            Format::CMYK(mut started) => {
                let (w, h) = (started.width() as u32, started.height() as u32);
                let mut cmyk: Vec<u8> = started.read_scanlines()?;
                started.finish()?;
                if has_adobe_marker(bytes) {
                    cmyk.iter_mut().for_each(|v| *v = 255 - *v);
                }
                Ok((cmyk.len() == w as usize * h as usize * 4)
                    .then(|| DynamicImage::ImageRgb8(crate::color::cmyk_to_srgb(w, h, &cmyk, icc))))
            }
        }
    })
    .map_err(|p| ImageError::Invalid(unwound(p)))?
    .map_err(|e| ImageError::Invalid(e.to_string()))?
    .ok_or_else(|| ImageError::Invalid("libjpeg returned fewer pixels than the frame".into()))
}

/// Turns a caught libjpeg unwind into an error message.
pub(crate) fn unwound(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "libjpeg error".into())
}

/// Encodes 8-bit RGB as a baseline JPEG at `quality` with libjpeg-turbo's
/// own settings (4:2:0, no trellis or progressive scans: speed over the last
/// few percent of size), no metadata.
///
/// # Errors
/// [`ImageError::Encode`] when libjpeg fails.
pub fn encode_rgb(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, ImageError> {
    std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
        let mut compress = Compress::new(ColorSpace::JCS_RGB);
        compress.set_fastest_defaults();
        compress.set_size(width as usize, height as usize);
        compress.set_quality(f32::from(quality));
        let mut started = compress.start_compress(Vec::new())?;
        started.write_scanlines(rgb)?;
        started.finish()
    })
    .map_err(|p| ImageError::Encode(unwound(p)))?
    .map_err(|e| ImageError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use image::GenericImageView;

    use super::*;

    #[test]
    fn scale_keeps_the_short_side_large_enough() {
        // 6000x4000: 1/8 -> 500 covers 300; 1200 needs 3/8 -> 1500.
        assert_eq!(scale_for(6000, 4000, 300), 1);
        assert_eq!(scale_for(6000, 4000, 1200), 3);
        assert_eq!(scale_for(2560, 1600, 300), 2);
        // Short side below the request: full size, never upscaled later.
        assert_eq!(scale_for(1080, 1920, 1200), 8);
        assert_eq!(scale_for(10, 10, 1), 1);
    }

    #[test]
    fn shrink_on_load_leaves_half_the_side_again_for_the_resize() {
        // 2560x1600 for 300: 1/4 (400) would do, 3/8 (600) keeps 450.
        assert_eq!(shrink_on_load_scale(2560, 1600, 300, false), 3);
        // 6000x4000: 1/8 (500) keeps 450 already.
        assert_eq!(shrink_on_load_scale(6000, 4000, 300, false), 1);
        assert_eq!(shrink_on_load_scale(1080, 1920, 1200, false), 8);
        assert_eq!(shrink_on_load_scale(10, 10, u32::MAX, false), 8);
        // A progressive JPEG whose DC scans cover the side reads only them.
        assert_eq!(shrink_on_load_scale(3648, 2848, 300, false), 2);
        assert_eq!(shrink_on_load_scale(3648, 2848, 300, true), 1);
        assert_eq!(shrink_on_load_scale(2560, 1600, 300, true), 3);
    }

    #[test]
    fn adobe_marker_is_found_among_the_header_segments() {
        let segment = |marker: u8, payload: &[u8]| {
            let len = (payload.len() + 2) as u16;
            [&[0xFF, marker][..], &len.to_be_bytes(), payload].concat()
        };
        let adobe = segment(0xEE, b"Adobe\0\x64\0\0\0\0\x02");
        let jfif = segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        let sos = [0xFF, 0xDA, 0, 2];
        let file = |parts: &[&[u8]]| [&[0xFF, 0xD8][..], &parts.concat()].concat();
        assert!(has_adobe_marker(&file(&[&jfif, &adobe, &sos])));
        assert!(!has_adobe_marker(&file(&[&jfif, &sos])));
        // After the first scan, or in another APP segment: not the marker.
        assert!(!has_adobe_marker(&file(&[&jfif, &sos, &adobe])));
        assert!(!has_adobe_marker(&file(&[&segment(0xED, b"Adobe"), &sos])));
        // A truncated segment ends the walk; a non-JPEG has no segments.
        assert!(!has_adobe_marker(&file(&[&adobe[..6]])));
        assert!(!has_adobe_marker(&adobe));
    }

    #[test]
    fn progressive_frames_are_told_from_their_markers() {
        let fixture = |name| crate::testing::fixture(name);
        assert!(is_progressive(&fixture("jp3_photo_sunset_prog.jpg")));
        assert!(!is_progressive(&fixture("j09_photo_eveningglow.jpg")));
        // EXIF (APP1) before the frame is walked over.
        assert!(!is_progressive(&fixture("j17_photo_dragonfly_exif6.jpg")));
        // Truncated before any frame: not progressive.
        for broken in [
            &b""[..],
            b"\xFF\xD8",
            b"\xFF\xD8\xFF\xE0\xFF",
            b"\xFF\xD8\xFF\xE0\x00\x10",
        ] {
            assert!(!is_progressive(broken), "{broken:?}");
        }
        // The marker alone says so.
        assert!(is_progressive(b"\xFF\xD8\xFF\xC2"));
        assert!(!is_progressive(&fixture("p07_art_sway.png")));
    }

    /// Every progressive test file: the corpus's own and the ones made
    /// with `jpegtran` (standard script, a mozjpeg-like script with
    /// per-component DC scans, DC refinement and restart markers, grey).
    fn progressive_files() -> Vec<(&'static str, Vec<u8>)> {
        let mut files = vec![(
            "jp3_photo_sunset_prog.jpg",
            crate::testing::fixture("jp3_photo_sunset_prog.jpg"),
        )];
        for name in [
            "bridge_progressive.jpg",
            "bridge_scans_restart.jpg",
            "grey_progressive.jpg",
        ] {
            files.push((name, crate::testing::progressive_fixture(name)));
        }
        files
    }

    #[test]
    fn dc_scans_decode_to_the_pixels_of_the_whole_stream_at_one_eighth() {
        for (name, bytes) in progressive_files() {
            let dc = dc_scans(&bytes).unwrap_or_else(|| panic!("{name}: not clean"));
            // Far less to read: the AC scans are most of a photo.
            assert!(
                dc.len() * 3 < bytes.len(),
                "{name}: {} of {}",
                dc.len(),
                bytes.len()
            );
            let whole = decode_libjpeg(&bytes, 1, true, None).unwrap();
            let fast = decode_scaled(&bytes, 1, true, None).unwrap();
            assert_eq!(fast.dimensions(), whole.dimensions(), "{name}");
            assert_eq!(fast.color(), whole.color(), "{name}");
            assert!(fast.as_bytes() == whole.as_bytes(), "{name}: pixels differ");
        }
    }

    #[test]
    fn the_dc_path_is_taken_only_when_asked_and_only_at_one_eighth() {
        let bytes = crate::testing::progressive_fixture("bridge_progressive.jpg");
        // 2/8 needs AC coefficients: the whole stream, as without the flag.
        let quarter = decode_scaled(&bytes, 2, true, None).unwrap();
        let quarter_whole = decode_libjpeg(&bytes, 2, true, None).unwrap();
        assert!(quarter.as_bytes() == quarter_whole.as_bytes());
        // A baseline JPEG has no DC-only scans to keep.
        assert!(dc_scans(&crate::testing::fixture("j09_photo_eveningglow.jpg")).is_none());
        assert!(dc_scans(&crate::testing::fixture("p07_art_sway.png")).is_none());
    }

    #[test]
    fn truncated_progressive_streams_are_not_clean() {
        for (name, bytes) in progressive_files() {
            for cut in (0..bytes.len()).step_by(bytes.len() / 97) {
                assert!(dc_scans(&bytes[..cut]).is_none(), "{name} cut at {cut}");
            }
        }
    }

    #[test]
    fn streams_other_than_one_clean_progressive_frame_fall_back() {
        let bytes = crate::testing::progressive_fixture("bridge_scans_restart.jpg");
        let at = |marker: u8| bytes.windows(2).position(|w| w == [0xFF, marker]).unwrap();
        let sof = at(0xC2);
        let sof_len = usize::from(u16::from_be_bytes([bytes[sof + 2], bytes[sof + 3]]));
        let frame = &bytes[sof..sof + 2 + sof_len];
        let edit = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = bytes.clone();
            f(&mut b);
            b
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("baseline frame", edit(&|b| b[sof + 1] = 0xC0)),
            ("arithmetic frame", edit(&|b| b[sof + 1] = 0xCA)),
            (
                "two frames",
                edit(&|b| b.splice(sof..sof, frame.to_vec()).for_each(drop)),
            ),
            (
                "no frame",
                edit(&|b| b.drain(sof..sof + 2 + sof_len).for_each(drop)),
            ),
            ("frame length wrong", edit(&|b| b[sof + 2] = 0xFF)),
            (
                "DNL",
                edit(&|b| b.splice(sof..sof, [0xFF, 0xDC, 0, 4, 0, 8]).for_each(drop)),
            ),
            ("no end of image", edit(&|b| b.truncate(b.len() - 2))),
        ];
        for (what, broken) in cases {
            assert!(dc_scans(&broken).is_none(), "{what}");
            // The fallback decodes the whole stream, or reports it bad.
            let _ = decode_scaled(&broken, 1, true, None);
        }
        // Data after the end of image is ignored, as libjpeg does.
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(b"trailing");
        assert!(dc_scans(&trailing).is_some());
    }

    #[test]
    fn hostile_progressive_streams_never_panic() {
        // Deterministic mutations (xorshift) of a small progressive file
        // and of its scan-script twin: flipped bytes and inserted markers;
        // the fuzz target (`make fuzz`) does the same without a bound.
        for seed in ["prog.jpg", "prog_scans_restart.jpg"] {
            let path = format!(
                "{}/../fuzz/seeds/progressive/{seed}",
                env!("CARGO_MANIFEST_DIR")
            );
            let bytes = std::fs::read(&path).unwrap();
            assert!(dc_scans(&bytes).is_some(), "{seed}");
            let mut state = 0x9E37_79B9_7F4A_7C15_u64;
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            for _ in 0..3000 {
                let mut b = bytes.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % b.len() as u64) as usize;
                    match next() % 3 {
                        0 => b[at] = next() as u8,
                        1 => b[at] = 0xFF,
                        _ => b.insert(at, 0xFF),
                    }
                }
                if let Some(dc) = dc_scans(&b) {
                    assert!(dc.len() <= b.len());
                }
                let _ = decode_scaled(&b, 1, true, None);
            }
        }
    }
}
