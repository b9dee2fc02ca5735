//! Traces: the OpenTelemetry tracer provider behind `tracing`, configured
//! only by the standard variables, and the propagation of trace context
//! across every hop of an avatar.
//!
//! * Export: OTLP over HTTP/protobuf when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (`OTEL_EXPORTER_OTLP_PROTOCOL`
//!   may only say `http/protobuf`); `OTEL_SERVICE_NAME`,
//!   `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` / `_ARG` as the SDK
//!   reads them. With no endpoint there is no exporter and no background
//!   work: spans still get ids (so log lines carry them) but are not sampled.
//! * Ids: X-Ray-compatible (`XrayIdGenerator`: the first 32 bits of a
//!   trace id are its start time), so the same ids are valid W3C and X-Ray.
//! * Propagation: W3C `traceparent`/`tracestate` and X-Ray's
//!   `X-Amzn-Trace-Id`, both read and both written. Across the asynchronous
//!   hops the context travels as S3 object metadata (upload → thumbnail)
//!   and as an SQS message attribute (delete → purge); see [`carrier`] and
//!   [`context_from`].
//! * `faas.name`: a resource attribute where one function runs alone; in
//!   `avatar-local`, where the six share a process, a baggage entry of the
//!   root span that [`FaasNameProcessor`] copies onto every span.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::{Span as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_aws::trace::{XrayIdGenerator, XrayPropagator};
use opentelemetry_otlp::{SpanExporter, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Span, SpanProcessor};
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::process::{process, Process};

/// The attribute (and, in `avatar-local`, the baggage key) naming the
/// function a span belongs to (OpenTelemetry semantic conventions, FaaS).
pub const FAAS_NAME: &str = "faas.name";

/// How long one OTLP export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the standard variables ask for an exporter.
pub fn export_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

/// The propagator: W3C trace context and X-Ray, read and written.
pub fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(XrayPropagator::default()),
    ])
}

/// Builds the tracer provider for `process`: exporting when configured
/// ([`export_configured`]), otherwise sampling nothing.
///
/// # Errors
/// When the exporter cannot be built (an endpoint that does not parse, a
/// protocol other than `http/protobuf`); the caller logs it and runs
/// without export.
pub fn provider(process: Process) -> Result<SdkTracerProvider, String> {
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(match process {
            Process::Function(name) => format!("avatars-{name}"),
            Process::Local => "avatars-local".to_owned(),
        });
    }
    if let Process::Function(name) = process {
        resource = resource.with_attribute(KeyValue::new(FAAS_NAME, name));
    }
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_id_generator(XrayIdGenerator::default());
    if process == Process::Local {
        builder = builder.with_span_processor(FaasNameProcessor);
    }
    if export_configured() {
        if let Ok(protocol) = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL") {
            if protocol.trim() != "http/protobuf" {
                return Err(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: only http/protobuf is built in"
                ));
            }
        }
        let exporter = SpanExporter::builder()
            .with_http()
            .with_http_client(OtlpHttpClient::new()?)
            .build()
            .map_err(|e| format!("OTLP exporter: {e}"))?;
        builder = builder.with_batch_exporter(exporter);
    } else {
        builder = builder.with_sampler(Sampler::AlwaysOff);
    }
    Ok(builder.build())
}

/// The `tracing` layer that turns spans into OpenTelemetry spans of
/// `provider`.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("avatars"))
        .with_tracked_inactivity(false)
}

/// OTLP over HTTP with hyper and rustls ([`crate::http_client`]). The
/// batch span processor exports from a thread of its own; each request runs
/// on the Tokio runtime that built the client.
#[derive(Debug, Clone)]
struct OtlpHttpClient {
    client: crate::http_client::HttpsClient,
    runtime: tokio::runtime::Handle,
}

impl OtlpHttpClient {
    fn new() -> Result<Self, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "the OTLP exporter needs a Tokio runtime".to_owned())?;
        Ok(Self {
            client: crate::http_client::HttpsClient::new()?,
            runtime,
        })
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpHttpClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send(request, EXPORT_TIMEOUT).await })
            .await?
    }
}

/// Copies the `faas.name` baggage entry of a span's parent context onto
/// the span (`avatar-local`: see the module documentation).
#[derive(Debug)]
pub struct FaasNameProcessor;

impl SpanProcessor for FaasNameProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        if let Some(name) = cx.baggage().get(FAAS_NAME) {
            span.set_attribute(KeyValue::new(FAAS_NAME, name.to_string()));
        }
    }

    fn on_end(&self, _: opentelemetry_sdk::trace::SpanData) {}

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

/// The context a `carrier` (HTTP headers, S3 object metadata, SQS message
/// attributes, as lower-case names → values) continues, marked with the
/// function that continues it when several share the process.
pub fn context_from(carrier: &HashMap<String, String>, function: Option<&'static str>) -> Context {
    let cx = propagator().extract(carrier);
    match function {
        Some(name) if process() == Some(Process::Local) => {
            cx.with_baggage([KeyValue::new(FAAS_NAME, name)])
        }
        _ => cx,
    }
}

/// Makes `span` (not yet entered) a child of `cx`. A span already entered
/// keeps its parent: OpenTelemetry starts it on first entry.
pub fn set_parent(span: &tracing::Span, cx: Context) {
    if let Err(e) = span.set_parent(cx) {
        tracing::debug!(error = %e, "span parent not set");
    }
}

/// The current span's context as a carrier (`traceparent`, `tracestate`,
/// `x-amzn-trace-id`), to store with an object or a message. Entries with
/// an empty value (`tracestate` when no vendor added one) are left out:
/// they carry nothing, and SQS refuses a message attribute with an empty
/// value (`InvalidParameterValue`, which failed every traced delete on
/// LocalStack and would on AWS; moto accepts it).
pub fn carrier() -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    propagator().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.retain(|_, value| !value.is_empty());
    carrier
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3c_and_xray_headers_are_read() {
        let w3c: HashMap<String, String> = [(
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        )]
        .into();
        let cx = propagator().extract(&w3c);
        use opentelemetry::trace::TraceContextExt;
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let xray: HashMap<String, String> = [(
            "x-amzn-trace-id".to_owned(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
        )]
        .into();
        let cx = propagator().extract(&xray);
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "5759e988bd862e3fe1be46a994272793"
        );
        assert!(cx.span().span_context().is_sampled());
    }
}

#[cfg(test)]
mod carrier_tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    #[test]
    fn the_current_span_is_injected() {
        let provider = SdkTracerProvider::builder().build();
        let filter =
            tracing_subscriber::filter::Targets::new().with_target("avatar", tracing::Level::INFO);
        let subscriber = tracing_subscriber::registry().with(layer(&provider).with_filter(filter));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("work");
            let _entered = span.enter();
            let carrier = carrier();
            assert!(carrier.contains_key("traceparent"), "{carrier:?}");
            // No vendor state: no empty `tracestate` for SQS to refuse.
            assert!(carrier.values().all(|v| !v.is_empty()), "{carrier:?}");
            assert!(!carrier.contains_key("tracestate"), "{carrier:?}");
        });
    }
}
