//! `avatar-telemetry`, the lowest layer with I/O: it names no crate of ours
//! but the domain, and every other layer records through it.
//!
//! Telemetry: one [`init`] per process that installs the JSON log lines
//! ([`logs`]), the traces ([`trace`]) and the metrics recorder
//! ([`crate::metrics`]), and the span constructors every layer uses, so a
//! server span, a consumer span, a database or AWS call look the same
//! wherever they start.
//!
//! Metrics go to Prometheus text (`GET /metrics`) in HTTP mode and to
//! CloudWatch Embedded Metric Format lines on Lambda; on Lambda
//! [`Telemetry::flush`] runs after every invocation (spans and metrics),
//! because Lambda freezes the process once the invocation returns.

#![warn(missing_docs)]

pub mod http_client;
pub mod logs;
pub mod metrics;
mod process;
pub mod trace;

pub use process::{process, Process};

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// True when started by the Lambda runtime (`AWS_LAMBDA_RUNTIME_API` set).
pub fn on_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// What [`init`] installed.
pub struct Telemetry {
    tracer: SdkTracerProvider,
    exporting: bool,
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
    emf: Option<&'static metrics_cloudwatch_embedded::Collector>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("process", &process())
            .field("exporting", &self.exporting)
            .field("prometheus", &self.prometheus.is_some())
            .field("emf", &self.emf.is_some())
            .finish()
    }
}

static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();

/// What [`init`] installed, once it has run.
pub fn get() -> Option<&'static Telemetry> {
    TELEMETRY.get()
}

/// CloudWatch namespace of the Embedded Metric Format lines on Lambda.
pub const CLOUDWATCH_NAMESPACE: &str = "Avatars";

/// The filter of the spans that become traces and metrics: this project's
/// crates (`avatar_*`, `avatars`) at `info`, nothing else. Independent of
/// `RUST_LOG`, which filters log lines only.
fn span_filter() -> Targets {
    Targets::new()
        .with_target("avatar", LevelFilter::INFO)
        .with_default(LevelFilter::OFF)
}

/// Installs logs, traces and metrics for `process`; later calls return
/// what the first installed (tests start many stacks in one process).
/// Call it inside the Tokio runtime (the OTLP exporter uses it).
pub fn init(process: Process) -> &'static Telemetry {
    TELEMETRY.get_or_init(|| {
        process::set(process);
        let (tracer, exporting, error) = match trace::provider(process) {
            Ok(provider) => (provider, trace::export_configured(), None),
            Err(e) => (
                SdkTracerProvider::builder()
                    .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff)
                    .build(),
                false,
                Some(e),
            ),
        };
        opentelemetry::global::set_text_map_propagator(trace::propagator());
        let log_filter = logs::filter_from(std::env::var("RUST_LOG").ok().as_deref());
        let json = tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(logs::JsonLines)
            .with_filter(log_filter);
        let _ = tracing_subscriber::registry()
            .with(json)
            .with(trace::layer(&tracer).with_filter(span_filter()))
            .with(PipelineStages.with_filter(span_filter()))
            .try_init();
        if let Some(e) = error {
            tracing::error!(error = %e, "traces are not exported");
        }
        let on_lambda = on_lambda();
        let (prometheus, emf) = if on_lambda {
            let function = match process {
                Process::Function(name) => name,
                Process::Local => "local",
            };
            let collector = metrics_cloudwatch_embedded::Builder::new()
                .cloudwatch_namespace(CLOUDWATCH_NAMESPACE)
                .with_dimension("function", function)
                .init()
                .map_err(|e| tracing::error!(error = %e, "EMF metrics not installed"))
                .ok();
            (None, collector)
        } else {
            let recorder = crate::metrics::prometheus_recorder();
            let handle = recorder.handle();
            let installed = ::metrics::set_global_recorder(recorder).is_ok();
            (installed.then_some(handle), None)
        };
        crate::metrics::describe();
        Telemetry {
            tracer,
            exporting,
            prometheus,
            emf,
        }
    })
}

impl Telemetry {
    /// Whether spans are exported (an OTLP endpoint is configured).
    pub fn exporting(&self) -> bool {
        self.exporting
    }

