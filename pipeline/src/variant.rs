//! What the pipeline renders: an [`ImageFormat`], a [`Size`], and a
//! [`Variant`] (one size in one format). Parsed once at the edge ("parse,
//! don't validate"): after parsing, a value is always one the contract lists.
//!
//! With the `postgres` feature, [`Size`] and [`ImageFormat`] are
//! `ToSql`/`FromSql` as their wire names (`300x300`, `webp`), the form the
//! database's text columns hold.

use std::fmt;

/// An image format the service accepts and serves (contract, "Upload":
/// "Supported formats: jpeg, png, webp").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// JPEG (JFIF/EXIF), no alpha.
    Jpeg,
    /// PNG, alpha kept.
    Png,
    /// WebP, alpha kept.
    Webp,
}

impl ImageFormat {
    /// Every format, in the order the contract lists them.
    pub const ALL: [ImageFormat; 3] = [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Webp];

    /// Parses the `format` query parameter: `jpeg`, `png` or `webp`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "jpeg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "webp" => Some(Self::Webp),
            _ => None,
        }
    }

    /// Parses a MIME type as stored in the database (`image/jpeg`, ...).
    pub fn from_mime(mime: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.mime() == mime)
    }

    /// The query-parameter name: `jpeg`, `png`, `webp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }

    /// The MIME type served in `Content-Type`.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    /// File extension used in object keys and default file names.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The format of an upload, from its magic bytes: the three the service
/// serves, plus the HEIF family phones shoot (decode only; issue 22). A
/// HEIC or AVIF upload is stored and served as [`SourceFormat::served`]'s
/// format, made at upload ([`crate::ingest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// WebP.
    Webp,
    /// HEIF with HEVC-coded images (`ftyp` brands `heic`, `heix`, `mif1`, ...):
    /// iPhone photos.
    Heic,
    /// HEIF with AV1-coded images (`ftyp` brands `avif`, `avis`).
    Avif,
}

impl SourceFormat {
    /// Every upload format, in the order the contract lists them.
    pub const ALL: [SourceFormat; 5] = [
        SourceFormat::Jpeg,
        SourceFormat::Png,
        SourceFormat::Webp,
        SourceFormat::Heic,
        SourceFormat::Avif,
    ];

    /// The upload formats this build decodes: [`SourceFormat::ALL`] with
    /// the `heif` feature; JPEG, PNG and WebP without it.
    pub fn accepted() -> &'static [SourceFormat] {
        if cfg!(feature = "heif") {
            &Self::ALL
        } else {
            &Self::ALL[..3]
        }
    }

    /// The formats of [`SourceFormat::accepted`] as people name them:
    /// `JPEG, PNG, WebP, HEIC or AVIF`.
    pub fn accepted_names() -> String {
        let names: Vec<&str> = Self::accepted()
            .iter()
            .map(|f| match f {
                Self::Jpeg => "JPEG",
                Self::Png => "PNG",
                Self::Webp => "WebP",
                Self::Heic => "HEIC",
                Self::Avif => "AVIF",
            })
            .collect();
        match names.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }

    /// `jpeg`, `png`, `webp`, `heic`, `avif`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Heic => "heic",
            Self::Avif => "avif",
            other => other.served(false).as_str(),
        }
    }

    /// The MIME type a client declares for a direct upload (`image/heic`
    /// for any HEVC-coded HEIF; `image/heif` is accepted as its alias by
    /// [`SourceFormat::from_mime`]).
    pub fn mime(self) -> &'static str {
        match self {
            Self::Heic => "image/heic",
            Self::Avif => "image/avif",
            other => other.served(false).mime(),
        }
    }

    /// File extension of default file names: `jpg`, `png`, `webp`, `heic`,
    /// `avif`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Heic | Self::Avif => self.as_str(),
            other => other.served(false).extension(),
        }
    }

    /// Parses a declared MIME type: the served formats' and `image/heic`,
    /// `image/heif`, `image/avif`.
    pub fn from_mime(mime: &str) -> Option<Self> {
        match mime {
            "image/heif" => Some(Self::Heic),
            _ => Self::ALL.into_iter().find(|f| f.mime() == mime),
        }
    }

    /// The format the stored original takes: the same for JPEG, PNG and
    /// WebP; for HEIC and AVIF, which not every browser shows, JPEG — or
    /// WebP when the image has alpha (`alpha`), which JPEG cannot carry.
    pub fn served(self, alpha: bool) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Webp => ImageFormat::Webp,
            Self::Heic | Self::Avif if alpha => ImageFormat::Webp,
            Self::Heic | Self::Avif => ImageFormat::Jpeg,
        }
    }
}

