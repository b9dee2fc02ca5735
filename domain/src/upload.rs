//! The direct upload's request (contract, `POST /api/v1/avatars/uploads`):
//! a small JSON body from the client, parsed and checked here before any
//! storage or database call. The HTTP edge maps [`DirectUploadError`] to
//! the contract's status codes (400, 413).

use crate::{Crop, CropError, ImageFormat, SourceFormat};

/// A crop as JSON, `{"x","y","width","height"}` (contract, "Upload": the
/// optional `crop` of both upload routes, and the metadata's `crop`):
/// the square of the upright image (EXIF orientation applied) its
/// thumbnails are cut from, pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CropJson {
    /// Left edge, pixels.
    pub x: u32,
    /// Top edge, pixels.
    pub y: u32,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels (`width` ± 1).
    pub height: u32,
}

impl CropJson {
    /// The crop, its values at most 2^31 − 1 (the database's `INTEGER`;
    /// no image the pixel budget allows is that large) and its shape
    /// checked ([`Crop::check_shape`]) against `min_side`, the smallest
    /// thumbnail side (pixels). Whether it lies inside the image is known
    /// once the file is decoded.
    ///
    /// # Errors
    /// [`InvalidCrop::Range`], [`InvalidCrop::Shape`].
    pub fn checked(self, min_side: u32) -> Result<Crop, InvalidCrop> {
        let values = [self.x, self.y, self.width, self.height];
        if values.iter().any(|&v| i32::try_from(v).is_err()) {
            return Err(InvalidCrop::Range);
        }
        let crop = Crop {
            x: self.x,
            y: self.y,
            width: self.width,
            height: self.height,
        };
        crop.check_shape(min_side)?;
        Ok(crop)
    }
}

impl From<Crop> for CropJson {
    fn from(c: Crop) -> Self {
        Self {
            x: c.x,
            y: c.y,
            width: c.width,
            height: c.height,
        }
    }
}

/// Why an upload's `crop` was refused (contract: 400 "Invalid crop").
#[derive(Debug, thiserror::Error)]
pub enum InvalidCrop {
    /// Not the JSON object `{"x","y","width","height"}` of non-negative integers.
    #[error("expected {{\"x\",\"y\",\"width\",\"height\"}} in pixels: {0}")]
    Json(#[source] serde_json::Error),
    /// A value over 2^31 − 1.
    #[error("crop values are at most 2147483647 pixels")]
    Range,
    /// Not square within a pixel, or smaller than the smallest thumbnail.
    #[error(transparent)]
    Shape(#[from] CropError),
}

/// Parses the multipart upload's `crop` field, the JSON text of a
/// [`CropJson`], and checks it ([`CropJson::checked`]).
///
/// # Errors
/// [`InvalidCrop`].
pub fn parse_crop(text: &str, min_side: u32) -> Result<Crop, InvalidCrop> {
    serde_json::from_str::<CropJson>(text)
        .map_err(InvalidCrop::Json)?
        .checked(min_side)
}

/// Body of `POST /api/v1/avatars/uploads`, as the client sends it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectUploadRequest {
    /// `image/jpeg`, `image/png`, `image/webp`, `image/heic` (or
    /// `image/heif`) or `image/avif`.
    pub content_type: String,
    /// The file's exact size, bytes: 1 to `MAX_UPLOAD_BYTES`.
    pub content_length: u64,
    /// Optional name for metadata (default `avatar.{ext}`).
    #[serde(default)]
    pub file_name: Option<String>,
    /// Optional square to cut the thumbnails from ([`CropJson`]).
    #[serde(default)]
    pub crop: Option<CropJson>,
}

/// A direct upload request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectUpload {
    /// The declared format, whose MIME type the presigned PUT requires.
    pub source: SourceFormat,
    /// The format the avatar is recorded with until its file arrives:
    /// the declared one, or JPEG for HEIC and AVIF (ingest decides, from
    /// the file, between JPEG and WebP: [`SourceFormat::served`]).
    pub format: ImageFormat,
    /// The declared size, bytes: 1 to the limit.
    pub content_length: u64,
    /// The file name for metadata: [`sanitize_file_name`]d, or
    /// `avatar.{ext}` when nothing was left of it.
    pub file_name: String,
    /// The square the thumbnails are cut from, its shape checked; whether
    /// it lies inside the image is checked when the file arrives (outside:
    /// the avatar ends `failed`).
    pub crop: Option<Crop>,
}

