//! Payloads a function gateway cannot carry (Lambda's 6 MB limits): direct
//! uploads through a presigned PUT (contract, `POST /api/v1/avatars/uploads`)
//! and large images answered with a 307 to a presigned GET.

mod common;

use std::time::Duration;

use common::{corpus, create_direct_upload, send_direct_upload, TestApp};
use serde_json::{json, Value};

const READY: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_direct_upload_is_validated_and_processed_like_a_multipart_one() {
    let app = TestApp::spawn().await;
    let photo = corpus("j17_photo_dragonfly_exif6.jpg");
    let (status, body) = create_direct_upload(
        &app,
        Some("erin"),
        json!({"content_type": "image/jpeg", "content_length": photo.len(), "file_name": "fly.jpg"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let upload = &body["upload"];
    let url = upload["url"].as_str().unwrap();
    assert!(url.contains(&format!("/uploads/erin/{id}?")), "{url}");
    // Only this key, only this type and exact length: all signed.
    let signed = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("X-Amz-SignedHeaders="))
        .unwrap();
    assert!(
        signed.contains("content-length") && signed.contains("content-type"),
        "{signed}"
    );
    assert_eq!(upload["headers"]["content-type"], "image/jpeg");
    assert_eq!(upload["headers"]["content-length"], photo.len().to_string());
    assert!(upload["expires_at"].as_str().unwrap().ends_with('Z'));

    // Nothing is visible before the file has arrived and passed validation.
    assert_eq!(app.metadata(&id).await.status(), 404);
    let list: Value = app
        .get("/api/v1/users/erin/avatars")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);

    assert_eq!(send_direct_upload(&app, upload, photo).await, 200);
    let meta = app.wait_for_status(&id, "ready", READY).await;
    assert_eq!(meta["file_name"], "fly.jpg");
    assert_eq!(meta["mime_type"], "image/jpeg");
    // EXIF orientation 6 applied on ingest, like a multipart upload.
    let fly = common::expected("j17_photo_dragonfly_exif6.jpg");
    assert_eq!(fly.orientation, 6);
    assert_eq!(
        meta["dimensions"],
        json!({"width": fly.width, "height": fly.height})
    );
    assert_eq!(meta["thumbnails"].as_array().unwrap().len(), 3);
    let mut keys = app.keys_of(&id).await;
    keys.sort();
    assert_eq!(
        keys,
        vec![
            format!("originals/erin/{id}"),
            format!("variants/erin/{id}/100x100.jpg"),
            format!("variants/erin/{id}/1200x1200.jpg"),
            format!("variants/erin/{id}/300x300.jpg"),
        ],
        "the incoming object is gone"
    );
    let current = app.get("/api/v1/users/erin/avatar?size=100x100").await;
    assert_eq!(current.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_direct_upload_that_fails_validation_ends_failed_with_its_object_removed() {
    let app = TestApp::spawn().await;
    let junk = b"this is not an image at all".to_vec();
    let (status, body) = create_direct_upload(
        &app,
        Some("frank"),
        json!({"content_type": "image/png", "content_length": junk.len()}),
    )
    .await;
    assert_eq!(status, 201);
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(send_direct_upload(&app, &body["upload"], junk).await, 200);
    let meta = app.wait_for_status(&id, "failed", READY).await;
    assert_eq!(meta["file_name"], "avatar.png");
    // The storage event was handled: the object is gone for good.
    for _ in 0..50 {
        if app.keys_of(&id).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(app.keys_of(&id).await.is_empty());
    assert_eq!(
        app.get(&format!("/api/v1/avatars/{id}")).await.status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn direct_upload_requests_are_checked() {
    let app = TestApp::spawn_with(|c| c.max_upload_bytes = 1000).await;
    let cases = [
        (
            None,
            json!({"content_type": "image/jpeg", "content_length": 10}),
            401,
            "Unauthorized",
        ),
        (
            Some("x y"),
            json!({"content_type": "image/jpeg", "content_length": 10}),
            400,
            "Invalid user id",
        ),
        (
            Some("gina"),
            json!({"content_type": "image/gif", "content_length": 10}),
            400,
            "Invalid file format",
        ),
        (
            Some("gina"),
            json!({"content_type": "image/jpeg", "content_length": 1001}),
            413,
            "File too large",
        ),
        (
            Some("gina"),
            json!({"content_type": "image/jpeg", "content_length": 0}),
            400,
            "Invalid request",
        ),
        (
            Some("gina"),
            json!({"content_type": "image/jpeg"}),
            400,
            "Invalid request",
        ),
        (
            Some("gina"),
            json!({"content_type": "image/jpeg", "content_length": -5}),
            400,
            "Invalid request",
        ),
    ];
    for (user, body, want, error) in cases {
        let (status, got) = create_direct_upload(&app, user, body.clone()).await;
        assert_eq!(status, want, "{body}: {got}");
        assert_eq!(got["error"], error, "{body}");
    }
    let (_, got) = create_direct_upload(
        &app,
        Some("gina"),
        json!({"content_type": "image/jpeg", "content_length": 1001}),
    )
    .await;
    assert_eq!(got["max_size"], 1000);
    app.stop().await;
}

#[tokio::test]
async fn unused_upload_urls_expire_in_the_sweep() {
    let app = TestApp::spawn_with(|c| c.upload_url_ttl = Duration::from_secs(1)).await;
    let (status, body) = create_direct_upload(
        &app,
        Some("hal"),
        json!({"content_type": "image/webp", "content_length": 500}),
    )
    .await;
    assert_eq!(status, 201);
    let id = avatar_domain::AvatarId::parse(body["id"].as_str().unwrap()).unwrap();
    let state = &app.stack.state;
    let report = state.purge().sweep().await.unwrap();
    assert_eq!(report.expired_uploads, 0, "the URL is still valid");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let report = state.purge().sweep().await.unwrap();
    assert_eq!(report.expired_uploads, 1);
    assert!(state.db.avatar(id).await.unwrap().is_none(), "row purged");
    app.stop().await;
}

#[tokio::test]
async fn large_images_redirect_to_a_presigned_url() {
    let app = TestApp::spawn_with(|c| c.redirect_above_bytes = 100_000).await;
    let created = app
        .upload_ok("ivy", "glow.jpg", corpus("j09_photo_eveningglow.jpg"))
        .await;
    let id = created["id"].as_str().unwrap();
    app.wait_for_status(id, "ready", READY).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let res = http
        .get(app.url(&format!("/api/v1/avatars/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 307);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let bytes = app
        .http
        .get(&location)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(bytes.len() > 100_000);
    assert_eq!(&bytes[..3], &[0xff, 0xd8, 0xff]);

    // Small variants are still served directly; 304 needs no redirect.
    let small = http
        .get(app.url(&format!("/api/v1/avatars/{id}?size=100x100")))
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200);
    let meta: Value = app.metadata(id).await.json().await.unwrap();
    let etag_row = app
        .stack
        .state
        .db
        .variant(
            avatar_domain::AvatarId::parse(id).unwrap(),
            avatar_domain::Variant::new(
                avatar_domain::Size::Original,
                avatar_domain::ImageFormat::Jpeg,
            ),
        )
        .await
        .unwrap()
        .unwrap()
        .etag;
    let not_modified = http
        .get(app.url(&format!("/api/v1/avatars/{id}")))
        .header("If-None-Match", format!("\"{etag_row}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304, "{meta}");
    app.stop().await;
}

/// Whether the emulator checks presigned signatures as S3 does: a GET with
/// its signature altered is refused. LocalStack does (with
/// `S3_SKIP_SIGNATURE_VALIDATION=0`, which `STACK=localstack` sets); moto
/// accepts any signature.
async fn storage_checks_signatures(app: &TestApp, url: &str) -> bool {
    let (head, signature) = url.split_once("X-Amz-Signature=").unwrap();
    let altered: String = signature
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let res = app
        .http
        .get(format!("{head}X-Amz-Signature={altered}"))
        .send()
        .await
        .unwrap();
    res.status().as_u16() == 403
}

/// The contract's "type and length are signed, so storage takes nothing
/// else and nothing larger", on storage that checks signatures (AWS, and
/// LocalStack in `make test`'s emulator suite); against moto, which checks
/// none, there is nothing to observe and the test says so.
#[tokio::test]
async fn a_presigned_put_takes_nothing_but_the_signed_type_and_length() {
    let app = TestApp::spawn().await;
    let photo = corpus("j05_photo_bridge.jpg");
    let (status, body) = create_direct_upload(
        &app,
        Some("ivan"),
        json!({"content_type": "image/jpeg", "content_length": photo.len()}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let upload = &body["upload"];
    if !storage_checks_signatures(&app, upload["url"].as_str().unwrap()).await {
        eprintln!("this emulator accepts any signature: nothing to check here");
        app.stop().await;
        return;
    }
    let mut other_type = upload.clone();
    other_type["headers"]["content-type"] = json!("image/png");
    assert_eq!(
        send_direct_upload(&app, &other_type, photo.clone()).await,
        403
    );
    let mut longer = photo.clone();
    longer.extend_from_slice(b"more");
    let mut other_length = upload.clone();
    other_length["headers"]["content-length"] = json!(longer.len().to_string());
    assert_eq!(send_direct_upload(&app, &other_length, longer).await, 403);
    // As signed, it is taken.
    assert_eq!(send_direct_upload(&app, upload, photo).await, 200);
    app.stop().await;
}

/// Phone photos (issue 22 §2): a HEIC by multipart upload and an AVIF with
/// alpha by direct upload become a JPEG and a WebP avatar — what every
/// browser shows at `size=original` — with their thumbnails, and nothing
/// of the HEIF container left in storage.
#[tokio::test]
async fn heic_and_avif_uploads_become_jpeg_and_webp_avatars() {
    let app = TestApp::spawn().await;
    let heic = avatar_pipeline::testing::heif_fixture("heic_p3_icc.heic");
    let (status, body) = {
        let res = app.upload("hana", "IMG_0001.HEIC", heic).await;
        (res.status().as_u16(), res.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 201, "{body}");
    let heic_id = body["id"].as_str().unwrap().to_owned();

    let avif = avatar_pipeline::testing::heif_fixture("avif_alpha.avif");
    let (status, body) = create_direct_upload(
        &app,
        Some("hana"),
        json!({"content_type": "image/avif", "content_length": avif.len()}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["upload"]["headers"]["content-type"], "image/avif");
    let avif_id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(send_direct_upload(&app, &body["upload"], avif).await, 200);

    for (id, name, mime, dims) in [
        (&heic_id, "IMG_0001.HEIC", "image/jpeg", (640, 400)),
        (&avif_id, "avatar.avif", "image/webp", (640, 400)),
    ] {
        let meta = app.wait_for_status(id, "ready", READY).await;
        assert_eq!(meta["file_name"], name);
        assert_eq!(meta["mime_type"], mime, "{meta}");
        assert_eq!(meta["dimensions"]["width"], dims.0);
        assert_eq!(meta["dimensions"]["height"], dims.1);
        let res = app
            .get(&format!("/api/v1/avatars/{id}?size=original"))
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], mime);
        let bytes = res.bytes().await.unwrap();
        assert!(!bytes.windows(4).any(|w| w == b"Exif" || w == b"ftyp"));
        let res = app.get(&format!("/api/v1/avatars/{id}?size=100x100")).await;
        assert_eq!(res.status(), 200);
        let img = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (100, 100));
    }
    // The direct upload's incoming object is gone once ingested.
    assert!(app.keys("uploads/").await.is_empty());
    app.stop().await;
}
