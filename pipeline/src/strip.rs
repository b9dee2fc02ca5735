//! Lossless metadata removal (contract, "Fetch the image": the served
//! original carries no GPS/EXIF metadata).
//!
//! Only container segments are dropped; compressed pixel data is copied
//! byte for byte. Colour information (ICC profile, Adobe transform, PNG
//! gamma/chromaticities) is kept because it changes how pixels look.

use crate::decoded::ImageError;
use crate::variant::ImageFormat;

/// Returns `bytes` with EXIF, XMP, IPTC, comments and text chunks removed.
///
/// * JPEG: drops APP1 (EXIF/XMP), APP3–APP13, APP15 and COM; keeps APP0
///   (JFIF), APP2 `ICC_PROFILE` and APP14 (Adobe).
/// * PNG: drops `eXIf`, `tEXt`, `zTXt`, `iTXt`, `tIME`.
/// * WebP: drops `EXIF` and `XMP ` chunks and clears their `VP8X` flags.
///
/// # Errors
/// [`ImageError::Invalid`] when the container structure is malformed.
pub fn strip_metadata(format: ImageFormat, bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    match format {
        ImageFormat::Jpeg => strip_jpeg(bytes),
        ImageFormat::Png => strip_png(bytes),
        ImageFormat::Webp => strip_webp(bytes),
    }
}

fn malformed(what: &str) -> ImageError {
    ImageError::Invalid(format!("malformed {what}"))
}

fn strip_jpeg(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..2]);
    let mut pos = 2;
    loop {
        // Skip fill bytes between segments.
        while bytes.get(pos) == Some(&0xFF) && bytes.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(pos), bytes.get(pos + 1)) else {
            return Err(malformed("JPEG marker"));
        };
        if marker == 0xD9 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            // Standalone markers (no length).
            out.extend_from_slice(&bytes[pos..pos + 2]);
            pos += 2;
            if marker == 0xD9 {
                return Ok(out);
            }
            continue;
        }
        let len = bytes
            .get(pos + 2..pos + 4)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
            .ok_or_else(|| malformed("JPEG segment"))?;
        let end = pos + 2 + len;
        if len < 2 || end > bytes.len() {
            return Err(malformed("JPEG segment length"));
        }
        let payload = &bytes[pos + 4..end];
        let keep = match marker {
            0xE0 | 0xEE => true,
            0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
            0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            out.extend_from_slice(&bytes[pos..end]);
        }
        pos = end;
        if marker == 0xDA {
            // Start Of Scan: entropy-coded data and later scans follow; they
            // carry no metadata segments worth the risk of re-parsing.
            out.extend_from_slice(&bytes[pos..]);
            return Ok(out);
        }
    }
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

fn strip_png(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(malformed("PNG signature"));
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut pos = PNG_SIGNATURE.len();
    while pos < bytes.len() {
        let header = bytes
            .get(pos..pos + 8)
            .ok_or_else(|| malformed("PNG chunk header"))?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let end = pos
            .checked_add(12 + len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| malformed("PNG chunk length"))?;
        if !matches!(kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME") {
            out.extend_from_slice(&bytes[pos..end]);
        }
        pos = end;
        if kind == b"IEND" {
            break;
        }
    }
    Ok(out)
}

