//! The static web interface (contract, "Web interface"): `web-static/` is
//! published into the web bucket (`WEB_BUCKET`) by the bootstrap, and the
//! local gateway serves `/web/*` from that bucket, as the HTTP API's
//! bucket proxy (or CloudFront) does in AWS. The path → key mapping is
//! [`avatar_http::routes::WEB_ROUTES`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use avatar_adapters::storage::Storage;
use avatar_adapters::Config;
use avatar_http::routes::WEB_ROUTES;
use avatar_http::{etag_header, if_none_match, route_not_found, ApiError};
use avatar_pipeline::SourceFormat;
use avatar_usecases::AppState;
use axum::extract::{RawPathParams, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

/// The pages' `Content-Security-Policy`: no inline script or style, no
/// third-party origin except storage's (`storage_origin`, see
/// [`Storage::presigned_origin`]) for the upload page's direct upload, a
/// `PUT` to a presigned URL; previews are `blob:` URLs, the API docs'
/// icons `data:` ones.
pub fn content_security_policy(storage_origin: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
         connect-src 'self' {storage_origin}; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'"
    )
}

/// The pages' [`content_security_policy`] header, made once per gateway
/// (`None` if it cannot be a header value).
type PagePolicy = tokio::sync::OnceCell<Option<HeaderValue>>;

/// Where `web-static/` is: `WEB_STATIC_DIR`, else `./web-static`, else the
/// source tree this binary was built from.
pub fn static_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WEB_STATIC_DIR") {
        return dir.into();
    }
    let here = PathBuf::from("web-static");
    if here.is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-static")
}

/// `Content-Type` of a static file, from its extension.
pub fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `config.json`: the server's limits, so the pages check files with the
/// same numbers as the upload function (sizes in bytes, pixels as
/// width × height), the size above which the upload page sends a file
/// straight to storage (`inline_upload_bytes`), and how the pages say who
/// is acting (`auth.mode`:
/// `header` sends `X-User-ID`; `jwt` and `authorizer` a bearer token whose
/// `auth.user_claim` names the user).
pub fn client_config(config: &Config) -> serde_json::Value {
    serde_json::json!({
        "max_upload_bytes": config.max_upload_bytes,
        "inline_upload_bytes": config.inline_upload_bytes,
        "max_pixels": config.max_pixels,
        "mime_types": SourceFormat::accepted().iter().map(|f| f.mime()).collect::<Vec<_>>(),
        "sizes": config.thumbnail_sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "auth": {"mode": config.auth_mode.as_str(), "user_claim": config.jwt.user_claim},
    })
}

/// Uploads every file under `dir` (keys are paths relative to it) and
/// `config.json` (from `config`) into the web bucket `web`, which must
/// exist. Returns the number of objects written.
///
/// # Errors
/// Unreadable files (naming them) or S3 failures.
pub async fn publish(config: &Config, web: &Storage, dir: &Path) -> anyhow::Result<usize> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)
        .with_context(|| format!("web pages in {} (set WEB_STATIC_DIR)", dir.display()))?;
    anyhow::ensure!(!files.is_empty(), "no web pages in {}", dir.display());
    let mut objects: Vec<(String, Bytes, &str)> = Vec::new();
    for file in &files {
        let key = file
            .strip_prefix(dir)?
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let body = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
        objects.push((key, body.into(), content_type(file)));
    }
    objects.push((
        "config.json".into(),
        serde_json::to_vec_pretty(&client_config(config))?.into(),
        "application/json",
    ));
    let count = objects.len();
    for (key, body, content_type) in objects {
        web.put(&key, body, content_type)
            .await
            .with_context(|| format!("publish {key} to {}", web.bucket()))?;
    }
    Ok(count)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The `/web/*` routes of [`avatar_http::routes::WEB_ROUTES`], answered
/// from the web bucket (a `{param}` in the key takes the path's value),
/// plus `/web` and `/web/` → the upload page.
pub fn routes() -> Router<Arc<AppState>> {
    let to_upload = || async { Redirect::permanent("/web/upload") };
    let mut router = Router::new()
        .route("/web", get(to_upload))
        .route("/web/", get(to_upload));
    // The policy names storage's origin, fixed for the gateway's life:
    // made on the first page, then shared by every route.
    let policy = Arc::new(PagePolicy::new());
    for route in WEB_ROUTES {
        let key = route.key;
        let policy = policy.clone();
        router = router.route(
            route.path,
            get(
                move |State(state): State<Arc<AppState>>,
                      params: RawPathParams,
                      headers: HeaderMap| async move {
                    let mut key = key.to_owned();
                    for (name, value) in &params {
                        let placeholder = format!("{{{name}}}");
                        if key.contains(&placeholder) {
                            if !is_asset_name(value) {
                                return route_not_found().await;
                            }
                            key = key.replace(&placeholder, value);
                        }
                    }
                    serve(&state, &key, &headers, &policy).await
                },
            ),
        );
    }
    router
}

/// Whether a path segment can name a published file: `[A-Za-z0-9._-]`,
/// not starting with a dot, at most 100 bytes. Anything else is a 404
/// before storage is asked.
pub fn is_asset_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One object of the web bucket as a page: its `Content-Type` and ETag,
/// 304 on `If-None-Match`, `no-cache` so a new deployment shows at once
/// (revalidation is a 304), and the security headers. In AWS the pages
/// come through the HTTP API's bucket route, which adds none.
async fn serve(state: &AppState, key: &str, headers: &HeaderMap, policy: &PagePolicy) -> Response {
    let object = match state.web.get_object(key).await {
        Ok(Some(object)) => object,
        Ok(None) => return route_not_found().await,
        Err(e) => {
            tracing::error!(error = %e, key, "web page unavailable");
            return ApiError::from(e).into_response();
        }
    };
    let policy = policy
        .get_or_init(|| async {
            let origin = state.storage.presigned_origin().await.unwrap_or_default();
            HeaderValue::from_str(&content_security_policy(&origin)).ok()
        })
        .await;
    let mut response = if !object.etag.is_empty() && if_none_match(headers, &object.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, object.content_type)], object.bytes).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag_header(&object.etag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(policy) = policy {
        h.insert(header::CONTENT_SECURITY_POLICY, policy.clone());
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(
            content_type(Path::new("upload.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("assets/app.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("assets/app.css")),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x")), "application/octet-stream");
    }

    #[test]
    fn asset_names() {
        assert!(is_asset_name("app.css"));
        assert!(is_asset_name("upload.js"));
        for bad in ["", ".env", "a/b", "a b", "x\n", "é.js", &"a".repeat(101)] {
            assert!(!is_asset_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn every_web_route_is_published_from_web_static() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-static");
        for route in avatar_http::routes::WEB_ROUTES {
            if route.key.contains('{') || route.key == "config.json" {
                continue;
            }
            assert!(dir.join(route.key).is_file(), "{} is missing", route.key);
        }
    }
}
