//! Integration tests of the HTTP contract against the real PostgreSQL and
//! S3/SQS emulator (each test on its own stack).

mod common;

use std::time::{Duration, Instant};

use common::{corpus, small_png, TestApp};
use serde_json::Value;

const READY: Duration = Duration::from_secs(60);

async fn json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(
        ct.starts_with("application/json"),
        "{status} {body} has content-type {ct:?}"
    );
    (status, body)
}

#[tokio::test]
async fn upload_renders_thumbnails_and_serves_them_with_caching() {
    let app = TestApp::spawn().await;
    let res = app
        .upload("alice", "glow.jpg", corpus("j09_photo_eveningglow.jpg"))
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/avatars/{id}"));
    assert_eq!(body["url"], location);
    assert_eq!(body["user_id"], "alice");
    assert_eq!(body["status"], "processing");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));

    let meta = app.wait_for_status(&id, "ready", READY).await;
    assert_eq!(meta["file_name"], "glow.jpg");
    assert_eq!(meta["mime_type"], "image/jpeg");
    assert_eq!(meta["dimensions"]["width"], 2560);
    assert_eq!(meta["dimensions"]["height"], 1600);
    let sizes = common::thumbnail_sizes(&meta);
    assert_eq!(sizes, ["100x100", "300x300", "1200x1200"]);

    // Each size, with ETag and Cache-Control, then 304 on If-None-Match.
    for (size, side) in [("100x100", 100), ("300x300", 300), ("1200x1200", 1200)] {
        let res = app.get(&format!("/api/v1/avatars/{id}?size={size}")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        assert_eq!(
            res.headers()["cache-control"],
            "public, max-age=86400, immutable"
        );
        let etag = res.headers()["etag"].to_str().unwrap().to_owned();
        let len: usize = res.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let bytes = res.bytes().await.unwrap();
        assert_eq!(bytes.len(), len);
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (side, side));
        let res = app
            .http
            .get(app.url(&format!("/api/v1/avatars/{id}?size={size}")))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 304);
        assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
        assert!(res.bytes().await.unwrap().is_empty());
    }

    // The current avatar of the user is the same image, not immutable: a
    // short max-age (CURRENT_AVATAR_MAX_AGE_SECONDS), so a change shows.
    let res = app.get("/api/v1/users/alice/avatar?size=100x100").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=10, stale-while-revalidate=10"
    );

    // A format nobody asked for is rendered on demand and stored.
    let before = app.keys_of(&id).await.len();
    let res = app
        .get(&format!("/api/v1/avatars/{id}?size=300x300&format=webp"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/webp");
    let img = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (300, 300));
    assert_eq!(app.keys_of(&id).await.len(), before + 1);

    // Bad query values.
    for q in ["size=64x64", "format=gif", "size=original&format=bmp"] {
        let (status, body) = json(app.get(&format!("/api/v1/avatars/{id}?{q}")).await).await;
        assert_eq!(status, 400, "{q}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_get_never_waits_for_the_worker() {
    // A GET right after the upload races the thumbnail function; whichever
    // renders the variant first, the answer is the right image.
    let app = TestApp::spawn().await;
    let body = app
        .upload_ok("bob", "p.png", corpus("p10_art_arc_transparent.png"))
        .await;
    let id = body["id"].as_str().unwrap();
    let res = app.get(&format!("/api/v1/avatars/{id}?size=300x300")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    let img = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (300, 300));
    assert!(img.color().has_alpha());
    app.wait_for_status(id, "ready", READY).await;
    app.stop().await;
}

#[tokio::test]
async fn bad_inputs_get_contract_errors_and_leave_nothing_behind() {
    let app = TestApp::spawn().await;
    let jpeg = corpus("j09_photo_eveningglow.jpg");
    let mut truncated = jpeg.clone();
    truncated.truncate(jpeg.len() / 2);
    let svg =
        br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("notes.txt", b"just some text, not an image".to_vec(), 400, "Invalid file format"),
        ("anim.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;".to_vec(), 400, "Invalid file format"),
        ("vector.svg", svg.to_vec(), 400, "Invalid file format"),
        ("empty.jpg", Vec::new(), 400, "Invalid file format"),
        ("cut.jpg", truncated, 400, "Invalid image"),
        ("bomb.png", avatar_pipeline::testing::png_bomb(100_000, 100_000), 400, "Image dimensions too large"),
    ];
    for (name, bytes, status, error) in cases {
        let (got, body) = json(app.upload("carol", name, bytes).await).await;
        assert_eq!(
            (got, body["error"].as_str().unwrap()),
            (status, error),
            "{name}: {body}"
        );
        if error == "Invalid file format" {
            assert_eq!(
                body["details"],
                "Supported formats: jpeg, png, webp, heic, avif"
            );
        }
        if error == "Image dimensions too large" {
            assert_eq!(body["max_pixels"], 50_000_000);
        }
    }

    // Over the size limit: 413 with max_size.
    let mut big = jpeg.clone();
    big.resize(10 * 1024 * 1024 + 1, 0);
    let (status, body) = json(app.upload("carol", "big.jpg", big).await).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "File too large");
    assert_eq!(body["max_size"], 10_485_760);

    // Identity.
    let (status, body) = json(app.upload_with(None, "a.jpg", jpeg.clone(), None).await).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        serde_json::json!({"error":"Unauthorized","details":"X-User-ID header is required"})
    );
    for bad in ["has space", "slash/user", &"x".repeat(65)] {
        let (status, body) = json(
            app.upload_with(Some(bad), "a.jpg", jpeg.clone(), None)
                .await,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str().unwrap()),
            (400, "Invalid user id"),
            "{bad}"
        );
    }
    // Not multipart, no file field.
    let (status, _) = json(
        app.http
            .post(app.url("/api/v1/avatars"))
            .header("X-User-ID", "carol")
            .body("raw")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    let form = reqwest::multipart::Form::new().text("other", "x");
    let (status, body) = json(
        app.http
            .post(app.url("/api/v1/avatars"))
            .header("X-User-ID", "carol")
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "Missing file")
    );

    // Nothing was stored, nothing recorded, and the service is healthy.
    assert!(app.keys("").await.is_empty());
    let (_, list) = json(app.get("/api/v1/users/carol/avatars").await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let (status, health) = json(app.get("/health").await).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "healthy");
    app.stop().await;
}

