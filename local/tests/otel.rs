//! Traces, end to end: an OTLP/HTTP receiver in the test (decoding the
//! protobuf with `opentelemetry-proto`), the whole stack exporting to it
//! through the standard variables, and one avatar uploaded, processed,
//! deleted and purged. The upload's server span and the thumbnail
//! function's consumer span are one trace (the context travels as the
//! original's S3 metadata), and so are the delete and the purge (as an SQS
//! message attribute).
//!
//! One test per file: telemetry is installed once per process.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use common::{corpus, TestApp};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

/// One exported span, flattened: its resource's attributes merged in.
#[derive(Debug, Clone)]
struct Exported {
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    start_ns: u64,
    end_ns: u64,
    attributes: HashMap<String, String>,
}

fn value_text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts the receiver on a free port; returns its base URL and the spans
/// it has received.
async fn otlp_receiver() -> (String, Arc<Mutex<Vec<Exported>>>) {
    let spans: Arc<Mutex<Vec<Exported>>> = Arc::default();
    let store = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let store = store.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut out = store.lock().unwrap();
                for resource_spans in request.resource_spans {
                    let resource: HashMap<String, String> = resource_spans
                        .resource
                        .map(|r| {
                            r.attributes
                                .iter()
                                .map(|kv| (kv.key.clone(), value_text(kv)))
                                .collect()
                        })
                        .unwrap_or_default();
                    for scope in resource_spans.scope_spans {
                        for span in scope.spans {
                            let mut attributes = resource.clone();
                            attributes.extend(
                                span.attributes
                                    .iter()
                                    .map(|kv| (kv.key.clone(), value_text(kv))),
                            );
                            out.push(Exported {
                                name: span.name,
                                kind: span.kind,
                                trace_id: hex(&span.trace_id),
                                span_id: hex(&span.span_id),
                                parent_span_id: hex(&span.parent_span_id),
                                start_ns: span.start_time_unix_nano,
                                end_ns: span.end_time_unix_nano,
                                attributes,
                            });
                        }
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, spans)
}

/// The spans of one trace, and helpers to walk it.
struct Trace(Vec<Exported>);

impl Trace {
    fn named(&self, name: &str) -> Vec<&Exported> {
        self.0.iter().filter(|s| s.name == name).collect()
    }

    fn one(&self, name: &str) -> &Exported {
        let found = self.named(name);
        assert_eq!(
            found.len(),
            1,
            "exactly one {name:?} in {:#?}",
            self.names()
        );
        found[0]
    }

    fn names(&self) -> Vec<&str> {
        self.0.iter().map(|s| s.name.as_str()).collect()
    }

    /// The tree under `root`, one span a line with its duration (what
    /// `--no-capture` shows).
    fn render(&self, root: &Exported) -> String {
        fn walk(trace: &Trace, span: &Exported, depth: usize, out: &mut String) {
            let ms = span.end_ns.saturating_sub(span.start_ns) as f64 / 1e6;
            out.push_str(&format!("{}{} {ms:.1} ms\n", "  ".repeat(depth), span.name));
            let mut children: Vec<&Exported> = trace
                .0
                .iter()
                .filter(|s| s.parent_span_id == span.span_id)
                .collect();
            children.sort_by_key(|s| s.start_ns);
            for child in children {
                walk(trace, child, depth + 1, out);
            }
        }
        let mut out = String::new();
        walk(self, root, 0, &mut out);
        out
    }

    /// Whether `span` has `ancestor` above it.
    fn descends_from(&self, span: &Exported, ancestor: &Exported) -> bool {
        let by_id: HashMap<&str, &Exported> =
            self.0.iter().map(|s| (s.span_id.as_str(), s)).collect();
        let mut at = span;
        while let Some(parent) = by_id.get(at.parent_span_id.as_str()) {
            if parent.span_id == ancestor.span_id {
                return true;
            }
            at = parent;
        }
        false
    }
}

/// Waits until the receiver holds a trace with every span named in `wanted`
/// (as many as counted) and its consumer span under the span called
/// `root`; returns it.
async fn wait_for_trace(
    spans: &Arc<Mutex<Vec<Exported>>>,
    root: &str,
    wanted: &[(&str, usize)],
) -> Trace {
    let started = Instant::now();
    loop {
        if let Some(t) = avatar_telemetry::get() {
            t.flush().await;
        }
        let all = spans.lock().unwrap().clone();
        if let Some(root_span) = all.iter().find(|s| s.name == root) {
            let trace = Trace(
                all.iter()
                    .filter(|s| s.trace_id == root_span.trace_id)
                    .cloned()
                    .collect(),
            );
            // The consumer span (the SQS message's) ends last, after every
            // span of its work has been exported: wait for it too.
            let consumed = trace.0.iter().any(|s| s.kind == SpanKind::Consumer as i32);
            if consumed && wanted.iter().all(|(name, n)| trace.named(name).len() >= *n) {
                return trace;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "trace of {root} incomplete: {:?}; consumer spans: {:?}",
                trace.names(),
                all.iter()
                    .filter(|s| s.kind == SpanKind::Consumer as i32)
                    .map(|s| (&s.name, &s.trace_id, &s.parent_span_id))
                    .collect::<Vec<_>>()
            );
        } else {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no {root} span among {} exported",
                all.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn attr<'a>(span: &'a Exported, key: &str) -> &'a str {
    span.attributes
        .get(key)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("{} has no {key}: {:?}", span.name, span.attributes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_from_upload_to_the_last_variant_and_from_delete_to_purge() {
    let (endpoint, spans) = otlp_receiver().await;
    // The standard variables only (telemetry reads them once, here).
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
    std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    std::env::set_var("OTEL_SERVICE_NAME", "avatars-under-test");
    let telemetry = avatar_telemetry::init(avatar_telemetry::Process::Local);
    assert!(telemetry.exporting());

    let app = TestApp::spawn().await;
    let body = app
        .upload_ok("tracy", "glow.jpg", corpus("j09_photo_eveningglow.jpg"))
        .await;
    let id = body["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "ready", Duration::from_secs(30))
        .await;

    let upload = wait_for_trace(
        &spans,
        "POST /api/v1/avatars",
        &[
            ("S3.GetObject", 1),
            ("decode", 2),
            ("encode", 3),
            ("S3.PutObject", 4),
            ("UPDATE avatars", 1),
        ],
    )
    .await;
    let server = upload.one("POST /api/v1/avatars");
    println!("{}", upload.render(server));
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(attr(server, "http.request.method"), "POST");
    assert_eq!(attr(server, "http.route"), "/api/v1/avatars");
    assert_eq!(attr(server, "http.response.status_code"), "201");
    assert_eq!(attr(server, "service.name"), "avatars-under-test");
    let consumer = upload
        .0
        .iter()
        .find(|s| s.kind == SpanKind::Consumer as i32)
        .unwrap_or_else(|| panic!("no consumer span in {:?}", upload.names()));
    assert!(
        upload.descends_from(consumer, server),
        "the thumbnail's span continues the upload"
    );
    assert_eq!(attr(consumer, "messaging.system"), "aws_sqs");
    assert_eq!(
        attr(consumer, "messaging.destination.name"),
        app.config.upload_queue
    );
    assert!(!attr(consumer, "messaging.message.id").is_empty());
    assert_eq!(attr(consumer, "faas.name"), "thumbnail");
    // Under the consumer: reading the original, one decode, three encodes,
    // three variants stored, the row marked ready.
    let under = |name: &str| {
        upload
            .named(name)
            .into_iter()
            .filter(|s| upload.descends_from(s, consumer))
            .count()
    };
    assert_eq!(under("S3.GetObject"), 1);
    assert_eq!(under("decode"), 1);
    assert_eq!(under("encode"), 3);
    assert_eq!(under("resize"), 3);
    assert_eq!(under("S3.PutObject"), 3);
    assert!(under("UPDATE avatars") >= 1);
    let decode = upload
        .named("decode")
        .into_iter()
        .find(|s| upload.descends_from(s, consumer))
        .unwrap();
    assert_eq!(attr(decode, "image.format"), "jpeg");
    // The span says how far shrink-on-load went: here not at all, as the
    // 1200 px thumbnail wants 1800 px of this 1600 px photo's short side
    // (the resize margin, `jpeg::shrink_on_load_scale`).
    assert_eq!(attr(decode, "pipeline.shrink").parse::<f64>().unwrap(), 1.0);
    for encode in upload.named("encode") {
        assert!(attr(encode, "image.bytes").parse::<u64>().unwrap() > 0);
    }
    let get = upload.named("S3.GetObject")[0];
    assert_eq!(attr(get, "rpc.system"), "aws-api");
    assert_eq!(attr(get, "rpc.service"), "S3");
    assert_eq!(attr(get, "rpc.method"), "GetObject");
    assert_eq!(attr(get, "aws.s3.bucket"), app.config.bucket);
    let update = upload.named("UPDATE avatars")[0];
    assert_eq!(attr(update, "db.system.name"), "postgresql");
    assert_eq!(attr(update, "db.operation.name"), "UPDATE");
    assert_eq!(attr(update, "db.collection.name"), "avatars");
    // Every span says which function it belongs to; no statement's span
    // carries its parameters (the user id, the avatar id).
    for span in &upload.0 {
        let function = attr(span, "faas.name");
        assert!(
            ["upload", "thumbnail"].contains(&function),
            "{}: {function}",
            span.name
        );
        if span.attributes.contains_key("db.system.name") {
            assert!(
                !span
                    .attributes
                    .values()
                    .any(|v| v.contains("tracy") || v.contains(&id)),
                "{span:?}"
            );
        }
    }

    // Delete → purge: one trace through the AvatarDeleteEvent.
    let res = app
        .delete(&format!("/api/v1/avatars/{id}"), Some("tracy"))
        .await;
    assert_eq!(res.status(), 204);
    app.wait_until_purged(&id, Duration::from_secs(30)).await;
    let delete = wait_for_trace(
        &spans,
        "DELETE /api/v1/avatars/{avatar_id}",
        &[
            ("SQS.SendMessage", 1),
            ("S3.DeleteObjects", 1),
            ("DELETE avatars", 1),
        ],
    )
    .await;
    let server = delete.one("DELETE /api/v1/avatars/{avatar_id}");
    println!("{}", delete.render(server));
    let purge = delete
        .0
        .iter()
        .find(|s| s.kind == SpanKind::Consumer as i32)
        .unwrap_or_else(|| panic!("no consumer span in {:?}", delete.names()));
    assert!(
        delete.descends_from(purge, server),
        "the purge continues the delete"
    );
    assert_eq!(attr(purge, "faas.name"), "purge");
    assert_eq!(
        attr(purge, "messaging.destination.name"),
        app.config.delete_queue
    );
    for name in ["S3.ListObjectsV2", "S3.DeleteObjects", "DELETE avatars"] {
        let span = delete.named(name)[0];
        assert!(delete.descends_from(span, purge), "{name} under the purge");
    }
    app.stop().await;
}
