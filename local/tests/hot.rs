//! Hot variants (`avatar_adapters::cache`): a hot GET and its 304 need no
//! storage read; by default every hit asks the database whether the avatar
//! is still visible, so a delete is seen by every instance at once; with
//! `HOT_CACHE_TTL_SECONDS` above 0 a hit needs no database either, and
//! another instance serves a deleted avatar at most that long.

mod common;

use std::sync::Arc;
use std::time::Duration;

use avatar_adapters::db::Database;
use common::{small_png, TestApp};

/// The get function alone on `state`, on a free port; its base URL.
async fn get_function(state: Arc<avatar_usecases::AppState>) -> String {
    let router = avatar_http::service(avatar_get::routes(), state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// Another instance of the get function: `state` with a hot cache of its
/// own whose hits are trusted for `ttl`.
async fn instance(state: &avatar_usecases::AppState, ttl: Duration) -> String {
    let hot = Arc::new(avatar_adapters::cache::VariantCache::new(1 << 20, ttl));
    get_function(Arc::new(avatar_usecases::AppState {
        hot,
        ..state.clone()
    }))
    .await
}

async fn status(app: &TestApp, url: String, etag: Option<&str>) -> u16 {
    let mut req = app.http.get(url);
    if let Some(etag) = etag {
        req = req.header("if-none-match", etag);
    }
    req.send().await.unwrap().status().as_u16()
}

/// A ready avatar of `user` whose 300 px variant was just served (so it is
/// hot in `app`): its id, that variant's path, ETag and bytes.
async fn hot_avatar(app: &TestApp, user: &str) -> (String, String, String, bytes::Bytes) {
    let body = app.upload_ok(user, "a.png", small_png(400, 300)).await;
    let id = body["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "ready", Duration::from_secs(30))
        .await;
    let path = format!("/api/v1/avatars/{id}?size=300x300");
    let first = app.get(&path).await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let bytes = first.bytes().await.unwrap();
    (id, path, etag, bytes)
}

#[tokio::test]
async fn a_hot_variant_needs_no_storage_and_a_delete_is_seen_by_every_instance_at_once() {
    let app = TestApp::spawn().await;
    let (id, path, etag, bytes) = hot_avatar(&app, "hana").await;

    // The same process with a bucket that does not exist: the hot variant
    // and its 304 are still served (the database says it is visible).
    let mut no_storage = (*app.stack.state).clone();
    no_storage.storage = app.stack.state.storage.bucket_named("no-such-bucket");
    let base = get_function(Arc::new(no_storage.clone())).await;
    let res = app.http.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap(), bytes);
    assert_eq!(
        status(&app, format!("{base}{path}"), Some(&etag)).await,
        304
    );
    // Not hot (another size): storage is needed, and out of reach.
    let other_size = format!("{base}/api/v1/avatars/{id}?size=100x100");
    assert!(status(&app, other_size, None).await >= 500);
    // With no database either, a hit cannot be confirmed: 503, never a
    // deleted avatar's bytes.
    let mut cut_off = no_storage;
    cut_off.db = Database::connect("postgres://postgres@127.0.0.1:1/none", 1).unwrap();
    let base = get_function(Arc::new(cut_off)).await;
    assert_eq!(status(&app, format!("{base}{path}"), None).await, 503);

    // Another instance (its own memory) has it hot too; a delete here is
    // seen there at once.
    let other = instance(&app.stack.state, Duration::ZERO).await;
    assert_eq!(status(&app, format!("{other}{path}"), None).await, 200);
    assert_eq!(
        app.delete(&format!("/api/v1/avatars/{id}"), Some("hana"))
            .await
            .status(),
        204
    );
    assert_eq!(app.get(&path).await.status(), 404);
    assert_eq!(status(&app, format!("{other}{path}"), None).await, 404);
    assert_eq!(
        status(&app, format!("{other}{path}"), Some(&etag)).await,
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn with_a_ttl_a_hot_hit_needs_no_database_and_a_delete_is_seen_within_it() {
    let app = TestApp::spawn_with(|c| c.hot_cache_ttl = Duration::from_secs(2)).await;
    let (id, path, etag, _) = hot_avatar(&app, "iris").await;

    // The same process with no database and no bucket: still served.
    let mut cut_off = (*app.stack.state).clone();
    cut_off.db = Database::connect("postgres://postgres@127.0.0.1:1/none", 1).unwrap();
    cut_off.storage = app.stack.state.storage.bucket_named("no-such-bucket");
    let base = get_function(Arc::new(cut_off)).await;
    assert_eq!(status(&app, format!("{base}{path}"), None).await, 200);
    assert_eq!(
        status(&app, format!("{base}{path}"), Some(&etag)).await,
        304
    );
    let other_size = format!("{base}/api/v1/avatars/{id}?size=100x100");
    assert_eq!(status(&app, other_size, None).await, 503);

    // Another instance trusting its hits for 2 s serves a deleted avatar
    // until that has passed; the deleting process forgets it at once.
    let other = instance(&app.stack.state, Duration::from_secs(2)).await;
    assert_eq!(status(&app, format!("{other}{path}"), None).await, 200);
    assert_eq!(
        app.delete(&format!("/api/v1/avatars/{id}"), Some("iris"))
            .await
            .status(),
        204
    );
    assert_eq!(app.get(&path).await.status(), 404);
    assert_eq!(status(&app, format!("{other}{path}"), None).await, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(status(&app, format!("{other}{path}"), None).await, 404);
    app.stop().await;
}
