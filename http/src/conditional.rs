//! Conditional requests (RFC 9110 §13): strong ETags on the wire and the
//! `If-None-Match` → `304 Not Modified` answer. The ETag values themselves
//! are computed when a variant is stored ([`avatar_adapters::db::variants::etag_of`]).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The `ETag` header for a stored ETag value: the value in double quotes.
pub fn etag_header(etag: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{etag}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// Whether `If-None-Match` matches `etag` (RFC 9110 §13.1.2: weak
/// comparison, `*` matches any current representation, comma-separated list).
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == etag)
}

/// `304 Not Modified` with the `ETag` and `Cache-Control` a 200 would have
/// carried (RFC 9110 §15.4.5), and no body.
pub fn not_modified(etag: &str, cache_control: HeaderValue) -> Response {
    (
        StatusCode::NOT_MODIFIED,
        [
            (header::ETAG, etag_header(etag)),
            (header::CACHE_CONTROL, cache_control),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms() {
        let mut h = HeaderMap::new();
        assert!(!if_none_match(&h, "abc"));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abc\""));
        assert!(if_none_match(&h, "abc"));
        assert!(!if_none_match(&h, "abd"));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(if_none_match(&h, "abc"));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(if_none_match(&h, "anything"));
    }

    #[test]
    fn not_modified_keeps_the_validators() {
        let r = not_modified("abc", HeaderValue::from_static("no-cache"));
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()[header::ETAG], "\"abc\"");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
    }
}