impl From<ImageFormat> for SourceFormat {
    fn from(format: ImageFormat) -> Self {
        match format {
            ImageFormat::Jpeg => Self::Jpeg,
            ImageFormat::Png => Self::Png,
            ImageFormat::Webp => Self::Webp,
        }
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A size the service serves: a square thumbnail of a side in pixels
/// (contract, "Fetch the image": `100x100`, `300x300`, `1200x1200`; more
/// when `THUMBNAIL_SIZES` configures them), or the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    /// A `side`×`side` cover crop.
    Square(u32),
    /// The stored original (metadata stripped on ingest).
    Original,
}

impl Size {
    /// 100x100 cover crop.
    pub const THUMB_100: Size = Size::Square(100);
    /// 300x300 cover crop.
    pub const THUMB_300: Size = Size::Square(300);
    /// 1200x1200 cover crop.
    pub const THUMB_1200: Size = Size::Square(1200);
    /// The square sizes the contract names, the default thumbnails.
    pub const THUMBNAILS: [Size; 3] = [Size::THUMB_100, Size::THUMB_300, Size::THUMB_1200];
    /// The largest square side a size may name, pixels.
    pub const MAX_SIDE: u32 = 4096;
    /// The smallest, pixels.
    pub const MIN_SIDE: u32 = 16;

    /// Parses `NxN` (a square of `MIN_SIDE`..=`MAX_SIDE` pixels, written
    /// without leading zeros) or `original`. Which squares a request may
    /// ask for is the caller's rule (the contract's and the configured ones).
    pub fn parse(raw: &str) -> Option<Self> {
        if raw == "original" {
            return Some(Self::Original);
        }
        let (w, h) = raw.split_once('x')?;
        let side: u32 = w.parse().ok()?;
        let canonical = w == h && !w.starts_with('0') && w.bytes().all(|b| b.is_ascii_digit());
        (canonical && (Self::MIN_SIDE..=Self::MAX_SIDE).contains(&side))
            .then_some(Self::Square(side))
    }

    /// The wire name: `100x100`, ..., `original`.
    pub fn as_str(self) -> std::borrow::Cow<'static, str> {
        match self {
            Self::THUMB_100 => "100x100".into(),
            Self::THUMB_300 => "300x300".into(),
            Self::THUMB_1200 => "1200x1200".into(),
            Self::Square(side) => format!("{side}x{side}").into(),
            Self::Original => "original".into(),
        }
    }

    /// Edge of the square in pixels, `None` for the original. The rendered
    /// edge is `min(side, short side of the source)`: never upscaled.
    pub fn side(self) -> Option<u32> {
        match self {
            Self::Square(side) => Some(side),
            Self::Original => None,
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// One stored rendition of an avatar: a size in a format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Variant {
    /// Which size.
    pub size: Size,
    /// Which encoding.
    pub format: ImageFormat,
}

impl Variant {
    /// A variant of `size` encoded as `format`.
    pub fn new(size: Size, format: ImageFormat) -> Self {
        Self { size, format }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_format_round_trip() {
        for s in ["100x100", "300x300", "1200x1200", "640x640", "original"] {
            assert_eq!(Size::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(Size::parse("300x300"), Some(Size::THUMB_300));
        for bad in [
            "200x100",
            "0x0",
            "15x15",
            "4097x4097",
            "0100x0100",
            "x",
            "100x",
            "-1x-1",
            "+100x+100",
        ] {
            assert_eq!(Size::parse(bad), None, "{bad}");
        }
        for f in ["jpeg", "png", "webp"] {
            assert_eq!(ImageFormat::parse(f).unwrap().as_str(), f);
            let fmt = ImageFormat::parse(f).unwrap();
            assert_eq!(ImageFormat::from_mime(fmt.mime()), Some(fmt));
        }
        assert_eq!(ImageFormat::parse("gif"), None);
        assert_eq!(ImageFormat::parse("JPEG"), None);
    }
}
