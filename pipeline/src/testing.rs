//! Test fixtures shared by unit, integration and end-to-end tests and the
//! benchmarks (feature `testing`): the real test images kept in the
//! repository (`fixtures/images`, or a larger set at `CORPUS_DIR`), and the
//! hostile inputs better made by hand (a pixel bomb; CRC-correct PNG chunks).

use std::path::PathBuf;

/// The directory of test images: `$CORPUS_DIR` when set (a larger set with
/// the same file names and its own `corpus.tsv`), else the repository's
/// `fixtures/images` (see its README for what each file covers).
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/images"))
}

/// The bytes of one test image of [`fixtures_dir`].
///
/// # Panics
/// When the file cannot be read (a test cannot run without it).
pub fn fixture(name: &str) -> Vec<u8> {
    read_image(&fixtures_dir().join(name))
}

fn read_image(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("test image {}: {e}", path.display()))
}

/// The bytes of one of the repository's progressive JPEGs
/// (`fixtures/progressive`: corpus photos made progressive losslessly with
/// `jpegtran`, several scan scripts; see its README). Not under
/// `CORPUS_DIR`: a larger corpus need not have them.
///
/// # Panics
/// When the file cannot be read.
pub fn progressive_fixture(name: &str) -> Vec<u8> {
    repository_fixture("progressive", name)
}

/// `fixtures/{dir}/{name}` of the repository itself.
fn repository_fixture(dir: &str, name: &str) -> Vec<u8> {
    read_image(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures")
            .join(dir)
            .join(name),
    )
}

/// The bytes of one of the repository's HEIC and AVIF test files
/// (`fixtures/heif`, made from `fixtures/images` by its `make.sh`). Not
/// under `CORPUS_DIR`.
///
/// # Panics
/// When the file cannot be read.
pub fn heif_fixture(name: &str) -> Vec<u8> {
    repository_fixture("heif", name)
}

/// The bytes of one of the repository's test ICC profiles (`fixtures/icc`).
///
/// # Panics
/// When the file cannot be read.
pub fn icc_fixture(name: &str) -> Vec<u8> {
    repository_fixture("icc", name)
}

/// A structurally valid PNG whose header claims `width`×`height` RGBA pixels
/// but carries almost no data: a decompression bomb that a decoder would
/// try to allocate `width × height × 4` bytes for. Chunk CRCs are correct,
/// so only a pixel budget stops it.
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    // A zlib stream of one empty stored block: far too little data.
    png.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0, 0, 0, 1],
    ));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// Mean absolute difference per channel of two RGB images of the same
/// size, 0–255: how tests compare a rendered image with a reference.
///
/// # Panics
/// When the sizes differ.
pub fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "images of different sizes");
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

/// One PNG chunk: length, type, data, CRC-32 of type + data.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let crc = crc32(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    chunk
}

/// CRC-32 (IEEE 802.3, as PNG uses), bitwise: fixtures are tiny.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_matches_the_png_iend_constant() {
        // Every PNG ends with IEND whose CRC is AE 42 60 82.
        assert_eq!(
            super::png_chunk(b"IEND", &[])[8..],
            [0xAE, 0x42, 0x60, 0x82]
        );
    }
}
