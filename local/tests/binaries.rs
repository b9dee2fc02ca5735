//! The function binaries themselves, in plain-HTTP mode (what Knative runs):
//! configuration from the environment, `/health`, the HTTP functions'
//! routes, and an event function taking an SQS event on `POST /` and
//! answering with the partial batch response.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use avatar_adapters::Config;
use common::{binary, free_port, TestApp};
use serde_json::{json, Value};

struct Running(Child, String);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start(name: &str, config: &Config) -> Running {
    let port = free_port();
    let child = Command::new(binary(name))
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("DATABASE_URL", &config.database_url)
        .env("AVATAR_BUCKET", &config.bucket)
        .env("UPLOAD_QUEUE", &config.upload_queue)
        .env("DELETE_QUEUE", &config.delete_queue)
        .env("S3_FORCE_PATH_STYLE", "true")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Owned at once, so the process is killed and reaped on every path.
    let running = Running(child, format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    loop {
        if let Ok(res) = reqwest::get(format!("{}/health", running.1)).await {
            assert_eq!(
                res.status(),
                200,
                "{name} unhealthy: {}",
                res.text().await.unwrap()
            );
            return running;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name} did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn function_binaries_serve_plain_http() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();

    let get = start("get", &app.config).await;
    let res = http
        .get(format!("{}/api/v1/avatars/{}", get.1, uuid::Uuid::nil()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "Avatar not found"
    );
    // Routes of other functions are not served by this one.
    let res = http
        .get(format!("{}/api/v1/users/u/avatars", get.1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    let thumbnail = start("thumbnail", &app.config).await;
    let event = json!({"Records": [
        {"messageId": "test", "body": r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#,
         "attributes": {"ApproximateReceiveCount": "1"}},
        {"messageId": "poison", "body": "not json", "attributes": {}}
    ]});
    let res = http.post(&thumbnail.1).json(&event).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "poison"}]})
    );
    // The same messages one at a time, as Knative's SQS IntegrationSource
    // posts them: acknowledged with 200, or 503 so the source redelivers.
    let cloud_event = |id: &str, body: &'static str| {
        http.post(&thumbnail.1)
            .header("ce-specversion", "1.0")
            .header("ce-type", avatar_runtime::events::KNATIVE_SQS_EVENT_TYPE)
            .header("ce-source", "dev.knative.eventing.aws-sqs-source")
            .header("ce-id", id)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let res = cloud_event("test", r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"batchItemFailures": []})
    );
    let res = cloud_event("poison", "not json").await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "Service unavailable"
    );
    // Not JSON and not a CloudEvent: the caller's mistake.
    let res = http.post(&thumbnail.1).body("nope").send().await.unwrap();
    assert_eq!(res.status(), 400);

    let purge = start("purge", &app.config).await;
    let res = http
        .post(&purge.1)
        .json(&json!({"source": "aws.events", "detail-type": "Scheduled Event"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"purged_avatars": 0, "orphan_objects": 0, "expired_uploads": 0, "redriven": 0, "gave_up": 0, "orphan_rows": 0})
    );
    drop((get, thumbnail, purge));
    app.stop().await;
}