/// Why a direct upload request was refused.
#[derive(Debug, thiserror::Error)]
pub enum DirectUploadError {
    /// Not JSON of the expected shape (400 "Invalid request").
    #[error("expected {{\"content_type\", \"content_length\"}}: {0}")]
    Body(#[source] serde_json::Error),
    /// `content_type` names no accepted format (400 "Invalid file format").
    #[error("unsupported content type")]
    Format,
    /// `content_length` is 0 (400 "Invalid request").
    #[error("content_length must be at least 1")]
    Empty,
    /// `crop` is out of range, not square within a pixel, or smaller than
    /// the smallest thumbnail (400 "Invalid crop").
    #[error(transparent)]
    Crop(#[from] InvalidCrop),
    /// `content_length` is over the limit, bytes (413).
    #[error("content_length over {max_size} bytes")]
    TooLarge {
        /// The limit, bytes (`MAX_UPLOAD_BYTES`).
        max_size: u64,
    },
}

impl DirectUpload {
    /// Parses and checks a request body against `max_bytes`
    /// (`MAX_UPLOAD_BYTES`) and, for a crop, `min_side` (the smallest
    /// thumbnail side, pixels).
    ///
    /// # Errors
    /// See [`DirectUploadError`]; the format is checked before the size,
    /// the size before the crop.
    pub fn parse(body: &[u8], max_bytes: u64, min_side: u32) -> Result<Self, DirectUploadError> {
        let request: DirectUploadRequest =
            serde_json::from_slice(body).map_err(DirectUploadError::Body)?;
        let source = SourceFormat::from_mime(request.content_type.trim())
            .filter(|f| SourceFormat::accepted().contains(f))
            .ok_or(DirectUploadError::Format)?;
        if request.content_length > max_bytes {
            return Err(DirectUploadError::TooLarge {
                max_size: max_bytes,
            });
        }
        if request.content_length == 0 {
            return Err(DirectUploadError::Empty);
        }
        let file_name = file_name_or_default(
            &sanitize_file_name(request.file_name.as_deref().unwrap_or_default()),
            source.extension(),
        );
        let crop = request.crop.map(|c| c.checked(min_side)).transpose()?;
        Ok(Self {
            source,
            format: source.served(false),
            content_length: request.content_length,
            file_name,
            crop,
        })
    }
}

/// The last path component of a client file name, without control
/// characters and surrounding white space, at most 255 bytes (UTF-8,
/// never cut inside a character).
pub fn sanitize_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut out = String::new();
    for c in base.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > 255 {
            break;
        }
        out.push(c);
    }
    out.trim().to_owned()
}

