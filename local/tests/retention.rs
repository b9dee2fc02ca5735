//! Old avatars do not pile up (`KEEP_AVATARS_PER_USER`), a changed
//! `THUMBNAIL_SIZES` is filled in for every ready avatar by a backfill, and
//! `backfill --rerender-before` replaces variants an older pipeline made.

mod common;

use std::time::Duration;

use avatar_domain::{AvatarId, Size, Status, UserId};
use common::{small_png, TestApp};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

async fn upload_ready(app: &TestApp, user: &str, side: u32) -> String {
    let body = app
        .upload_ok(user, "a.png", small_png(side, side * 3 / 4))
        .await;
    let id = body["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "ready", WAIT).await;
    id
}

async fn listed(app: &TestApp, user: &str) -> Vec<String> {
    let res = app.get(&format!("/api/v1/users/{user}/avatars")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs a backfill at 50 events a second: `(enqueued, complete)`.
async fn backfill(
    app: &TestApp,
    limit: Option<usize>,
    rerender_before: Option<chrono::DateTime<chrono::Utc>>,
) -> (usize, bool) {
    let plan = avatar_usecases::backfill::BackfillPlan {
        per_second: 50,
        limit,
        rerender_before,
    };
    let report = app.stack.state.backfill().run(plan).await.unwrap();
    (report.enqueued, report.complete)
}

#[tokio::test]
async fn beyond_keep_the_oldest_are_deleted_and_purged_but_never_the_current_one() {
    let app = TestApp::spawn_with(|c| c.keep_avatars_per_user = 2).await;
    let mut ids = Vec::new();
    for side in [200, 210, 220, 230] {
        ids.push(upload_ready(&app, "kim", side).await);
    }
    // Each ready avatar prunes the user's oldest beyond the newest two.
    let newest_first: Vec<String> = ids.iter().rev().take(2).cloned().collect();
    assert_eq!(listed(&app, "kim").await, newest_first);
    for old in &ids[..2] {
        assert_eq!(app.metadata(old).await.status(), 404);
        app.wait_until_purged(old, WAIT).await;
    }
    for kept in &ids[2..] {
        assert!(
            !app.keys_of(kept).await.is_empty(),
            "kept avatars keep their objects"
        );
    }
    // Another user's avatars are not counted.
    let other = upload_ready(&app, "lee", 200).await;
    assert_eq!(listed(&app, "lee").await, vec![other]);

    // The current avatar stays even when newer uploads (here: a failed
    // one) push it past the limit.
    let state = &app.stack.state;
    let current = AvatarId::parse(&ids[3]).unwrap();
    let kim = UserId::parse("kim").unwrap();
    let newer = upload_ready(&app, "kim", 240).await;
    assert_eq!(
        listed(&app, "kim").await,
        vec![newer.clone(), ids[3].clone()]
    );
    let newer = AvatarId::parse(&newer).unwrap();
    assert!(state
        .db
        .set_status(newer, &[Status::Ready], Status::Failed)
        .await
        .unwrap());
    assert_eq!(
        state.deletion().prune_beyond_keep(&kim, 1).await.unwrap(),
        0,
        "the newest is failed, the one beyond the limit is current"
    );
    assert_eq!(
        state.db.current_avatar(&kim).await.unwrap().unwrap().id,
        current
    );
    // 0 keeps everything.
    assert_eq!(
        state.deletion().prune_beyond_keep(&kim, 0).await.unwrap(),
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_backfill_renders_a_new_size_for_every_ready_avatar() {
    let app = TestApp::spawn().await;
    let a = upload_ready(&app, "mia", 400).await;
    let b = upload_ready(&app, "noa", 500).await;
    let failed = app.upload_ok("noa", "b.png", small_png(300, 200)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&failed, "ready", WAIT).await;
    let failed_id = AvatarId::parse(&failed).unwrap();
    app.stack
        .state
        .db
        .set_status(failed_id, &[Status::Ready], Status::Failed)
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/avatars/{a}?size=64x64"))
            .await
            .status(),
        400
    );
    // An avatar made before placeholders existed has none.
    let b_id = AvatarId::parse(&b).unwrap();
    let client = tokio_postgres::connect(&app.config.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(client.1);
    let updated = client
        .0
        .execute(
            "UPDATE avatars SET thumbhash = NULL WHERE id = $1",
            &[&b_id],
        )
        .await
        .unwrap();
    assert_eq!(updated, 1);

    // Restarted with a fourth size on the same database, bucket and queues.
    let mut config = app.config.clone();
    app.stop().await;
    config.thumbnail_sizes = vec![
        Size::Square(64),
        Size::THUMB_100,
        Size::THUMB_300,
        Size::THUMB_1200,
    ];
    let app = TestApp::start(config).await;
    assert_eq!(backfill(&app, Some(1), None).await, (1, false));
    let (enqueued, complete) = backfill(&app, None, None).await;
    // The two ready avatars (one may be rendered already after the
    // limited run), never the failed one.
    assert!(
        complete && (1..=2).contains(&enqueued),
        "{enqueued} {complete}"
    );
    for id in [&a, &b] {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let meta: Value = app.metadata(id).await.json().await.unwrap();
            let sizes = common::thumbnail_sizes(&meta);
            if sizes == ["64x64", "100x100", "300x300", "1200x1200"]
                && meta["thumbhash"].is_string()
            {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{id}: {meta}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let res = app.get(&format!("/api/v1/avatars/{id}?size=64x64")).await;
        assert_eq!(res.status(), 200);
        let image = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
        assert_eq!((image.width(), image.height()), (64, 64));
    }
    // Done: another backfill finds nothing.
    assert_eq!(backfill(&app, None, None).await, (0, true));
    app.stop().await;
}

/// `(size, format, etag, created_at)` of every variant row of `id`.
async fn variant_rows(
    db: &tokio_postgres::Client,
    id: AvatarId,
) -> Vec<(String, String, String, chrono::DateTime<chrono::Utc>)> {
    db.query(
        "SELECT size, format, etag, created_at FROM avatar_variants \
         WHERE avatar_id = $1 ORDER BY size, format",
        &[&id],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

#[tokio::test]
async fn a_rerender_backfill_replaces_the_variants_an_older_pipeline_made() {
    let app = TestApp::spawn().await;
    let old = upload_ready(&app, "mia", 400).await;
    let old_id = AvatarId::parse(&old).unwrap();
    // An on-demand variant is re-rendered too.
    let res = app
        .get(&format!("/api/v1/avatars/{old}?size=300x300&format=webp"))
        .await;
    assert_eq!(res.status(), 200);
    let (db, connection) = tokio_postgres::connect(&app.config.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // What an older pipeline made: other pixels under the 100 px key, and
    // every rendered variant a day old.
    let key: String = db
        .query_one(
            "SELECT s3_key FROM avatar_variants \
             WHERE avatar_id = $1 AND size = '100x100' AND format = 'png'",
            &[&old_id],
        )
        .await
        .unwrap()
        .get(0);
    let stale = small_png(100, 100);
    let stale_etag = avatar_adapters::db::variants::etag_of(&stale);
    app.stack
        .state
        .storage
        .put(&key, stale.clone().into(), "image/png")
        .await
        .unwrap();
    let aged = db
        .execute(
            "UPDATE avatar_variants SET etag = $2, size_bytes = $3, \
               created_at = created_at - interval '1 day' \
             WHERE avatar_id = $1 AND size = '100x100' AND format = 'png'",
            &[&old_id, &stale_etag, &(stale.len() as i64)],
        )
        .await
        .unwrap();
    assert_eq!(aged, 1);
    db.execute(
        "UPDATE avatar_variants SET created_at = created_at - interval '1 day' \
         WHERE avatar_id = $1 AND size <> 'original'",
        &[&old_id],
    )
    .await
    .unwrap();
    let thumb = format!("/api/v1/avatars/{old}?size=100x100");
    let res = app.get(&thumb).await;
    assert_eq!(res.headers()["etag"], format!("\"{stale_etag}\"").as_str());
    assert_eq!(
        res.bytes().await.unwrap(),
        stale,
        "the stale bytes, now hot"
    );
    let before = variant_rows(&db, old_id).await;
    // The original, the three thumbnails, and the on-demand 300 px WebP.
    assert_eq!(before.len(), 5, "{before:?}");
    // An avatar the new pipeline made is not touched.
    let fresh = AvatarId::parse(&upload_ready(&app, "noa", 400).await).unwrap();
    let fresh_rows = variant_rows(&db, fresh).await;

    let before_deploy = Some(chrono::Utc::now() - chrono::Duration::hours(1));
    assert_eq!(backfill(&app, None, before_deploy).await, (1, true));
    let newest_before = before.iter().map(|row| row.3).max().unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let after = loop {
        let rows = variant_rows(&db, old_id).await;
        let renewed = rows
            .iter()
            .filter(|(size, ..)| size != "original")
            .all(|row| row.3 > newest_before);
        if renewed {
            break rows;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(after.len(), 5, "{after:?}");
    for (old_row, new_row) in before.iter().zip(&after) {
        assert_eq!((&old_row.0, &old_row.1), (&new_row.0, &new_row.1));
        if old_row.0 == "original" {
            assert_eq!(old_row, new_row, "the stored original is never rewritten");
        }
    }
    let res = app.get(&thumb).await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(etag, format!("\"{stale_etag}\""));
    let image = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!((image.width(), image.height()), (100, 100));
    assert_ne!(
        image.to_rgb8(),
        image::load_from_memory(&stale).unwrap().to_rgb8()
    );
    let res = app
        .get(&format!("/api/v1/avatars/{old}?size=300x300&format=webp"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(variant_rows(&db, fresh).await, fresh_rows);
    // Done: another run finds nothing.
    assert_eq!(backfill(&app, None, before_deploy).await, (0, true));
    app.stop().await;
}

#[tokio::test]
async fn a_render_that_outlives_the_purge_leaves_no_object() {
    let app = TestApp::spawn().await;
    let id = upload_ready(&app, "ola", 300).await;
    let avatar_id = AvatarId::parse(&id).unwrap();
    let state = &app.stack.state;
    let row = state.db.avatar(avatar_id).await.unwrap().unwrap();
    // The purge removed the row while a render (holding the row it read
    // before) was still working: its objects are stored after the purge
    // listed the avatar's prefixes.
    let ola = UserId::parse("ola").unwrap();
    assert!(state
        .db
        .soft_delete(avatar_id, &ola)
        .await
        .unwrap()
        .is_some());
    assert!(state.db.hard_delete(avatar_id).await.unwrap());
    let variants = [
        avatar_domain::Variant::new(Size::Square(64), avatar_domain::ImageFormat::Webp),
        avatar_domain::Variant::new(Size::Square(80), avatar_domain::ImageFormat::Webp),
    ];
    let result = avatar_usecases::renditions::render_and_store(
        state.renderer(),
        &row,
        &variants,
        avatar_telemetry::metrics::RenderTrigger::OnDemand,
    )
    .await;
    assert!(
        matches!(
            result,
            Err(avatar_usecases::renditions::RenderError::Deleted)
        ),
        "{result:?}"
    );
    let left = app.keys_of(&id).await;
    assert!(
        !left.iter().any(|k| k.ends_with(".webp")),
        "what the render stored is removed again: {left:?}"
    );
    app.stop().await;
}
