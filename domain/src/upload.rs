//! The direct upload's request (contract, `POST /api/v1/avatars/uploads`):
//! a small JSON body from the client, parsed and checked here before any
//! storage or database call. The HTTP edge maps [`DirectUploadError`] to
//! the contract's status codes (400, 413).

use crate::{ImageFormat, SourceFormat};

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
    /// `content_length` is over the limit, bytes (413).
    #[error("content_length over {max_size} bytes")]
    TooLarge {
        /// The limit, bytes (`MAX_UPLOAD_BYTES`).
        max_size: u64,
    },
}

impl DirectUpload {
    /// Parses and checks a request body against `max_bytes`
    /// (`MAX_UPLOAD_BYTES`).
    ///
    /// # Errors
    /// See [`DirectUploadError`]; the format is checked before the size.
    pub fn parse(body: &[u8], max_bytes: u64) -> Result<Self, DirectUploadError> {
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
        Ok(Self {
            source,
            format: source.served(false),
            content_length: request.content_length,
            file_name,
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
        )
        .unwrap();
        assert_eq!(
            ok,
            DirectUpload {
                source: SourceFormat::Png,
                format: ImageFormat::Png,
                content_length: 10,
                file_name: "b.png".into()
            }
        );
        let default_name =
            DirectUpload::parse(br#"{"content_type":"image/webp","content_length":1}"#, 10);
        assert_eq!(default_name.unwrap().file_name, "avatar.webp");
        let heic = DirectUpload::parse(br#"{"content_type":"image/heif","content_length":1}"#, 10)
            .unwrap();
        assert_eq!(
            (heic.source, heic.format, heic.file_name.as_str()),
            (SourceFormat::Heic, ImageFormat::Jpeg, "avatar.heic")
        );
        let avif = DirectUpload::parse(br#"{"content_type":"image/avif","content_length":1}"#, 10);
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
        ] {
            let got = format!("{:?}", DirectUpload::parse(body, 10).unwrap_err());
            assert!(got.starts_with(expected), "{got}");
        }
    }
}
