//! The queue-driven functions against the real emulator: redelivery, test
//! events, poison messages and the dead-letter queue, retries exhausted,
//! and the purge sweep.

mod common;

use std::time::{Duration, Instant};

use std::sync::Arc;

use avatar_adapters::db::{Inserted, NewAvatar, VariantRow};
use avatar_domain::keys::ObjectKey;
use avatar_domain::{AvatarId, ImageFormat, Size, Status, UserId, Variant};
use avatar_runtime::events::Outcome;
use avatar_usecases::AppState;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use common::{small_png, TestApp};

/// The thumbnail function's partial batch response for `event`.
async fn thumbnails(state: Arc<AppState>, event: SqsEvent) -> SqsBatchResponse {
    match avatar_thumbnail::handle(state, event).await.unwrap() {
        Outcome::Batch(response) => response,
        Outcome::Done(()) => panic!("an SQS event answers a partial batch response"),
    }
}

fn s3_event(bucket: &str, key: &str) -> String {
    // Keys in S3 events are form-encoded: '/' as %2F, ' ' as '+', '@' as %40.
    let encoded: String = key.replace('/', "%2F").replace('@', "%40");
    serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": encoded, "size": 1}}
    }]})
    .to_string()
}

fn batch(bodies: &[(&str, String, u32)]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .map(|(id, body, count)| {
            let mut m = SqsMessage::default();
            m.message_id = Some((*id).into());
            m.body = Some(body.clone());
            m.attributes
                .insert("ApproximateReceiveCount".into(), count.to_string());
            m
        })
        .collect();
    event
}

async fn variant_etags(app: &TestApp, id: AvatarId) -> Vec<(String, String)> {
    let mut v: Vec<_> = app
        .stack
        .state
        .db
        .variants(&[id])
        .await
        .unwrap()
        .remove(&id)
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.variant.size.to_string(), r.etag))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn redelivery_and_test_events_are_harmless() {
    let app = TestApp::spawn().await;
    let body = app
        .upload_ok("user@example.com", "a.png", small_png(500, 400))
        .await;
    let id = AvatarId::parse(body["id"].as_str().unwrap()).unwrap();
    app.wait_for_status(&id.to_string(), "ready", Duration::from_secs(30))
        .await;
    let before = variant_etags(&app, id).await;
    assert_eq!(before.len(), 4, "original + three thumbnails: {before:?}");
    let objects = app.keys("").await;

    let key = ObjectKey::Original {
        user_id: UserId::parse("user@example.com").unwrap(),
        avatar_id: id,
    }
    .render();
    let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-21T10:00:00Z","Bucket":"b","RequestId":"r","HostId":"h"}"#;
    for _ in 0..2 {
        let response = thumbnails(
            app.stack.state.clone(),
            batch(&[
                ("m1", s3_event(&app.config.bucket, &key), 1),
                ("m2", test_event.into(), 1),
            ]),
        )
        .await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{:?}",
            response.batch_item_failures
        );
    }
    assert_eq!(variant_etags(&app, id).await, before);
    assert_eq!(app.keys("").await, objects);
    let meta: serde_json::Value = app.metadata(&id.to_string()).await.json().await.unwrap();
    assert_eq!(meta["status"], "ready");
    app.stop().await;
}

#[tokio::test]
async fn poison_messages_end_in_the_dead_letter_queue() {
    let app = TestApp::spawn().await;
    app.stack
        .state
        .upload_queue
        .send_json(&"this is not an S3 event")
        .await
        .unwrap();
    // Only the failing message comes back from a mixed batch.
    let response = thumbnails(
        app.stack.state.clone(),
        batch(&[
            ("bad", "garbage".into(), 1),
            ("ok", r#"{"Records":[]}"#.into(), 1),
        ]),
    )
    .await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["bad"]);

    // max_receive_count = 2, visibility timeout 1 s: the DLQ gets it.
    let started = Instant::now();
    while app.upload_dlq_depth().await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "message never reached the DLQ"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(app.get("/health").await.status().is_success());
    app.stop().await;
}

