//! Metrics: every name in one place, recorded through the `metrics` facade
//! and exported two ways — Prometheus text at `GET /metrics` in HTTP mode
//! (Knative; `avatar-local` serves all six functions' on `METRICS_ADDR`),
//! and CloudWatch Embedded Metric Format lines on stdout on Lambda, flushed
//! after each invocation, so CloudWatch has the same metrics with no agent.
//!
//! Names follow Prometheus' conventions, units in the name. No metric is
//! labelled by user: a series per user has no bound (usage per user is a
//! query on the database instead, README "Observability").

use std::time::Duration;

use avatar_domain::Variant;

/// `avatars_uploads_total{status}`: uploads answered, by outcome
/// ([`UploadStatus`]). The specification's name.
pub const UPLOADS_TOTAL: &str = "avatars_uploads_total";
/// `avatars_upload_duration_seconds{status}`: the upload request's time on
/// the server, seconds (histogram). The specification's name.
pub const UPLOAD_DURATION: &str = "avatars_upload_duration_seconds";
/// `avatars_storage_bytes`: bytes of every stored original and variant
/// (gauge, from the database).
pub const STORAGE_BYTES: &str = "avatars_storage_bytes";
/// `http_server_request_duration_seconds{http_request_method, http_route,
/// http_response_status_code}`: OpenTelemetry's HTTP server duration,
/// seconds (histogram).
pub const HTTP_SERVER_DURATION: &str = "http_server_request_duration_seconds";
/// `avatars_processing_seconds`: an upload accepted → the avatar `ready`,
/// seconds (histogram).
pub const PROCESSING: &str = "avatars_processing_seconds";
/// `avatars_pipeline_stage_seconds{stage}`: time in one pipeline stage
/// (probe, decode, resize, encode, strip), seconds (histogram).
pub const PIPELINE_STAGE: &str = "avatars_pipeline_stage_seconds";
/// `avatars_variants_rendered_total{size, format, trigger}`: variants
/// rendered and stored; trigger `event` (thumbnail function) or `on_demand`
/// (a GET of a missing variant).
pub const VARIANTS_RENDERED: &str = "avatars_variants_rendered_total";
/// `avatars_queue_messages_total{queue, outcome}`: SQS messages handled,
/// by [`MessageOutcome`].
pub const QUEUE_MESSAGES: &str = "avatars_queue_messages_total";
/// `avatars_queue_depth{queue}`: messages waiting in the upload and delete
/// queues and their dead-letter queues (gauge; polled by `avatar-local`,
/// CloudWatch's `ApproximateNumberOfMessagesVisible` on AWS).
pub const QUEUE_DEPTH: &str = "avatars_queue_depth";
/// `avatars_db_pool_connections{state}`: the PostgreSQL pool's connections,
/// `in_use` and `idle` (gauge).
pub const DB_POOL_CONNECTIONS: &str = "avatars_db_pool_connections";
/// `avatars_db_pool_waiting`: tasks waiting for a connection (gauge).
pub const DB_POOL_WAITING: &str = "avatars_db_pool_waiting";
/// `avatars_avatars{status}`: avatars that are not deleted, by status
/// (gauge, from the database).
pub const AVATARS: &str = "avatars_avatars";

/// Histogram buckets of request durations, seconds: 1 ms to 10 s.
pub const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Histogram buckets of upload → ready, seconds: 10 ms to 30 s.
pub const PROCESSING_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0,
];
/// Histogram buckets of one pipeline stage, seconds: 0.5 ms to 5 s.
pub const STAGE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// How an upload request ended, for [`UPLOADS_TOTAL`] and [`UPLOAD_DURATION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadStatus {
    /// 2xx or 3xx: stored (or replayed, or a direct upload's URL issued).
    Success,
    /// 4xx: the client's request or file was refused.
    Rejected,
    /// 5xx: the service failed (a dependency, or a bug).
    Error,
}

impl UploadStatus {
    /// Every status, to create its series at zero.
    pub const ALL: [Self; 3] = [Self::Success, Self::Rejected, Self::Error];

    /// The status of an HTTP answer.
    pub fn of(status: http::StatusCode) -> Self {
        if status.is_server_error() {
            Self::Error
        } else if status.is_client_error() {
            Self::Rejected
        } else {
            Self::Success
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Rejected => "rejected",
            Self::Error => "error",
        }
    }
}