#[tokio::test]
async fn pixel_budget_is_configurable() {
    let app = TestApp::spawn_with(|c| c.max_pixels = 1_000_000).await;
    let (status, body) = json(
        app.upload("dan", "g.jpg", corpus("j09_photo_eveningglow.jpg"))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["max_pixels"], 1_000_000);
    app.stop().await;
}

#[tokio::test]
async fn idempotency_key_replays_the_first_answer() {
    let app = TestApp::spawn().await;
    let png = small_png(40, 30);
    let first = app
        .upload_with(Some("erin"), "a.png", png.clone(), Some("key-1"))
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let second = app
        .upload_with(Some("erin"), "a.png", png.clone(), Some("key-1"))
        .await;
    assert_eq!(second.status(), 201);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    // Another user with the same key gets their own avatar.
    let other: Value = app
        .upload_with(Some("frank"), "a.png", png.clone(), Some("key-1"))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(other["id"], first["id"]);
    let (_, list) = json(app.get("/api/v1/users/erin/avatars").await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, _) = json(
        app.upload_with(Some("erin"), "a.png", png, Some(&"k".repeat(129)))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test]
async fn listing_is_newest_first_with_a_cursor() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = app
            .upload_ok("gina", &format!("{i}.png"), small_png(20 + i, 20))
            .await;
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (status, page1) = json(app.get("/api/v1/users/gina/avatars?limit=2").await).await;
    assert_eq!(status, 200);
    let got: Vec<&str> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = json(
        app.get(&format!(
            "/api/v1/users/gina/avatars?limit=2&cursor={cursor}"
        ))
        .await,
    )
    .await;
    let got: Vec<&str> = page2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[0].as_str()]);
    assert!(page2["next_cursor"].is_null());
    for q in ["limit=0", "limit=101", "limit=x", "cursor=garbage"] {
        let (status, body) = json(app.get(&format!("/api/v1/users/gina/avatars?{q}")).await).await;
        assert_eq!(status, 400, "{q}: {body}");
    }
    let (status, _) = json(app.get("/api/v1/users/bad%20user/avatars").await).await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test]
