//! Hot variants (`avatar_shared::cache`): a hot GET and its 304 need
//! neither the database nor storage; a delete in the same process is seen
//! at once; another instance serves a deleted avatar at most
//! `HOT_CACHE_TTL_SECONDS` longer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use avatar_shared::db::Database;
use common::{small_png, TestApp};

/// The get function alone on `state`, on a free port; its base URL.
async fn get_function(state: Arc<avatar_shared::AppState>) -> String {
    let router = avatar_shared::http::service(avatar_get::routes(), state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test]
async fn a_hot_variant_needs_no_database_and_a_delete_is_seen_at_once() {
    let app = TestApp::spawn_with(|c| c.hot_cache_ttl = Duration::from_secs(2)).await;
    let body = app.upload_ok("hana", "a.png", small_png(400, 300)).await;
    let id = body["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "ready", Duration::from_secs(30))
        .await;
    let path = format!("/api/v1/avatars/{id}?size=300x300");
    let first = app.get(&path).await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].clone();
    let bytes = first.bytes().await.unwrap();

    // The same process with a database that does not answer and a bucket
    // that does not exist: the hot variant and its 304 are still served.
    let mut cut_off = (*app.stack.state).clone();
    cut_off.db = Database::connect("postgres://postgres@127.0.0.1:1/none", 1).unwrap();
    cut_off.storage = app.stack.state.storage.bucket_named("no-such-bucket");
    let base = get_function(Arc::new(cut_off)).await;
    let res = app.http.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap(), bytes);
    let res = app
        .http
        .get(format!("{base}{path}"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    // Not hot (another size): the database is needed, and out of reach.
    let res = app
        .http
        .get(format!("{base}/api/v1/avatars/{id}?size=100x100"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);

    // Another instance (its own memory) has it hot too.
    let other = (*app.stack.state).clone();
    let other = Arc::new(avatar_shared::AppState {
        hot: Arc::new(avatar_shared::cache::VariantCache::new(
            1 << 20,
            Duration::from_secs(2),
        )),
        ..other
    });
    let other_base = get_function(other).await;
    assert_eq!(
        app.http
            .get(format!("{other_base}{path}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A delete in this process forgets it here at once...
    assert_eq!(
        app.delete(&format!("/api/v1/avatars/{id}"), Some("hana"))
            .await
            .status(),
        204
    );
    assert_eq!(app.get(&path).await.status(), 404);
    // ...while the other instance serves it until its entry expires.
    assert_eq!(
        app.http
            .get(format!("{other_base}{path}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        app.http
            .get(format!("{other_base}{path}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}