/// What became of one SQS message, for [`QUEUE_MESSAGES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Handled; the message is deleted.
    Ok,
    /// Failed; SQS delivers it again after the visibility timeout.
    Retried,
    /// Settled without retrying: its work can never succeed (an original
    /// that does not decode; the avatar is `failed`).
    Poison,
    /// Failed on its last delivery: SQS moves it to the dead-letter queue.
    DeadLettered,
}

impl MessageOutcome {
    /// Every outcome, to create its series at zero.
    pub const ALL: [Self; 4] = [Self::Ok, Self::Retried, Self::Poison, Self::DeadLettered];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Retried => "retried",
            Self::Poison => "poison",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

/// Why a variant was rendered, for [`VARIANTS_RENDERED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderTrigger {
    /// The thumbnail function, after an upload.
    Event,
    /// A GET of a variant that was not stored yet.
    OnDemand,
}

impl RenderTrigger {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::OnDemand => "on_demand",
        }
    }
}

/// The queues of the service, as the `queue` label names them (stable,
/// whatever `UPLOAD_QUEUE` and `DELETE_QUEUE` are called).
pub const QUEUE_LABELS: [&str; 4] = ["upload", "delete", "upload-dlq", "delete-dlq"];

/// One HTTP request answered: [`HTTP_SERVER_DURATION`]. `route` is the
/// route template (`/api/v1/avatars/{avatar_id}`), or `unmatched`.
pub fn http_request(method: &str, route: &str, status: u16, duration: Duration) {
    metrics::histogram!(
        HTTP_SERVER_DURATION,
        "http_request_method" => method.to_owned(),
        "http_route" => route.to_owned(),
        "http_response_status_code" => status.to_string(),
    )
    .record(duration.as_secs_f64());
}

/// One upload request answered: [`UPLOADS_TOTAL`] and [`UPLOAD_DURATION`].
pub fn upload(status: UploadStatus, duration: Duration) {
    metrics::counter!(UPLOADS_TOTAL, "status" => status.as_str()).increment(1);
    metrics::histogram!(UPLOAD_DURATION, "status" => status.as_str())
        .record(duration.as_secs_f64());
}

/// An avatar became `ready`, `elapsed` after its upload was accepted:
/// [`PROCESSING`].
pub fn processed(elapsed: Duration) {
    metrics::histogram!(PROCESSING).record(elapsed.as_secs_f64());
}

/// One pipeline stage took `duration`: [`PIPELINE_STAGE`].
pub fn pipeline_stage(stage: &'static str, duration: Duration) {
    metrics::histogram!(PIPELINE_STAGE, "stage" => stage).record(duration.as_secs_f64());
}

/// A variant was rendered and stored: [`VARIANTS_RENDERED`].
pub fn variant_rendered(variant: Variant, trigger: RenderTrigger) {
    metrics::counter!(
        VARIANTS_RENDERED,
        "size" => variant.size.as_str(),
        "format" => variant.format.as_str(),
        "trigger" => trigger.as_str(),
    )
    .increment(1);
}

/// One message of `queue` (a [`QUEUE_LABELS`] name) was handled:
/// [`QUEUE_MESSAGES`].
pub fn queue_message(queue: &'static str, outcome: MessageOutcome) {
    metrics::counter!(QUEUE_MESSAGES, "queue" => queue, "outcome" => outcome.as_str()).increment(1);
}

/// Messages waiting in `queue` (a [`QUEUE_LABELS`] name): [`QUEUE_DEPTH`].
pub fn queue_depth(queue: &'static str, messages: u64) {
    metrics::gauge!(QUEUE_DEPTH, "queue" => queue).set(messages as f64);
}

/// The database pool's state: [`DB_POOL_CONNECTIONS`] and [`DB_POOL_WAITING`].
pub fn db_pool(in_use: usize, idle: usize, waiting: usize) {
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(in_use as f64);
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(idle as f64);
    metrics::gauge!(DB_POOL_WAITING).set(waiting as f64);
}