async fn delete_rules_and_current_avatar_fallback() {
    let app = TestApp::spawn().await;
    let old = app.upload_ok("hank", "old.png", small_png(30, 30)).await;
    let new = app.upload_ok("hank", "new.png", small_png(31, 31)).await;
    let (old_id, new_id) = (old["id"].as_str().unwrap(), new["id"].as_str().unwrap());
    app.wait_for_status(new_id, "ready", READY).await;

    let current = |app: &TestApp| {
        let url = app.url("/api/v1/users/hank/avatar");
        let http = app.http.clone();
        async move {
            let res = http.get(url).send().await.unwrap();
            (res.status().as_u16(), res.bytes().await.unwrap())
        }
    };
    let (_, bytes) = current(&app).await;
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 31);

    let path = format!("/api/v1/avatars/{new_id}");
    let (status, _) = json(app.delete(&path, None).await).await;
    assert_eq!(status, 401);
    let (status, body) = json(app.delete(&path, Some("ivan")).await).await;
    assert_eq!(status, 403);
    assert_eq!(body["details"], "You can only delete your own avatars");
    let (status, _) = json(
        app.delete(
            "/api/v1/avatars/00000000-0000-0000-0000-000000000000",
            Some("hank"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = json(app.delete("/api/v1/avatars/not-a-uuid", Some("hank")).await).await;
    assert_eq!(status, 404);

    let res = app.delete(&path, Some("hank")).await;
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());
    // Gone from every read at once; the previous avatar is current again.
    let (status, body) = json(app.get(&path).await).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "Avatar not found")
    );
    let (status, _) = json(app.metadata(new_id).await).await;
    assert_eq!(status, 404);
    let (_, bytes) = current(&app).await;
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 30);
    let (status, _) = json(app.delete(&path, Some("hank")).await).await;
    assert_eq!(status, 404, "already deleted");
    app.wait_until_purged(new_id, Duration::from_secs(30)).await;

    // The user-scoped form.
    let (status, _) = json(app.delete("/api/v1/users/hank/avatar", Some("ivan")).await).await;
    assert_eq!(status, 403);
    assert_eq!(
        app.delete("/api/v1/users/hank/avatar", Some("hank"))
            .await
            .status(),
        204
    );
    let (status, _) = json(app.delete("/api/v1/users/hank/avatar", Some("hank")).await).await;
    assert_eq!(status, 404);
    let (status, _) = json(app.get("/api/v1/users/hank/avatar").await).await;
    assert_eq!(status, 404);
    app.wait_until_purged(old_id, Duration::from_secs(30)).await;
    assert!(app.keys("").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/nope").await).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "Not found")
    );
    let res = app
        .http
        .put(app.url("/api/v1/avatars"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let allow = res.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("POST"), "{allow}");
    let (_, body) = json(res).await;
    assert_eq!(body["error"], "Method not allowed");
    let res = app
        .http
        .patch(app.url("/api/v1/avatars/x"))
        .send()
        .await
        .unwrap();
    let allow = res.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("DELETE"), "{allow}");
    // Every route of the table is served by the gateway.
    for r in avatar_http::routes::ROUTES {
        let path = r
            .path
            .replace("{avatar_id}", "00000000-0000-0000-0000-000000000000")
            .replace("{user_id}", "someone");
        let method = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
        let res = app
            .http
            .request(method, app.url(&path))
            .header("X-User-ID", "someone")
            .send()
            .await
            .unwrap();
        assert!(
            ![404, 405].contains(&res.status().as_u16())
                || res.headers()["content-type"] == "application/json"
                    && res.text().await.unwrap().contains("Avatar not found"),
            "{} {} not routed",
            r.method,
            r.path
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn health_reports_a_hanging_dependency_within_two_seconds() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/health").await).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["services"],
        serde_json::json!({"database": true, "storage": true, "queue": true})
    );

    // A storage endpoint that accepts connections and never answers, and a
    // database port nobody listens on.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = hang.accept().await {
            held.push(sock);
        }
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut state = (*app.stack.state).clone();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(
            &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
        )
        .endpoint_url(format!("http://{hang_addr}"))
        .force_path_style(true)
        .build(),
    );
    state.storage = avatar_adapters::storage::Storage::new(s3, "any");
    state.db = avatar_adapters::db::Database::connect(
        &format!("postgres://postgres@127.0.0.1:{closed_port}/x"),
        1,
    )
    .unwrap();
    let router = avatar_local::stack::gateway(std::sync::Arc::new(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let started = Instant::now();
    let res = app
        .http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let (status, body) = json(res).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(
        body["services"],
        serde_json::json!({"database": false, "storage": false, "queue": true})
    );
    assert!(elapsed < Duration::from_secs(2), "health took {elapsed:?}");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_uploads_with_one_key_make_one_avatar() {
    // One database connection: the conflict path must not need a second.
    let app = TestApp::spawn_with(|c| c.database_pool_size = 1).await;
    let png = small_png(40, 30);
    let (a, b, c) = tokio::join!(
        app.upload_with(Some("olga"), "a.png", png.clone(), Some("same")),
        app.upload_with(Some("olga"), "a.png", png.clone(), Some("same")),
        app.upload_with(Some("olga"), "a.png", png.clone(), Some("same")),
    );
    let mut ids = Vec::new();
    for res in [a, b, c] {
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let (_, list) = json(app.get("/api/v1/users/olga/avatars").await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Only one original was stored.
    assert_eq!(app.keys("originals/").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn accept_negotiates_webp_thumbnails_and_says_vary() {
    let app = TestApp::spawn().await;
    let body = app.upload_ok("nina", "a.png", small_png(400, 300)).await;
    let id = body["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "ready", Duration::from_secs(30))
        .await;
    let get = |path: String, accept: &'static str| {
        let req = app.http.get(app.url(&path));
        let req = if accept.is_empty() {
            req
        } else {
            req.header("accept", accept)
        };
        req.send()
    };
    let thumb = format!("/api/v1/avatars/{id}?size=300x300");
    let browser = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
    let webp = get(thumb.clone(), browser).await.unwrap();
    assert_eq!(webp.status(), 200);
    assert_eq!(webp.headers()["content-type"], "image/webp");
    assert_eq!(webp.headers()["vary"], "accept");
    let webp_etag = webp.headers()["etag"].clone();
    let webp_bytes = webp.bytes().await.unwrap();
    let img = image::load_from_memory(&webp_bytes).unwrap();
    assert_eq!((img.width(), img.height()), (300, 300));
    for accept in ["*/*", "image/*", ""] {
        let stored = get(thumb.clone(), accept).await.unwrap();
        assert_eq!(stored.headers()["content-type"], "image/png", "{accept:?}");
        assert_eq!(stored.headers()["vary"], "accept", "{accept:?}");
        assert_ne!(
            stored.headers()["etag"],
            webp_etag,
            "a different ETag per format"
        );
    }
    // 304 for the WebP's own ETag, with Vary.
    let res = app
        .http
        .get(app.url(&thumb))
        .header("accept", browser)
        .header("if-none-match", webp_etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["vary"], "accept");
    // An explicit format wins, and does not vary.
    let res = get(format!("{thumb}&format=png"), browser).await.unwrap();
    assert_eq!(res.headers()["content-type"], "image/png");
    assert!(!res.headers().contains_key("vary"));
    // The original is served as stored whatever Accept says.
    let res = get(format!("/api/v1/avatars/{id}"), browser).await.unwrap();
    assert_eq!(res.headers()["content-type"], "image/png");
    assert!(!res.headers().contains_key("vary"));
    // The current-avatar URL negotiates too.
    let res = get("/api/v1/users/nina/avatar?size=100x100".into(), browser)
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "image/webp");
    assert_eq!(res.headers()["vary"], "accept");
    app.stop().await;
}

#[tokio::test]
async fn the_current_avatar_can_redirect_to_the_immutable_url() {
    let app = TestApp::spawn_with(|c| {
        c.current_avatar = avatar_adapters::config::CurrentAvatar::Redirect;
        c.current_avatar_max_age = Duration::from_secs(5);
    })
    .await;
    let first = app.upload_ok("otto", "a.png", small_png(64, 64)).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let current = |query: &'static str| {
        no_redirects
            .get(app.url(&format!("/api/v1/users/otto/avatar{query}")))
            .send()
    };
    let res = current("?size=100x100").await.unwrap();
    assert_eq!(res.status(), 302);
    let id = first["id"].as_str().unwrap();
    assert_eq!(
        res.headers()["location"],
        format!("/api/v1/avatars/{id}?size=100x100")
    );
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=5, stale-while-revalidate=5"
    );
    // A new upload is current at once.
    let second = app.upload_ok("otto", "b.png", small_png(64, 64)).await;
    let res = current("").await.unwrap();
    assert_eq!(
        res.headers()["location"],
        format!("/api/v1/avatars/{}", second["id"].as_str().unwrap())
    );
    // Followed, it is the immutable image.
    let res = app.get("/api/v1/users/otto/avatar?size=100x100").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=86400, immutable"
    );
    app.stop().await;
}
