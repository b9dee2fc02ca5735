//! The square the user chooses (contract, "Upload" → Crop): sent with either
//! upload route, stored, shown in metadata, and what every thumbnail shows —
//! those the worker renders and those rendered on demand — against the real
//! PostgreSQL, S3 and SQS.

mod common;

use std::time::Duration;

use common::{create_direct_upload, png, send_direct_upload, TestApp};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const READY: Duration = Duration::from_secs(60);
const RED: [u8; 3] = [220, 30, 30];
const GREEN: [u8; 3] = [30, 200, 30];
const BLUE: [u8; 3] = [30, 30, 220];

/// A 900×600 PNG in three vertical stripes, red | green | blue, 300 px
/// each: the centre (a 600 px square from x = 150) is mostly green, the
/// square at x = 600 all blue.
fn stripes() -> Vec<u8> {
    png(&image::RgbImage::from_fn(900, 600, |x, _| {
        image::Rgb(match x / 300 {
            0 => RED,
            1 => GREEN,
            _ => BLUE,
        })
    }))
}

/// Multipart upload with a `crop` field, before or after `file`.
async fn upload(app: &TestApp, user: &str, crop: &str, crop_first: bool) -> (u16, Value) {
    let file = Part::bytes(stripes())
        .file_name("stripes.png")
        .mime_str("image/png")
        .unwrap();
    let form = if crop_first {
        Form::new().text("crop", crop.to_owned()).part("file", file)
    } else {
        Form::new().part("file", file).text("crop", crop.to_owned())
    };
    let res = app
        .http
        .post(app.url("/api/v1/avatars"))
        .header("X-User-ID", user)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// The image of `path`, decoded.
async fn image_at(app: &TestApp, path: &str) -> image::RgbImage {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "{path}");
    image::load_from_memory(&res.bytes().await.unwrap())
        .unwrap()
        .to_rgb8()
}

/// Whether every pixel but a 3 px border (where Lanczos reaches past the
/// square's edge into the next stripe) is close to `colour`.
fn all_close_to(img: &image::RgbImage, colour: [u8; 3]) -> bool {
    let (w, h) = img.dimensions();
    img.enumerate_pixels()
        .filter(|(x, y, _)| (3..w - 3).contains(x) && (3..h - 3).contains(y))
        .all(|(_, _, p)| p.0.iter().zip(colour).all(|(a, b)| a.abs_diff(b) < 24))
}

#[tokio::test]
async fn every_thumbnail_shows_the_chosen_square() {
    let app = TestApp::spawn().await;
    let crop = json!({"x": 600, "y": 150, "width": 300, "height": 300});
    for crop_first in [true, false] {
        let (status, body) = upload(&app, "cora", &crop.to_string(), crop_first).await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let meta = app.wait_for_status(&id, "ready", READY).await;
        assert_eq!(meta["crop"], crop);
        assert_eq!(meta["dimensions"], json!({"width": 900, "height": 600}));
        // The worker's thumbnails: the blue square, and no larger than it.
        let small = image_at(&app, &format!("/api/v1/avatars/{id}?size=100x100")).await;
        assert_eq!(small.dimensions(), (100, 100));
        assert!(all_close_to(&small, BLUE), "{:?}", small.get_pixel(50, 50));
        let large = image_at(&app, &format!("/api/v1/avatars/{id}?size=1200x1200")).await;
        assert_eq!(large.dimensions(), (300, 300));
        assert!(all_close_to(&large, BLUE));
        // Rendered on demand (WebP was never rendered before): the same square.
        let webp = image_at(
            &app,
            &format!("/api/v1/avatars/{id}?size=300x300&format=webp"),
        )
        .await;
        assert!(all_close_to(&webp, BLUE), "{:?}", webp.get_pixel(150, 150));
        // The original is the whole image.
        let original = image_at(&app, &format!("/api/v1/avatars/{id}")).await;
        assert_eq!(original.dimensions(), (900, 600));
    }
    // Without a crop: the centre, mostly green, and `crop` is null.
    let plain = app.upload_ok("cora", "stripes.png", stripes()).await;
    let id = plain["id"].as_str().unwrap();
    let meta = app.wait_for_status(id, "ready", READY).await;
    assert_eq!(meta["crop"], Value::Null);
    let centre = image_at(&app, &format!("/api/v1/avatars/{id}?size=100x100")).await;
    assert!(all_close_to(
        &image::imageops::crop_imm(&centre, 30, 0, 40, 100).to_image(),
        GREEN
    ));
    assert!(all_close_to(
        &image::imageops::crop_imm(&centre, 0, 0, 20, 100).to_image(),
        RED
    ));
    app.stop().await;
}