/// What the database holds: not-deleted avatars by status ([`AVATARS`])
/// and stored bytes ([`STORAGE_BYTES`]).
pub fn inventory(by_status: &[(&'static str, u64)], stored_bytes: u64) {
    for (status, n) in by_status {
        metrics::gauge!(AVATARS, "status" => *status).set(*n as f64);
    }
    metrics::gauge!(STORAGE_BYTES).set(stored_bytes as f64);
}

/// Describes every metric (help text and unit) and creates the counters'
/// series at zero, so that dashboards and alert rules find a series before
/// the first event (a rate over "no series" is no answer, not 0).
pub fn describe() {
    use metrics::Unit;
    metrics::describe_counter!(UPLOADS_TOTAL, Unit::Count, "Uploads answered, by outcome");
    metrics::describe_histogram!(
        UPLOAD_DURATION,
        Unit::Seconds,
        "Upload request duration on the server"
    );
    metrics::describe_gauge!(
        STORAGE_BYTES,
        Unit::Bytes,
        "Bytes of stored originals and variants"
    );
    metrics::describe_histogram!(
        HTTP_SERVER_DURATION,
        Unit::Seconds,
        "Duration of HTTP server requests"
    );
    metrics::describe_histogram!(PROCESSING, Unit::Seconds, "Upload accepted to avatar ready");
    metrics::describe_histogram!(
        PIPELINE_STAGE,
        Unit::Seconds,
        "Time in one image pipeline stage"
    );
    metrics::describe_counter!(
        VARIANTS_RENDERED,
        Unit::Count,
        "Variants rendered and stored, by size, format and trigger"
    );
    metrics::describe_counter!(
        QUEUE_MESSAGES,
        Unit::Count,
        "SQS messages handled, by outcome"
    );
    metrics::describe_gauge!(QUEUE_DEPTH, Unit::Count, "Messages waiting in a queue");
    metrics::describe_gauge!(
        DB_POOL_CONNECTIONS,
        Unit::Count,
        "PostgreSQL pool connections, by state"
    );
    metrics::describe_gauge!(
        DB_POOL_WAITING,
        Unit::Count,
        "Tasks waiting for a connection"
    );
    metrics::describe_gauge!(AVATARS, Unit::Count, "Avatars not deleted, by status");
    for status in UploadStatus::ALL {
        metrics::counter!(UPLOADS_TOTAL, "status" => status.as_str()).absolute(0);
    }
    for queue in ["upload", "delete"] {
        for outcome in MessageOutcome::ALL {
            metrics::counter!(QUEUE_MESSAGES, "queue" => queue, "outcome" => outcome.as_str())
                .absolute(0);
        }
    }
}

/// The Prometheus recorder for HTTP mode, with the buckets above; the
/// handle renders `GET /metrics`.
pub fn prometheus_recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let buckets = |builder: PrometheusBuilder, name: &str, values: &[f64]| {
        builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), values)
            .expect("bucket lists are not empty")
    };
    let mut builder = PrometheusBuilder::new();
    builder = buckets(builder, HTTP_SERVER_DURATION, REQUEST_BUCKETS);
    builder = buckets(builder, UPLOAD_DURATION, PROCESSING_BUCKETS);
    builder = buckets(builder, PROCESSING, PROCESSING_BUCKETS);
    builder = buckets(builder, PIPELINE_STAGE, STAGE_BUCKETS);
    builder.build_recorder()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_status_by_http_status() {
        assert_eq!(
            UploadStatus::of(http::StatusCode::CREATED),
            UploadStatus::Success
        );
        assert_eq!(
            UploadStatus::of(http::StatusCode::SEE_OTHER),
            UploadStatus::Success
        );
        assert_eq!(
            UploadStatus::of(http::StatusCode::PAYLOAD_TOO_LARGE),
            UploadStatus::Rejected
        );
        assert_eq!(
            UploadStatus::of(http::StatusCode::SERVICE_UNAVAILABLE),
            UploadStatus::Error
        );
    }

    #[test]
    fn prometheus_renders_names_labels_and_buckets() {
        let recorder = prometheus_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            upload(UploadStatus::Success, Duration::from_millis(30));
            http_request(
                "GET",
                "/api/v1/avatars/{avatar_id}",
                304,
                Duration::from_micros(800),
            );
            queue_message("upload", MessageOutcome::Poison);
        });
        let text = handle.render();
        for line in [
            "avatars_uploads_total{status=\"success\"} 1",
            "avatars_uploads_total{status=\"error\"} 0",
            "avatars_queue_messages_total{queue=\"upload\",outcome=\"poison\"} 1",
            "avatars_queue_messages_total{queue=\"delete\",outcome=\"dead_lettered\"} 0",
            "avatars_upload_duration_seconds_bucket{status=\"success\",le=\"0.05\"} 1",
            "http_server_request_duration_seconds_bucket{http_request_method=\"GET\",http_route=\"/api/v1/avatars/{avatar_id}\",http_response_status_code=\"304\",le=\"0.001\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
