//! Retries that outlast an outage (issue 15), against the real emulator
//! and PostgreSQL: failed messages back off (their visibility is changed
//! from their receive count), a transient failure never turns an avatar
//! `failed`, a fault does on the last delivery — counted in the row where
//! the event source passes no receive count (Knative) —, the sweep sends
//! the work of stuck avatars again (and gives up after `MAX_RECEIVE_COUNT`
//! re-drives), and `avatar-local redrive` empties the dead-letter queues.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use avatar_adapters::queue::Queue;
use avatar_adapters::storage::Storage;
use avatar_domain::keys::ObjectKey;
use avatar_domain::{AvatarId, Status, UserId};
use avatar_runtime::events::{sqs_event_from_cloud_event, Outcome};
use avatar_usecases::AppState;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use common::{small_png, TestApp};
use serde_json::{json, Value};

async fn thumbnails(state: Arc<AppState>, event: SqsEvent) -> SqsBatchResponse {
    match avatar_thumbnail::handle(state, event).await.unwrap() {
        Outcome::Batch(response) => response,
        Outcome::Done(()) => panic!("an SQS event answers a partial batch response"),
    }
}

/// An S3 ObjectCreated notification of `key`, as SQS carries it.
fn s3_event(bucket: &str, key: &str) -> String {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key.replace('/', "%2F"), "size": 1}}
    }]})
    .to_string()
}

fn original_key(user: &str, id: AvatarId) -> String {
    ObjectKey::Original {
        user_id: UserId::parse(user).unwrap(),
        avatar_id: id,
    }
    .render()
}