    /// The Prometheus text of every metric (HTTP mode; `None` on Lambda).
    pub fn render_metrics(&self) -> Option<String> {
        self.prometheus.as_ref().map(|h| {
            h.run_upkeep();
            h.render()
        })
    }

    /// Drains histogram samples into their buckets; run periodically in
    /// HTTP mode, so memory stays bounded between scrapes.
    pub fn upkeep(&self) {
        if let Some(h) = &self.prometheus {
            h.run_upkeep();
        }
    }

    /// Exports every finished span and (on Lambda) writes the metrics as
    /// EMF lines: what a Lambda invocation runs before it returns. The span
    /// export blocks, so it runs on a blocking thread (the runtime may have
    /// one worker, which the exporter needs).
    pub async fn flush(&'static self) {
        if self.exporting {
            let tracer = self.tracer.clone();
            let flushed = tokio::task::spawn_blocking(move || tracer.force_flush()).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(error = %e, "spans not flushed");
            }
        }
        if let Some(collector) = self.emf {
            if let Err(e) = collector.flush(std::io::stdout()) {
                tracing::warn!(error = %e, "EMF metrics not written");
            }
        }
    }

    /// Exports what is left and stops the exporter (process exit).
    pub fn shutdown(&self) {
        if self.exporting {
            let _ = self.tracer.shutdown();
        }
    }
}

/// The server span of one HTTP request (OpenTelemetry HTTP semantic
/// conventions), continuing the caller's trace from its `traceparent` or
/// `X-Amzn-Trace-Id` (on Lambda, `_X_AMZN_TRACE_ID` when the request has
/// neither). `route` is the matched route template; `function` the
/// function that serves it.
pub fn server_span(
    method: &http::Method,
    route: Option<&str>,
    headers: &http::HeaderMap,
    function: Option<&'static str>,
) -> tracing::Span {
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    let span = tracing::info_span!(
        "http_request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        user_id = tracing::field::Empty,
        avatar_id = tracing::field::Empty,
    );
    let mut carrier: HashMap<String, String> = ["traceparent", "tracestate", "x-amzn-trace-id"]
        .into_iter()
        .filter_map(|h| Some((h.to_owned(), headers.get(h)?.to_str().ok()?.to_owned())))
        .collect();
    if carrier.is_empty() && on_lambda() {
        if let Ok(xray) = std::env::var("_X_AMZN_TRACE_ID") {
            carrier.insert("x-amzn-trace-id".into(), xray);
        }
    }
    trace::set_parent(&span, trace::context_from(&carrier, function));
    span
}

/// The consumer span of one SQS message (OpenTelemetry messaging semantic
/// conventions) of the queue named `queue`, continuing `parent`.
pub fn consumer_span(
    queue: &str,
    message_id: &str,
    parent: opentelemetry::Context,
) -> tracing::Span {
    let span = tracing::info_span!(
        "sqs_message",
        otel.name = %format!("{queue} process"),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "aws_sqs",
        messaging.operation.type = "process",
        messaging.destination.name = queue,
        messaging.message.id = message_id,
        message_id,
        avatar_id = tracing::field::Empty,
    );
    trace::set_parent(&span, parent);
    span
}

/// The root span of a scheduled sweep: a trace of its own.
pub fn sweep_span() -> tracing::Span {
    let span = tracing::info_span!("sweep", otel.name = "purge sweep", otel.kind = "consumer");
    trace::set_parent(&span, trace::context_from(&HashMap::new(), Some("purge")));
    span
}

/// Marks `span` failed in the trace (`otel.status_code = ERROR`).
pub fn record_error(span: &tracing::Span) {
    span.record("otel.status_code", "ERROR");
}

/// When a span of the pipeline (target `avatar_pipeline`) started.
struct Started(Instant);

/// Records every pipeline span's duration as
/// `avatars_pipeline_stage_seconds{stage=<span name>}`: the pipeline's
/// spans are both its trace and its stage metrics.
struct PipelineStages;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for PipelineStages {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if attrs.metadata().target().starts_with("avatar_pipeline") {
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(Started(Instant::now()));
            }
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            if let Some(Started(at)) = span.extensions().get::<Started>() {
                crate::metrics::pipeline_stage(span.name(), at.elapsed());
            }
        }
    }
}

/// How often `avatar-local` and the HTTP-mode binaries drain histogram
/// samples ([`Telemetry::upkeep`]).
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);