/// `name`, or `avatar.{extension}` when it is empty.
pub fn file_name_or_default(name: &str, extension: &str) -> String {
    if name.is_empty() {
        format!("avatar.{extension}")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_sanitised() {
        assert_eq!(sanitize_file_name("C:\\Users\\me\\photo.jpg"), "photo.jpg");
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("a\u{0}b\nc.png"), "abc.png");
        assert_eq!(sanitize_file_name(&"é".repeat(200)).len(), 254);
        assert_eq!(file_name_or_default("", "jpg"), "avatar.jpg");
    }

    #[test]
    fn direct_upload_requests_are_checked_in_order() {
        let ok = DirectUpload::parse(
            br#"{"content_type":" image/png ","content_length":10,"file_name":"a/b.png"}"#,
            10,
            100,
        )
        .unwrap();
        assert_eq!(
            ok,
            DirectUpload {
                source: SourceFormat::Png,
                format: ImageFormat::Png,
                content_length: 10,
                file_name: "b.png".into(),
                crop: None,
            }
        );
        let default_name = DirectUpload::parse(
            br#"{"content_type":"image/webp","content_length":1}"#,
            10,
            100,
        );
        assert_eq!(default_name.unwrap().file_name, "avatar.webp");
        let heic = DirectUpload::parse(
            br#"{"content_type":"image/heif","content_length":1}"#,
            10,
            100,
        )
        .unwrap();
        assert_eq!(
            (heic.source, heic.format, heic.file_name.as_str()),
            (SourceFormat::Heic, ImageFormat::Jpeg, "avatar.heic")
        );
        let avif = DirectUpload::parse(
            br#"{"content_type":"image/avif","content_length":1}"#,
            10,
            100,
        );
        assert_eq!(avif.unwrap().source.mime(), "image/avif");
        for (body, expected) in [
            (&br#"not json"#[..], "Body"),
            (
                br#"{"content_type":"image/png","content_length":1,"x":1}"#,
                "Body",
            ),
            (
                br#"{"content_type":"image/png","content_length":-1}"#,
                "Body",
            ),
            (
                br#"{"content_type":"image/gif","content_length":11}"#,
                "Format",
            ),
            (
                br#"{"content_type":"image/png","content_length":11}"#,
                "TooLarge",
            ),
            (
                br#"{"content_type":"image/png","content_length":0}"#,
                "Empty",
            ),
            (
                br#"{"content_type":"image/png","content_length":1,"crop":{"x":0,"y":0,"width":99,"height":99}}"#,
                "Crop(Shape(TooSmall",
            ),
            (
                br#"{"content_type":"image/png","content_length":1,"crop":{"x":0,"y":0,"width":200,"height":100}}"#,
                "Crop(Shape(NotSquare",
            ),
            (
                br#"{"content_type":"image/png","content_length":1,"crop":{"x":-1,"y":0,"width":100,"height":100}}"#,
                "Body",
            ),
            (
                br#"{"content_type":"image/png","content_length":1,"crop":{"x":2147483648,"y":0,"width":100,"height":100}}"#,
                "Crop(Range",
            ),
        ] {
            let got = format!("{:?}", DirectUpload::parse(body, 10, 100).unwrap_err());
            assert!(got.starts_with(expected), "{got}");
        }
    }

    #[test]
    fn crops_parse_from_json_and_keep_their_shape() {
        let body = br#"{"content_type":"image/jpeg","content_length":5,"crop":{"x":10,"y":20,"width":301,"height":300}}"#;
        let crop = DirectUpload::parse(body, 10, 100).unwrap().crop.unwrap();
        assert_eq!(
            crop,
            Crop {
                x: 10,
                y: 20,
                width: 301,
                height: 300
            }
        );
        assert_eq!(
            parse_crop(r#"{"x":10,"y":20,"width":301,"height":300}"#, 100).unwrap(),
            crop
        );
        assert_eq!(
            serde_json::to_string(&CropJson::from(crop)).unwrap(),
            r#"{"x":10,"y":20,"width":301,"height":300}"#
        );
        assert!(matches!(
            parse_crop("10,20,300", 100),
            Err(InvalidCrop::Json(_))
        ));
        assert!(matches!(
            parse_crop(r#"{"x":0,"y":0,"width":300,"height":300,"z":1}"#, 100),
            Err(InvalidCrop::Json(_))
        ));
        assert!(matches!(
            parse_crop(r#"{"x":0,"y":0,"width":50,"height":50}"#, 100),
            Err(InvalidCrop::Shape(CropError::TooSmall {
                side: 50,
                min_side: 100
            }))
        ));
    }
}
