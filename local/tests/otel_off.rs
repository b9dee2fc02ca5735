//! With no OTLP endpoint configured there is no exporter and no background
//! work: no batch span processor thread, nothing sent anywhere, while log
//! lines still carry trace ids (README, "Observability").
//!
//! One test per file: telemetry is installed once per process.

mod common;

use std::time::Duration;

use common::{corpus, TestApp};

/// The names of this process's threads (Linux: /proc/self/task/*/comm).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoint_no_exporter_and_no_background_work() {
    std::env::remove_var("OTEL_EXPORTER_OTLP_ENDPOINT");
    std::env::remove_var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    let telemetry = avatar_telemetry::init(avatar_telemetry::Process::Local);
    assert!(!telemetry.exporting());

    let app = TestApp::spawn().await;
    let body = app
        .upload_ok("quiet", "glow.jpg", corpus("j09_photo_eveningglow.jpg"))
        .await;
    let id = body["id"].as_str().unwrap();
    app.wait_for_status(id, "ready", Duration::from_secs(30))
        .await;
    telemetry.flush().await;
    let threads = thread_names();
    assert!(!threads.is_empty(), "threads are readable here");
    // The SDK's batch span processor runs in a thread of this name (its
    // prefix: Linux keeps 15 characters).
    assert!(
        !threads.iter().any(|t| t.starts_with("OpenTelemetry")),
        "{threads:?}"
    );
    app.stop().await;
}
