//! End to end over HTTP: every corpus image uploaded, thumbnails rendered by
//! the real path (S3 ObjectCreated → SQS → thumbnail function), checked for
//! exact dimensions and orientation, cached, then deleted and purged until
//! the bucket holds nothing.

mod common;

use std::time::Duration;

use common::{corpus, corpus_table, TestApp};
use image::RgbImage;
use serde_json::Value;

#[tokio::test]
async fn every_corpus_image_goes_through_the_whole_pipeline() {
    let app = TestApp::spawn().await;
    let table = corpus_table();
    assert!(table.len() >= 13, "corpus.tsv lists {} files", table.len());

    let mut uploaded = Vec::new();
    for e in &table {
        let body = app.upload_ok("e2e-user", &e.name, corpus(&e.name)).await;
        uploaded.push((e, body["id"].as_str().unwrap().to_owned()));
    }
    for (e, id) in &uploaded {
        let meta: Value = app
            .wait_for_status(id, "ready", Duration::from_secs(180))
            .await;
        assert_eq!(meta["dimensions"]["width"], e.width, "{}", e.name);
        assert_eq!(meta["dimensions"]["height"], e.height, "{}", e.name);
        assert_eq!(
            meta["thumbnails"].as_array().unwrap().len(),
            3,
            "{}",
            e.name
        );

        for side in [100u32, 300, 1200] {
            let res = app
                .get(&format!("/api/v1/avatars/{id}?size={side}x{side}"))
                .await;
            assert_eq!(res.status(), 200, "{} {side}", e.name);
            let etag = res.headers()["etag"].to_str().unwrap().to_owned();
            let bytes = res.bytes().await.unwrap();
            let img = image::load_from_memory(&bytes).unwrap();
            let want = side.min(e.width).min(e.height);
            assert_eq!(
                (img.width(), img.height()),
                (want, want),
                "{} {side}",
                e.name
            );
            assert!(
                !bytes.windows(4).any(|w| w == b"Exif"),
                "{} carries EXIF",
                e.name
            );
            let res = app
                .http
                .get(app.url(&format!("/api/v1/avatars/{id}?size={side}x{side}")))
                .header("If-None-Match", etag)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 304, "{} {side}", e.name);
        }

        // The original: upright dimensions, no EXIF left.
        let res = app.get(&format!("/api/v1/avatars/{id}")).await;
        let bytes = res.bytes().await.unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (e.width, e.height),
            "{} original",
            e.name
        );
        assert!(
            !bytes.windows(4).any(|w| w == b"Exif"),
            "{} original carries EXIF",
            e.name
        );

        if e.orientation != 1 {
            // Orientation: the served thumbnail matches the stored pixels
            // rotated as the tag says, and not the unrotated ones.
            let raw = image::load_from_memory(&corpus(&e.name)).unwrap().to_rgb8();
            let rotated = match e.orientation {
                6 => image::imageops::rotate90(&raw),
                8 => image::imageops::rotate270(&raw),
                o => panic!("no reference for orientation {o}"),
            };
            let fill = |img: RgbImage| {
                image::DynamicImage::ImageRgb8(img)
                    .resize_to_fill(100, 100, image::imageops::FilterType::Triangle)
                    .to_rgb8()
            };
            let served = app.get(&format!("/api/v1/avatars/{id}?size=100x100")).await;
            let served = image::load_from_memory(&served.bytes().await.unwrap())
                .unwrap()
                .to_rgb8();
            let good = avatar_pipeline::testing::mean_abs_diff(&served, &fill(rotated));
            let bad = avatar_pipeline::testing::mean_abs_diff(&served, &fill(raw));
            assert!(
                good < 20.0 && good * 3.0 < bad,
                "{}: rotated {good}, unrotated {bad}",
                e.name
            );
        }
    }

    // Delete every avatar; purge must leave the bucket empty.
    assert!(!app.keys("").await.is_empty());
    for (_, id) in &uploaded {
        let res = app
            .delete(&format!("/api/v1/avatars/{id}"), Some("e2e-user"))
            .await;
        assert_eq!(res.status(), 204);
    }
    for (_, id) in &uploaded {
        app.wait_until_purged(id, Duration::from_secs(60)).await;
    }
    assert_eq!(app.keys("").await, Vec::<String>::new());
    let res = app.get("/api/v1/users/e2e-user/avatar").await;
    assert_eq!(res.status(), 404);
    app.stop().await;
}