/// Records an avatar whose stored original is `bytes`, as an upload would,
/// without the upload's validation (what a bad object in storage looks like).
async fn plant(app: &TestApp, user: &str, bytes: Vec<u8>) -> AvatarId {
    let state = &app.stack.state;
    let id = AvatarId::new();
    let user_id = UserId::parse(user).unwrap();
    let key = ObjectKey::Original {
        user_id: user_id.clone(),
        avatar_id: id,
    }
    .render();
    let new = NewAvatar {
        id,
        user_id,
        file_name: "planted.jpg".into(),
        idempotency_key: None,
        original: VariantRow::for_bytes(
            Variant::new(Size::Original, ImageFormat::Jpeg),
            key.clone(),
            &bytes,
            (10, 10),
        ),
        crop: None,
    };
    assert!(matches!(
        state.db.insert_avatar(&new).await.unwrap(),
        Inserted::Created(_)
    ));
    state
        .storage
        .put(&key, bytes.into(), "image/jpeg")
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn an_original_that_does_not_decode_marks_the_avatar_failed() {
    let app = TestApp::spawn().await;
    let id = plant(
        &app,
        "jill",
        b"\xFF\xD8\xFF\xE0 definitely not a jpeg".to_vec(),
    )
    .await;
    let meta = app
        .wait_for_status(&id.to_string(), "failed", Duration::from_secs(30))
        .await;
    assert!(meta["thumbnails"].as_array().unwrap().is_empty());
    // Failed avatars are not served and never current.
    assert_eq!(
        app.get(&format!("/api/v1/avatars/{id}")).await.status(),
        404
    );
    assert_eq!(app.get("/api/v1/users/jill/avatar").await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn the_last_failed_delivery_marks_the_avatar_failed() {
    let app = TestApp::spawn().await;
    let id = plant(&app, "kim", small_png(10, 10)).await;
    // Let the real pipeline finish first, then reset to processing and make
    // storage fail (a bucket that does not exist): a retryable failure.
    app.wait_for_status(&id.to_string(), "ready", Duration::from_secs(30))
        .await;
    let state = &app.stack.state;
    assert!(state
        .db
        .set_status(id, &[Status::Ready], Status::Processing)
        .await
        .unwrap());
    let mut broken = (**state).clone();
    broken.storage = state.storage.bucket_named("no-such-bucket");
    let broken = Arc::new(broken);
    let key = ObjectKey::Original {
        user_id: UserId::parse("kim").unwrap(),
        avatar_id: id,
    }
    .render();
    // Drop one variant row so there is work to do.
    delete_variant_row(&app, id).await;

    let first = thumbnails(
        broken.clone(),
        batch(&[("m", s3_event(&app.config.bucket, &key), 1)]),
    )
    .await;
    assert_eq!(first.batch_item_failures.len(), 1);
    assert_eq!(
        state.db.avatar(id).await.unwrap().unwrap().status,
        Status::Processing,
        "retried, not failed yet"
    );
    let last = thumbnails(
        broken,
        batch(&[("m", s3_event(&app.config.bucket, &key), 2)]),
    )
    .await;
    assert_eq!(
        last.batch_item_failures.len(),
        1,
        "still reported, so SQS moves it to the DLQ"
    );
    assert_eq!(
        state.db.avatar(id).await.unwrap().unwrap().status,
        Status::Failed
    );
    app.stop().await;
}

/// Removes the 300x300 variant row so the thumbnail function has work.
async fn delete_variant_row(app: &TestApp, id: AvatarId) {
    let (client, conn) = tokio_postgres::connect(&app.config.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .execute(
            "DELETE FROM avatar_variants WHERE avatar_id = $1 AND size = '300x300'",
            &[&id.0],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn sweep_purges_lost_deletes_and_orphans_but_never_live_avatars() {
    let app = TestApp::spawn().await;
    let state = &app.stack.state;
    let live = app.upload_ok("lee", "live.png", small_png(50, 50)).await;
    let live_id = live["id"].as_str().unwrap().to_owned();
    let lost = app.upload_ok("lee", "lost.png", small_png(60, 60)).await;
    let lost_id = AvatarId::parse(lost["id"].as_str().unwrap()).unwrap();
    app.wait_for_status(&live_id, "ready", Duration::from_secs(30))
        .await;
    app.wait_for_status(&lost_id.to_string(), "ready", Duration::from_secs(30))
        .await;

    // A soft delete whose AvatarDeleteEvent never went out.
    state
        .db
        .soft_delete(lost_id, &UserId::parse("lee").unwrap())
        .await
        .unwrap()
        .unwrap();
    // An object nobody recorded.
    let orphan = ObjectKey::Original {
        user_id: UserId::parse("ghost").unwrap(),
        avatar_id: AvatarId::new(),
    }
    .render();
    state
        .storage
        .put(&orphan, small_png(5, 5).into(), "image/png")
        .await
        .unwrap();
    // A foreign object outside the layout is not ours to touch.
    state
        .storage
        .put("other/readme.txt", "hi".into(), "text/plain")
        .await
        .unwrap();

    // A purge event for a live avatar is refused.
    let live_avatar = AvatarId::parse(&live_id).unwrap();
    assert!(!state
        .purge()
        .purge_avatar(live_avatar, &UserId::parse("lee").unwrap())
        .await
        .unwrap());

    let report = state.purge().sweep().await.unwrap();
    assert_eq!(
        report,
        avatar_usecases::purge::SweepReport {
            purged_avatars: 1,
            orphan_objects: 1,
            ..Default::default()
        }
    );
    assert!(app.keys_of(&lost_id.to_string()).await.is_empty());
    assert!(
        state.db.avatar(lost_id).await.unwrap().is_none(),
        "row removed for good"
    );
    assert!(!app.keys(&orphan).await.iter().any(|k| k == &orphan));
    assert_eq!(
        app.keys_of(&live_id).await.len(),
        4,
        "live avatar untouched"
    );
    assert_eq!(app.keys("other/").await, ["other/readme.txt"]);
    // A second sweep finds nothing.
    assert_eq!(
        state.purge().sweep().await.unwrap(),
        avatar_usecases::purge::SweepReport::default()
    );
    app.stop().await;
}
