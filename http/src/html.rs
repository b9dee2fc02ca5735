//! Errors for people: the web form's error page (`POST /web/upload` from a
//! browser), and whether a client asked for HTML at all.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;

impl ApiError {
    /// One sentence for a person, built from the same fields as the JSON
    /// body (the web form's error page; the pages' JavaScript words the
    /// JSON the same way).
    pub fn human_message(&self) -> String {
        let (_, body) = self.parts();
        match self {
            Self::FileTooLarge { max_size } => format!(
                "The file is larger than the limit of {}.",
                human_bytes(*max_size)
            ),
            Self::InvalidFileFormat => format!(
                "This file is not a {} image; choose one of those.",
                avatar_pipeline::SourceFormat::accepted_names()
            ),
            Self::Unauthorized => "Enter your user id before uploading.".into(),
            _ => match body.get("details").and_then(Value::as_str) {
                Some(details) => format!("{}: {details}.", body["error"].as_str().unwrap_or("")),
                None => format!("{}.", body["error"].as_str().unwrap_or("Error")),
            },
        }
    }

    /// The same status as [`IntoResponse`], with a small HTML page carrying
    /// [`ApiError::human_message`] and a link back to the upload page; for
    /// HTML form posts from a browser (`POST /web/upload`).
    pub fn into_html_response(self) -> Response {
        let message = html_escape(&self.human_message());
        let page = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Upload failed</title><link rel=\"stylesheet\" href=\"/web/assets/app.css\"></head>\
             <body><main class=\"page\"><h1>Upload failed</h1>\
             <p class=\"message error\" role=\"alert\">{message}</p>\
             <p><a href=\"/web/upload\">Try again</a></p></main></body></html>\n"
        );
        let mut response = self.into_response();
        *response.body_mut() = axum::body::Body::from(page);
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    }
}

/// `n` bytes as a person says it: `10 MiB`, `512 KiB`, `100 bytes`.
pub fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = KIB * KIB;
    if n >= MIB {
        format!("{} MiB", trim_decimal(n as f64 / MIB as f64))
    } else if n >= KIB {
        format!("{} KiB", trim_decimal(n as f64 / KIB as f64))
    } else {
        format!("{n} bytes")
    }
}

fn trim_decimal(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// Escapes text for an HTML text node or quoted attribute.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether the client prefers an HTML answer: its `Accept` names
/// `text/html` (browsers navigating or posting a form do; API clients and
/// `fetch` default to `*/*`).
pub fn accepts_html(headers: &HeaderMap) -> bool {
    lists_media_type(headers, "text/html")
}

/// Whether `Accept` names `media` itself (not through `*/*` or `type/*`)
/// with a quality above 0 (RFC 9110 §12.5.1): what content negotiation
/// here asks — HTML error pages, WebP thumbnails.
pub fn lists_media_type(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let named = parts.next().unwrap_or_default();
            let quality = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            named.eq_ignore_ascii_case(media) && quality > 0.0
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn html_errors_for_people() {
        let mut h = HeaderMap::new();
        assert!(!accepts_html(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(!accepts_html(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
        );
        assert!(accepts_html(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html;q=0"));
        assert!(!accepts_html(&h));

        assert_eq!(human_bytes(10_485_760), "10 MiB");
        assert_eq!(human_bytes(1_572_864), "1.5 MiB");
        assert_eq!(human_bytes(2048), "2 KiB");
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );

        let e = ApiError::FileTooLarge {
            max_size: 10_485_760,
        };
        assert_eq!(
            e.human_message(),
            "The file is larger than the limit of 10 MiB."
        );
        let e = ApiError::InvalidImage("<script>".into());
        assert_eq!(e.human_message(), "Invalid image: <script>.");
        let r = e.into_html_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
    }
}