fn strip_webp(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WEBP" {
        return Err(malformed("WebP header"));
    }
    let riff_end = (u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize)
        .saturating_add(8)
        .min(bytes.len());
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..12]);
    let mut pos = 12;
    while pos + 8 <= riff_end {
        let kind = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let padded = len + (len & 1);
        let end = (pos + 8)
            .checked_add(padded)
            .ok_or_else(|| malformed("WebP chunk length"))?;
        // The last chunk's pad byte may be missing in files written by some tools.
        if pos + 8 + len > riff_end {
            return Err(malformed("WebP chunk length"));
        }
        let end = end.min(riff_end);
        match kind {
            b"EXIF" | b"XMP " => {}
            b"VP8X" => {
                let start = out.len();
                out.extend_from_slice(&bytes[pos..end]);
                if len >= 1 {
                    // Flags byte: clear EXIF (0x08) and XMP (0x04).
                    out[start + 8] &= !(0x08 | 0x04);
                }
            }
            _ => out.extend_from_slice(&bytes[pos..end]),
        }
        pos = end;
    }
    let riff_size = u32::try_from(out.len() - 8).map_err(|_| malformed("WebP size"))?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG header with APP0, an EXIF APP1 carrying "GPS", a COM and an
    /// ICC APP2, then SOS + data + EOI.
    fn crafted_jpeg() -> Vec<u8> {
        let seg = |marker: u8, payload: &[u8]| {
            let mut s = vec![0xFF, marker];
            s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
            s.extend_from_slice(payload);
            s
        };
        let mut j = vec![0xFF, 0xD8];
        j.extend(seg(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
        j.extend(seg(0xE1, b"Exif\0\0GPSLatitude"));
        j.extend(seg(0xFE, b"a comment"));
        j.extend(seg(0xE2, b"ICC_PROFILE\0\x01\x01data"));
        j.extend(seg(0xDA, b"\x01\x01\x00\x00\x3f\x00"));
        j.extend_from_slice(&[0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9]);
        j
    }

    #[test]
    fn jpeg_drops_exif_and_comments_keeps_icc() {
        let out = strip_jpeg(&crafted_jpeg()).unwrap();
        let hay = String::from_utf8_lossy(&out);
        assert!(!hay.contains("Exif"));
        assert!(!hay.contains("GPS"));
        assert!(!hay.contains("a comment"));
        assert!(hay.contains("JFIF"));
        assert!(hay.contains("ICC_PROFILE"));
        assert!(out.ends_with(&[0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9]));
    }

    #[test]
    fn jpeg_malformed_is_an_error() {
        let mut j = crafted_jpeg();
        j.truncate(8);
        assert!(strip_jpeg(&j).is_err());
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&[0, 0, 0, 0]);
        c
    }

    #[test]
    fn png_drops_text_and_exif() {
        let mut p = PNG_SIGNATURE.to_vec();
        p.extend(png_chunk(b"IHDR", &[0; 13]));
        p.extend(png_chunk(b"tEXt", b"Comment\0secret"));
        p.extend(png_chunk(b"eXIf", b"MM\0*GPS"));
        p.extend(png_chunk(b"IDAT", b"pixels"));
        p.extend(png_chunk(b"IEND", b""));
        let out = strip_png(&p).unwrap();
        let hay = String::from_utf8_lossy(&out);
        assert!(!hay.contains("secret") && !hay.contains("GPS"));
        assert!(hay.contains("IHDR") && hay.contains("pixels") && hay.contains("IEND"));
    }

    #[test]
    fn webp_drops_exif_and_clears_flags() {
        let chunk = |kind: &[u8; 4], data: &[u8]| {
            let mut c = kind.to_vec();
            c.extend_from_slice(&(data.len() as u32).to_le_bytes());
            c.extend_from_slice(data);
            if data.len() % 2 == 1 {
                c.push(0);
            }
            c
        };
        let mut body = b"WEBP".to_vec();
        body.extend(chunk(
            b"VP8X",
            &[0x08 | 0x04 | 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ));
        body.extend(chunk(b"VP8L", b"pixel"));
        body.extend(chunk(b"EXIF", b"GPSdata"));
        body.extend(chunk(b"XMP ", b"<xmp/>"));
        let mut w = b"RIFF".to_vec();
        w.extend_from_slice(&(body.len() as u32).to_le_bytes());
        w.extend(body);
        let out = strip_webp(&w).unwrap();
        let hay = String::from_utf8_lossy(&out);
        assert!(!hay.contains("GPS") && !hay.contains("xmp"));
        assert_eq!(out[20], 0x10, "alpha flag kept, EXIF/XMP flags cleared");
        let riff = u32::from_le_bytes([out[4], out[5], out[6], out[7]]) as usize;
        assert_eq!(riff + 8, out.len());
    }
}
