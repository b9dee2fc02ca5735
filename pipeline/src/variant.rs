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

/// A size the service serves (contract, "Fetch the image": `size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    /// 100x100 cover crop.
    Thumb100,
    /// 300x300 cover crop.
    Thumb300,
    /// 1200x1200 cover crop.
    Thumb1200,
    /// The stored original (metadata stripped on ingest).
    Original,
}

impl Size {
    /// The square thumbnail sizes the worker renders after an upload.
    pub const THUMBNAILS: [Size; 3] = [Size::Thumb100, Size::Thumb300, Size::Thumb1200];

    /// Parses `100x100`, `300x300`, `1200x1200` or `original`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "100x100" => Some(Self::Thumb100),
            "300x300" => Some(Self::Thumb300),
            "1200x1200" => Some(Self::Thumb1200),
            "original" => Some(Self::Original),
            _ => None,
        }
    }

    /// The wire name: `100x100`, ..., `original`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Thumb100 => "100x100",
            Self::Thumb300 => "300x300",
            Self::Thumb1200 => "1200x1200",
            Self::Original => "original",
        }
    }

    /// Edge of the square in pixels, `None` for the original. The rendered
    /// edge is `min(side, short side of the source)`: never upscaled.
    pub fn side(self) -> Option<u32> {
        match self {
            Self::Thumb100 => Some(100),
            Self::Thumb300 => Some(300),
            Self::Thumb1200 => Some(1200),
            Self::Original => None,
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

#[cfg(feature = "postgres")]
crate::text_column!(ImageFormat, |text| ImageFormat::parse(text)
    .ok_or_else(|| format!("unknown image format {text:?}").into()));
#[cfg(feature = "postgres")]
crate::text_column!(Size, |text| Size::parse(text)
    .ok_or_else(|| format!("unknown size {text:?}").into()));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_format_round_trip() {
        for s in ["100x100", "300x300", "1200x1200", "original"] {
            assert_eq!(Size::parse(s).unwrap().as_str(), s);
        }
        for f in ["jpeg", "png", "webp"] {
            assert_eq!(ImageFormat::parse(f).unwrap().as_str(), f);
            let fmt = ImageFormat::parse(f).unwrap();
            assert_eq!(ImageFormat::from_mime(fmt.mime()), Some(fmt));
        }
        assert_eq!(Size::parse("200x200"), None);
        assert_eq!(ImageFormat::parse("gif"), None);
        assert_eq!(ImageFormat::parse("JPEG"), None);
    }
}