#[tokio::test]
async fn a_crop_that_is_malformed_or_outside_the_image_is_refused_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    for (crop, details) in [
        (
            json!({"x": 601, "y": 0, "width": 300, "height": 300}).to_string(),
            "the crop 300x300+601+0 is not inside the 900x600 image",
        ),
        (
            json!({"x": 0, "y": 0, "width": 99, "height": 99}).to_string(),
            "below the smallest thumbnail's (100 px)",
        ),
        (
            json!({"x": 0, "y": 0, "width": 300, "height": 200}).to_string(),
            "must be square",
        ),
        (
            "600,0,300".to_owned(),
            "expected {\"x\",\"y\",\"width\",\"height\"}",
        ),
    ] {
        let (status, body) = upload(&app, "dora", &crop, false).await;
        assert_eq!(status, 400, "{crop}: {body}");
        assert_eq!(body["error"], "Invalid crop");
        assert!(
            body["details"].as_str().unwrap().contains(details),
            "{crop}: {body}"
        );
    }
    let list: Value = app
        .get("/api/v1/users/dora/avatars")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]));
    assert!(app.keys("").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_direct_upload_keeps_its_crop_and_fails_when_the_file_is_smaller() {
    let app = TestApp::spawn().await;
    let file = stripes();
    let crop = json!({"x": 0, "y": 300, "width": 300, "height": 300});
    let (status, body) = create_direct_upload(
        &app,
        Some("edda"),
        json!({"content_type": "image/png", "content_length": file.len(), "crop": crop}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        send_direct_upload(&app, &body["upload"], file.clone()).await,
        200
    );
    let meta = app.wait_for_status(&id, "ready", READY).await;
    assert_eq!(meta["crop"], crop);
    let small = image_at(&app, &format!("/api/v1/avatars/{id}?size=100x100")).await;
    assert!(all_close_to(&small, RED), "{:?}", small.get_pixel(50, 50));

    // The shape is checked at once; whether it fits, when the file arrives.
    let (status, body) = create_direct_upload(
        &app,
        Some("edda"),
        json!({"content_type": "image/png", "content_length": 10, "crop": {"x": 0, "y": 0, "width": 50, "height": 50}}),
    )
    .await;
    assert_eq!((status, &body["error"]), (400, &json!("Invalid crop")));
    let (status, body) = create_direct_upload(
        &app,
        Some("edda"),
        json!({"content_type": "image/png", "content_length": file.len(), "crop": {"x": 0, "y": 400, "width": 300, "height": 300}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(send_direct_upload(&app, &body["upload"], file).await, 200);
    app.wait_for_status(&id, "failed", READY).await;
    for _ in 0..50 {
        if app.keys_of(&id).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(app.keys_of(&id).await.is_empty());
    app.stop().await;
}

/// A 900×600 PNG, grey, with a red disc centred at (`cx`, 300).
fn disc_at(cx: i32) -> Vec<u8> {
    png(&image::RgbImage::from_fn(900, 600, |x, y| {
        let (dx, dy) = (x as i32 - cx, y as i32 - 300);
        image::Rgb(if dx * dx + dy * dy < 100 * 100 {
            RED
        } else {
            [128, 128, 128]
        })
    }))
}

#[tokio::test]
async fn with_crop_attention_the_subject_is_kept_and_so_is_the_square_chosen() {
    let app = TestApp::spawn_with(|c| c.crop = avatar_adapters::config::CropMode::Attention).await;
    let off_centre = app.upload_ok("flo", "disc.png", disc_at(780)).await;
    let id = off_centre["id"].as_str().unwrap().to_owned();
    let meta = app.wait_for_status(&id, "ready", READY).await;
    // The square moved right, to the disc, and is kept with the avatar.
    let crop = &meta["crop"];
    assert_eq!(
        (&crop["y"], &crop["width"], &crop["height"]),
        (&json!(0), &json!(600), &json!(600))
    );
    assert!(crop["x"].as_u64().unwrap() >= 250, "{crop}");
    let small = image_at(&app, &format!("/api/v1/avatars/{id}?size=100x100")).await;
    let centre_of_disc =
        small.get_pixel(((780 - crop["x"].as_u64().unwrap() as u32) / 6).min(99), 50);
    assert!(
        centre_of_disc.0[0] > 180 && centre_of_disc.0[1] < 80,
        "{centre_of_disc:?}"
    );
    // An on-demand render cuts the kept square.
    let webp = image_at(
        &app,
        &format!("/api/v1/avatars/{id}?size=300x300&format=webp"),
    )
    .await;
    assert_eq!(webp.dimensions(), (300, 300));
    let again = app.metadata(&id).await.json::<Value>().await.unwrap();
    assert_eq!(again["crop"], meta["crop"]);

    // A picture whose subject is in the middle keeps the centre, and no crop.
    let centred = app.upload_ok("flo", "middle.png", disc_at(450)).await;
    let id = centred["id"].as_str().unwrap().to_owned();
    let meta = app.wait_for_status(&id, "ready", READY).await;
    assert_eq!(meta["crop"], Value::Null);
    // A square chosen by the user is never replaced.
    let (status, body) = upload(
        &app,
        "flo",
        &json!({"x": 0, "y": 0, "width": 300, "height": 300}).to_string(),
        true,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let meta = app
        .wait_for_status(body["id"].as_str().unwrap(), "ready", READY)
        .await;
    assert_eq!(
        meta["crop"],
        json!({"x": 0, "y": 0, "width": 300, "height": 300})
    );
    app.stop().await;
}