/// Runs SQL on the test's database.
async fn sql(app: &TestApp, statement: &str) {
    let (client, conn) = tokio_postgres::connect(&app.config.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.batch_execute(statement).await.unwrap();
}

/// An avatar uploaded and made `ready`, then put back to `processing` with
/// its 300 px variant row gone: work left to do, as an outage leaves it.
async fn unfinished(app: &TestApp, user: &str) -> AvatarId {
    let body = app.upload_ok(user, "a.png", small_png(400, 300)).await;
    let id = AvatarId::parse(body["id"].as_str().unwrap()).unwrap();
    app.wait_for_status(&id.to_string(), "ready", Duration::from_secs(30))
        .await;
    sql(
        app,
        &format!(
            "DELETE FROM avatar_variants WHERE avatar_id = '{id}' AND size = '300x300';
             UPDATE avatars SET status = 'processing' WHERE id = '{id}';"
        ),
    )
    .await;
    id
}

/// A storage client whose endpoint refuses connections: S3 out of reach.
async fn unreachable_storage(bucket: &str) -> Storage {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    Storage::new(aws_sdk_s3::Client::from_conf(s3), bucket)
}

async fn status(app: &TestApp, id: AvatarId) -> Status {
    app.stack.state.db.avatar(id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn a_transient_failure_never_marks_failed_even_on_the_last_delivery() {
    let app = TestApp::spawn().await;
    let id = unfinished(&app, "tia").await;
    let mut broken = (*app.stack.state).clone();
    broken.storage = unreachable_storage(&app.config.bucket).await;
    let broken = Arc::new(broken);
    let body = s3_event(&app.config.bucket, &original_key("tia", id));
    for count in 1..=app.config.max_receive_count + 1 {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{count}"));
        m.body = Some(body.clone());
        m.attributes
            .insert("ApproximateReceiveCount".into(), count.to_string());
        let mut event = SqsEvent::default();
        event.records = vec![m];
        let response = thumbnails(broken.clone(), event).await;
        assert_eq!(response.batch_item_failures.len(), 1, "delivery {count}");
        assert_eq!(
            status(&app, id).await,
            Status::Processing,
            "delivery {count}"
        );
    }
    // Storage back: the next delivery finishes the work.
    let response = thumbnails(
        app.stack.state.clone(),
        sqs_event_from_cloud_event("again", &body),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(status(&app, id).await, Status::Ready);
    app.stop().await;
}

#[tokio::test]
async fn without_a_receive_count_the_row_counts_the_attempts() {
    // Knative's SQS source passes no ApproximateReceiveCount: every
    // delivery looks like the first. A fault (a bucket that does not
    // exist) still ends `failed` after MAX_RECEIVE_COUNT attempts.
    let app = TestApp::spawn().await;
    let id = unfinished(&app, "kai").await;
    let mut broken = (*app.stack.state).clone();
    broken.storage = app.stack.state.storage.bucket_named("no-such-bucket");
    let broken = Arc::new(broken);
    let body = s3_event(&app.config.bucket, &original_key("kai", id));
    let max = app.config.max_receive_count;
    for attempt in 1..=max {
        assert_eq!(
            status(&app, id).await,
            Status::Processing,
            "before attempt {attempt}"
        );
        let response = thumbnails(
            broken.clone(),
            sqs_event_from_cloud_event(&format!("ce-{attempt}"), &body),
        )
        .await;
        assert_eq!(response.batch_item_failures.len(), 1);
    }
    assert_eq!(status(&app, id).await, Status::Failed);
    app.stop().await;
}

/// A queue of the test's own whose visibility timeout is SQS's default
/// (30 s), so a message seen again within seconds was backed off by the
/// function, not by the queue.
async fn own_queue(app: &TestApp) -> Queue {
    let sqs = aws_sdk_sqs::Client::new(
        &aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await,
    );
    let name = format!("{}-backoff", app.config.upload_queue);
    sqs.create_queue().queue_name(&name).send().await.unwrap();
    Queue::new(sqs, name)
}

/// Receives one message of `queue` within `within`: its event, as the
/// event source mapping would hand it over.
async fn receive(queue: &Queue, within: Duration) -> Option<SqsEvent> {
    let start = Instant::now();
    while start.elapsed() < within {
        let messages = queue.receive(1, 1).await.unwrap();
        if let Some(m) = messages.into_iter().next() {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.attributes = m
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            let mut event = SqsEvent::default();
            event.records = vec![record];
            return Some(event);
        }
    }
    None
}

#[tokio::test]
async fn failed_messages_back_off_exponentially() {
    let app = TestApp::spawn().await;
    let id = unfinished(&app, "bo").await;
    let queue = own_queue(&app).await;
    let mut broken = (*app.stack.state).clone();
    broken.storage = unreachable_storage(&app.config.bucket).await;
    broken.upload_queue = queue.clone();
    // First retry after 3 s (±20 %), then 6 s; the queue itself would wait 30 s.
    broken.config.visibility_timeout = Duration::from_secs(3);
    broken.config.max_receive_count = 10;
    let broken = Arc::new(broken);
    queue
        .send_json(
            &serde_json::from_str::<Value>(&s3_event(&app.config.bucket, &original_key("bo", id)))
                .unwrap(),
        )
        .await
        .unwrap();

    let first = receive(&queue, Duration::from_secs(5))
        .await
        .expect("delivered");
    assert_eq!(first.records[0].attributes["ApproximateReceiveCount"], "1");
    assert_eq!(
        thumbnails(broken.clone(), first)
            .await
            .batch_item_failures
            .len(),
        1
    );
    let failed_at = Instant::now();
    let second = receive(&queue, Duration::from_secs(8))
        .await
        .expect("back after ~3 s, not 30 s");
    let waited = failed_at.elapsed();
    assert!(waited >= Duration::from_millis(2000), "{waited:?}");
    assert_eq!(second.records[0].attributes["ApproximateReceiveCount"], "2");
    assert_eq!(
        thumbnails(broken.clone(), second)
            .await
            .batch_item_failures
            .len(),
        1
    );
    let failed_at = Instant::now();
    // The second retry waits twice as long: nothing within 4 s.
    assert!(
        receive(&queue, Duration::from_secs(4)).await.is_none(),
        "doubled"
    );
    let third = receive(&queue, Duration::from_secs(6))
        .await
        .expect("back after ~6 s");
    let waited = failed_at.elapsed();
    assert!(waited >= Duration::from_millis(4500), "{waited:?}");
    assert_eq!(third.records[0].attributes["ApproximateReceiveCount"], "3");
    // Storage back: done, and the message is gone.
    let mut fixed = (*broken).clone();
    fixed.storage = app.stack.state.storage.clone();
    assert!(thumbnails(Arc::new(fixed), third)
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(status(&app, id).await, Status::Ready);
    app.stop().await;
}

#[tokio::test]
async fn the_sweep_sends_the_work_of_stuck_avatars_again_then_gives_up() {
    let app = TestApp::spawn_with(|c| c.processing_deadline = Duration::from_secs(1)).await;
    let state = app.stack.state.clone();
    // Stuck: processing, with a variant missing, untouched for a while.
    let id = unfinished(&app, "sia").await;
    sql(
        &app,
        &format!("UPDATE avatars SET updated_at = now() - interval '1 hour' WHERE id = '{id}'"),
    )
    .await;
    let report = state.purge().sweep().await.unwrap();
    assert_eq!(report.redriven, 1);
    // The AvatarProcessEvent reaches the thumbnail function through the
    // upload queue, which renders what was missing.
    app.wait_for_status(&id.to_string(), "ready", Duration::from_secs(30))
        .await;
    assert_eq!(state.db.variants_of(id).await.unwrap().len(), 4);

    // One that stays stuck (its work keeps failing) is sent again once per
    // deadline, and after MAX_RECEIVE_COUNT re-drives marked failed.
    let stuck = unfinished(&app, "sia").await;
    let max = app.config.max_receive_count;
    sql(
        &app,
        &format!(
            "UPDATE avatars SET updated_at = now() - interval '1 hour', redrives = {max} WHERE id = '{stuck}'"
        ),
    )
    .await;
    let report = state.purge().sweep().await.unwrap();
    assert_eq!((report.redriven, report.gave_up), (0, 1));
    assert_eq!(status(&app, stuck).await, Status::Failed);
    // A row whose original was never stored (its client got a 503 and the
    // rollback failed too) is removed, with whatever it has.
    let unstored = unfinished(&app, "sia").await;
    state
        .storage
        .delete_keys(&[original_key("sia", unstored)])
        .await
        .unwrap();
    sql(
        &app,
        &format!(
            "UPDATE avatars SET updated_at = now() - interval '1 hour' WHERE id = '{unstored}'"
        ),
    )
    .await;
    let report = state.purge().sweep().await.unwrap();
    assert_eq!((report.redriven, report.orphan_rows), (0, 1));
    assert!(state.db.avatar(unstored).await.unwrap().is_none());
    assert!(app.keys_of(&unstored.to_string()).await.is_empty());
    // Nothing else is touched: a second sweep finds nothing.
    let report = state.purge().sweep().await.unwrap();
    assert_eq!(
        (report.redriven, report.gave_up, report.orphan_rows),
        (0, 0, 0)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_direct_upload_whose_event_was_lost_is_accepted_by_the_sweep_not_expired() {
    let app = TestApp::spawn_with(|c| {
        c.processing_deadline = Duration::from_secs(1);
        c.upload_url_ttl = Duration::from_secs(1);
    })
    .await;
    let state = app.stack.state.clone();
    let res = app
        .http
        .post(app.url("/api/v1/avatars/uploads"))
        .header("x-user-id", "lou")
        .json(&json!({"content_type": "image/png", "content_length": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = AvatarId::parse(res.json::<Value>().await.unwrap()["id"].as_str().unwrap()).unwrap();
    // The file arrives, but its event is lost: the bucket's notification
    // is switched off first.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(
            &aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await,
        )
        .force_path_style(true)
        .build(),
    );
    s3.put_bucket_notification_configuration()
        .bucket(&app.config.bucket)
        .notification_configuration(aws_sdk_s3::types::NotificationConfiguration::builder().build())
        .send()
        .await
        .unwrap();
    let incoming = ObjectKey::Incoming {
        user_id: UserId::parse("lou").unwrap(),
        avatar_id: id,
    }
    .render();
    state
        .storage
        .put(&incoming, small_png(64, 48).into(), "image/png")
        .await
        .unwrap();
    sql(&app, &format!("UPDATE avatars SET created_at = now() - interval '1 hour', updated_at = now() - interval '1 hour' WHERE id = '{id}'")).await;
    // The sweep neither expires it nor leaves it: the AvatarProcessEvent
    // it sends through the upload queue has the file accepted, and ready.
    let report = state.purge().sweep().await.unwrap();
    assert_eq!(report.expired_uploads, 0);
    app.wait_for_status(&id.to_string(), "ready", Duration::from_secs(30))
        .await;
    assert!(!state.storage.exists(&incoming).await.unwrap());
    app.stop().await;
}

#[tokio::test]
async fn redrive_moves_dead_lettered_messages_back_to_their_queue() {
    let app = TestApp::spawn().await;
    let state = app.stack.state.clone();
    let id = unfinished(&app, "rex").await;
    // Its event ended in the dead-letter queue during an outage.
    let dlq = state.upload_queue.dead_letter_queue();
    dlq.send_json(
        &serde_json::from_str::<Value>(&s3_event(&app.config.bucket, &original_key("rex", id)))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(app.upload_dlq_depth().await, 1);
    let report = avatar_local::redrive(&state).await.unwrap();
    assert_eq!(
        report,
        avatar_local::RedriveReport {
            upload: 1,
            delete: 0
        }
    );
    app.wait_for_status(&id.to_string(), "ready", Duration::from_secs(30))
        .await;
    assert_eq!(app.upload_dlq_depth().await, 0);
    app.stop().await;
}
