//! The web interface over HTTP (contract, "Web interface"): pages served
//! from the web bucket the bootstrap filled, and the no-JavaScript form
//! `POST /web/upload`. What a browser does with them is in `web-tests/`.

mod common;

use common::{corpus, TestApp};
use reqwest::multipart::{Form, Part};
use reqwest::redirect::Policy;
use serde_json::Value;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// A multipart form: text `fields`, then the file (when given), then the
/// text fields `after` it.
fn form(fields: &[(&str, &str)], file: Option<(&str, Vec<u8>)>, after: &[(&str, &str)]) -> Form {
    let text = |form: Form, fields: &[(&str, &str)]| {
        fields
            .iter()
            .fold(form, |f, (k, v)| f.text(k.to_string(), v.to_string()))
    };
    let mut form = text(Form::new(), fields);
    if let Some((name, bytes)) = file {
        form = form.part("file", Part::bytes(bytes).file_name(name.to_owned()));
    }
    text(form, after)
}

#[tokio::test]
async fn pages_come_from_the_web_bucket_with_strict_headers() {
    let app = TestApp::spawn_with(|c| c.max_upload_bytes = 5 * 1024 * 1024).await;
    for (path, marker) in [
        ("/web/upload", "<form id=\"upload-form\""),
        ("/web/gallery/alice", "id=\"grid\""),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-cache");
        let etag = h["etag"].to_str().unwrap().to_owned();
        let body = res.text().await.unwrap();
        assert!(body.contains(marker), "{path} is the right page");

        let again = app
            .http
            .get(app.url(path))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} revalidates");
    }

    let res = app.get("/web/assets/upload.js").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let res = app.get("/web/assets/app.css").await;
    assert_eq!(res.headers()["content-type"], "text/css; charset=utf-8");

    // The pages check files with the server's own limits.
    let config: Value = app.get("/web/config.json").await.json().await.unwrap();
    assert_eq!(config["max_upload_bytes"], 5 * 1024 * 1024);
    assert_eq!(config["max_pixels"], 50_000_000);

    let res = app.get("/web/assets/missing.js").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/json");

    let res = no_redirects().get(app.url("/web")).send().await.unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/web/upload");
    app.stop().await;
}

#[tokio::test]
async fn the_html_form_uploads_and_answers_303_to_the_gallery() {
    let app = TestApp::spawn().await;
    let http = no_redirects();
    let photo = corpus("j09_photo_eveningglow.jpg");

    // The page sends user_id first; the handler also reads on past the file.
    let carol: &[(&str, &str)] = &[("user_id", "carol")];
    for (before, after) in [(carol, &[][..]), (&[][..], carol)] {
        let res = http
            .post(app.url("/web/upload"))
            .multipart(form(before, Some(("glow.jpg", photo.clone())), after))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/web/gallery/carol");
    }
    let list: Value = app
        .get("/api/v1/users/carol/avatars")
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["file_name"] == "glow.jpg"));
    app.stop().await;
}

#[tokio::test]
async fn form_errors_are_json_for_programs_and_html_for_people() {
    let app = TestApp::spawn_with(|c| c.max_upload_bytes = 1000).await;
    let http = no_redirects();
    let post = |fields: &'static [(&'static str, &'static str)],
                file: Option<(&'static str, Vec<u8>)>,
                accept: &'static str| {
        http.post(app.url("/web/upload"))
            .header("Accept", accept)
            .multipart(form(fields, file, &[]))
            .send()
    };

    // No user id field: 400 naming the field.
    let res = post(&[], Some(("a.png", b"x".to_vec())), "*/*")
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "Invalid user id");
    assert!(body["details"].as_str().unwrap().contains("user_id"));

    // A malformed user id.
    let res = post(
        &[("user_id", "no spaces")],
        Some(("a.png", b"x".to_vec())),
        "*/*",
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);

    // Not an image: the contract's JSON, or a page in words.
    let res = post(
        &[("user_id", "dave")],
        Some(("a.jpg", b"hello".to_vec())),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "Invalid file format");
    let res = post(
        &[("user_id", "dave")],
        Some(("a.jpg", b"<script>".to_vec())),
        "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let page = res.text().await.unwrap();
    assert!(
        page.contains("not a JPEG, PNG, WebP, HEIC or AVIF image"),
        "{page}"
    );
    assert!(page.contains("href=\"/web/upload\""));

    // Over the (small) limit: 413 kept, the limit in words.
    let res = post(
        &[("user_id", "dave")],
        Some(("big.jpg", vec![0xff; 2000])),
        "text/html",
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 413);
    assert!(res.text().await.unwrap().contains("1000 bytes"));

    // Nothing was stored by any of them.
    assert!(app.keys("").await.is_empty());
    let list: Value = app
        .get("/api/v1/users/dave/avatars")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    app.stop().await;
}

/// `avatar-local publish --bucket B` (the README's AWS step): the pages and
/// a `config.json` made from the environment it runs in, into B.
#[tokio::test]
async fn publish_writes_the_pages_and_this_environments_config_into_a_bucket() {
    let app = TestApp::spawn().await;
    let web = &app.stack.state.web;
    web.delete_keys(&["config.json".to_owned(), "upload.html".to_owned()])
        .await
        .unwrap();
    let out = std::process::Command::new(common::binary("avatar-local"))
        .args(["publish", "--bucket", web.bucket()])
        .env("WEB_BUCKET", "not-this-one")
        .env("THUMBNAIL_SIZES", "64,100")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The report is the last line (log lines go to stdout too, as JSON).
    let stdout = String::from_utf8(out.stdout).unwrap();
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["bucket"], web.bucket());
    let listed = web.list("").await.unwrap();
    assert_eq!(report["objects"], listed.len(), "{listed:?}");
    assert!(listed.iter().any(|o| o.key == "upload.html"));
    let config: Value =
        serde_json::from_slice(&web.get("config.json").await.unwrap().unwrap()).unwrap();
    assert_eq!(config["sizes"], serde_json::json!(["64x64", "100x100"]));
    // Served by the gateway as the page's configuration.
    let res = app.get("/web/config.json").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["sizes"][0], "64x64");
    app.stop().await;
}
